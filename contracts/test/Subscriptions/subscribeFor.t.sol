// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_SubscribeFor_Test is SubscriptionsBase {
    function test_RevertWhen_CallerNotOperator() public {
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotOperator.selector, agent));
        vm.prank(agent);
        subs.subscribeFor(defaultTerms());
    }

    function test_RevertWhen_TermsInvalid() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.fee = PRICE;
        vm.expectPartialRevert(Subscriptions.Subs_FeeTooHigh.selector);
        vm.prank(operator);
        subs.subscribeFor(terms);
    }

    function test_When_OperatorCreates() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes32 id = subs.subscriptionIdOf(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.Subscribed(id, agent, provider, terms, true);
        vm.prank(operator);
        assertEq(subs.subscribeFor(terms), id, "id");
        assertTrue(subs.subscriptionOf(id).byOperator, "marked");
        assertTrue(subs.charge(id), "charged from the agent's balance");
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "charged");
    }

    /// @dev The subscriber's own creation and the operator's name the same id: whichever comes first wins.
    function test_When_SubscriberCreatedFirst() public {
        bytes32 id = subscribe(defaultTerms());
        expectInvalidStatus(id, Subscriptions.Status.Active);
        vm.prank(operator);
        subs.subscribeFor(defaultTerms());
    }
}
