// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title AnchorRegistry
/// @notice Append-only registry of Merkle roots over Clearing's settlement records. Records are numbered by a
///         sequence starting at 0; each anchor commits one contiguous range `[firstSeq, lastSeq]`, and the ranges of
///         consecutive anchors follow each other without gap or overlap, so every record is covered by exactly one
///         anchor. An auditor checks a record with its proof and the on-chain root alone (`verify`), and rebuilds the
///         whole history from `Anchored` events.
/// @dev Trees are OpenZeppelin StandardMerkleTree compatible: leaves are double-hashed,
///      `leaf = keccak256(bytes.concat(keccak256(abi.encode(fields...))))`, and inner nodes hash sorted pairs
///      (OZ `MerkleProof`). Anchors can never be changed or removed; the admin only chooses who may append.
///      No reentrancy guard: no function makes an external call (OZ `MerkleProof` is an internal library), so there
///      is no point at which control could re-enter.
contract AnchorRegistry {
    /// @notice One anchored root and the record range it commits. Fits two storage slots.
    /// @param root Merkle root of the records `firstSeq..lastSeq` (inclusive), never zero.
    /// @param firstSeq Sequence number of the first record covered.
    /// @param lastSeq Sequence number of the last record covered (inclusive, `>= firstSeq`).
    /// @param anchoredAt `block.timestamp` of the anchoring transaction, in seconds.
    /// @param blockNumber `block.number` of the anchoring transaction.
    struct Anchor {
        bytes32 root;
        uint64 firstSeq;
        uint64 lastSeq;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @notice Who may change the anchorer and hand over the admin role.
    address public admin;
    /// @notice Who may append anchors; zero disables anchoring until the admin sets one.
    address public anchorer;
    /// @dev Packed with `anchorer`: `anchor` reads both from one slot.
    uint64 private _nextSeq;
    /// @dev Every anchor, in order; index = position.
    Anchor[] private _anchors;

    /// @notice A root was anchored for the records `firstSeq..lastSeq` (inclusive).
    /// @param index Position of the anchor, 0-based.
    /// @param root The Merkle root.
    /// @param firstSeq First record sequence number covered.
    /// @param lastSeq Last record sequence number covered.
    event Anchored(uint256 indexed index, bytes32 indexed root, uint64 firstSeq, uint64 lastSeq);
    /// @notice The anchorer changed (also emitted by the constructor, from zero).
    /// @param previousAnchorer The anchorer until now.
    /// @param newAnchorer The anchorer from now on (zero: anchoring disabled).
    event AnchorerChanged(address indexed previousAnchorer, address indexed newAnchorer);
    /// @notice The admin role moved (also emitted by the constructor, from zero).
    /// @param previousAdmin The admin until now.
    /// @param newAdmin The admin from now on.
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    /// @notice `caller` is not the anchorer.
    error AnchorRegistry_NotAnchorer(address caller);
    /// @notice `caller` is not the admin.
    error AnchorRegistry_NotAdmin(address caller);
    /// @notice The new range must start at `expected` (the previous anchor's `lastSeq + 1`, or 0) but starts at `got`.
    error AnchorRegistry_NotContiguous(uint64 expected, uint64 got);
    /// @notice The range is empty (`lastSeq < firstSeq`) or ends at `type(uint64).max`, after which no next sequence
    ///         number exists.
    error AnchorRegistry_InvalidRange(uint64 firstSeq, uint64 lastSeq);
    /// @notice The root is zero.
    error AnchorRegistry_ZeroRoot();
    /// @notice No anchor at `index`; `count` anchors exist.
    error AnchorRegistry_UnknownAnchor(uint256 index, uint256 count);
    /// @notice The admin cannot be the zero address (the role could never be recovered).
    error AnchorRegistry_ZeroAdmin();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert AnchorRegistry_NotAdmin(msg.sender);
        _;
    }

    /// @notice Deploys an empty registry.
    /// @dev Emits `AdminTransferred(0, admin)` and `AnchorerChanged(0, anchorer)`. Requires a nonzero `admin`.
    /// @param admin_ The admin: sets the anchorer and may hand the role over.
    /// @param anchorer_ The account allowed to append anchors (zero: none until the admin sets one).
    constructor(address admin_, address anchorer_) {
        if (admin_ == address(0)) revert AnchorRegistry_ZeroAdmin();
        admin = admin_;
        anchorer = anchorer_;
        emit AdminTransferred(address(0), admin_);
        emit AnchorerChanged(address(0), anchorer_);
    }

    /// @notice Appends the root of the records `firstSeq..lastSeq` (inclusive).
    /// @dev Only the anchorer. Requires, checked in this order: `firstSeq == nextSeq()` (ranges are contiguous and the
    ///      first starts at 0), `firstSeq <= lastSeq < type(uint64).max`, `root != 0`. Records the block's timestamp
    ///      and number, advances `nextSeq()` to `lastSeq + 1` and emits `Anchored(index, root, firstSeq, lastSeq)`.
    /// @param firstSeq Sequence number of the first record covered; must equal `nextSeq()`.
    /// @param lastSeq Sequence number of the last record covered, inclusive.
    /// @param root Merkle root (OZ StandardMerkleTree layout) of those records; nonzero.
    /// @return index Position of the new anchor, 0-based.
    function anchor(uint64 firstSeq, uint64 lastSeq, bytes32 root) external returns (uint256 index) {
        if (msg.sender != anchorer) revert AnchorRegistry_NotAnchorer(msg.sender);
        uint64 expected = _nextSeq;
        if (firstSeq != expected) revert AnchorRegistry_NotContiguous(expected, firstSeq);
        if (lastSeq < firstSeq || lastSeq == type(uint64).max) revert AnchorRegistry_InvalidRange(firstSeq, lastSeq);
        if (root == bytes32(0)) revert AnchorRegistry_ZeroRoot();

        index = _anchors.length;
        _anchors.push(
            Anchor({
                root: root,
                firstSeq: firstSeq,
                lastSeq: lastSeq,
                anchoredAt: uint64(block.timestamp),
                blockNumber: uint64(block.number)
            })
        );
        _nextSeq = lastSeq + 1;
        emit Anchored(index, root, firstSeq, lastSeq);
    }

    /// @notice Sets the account allowed to append anchors.
    /// @dev Only the admin. Zero is allowed and disables anchoring. Emits `AnchorerChanged(previous, newAnchorer)`.
    /// @param newAnchorer The new anchorer.
    function setAnchorer(address newAnchorer) external onlyAdmin {
        address previous = anchorer;
        anchorer = newAnchorer;
        emit AnchorerChanged(previous, newAnchorer);
    }

    /// @notice Hands the admin role to `newAdmin`, effective at once (one step: the role only picks the anchorer and
    ///         can never alter anchors, so a mistaken handover cannot touch anchored data).
    /// @dev Only the admin. Requires a nonzero `newAdmin`. Emits `AdminTransferred(previous, newAdmin)`.
    /// @param newAdmin The new admin.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert AnchorRegistry_ZeroAdmin();
        address previous = admin;
        admin = newAdmin;
        emit AdminTransferred(previous, newAdmin);
    }

    /// @notice Whether `leaf` belongs to the tree whose root is anchor `index`.
    /// @dev Reverts with `AnchorRegistry_UnknownAnchor(index, count)` if no such anchor exists, so that "not anchored
    ///      yet" is never confused with "not in the tree". `leaf` must already be double-hashed from the record's
    ///      fields (`keccak256(bytes.concat(keccak256(abi.encode(...))))`); derive it yourself, since any inner node
    ///      of the tree also verifies with a shorter proof. `proof` is the OZ StandardMerkleTree proof (sorted pairs),
    ///      leaf side first.
    /// @param index Position of the anchor.
    /// @param leaf The record's double-hashed leaf.
    /// @param proof Sibling hashes from the leaf up to the root.
    /// @return True iff the proof leads from `leaf` to the anchored root.
    function verify(uint256 index, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _anchorAt(index).root, leaf);
    }

    /// @notice Number of anchors so far.
    function anchorCount() external view returns (uint256) {
        return _anchors.length;
    }

    /// @notice Sequence number the next anchor must start at: 0 before the first anchor, then the last anchor's
    ///         `lastSeq + 1`.
    function nextSeq() external view returns (uint64) {
        return _nextSeq;
    }

    /// @notice The anchor at `index`.
    /// @dev Reverts with `AnchorRegistry_UnknownAnchor(index, count)` if no such anchor exists.
    /// @param index Position of the anchor, 0-based.
    function anchors(uint256 index) external view returns (Anchor memory) {
        return _anchorAt(index);
    }

    function _anchorAt(uint256 index) internal view returns (Anchor storage) {
        uint256 count = _anchors.length;
        if (index >= count) revert AnchorRegistry_UnknownAnchor(index, count);
        return _anchors[index];
    }
}
