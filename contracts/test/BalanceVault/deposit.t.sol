// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";
import {PullToken} from "./mocks/PullToken.sol";

contract BalanceVault_Deposit_Test is VaultBase {
    function test_RevertWhen_TokenIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Token)
        );
        vm.prank(agent);
        vault.deposit(address(0), 1e6);
    }

    function test_RevertWhen_AmountIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, 0));
        vm.prank(agent);
        vault.deposit(address(usdc), 0);
    }

    function test_RevertWhen_AmountAboveMax() public {
        uint256 amount = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, amount));
        vm.prank(agent);
        vault.deposit(address(usdc), amount);
    }

    function test_RevertWhen_NotApproved() public {
        vm.expectRevert(bytes("ERC20: transfer amount exceeds allowance"));
        vm.prank(agent);
        vault.deposit(address(usdc), 1e6);
        assertEq(balanceOf(agent), 0, "nothing credited");
        assertEq(liabilitiesOf(), 0, "nothing owed");
    }

    function test_RevertWhen_TokenPaused() public {
        vm.prank(agent);
        usdc.approve(address(vault), 1e6);
        usdc.pause();
        vm.expectRevert(bytes("Pausable: paused"));
        vm.prank(agent);
        vault.deposit(address(usdc), 1e6);
    }

    /// @dev A fee-on-transfer token delivers less than it pulled: nothing is credited.
    function test_RevertWhen_TokenShortchanges() public {
        PullToken token = _pullToken(PullToken.Mode.Shortchange);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_BalanceDelta.selector, 10e6, 10e6 - 1));
        vm.prank(agent);
        vault.deposit(address(token), 10e6);
    }

    function test_RevertWhen_TokenReenters() public {
        PullToken token = _pullToken(PullToken.Mode.Reenter);
        token.setReentry(address(vault), abi.encodeCall(BalanceVault.deposit, (address(token), 1e6)));
        vm.expectRevert(BalanceVault.Vault_Reentrancy.selector);
        vm.prank(agent);
        vault.deposit(address(token), 10e6);
    }

    function test_When_AgentDeposits() public {
        vm.prank(agent);
        usdc.approve(address(vault), 25e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, bytes32(0), 25e6);
        vm.prank(agent);
        vault.deposit(address(usdc), 25e6);
        assertEq(balanceOf(agent), 25e6, "balance");
        assertOwes(25e6, "owed and held");
        assertEq(usdc.balanceOf(agent), AGENT_FUNDS - 25e6, "paid");
    }

    function test_When_DepositsAddUp() public {
        depositAs(agent, 10e6);
        depositAs(agent, 5e6);
        assertEq(balanceOf(agent), 15e6, "balance");
        assertOwes(15e6, "owed");
    }

    /// @dev A deposit never touches a pending request: the money joins what the withdrawal pays.
    function test_When_WithdrawalPending_RequestKept() public {
        depositAs(agent, 10e6);
        uint256 unlockAt = requestAs(agent);
        vm.warp(block.timestamp + 1 hours);
        depositAs(agent, 5e6);
        assertEq(unlockAtOf(agent), unlockAt, "request unchanged");
        vm.warp(unlockAt);
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 15e6, "the deposit is withdrawn with the rest");
    }

    /// @dev After the unlock, a deposit is withdrawable at once and cannot be debited.
    function test_When_WithdrawalUnlocked_DepositWithdrawableAtOnce() public {
        depositAs(agent, 10e6);
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt + 5 days);
        depositAs(agent, 5e6);
        assertEq(debit(one(debitItem(keccak256("d"), agent, 1e6, 0))), 0, "not debitable");
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 15e6, "withdrawn");
    }

    /// @dev Balances are per token.
    function test_When_OtherToken() public {
        PullToken token = _pullToken(PullToken.Mode.Honest);
        vm.prank(agent);
        vault.deposit(address(token), 3e6);
        assertEq(vault.balanceOf(address(token), agent), 3e6, "other token");
        assertEq(balanceOf(agent), 0, "usdc untouched");
        assertEq(vault.liabilities(address(token)), 3e6, "per-token liabilities");
    }

    function testFuzz_Deposit(address account, uint256 amount) public {
        vm.assume(account != address(0) && account != address(vault) && !usdc.isBlacklisted(account));
        amount = bound(amount, 1, type(uint128).max);
        usdc.mint(account, amount);
        depositAs(account, amount);
        assertEq(balanceOf(account), amount, "credited");
        assertOwes(amount, "owed and held");
    }

    function _pullToken(PullToken.Mode mode) internal returns (PullToken token) {
        token = new PullToken();
        token.mint(agent, 100e6);
        vm.prank(agent);
        token.approve(address(vault), type(uint256).max);
        token.setMode(mode);
    }
}
