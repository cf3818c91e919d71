// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

/// @notice The EIP-712 domain (EIP-5267 `eip712Domain`, `DOMAIN_SEPARATOR`), the type hashes and the digest views.
contract Escrow_EIP712_Test is EscrowBase {
    function test_When_TypeHashes() public view {
        assertEq(escrow.RELEASE_TYPEHASH(), keccak256("Release(bytes32 jobId,uint256 deadline)"), "release");
        assertEq(escrow.DISPUTE_TYPEHASH(), keccak256("Dispute(bytes32 jobId,uint256 deadline)"), "dispute");
    }

    function test_When_DomainSeparator() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Clearing Escrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
        assertEq(escrow.DOMAIN_SEPARATOR(), expected, "separator");
    }

    /// @dev After a chain split the cached separator is stale: it is rebuilt for the new chain id.
    function test_When_ChainIdChanges() public {
        bytes32 before = escrow.DOMAIN_SEPARATOR();
        vm.chainId(block.chainid + 1);
        bytes32 afterFork = escrow.DOMAIN_SEPARATOR();
        assertTrue(before != afterFork, "rebuilt");
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Clearing Escrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
        assertEq(afterFork, expected, "for the new chain");
    }

    function test_When_Eip712Domain() public view {
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        ) = escrow.eip712Domain();
        assertEq(uint256(uint8(fields)), 0x0f, "fields: name, version, chainId, verifyingContract");
        assertEq(name, "Clearing Escrow", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid, "chainId");
        assertEq(verifyingContract, address(escrow), "verifyingContract");
        assertEq(salt, bytes32(0), "salt");
        assertEq(extensions.length, 0, "extensions");
    }

    /// @dev The separator the domain fields describe is the one the digests use.
    function test_When_DomainFieldsRebuildTheSeparator() public view {
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            escrow.eip712Domain();
        bytes32 rebuilt = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(name)),
                keccak256(bytes(version)),
                chainId,
                verifyingContract
            )
        );
        assertEq(rebuilt, escrow.DOMAIN_SEPARATOR(), "rebuilt from eip712Domain");
    }

    function testFuzz_Digests(bytes32 jobId, uint256 deadline) public view {
        bytes32 separator = escrow.DOMAIN_SEPARATOR();
        assertEq(
            escrow.releaseDigest(jobId, deadline),
            keccak256(
                abi.encodePacked(
                    "\x19\x01", separator, keccak256(abi.encode(escrow.RELEASE_TYPEHASH(), jobId, deadline))
                )
            ),
            "release digest"
        );
        assertEq(
            escrow.disputeDigest(jobId, deadline),
            keccak256(
                abi.encodePacked(
                    "\x19\x01", separator, keccak256(abi.encode(escrow.DISPUTE_TYPEHASH(), jobId, deadline))
                )
            ),
            "dispute digest"
        );
    }
}
