// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `anchors`: returns the stored anchor, unknown index reverts, two-slot packing.
contract AnchorRegistry_Anchors_Test is AnchorRegistry_Base {
    function test_When_IndexExists_ReturnsTheAnchor() public {
        _anchor(0, 4, keccak256("a"));
        vm.warp(2_000_000_000);
        vm.roll(99);
        _anchor(5, 7, keccak256("b"));
        AnchorRegistry.Anchor memory a = registry.anchors(1);
        assertEq(a.root, keccak256("b"), "root");
        assertEq(a.firstSeq, 5, "firstSeq");
        assertEq(a.lastSeq, 7, "lastSeq");
        assertEq(a.anchoredAt, 2_000_000_000, "anchoredAt");
        assertEq(a.blockNumber, 99, "blockNumber");
    }

    function test_RevertWhen_NoAnchorYet() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_UnknownAnchor.selector, 0, 0));
        registry.anchors(0);
    }

    function test_RevertWhen_IndexEqualsCount() public {
        _anchor(0, 0, ROOT);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_UnknownAnchor.selector, 1, 1));
        registry.anchors(1);
    }

    function test_When_AnchorStruct_PacksIntoTwoSlots() public {
        vm.warp(1_750_000_000);
        vm.roll(42);
        _anchor(0, 7, ROOT);
        // Layout: slot 0 admin, slot 1 anchorer + nextSeq, slot 2 the array length; elements at keccak256(2).
        bytes32 base = keccak256(abi.encode(uint256(2)));
        assertEq(vm.load(address(registry), base), ROOT, "first slot: root");
        uint256 packed = uint256(vm.load(address(registry), bytes32(uint256(base) + 1)));
        uint256 expected = 0 | (uint256(7) << 64) | (uint256(1_750_000_000) << 128) | (uint256(42) << 192);
        assertEq(packed, expected, "second slot: firstSeq, lastSeq, anchoredAt, blockNumber");
        assertEq(uint256(vm.load(address(registry), bytes32(uint256(base) + 2))), 0, "no third slot");
    }
}
