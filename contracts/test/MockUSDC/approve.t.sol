// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice ERC-20 `approve`.
contract MockUSDC_Approve_Test is MockUSDC_Base {
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function test_When_Approves_SetsAllowanceAndEmits() public {
        vm.expectEmit(address(token));
        emit Approval(alice, relayer, AMOUNT);
        vm.prank(alice);
        assertTrue(token.approve(relayer, AMOUNT), "returns true");
        assertEq(token.allowance(alice, relayer), AMOUNT, "allowance");
    }

    function test_When_ApprovesAgain_Overwrites() public {
        vm.startPrank(alice);
        token.approve(relayer, AMOUNT);
        token.approve(relayer, 1);
        vm.stopPrank();
        assertEq(token.allowance(alice, relayer), 1, "overwritten, not added");
    }
}
