// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "./BalanceVault.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Subscriptions
/// @notice Recurring payments from agents' prepaid balances in the `BalanceVault`: a subscriber agrees to pay a
///         provider a price every period; anyone may then `charge` each period once it is due, which moves the price
///         from the subscriber's vault balance to the provider's and the fee recipient's claimable balances.
/// @dev This contract is the vault's charger (`BalanceVault.setCharger`): it alone may move a balance without a debit
///      from the operator, and only on terms the subscriber agreed to.
///
///      Terms and identity. `SubscriptionTerms {subscriber, provider, token, price, fee, period, start, grace, salt}`;
///      `id = keccak256(abi.encode(block.chainid, address(this), terms))`. Each charge takes `price` from the
///      subscriber's balance and credits the provider `price - fee` and the vault's fee recipient `fee`
///      (`fee <= price * maxFeeBps / 10_000`, the vault's cap). Periods are fixed lengths in seconds (a "month" is
///      whatever the terms say, e.g. 30 days); period `k` (from 0) is due at `dueAt(k) = start + k * period`.
///      A subscription is created by the operator only, in one of two ways:
///      - `subscribeWithSig(terms, deadline, signature)`: relaying the subscriber's EIP-712 signature over
///        `Subscribe(address subscriber,address provider,address token,uint256 price,uint256 fee,uint64 period,
///        uint64 start,uint64 grace,bytes32 salt,uint256 deadline)` in the domain "Clearing Subscriptions" "1" (ECDSA,
///        or ERC-1271 for a contract subscriber), valid while `block.timestamp <= deadline`. A replay fails: the id
///        exists;
///      - `subscribeFor(terms)`: for an agent that authenticates with an API key and signs nothing. It grants the
///        operator nothing new: the operator can already spend that balance with the vault's `debitMany`.
///      Why the operator opens every subscription: the vault's exit promises that a balance leaves only through the
///      operator's debits, charges, or a withdrawal announced `withdrawalDelay` ahead, so that the debits the operator
///      accepted off-chain are posted before the money can go. A subscription the agent could open alone, to a
///      provider of its choosing (its own second wallet) and due at once, would be a withdrawal with no delay: the
///      charge would empty the balance under debits accepted but not yet posted. The operator opens a subscription
///      only after counting its price against the balance, as it does a debit.
///
///      The charge rule. `charge(id)` (anyone) charges the first unpaid period `k`, and only once
///      `block.timestamp >= dueAt(k)`; a period is charged at most once (the count of charged periods only grows by
///      one per success). Outcomes:
///      - the vault moves the price: period `k` is paid (`SubscriptionCharged(id, k, paidThrough)`, status Active);
///      - the vault refuses (the balance is short, or the subscriber's withdrawal has unlocked): no revert, the
///        subscription is PastDue (`SubscriptionPastDue(id, k, lapseAt)`) and may be retried by anyone until
///        `lapseAt = dueAt(k) + grace`;
///      - from `lapseAt` on, period `k` can never be charged: the subscription has expired. The first charge attempt
///        after it writes Expired (`SubscriptionExpired(id, k)`) without reverting; `statusOf` reports Expired from
///        `lapseAt` on whether or not anyone wrote it.
///      Charging a subscription that is unknown, Cancelled, Expired, Paused (and not lapsed) or not yet due reverts.
///      `0 < grace <= period`: retries of one period end no later than the next period is due.
///
///      Cancel, pause, resume. `cancel(id)` (the subscriber or the operator) is final and takes effect at the end of
///      the paid period: no further charge, while the access paid for lasts until `paidThrough`. `pause(id)` (the
///      subscriber or the operator) stops renewals; a paused subscription is not charged and expires at `lapseAt` of
///      its next period like an unpaid one. `resume(id)` (the subscriber; the operator only for subscriptions it
///      created) returns it to Active, and is refused once it has expired (`block.timestamp >= lapseAt`). Stopping
///      charges never moves money, so the operator may do it for any subscription (the API's cancel route for
///      API-key agents); restarting them is the subscriber's.
///
///      Batches. `chargeMany(ids)` (anyone) isolates each charge in a self-call with a fixed stipend, exactly as the
///      Escrow's batches: a charge that would revert emits `ChargeFailed(id, reason)`; a past-due or expiring one is
///      not a failure (it wrote its state and event). Closes with `ChargeBatchSettled(items, charged)`.
///      `operateMany(ops)` (the operator) carries its opens (each with period 0's charge when due), cancels, pauses
///      and resumes the same way: `Operated(id, kind)` or `OperationFailed(id, kind, reason)` per item, then
///      `OperationBatchSettled(items, applied)`. It is how the market sends these for agents that sign nothing.
///
///      Safety. Every state-changing entry holds a transient reentrancy guard. The only external call is to the
///      vault (immutable, this project's code, which calls nothing back), whose answer decides what `charge` writes,
///      so that one call precedes the charge's writes.
///
///      Gas (whole transactions, steady state; contracts/test/benchmark/VaultGas.t.sol, docs/GAS.md): charge ~62.5k,
///      chargeMany ~28.3k per charge at N = 100.
contract Subscriptions {
    // ------------------------------------------------------------------ types

    /// @notice A subscription as the subscriber agreed to it; stored at creation, its hash is the id.
    /// @param subscriber Pays `price` per period from its vault balance; signs the terms.
    /// @param provider Credited `price - fee` per period.
    /// @param token The vault token (USDC) the price is in.
    /// @param price Taken per period, atomic units; 0 < price <= MAX_PRICE.
    /// @param fee The fee recipient's part of the price; at most `price * maxFeeBps / 10_000`.
    /// @param period Seconds per period; > 0.
    /// @param start Unix seconds: period 0 is due from `start`.
    /// @param grace Seconds after a period is due during which a refused charge may be retried; 0 < grace <= period.
    /// @param salt Uniqueness.
    struct SubscriptionTerms {
        address subscriber;
        address provider;
        address token;
        uint256 price;
        uint256 fee;
        uint64 period;
        uint64 start;
        uint64 grace;
        bytes32 salt;
    }

    /// @notice Where a subscription is. Cancelled and Expired are final.
    enum Status {
        None,
        Active,
        PastDue,
        Paused,
        Cancelled,
        Expired
    }

    /// @notice A subscription as stored (four words): the terms, its status, whether the operator created it, and how
    ///         many periods were charged (the next one to charge is period `charged`).
    struct Subscription {
        address subscriber;
        uint64 start;
        Status status;
        bool byOperator;
        address provider;
        uint64 period;
        address token;
        uint64 grace;
        uint96 price;
        uint96 fee;
        uint64 charged;
    }

    /// @notice What one item of the operator's `operateMany` does.
    enum OperationKind {
        Open,
        Cancel,
        Pause,
        Resume
    }

    /// @notice One item of `operateMany`.
    /// @param kind What it does.
    /// @param id The subscription (for Open: must be the id of `terms`).
    /// @param terms For Open, the terms to create (as `subscribeFor`); ignored otherwise.
    struct Operation {
        OperationKind kind;
        bytes32 id;
        SubscriptionTerms terms;
    }

    /// @notice Names the address field that was zero in `Subs_ZeroAddress`.
    enum AddressField {
        Vault,
        Subscriber,
        Provider,
        Token
    }

    // ------------------------------------------------------------------ constants

    /// @notice The bps denominator: 10_000 bps = 100%.
    uint256 public constant BPS = 10_000;

    /// @notice Largest price per period (a uint96: 7.9e22 USDC, and four words of storage per subscription).
    uint256 public constant MAX_PRICE = type(uint96).max;

    /// @notice Gas given to each charge of `chargeMany`; a charge uses about 40k.
    uint256 public constant ITEM_GAS = 300_000;

    /// @notice Gas `chargeMany` must hold right before each item's CALL (the stipend under EIP-150's 63/64 rule plus
    ///         room to log a failure and close the batch).
    uint256 public constant ITEM_GAS_REQUIRED = ITEM_GAS * 64 / 63 + 20_000;

    /// @notice Longest revert reason `ChargeFailed` carries; longer ones are cut.
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @notice EIP-712 type of the subscriber's signed terms.
    bytes32 public constant SUBSCRIBE_TYPEHASH = keccak256(
        "Subscribe(address subscriber,address provider,address token,uint256 price,uint256 fee,uint64 period,uint64 start,uint64 grace,bytes32 salt,uint256 deadline)"
    );

    /// @dev EIP-712's domain type with name, version, chainId and verifyingContract (EIP-5267 `fields` = 0x0f).
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @dev `keccak256` of the domain's name, "Clearing Subscriptions", and version, "1".
    bytes32 private constant _NAME_HASH = keccak256("Clearing Subscriptions");
    bytes32 private constant _VERSION_HASH = keccak256("1");

    /// @dev Transient slot of the reentrancy guard: uint256(keccak256("clearing.subscriptions.reentrancy")) - 1.
    uint256 private constant _GUARD_SLOT = 0x874cda16cd07d4241adf909c2942822663f42ec45bac78147472bd758a28bc37;

    // ------------------------------------------------------------------ immutables

    /// @notice The vault whose balances are charged; it must name this contract its charger.
    BalanceVault public immutable vault;

    /// @notice The vault's operator: may `subscribeFor`, and cancel or pause any subscription.
    address public immutable operator;

    /// @notice The vault's fee cap, in bps of the price.
    uint16 public immutable maxFeeBps;

    /// @dev The EIP-712 domain separator at deployment and what it was built for (rebuilt on a fork).
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;
    address private immutable _cachedThis;

    // ------------------------------------------------------------------ storage

    /// @dev Every subscription by id.
    mapping(bytes32 id => Subscription subscription) private _subscriptions;

    // ------------------------------------------------------------------ events

    /// @notice A subscription was created; carries its full terms, from which its later events are read.
    /// @param id The subscription id.
    /// @param subscriber `terms.subscriber`, indexed for lookups.
    /// @param provider `terms.provider`, indexed for lookups.
    /// @param terms The full terms.
    /// @param byOperator Whether the operator created it (`subscribeFor`).
    event Subscribed(
        bytes32 indexed id,
        address indexed subscriber,
        address indexed provider,
        SubscriptionTerms terms,
        bool byOperator
    );

    /// @notice Period `period` was charged (the vault emitted `Charged(id, ...)` with the amounts).
    /// @param id The subscription id.
    /// @param period The period paid, from 0.
    /// @param paidThrough Unix seconds: the end of that period, `dueAt(period + 1)`.
    event SubscriptionCharged(bytes32 indexed id, uint256 period, uint256 paidThrough);

    /// @notice A charge of `period` was refused by the vault; retries are allowed until `lapseAt`.
    /// @param id The subscription id.
    /// @param period The unpaid period.
    /// @param lapseAt Unix seconds: `dueAt(period) + grace`, when the subscription expires unpaid.
    event SubscriptionPastDue(bytes32 indexed id, uint256 period, uint256 lapseAt);

    /// @notice Period `period` was not paid within its grace: the subscription is over.
    /// @param id The subscription id.
    /// @param period The unpaid period.
    event SubscriptionExpired(bytes32 indexed id, uint256 period);

    /// @notice The subscription was cancelled; no further charge. Access paid for lasts until `paidThrough`.
    /// @param id The subscription id.
    /// @param by The subscriber or the operator.
    /// @param paidThrough Unix seconds: the end of the last period charged (`start` if none).
    event SubscriptionCancelled(bytes32 indexed id, address by, uint256 paidThrough);

    /// @notice The subscription was paused: no renewal until resumed.
    /// @param id The subscription id.
    /// @param by The subscriber or the operator.
    event SubscriptionPaused(bytes32 indexed id, address by);

    /// @notice The subscription was resumed (Active).
    /// @param id The subscription id.
    /// @param by The subscriber, or the operator for a subscription it created.
    event SubscriptionResumed(bytes32 indexed id, address by);

    /// @notice One charge of `chargeMany` reverted; nothing of it was written.
    /// @param id The subscription id.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event ChargeFailed(bytes32 indexed id, bytes reason);

    /// @notice Closes a `chargeMany` batch after its item events, in order.
    /// @param items How many ids the batch held.
    /// @param charged How many of them emitted `SubscriptionCharged`.
    event ChargeBatchSettled(uint256 items, uint256 charged);

    /// @notice One item of `operateMany` was applied (its own events precede this one).
    /// @param id The subscription id.
    /// @param kind What was done.
    event Operated(bytes32 indexed id, OperationKind kind);

    /// @notice One item of `operateMany` reverted; nothing of it was written.
    /// @param id The subscription id.
    /// @param kind What was asked.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event OperationFailed(bytes32 indexed id, OperationKind kind, bytes reason);

    /// @notice Closes an `operateMany` batch after its item events, in order.
    /// @param items How many operations the batch held.
    /// @param applied How many of them emitted `Operated`.
    event OperationBatchSettled(uint256 items, uint256 applied);

    // ------------------------------------------------------------------ errors

    /// @notice An address that must be set was zero.
    error Subs_ZeroAddress(AddressField field);

    /// @notice `price` is zero or above `MAX_PRICE`.
    error Subs_InvalidPrice(uint256 price);

    /// @notice `fee` exceeds `price * maxFeeBps / 10_000`.
    error Subs_FeeTooHigh(uint256 fee, uint256 maxFee);

    /// @notice `period` is zero, or `grace` is zero or longer than `period`.
    error Subs_InvalidPeriod(uint256 period, uint256 grace);

    /// @notice Period 0 lapses at `lapseAt` (`start + grace`), which is not after now: it could never be charged.
    error Subs_StartLapsed(uint256 nowTs, uint256 lapseAt);

    /// @notice The subscription's status does not allow the action (None: unknown id; any status on creation: the
    ///         id exists). Expired also means lapsed unpaid.
    error Subs_InvalidStatus(bytes32 id, Status current);

    /// @notice `caller` may not take this action on the subscription.
    error Subs_Unauthorized(bytes32 id, address caller);

    /// @notice The next period is due only from `dueAt`.
    error Subs_NotDue(bytes32 id, uint256 nowTs, uint256 dueAt);

    /// @notice The signature was valid only while `block.timestamp <= deadline`.
    error Subs_SignatureExpired(uint256 nowTs, uint256 deadline);

    /// @notice The signature is not `signer`'s over the subscription's terms.
    error Subs_InvalidSignature(bytes32 id, address signer);

    /// @notice `caller` is not the operator, and the entry is the operator's alone.
    error Subs_NotOperator(address caller);

    /// @notice An Open operation's id is not the id of its terms.
    error Subs_IdMismatch(bytes32 id, bytes32 termsId);

    /// @notice `chargeMany` or `operateMany` holds too little gas to give item `index` its full stipend.
    error Subs_InsufficientGas(uint256 index, uint256 available, uint256 required);

    /// @notice A batch item entry was called by someone other than this contract inside its batch.
    error Subs_OnlySelf(address caller);

    /// @notice A guarded entry point was entered again while one was running.
    error Subs_Reentrancy();

    // ------------------------------------------------------------------ modifiers

    /// @dev Transient-storage reentrancy guard (EIP-1153), as the Escrow's.
    modifier nonReentrant() {
        if (_guardEntered()) revert Subs_Reentrancy();
        assembly ("memory-safe") {
            tstore(_GUARD_SLOT, 1)
        }
        _;
        assembly ("memory-safe") {
            tstore(_GUARD_SLOT, 0)
        }
    }

    // ------------------------------------------------------------------ constructor

    /// @param vault_ The vault to charge; its operator and fee cap are read from it once.
    constructor(BalanceVault vault_) {
        if (address(vault_) == address(0)) revert Subs_ZeroAddress(AddressField.Vault);
        vault = vault_;
        operator = vault_.operator();
        maxFeeBps = vault_.maxFeeBps();
        _cachedChainId = block.chainid;
        _cachedThis = address(this);
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    // ------------------------------------------------------------------ external: creation

    /// @notice Creates a subscription with the subscriber's EIP-712 signature over its terms, so it needs no gas.
    /// @dev Operator only (see "Why the operator opens every subscription" above): the operator relays the signature
    ///      once it has counted the price against the subscriber's balance. The signature is `terms.subscriber`'s over
    ///      `Subscribe(..., deadline)` (`subscribeDigest`): ECDSA without code, ERC-1271 otherwise; valid while
    ///      `block.timestamp <= deadline`. Requires valid terms (see `_open`). Emits `Subscribed`. No charge: period 0
    ///      is charged by `charge` from `start`.
    /// @param terms The terms, as signed.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @param signature The subscriber's signature (65-byte ECDSA or ERC-1271 bytes).
    /// @return id The subscription id.
    function subscribeWithSig(SubscriptionTerms calldata terms, uint256 deadline, bytes calldata signature)
        external
        nonReentrant
        returns (bytes32 id)
    {
        if (msg.sender != operator) revert Subs_NotOperator(msg.sender);
        id = _idOf(terms);
        if (block.timestamp > deadline) revert Subs_SignatureExpired(block.timestamp, deadline);
        if (!SignatureChecker.isValidSignatureNow(terms.subscriber, _subscribeDigest(terms, deadline), signature)) {
            revert Subs_InvalidSignature(id, terms.subscriber);
        }
        _open(id, terms, false);
    }

    /// @notice Creates a subscription for an agent that pays from its vault balance through its API key.
    /// @dev Operator only: the agent signs nothing, and the operator can already spend that balance with
    ///      `BalanceVault.debitMany`, so this grants it nothing new. Then as `subscribeWithSig`, marked `byOperator` (the
    ///      operator may also resume it).
    /// @param terms The terms.
    /// @return id The subscription id.
    function subscribeFor(SubscriptionTerms calldata terms) external nonReentrant returns (bytes32 id) {
        if (msg.sender != operator) revert Subs_NotOperator(msg.sender);
        id = _idOf(terms);
        _open(id, terms, true);
    }

    // ------------------------------------------------------------------ external: charges

    /// @notice Charges the subscription's next period from the subscriber's vault balance, if it is due.
    /// @dev Anyone may call (the keeper does). See the charge rule in the contract notes. Reverts (writing nothing)
    ///      for an unknown, Cancelled, Expired or Paused subscription and before the period is due
    ///      (`Subs_NotDue`). Returns true after `SubscriptionCharged`; false after `SubscriptionPastDue` (the vault
    ///      refused: balance short or withdrawal unlocked) or `SubscriptionExpired` (the grace ended unpaid).
    /// @param id The subscription id.
    /// @return charged Whether the period was paid.
    function charge(bytes32 id) external nonReentrant returns (bool charged) {
        charged = _charge(id);
    }

    /// @notice `charge` for many subscriptions; each succeeds or fails on its own.
    /// @dev Anyone may call. Each id runs in a self-call (`chargeBatchItem`) with exactly `ITEM_GAS`; with less than
    ///      `ITEM_GAS_REQUIRED` left before an item the whole call reverts (`Subs_InsufficientGas`). A charge that
    ///      reverts emits `ChargeFailed(id, reason)`; the others emit what `charge` emits. Closes with
    ///      `ChargeBatchSettled(items, charged)`.
    /// @param ids The subscription ids.
    /// @return charged How many periods were paid.
    function chargeMany(bytes32[] calldata ids) external nonReentrant returns (uint256 charged) {
        uint256 count = ids.length;
        for (uint256 i; i < count; ++i) {
            bytes32 id = ids[i];
            bytes memory data = abi.encodeCall(this.chargeBatchItem, (id));
            if (gasleft() < ITEM_GAS_REQUIRED) revert Subs_InsufficientGas(i, gasleft(), ITEM_GAS_REQUIRED);
            bool ok;
            bool paid;
            assembly ("memory-safe") {
                // The item returns one word (its `charged`), copied into scratch space.
                ok := call(ITEM_GAS, address(), 0, add(data, 0x20), mload(data), 0, 0x20)
                paid := and(ok, mload(0))
            }
            if (paid) {
                ++charged;
            } else if (!ok) {
                bytes memory reason = _boundedReturnData();
                emit ChargeFailed(id, reason);
            }
            // Each item's call data and failure reason are dead once logged.
            assembly ("memory-safe") {
                mstore(0x40, data)
            }
        }
        emit ChargeBatchSettled(count, charged);
    }

    /// @notice One charge of `chargeMany`; callable only by this contract while `chargeMany` holds the guard.
    /// @param id The subscription id.
    /// @return charged Whether the period was paid.
    function chargeBatchItem(bytes32 id) external returns (bool charged) {
        if (msg.sender != address(this) || !_guardEntered()) revert Subs_OnlySelf(msg.sender);
        charged = _charge(id);
    }

    // ------------------------------------------------------------------ external: cancel, pause, resume

    /// @notice Cancels the subscription for good, effective at the end of the paid period.
    /// @dev The subscriber or the operator; requires Active, PastDue or Paused, not lapsed. Emits
    ///      `SubscriptionCancelled(id, caller, paidThrough)`.
    /// @param id The subscription id.
    function cancel(bytes32 id) external nonReentrant {
        _cancel(id, msg.sender);
    }

    /// @notice Pauses the subscription: no renewal until resumed; it expires unpaid at the next period's lapse.
    /// @dev The subscriber or the operator; requires Active or PastDue, not lapsed. Emits `SubscriptionPaused`.
    /// @param id The subscription id.
    function pause(bytes32 id) external nonReentrant {
        _pause(id, msg.sender);
    }

    /// @notice Resumes a paused subscription (Active: `charge` applies again).
    /// @dev The subscriber, or the operator for a subscription it created; requires Paused and not lapsed (a paused
    ///      subscription whose next period's grace has ended is Expired and stays so). Emits `SubscriptionResumed`.
    /// @param id The subscription id.
    function resume(bytes32 id) external nonReentrant {
        _resume(id, msg.sender);
    }

    // ------------------------------------------------------------------ external: the operator's batches

    /// @notice The operator's opens, cancels, pauses and resumes for agents that sign nothing, each applied or
    ///         failed on its own, in order.
    /// @dev Operator only. Each item runs in a self-call (`operateBatchItem`) with exactly `ITEM_GAS`, with the
    ///      operator's authority: Open is `subscribeFor(terms)` followed, when period 0 is already due, by its
    ///      charge (paid, or PastDue as `charge` writes it), so a subscription and its first period land in one
    ///      transaction; Cancel, Pause and Resume are `cancel`, `pause` and `resume` by the operator. An applied item
    ///      emits its own events then `Operated(id, kind)`; a reverting one emits `OperationFailed(id, kind,
    ///      reason)` and writes nothing. With less than `ITEM_GAS_REQUIRED` left before an item the whole call
    ///      reverts (`Subs_InsufficientGas`). Closes with `OperationBatchSettled(items, applied)`.
    /// @param ops The operations.
    /// @return applied How many were applied.
    function operateMany(Operation[] calldata ops) external nonReentrant returns (uint256 applied) {
        if (msg.sender != operator) revert Subs_NotOperator(msg.sender);
        uint256 count = ops.length;
        for (uint256 i; i < count; ++i) {
            Operation calldata op = ops[i];
            bytes memory data = abi.encodeCall(this.operateBatchItem, (op));
            if (gasleft() < ITEM_GAS_REQUIRED) revert Subs_InsufficientGas(i, gasleft(), ITEM_GAS_REQUIRED);
            bool ok;
            assembly ("memory-safe") {
                ok := call(ITEM_GAS, address(), 0, add(data, 0x20), mload(data), 0, 0)
            }
            if (ok) {
                ++applied;
                emit Operated(op.id, op.kind);
            } else {
                bytes memory reason = _boundedReturnData();
                emit OperationFailed(op.id, op.kind, reason);
            }
            // Each item's call data and failure reason are dead once logged.
            assembly ("memory-safe") {
                mstore(0x40, data)
            }
        }
        emit OperationBatchSettled(count, applied);
    }

    /// @notice One operation of `operateMany`, with the operator's authority; callable only by this contract while
    ///         `operateMany` holds the guard.
    /// @param op The operation.
    function operateBatchItem(Operation calldata op) external {
        if (msg.sender != address(this) || !_guardEntered()) revert Subs_OnlySelf(msg.sender);
        if (op.kind == OperationKind.Open) {
            bytes32 id = _idOf(op.terms);
            if (id != op.id) revert Subs_IdMismatch(op.id, id);
            _open(id, op.terms, true);
            if (block.timestamp >= op.terms.start) _charge(id);
        } else if (op.kind == OperationKind.Cancel) {
            _cancel(op.id, operator);
        } else if (op.kind == OperationKind.Pause) {
            _pause(op.id, operator);
        } else {
            _resume(op.id, operator);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice The id of `terms` on this contract and chain.
    /// @param terms The terms.
    /// @return `keccak256(abi.encode(block.chainid, address(this), terms))`.
    function subscriptionIdOf(SubscriptionTerms calldata terms) external view returns (bytes32) {
        return _idOf(terms);
    }

    /// @notice The stored subscription (all zero for an unknown id). Its `status` is as last written: see `statusOf`.
    /// @param id The subscription id.
    /// @return The stored record.
    function subscriptionOf(bytes32 id) external view returns (Subscription memory) {
        return _subscriptions[id];
    }

    /// @notice The subscription's status now: as stored, except Expired once an Active, PastDue or Paused
    ///         subscription's next period has lapsed unpaid, whether or not a charge has written it.
    /// @param id The subscription id.
    /// @return The status.
    function statusOf(bytes32 id) external view returns (Status) {
        return _effectiveStatus(_subscriptions[id]);
    }

    /// @notice When the next period is due: `start + charged * period`; also the end of the access paid for.
    /// @param id The subscription id.
    /// @return Unix seconds (0 for an unknown id).
    function paidThrough(bytes32 id) external view returns (uint256) {
        Subscription storage s = _subscriptions[id];
        return _dueAt(s, s.charged);
    }

    /// @notice The EIP-712 digest the subscriber signs for `subscribeWithSig`.
    /// @param terms The terms.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @return The digest of `Subscribe(terms..., deadline)` in this contract's domain.
    function subscribeDigest(SubscriptionTerms calldata terms, uint256 deadline) external view returns (bytes32) {
        return _subscribeDigest(terms, deadline);
    }

    /// @notice The EIP-712 domain separator: name "Clearing Subscriptions", version "1", this chain, this contract.
    /// @return The separator, rebuilt if the chain id changed since deployment.
    // forge-lint: disable-next-line(mixed-case-function)
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparator();
    }

    /// @notice The EIP-712 domain (EIP-5267).
    /// @return fields 0x0f: name, version, chainId and verifyingContract are used.
    /// @return name "Clearing Subscriptions".
    /// @return version "1".
    /// @return chainId The current chain id.
    /// @return verifyingContract This contract.
    /// @return salt Unused, zero.
    /// @return extensions None.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "Clearing Subscriptions", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------ internal

    /// @dev Checks the terms and that the id is new, writes the subscription as Active and emits `Subscribed`.
    function _open(bytes32 id, SubscriptionTerms calldata terms, bool byOperator) internal {
        if (terms.subscriber == address(0)) revert Subs_ZeroAddress(AddressField.Subscriber);
        if (terms.provider == address(0)) revert Subs_ZeroAddress(AddressField.Provider);
        if (terms.token == address(0)) revert Subs_ZeroAddress(AddressField.Token);
        uint256 price = terms.price;
        if (price == 0 || price > MAX_PRICE) revert Subs_InvalidPrice(price);
        uint256 maxFee = price * maxFeeBps / BPS;
        if (terms.fee > maxFee) revert Subs_FeeTooHigh(terms.fee, maxFee);
        if (terms.period == 0 || terms.grace == 0 || terms.grace > terms.period) {
            revert Subs_InvalidPeriod(terms.period, terms.grace);
        }
        uint256 lapseAt = uint256(terms.start) + terms.grace;
        if (block.timestamp >= lapseAt) revert Subs_StartLapsed(block.timestamp, lapseAt);
        Subscription storage s = _subscriptions[id];
        if (s.status != Status.None) revert Subs_InvalidStatus(id, s.status);

        // The casts are lossless: price <= MAX_PRICE, and fee <= price.
        // forge-lint: disable-next-item(unsafe-typecast)
        _subscriptions[id] = Subscription({
            subscriber: terms.subscriber,
            start: terms.start,
            status: Status.Active,
            byOperator: byOperator,
            provider: terms.provider,
            period: terms.period,
            token: terms.token,
            grace: terms.grace,
            price: uint96(price),
            fee: uint96(terms.fee),
            charged: 0
        });
        emit Subscribed(id, terms.subscriber, terms.provider, terms, byOperator);
    }

    /// @dev The charge rule (see the contract notes): reverts when nothing may be written; otherwise writes the
    ///      outcome and returns whether the period was paid.
    function _charge(bytes32 id) internal returns (bool) {
        Subscription storage s = _subscriptions[id];
        Subscription memory m = s;
        Status status = m.status;
        if (status == Status.None || status == Status.Cancelled || status == Status.Expired) {
            revert Subs_InvalidStatus(id, status);
        }
        uint256 period = m.charged;
        uint256 dueAt = uint256(m.start) + period * m.period;
        uint256 lapseAt = dueAt + m.grace;
        if (block.timestamp >= lapseAt) {
            s.status = Status.Expired;
            emit SubscriptionExpired(id, period);
            return false;
        }
        if (status == Status.Paused) revert Subs_InvalidStatus(id, status);
        if (block.timestamp < dueAt) revert Subs_NotDue(id, block.timestamp, dueAt);

        if (vault.charge(m.token, m.subscriber, m.provider, m.price, m.fee, id)) {
            // At most 2^64 - 1 periods: `charged` would wrap only after more periods than seconds in a uint64.
            // forge-lint: disable-next-line(unsafe-typecast)
            s.charged = uint64(period + 1);
            if (status != Status.Active) s.status = Status.Active;
            emit SubscriptionCharged(id, period, dueAt + m.period);
            return true;
        }
        if (status != Status.PastDue) s.status = Status.PastDue;
        emit SubscriptionPastDue(id, period, lapseAt);
        return false;
    }

    /// @dev `cancel` by `by` (the caller, or the operator inside `operateMany`).
    function _cancel(bytes32 id, address by) internal {
        Subscription storage s = _subscriptions[id];
        Status status = _effectiveStatus(s);
        if (status != Status.Active && status != Status.PastDue && status != Status.Paused) {
            revert Subs_InvalidStatus(id, status);
        }
        if (by != s.subscriber && by != operator) revert Subs_Unauthorized(id, by);
        s.status = Status.Cancelled;
        emit SubscriptionCancelled(id, by, _dueAt(s, s.charged));
    }

    /// @dev `pause` by `by`.
    function _pause(bytes32 id, address by) internal {
        Subscription storage s = _subscriptions[id];
        Status status = _effectiveStatus(s);
        if (status != Status.Active && status != Status.PastDue) revert Subs_InvalidStatus(id, status);
        if (by != s.subscriber && by != operator) revert Subs_Unauthorized(id, by);
        s.status = Status.Paused;
        emit SubscriptionPaused(id, by);
    }

    /// @dev `resume` by `by`.
    function _resume(bytes32 id, address by) internal {
        Subscription storage s = _subscriptions[id];
        Status status = _effectiveStatus(s);
        if (status != Status.Paused) revert Subs_InvalidStatus(id, status);
        if (by != s.subscriber && !(s.byOperator && by == operator)) revert Subs_Unauthorized(id, by);
        s.status = Status.Active;
        emit SubscriptionResumed(id, by);
    }

    /// @dev The stored status, or Expired once a live subscription's next period has lapsed unpaid.
    function _effectiveStatus(Subscription storage s) internal view returns (Status status) {
        status = s.status;
        if (status == Status.Active || status == Status.PastDue || status == Status.Paused) {
            if (block.timestamp >= _dueAt(s, s.charged) + s.grace) status = Status.Expired;
        }
    }

    /// @dev `start + k * period`: when period `k` is due.
    function _dueAt(Subscription storage s, uint256 k) internal view returns (uint256) {
        return uint256(s.start) + k * s.period;
    }

    /// @dev `keccak256(abi.encode(block.chainid, address(this), terms))`.
    function _idOf(SubscriptionTerms calldata terms) internal view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), terms));
    }

    /// @dev The EIP-712 digest of `Subscribe(terms..., deadline)` in this domain.
    function _subscribeDigest(SubscriptionTerms calldata terms, uint256 deadline) internal view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(SUBSCRIBE_TYPEHASH, terms, deadline));
        return keccak256(abi.encodePacked(hex"1901", _domainSeparator(), structHash));
    }

    /// @dev The cached domain separator, or a fresh one if the chain id or address differ from deployment.
    function _domainSeparator() internal view returns (bytes32) {
        if (block.chainid == _cachedChainId && address(this) == _cachedThis) return _cachedDomainSeparator;
        return _buildDomainSeparator();
    }

    /// @dev `keccak256(abi.encode(EIP712Domain typehash, name hash, version hash, chainid, this))`.
    function _buildDomainSeparator() internal view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }

    /// @dev The last call's revert data, cut to `MAX_REASON_BYTES`.
    function _boundedReturnData() internal pure returns (bytes memory reason) {
        assembly ("memory-safe") {
            let size := returndatasize()
            if gt(size, MAX_REASON_BYTES) { size := MAX_REASON_BYTES }
            reason := mload(0x40)
            mstore(reason, size)
            returndatacopy(add(reason, 0x20), 0, size)
            mstore(0x40, add(add(reason, 0x20), and(add(size, 0x1f), not(0x1f))))
        }
    }

    /// @dev Whether a guarded entry point is running.
    function _guardEntered() internal view returns (bool entered) {
        assembly ("memory-safe") {
            entered := tload(_GUARD_SLOT)
        }
    }
}
