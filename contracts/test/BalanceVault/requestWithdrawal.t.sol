// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_RequestWithdrawal_Test is VaultBase {
    function test_RevertWhen_NothingToWithdraw() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToWithdraw.selector, address(usdc), agent));
        vm.prank(agent);
        vault.requestWithdrawal(address(usdc));
    }

    function test_RevertWhen_AlreadyRequested() public {
        depositAs(agent, 10e6);
        uint256 unlockAt = requestAs(agent);
        vm.warp(block.timestamp + 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_WithdrawalPending.selector, address(usdc), agent, unlockAt)
        );
        vm.prank(agent);
        vault.requestWithdrawal(address(usdc));
    }

    function test_When_AgentRequests() public {
        depositAs(agent, 10e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.WithdrawalRequested(address(usdc), agent, 10e6, block.timestamp + DELAY);
        uint256 unlockAt = requestAs(agent);
        assertEq(unlockAt, block.timestamp + DELAY, "unlockAt");
        assertEq(unlockAtOf(agent), unlockAt, "stored");
        assertEq(balanceOf(agent), 10e6, "balance stays until withdrawn");
        assertOwes(10e6, "still owed");
    }

    /// @dev Only the caller's own account: nobody can start an agent's exit for it.
    function test_When_OtherAccountsUntouched() public {
        depositAs(agent, 10e6);
        address other = makeAddr("other agent");
        usdc.mint(other, 5e6);
        depositAs(other, 5e6);
        requestAs(agent);
        assertEq(unlockAtOf(other), 0, "other agent has no request");
    }

    /// @dev A request is per token.
    function test_When_OtherTokenUntouched() public {
        depositAs(agent, 10e6);
        requestAs(agent);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToWithdraw.selector, stranger, agent));
        vm.prank(agent);
        vault.requestWithdrawal(stranger);
    }

    function test_When_RequestedAgainAfterWithdraw() public {
        depositAs(agent, 10e6);
        vm.warp(requestAs(agent));
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
        depositAs(agent, 1e6);
        assertEq(requestAs(agent), block.timestamp + DELAY, "a new request");
    }

    function testFuzz_RequestWithdrawal(uint256 amount, uint256 at) public {
        amount = bound(amount, 1, AGENT_FUNDS);
        at = bound(at, block.timestamp, type(uint32).max);
        depositAs(agent, amount);
        vm.warp(at);
        assertEq(requestAs(agent), at + DELAY, "unlockAt");
    }
}
