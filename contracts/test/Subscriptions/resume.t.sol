// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_Resume_Test is SubscriptionsBase {
    function test_RevertWhen_NotPaused() public {
        bytes32 id = subscribedAndCharged();
        expectInvalidStatus(id, Subscriptions.Status.Active);
        vm.prank(agent);
        subs.resume(id);
    }

    function test_RevertWhen_Unknown() public {
        bytes32 id = keccak256("nothing");
        expectInvalidStatus(id, Subscriptions.Status.None);
        subs.resume(id);
    }

    /// @dev Restarting charges is the subscriber's: the operator may not for a subscription the subscriber made.
    function test_RevertWhen_OperatorResumesSubscribersOwn() public {
        bytes32 id = _paused();
        expectUnauthorized(id, operator);
        vm.prank(operator);
        subs.resume(id);
    }

    function test_RevertWhen_CallerIsProvider() public {
        bytes32 id = _paused();
        expectUnauthorized(id, provider);
        vm.prank(provider);
        subs.resume(id);
    }

    /// @dev Refused once the period has expired.
    function test_RevertWhen_Expired() public {
        bytes32 id = _paused();
        vm.warp(T0 + PERIOD + GRACE);
        expectInvalidStatus(id, Subscriptions.Status.Expired);
        vm.prank(agent);
        subs.resume(id);
    }

    function test_When_SubscriberResumes() public {
        bytes32 id = _paused();
        vm.warp(T0 + PERIOD + GRACE - 1);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionResumed(id, agent);
        vm.prank(agent);
        subs.resume(id);
        assertStatus(id, Subscriptions.Status.Active, "active");
        assertTrue(subs.charge(id), "charged at the last second of the grace");
    }

    function test_When_OperatorResumesItsOwn() public {
        vm.prank(operator);
        bytes32 id = subs.subscribeFor(defaultTerms());
        vm.prank(operator);
        subs.pause(id);
        vm.prank(operator);
        subs.resume(id);
        assertStatus(id, Subscriptions.Status.Active, "active");
    }

    /// @dev Paused while past due, resumed: Active, and the next attempt decides again.
    function test_When_WasPastDue() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = DEPOSIT + 1;
        terms.fee = 0;
        bytes32 id = subscribe(terms);
        subs.charge(id);
        vm.prank(agent);
        subs.pause(id);
        vm.prank(agent);
        subs.resume(id);
        assertStatus(id, Subscriptions.Status.Active, "active");
        assertFalse(subs.charge(id), "still short");
        assertStatus(id, Subscriptions.Status.PastDue, "past due again");
    }

    function testFuzz_Resume_RefusedOnceExpired(uint256 at) public {
        bytes32 id = _paused();
        at = bound(at, T0, T0 + 2 * PERIOD);
        vm.warp(at);
        if (at >= T0 + PERIOD + GRACE) expectInvalidStatus(id, Subscriptions.Status.Expired);
        vm.prank(agent);
        subs.resume(id);
    }

    function _paused() internal returns (bytes32 id) {
        id = subscribedAndCharged();
        vm.prank(agent);
        subs.pause(id);
    }
}
