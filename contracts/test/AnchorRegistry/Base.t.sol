// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {Test} from "../utils/Test.sol";

/// @title AnchorRegistry_Base
/// @notice Shared setup for the AnchorRegistry tests, and a Merkle tree builder that reproduces OpenZeppelin's
///         StandardMerkleTree layout (the npm merkle-tree package): leaves double-hashed and sorted ascending,
///         stored in reverse at the end of a `2n - 1` array, inner node `i` = sorted-pair hash of `2i + 1` and `2i + 2`.
abstract contract AnchorRegistry_Base is Test {
    /// @dev A settlement record as the audit crate might leaf it (fields are illustrative).
    struct Record {
        uint64 seq;
        address payer;
        address payee;
        uint256 amount;
        bytes32 nonce;
        bytes32 txHash;
    }

    bytes32 internal constant ROOT = keccak256("root");

    AnchorRegistry internal registry;
    address internal admin;
    address internal anchorer;
    address internal stranger;

    event Anchored(uint256 indexed index, bytes32 indexed root, uint64 firstSeq, uint64 lastSeq);
    event AnchorerChanged(address indexed previousAnchorer, address indexed newAnchorer);
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    function setUp() public virtual {
        admin = makeAddr("admin");
        anchorer = makeAddr("anchorer");
        stranger = makeAddr("stranger");
        registry = new AnchorRegistry(admin, anchorer);
    }

    /// @dev Anchors `[firstSeq, lastSeq]` with `root` as the anchorer.
    function _anchor(uint64 firstSeq, uint64 lastSeq, bytes32 root) internal returns (uint256 index) {
        vm.prank(anchorer);
        index = registry.anchor(firstSeq, lastSeq, root);
    }

    /// @dev Anchors `count` records starting at `nextSeq()` with `root`.
    function _anchorNext(uint64 count, bytes32 root) internal returns (uint256 index) {
        uint64 first = registry.nextSeq();
        index = _anchor(first, first + count - 1, root);
    }

    // ------------------------------------------------------------------ Merkle trees (OZ StandardMerkleTree layout)

    /// @dev OZ StandardMerkleTree leaf: keccak256(bytes.concat(keccak256(abi.encode(fields)))).
    function _leaf(Record memory record) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(record.seq, record.payer, record.payee, record.amount, record.nonce, record.txHash)
                )
            )
        );
    }

    function _record(uint64 seq) internal pure returns (Record memory) {
        return Record({
            seq: seq,
            payer: address(uint160(uint256(keccak256(abi.encode("payer", seq))))),
            payee: address(uint160(uint256(keccak256(abi.encode("payee", seq))))),
            amount: (uint256(seq) + 1) * 1e6,
            nonce: keccak256(abi.encode("nonce", seq)),
            txHash: keccak256(abi.encode("tx", seq))
        });
    }

    /// @dev Sorted-pair (commutative) keccak, as OZ MerkleProof and StandardMerkleTree hash inner nodes.
    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// @dev Builds the tree array for `leaves` (any order; sorted here as StandardMerkleTree does by default).
    function _makeTree(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        require(leaves.length > 0, "tree: no leaves");
        bytes32[] memory sorted = _sorted(leaves);
        uint256 n = sorted.length;
        tree = new bytes32[](2 * n - 1);
        for (uint256 i; i < n; ++i) {
            tree[tree.length - 1 - i] = sorted[i];
        }
        for (uint256 i = tree.length - n; i > 0; --i) {
            uint256 node = i - 1;
            tree[node] = _hashPair(tree[2 * node + 1], tree[2 * node + 2]);
        }
    }

    /// @dev The proof of the leaf stored at `treeIndex`: siblings from the leaf up.
    function _proof(bytes32[] memory tree, uint256 treeIndex) internal pure returns (bytes32[] memory proof) {
        uint256 depth;
        for (uint256 i = treeIndex; i > 0; i = (i - 1) / 2) {
            ++depth;
        }
        proof = new bytes32[](depth);
        uint256 k;
        for (uint256 i = treeIndex; i > 0; i = (i - 1) / 2) {
            proof[k++] = tree[i % 2 == 1 ? i + 1 : i - 1];
        }
    }

    /// @dev Position of `leaf` in `tree` (searching the leaf half).
    function _indexOf(bytes32[] memory tree, bytes32 leaf) internal pure returns (uint256) {
        for (uint256 i = tree.length / 2; i < tree.length; ++i) {
            if (tree[i] == leaf) return i;
        }
        revert("tree: leaf not found");
    }

    function _sorted(bytes32[] memory values) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](values.length);
        for (uint256 i; i < values.length; ++i) {
            bytes32 v = values[i];
            uint256 j = i;
            while (j > 0 && out[j - 1] > v) {
                out[j] = out[j - 1];
                --j;
            }
            out[j] = v;
        }
    }
}
