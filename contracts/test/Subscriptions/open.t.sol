// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

/// @notice The terms' rules every route shares (`_open`), through the operator relaying the agent's signature.
contract Subscriptions_Open_Test is SubscriptionsBase {
    function test_RevertWhen_ProviderIsZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.provider = address(0);
        _expectZero(Subscriptions.AddressField.Provider);
        subscribe(terms);
    }

    function test_RevertWhen_TokenIsZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.token = address(0);
        _expectZero(Subscriptions.AddressField.Token);
        subscribe(terms);
    }

    function test_RevertWhen_SubscriberIsZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.subscriber = address(0);
        _expectZero(Subscriptions.AddressField.Subscriber);
        vm.prank(operator);
        subs.subscribeFor(terms);
    }

    function test_RevertWhen_PriceIsZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        (terms.price, terms.fee) = (0, 0);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_InvalidPrice.selector, 0));
        subscribe(terms);
    }

    function test_RevertWhen_PriceAboveMax() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_InvalidPrice.selector, terms.price));
        subscribe(terms);
    }

    function test_RevertWhen_FeeAboveCap() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.fee = PRICE * MAX_FEE_BPS / 10_000 + 1;
        vm.expectRevert(
            abi.encodeWithSelector(Subscriptions.Subs_FeeTooHigh.selector, terms.fee, PRICE * MAX_FEE_BPS / 10_000)
        );
        subscribe(terms);
    }

    function test_RevertWhen_PeriodIsZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.period = 0;
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_InvalidPeriod.selector, 0, GRACE));
        subscribe(terms);
    }

    function test_RevertWhen_GraceIsZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.grace = 0;
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_InvalidPeriod.selector, PERIOD, 0));
        subscribe(terms);
    }

    function test_RevertWhen_GraceLongerThanPeriod() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.grace = PERIOD + 1;
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_InvalidPeriod.selector, PERIOD, PERIOD + 1));
        subscribe(terms);
    }

    /// @dev A subscription whose first period could never be charged is refused.
    function test_RevertWhen_StartLapsed() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.start = uint64(block.timestamp - GRACE);
        vm.expectRevert(
            abi.encodeWithSelector(Subscriptions.Subs_StartLapsed.selector, block.timestamp, block.timestamp)
        );
        subscribe(terms);
    }

    function test_RevertWhen_AlreadyExists() public {
        bytes32 id = subscribe(defaultTerms());
        expectInvalidStatus(id, Subscriptions.Status.Active);
        subscribe(defaultTerms());
    }

    /// @dev The id is taken for good: not even a cancelled subscription can be created again.
    function test_RevertWhen_ExistsCancelled() public {
        bytes32 id = subscribe(defaultTerms());
        vm.prank(agent);
        subs.cancel(id);
        expectInvalidStatus(id, Subscriptions.Status.Cancelled);
        subscribe(defaultTerms());
    }

    function test_When_TermsValid() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes32 id = subs.subscriptionIdOf(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.Subscribed(id, agent, provider, terms, false);
        assertEq(subscribe(terms), id, "returned id");
        Subscriptions.Subscription memory s = subs.subscriptionOf(id);
        assertEq(s.subscriber, agent, "subscriber");
        assertEq(s.provider, provider, "provider");
        assertEq(s.token, address(usdc), "token");
        assertEq(s.price, PRICE, "price");
        assertEq(s.fee, FEE, "fee");
        assertEq(s.period, PERIOD, "period");
        assertEq(s.start, block.timestamp, "start");
        assertEq(s.grace, GRACE, "grace");
        assertEq(s.charged, 0, "nothing charged");
        assertFalse(s.byOperator, "by the subscriber");
        assertStatus(id, Subscriptions.Status.Active, "active");
        assertEq(balanceOf(agent), DEPOSIT, "creating charges nothing");
    }

    function test_When_StartInFuture() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.start = uint64(block.timestamp + 10 days);
        bytes32 id = subscribe(terms);
        assertEq(subs.paidThrough(id), terms.start, "nothing paid yet");
    }

    /// @dev Started in the past but still within the first period's grace.
    function test_When_StartInPastWithinGrace() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.start = uint64(block.timestamp - GRACE + 1);
        bytes32 id = subscribe(terms);
        assertTrue(subs.charge(id), "period 0 still chargeable");
    }

    function test_When_GraceEqualsPeriod() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.grace = PERIOD;
        subscribe(terms);
    }

    function testFuzz_Open(uint256 price, uint256 fee, uint64 period, uint64 grace, uint64 startIn) public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = bound(price, 1, type(uint96).max);
        terms.fee = bound(fee, 0, terms.price * MAX_FEE_BPS / 10_000);
        terms.period = uint64(bound(period, 1, 3650 days));
        terms.grace = uint64(bound(grace, 1, terms.period));
        terms.start = uint64(block.timestamp + bound(startIn, 0, 365 days));
        bytes32 id = subscribe(terms);
        Subscriptions.Subscription memory s = subs.subscriptionOf(id);
        assertEq(s.price, terms.price, "price");
        assertEq(s.fee, terms.fee, "fee");
        assertEq(s.period, terms.period, "period");
        assertEq(s.grace, terms.grace, "grace");
        assertStatus(id, Subscriptions.Status.Active, "active");
    }

    function _expectZero(Subscriptions.AddressField field) internal {
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_ZeroAddress.selector, field));
    }
}
