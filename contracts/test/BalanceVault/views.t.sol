// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_Views_Test is VaultBase {
    function test_AccountOf_BalanceAndRequest() public {
        depositAs(agent, 10e6);
        BalanceVault.Account memory account = vault.accountOf(address(usdc), agent);
        assertEq(account.balance, 10e6, "balance");
        assertEq(account.unlockAt, 0, "no request");
        uint256 unlockAt = requestAs(agent);
        account = vault.accountOf(address(usdc), agent);
        assertEq(account.unlockAt, unlockAt, "request");
        assertEq(vault.balanceOf(address(usdc), agent), 10e6, "balanceOf");
    }

    function test_AccountOf_Unknown() public view {
        BalanceVault.Account memory account = vault.accountOf(address(usdc), stranger);
        assertEq(account.balance + account.unlockAt, 0, "zero");
    }

    function test_IsDebited() public {
        depositAs(agent, 10e6);
        bytes32 id = keccak256("d");
        assertFalse(vault.isDebited(id), "not yet");
        debit(one(debitItem(id, agent, 1e6, 0)));
        assertTrue(vault.isDebited(id), "recorded");
        assertFalse(vault.isDebited(bytes32(uint256(id) ^ 1)), "neighbour free");
    }

    function test_Surplus_PlainTransfer() public {
        depositAs(agent, 10e6);
        vm.prank(agent);
        usdc.transfer(address(vault), 3e6);
        assertEq(vault.surplus(address(usdc)), 3e6, "plain transfer is surplus");
        assertEq(liabilitiesOf(), 10e6, "not owed");
    }

    function test_Surplus_ZeroWhenBalanceBelowLiabilities() public {
        assertEq(vault.surplus(address(usdc)), 0, "empty");
    }

    function test_IsBooked() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        assertFalse(vault.isBooked(address(usdc), agent, item.nonce), "not yet");
        frontRun(item);
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
        assertTrue(vault.isBooked(address(usdc), agent, item.nonce), "booked");
        assertFalse(vault.isBooked(stranger, agent, item.nonce), "per token");
    }

    /// @dev liabilities == balances + claimables through every kind of entry.
    function testFuzz_Liabilities(uint256 deposited, uint256 debited, bool withdraw) public {
        deposited = bound(deposited, 1, AGENT_FUNDS);
        debited = bound(debited, 0, deposited);
        depositAs(agent, deposited);
        if (debited != 0) debit(one(debitItem(keccak256("d"), agent, debited, debited * MAX_FEE_BPS / 10_000)));
        assertEq(liabilitiesOf(), balanceOf(agent) + claimableOf(provider) + claimableOf(feeRecipient), "sum");
        if (withdraw && balanceOf(agent) != 0) {
            vm.warp(requestAs(agent));
            vm.prank(agent);
            vault.withdraw(address(usdc), agent);
        }
        if (claimableOf(provider) != 0) vault.claimFor(address(usdc), provider);
        assertEq(liabilitiesOf(), balanceOf(agent) + claimableOf(feeRecipient), "after exits");
        assertEq(usdc.balanceOf(address(vault)), liabilitiesOf(), "held == owed");
    }
}
