// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `transferAdmin`: one-step handover, admin only, zero refused.
contract AnchorRegistry_TransferAdmin_Test is AnchorRegistry_Base {
    function test_When_AdminTransfers_RoleMovesAtOnceAndEventEmitted() public {
        address next = makeAddr("next");
        vm.expectEmit(address(registry));
        emit AdminTransferred(admin, next);
        vm.prank(admin);
        registry.transferAdmin(next);
        assertEq(registry.admin(), next, "admin");

        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAdmin.selector, admin));
        vm.prank(admin);
        registry.setAnchorer(admin); // the old admin lost the role
        vm.prank(next);
        registry.setAnchorer(next);
        assertEq(registry.anchorer(), next, "new admin acts");
    }

    function test_When_AdminTransfers_AnchorerAndAnchorsUntouched() public {
        _anchor(0, 9, ROOT);
        vm.prank(admin);
        registry.transferAdmin(stranger);
        assertEq(registry.anchorer(), anchorer, "anchorer kept");
        assertEq(registry.anchors(0).root, ROOT, "anchor kept");
    }

    function test_RevertWhen_NewAdminIsZero() public {
        vm.expectRevert(AnchorRegistry.AnchorRegistry_ZeroAdmin.selector);
        vm.prank(admin);
        registry.transferAdmin(address(0));
    }

    function test_RevertWhen_CallerIsNotAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAdmin.selector, anchorer));
        vm.prank(anchorer);
        registry.transferAdmin(anchorer);
    }

    function testFuzz_RevertWhen_CallerIsNotAdmin(address caller, address next) public {
        vm.assume(caller != admin);
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAdmin.selector, caller));
        vm.prank(caller);
        registry.transferAdmin(next);
    }
}
