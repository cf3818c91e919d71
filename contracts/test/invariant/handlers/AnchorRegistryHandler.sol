// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../../src/AnchorRegistry.sol";
import {Test} from "../../utils/Test.sol";

/// @title AnchorRegistryHandler
/// @notice Drives an AnchorRegistry for the invariant suite: the anchorer appends contiguous ranges of bounded
///         length, the admin rotates the anchorer and hands the admin role over, strangers and the previous anchorer
///         try to append, and time passes. Every call it makes succeeds, except the refused attempts it makes on
///         purpose through a low-level call (their success is recorded as a violation). Keeps a copy of every anchor
///         appended, to check that anchored data never changes.
contract AnchorRegistryHandler is Test {
    /// @dev Ranges cover 1..MAX_RANGE records, so a run of 50 calls stays far from `type(uint64).max`.
    uint64 internal constant MAX_RANGE = 1000;

    AnchorRegistry public immutable registry;
    address public admin;
    address public anchorer;

    /// @notice A copy of every anchor as appended, in order.
    AnchorRegistry.Anchor[] internal _appended;
    /// @notice The largest `nextSeq()` seen before each call; `nextSeq` must never fall below it.
    uint64 public ghostMaxNextSeq;
    /// @notice Set if an append that must be refused (wrong caller, gap, overlap, empty range, zero root) succeeded.
    bool public ghostRefusalViolated;
    /// @notice Successful calls per action, for the run summary.
    mapping(bytes32 action => uint256 count) public calls;

    constructor(AnchorRegistry registry_, address admin_, address anchorer_) {
        registry = registry_;
        admin = admin_;
        anchorer = anchorer_;
    }

    // ------------------------------------------------------------------ actions

    /// @notice The anchorer appends the next range of 1..MAX_RANGE records with a nonzero root.
    function anchor(uint64 length, bytes32 root) external {
        _observe();
        length = uint64(bound(length, 1, MAX_RANGE));
        if (root == bytes32(0)) root = keccak256(abi.encode(length, _appended.length));
        uint64 first = registry.nextSeq();
        vm.prank(anchorer);
        uint256 index = registry.anchor(first, first + length - 1, root);
        require(index == _appended.length, "index is the position");
        _appended.push(registry.anchors(index));
        ++calls["anchor"];
    }

    /// @notice Someone appends a range that must be refused: a stranger, a gap, an overlap, a range ending at
    ///         `type(uint64).max`, an empty range or a zero root. None may succeed.
    function anchorRefused(uint256 which, uint64 offset, address caller) external {
        _observe();
        uint64 next = registry.nextSeq();
        (uint64 first, uint64 last, bytes32 root) = (next, next, keccak256("refused"));
        which = which % 6;
        if (which == 0) {
            if (caller == anchorer) caller = address(uint160(anchorer) ^ 1);
        } else {
            caller = anchorer;
            if (which == 1 || (which == 2 && next == 0)) {
                first = next + uint64(bound(offset, 1, MAX_RANGE)); // a gap
                last = first;
            } else if (which == 2) {
                first = uint64(bound(offset, 0, next - 1)); // an overlap with the last anchor
                last = first;
            } else if (which == 3) {
                last = type(uint64).max; // no next sequence number would exist
            } else if (which == 4 && next > 0) {
                last = next - 1; // empty
            } else {
                root = bytes32(0);
            }
        }
        vm.prank(caller);
        (bool ok,) = address(registry).call(abi.encodeCall(AnchorRegistry.anchor, (first, last, root)));
        if (ok) ghostRefusalViolated = true;
        ++calls["anchorRefused"];
    }

    /// @notice The admin names a new anchorer (never zero, so appends keep going).
    function setAnchorer(uint256 seed) external {
        _observe();
        address next = address(uint160(uint256(keccak256(abi.encode("anchorer", seed)))));
        vm.prank(admin);
        registry.setAnchorer(next);
        anchorer = next;
        ++calls["setAnchorer"];
    }

    /// @notice The admin hands the role to a new admin.
    function transferAdmin(uint256 seed) external {
        _observe();
        address next = address(uint160(uint256(keccak256(abi.encode("admin", seed)))));
        vm.prank(admin);
        registry.transferAdmin(next);
        admin = next;
        ++calls["transferAdmin"];
    }

    /// @notice Time and blocks pass.
    function warp(uint256 seconds_) external {
        _observe();
        vm.warp(block.timestamp + bound(seconds_, 1, 1 days));
        vm.roll(block.number + 1);
        ++calls["warp"];
    }

    // ------------------------------------------------------------------ views for the invariants

    function appendedCount() external view returns (uint256) {
        return _appended.length;
    }

    function appended(uint256 index) external view returns (AnchorRegistry.Anchor memory) {
        return _appended[index];
    }

    // ------------------------------------------------------------------ internal

    function _observe() internal {
        uint64 next = registry.nextSeq();
        if (next > ghostMaxNextSeq) ghostMaxNextSeq = next;
    }
}
