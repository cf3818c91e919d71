// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_CancelWithdrawal_Test is VaultBase {
    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
    }

    function test_RevertWhen_NoRequest() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NoWithdrawalRequested.selector, address(usdc), agent));
        vm.prank(agent);
        vault.cancelWithdrawal(address(usdc));
    }

    /// @dev Only the agent cancels its exit: the operator cannot.
    function test_RevertWhen_CallerIsNotTheAgent() public {
        requestAs(agent);
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_NoWithdrawalRequested.selector, address(usdc), operator)
        );
        vm.prank(operator);
        vault.cancelWithdrawal(address(usdc));
        assertTrue(unlockAtOf(agent) != 0, "request kept");
    }

    function test_When_Pending() public {
        requestAs(agent);
        vm.expectEmit(address(vault));
        emit BalanceVault.WithdrawalCancelled(address(usdc), agent);
        vm.prank(agent);
        vault.cancelWithdrawal(address(usdc));
        assertEq(unlockAtOf(agent), 0, "cleared");
        vm.warp(block.timestamp + 2 * DELAY);
        assertEq(debit(one(debitItem(keccak256("d"), agent, 1e6, 0))), 1, "debits apply");
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NoWithdrawalRequested.selector, address(usdc), agent));
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
    }

    function test_When_Unlocked() public {
        vm.warp(requestAs(agent) + 1);
        vm.prank(agent);
        vault.cancelWithdrawal(address(usdc));
        assertEq(debit(one(debitItem(keccak256("d"), agent, 1e6, 0))), 1, "debits apply again");
        assertEq(requestAs(agent), block.timestamp + DELAY, "a new request starts a new delay");
    }

    function testFuzz_CancelWithdrawal(uint256 elapsed) public {
        requestAs(agent);
        vm.warp(block.timestamp + bound(elapsed, 0, 10 * DELAY));
        vm.prank(agent);
        vault.cancelWithdrawal(address(usdc));
        assertEq(unlockAtOf(agent), 0, "cleared");
        assertEq(balanceOf(agent), 10e6, "balance kept");
    }
}
