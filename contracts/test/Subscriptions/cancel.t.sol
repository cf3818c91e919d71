// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_Cancel_Test is SubscriptionsBase {
    function test_RevertWhen_Unknown() public {
        bytes32 id = keccak256("nothing");
        expectInvalidStatus(id, Subscriptions.Status.None);
        subs.cancel(id);
    }

    function test_RevertWhen_CallerIsProvider() public {
        bytes32 id = subscribedAndCharged();
        expectUnauthorized(id, provider);
        vm.prank(provider);
        subs.cancel(id);
    }

    function test_RevertWhen_CallerIsStranger() public {
        bytes32 id = subscribedAndCharged();
        expectUnauthorized(id, stranger);
        vm.prank(stranger);
        subs.cancel(id);
    }

    function test_RevertWhen_AlreadyCancelled() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.cancel(id);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        vm.prank(agent);
        subs.cancel(id);
    }

    /// @dev An expired subscription stays expired, even before a charge writes it.
    function test_RevertWhen_Lapsed() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD + GRACE);
        expectInvalidStatus(id, Subscriptions.Status.Expired);
        vm.prank(agent);
        subs.cancel(id);
    }

    function test_When_SubscriberCancels() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + 10 days);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionCancelled(id, agent, T0 + PERIOD);
        vm.prank(agent);
        subs.cancel(id);
        assertStatus(id, Subscriptions.Status.Cancelled, "cancelled");
        assertEq(subs.paidThrough(id), T0 + PERIOD, "access paid for lasts to the period end");
        vm.warp(T0 + PERIOD);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        subs.charge(id);
    }

    function test_When_OperatorCancels() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(operator);
        subs.cancel(id);
        assertStatus(id, Subscriptions.Status.Cancelled, "cancelled");
    }

    function test_When_PastDue() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = DEPOSIT + 1;
        terms.fee = 0;
        bytes32 id = subscribe(terms);
        subs.charge(id);
        vm.prank(agent);
        subs.cancel(id);
        depositAs(agent, 10e6);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        subs.charge(id);
    }

    function test_When_Paused() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.pause(id);
        vm.prank(agent);
        subs.cancel(id);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        vm.prank(agent);
        subs.resume(id);
    }

    /// @dev Cancelled before period 0 was charged: nothing is ever charged.
    function test_When_BeforeFirstCharge() public {
        bytes32 id = subscribe(defaultTerms());
        vm.prank(agent);
        subs.cancel(id);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        subs.charge(id);
        assertEq(balanceOf(agent), DEPOSIT, "nothing charged");
    }

    function testFuzz_Cancel_NoChargeAfter(uint256 cancelAt, uint256 chargeAt) public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + bound(cancelAt, 0, PERIOD + GRACE - 1));
        vm.prank(agent);
        subs.cancel(id);
        vm.warp(block.timestamp + bound(chargeAt, 0, 5 * PERIOD));
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        subs.charge(id);
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "only the period before the cancel");
    }
}
