// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {MockUSDC_Base} from "./Base.t.sol";

/// @notice docs/PROTOCOL.md: typehashes, the domain `{name, version "2", chainId, verifyingContract}` with a configurable name,
///         and 6 decimals.
contract MockUSDC_EIP712_Test is MockUSDC_Base {
    /// @dev The literal values from docs/PROTOCOL.md, so a change to either side fails here.
    bytes32 internal constant FACTS_TRANSFER_TYPEHASH =
        0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267;
    bytes32 internal constant FACTS_RECEIVE_TYPEHASH =
        0xd099cc98ef71107a616c4f0f941f04c322d8e254fe26b3c6668db87aae413de8;
    bytes32 internal constant FACTS_CANCEL_TYPEHASH =
        0x158b0a9edf7a828aad02f63cd515c68ef2f50ba807396f6d12842833a1597429;
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function _expectedDomainSeparator(string memory name, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        return
            keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(name)), keccak256("2"), chainId, verifyingContract));
    }

    function test_When_TransferTypehash_EqualsFactsValueAndTypeString() public view {
        bytes32 ofString = keccak256(
            "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
        );
        assertEq(ofString, FACTS_TRANSFER_TYPEHASH, "type string");
        assertEq(token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), FACTS_TRANSFER_TYPEHASH, "token constant");
    }

    function test_When_ReceiveTypehash_EqualsFactsValueAndTypeString() public view {
        bytes32 ofString = keccak256(
            "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
        );
        assertEq(ofString, FACTS_RECEIVE_TYPEHASH, "type string");
        assertEq(token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), FACTS_RECEIVE_TYPEHASH, "token constant");
    }

    function test_When_CancelTypehash_EqualsFactsValueAndTypeString() public view {
        bytes32 ofString = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");
        assertEq(ofString, FACTS_CANCEL_TYPEHASH, "type string");
        assertEq(token.CANCEL_AUTHORIZATION_TYPEHASH(), FACTS_CANCEL_TYPEHASH, "token constant");
    }

    function test_When_DefaultName_DomainIsUSDCVersion2ChainIdAndContract() public view {
        assertEq(token.name(), "USDC", "name");
        assertEq(token.version(), "2", "version");
        assertEq(
            token.DOMAIN_SEPARATOR(),
            _expectedDomainSeparator("USDC", block.chainid, address(token)),
            "domain separator"
        );
    }

    function test_When_NameIsUSDCoin_DomainUsesIt() public {
        MockUSDC baseToken = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        assertEq(baseToken.name(), "USD Coin", "name");
        assertEq(
            baseToken.DOMAIN_SEPARATOR(),
            _expectedDomainSeparator("USD Coin", block.chainid, address(baseToken)),
            "domain separator"
        );
        vm.assertNotEq(baseToken.DOMAIN_SEPARATOR(), token.DOMAIN_SEPARATOR(), "name and address are in the domain");
    }

    function test_When_Decimals_AreSix() public view {
        assertEq(token.decimals(), 6, "decimals");
        assertEq(token.symbol(), "USDC", "symbol");
    }

    function test_When_ChainIdChanges_DomainSeparatorFollows() public {
        bytes32 before = token.DOMAIN_SEPARATOR();
        vm.chainId(8453);
        bytes32 afterFork = token.DOMAIN_SEPARATOR();
        vm.assertNotEq(before, afterFork, "changed");
        assertEq(afterFork, _expectedDomainSeparator("USDC", 8453, address(token)), "computed at call time");
    }

    function test_RevertWhen_SignedForAnotherChainId() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        vm.chainId(84_532);
        _expectSubmitReverts(Op.TransferBytes, auth, signature, INVALID_SIGNATURE);
    }

    function testFuzz_DomainSeparator_TracksChainId(uint256 chainId) public {
        chainId = bound(chainId, 1, type(uint64).max);
        vm.chainId(chainId);
        assertEq(token.DOMAIN_SEPARATOR(), _expectedDomainSeparator("USDC", chainId, address(token)), "domain");
    }
}
