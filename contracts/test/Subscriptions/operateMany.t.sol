// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_OperateMany_Test is SubscriptionsBase {
    function open(Subscriptions.SubscriptionTerms memory terms)
        internal
        view
        returns (Subscriptions.Operation memory op)
    {
        op = Subscriptions.Operation(Subscriptions.OperationKind.Open, subs.subscriptionIdOf(terms), terms);
    }

    function onId(Subscriptions.OperationKind kind, bytes32 id)
        internal
        pure
        returns (Subscriptions.Operation memory op)
    {
        op.kind = kind;
        op.id = id;
    }

    function one(Subscriptions.Operation memory op) internal pure returns (Subscriptions.Operation[] memory ops) {
        ops = new Subscriptions.Operation[](1);
        ops[0] = op;
    }

    function operate(Subscriptions.Operation[] memory ops) internal returns (uint256) {
        vm.prank(operator);
        return subs.operateMany(ops);
    }

    function test_RevertWhen_CallerNotOperator() public {
        Subscriptions.Operation[] memory ops = one(open(defaultTerms()));
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotOperator.selector, agent));
        vm.prank(agent);
        subs.operateMany(ops);
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        Subscriptions.Operation memory op = open(defaultTerms());
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_OnlySelf.selector, operator));
        vm.prank(operator);
        subs.operateBatchItem(op);
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        uint256 required = subs.ITEM_GAS_REQUIRED();
        Subscriptions.Operation[] memory ops = one(open(defaultTerms()));
        vm.expectPartialRevert(Subscriptions.Subs_InsufficientGas.selector);
        vm.prank(operator);
        subs.operateMany{gas: required}(ops);
    }

    function test_When_Empty() public {
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationBatchSettled(0, 0);
        assertEq(operate(new Subscriptions.Operation[](0)), 0, "none");
    }

    /// @dev An open of a subscription due now lands with its first period paid, in one item.
    function test_When_OpenDueNow_ChargesPeriodZero() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes32 id = subs.subscriptionIdOf(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.Subscribed(id, agent, provider, terms, true);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionCharged(id, 0, T0 + PERIOD);
        vm.expectEmit(address(subs));
        emit Subscriptions.Operated(id, Subscriptions.OperationKind.Open);
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationBatchSettled(1, 1);
        assertEq(operate(one(open(terms))), 1, "applied");
        assertTrue(subs.subscriptionOf(id).byOperator, "the operator's");
        assertEq(subs.paidThrough(id), T0 + PERIOD, "period 0 paid");
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "charged once");
    }

    function test_When_OpenStartsLater_NoCharge() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.start = uint64(T0 + 1 days);
        bytes32 id = subs.subscriptionIdOf(terms);
        assertEq(operate(one(open(terms))), 1, "applied");
        assertEq(subs.subscriptionOf(id).charged, 0, "nothing charged");
        assertEq(balanceOf(agent), DEPOSIT, "balance untouched");
    }

    /// @dev A short balance does not fail the open: the subscription exists, past due, and may be retried.
    function test_When_OpenWithShortBalance_PastDue() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.price = DEPOSIT + 1;
        terms.fee = 0;
        bytes32 id = subs.subscriptionIdOf(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionPastDue(id, 0, T0 + GRACE);
        vm.expectEmit(address(subs));
        emit Subscriptions.Operated(id, Subscriptions.OperationKind.Open);
        assertEq(operate(one(open(terms))), 1, "applied");
        assertStatus(id, Subscriptions.Status.PastDue, "past due");
        assertEq(balanceOf(agent), DEPOSIT, "nothing moved");
    }

    function test_When_OpenIdMismatch_FailsAlone() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        Subscriptions.Operation[] memory ops = new Subscriptions.Operation[](2);
        ops[0] = open(terms);
        ops[0].id = keccak256("other");
        ops[1] = open(terms);
        bytes32 id = subs.subscriptionIdOf(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationFailed(
            ops[0].id,
            Subscriptions.OperationKind.Open,
            abi.encodeWithSelector(Subscriptions.Subs_IdMismatch.selector, ops[0].id, id)
        );
        vm.expectEmit(address(subs));
        emit Subscriptions.Operated(id, Subscriptions.OperationKind.Open);
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationBatchSettled(2, 1);
        assertEq(operate(ops), 1, "the matching one");
    }

    /// @dev A replayed open fails (the id exists) and charges nothing more.
    function test_When_OpenReplayed_FailsAndChargesOnce() public {
        Subscriptions.Operation[] memory ops = new Subscriptions.Operation[](2);
        ops[0] = open(defaultTerms());
        ops[1] = ops[0];
        vm.expectEmit(address(subs));
        emit Subscriptions.Operated(ops[0].id, Subscriptions.OperationKind.Open);
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationFailed(
            ops[0].id,
            Subscriptions.OperationKind.Open,
            abi.encodeWithSelector(Subscriptions.Subs_InvalidStatus.selector, ops[0].id, Subscriptions.Status.Active)
        );
        assertEq(operate(ops), 1, "once");
        assertEq(balanceOf(agent), DEPOSIT - PRICE, "charged once");
    }

    function test_When_CancelPauseResume() public {
        bytes32 id = subs.subscriptionIdOf(defaultTerms());
        operate(one(open(defaultTerms())));

        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionPaused(id, operator);
        assertEq(operate(one(onId(Subscriptions.OperationKind.Pause, id))), 1, "paused");
        assertStatus(id, Subscriptions.Status.Paused, "paused");

        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionResumed(id, operator);
        assertEq(operate(one(onId(Subscriptions.OperationKind.Resume, id))), 1, "resumed");
        assertStatus(id, Subscriptions.Status.Active, "active");

        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionCancelled(id, operator, T0 + PERIOD);
        assertEq(operate(one(onId(Subscriptions.OperationKind.Cancel, id))), 1, "cancelled");
        assertStatus(id, Subscriptions.Status.Cancelled, "cancelled");

        vm.expectEmit(address(subs));
        emit Subscriptions.OperationFailed(
            id,
            Subscriptions.OperationKind.Cancel,
            abi.encodeWithSelector(Subscriptions.Subs_InvalidStatus.selector, id, Subscriptions.Status.Cancelled)
        );
        assertEq(operate(one(onId(Subscriptions.OperationKind.Cancel, id))), 0, "final");
    }

    /// @dev The operator may stop any subscription, but restart only those it created.
    function test_When_ResumeOfTheSubscribersOwn_Fails() public {
        bytes32 id = subscribe(defaultTerms());
        assertEq(operate(one(onId(Subscriptions.OperationKind.Pause, id))), 1, "the operator may pause it");
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationFailed(
            id,
            Subscriptions.OperationKind.Resume,
            abi.encodeWithSelector(Subscriptions.Subs_Unauthorized.selector, id, operator)
        );
        assertEq(operate(one(onId(Subscriptions.OperationKind.Resume, id))), 0, "not its to resume");
        assertStatus(id, Subscriptions.Status.Paused, "still paused");
    }

    function test_When_UnknownId_Fails() public {
        bytes32 id = keccak256("unknown");
        vm.expectEmit(address(subs));
        emit Subscriptions.OperationFailed(
            id,
            Subscriptions.OperationKind.Pause,
            abi.encodeWithSelector(Subscriptions.Subs_InvalidStatus.selector, id, Subscriptions.Status.None)
        );
        assertEq(operate(one(onId(Subscriptions.OperationKind.Pause, id))), 0, "nothing");
    }

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_OpenChargesAtMostOnce(uint8 repeats, uint32 startIn) public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.start = uint64(T0 + bound(startIn, 0, PERIOD));
        uint256 n = bound(repeats, 1, 6);
        Subscriptions.Operation[] memory ops = new Subscriptions.Operation[](n);
        for (uint256 i; i < n; ++i) {
            ops[i] = open(terms);
        }
        assertEq(operate(ops), 1, "one open applied");
        uint256 charged = terms.start <= T0 ? PRICE : 0;
        assertEq(balanceOf(agent), DEPOSIT - charged, "at most one period charged");
    }
}
