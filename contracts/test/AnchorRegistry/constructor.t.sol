// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `constructor`: roles set and announced, empty registry, zero admin refused.
contract AnchorRegistry_Constructor_Test is AnchorRegistry_Base {
    function test_When_Deployed_SetsRolesAndStartsEmpty() public view {
        assertEq(registry.admin(), admin, "admin");
        assertEq(registry.anchorer(), anchorer, "anchorer");
        assertEq(registry.anchorCount(), 0, "no anchors");
        assertEq(registry.nextSeq(), 0, "sequence starts at 0");
    }

    function test_When_Deployed_EmitsRoleEventsFromZero() public {
        vm.expectEmit();
        emit AdminTransferred(address(0), admin);
        vm.expectEmit();
        emit AnchorerChanged(address(0), anchorer);
        new AnchorRegistry(admin, anchorer);
    }

    function test_When_AnchorerIsZero_AnchoringIsDisabled() public {
        AnchorRegistry disabled = new AnchorRegistry(admin, address(0));
        assertEq(disabled.anchorer(), address(0), "no anchorer");
        vm.expectRevert(abi.encodeWithSelector(AnchorRegistry.AnchorRegistry_NotAnchorer.selector, anchorer));
        vm.prank(anchorer);
        disabled.anchor(0, 0, ROOT);
    }

    function test_RevertWhen_AdminIsZero() public {
        vm.expectRevert(AnchorRegistry.AnchorRegistry_ZeroAdmin.selector);
        new AnchorRegistry(address(0), anchorer);
    }
}
