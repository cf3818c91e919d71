// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_Charge_Test is SubscriptionsBase {
    function test_RevertWhen_Unknown() public {
        bytes32 id = keccak256("nothing");
        expectInvalidStatus(id, Subscriptions.Status.None);
        subs.charge(id);
    }

    function test_RevertWhen_BeforeStart() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.start = uint64(block.timestamp + 1 days);
        bytes32 id = subscribe(terms);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotDue.selector, id, block.timestamp, terms.start));
        subs.charge(id);
    }

    /// @dev At most once per period: the second charge of a period is not due.
    function test_RevertWhen_PeriodAlreadyCharged() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(block.timestamp + PERIOD - 1);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotDue.selector, id, block.timestamp, T0 + PERIOD));
        subs.charge(id);
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "charged once");
    }

    function test_RevertWhen_Paused() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.pause(id);
        vm.warp(T0 + PERIOD);
        expectInvalidStatus(id, Subscriptions.Status.Paused);
        subs.charge(id);
    }

    /// @dev A cancel takes effect at the end of the paid period: no charge after it.
    function test_RevertWhen_Cancelled() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.cancel(id);
        vm.warp(T0 + PERIOD);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        subs.charge(id);
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "one period only");
    }

    function test_RevertWhen_ExpiredWritten() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD + GRACE);
        assertFalse(subs.charge(id), "expires");
        depositAs(agent, 100e6);
        expectInvalidStatus(id, Subscriptions.Status.Expired);
        subs.charge(id);
    }

    function test_When_Due() public {
        bytes32 id = subscribe(defaultTerms());
        vm.expectEmit(address(vault));
        emit BalanceVault.Charged(id, address(usdc), agent, provider, PRICE, FEE);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionCharged(id, 0, T0 + PERIOD);
        assertTrue(subs.charge(id), "charged");
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "subscriber");
        assertEq(claimableOf(provider), PRICE - FEE, "provider");
        assertEq(claimableOf(feeRecipient), FEE, "fee recipient");
        assertEq(subs.subscriptionOf(id).charged, 1, "one period");
        assertEq(subs.paidThrough(id), T0 + PERIOD, "paid through");
        assertOwes(DEPOSIT, "moved inside the vault");
    }

    /// @dev Anyone may charge: the money only goes where the terms say.
    function test_When_AnyoneCharges() public {
        bytes32 id = subscribe(defaultTerms());
        vm.prank(stranger);
        assertTrue(subs.charge(id), "charged");
        assertEq(claimableOf(stranger), 0, "nothing to the caller");
    }

    function test_When_SuccessivePeriods() public {
        bytes32 id = subscribedAndCharged();
        for (uint256 k = 1; k < 4; ++k) {
            vm.warp(T0 + k * PERIOD);
            vm.expectEmit(address(subs));
            emit Subscriptions.SubscriptionCharged(id, k, T0 + (k + 1) * PERIOD);
            assertTrue(subs.charge(id), "charged");
        }
        assertEq(balanceOf(agent), DEPOSIT - 4 * PRICE, "four periods");
    }

    /// @dev A charge late in the grace pays the due period; the next period stays on the original schedule.
    function test_When_ChargedLateInGrace() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD + GRACE - 1);
        assertTrue(subs.charge(id), "late but within grace");
        assertEq(subs.paidThrough(id), T0 + 2 * PERIOD, "schedule kept");
    }

    function test_When_BalanceShort_PastDue() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = DEPOSIT + 1;
        terms.fee = 0;
        bytes32 id = subscribe(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionPastDue(id, 0, T0 + GRACE);
        assertFalse(subs.charge(id), "not charged, no revert");
        assertStatus(id, Subscriptions.Status.PastDue, "past due");
        assertEq(balanceOf(agent), DEPOSIT, "untouched");
        assertEq(subs.subscriptionOf(id).charged, 0, "period unpaid");
    }

    function test_When_PastDueRetriedAfterDeposit() public {
        bytes32 id = _pastDue();
        vm.warp(block.timestamp + 1 days);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionPastDue(id, 1, T0 + PERIOD + GRACE);
        assertFalse(subs.charge(id), "still short");
        depositAs(agent, 50e6);
        assertTrue(subs.charge(id), "retried");
        assertStatus(id, Subscriptions.Status.Active, "active again");
        assertEq(subs.paidThrough(id), T0 + 2 * PERIOD, "period 1 paid");
    }

    function test_When_GraceEnds_Expires() public {
        bytes32 id = _pastDue();
        vm.warp(T0 + PERIOD + GRACE);
        assertStatus(id, Subscriptions.Status.Expired, "expired before anyone writes it");
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionExpired(id, 1);
        assertFalse(subs.charge(id), "no revert");
        assertEq(uint256(storedStatusOf(id)), uint256(Subscriptions.Status.Expired), "written");
    }

    /// @dev Nobody charged the period in time (the balance was enough): it expires all the same.
    function test_When_NeverChargedInGrace_Expires() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD + GRACE);
        assertFalse(subs.charge(id), "expired");
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "period 1 never charged");
    }

    /// @dev The subscriber's withdrawal unlocked: the vault refuses, the subscription goes past due.
    function test_When_WithdrawalUnlocked_PastDue() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD - DELAY);
        requestAs(agent);
        vm.warp(T0 + PERIOD);
        assertFalse(subs.charge(id), "refused");
        assertStatus(id, Subscriptions.Status.PastDue, "past due");
        vm.prank(agent);
        assertEq(vault.withdraw(address(usdc), agent), DEPOSIT - PRICE, "the exit pays the rest");
    }

    /// @dev Before the unlock, a due renewal is charged like a debit the operator accepted.
    function test_When_WithdrawalPending_Charges() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD - 1);
        requestAs(agent);
        vm.warp(T0 + PERIOD);
        assertTrue(subs.charge(id), "charged before the unlock");
    }

    function test_When_Resumed_ChargesTheDuePeriod() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.pause(id);
        vm.warp(T0 + PERIOD + 1 days);
        vm.prank(agent);
        subs.resume(id);
        assertTrue(subs.charge(id), "charged within the grace");
    }

    /// @dev However often and whenever anyone calls, a subscription is charged at most once per period and only
    ///      from the period's due time.
    function testFuzz_Charge_AtMostOncePerPeriod(uint256[8] memory gaps) public {
        depositAs(agent, 1000e6);
        bytes32 id = subscribe(defaultTerms());
        for (uint256 i; i < gaps.length; ++i) {
            vm.warp(block.timestamp + bound(gaps[i], 0, PERIOD + GRACE - 1));
            Subscriptions.Status status = statusOf(id);
            if (status == Subscriptions.Status.Expired) break;
            uint256 k = subs.subscriptionOf(id).charged;
            uint256 dueAt = T0 + k * PERIOD;
            if (block.timestamp < dueAt) {
                vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotDue.selector, id, block.timestamp, dueAt));
                subs.charge(id);
            } else {
                assertTrue(subs.charge(id), "due and covered");
            }
            uint256 charged = subs.subscriptionOf(id).charged;
            assertLe(T0 + (charged - 1) * PERIOD, block.timestamp, "never charged ahead");
            assertEq(balanceOf(agent), DEPOSIT + 1000e6 - charged * PRICE, "one price per period");
        }
    }

    function _pastDue() internal returns (bytes32 id) {
        id = subscribedAndCharged();
        // The operator spends the rest of the balance but $1: period 1 cannot be paid.
        debit(one(debitItem(keccak256("spend"), agent, DEPOSIT - PRICE - 1e6, 0)));
        vm.warp(T0 + PERIOD);
        assertFalse(subs.charge(id), "short");
    }
}
