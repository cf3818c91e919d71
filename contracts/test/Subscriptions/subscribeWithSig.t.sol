// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_SubscribeWithSig_Test is SubscriptionsBase {
    /// @dev Only the operator relays: a subscription it has not counted against the balance never exists.
    function test_RevertWhen_RelayerNotOperator() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, block.timestamp, agentKey);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotOperator.selector, relayer));
        vm.prank(relayer);
        subs.subscribeWithSig(terms, block.timestamp, signature);
    }

    /// @dev The exit the withdrawal delay guards, taken through a subscription: the agent signs terms paying its
    ///      whole balance to a second wallet of its own, due at once with no fee, and relays them itself to charge
    ///      and claim in one block, ahead of the debits the operator accepted and has not posted. Refused: the
    ///      balance stays, and the operator's debit then applies.
    function test_RevertWhen_AgentOpensItsOwnExit() public {
        address second = makeAddr("second wallet");
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        (terms.provider, terms.price, terms.fee, terms.salt) = (second, DEPOSIT, 0, keccak256("exit"));
        bytes memory signature = signTerms(terms, block.timestamp, agentKey);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_NotOperator.selector, agent));
        vm.prank(agent);
        subs.subscribeWithSig(terms, block.timestamp, signature);
        assertEq(balanceOf(agent), DEPOSIT, "the balance stays");
        assertEq(claimableOf(second), 0, "nothing to claim");
    }

    function test_RevertWhen_SignatureExpired() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        uint256 deadline = block.timestamp - 1;
        bytes memory signature = signTerms(terms, deadline, agentKey);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_SignatureExpired.selector, block.timestamp, deadline));
        vm.prank(operator);
        subs.subscribeWithSig(terms, deadline, signature);
    }

    function test_RevertWhen_SignerNotSubscriber() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        (, uint256 otherKey) = makeKey("mallory");
        bytes memory signature = signTerms(terms, block.timestamp, otherKey);
        _expectInvalidSignature(terms);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp, signature);
    }

    /// @dev A relayer cannot change any term the subscriber signed.
    function test_RevertWhen_TermsTampered() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, block.timestamp + 1 days, agentKey);
        terms.provider = stranger;
        _expectInvalidSignature(terms);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp + 1 days, signature);
        terms = defaultTerms();
        terms.price = PRICE + 1;
        _expectInvalidSignature(terms);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp + 1 days, signature);
    }

    function test_RevertWhen_DeadlineTampered() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, block.timestamp, agentKey);
        _expectInvalidSignature(terms);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp + 1, signature);
    }

    function test_RevertWhen_Replayed() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, block.timestamp, agentKey);
        vm.prank(operator);
        bytes32 id = subs.subscribeWithSig(terms, block.timestamp, signature);
        expectInvalidStatus(id, Subscriptions.Status.Active);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp, signature);
    }

    function test_RevertWhen_WalletRefuses() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(agent);
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.subscriber = address(wallet);
        _expectInvalidSignature(terms);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp, "not approved");
    }

    function test_When_Relayed() public {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, block.timestamp, agentKey);
        bytes32 id = subs.subscriptionIdOf(terms);
        vm.expectEmit(address(subs));
        emit Subscriptions.Subscribed(id, agent, provider, terms, false);
        vm.prank(operator);
        assertEq(subs.subscribeWithSig(terms, block.timestamp, signature), id, "id");
        assertStatus(id, Subscriptions.Status.Active, "active");
        assertFalse(subs.subscriptionOf(id).byOperator, "the subscriber's own");
    }

    function test_When_ContractWalletApproves() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(agent);
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        terms.subscriber = address(wallet);
        bytes32 digest = subs.subscribeDigest(terms, block.timestamp);
        vm.prank(agent);
        wallet.approve(digest);
        vm.prank(operator);
        bytes32 id = subs.subscribeWithSig(terms, block.timestamp, "approved");
        assertEq(subs.subscriptionOf(id).subscriber, address(wallet), "wallet subscribed");
    }

    function testFuzz_SubscribeWithSig_OnlyTheSubscribersKey(uint256 key) public {
        key = bound(key, 1, 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140);
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, block.timestamp, key);
        if (key != agentKey) _expectInvalidSignature(terms);
        vm.prank(operator);
        subs.subscribeWithSig(terms, block.timestamp, signature);
    }

    function _expectInvalidSignature(Subscriptions.SubscriptionTerms memory terms) internal {
        vm.expectRevert(
            abi.encodeWithSelector(
                Subscriptions.Subs_InvalidSignature.selector, subs.subscriptionIdOf(terms), terms.subscriber
            )
        );
    }
}
