// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_Pause_Test is SubscriptionsBase {
    function test_RevertWhen_Unknown() public {
        bytes32 id = keccak256("nothing");
        expectInvalidStatus(id, Subscriptions.Status.None);
        subs.pause(id);
    }

    function test_RevertWhen_CallerIsProvider() public {
        bytes32 id = subscribedAndCharged();
        expectUnauthorized(id, provider);
        vm.prank(provider);
        subs.pause(id);
    }

    function test_RevertWhen_AlreadyPaused() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.pause(id);
        expectInvalidStatus(id, Subscriptions.Status.Paused);
        vm.prank(agent);
        subs.pause(id);
    }

    function test_RevertWhen_Cancelled() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.cancel(id);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        vm.prank(agent);
        subs.pause(id);
    }

    function test_RevertWhen_Lapsed() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD + GRACE);
        expectInvalidStatus(id, Subscriptions.Status.Expired);
        vm.prank(agent);
        subs.pause(id);
    }

    function test_When_SubscriberPauses() public {
        bytes32 id = subscribedAndCharged();
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionPaused(id, agent);
        vm.prank(agent);
        subs.pause(id);
        assertStatus(id, Subscriptions.Status.Paused, "paused");
        vm.warp(T0 + PERIOD);
        expectInvalidStatus(id, Subscriptions.Status.Paused);
        subs.charge(id);
    }

    function test_When_OperatorPauses() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(operator);
        subs.pause(id);
        assertStatus(id, Subscriptions.Status.Paused, "paused");
    }

    function test_When_PastDue() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = DEPOSIT + 1;
        terms.fee = 0;
        bytes32 id = subscribe(terms);
        subs.charge(id);
        vm.prank(agent);
        subs.pause(id);
        assertStatus(id, Subscriptions.Status.Paused, "paused");
    }

    /// @dev No renewal while paused: at the next period's lapse the subscription expires.
    function test_When_PausedPastTheGrace_Expires() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.pause(id);
        vm.warp(T0 + PERIOD + GRACE);
        assertStatus(id, Subscriptions.Status.Expired, "expired");
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionExpired(id, 1);
        assertFalse(subs.charge(id), "written, not charged");
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "never renewed");
    }
}
