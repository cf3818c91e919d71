// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice ERC-20 `transferFrom`: spends the allowance (even an unlimited one, as FiatToken does).
contract MockUSDC_TransferFrom_Test is MockUSDC_Base {
    event Transfer(address indexed from, address indexed to, uint256 value);

    function test_When_AllowanceSuffices_MovesAndSpendsAllowance() public {
        vm.prank(alice);
        token.approve(relayer, AMOUNT * 2);
        vm.expectEmit(address(token));
        emit Transfer(alice, bob, AMOUNT);
        vm.prank(relayer);
        assertTrue(token.transferFrom(alice, bob, AMOUNT), "returns true");
        assertEq(token.balanceOf(bob), AMOUNT, "credited");
        assertEq(token.allowance(alice, relayer), AMOUNT, "allowance spent");
    }

    function test_When_AllowanceIsMax_ItIsStillSpent() public {
        vm.prank(alice);
        token.approve(relayer, type(uint256).max);
        vm.prank(relayer);
        assertTrue(token.transferFrom(alice, bob, AMOUNT), "transfer returns true");
        assertEq(token.allowance(alice, relayer), type(uint256).max - AMOUNT, "no infinite approval");
    }

    function test_RevertWhen_AllowanceInsufficient() public {
        vm.prank(alice);
        token.approve(relayer, AMOUNT - 1);
        vm.expectRevert(bytes(EXCEEDS_ALLOWANCE));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, AMOUNT);
    }

    function test_RevertWhen_BalanceInsufficient() public {
        vm.prank(alice);
        token.approve(relayer, type(uint256).max);
        vm.expectRevert(bytes(EXCEEDS_BALANCE));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, START_BALANCE + 1);
    }

    /// @dev Succeeds iff value <= allowance and value <= balance; the allowance drops by exactly `value`.
    function testFuzz_TransferFrom(uint256 allowance, uint256 value) public {
        allowance = bound(allowance, 0, 2 * START_BALANCE);
        value = bound(value, 0, 2 * START_BALANCE);
        vm.prank(alice);
        token.approve(relayer, allowance);
        vm.prank(relayer);
        if (value > allowance) {
            vm.expectRevert(bytes(EXCEEDS_ALLOWANCE));
            // forge-lint: disable-next-line(erc20-unchecked-transfer)
            token.transferFrom(alice, bob, value);
        } else if (value > START_BALANCE) {
            vm.expectRevert(bytes(EXCEEDS_BALANCE));
            // forge-lint: disable-next-line(erc20-unchecked-transfer)
            token.transferFrom(alice, bob, value);
        } else {
            assertTrue(token.transferFrom(alice, bob, value), "transfer returns true");
            assertEq(token.allowance(alice, relayer), allowance - value, "allowance");
            assertEq(token.balanceOf(bob), value, "credited");
        }
    }
}
