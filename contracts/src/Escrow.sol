// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC3009} from "./interfaces/IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Escrow
/// @notice Holds marketplace jobs paid in an EIP-3009 token (USDC) until delivery, then credits the provider, the
///         payer or both. Payouts are credited to a ledger and pulled with `claim`, never pushed.
/// @dev Modelled on base/commerce-payments' AuthCaptureEscrow: every call passes the job's full `JobTerms` and the
///      contract checks them by their hash; storage holds one packed `JobState` slot per job.
///
///      Identity and funding. `jobId = keccak256(abi.encode(block.chainid, address(this), terms))`. The job is funded
///      by `receiveWithAuthorization(payer, this, amount, 0, fundingDeadline, jobId, signature)`, so the jobId is the
///      EIP-3009 nonce and the payer's one signature binds every field of the terms. The ABI tuple of `JobTerms` is
///      `(address payer, address provider, address token, uint256 amount, uint256 fee, address arbiter,
///      uint64 fundingDeadline, uint64 completionDeadline, uint64 reviewWindow, bytes32 salt)` and is stable.
///      `amount` stays `uint256` (the EIP-3009 value type) but must not exceed `type(uint128).max`, which keeps every
///      bps product below 2^256.
///
///      Lifecycle (terminal states never change again):
///      - None -> Funded: `fund` / `fundMany`, anyone, while `block.timestamp < fundingDeadline`.
///      - Funded -> Completed: `markCompleted`, provider or operator, while `block.timestamp < completionDeadline`.
///      - Funded | Completed -> Disputed: `dispute`, payer; from Completed only while the review window is open
///        (`block.timestamp < completedAt + reviewWindow`).
///      - Funded | Completed | Disputed -> Released: `release` by the payer at any time; by anyone once Completed and
///        `block.timestamp >= completedAt + reviewWindow`. The payer may release a Disputed job: that concedes the
///        dispute, and only the payer's own money is at stake.
///      - Funded | Completed | Disputed -> Refunded: `refund` by the provider at any time; by the payer once
///        `block.timestamp >= completionDeadline` if the job was never completed (still Funded).
///      - Disputed -> Resolved: `resolve`, arbiter, with a provider share in bps. A dispute stays open until the
///        arbiter resolves it or a party concedes (payer releases, provider refunds).
///
///      Rebuilding state from events alone. `JobFunded` carries the full terms (token, payer, provider, amount, fee);
///      later events carry the jobId and the amounts credited, all in `terms.token`:
///      - `JobReleased(jobId, providerAmount, feeAmount)`: provider += providerAmount, feeRecipient += feeAmount;
///      - `JobRefunded(jobId, payerAmount)`: payer += payerAmount;
///      - `JobResolved(jobId, bps, payerAmount, providerAmount, feeAmount)`: payer, provider and feeRecipient credited;
///      - `Claimed(token, account, to, amount)`: the account's balance of that token drops to zero.
///      `feeRecipient` is immutable, so these events determine every job and every `claimable` balance. No separate
///      per-credit event is emitted: two of them would cost ~4k gas per release and break the 60k release budget.
///
///      Safety. Every state-changing entry point holds a transient reentrancy guard; state is written and the event
///      emitted before the only external calls (the token, in `fund` and `claim`). Balances are kept per token, so a
///      misbehaving token named in some job's terms can only affect balances in that token. Payouts are pulled: a
///      paused token or a blacklisted recipient delays a claim (or needs another `to`) but never blocks a
///      transition. Note that a claimer blacklisted by the token can still claim to a clean address.
///
///      Gas (whole transactions, steady state, measured in contracts/test/benchmark/EscrowGas.t.sol and on anvil):
///      fund ~112k, release ~60k, claim ~44k.
contract Escrow {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ types

    /// @notice A job as the payer signed it. Passed in full to every call and checked by its hash (the jobId).
    /// @param payer Pays `amount`; signs the EIP-3009 authorization.
    /// @param provider Does the job; receives `amount - fee` on release.
    /// @param token The EIP-3009 token (USDC) the job is paid in.
    /// @param amount What the payer pays, in the token's atomic units; 0 < amount <= type(uint128).max.
    /// @param fee The platform's cut in atomic units, paid only out of what goes to the provider;
    ///        at most `amount * maxFeeBps / 10_000`.
    /// @param arbiter May resolve a dispute.
    /// @param fundingDeadline Unix seconds; funding allowed while `block.timestamp < fundingDeadline`; also the
    ///        authorization's `validBefore`.
    /// @param completionDeadline Unix seconds; the provider must `markCompleted` before it; after it an uncompleted
    ///        job is refundable to the payer. `fundingDeadline <= completionDeadline`.
    /// @param reviewWindow Seconds after `markCompleted` during which only the payer may release (or dispute).
    /// @param salt Uniqueness.
    struct JobTerms {
        address payer;
        address provider;
        address token;
        uint256 amount;
        uint256 fee;
        address arbiter;
        uint64 fundingDeadline;
        uint64 completionDeadline;
        uint64 reviewWindow;
        bytes32 salt;
    }

    /// @notice Where a job is in its lifecycle. Released, Refunded and Resolved are terminal.
    enum Status {
        None,
        Funded,
        Completed,
        Disputed,
        Released,
        Refunded,
        Resolved
    }

    /// @notice A job's status and timestamps, as `jobState` returns them. Timestamps are Unix seconds, zero when unset.
    /// @dev Stored packed in one slot: status in bits 0-7, fundedAt 8-71, completedAt 72-135, closedAt 136-199.
    ///      fundedAt and completedAt are always below a uint64 deadline, so they are exact; closedAt would wrap only
    ///      after the year 584 billion. The dispute time is in the `JobDisputed` event's block.
    /// @param status The lifecycle status.
    /// @param fundedAt When the job was funded.
    /// @param completedAt When the job was marked completed.
    /// @param closedAt When it reached a terminal status.
    struct JobState {
        Status status;
        uint64 fundedAt;
        uint64 completedAt;
        uint64 closedAt;
    }

    /// @dev A job's storage: one word packing a `JobState` (see there for the layout).
    struct JobSlot {
        uint256 packed;
    }

    /// @notice Names the address field that was zero in `Escrow_ZeroAddress`.
    enum AddressField {
        FeeRecipient,
        Payer,
        Provider,
        Token,
        Arbiter,
        ClaimRecipient
    }

    // ------------------------------------------------------------------ constants

    /// @notice The bps denominator: 10_000 bps = 100%.
    uint256 public constant BPS = 10_000;

    /// @notice Largest accepted `amount`; keeps `amount * bps` far from overflow.
    uint256 public constant MAX_AMOUNT = type(uint128).max;

    /// @notice Gas given to each item of `fundMany`. An EOA-signed USDC item uses about 80k; the rest is headroom for
    ///         ERC-1271 wallets.
    uint256 public constant FUND_ITEM_GAS = 300_000;

    /// @notice Gas `fundMany` must hold right before each item's CALL: the stipend under the 63/64 rule (EIP-150) plus
    ///         room to log a failure and move on.
    uint256 public constant FUND_ITEM_GAS_REQUIRED = FUND_ITEM_GAS * 64 / 63 + 20_000;

    /// @notice Longest revert reason `JobFundFailed` carries; longer ones are cut (a returndata bomb could
    ///         otherwise make logging the failure run the whole batch out of gas).
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @dev Layout of the packed job word (see `JobState`).
    uint256 private constant _STATUS_MASK = 0xff;
    uint256 private constant _TIME_MASK = type(uint64).max;
    uint256 private constant _FUNDED_AT_SHIFT = 8;
    uint256 private constant _COMPLETED_AT_SHIFT = 72;
    uint256 private constant _CLOSED_AT_SHIFT = 136;

    /// @dev Transient slot of the reentrancy guard: uint256(keccak256("clearing.escrow.reentrancy")) - 1.
    uint256 private constant _GUARD_SLOT = 0xbeb71a24ed19f3ad4a9dca0857a9931e2745a9a0d31504469b789f7d0505c356;

    // ------------------------------------------------------------------ immutables

    /// @notice Receives every fee, credited to `claimable`.
    address public immutable feeRecipient;

    /// @notice Largest fee a job may carry, in bps of its amount.
    uint16 public immutable maxFeeBps;

    /// @notice The marketplace: may `markCompleted` any job besides its provider. Zero disables it (no transaction
    ///         has a zero sender).
    address public immutable operator;

    // ------------------------------------------------------------------ storage

    /// @notice What each account may `claim`, per token, in atomic units.
    mapping(address token => mapping(address account => uint256 amount)) public claimable;

    /// @dev One packed word per job: see `JobState`.
    mapping(bytes32 jobId => JobSlot slot) private _jobs;

    // ------------------------------------------------------------------ events

    /// @notice A job was funded; carries its full terms, from which every later event of the job is interpreted.
    /// @param jobId The job id (also the EIP-3009 nonce used).
    /// @param payer `terms.payer`, indexed for lookups.
    /// @param provider `terms.provider`, indexed for lookups.
    /// @param terms The full terms.
    event JobFunded(bytes32 indexed jobId, address indexed payer, address indexed provider, JobTerms terms);

    /// @notice One item of `fundMany` failed; nothing of it was written.
    /// @param jobId The id of the item's terms.
    /// @param payer `terms.payer` of the item.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event JobFundFailed(bytes32 indexed jobId, address indexed payer, bytes reason);

    /// @notice The job was marked completed; only the payer may release or dispute before `reviewEndsAt`.
    /// @param jobId The job id.
    /// @param completedAt Unix seconds.
    /// @param reviewEndsAt `completedAt + reviewWindow`, Unix seconds.
    event JobCompleted(bytes32 indexed jobId, uint256 completedAt, uint256 reviewEndsAt);

    /// @notice The job was released: provider credited `providerAmount`, fee recipient `feeAmount`.
    /// @param jobId The job id.
    /// @param providerAmount `amount - fee`, atomic units of `terms.token`.
    /// @param feeAmount `fee`, atomic units of `terms.token`.
    event JobReleased(bytes32 indexed jobId, uint256 providerAmount, uint256 feeAmount);

    /// @notice The job was refunded: payer credited `payerAmount` (the full amount).
    /// @param jobId The job id.
    /// @param payerAmount `amount`, atomic units of `terms.token`.
    event JobRefunded(bytes32 indexed jobId, uint256 payerAmount);

    /// @notice The payer disputed the job.
    /// @param jobId The job id.
    event JobDisputed(bytes32 indexed jobId);

    /// @notice The arbiter split a disputed job: each party credited the amount named.
    /// @param jobId The job id.
    /// @param providerBps The provider side's share of the amount, in bps.
    /// @param payerAmount `amount - amount * bps / 10_000`, credited to the payer.
    /// @param providerAmount `amount * bps / 10_000 - fee * bps / 10_000`, credited to the provider.
    /// @param feeAmount `fee * bps / 10_000`, credited to the fee recipient.
    event JobResolved(
        bytes32 indexed jobId, uint16 providerBps, uint256 payerAmount, uint256 providerAmount, uint256 feeAmount
    );

    /// @notice `account` claimed its whole balance of `token`, sent to `to`.
    /// @param token The token claimed.
    /// @param account Whose balance it was; now zero.
    /// @param to Who received the tokens.
    /// @param amount Atomic units sent.
    event Claimed(address indexed token, address indexed account, address to, uint256 amount);

    // ------------------------------------------------------------------ errors

    /// @notice An address that must be set was zero.
    error Escrow_ZeroAddress(AddressField field);

    /// @notice The constructor's `maxFeeBps` exceeds 10_000.
    error Escrow_MaxFeeBpsTooHigh(uint256 maxFeeBps);

    /// @notice `amount` is zero or above `MAX_AMOUNT`.
    error Escrow_InvalidAmount(uint256 amount);

    /// @notice `fee` exceeds `amount * maxFeeBps / 10_000`.
    error Escrow_FeeTooHigh(uint256 fee, uint256 maxFee);

    /// @notice `fundingDeadline` is after `completionDeadline`.
    error Escrow_InvalidDeadlines(uint256 fundingDeadline, uint256 completionDeadline);

    /// @notice The action had to happen before `deadline` (exclusive).
    error Escrow_AfterDeadline(uint256 nowTs, uint256 deadline);

    /// @notice The action is allowed only from `deadline` on.
    error Escrow_BeforeDeadline(uint256 nowTs, uint256 deadline);

    /// @notice The job's status does not allow the action (None also means the terms do not match a funded job).
    error Escrow_InvalidStatus(bytes32 jobId, Status current);

    /// @notice `caller` may not take this action on the job.
    error Escrow_Unauthorized(bytes32 jobId, address caller);

    /// @notice Only the payer may release before the review window ends.
    error Escrow_ReviewWindowOpen(bytes32 jobId, uint256 nowTs, uint256 reviewEndsAt);

    /// @notice The review window has ended, so the completed job can no longer be disputed.
    error Escrow_ReviewWindowClosed(bytes32 jobId, uint256 nowTs, uint256 reviewEndsAt);

    /// @notice `providerBps` exceeds 10_000.
    error Escrow_InvalidBps(uint256 providerBps);

    /// @notice The escrow's token balance did not grow by exactly `expected` while funding.
    error Escrow_BalanceDelta(uint256 expected, uint256 actual);

    /// @notice `fundMany` got arrays of different lengths.
    error Escrow_LengthMismatch(uint256 termsLength, uint256 signaturesLength);

    /// @notice `fundMany` holds too little gas to give item `index` its full stipend.
    error Escrow_InsufficientGas(uint256 index, uint256 available, uint256 required);

    /// @notice `fundBatchItem` was called by someone other than this contract inside `fundMany`.
    error Escrow_OnlySelf(address caller);

    /// @notice `account` has nothing of `token` to claim.
    error Escrow_NothingToClaim(address token, address account);

    /// @notice A guarded entry point was entered again while one was running.
    error Escrow_Reentrancy();

    // ------------------------------------------------------------------ modifiers

    /// @dev Transient-storage reentrancy guard (EIP-1153), inlined into each entry point: one TLOAD and two TSTOREs.
    ///      Hand-written rather than OpenZeppelin's ReentrancyGuardTransient (same semantics), whose private calls
    ///      cost about 135 gas more per entry, which the 60k release budget cannot spare.
    modifier nonReentrant() {
        if (_guardEntered()) revert Escrow_Reentrancy();
        assembly ("memory-safe") {
            tstore(_GUARD_SLOT, 1)
        }
        _;
        assembly ("memory-safe") {
            tstore(_GUARD_SLOT, 0)
        }
    }

    // ------------------------------------------------------------------ constructor

    /// @param feeRecipient_ Receives every fee; must not be zero.
    /// @param maxFeeBps_ Largest fee in bps of a job's amount, at most 10_000 (the deployment uses 500).
    /// @param operator_ The marketplace, which may mark jobs completed; zero disables it.
    constructor(address feeRecipient_, uint16 maxFeeBps_, address operator_) {
        if (feeRecipient_ == address(0)) revert Escrow_ZeroAddress(AddressField.FeeRecipient);
        if (maxFeeBps_ > BPS) revert Escrow_MaxFeeBpsTooHigh(maxFeeBps_);
        feeRecipient = feeRecipient_;
        maxFeeBps = maxFeeBps_;
        operator = operator_;
    }

    // ------------------------------------------------------------------ external

    /// @notice Funds a job by pulling `terms.amount` from the payer with their EIP-3009 authorization.
    /// @dev Anyone may submit. Requires valid terms (non-zero payer, provider, token and arbiter;
    ///      0 < amount <= MAX_AMOUNT; fee <= amount * maxFeeBps / 10_000; fundingDeadline <= completionDeadline),
    ///      `block.timestamp < fundingDeadline`, and a job never funded before. Writes the job and emits `JobFunded`,
    ///      then calls `receiveWithAuthorization(payer, this, amount, 0, fundingDeadline, jobId, signature)` and
    ///      requires the escrow's balance to grow by exactly `amount` (`Escrow_BalanceDelta`).
    /// @param terms The job's terms, exactly as the payer signed them (through the jobId nonce).
    /// @param signature The payer's ReceiveWithAuthorization signature (65-byte ECDSA or ERC-1271 bytes).
    function fund(JobTerms calldata terms, bytes calldata signature) external nonReentrant {
        _fund(terms, signature);
    }

    /// @notice Funds many jobs; each item succeeds or fails on its own.
    /// @dev Each item runs in a self-call (`fundBatchItem`) with exactly `FUND_ITEM_GAS` gas; a failed item emits
    ///      `JobFundFailed(jobId, payer, reason)` and never reverts the batch. The self-call is a low-level CALL
    ///      rather than try/catch so that the gas check sits after the call data is encoded, right before the CALL,
    ///      and so that at most `MAX_REASON_BYTES` of revert data are copied. If less than `FUND_ITEM_GAS_REQUIRED`
    ///      gas is left there, the whole call reverts with `Escrow_InsufficientGas`: a relayer cannot make an item
    ///      fail for lack of gas. Emits `JobFunded` for each success. Malformed ABI input (an out-of-range offset,
    ///      or dirty upper bits in a narrow field of some item's terms) reverts the whole call, as it would for
    ///      `fund`: items are isolated from each other's business failures, not from a broken encoding of the batch.
    /// @param terms The jobs' terms.
    /// @param signatures The payers' signatures, one per job, same order.
    /// @return funded How many items were funded.
    function fundMany(JobTerms[] calldata terms, bytes[] calldata signatures)
        external
        nonReentrant
        returns (uint256 funded)
    {
        uint256 count = terms.length;
        if (count != signatures.length) revert Escrow_LengthMismatch(count, signatures.length);
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory;
            assembly ("memory-safe") {
                freeMemory := mload(0x40)
            }
            bytes memory data = abi.encodeCall(this.fundBatchItem, (terms[i], signatures[i]));
            // Checked after encoding, right before the CALL, so nothing in between eats into the stipend.
            if (gasleft() < FUND_ITEM_GAS_REQUIRED) {
                revert Escrow_InsufficientGas(i, gasleft(), FUND_ITEM_GAS_REQUIRED);
            }
            bool ok;
            assembly ("memory-safe") {
                ok := call(FUND_ITEM_GAS, address(), 0, add(data, 0x20), mload(data), 0, 0)
            }
            if (ok) {
                ++funded;
            } else {
                bytes memory reason = _boundedReturnData();
                emit JobFundFailed(_jobIdOf(terms[i]), terms[i].payer, reason);
            }
            // Free this item's memory so a long batch does not pay for ever-growing memory.
            assembly ("memory-safe") {
                mstore(0x40, freeMemory)
            }
        }
    }

    /// @notice One item of `fundMany`; callable only by this contract while `fundMany` holds the reentrancy guard.
    /// @dev Same checks, effects and event as `fund`.
    /// @param terms The job's terms.
    /// @param signature The payer's signature.
    function fundBatchItem(JobTerms calldata terms, bytes calldata signature) external {
        if (msg.sender != address(this) || !_guardEntered()) revert Escrow_OnlySelf(msg.sender);
        _fund(terms, signature);
    }

    /// @notice Marks the job completed and opens the payer's review window.
    /// @dev Provider or operator only; requires status Funded and `block.timestamp < completionDeadline`. Records
    ///      `completedAt`; with a zero review window anyone may release at once. Emits
    ///      `JobCompleted(jobId, completedAt, completedAt + reviewWindow)`.
    /// @param terms The job's terms.
    function markCompleted(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (status != Status.Funded) revert Escrow_InvalidStatus(jobId, status);
        if (msg.sender != t.provider && msg.sender != operator) revert Escrow_Unauthorized(jobId, msg.sender);
        if (block.timestamp >= t.completionDeadline) {
            revert Escrow_AfterDeadline(block.timestamp, t.completionDeadline);
        }

        slot.packed = _advance(packed, Status.Completed, _COMPLETED_AT_SHIFT);

        emit JobCompleted(jobId, block.timestamp, block.timestamp + t.reviewWindow);
    }

    /// @notice Pays the job out to the provider: `amount - fee` to the provider, `fee` to the fee recipient.
    /// @dev By the payer in Funded, Completed or Disputed (releasing a Disputed job concedes the dispute); by anyone
    ///      once Completed and `block.timestamp >= completedAt + reviewWindow`. Credits `claimable`, emits
    ///      `JobReleased(jobId, providerAmount, feeAmount)`. No external call.
    /// @param terms The job's terms.
    function release(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (!_isOpen(status)) revert Escrow_InvalidStatus(jobId, status);
        if (msg.sender != t.payer) {
            if (status != Status.Completed) revert Escrow_Unauthorized(jobId, msg.sender);
            uint256 reviewEndsAt = _completedAtOf(packed) + t.reviewWindow;
            if (block.timestamp < reviewEndsAt) revert Escrow_ReviewWindowOpen(jobId, block.timestamp, reviewEndsAt);
        }

        slot.packed = _advance(packed, Status.Released, _CLOSED_AT_SHIFT);

        uint256 feeAmount = t.fee;
        uint256 providerAmount = t.amount - feeAmount;
        mapping(address => uint256) storage balances = claimable[t.token];
        _credit(balances, t.provider, providerAmount);
        _credit(balances, feeRecipient, feeAmount);

        emit JobReleased(jobId, providerAmount, feeAmount);
    }

    /// @notice Returns the full amount to the payer; no fee is taken.
    /// @dev By the provider in any open status (Funded, Completed, Disputed); by the payer only in Funded (never
    ///      completed) and once `block.timestamp >= completionDeadline`. Credits `claimable`, emits
    ///      `JobRefunded(jobId, amount)`. No external call.
    /// @param terms The job's terms.
    function refund(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (!_isOpen(status)) revert Escrow_InvalidStatus(jobId, status);
        if (msg.sender != t.provider) {
            if (msg.sender != t.payer) revert Escrow_Unauthorized(jobId, msg.sender);
            if (status != Status.Funded) revert Escrow_InvalidStatus(jobId, status);
            if (block.timestamp < t.completionDeadline) {
                revert Escrow_BeforeDeadline(block.timestamp, t.completionDeadline);
            }
        }

        slot.packed = _advance(packed, Status.Refunded, _CLOSED_AT_SHIFT);

        _credit(claimable[t.token], t.payer, t.amount);

        emit JobRefunded(jobId, t.amount);
    }

    /// @notice The payer disputes the job, handing the decision to the arbiter.
    /// @dev Payer only; requires status Funded, or Completed with the review window still open
    ///      (`block.timestamp < completedAt + reviewWindow`). Emits `JobDisputed(jobId)`.
    /// @param terms The job's terms.
    function dispute(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (status != Status.Funded && status != Status.Completed) revert Escrow_InvalidStatus(jobId, status);
        if (msg.sender != t.payer) revert Escrow_Unauthorized(jobId, msg.sender);
        if (status == Status.Completed) {
            uint256 reviewEndsAt = _completedAtOf(packed) + t.reviewWindow;
            if (block.timestamp >= reviewEndsAt) {
                revert Escrow_ReviewWindowClosed(jobId, block.timestamp, reviewEndsAt);
            }
        }

        slot.packed = (packed & ~_STATUS_MASK) | uint256(Status.Disputed);

        emit JobDisputed(jobId);
    }

    /// @notice The arbiter splits a disputed job: `providerBps` of the amount to the provider side, the rest back
    ///         to the payer; the fee is taken pro rata from the provider side.
    /// @dev Arbiter only; requires status Disputed and `providerBps <= 10_000`. With
    ///      `providerShare = amount * bps / 10_000` and `feeShare = fee * bps / 10_000`: provider gets
    ///      `providerShare - feeShare`, fee recipient `feeShare`, payer `amount - providerShare`; the three sum to
    ///      `amount` exactly. Credits `claimable`, emits `JobResolved`. No external call.
    /// @param terms The job's terms.
    /// @param providerBps The provider's share of the amount, in bps (0 = full refund, 10_000 = full release).
    function resolve(JobTerms calldata terms, uint16 providerBps) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (status != Status.Disputed) revert Escrow_InvalidStatus(jobId, status);
        if (msg.sender != t.arbiter) revert Escrow_Unauthorized(jobId, msg.sender);
        if (providerBps > BPS) revert Escrow_InvalidBps(providerBps);

        slot.packed = _advance(packed, Status.Resolved, _CLOSED_AT_SHIFT);

        uint256 providerShare = t.amount * providerBps / BPS;
        uint256 feeAmount = t.fee * providerBps / BPS;
        uint256 providerAmount = providerShare - feeAmount;
        uint256 payerAmount = t.amount - providerShare;
        mapping(address => uint256) storage balances = claimable[t.token];
        _credit(balances, t.payer, payerAmount);
        _credit(balances, t.provider, providerAmount);
        _credit(balances, feeRecipient, feeAmount);

        emit JobResolved(jobId, providerBps, payerAmount, providerAmount, feeAmount);
    }

    /// @notice Sends the caller's whole claimable balance of `token` to `to`.
    /// @dev Requires a non-zero balance (`Escrow_NothingToClaim`) and a non-zero `to`. Zeroes the balance and emits
    ///      `Claimed(token, msg.sender, to, amount)` before the transfer; a failed transfer (pause, blacklist)
    ///      reverts the whole claim, so the balance stays claimable.
    /// @param token The token to claim.
    /// @param to Receives the tokens.
    /// @return amount What was sent, in atomic units.
    function claim(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert Escrow_ZeroAddress(AddressField.ClaimRecipient);
        amount = claimable[token][msg.sender];
        if (amount == 0) revert Escrow_NothingToClaim(token, msg.sender);

        claimable[token][msg.sender] = 0;

        emit Claimed(token, msg.sender, to, amount);

        IERC20(token).safeTransfer(to, amount);
    }

    // ------------------------------------------------------------------ views

    /// @notice The job id of `terms` on this escrow and chain; also the EIP-3009 nonce of its funding authorization.
    /// @dev Hashes the calldata as sent: a non-canonical encoding (dirty upper bits in a narrow field) yields an id
    ///      that `fund` can never fund.
    /// @param terms The job's terms.
    /// @return The job id: `keccak256(abi.encode(block.chainid, address(this), terms))`.
    function jobIdOf(JobTerms calldata terms) external view returns (bytes32) {
        return _jobIdOf(terms);
    }

    /// @notice The job's status and timestamps (all zero for an unknown job).
    /// @param jobId The job id.
    /// @return The stored job state.
    function jobState(bytes32 jobId) external view returns (JobState memory) {
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        // The casts keep the low 64 bits of each shifted word: exactly the field at that offset.
        return JobState({
            status: _statusOf(packed),
            // forge-lint: disable-next-line(unsafe-typecast)
            fundedAt: uint64(packed >> _FUNDED_AT_SHIFT),
            // forge-lint: disable-next-line(unsafe-typecast)
            completedAt: uint64(packed >> _COMPLETED_AT_SHIFT),
            // forge-lint: disable-next-line(unsafe-typecast)
            closedAt: uint64(packed >> _CLOSED_AT_SHIFT)
        });
    }

    // ------------------------------------------------------------------ internal

    /// @dev Checks the terms, writes the job, emits, then pulls the funds and checks the balance delta.
    function _fund(JobTerms calldata terms, bytes calldata signature) internal {
        bytes32 jobId = _jobIdOf(terms);
        _checkTerms(terms);
        if (block.timestamp >= terms.fundingDeadline) {
            revert Escrow_AfterDeadline(block.timestamp, terms.fundingDeadline);
        }
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        if (packed != 0) revert Escrow_InvalidStatus(jobId, _statusOf(packed));

        slot.packed = _advance(0, Status.Funded, _FUNDED_AT_SHIFT);

        emit JobFunded(jobId, terms.payer, terms.provider, terms);

        address token = terms.token;
        uint256 amount = terms.amount;
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC3009(token)
            .receiveWithAuthorization(terms.payer, address(this), amount, 0, terms.fundingDeadline, jobId, signature);
        uint256 balanceAfter = IERC20(token).balanceOf(address(this));
        if (balanceAfter != balanceBefore + amount) {
            revert Escrow_BalanceDelta(amount, balanceAfter > balanceBefore ? balanceAfter - balanceBefore : 0);
        }
    }

    /// @dev Reverts unless the terms are well formed (deadline against the clock is checked by the caller).
    function _checkTerms(JobTerms calldata terms) internal view {
        if (terms.payer == address(0)) revert Escrow_ZeroAddress(AddressField.Payer);
        if (terms.provider == address(0)) revert Escrow_ZeroAddress(AddressField.Provider);
        if (terms.token == address(0)) revert Escrow_ZeroAddress(AddressField.Token);
        if (terms.arbiter == address(0)) revert Escrow_ZeroAddress(AddressField.Arbiter);
        uint256 amount = terms.amount;
        if (amount == 0 || amount > MAX_AMOUNT) revert Escrow_InvalidAmount(amount);
        uint256 maxFee = amount * maxFeeBps / BPS;
        if (terms.fee > maxFee) revert Escrow_FeeTooHigh(terms.fee, maxFee);
        if (terms.fundingDeadline > terms.completionDeadline) {
            revert Escrow_InvalidDeadlines(terms.fundingDeadline, terms.completionDeadline);
        }
    }

    /// @dev Adds `amount` to `account`'s entry in `balances` (one token's `claimable`); skips zero to save the
    ///      storage access. Unchecked: each credit is at most MAX_AMOUNT (2^128 - 1), so a balance cannot reach 2^256.
    function _credit(mapping(address => uint256) storage balances, address account, uint256 amount) internal {
        if (amount != 0) {
            unchecked {
                balances[account] += amount;
            }
        }
    }

    /// @dev Whether a guarded entry point is running.
    function _guardEntered() internal view returns (bool entered) {
        assembly ("memory-safe") {
            entered := tload(_GUARD_SLOT)
        }
    }

    /// @dev The status in a packed job word.
    ///      Assembly skips the enum range check: only valid statuses are ever stored.
    function _statusOf(uint256 packed) internal pure returns (Status status) {
        assembly ("memory-safe") {
            status := and(packed, _STATUS_MASK)
        }
    }

    /// @dev The completion time in a packed job word.
    function _completedAtOf(uint256 packed) internal pure returns (uint256) {
        return (packed >> _COMPLETED_AT_SHIFT) & _TIME_MASK;
    }

    /// @dev `packed` moved to status `next` with `block.timestamp` written into the (still zero) time field at
    ///      `shift`.
    function _advance(uint256 packed, Status next, uint256 shift) internal view returns (uint256) {
        return (packed & ~_STATUS_MASK) | uint256(next) | ((block.timestamp & _TIME_MASK) << shift);
    }

    /// @dev The jobId of `terms`, `keccak256(abi.encode(block.chainid, address(this), terms))`.
    function _jobIdOf(JobTerms calldata terms) internal view returns (bytes32 jobId) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, chainid())
            mstore(add(m, 0x20), address())
            calldatacopy(add(m, 0x40), terms, 0x140)
            jobId := keccak256(m, 0x180)
        }
    }

    /// @dev Copies `terms` into memory right after `(block.chainid, address(this))` and hashes the twelve words: the
    ///      jobId. A static struct has the same layout in calldata and in memory, so one CALLDATACOPY both feeds the
    ///      hash and yields `t`, whose fields are then read with MLOAD. The copy skips the ABI decoder's per-field
    ///      checks (upper bits of narrow types), which is sound: `fund` reads and emits every field through the
    ///      checked decoder, so every funded jobId hashes a canonical encoding; any other encoding of the same terms
    ///      hashes to an unfunded id, and the callers revert on its status before using `t`.
    function _load(JobTerms calldata terms) internal view returns (bytes32 jobId, JobTerms memory t) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, chainid())
            mstore(add(m, 0x20), address())
            t := add(m, 0x40)
            calldatacopy(t, terms, 0x140)
            jobId := keccak256(m, 0x180)
            mstore(0x40, add(m, 0x180))
        }
    }

    /// @dev Funded, Completed and Disputed are open; None and the terminal statuses are not.
    function _isOpen(Status status) internal pure returns (bool) {
        return status >= Status.Funded && status <= Status.Disputed;
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
}
