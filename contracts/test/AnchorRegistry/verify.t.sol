// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `verify`: OZ StandardMerkleTree proofs over double-hashed leaves, tampering, unknown anchors.
contract AnchorRegistry_Verify_Test is AnchorRegistry_Base {
    uint64 internal constant RECORDS = 5;

    bytes32[] internal leaves;
    bytes32[] internal tree;

    /// @dev Anchors a 5-record tree (seq 0..4) built in Solidity with the StandardMerkleTree layout.
    function setUp() public override {
        super.setUp();
        for (uint64 seq; seq < RECORDS; ++seq) {
            leaves.push(_leaf(_record(seq)));
        }
        tree = _makeTree(leaves);
        _anchor(0, RECORDS - 1, tree[0]);
    }

    function test_When_ProofIsValid_EveryLeafVerifies() public view {
        for (uint256 i; i < leaves.length; ++i) {
            bytes32[] memory proof = _proof(tree, _indexOf(tree, leaves[i]));
            assertTrue(registry.verify(0, leaves[i], proof), "leaf verifies");
        }
    }

    function test_When_LeafTampered_VerifyFails() public view {
        bytes32[] memory proof = _proof(tree, _indexOf(tree, leaves[2]));
        Record memory forged = _record(2);
        forged.amount += 1;
        assertFalse(registry.verify(0, _leaf(forged), proof), "changed amount");
        assertFalse(registry.verify(0, leaves[2] ^ bytes32(uint256(1)), proof), "flipped bit");
    }

    function test_When_ProofTampered_VerifyFails() public view {
        for (uint256 i; i < leaves.length; ++i) {
            bytes32[] memory proof = _proof(tree, _indexOf(tree, leaves[i]));
            for (uint256 j; j < proof.length; ++j) {
                bytes32 saved = proof[j];
                proof[j] = saved ^ bytes32(uint256(1) << 200);
                assertFalse(registry.verify(0, leaves[i], proof), "tampered sibling");
                proof[j] = saved;
            }
        }
    }

    function test_When_ProofOfAnotherLeaf_VerifyFails() public view {
        bytes32[] memory proofOfFirst = _proof(tree, _indexOf(tree, leaves[0]));
        assertFalse(registry.verify(0, leaves[1], proofOfFirst), "wrong proof for leaf");
    }

    function test_When_ProofTruncatedOrEmpty_VerifyFails() public view {
        bytes32[] memory proof = _proof(tree, _indexOf(tree, leaves[3]));
        bytes32[] memory truncated = new bytes32[](proof.length - 1);
        for (uint256 j; j < truncated.length; ++j) {
            truncated[j] = proof[j];
        }
        assertFalse(registry.verify(0, leaves[3], truncated), "truncated");
        assertFalse(registry.verify(0, leaves[3], new bytes32[](0)), "empty");
    }

    function test_When_SingleLeafTree_EmptyProofVerifies() public {
        bytes32 only = _leaf(_record(RECORDS));
        uint256 index = _anchor(RECORDS, RECORDS, only); // a one-record tree: root == leaf
        assertTrue(registry.verify(index, only, new bytes32[](0)), "root is the leaf");
    }

    function test_When_ProofCheckedAgainstAnotherAnchor_VerifyFails() public {
        bytes32[] memory other = new bytes32[](2);
        other[0] = _leaf(_record(RECORDS));
        other[1] = _leaf(_record(RECORDS + 1));
        uint256 second = _anchor(RECORDS, RECORDS + 1, _makeTree(other)[0]);
        bytes32[] memory proof = _proof(tree, _indexOf(tree, leaves[0]));
        assertTrue(registry.verify(0, leaves[0], proof), "own anchor");
        assertFalse(registry.verify(second, leaves[0], proof), "other anchor");
    }

    /// @dev Why leaves are double-hashed and derived by the caller: an inner node also "verifies" with the rest of the
    ///      proof, so `verify` proves membership of a record only when the caller hashes the record's fields itself.
    function test_When_LeafIsAnInnerNode_VerifyAcceptsIt_CallerMustDeriveLeaves() public view {
        bytes32[] memory fromNode1 = _proof(tree, 1);
        assertTrue(registry.verify(0, tree[1], fromNode1), "inner node with a shorter proof");
        // A 64-byte inner-node preimage can never equal the double hash of a record, so no record collides with it.
    }

    /// @dev A third-party StandardMerkleTree dump (OpenZeppelin's npm merkle-tree, leafEncoding [address, uint256]) found
    ///      in a public repository: our leaf hashing, sorting and layout reproduce its tree and root exactly.
    function test_When_OpenZeppelinStandardMerkleTreeDump_RootAndProofsMatch() public {
        address account = 0x80d628ff4AC2aFf620C3474663F1e559234bbE0c;
        bytes32[5] memory dump = [
            bytes32(0x0fecce441c7468f17e3fe4a5f211b77a15b27c9ab3d33317df385dfbe5487034),
            0x636ab2686ee3036244cf3d6b5574e051e4b20a3577b008975dbcca6dde2897d2,
            0xd90245da324d7908326a3d56a9659741551a4603c397bf4dd373976bd85660e7,
            0x36fb17c97ec80bb961ff0adff1af4a2a34847ecc40653c162e327117a76e3ec9,
            0x1867c4ebd455913e429523a5c2d4b3a79f58068b5a25af911956245ed03a659d
        ];
        uint256[3] memory dumpIndex = [uint256(4), 3, 2]; // treeIndex of values 0, 1, 2 in the dump
        bytes32[] memory values = new bytes32[](3);
        for (uint256 i; i < 3; ++i) {
            values[i] = keccak256(bytes.concat(keccak256(abi.encode(account, i))));
            assertEq(values[i], dump[dumpIndex[i]], "leaf hash and position");
        }
        bytes32[] memory built = _makeTree(values);
        for (uint256 i; i < built.length; ++i) {
            assertEq(built[i], dump[i], "tree node");
        }
        uint256 index = _anchor(RECORDS, RECORDS + 2, dump[0]);
        for (uint256 i; i < 3; ++i) {
            assertTrue(registry.verify(index, values[i], _proof(built, dumpIndex[i])), "dump leaf verifies");
        }
    }

    function test_RevertWhen_AnchorIndexUnknown() public {
        bytes32[] memory proof = _proof(tree, _indexOf(tree, leaves[0]));
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_UnknownAnchor.selector, 1, 1));
        registry.verify(1, leaves[0], proof);
    }

    function test_RevertWhen_NothingAnchored() public {
        AnchorRegistry empty = new AnchorRegistry(admin, anchorer);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_UnknownAnchor.selector, 0, 0));
        empty.verify(0, leaves[0], new bytes32[](0));
    }

    /// @dev For a tree of 1..16 fuzzed records, every leaf's proof verifies and a one-bit change of the leaf fails.
    function testFuzz_EveryLeafOfAnyTreeVerifies(bytes32 seed, uint256 size) public {
        size = bound(size, 1, 16);
        bytes32[] memory values = new bytes32[](size);
        for (uint256 i; i < size; ++i) {
            values[i] = keccak256(bytes.concat(keccak256(abi.encode(seed, i))));
        }
        bytes32[] memory built = _makeTree(values);
        uint64 first = registry.nextSeq();
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 index = _anchor(first, first + uint64(size) - 1, built[0]);
        for (uint256 i; i < size; ++i) {
            bytes32[] memory proof = _proof(built, _indexOf(built, values[i]));
            assertTrue(registry.verify(index, values[i], proof), "verifies");
            assertFalse(registry.verify(index, values[i] ^ bytes32(uint256(1)), proof), "tampered leaf fails");
        }
    }
}
