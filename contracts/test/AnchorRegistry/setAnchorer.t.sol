// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `setAnchorer`: admin only, rights move at once, zero disables anchoring.
contract AnchorRegistry_SetAnchorer_Test is AnchorRegistry_Base {
    function test_When_AdminSetsAnchorer_RightsMoveAndEventEmitted() public {
        address next = makeAddr("next");
        vm.expectEmit(address(registry));
        emit AnchorerChanged(anchorer, next);
        vm.prank(admin);
        registry.setAnchorer(next);
        assertEq(registry.anchorer(), next, "anchorer");

        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, anchorer));
        _anchor(0, 0, ROOT); // the old anchorer
        vm.prank(next);
        registry.anchor(0, 0, ROOT);
        assertEq(registry.anchorCount(), 1, "new anchorer anchors");
    }

    function test_When_AnchorerChanges_SequenceContinues() public {
        _anchor(0, 9, ROOT);
        address next = makeAddr("next");
        vm.prank(admin);
        registry.setAnchorer(next);
        vm.prank(next);
        registry.anchor(10, 19, ROOT);
        assertEq(registry.nextSeq(), 20, "next");
    }

    function test_When_SetToZero_AnchoringDisabled() public {
        vm.prank(admin);
        registry.setAnchorer(address(0));
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, anchorer));
        _anchor(0, 0, ROOT);
    }

    function test_RevertWhen_CallerIsNotAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAdmin.selector, stranger));
        vm.prank(stranger);
        registry.setAnchorer(stranger);
    }

    function test_RevertWhen_AnchorerSetsItself() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAdmin.selector, anchorer));
        vm.prank(anchorer);
        registry.setAnchorer(stranger);
    }

    function testFuzz_RevertWhen_CallerIsNotAdmin(address caller, address next) public {
        vm.assume(caller != admin);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAdmin.selector, caller));
        vm.prank(caller);
        registry.setAnchorer(next);
    }
}
