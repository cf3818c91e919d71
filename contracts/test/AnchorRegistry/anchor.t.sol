// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `anchor`: contiguous ranges from 0, each revert path and their order, fuzzed runs of anchors.
contract AnchorRegistry_Anchor_Test is AnchorRegistry_Base {
    function test_When_FirstAnchorStartsAtZero_StoresEverythingAndEmits() public {
        vm.warp(1_750_000_000);
        vm.roll(12_345);
        vm.expectEmit(address(registry));
        emit Anchored(0, ROOT, 0, 9);
        uint256 index = _anchor(0, 9, ROOT);

        assertEq(index, 0, "index");
        assertEq(registry.anchorCount(), 1, "count");
        assertEq(registry.nextSeq(), 10, "next");
        AnchorRegistry.Anchor memory a = registry.anchors(0);
        assertEq(a.root, ROOT, "root");
        assertEq(a.firstSeq, 0, "firstSeq");
        assertEq(a.lastSeq, 9, "lastSeq");
        assertEq(a.anchoredAt, 1_750_000_000, "anchoredAt");
        assertEq(a.blockNumber, 12_345, "blockNumber");
    }

    function test_When_RangesFollowEachOther_IndicesIncrease() public {
        assertEq(_anchor(0, 4, keccak256("a")), 0, "first");
        assertEq(_anchor(5, 5, keccak256("b")), 1, "single record");
        assertEq(_anchor(6, 1000, keccak256("c")), 2, "third");
        assertEq(registry.anchorCount(), 3, "count");
        assertEq(registry.nextSeq(), 1001, "next");
        assertEq(registry.anchors(1).root, keccak256("b"), "second root");
    }

    function test_When_SameRootTwice_BothAnchored() public {
        _anchor(0, 0, ROOT);
        _anchor(1, 1, ROOT);
        assertEq(registry.anchorCount(), 2, "append-only log, no dedup");
    }

    function test_When_RangeEndsJustBelowUint64Max_Accepted() public {
        _anchor(0, type(uint64).max - 1, ROOT);
        assertEq(registry.nextSeq(), type(uint64).max, "next");
    }

    function test_RevertWhen_CallerIsNotAnchorer() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, stranger));
        vm.prank(stranger);
        registry.anchor(0, 0, ROOT);
    }

    function test_RevertWhen_CallerIsAdminButNotAnchorer() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, admin));
        vm.prank(admin);
        registry.anchor(0, 0, ROOT);
    }

    function test_RevertWhen_FirstAnchorDoesNotStartAtZero() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotContiguous.selector, 0, 1));
        _anchor(1, 5, ROOT);
    }

    function test_RevertWhen_RangeLeavesAGap() public {
        _anchor(0, 9, ROOT);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotContiguous.selector, 10, 11));
        _anchor(11, 20, ROOT);
    }

    function test_RevertWhen_RangeOverlapsThePrevious() public {
        _anchor(0, 9, ROOT);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotContiguous.selector, 10, 9));
        _anchor(9, 20, ROOT);
    }

    function test_RevertWhen_LastSeqBelowFirstSeq() public {
        _anchor(0, 9, ROOT);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_InvalidRange.selector, 10, 9));
        _anchor(10, 9, ROOT);
    }

    function test_RevertWhen_LastSeqIsUint64Max() public {
        uint64 max = type(uint64).max;
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_InvalidRange.selector, 0, max));
        _anchor(0, max, ROOT);
    }

    function test_RevertWhen_RootIsZero() public {
        vm.expectRevert(AnchorRegistry.AnchorRegistry_ZeroRoot.selector);
        _anchor(0, 0, bytes32(0));
    }

    function test_RevertWhen_Invalid_CallerCheckedFirst() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, stranger));
        vm.prank(stranger);
        registry.anchor(7, 3, bytes32(0));
    }

    function test_RevertWhen_Invalid_ContiguityCheckedBeforeRange() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotContiguous.selector, 0, 7));
        _anchor(7, 3, bytes32(0));
    }

    function test_RevertWhen_Invalid_RangeCheckedBeforeRoot() public {
        vm.expectRevert(
            abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_InvalidRange.selector, 0, type(uint64).max)
        );
        _anchor(0, type(uint64).max, bytes32(0));
    }

    function test_When_Reverted_NothingChanges() public {
        _anchor(0, 9, ROOT);
        vm.prank(anchorer);
        try registry.anchor(11, 20, ROOT) {
            revert("should revert");
        } catch {}
        assertEq(registry.anchorCount(), 1, "count");
        assertEq(registry.nextSeq(), 10, "next");
    }

    /// @dev A run of anchors with fuzzed lengths and roots: each lands at the next index, starts at the previous
    ///      nextSeq, and nextSeq always equals the sum of the lengths.
    function testFuzz_ContiguousRanges(uint256 seed, uint8 anchors) public {
        uint256 n = bound(anchors, 1, 20);
        uint64 total;
        for (uint256 i; i < n; ++i) {
            uint64 length = uint64(bound(uint256(keccak256(abi.encode(seed, i))), 1, 1_000_000));
            bytes32 root = keccak256(abi.encode(seed, i, "root"));
            vm.expectEmit(address(registry));
            emit Anchored(i, root, total, total + length - 1);
            assertEq(_anchor(total, total + length - 1, root), i, "index");
            total += length;
            assertEq(registry.nextSeq(), total, "next = sum of lengths");
            AnchorRegistry.Anchor memory a = registry.anchors(i);
            assertEq(a.root, root, "root");
            assertEq(a.lastSeq - a.firstSeq + 1, length, "length");
        }
        assertEq(registry.anchorCount(), n, "count");
    }

    /// @dev Any start other than nextSeq is refused with (expected, got).
    function testFuzz_RevertWhen_NotContiguous(uint64 prefix, uint64 firstSeq, uint64 length) public {
        prefix = uint64(bound(prefix, 0, type(uint32).max));
        if (prefix > 0) _anchor(0, prefix - 1, ROOT);
        vm.assume(firstSeq != prefix);
        length = uint64(bound(length, 0, type(uint32).max));
        uint64 lastSeq = firstSeq > type(uint64).max - length ? type(uint64).max : firstSeq + length;
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotContiguous.selector, prefix, firstSeq));
        _anchor(firstSeq, lastSeq, ROOT);
    }

    /// @dev Any nonzero root and any valid range length is accepted and stored as given.
    function testFuzz_AnyRootAndRange(bytes32 root, uint64 lastSeq, uint64 timestamp, uint64 blockNumber) public {
        vm.assume(root != bytes32(0));
        lastSeq = uint64(bound(lastSeq, 0, type(uint64).max - 1));
        vm.warp(timestamp);
        vm.roll(blockNumber);
        _anchor(0, lastSeq, root);
        AnchorRegistry.Anchor memory a = registry.anchors(0);
        assertEq(a.root, root, "root");
        assertEq(a.lastSeq, lastSeq, "lastSeq");
        assertEq(a.anchoredAt, timestamp, "anchoredAt");
        assertEq(a.blockNumber, blockNumber, "blockNumber");
        assertEq(registry.nextSeq(), uint256(lastSeq) + 1, "next");
    }

    /// @dev Only the anchorer may anchor, whoever else calls.
    function testFuzz_RevertWhen_CallerIsNotAnchorer(address caller) public {
        vm.assume(caller != anchorer);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, caller));
        vm.prank(caller);
        registry.anchor(0, 0, ROOT);
    }
}
