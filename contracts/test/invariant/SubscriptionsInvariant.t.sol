// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Test} from "../utils/Test.sol";
import {console} from "../utils/console.sol";
import {BalanceVaultHandler} from "./handlers/BalanceVaultHandler.sol";
import {SubscriptionsHandler} from "./handlers/SubscriptionsHandler.sol";

/// @title SubscriptionsInvariantTest
/// @notice Properties of subscription charges that must hold after any sequence of subscriptions, charges, cancels,
///         pauses and resumes, with the subscribers' balances moving under them (deposits, debits, withdrawals).
contract SubscriptionsInvariantTest is Test {
    BalanceVault internal vault;
    Subscriptions internal subs;
    MockUSDC internal usdc;
    SubscriptionsHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        vault = new BalanceVault(makeAddr("feeRecipient"), 500, makeAddr("operator"), 1 days);
        subs = new Subscriptions(vault);
        vault.setCharger(address(subs));
        handler = new SubscriptionsHandler(vault, usdc, subs);

        bytes4[] memory selectors = new bytes4[](18);
        selectors[0] = SubscriptionsHandler.subscribe.selector;
        selectors[1] = SubscriptionsHandler.subscribe.selector;
        selectors[2] = SubscriptionsHandler.charge.selector;
        selectors[3] = SubscriptionsHandler.charge.selector;
        selectors[4] = SubscriptionsHandler.chargeMany.selector;
        selectors[5] = SubscriptionsHandler.chargeMany.selector;
        selectors[6] = SubscriptionsHandler.cancel.selector;
        selectors[7] = SubscriptionsHandler.pause.selector;
        selectors[8] = SubscriptionsHandler.resume.selector;
        selectors[9] = BalanceVaultHandler.deposit.selector;
        selectors[10] = BalanceVaultHandler.deposit.selector;
        selectors[11] = BalanceVaultHandler.debitMany.selector;
        selectors[12] = BalanceVaultHandler.requestWithdrawal.selector;
        selectors[13] = BalanceVaultHandler.withdraw.selector;
        selectors[14] = BalanceVaultHandler.cancelWithdrawal.selector;
        selectors[15] = BalanceVaultHandler.warp.selector;
        selectors[16] = SubscriptionsHandler.operateMany.selector;
        selectors[17] = SubscriptionsHandler.subscribeWithoutOperator.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// for every subscription and period k: #SubscriptionCharged(id, k) <= 1, periods are charged in order, and the
    /// stored count of charged periods == the periods seen charged (at most once per period);
    /// every charge of period k happened at t with start + k * period <= t < start + k * period + grace
    function invariant_Subs_ChargedOncePerPeriodInItsWindow() public view {
        assertFalse(handler.ghostChargedTwice(), "a period charged twice or out of order");
        assertFalse(handler.ghostChargedOutsideWindow(), "charged outside the period's window");
        uint256 count = handler.subCount();
        for (uint256 i; i < count; ++i) {
            SubscriptionsHandler.SubGhost memory ghost = handler.subAt(i);
            assertEq(subs.subscriptionOf(ghost.id).charged, ghost.periodsCharged, "charged == periods seen");
        }
    }

    /// only the operator opens a subscription (so no balance leaves the vault through one the market did not count)
    function invariant_Subs_OpenedOnlyByTheOperator() public view {
        assertFalse(handler.ghostOpenedWithoutOperator(), "a subscription was opened without the operator");
    }

    /// no charge after a cancel (effective at the period end: the next period is never charged), on a paused
    /// subscription, or after expiry; Cancelled and Expired never change
    function invariant_Subs_NoChargeAfterCancelOrExpiry() public view {
        assertFalse(handler.ghostChargedWhenStopped(), "charged when cancelled, paused or expired");
        assertFalse(handler.ghostStatusViolated(), "a refused cancel/pause/resume succeeded or a final status changed");
        uint256 count = handler.subCount();
        for (uint256 i; i < count; ++i) {
            SubscriptionsHandler.SubGhost memory ghost = handler.subAt(i);
            if (ghost.cancelled) {
                assertEq(uint256(subs.statusOf(ghost.id)), uint256(Subscriptions.Status.Cancelled), "cancelled stays");
            }
        }
    }

    /// every vault Charged(id, ...) moves exactly the terms' price from the subscriber: price - fee to the provider,
    /// fee to the fee recipient; never more than the subscriber's balance held, never after its withdrawal unlocked;
    /// and the vault still balances: balanceOf(vault) == liabilities + unbooked surplus, liabilities == sum(balances)
    /// + sum(claimables)
    function invariant_Subs_ChargesPayExactlyTheTerms() public view {
        assertFalse(handler.ghostChargeOffTerms(), "a charge off its terms");
        assertFalse(handler.ghostOverdrawn(), "a charge exceeded its balance");
        assertFalse(handler.ghostSpentAfterUnlock(), "a charge after the withdrawal unlocked");
        assertEq(
            usdc.balanceOf(address(vault)),
            vault.liabilities(address(usdc)) + handler.ghostStray() - handler.ghostBooked(),
            "balance"
        );
        address[] memory accounts = handler.accounts();
        uint256 owed;
        for (uint256 i; i < accounts.length; ++i) {
            owed += vault.balanceOf(address(usdc), accounts[i]) + vault.claimable(address(usdc), accounts[i]);
        }
        assertEq(vault.liabilities(address(usdc)), owed, "liabilities == balances + claimables");
    }

    /// Prints how often each action succeeded, to show the handler reaches every path.
    function afterInvariant() public view {
        console.log("subscriptions", handler.subCount());
        console.log("charge, chargeMany", handler.calls("charge"), handler.calls("chargeMany"));
        console.log("cancel, pause", handler.calls("cancel"), handler.calls("pause"));
        console.log("resume, deposit", handler.calls("resume"), handler.calls("deposit"));
        console.log("debitMany, withdraw", handler.calls("debitMany"), handler.calls("withdraw"));
        console.log("requestWithdrawal, warp", handler.calls("requestWithdrawal"), handler.calls("warp"));
        console.log("periods charged, past due", handler.calls("charged"), handler.calls("past due"));
        console.log("expired", handler.calls("expired"));
    }
}
