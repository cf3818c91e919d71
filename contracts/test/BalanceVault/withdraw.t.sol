// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {EvilToken} from "../Escrow/mocks/EvilToken.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_Withdraw_Test is VaultBase {
    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
    }

    function test_RevertWhen_RecipientIsZero() public {
        vm.warp(requestAs(agent));
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Recipient)
        );
        vm.prank(agent);
        vault.withdraw(address(usdc), address(0));
    }

    function test_RevertWhen_NoRequest() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NoWithdrawalRequested.selector, address(usdc), agent));
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
    }

    function test_RevertWhen_BeforeUnlock() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                BalanceVault.Vault_WithdrawalLocked.selector, address(usdc), agent, unlockAt - 1, unlockAt
            )
        );
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
    }

    /// @dev Nobody withdraws an agent's balance but the agent.
    function test_RevertWhen_CallerIsNotTheAgent() public {
        vm.warp(requestAs(agent));
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_NoWithdrawalRequested.selector, address(usdc), operator)
        );
        vm.prank(operator);
        vault.withdraw(address(usdc), operator);
    }

    function test_RevertWhen_TokenPaused() public {
        vm.warp(requestAs(agent));
        usdc.pause();
        vm.expectRevert(bytes("Pausable: paused"));
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
        usdc.unpause();
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 10e6, "paid after the unpause");
    }

    /// @dev A blacklisted recipient makes the transfer fail; the balance stays withdrawable to another address.
    function test_RevertWhen_RecipientBlacklisted() public {
        vm.warp(requestAs(agent));
        usdc.blacklist(agent);
        vm.expectRevert(bytes("Blacklistable: account is blacklisted"));
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
        assertEq(balanceOf(agent), 10e6, "kept");
        address wallet = makeAddr("agent's other wallet");
        vm.prank(agent);
        vault.withdraw(address(usdc), wallet);
        assertEq(usdc.balanceOf(wallet), 10e6, "withdrawn elsewhere");
    }

    function test_RevertWhen_TokenReenters() public {
        EvilToken evil = new EvilToken();
        evil.mint(agent, 10e6);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.prank(operator);
        vault.depositWithTransfer(address(evil), item);
        vm.prank(agent);
        vault.requestWithdrawal(address(evil));
        vm.warp(block.timestamp + DELAY);
        evil.setMode(EvilToken.Mode.ReenterOnTransfer);
        evil.setReentry(address(vault), abi.encodeCall(BalanceVault.claim, (address(evil), agent)));
        vm.expectRevert(BalanceVault.Vault_Reentrancy.selector);
        vm.prank(agent);
        vault.withdraw(address(evil), agent);
    }

    function test_When_Unlocked() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt);
        vm.expectEmit(address(vault));
        emit BalanceVault.Withdrawn(address(usdc), agent, agent, 10e6);
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 10e6, "returned");
        assertEq(usdc.balanceOf(agent), AGENT_FUNDS, "agent made whole");
        assertEq(balanceOf(agent), 0, "balance zero");
        assertEq(unlockAtOf(agent), 0, "request cleared");
        assertOwes(0, "vault empty");
    }

    /// @dev Debits accepted before the unlock apply; the rest is paid, and later debits cannot touch it.
    function test_When_DebitedDuringDelay_PaysTheRest() public {
        uint256 unlockAt = requestAs(agent);
        debit(one(debitItem(keccak256("accepted before"), agent, 4e6, 0.2e6)));
        vm.warp(unlockAt);
        assertEq(debit(one(debitItem(keccak256("late"), agent, 6e6, 0))), 0, "late debit refused");
        vm.warp(unlockAt + 30 days);
        assertEq(debit(one(debitItem(keccak256("later"), agent, 1e6, 0))), 0, "however late");
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 6e6, "the rest");
        assertOwes(4e6, "the provider's and the fee recipient's claimables stay");
    }

    /// @dev Debits used the whole balance: the withdrawal pays nothing and closes the request.
    function test_When_BalanceZero() public {
        uint256 unlockAt = requestAs(agent);
        debit(one(debitItem(keccak256("all"), agent, 10e6, 0)));
        vm.warp(unlockAt);
        vm.expectEmit(address(vault));
        emit BalanceVault.Withdrawn(address(usdc), agent, agent, 0);
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 0, "nothing");
        assertEq(unlockAtOf(agent), 0, "request cleared");
    }

    function test_When_ToOtherAddress() public {
        vm.warp(requestAs(agent));
        address to = makeAddr("cold wallet");
        vm.prank(agent);
        vault.withdraw(address(usdc), to);
        assertEq(usdc.balanceOf(to), 10e6, "paid to `to`");
    }

    /// @dev Withdrawing leaves other agents' balances and the claimables owed.
    function test_When_OthersOwed() public {
        address other = makeAddr("other agent");
        usdc.mint(other, 5e6);
        depositAs(other, 5e6);
        debit(one(debitItem(keccak256("d"), other, 1e6, 0)));
        vm.warp(requestAs(agent));
        vm.prank(agent);
        vault.withdraw(address(usdc), agent);
        assertOwes(5e6, "other balance + claimable");
    }

    /// @dev The exit cannot be blocked: whatever the operator debits, the balance left at the unlock is paid.
    function testFuzz_Withdraw_AlwaysPaysAfterDelay(uint256 debited, uint256 late, uint256 wait) public {
        uint256 unlockAt = requestAs(agent);
        debited = bound(debited, 0, 10e6);
        if (debited != 0) debit(one(debitItem(keccak256("early"), agent, debited, 0)));
        vm.warp(unlockAt + bound(wait, 0, 365 days));
        late = bound(late, 1, 10e6);
        debit(one(debitItem(keccak256("late"), agent, late, 0)));
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), 10e6 - debited, "the balance at the unlock");
        assertEq(usdc.balanceOf(address(vault)), debited, "only the claimables stay");
    }
}
