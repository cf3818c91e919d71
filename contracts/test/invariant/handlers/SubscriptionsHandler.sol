// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../../src/BalanceVault.sol";
import {Subscriptions} from "../../../src/Subscriptions.sol";
import {MockUSDC} from "../../mocks/MockUSDC.sol";
import {Vm} from "../../utils/Vm.sol";
import {BalanceVaultHandler} from "./BalanceVaultHandler.sol";

/// @title SubscriptionsHandler
/// @notice BalanceVaultHandler plus the Subscriptions contract charging the vault: subscriptions opened by the
///         operator's two routes (the subscriber's relayed EIP-712 signature, and its own for API-key agents) and
///         refused to the subscriber or a stranger relaying that signature, with periods of hours to days, charges one
///         at a time or in batches with repeated and unknown ids, at random times (early, in the grace, after it),
///         cancels, pauses and resumes by allowed and refused callers. Every `SubscriptionCharged` event is checked
///         against the period it names: the next unpaid one, inside its window, on a subscription neither cancelled
///         nor paused; every vault `Charged` event of a subscription against its terms.
contract SubscriptionsHandler is BalanceVaultHandler {
    /// @notice What the handler knows of one subscription.
    struct SubGhost {
        Subscriptions.SubscriptionTerms terms;
        bytes32 id;
        /// @dev Periods seen charged, in order (the next must be this one).
        uint256 periodsCharged;
        bool cancelled;
    }

    Subscriptions public immutable subs;
    address public immutable relayer;

    SubGhost[] internal _subs;
    /// @dev Index + 1 of each subscription in `_subs`.
    mapping(bytes32 id => uint256 indexPlusOne) internal _subIndex;
    uint256 internal _salt;

    /// @notice Set if a period was charged twice, or a period other than the next unpaid one was charged.
    bool public ghostChargedTwice;
    /// @notice Set if a period was charged before it was due or once its grace had ended.
    bool public ghostChargedOutsideWindow;
    /// @notice Set if a cancelled or paused subscription was charged.
    bool public ghostChargedWhenStopped;
    /// @notice Set if a vault charge of a subscription did not match its terms (amount, fee, payer, provider).
    bool public ghostChargeOffTerms;
    /// @notice Set if a refused caller cancelled, paused or resumed, or a final status changed.
    bool public ghostStatusViolated;
    /// @notice Set if anyone but the operator opened a subscription.
    bool public ghostOpenedWithoutOperator;

    constructor(BalanceVault vault_, MockUSDC usdc_, Subscriptions subs_) BalanceVaultHandler(vault_, usdc_) {
        subs = subs_;
        relayer = makeAddr("relayer");
    }

    // ------------------------------------------------------------------ creation

    /// @notice A subscription by one of the operator's two routes, with a period of 1 hour to 3 days and a grace up
    ///         to it.
    function subscribe(uint256 seed, uint256 price, uint256 period, uint256 grace, uint256 startIn) external {
        Subscriptions.SubscriptionTerms memory terms = _terms(seed, price, period, grace, startIn);
        bytes32 id;
        if ((seed >> 16) % 2 == 0) {
            bytes memory signature = _signTerms(seed, terms);
            vm.prank(operator);
            id = subs.subscribeWithSig(terms, block.timestamp, signature);
        } else {
            vm.prank(operator);
            id = subs.subscribeFor(terms);
        }
        _track(terms, id);
        ++calls["subscribe"];
    }

    /// @notice The subscriber, or a stranger, relaying the subscriber's own signature: refused, or an agent could open
    ///         a subscription paying a wallet of its own and leave the vault without the withdrawal delay.
    function subscribeWithoutOperator(uint256 seed, uint256 price, uint256 period, uint256 grace, uint256 startIn)
        external
    {
        Subscriptions.SubscriptionTerms memory terms = _terms(seed, price, period, grace, startIn);
        bytes memory signature = _signTerms(seed, terms);
        vm.prank((seed >> 16) % 2 == 0 ? terms.subscriber : relayer);
        try subs.subscribeWithSig(terms, block.timestamp, signature) returns (bytes32) {
            ghostOpenedWithoutOperator = true;
        } catch {}
        ++calls["subscribe refused"];
    }

    /// @dev The subscriber's EIP-712 signature over `terms`, valid now.
    function _signTerms(uint256 seed, Subscriptions.SubscriptionTerms memory terms)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(_agentKeys[seed % ACTORS], subs.subscribeDigest(terms, block.timestamp));
        return abi.encodePacked(r, s, v);
    }

    /// @notice The operator's `operateMany`: up to four opens (period 0 charged at once when due), cancels, pauses
    ///         and resumes, with an Open whose id does not match its terms now and then (it must fail alone). Every
    ///         applied item must have been allowed: a resume only of the operator's own subscriptions.
    function operateMany(uint256 seed, uint256 count) external {
        count = bound(count, 1, 4);
        Subscriptions.Operation[] memory ops = new Subscriptions.Operation[](count);
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, "operate")));
            uint256 kind = _subs.length == 0 ? 0 : r % 4;
            ops[i].kind = Subscriptions.OperationKind(kind);
            if (kind == 0) {
                ops[i].terms = _terms(r, r >> 32, r >> 64, r >> 96, (r >> 128) % 2 == 0 ? 0 : r >> 160);
                bytes32 id = subs.subscriptionIdOf(ops[i].terms);
                ops[i].id = r % 11 == 0 ? bytes32(r) : id;
                if (ops[i].id == id) _track(ops[i].terms, id);
            } else {
                ops[i].id = _subs[r % _subs.length].id;
            }
        }
        uint256[ACTORS] memory before = _balances();
        Subscriptions.Status[] memory statuses = _statuses();
        vm.recordLogs();
        vm.prank(operator);
        uint256 applied = subs.operateMany(ops);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        _checkCharges(logs, before, statuses);
        uint256 seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(subs) || logs[i].topics[0] != Subscriptions.Operated.selector) continue;
            ++seen;
            uint256 indexPlusOne = _subIndex[logs[i].topics[1]];
            Subscriptions.OperationKind kind = abi.decode(logs[i].data, (Subscriptions.OperationKind));
            if (indexPlusOne == 0) {
                ghostStatusViolated = true;
                continue;
            }
            SubGhost storage ghost = _subs[indexPlusOne - 1];
            if (kind == Subscriptions.OperationKind.Cancel) ghost.cancelled = true;
            if (kind == Subscriptions.OperationKind.Resume && !subs.subscriptionOf(ghost.id).byOperator) {
                ghostStatusViolated = true;
            }
        }
        require(seen == applied, "operateMany count");
        ++calls["operateMany"];
    }

    // ------------------------------------------------------------------ charges

    /// @notice Anyone charges one subscription, due or not; refusals are expected and recorded nowhere.
    function charge(uint256 seed) external {
        if (_subs.length == 0) return;
        bytes32 id = _subs[seed % _subs.length].id;
        uint256[ACTORS] memory before = _balances();
        Subscriptions.Status[] memory statuses = _statuses();
        vm.recordLogs();
        (bool ok,) = address(subs).call(abi.encodeCall(Subscriptions.charge, (id)));
        _checkCharges(vm.getRecordedLogs(), before, statuses);
        if (ok) ++calls["charge"];
    }

    /// @notice Anyone charges up to five ids in a batch, with repeats and an unknown id now and then.
    function chargeMany(uint256 seed, uint256 count) external {
        if (_subs.length == 0) return;
        count = bound(count, 1, 5);
        bytes32[] memory ids = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, "charge")));
            ids[i] = r % 9 == 0 ? bytes32(r) : _subs[r % _subs.length].id;
        }
        uint256[ACTORS] memory before = _balances();
        Subscriptions.Status[] memory statuses = _statuses();
        vm.recordLogs();
        vm.prank(relayer);
        uint256 charged = subs.chargeMany(ids);
        uint256 seen = _checkCharges(vm.getRecordedLogs(), before, statuses);
        require(charged == seen, "chargeMany count");
        ++calls["chargeMany"];
    }

    // ------------------------------------------------------------------ cancel, pause, resume

    /// @notice The subscriber, the operator or a stranger (refused) cancels.
    function cancel(uint256 seed, uint256 who) external {
        (SubGhost storage ghost, address caller, bool allowed) = _pick(seed, who, false);
        Subscriptions.Status status = subs.statusOf(ghost.id);
        bool live = _live(status);
        vm.prank(caller);
        (bool ok,) = address(subs).call(abi.encodeCall(Subscriptions.cancel, (ghost.id)));
        if (ok != (allowed && live)) ghostStatusViolated = true;
        if (ok) {
            ghost.cancelled = true;
            ++calls["cancel"];
        }
    }

    /// @notice The subscriber, the operator or a stranger (refused) pauses.
    function pause(uint256 seed, uint256 who) external {
        (SubGhost storage ghost, address caller, bool allowed) = _pick(seed, who, false);
        Subscriptions.Status status = subs.statusOf(ghost.id);
        bool pausable = status == Subscriptions.Status.Active || status == Subscriptions.Status.PastDue;
        vm.prank(caller);
        (bool ok,) = address(subs).call(abi.encodeCall(Subscriptions.pause, (ghost.id)));
        if (ok != (allowed && pausable)) ghostStatusViolated = true;
        if (ok) ++calls["pause"];
    }

    /// @notice The subscriber, the operator (only for its own subscriptions) or a stranger resumes.
    function resume(uint256 seed, uint256 who) external {
        (SubGhost storage ghost, address caller, bool allowed) = _pick(seed, who, true);
        Subscriptions.Status status = subs.statusOf(ghost.id);
        vm.prank(caller);
        (bool ok,) = address(subs).call(abi.encodeCall(Subscriptions.resume, (ghost.id)));
        if (ok != (allowed && status == Subscriptions.Status.Paused)) ghostStatusViolated = true;
        if (ok) ++calls["resume"];
    }

    // ------------------------------------------------------------------ views for the invariants

    function subCount() external view returns (uint256) {
        return _subs.length;
    }

    function subAt(uint256 index) external view returns (SubGhost memory) {
        return _subs[index];
    }

    // ------------------------------------------------------------------ internal

    /// @dev Checks the charges in `logs` (see the contract notice), the vault's side through `_checkSpends`, and
    ///      returns how many periods were charged. `statuses` are the stored statuses before the call.
    function _checkCharges(Vm.Log[] memory logs, uint256[ACTORS] memory before, Subscriptions.Status[] memory statuses)
        internal
        returns (uint256 charged)
    {
        _checkSpends(logs, before);
        for (uint256 i; i < logs.length; ++i) {
            bytes32 topic = logs[i].topics[0];
            if (logs[i].emitter == address(vault) && topic == BalanceVault.Charged.selector) {
                _checkVaultCharge(logs[i]);
                continue;
            }
            if (logs[i].emitter != address(subs)) continue;
            if (topic == Subscriptions.SubscriptionPastDue.selector) ++calls["past due"];
            if (topic == Subscriptions.SubscriptionExpired.selector) ++calls["expired"];
            if (topic != Subscriptions.SubscriptionCharged.selector) continue;
            uint256 index = _subIndex[logs[i].topics[1]] - 1;
            SubGhost storage ghost = _subs[index];
            (uint256 period, uint256 paidThrough) = abi.decode(logs[i].data, (uint256, uint256));
            if (period != ghost.periodsCharged) ghostChargedTwice = true;
            uint256 dueAt = uint256(ghost.terms.start) + period * ghost.terms.period;
            if (block.timestamp < dueAt || block.timestamp >= dueAt + ghost.terms.grace) {
                ghostChargedOutsideWindow = true;
            }
            if (paidThrough != dueAt + ghost.terms.period) ghostChargedOutsideWindow = true;
            Subscriptions.Status status = statuses[index];
            if (ghost.cancelled || status == Subscriptions.Status.Paused || status == Subscriptions.Status.Expired) {
                ghostChargedWhenStopped = true;
            }
            ghost.periodsCharged = period + 1;
            ++charged;
        }
        for (uint256 i; i < _subs.length; ++i) {
            Subscriptions.Status stored = subs.subscriptionOf(_subs[i].id).status;
            bool wasFinal = statuses[i] == Subscriptions.Status.Cancelled || statuses[i] == Subscriptions.Status.Expired;
            if (wasFinal && stored != statuses[i]) ghostStatusViolated = true;
        }
    }

    /// @dev A vault `Charged` event must name a known subscription and move exactly its price and fee from its
    ///      subscriber to its provider.
    function _checkVaultCharge(Vm.Log memory log) internal {
        uint256 indexPlusOne = _subIndex[log.topics[1]];
        if (indexPlusOne == 0) {
            ghostChargeOffTerms = true;
            return;
        }
        Subscriptions.SubscriptionTerms memory terms = _subs[indexPlusOne - 1].terms;
        (address provider, uint256 amount, uint256 fee) = abi.decode(log.data, (address, uint256, uint256));
        address payer = address(uint160(uint256(log.topics[3])));
        if (
            payer != terms.subscriber || provider != terms.provider || amount != terms.price || fee != terms.fee
                || address(uint160(uint256(log.topics[2]))) != terms.token
        ) ghostChargeOffTerms = true;
    }

    /// @dev Every known subscription's stored status.
    function _statuses() internal view returns (Subscriptions.Status[] memory statuses) {
        statuses = new Subscriptions.Status[](_subs.length);
        for (uint256 i; i < _subs.length; ++i) {
            statuses[i] = subs.subscriptionOf(_subs[i].id).status;
        }
    }

    /// @dev A subscription and a caller: its subscriber, the operator or a stranger; whether the caller is allowed
    ///      (for resume, the operator only on its own).
    function _pick(uint256 seed, uint256 who, bool resuming)
        internal
        returns (SubGhost storage ghost, address caller, bool allowed)
    {
        if (_subs.length == 0) {
            // Nothing to act on yet: make one so the action is not wasted.
            this.subscribe(seed, seed >> 32, seed >> 64, seed >> 96, 0);
        }
        ghost = _subs[seed % _subs.length];
        who = who % 3;
        if (who == 0) {
            (caller, allowed) = (ghost.terms.subscriber, true);
        } else if (who == 1) {
            bool own = subs.subscriptionOf(ghost.id).byOperator;
            (caller, allowed) = (operator, !resuming || own);
        } else {
            (caller, allowed) = (relayer, false);
        }
    }

    /// @dev Terms for one of the agents and providers, a period of 1 hour to 3 days, a grace up to it, a start from
    ///      now to a period ahead, and a fresh salt.
    function _terms(uint256 seed, uint256 price, uint256 period, uint256 grace, uint256 startIn)
        internal
        returns (Subscriptions.SubscriptionTerms memory terms)
    {
        terms.subscriber = agents[seed % ACTORS];
        terms.provider = providers[(seed >> 8) % ACTORS];
        terms.token = address(usdc);
        terms.price = bound(price, 1, 50e6);
        terms.fee = bound(price >> 128, 0, terms.price * _maxFeeBps / 10_000);
        terms.period = uint64(bound(period, 1 hours, 3 days));
        terms.grace = uint64(bound(grace, 1, terms.period));
        terms.start = uint64(block.timestamp + bound(startIn, 0, terms.period));
        terms.salt = bytes32(++_salt);
    }

    /// @dev Starts following the subscription `id` of `terms`.
    function _track(Subscriptions.SubscriptionTerms memory terms, bytes32 id) internal {
        SubGhost storage ghost = _subs.push();
        ghost.terms = terms;
        ghost.id = id;
        _subIndex[id] = _subs.length;
    }

    function _live(Subscriptions.Status status) internal pure returns (bool) {
        return status == Subscriptions.Status.Active || status == Subscriptions.Status.PastDue
            || status == Subscriptions.Status.Paused;
    }
}
