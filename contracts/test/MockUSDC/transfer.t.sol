// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice ERC-20 `transfer`.
contract MockUSDC_Transfer_Test is MockUSDC_Base {
    event Transfer(address indexed from, address indexed to, uint256 value);

    function test_When_BalanceSuffices_MovesAndEmits() public {
        vm.expectEmit(address(token));
        emit Transfer(alice, bob, AMOUNT);
        vm.prank(alice);
        assertTrue(token.transfer(bob, AMOUNT), "returns true");
        assertEq(token.balanceOf(alice), START_BALANCE - AMOUNT, "debited");
        assertEq(token.balanceOf(bob), AMOUNT, "credited");
        assertEq(token.totalSupply(), START_BALANCE, "supply unchanged");
    }

    function test_RevertWhen_InsufficientBalance() public {
        vm.expectRevert(bytes(EXCEEDS_BALANCE));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, START_BALANCE + 1);
    }

    function test_RevertWhen_ToIsZeroAddress() public {
        vm.expectRevert(bytes("ERC20: transfer to the zero address"));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(address(0), AMOUNT);
    }

    /// @dev Moves exactly `value` when `value <= balance`; reverts otherwise.
    function testFuzz_Transfer(uint256 value) public {
        value = bound(value, 0, 2 * START_BALANCE);
        vm.prank(alice);
        if (value > START_BALANCE) {
            vm.expectRevert(bytes(EXCEEDS_BALANCE));
            // forge-lint: disable-next-line(erc20-unchecked-transfer)
            token.transfer(bob, value);
        } else {
            assertTrue(token.transfer(bob, value), "transfer returns true");
            assertEq(token.balanceOf(alice) + token.balanceOf(bob), START_BALANCE, "conserved");
            assertEq(token.balanceOf(bob), value, "credited");
        }
    }
}
