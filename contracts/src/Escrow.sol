// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC3009} from "./interfaces/IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Escrow
/// @notice Holds marketplace jobs paid in an EIP-3009 token (USDC) until delivery, then credits the provider, the
///         payer or both; also credits direct purchases paid to it. Payouts are credited to a ledger and pulled with
///         `claim` (or pushed to the account itself by anyone with `claimFor`), never pushed elsewhere.
/// @dev Modelled on base/commerce-payments' AuthCaptureEscrow: every call passes the job's full `JobTerms` and the
///      contract checks them by their hash; storage holds one packed `JobState` slot per job.
///
///      Identity and funding. `jobId = keccak256(abi.encode(block.chainid, address(this), terms))`. A job is funded
///      one of three ways, each writing the same Funded job and emitting the same `JobFunded`:
///      - `fund` / `fundMany` (anyone): `receiveWithAuthorization(payer, this, amount, 0, fundingDeadline, jobId,
///        signature)`, so the jobId is the EIP-3009 nonce and the payer's one signature binds every field of the terms;
///      - `fundWithTransfer` / `fundManyWithTransfer` (operator): the `TransferWithAuthorization(from, to = this,
///        value, validAfter, validBefore, nonce)` that stock x402 clients sign with a random nonce; the operator sets
///        `payer = from`, `amount = value`, `salt = nonce`. The payer signed no terms, so only the operator may book
///        it: anyone else who saw the authorization could book it with another provider, fee or arbiter;
///      - `fundTransferred` (operator): such an authorization that someone submitted straight to the token (see
///        Liabilities).
///      The ABI tuple of `JobTerms` is `(address payer, address provider, address token, uint256 amount, uint256 fee,
///      address arbiter, uint64 fundingDeadline, uint64 completionDeadline, uint64 reviewWindow, bytes32 salt)` and
///      is stable. `amount` stays `uint256` (the EIP-3009 value type) but must not exceed `type(uint128).max`, which
///      keeps every bps product below 2^256. `payMany` (operator) credits x402 purchases with no job at all:
///      provider `amount - fee`, fee recipient `fee`, claimable at once (`creditTransferred` for a front-run one).
///
///      Lifecycle (terminal states never change again):
///      - None -> Funded: as above, while `block.timestamp < fundingDeadline`.
///      - Funded -> Completed: `markCompleted`, provider or operator, while `block.timestamp < completionDeadline`.
///      - Funded | Completed -> Disputed: `dispute`, payer (or `disputeWithSig`, anyone relaying the payer's EIP-712
///        signature); from Completed only while the review window is open (`block.timestamp < completedAt +
///        reviewWindow`).
///      - Funded | Completed | Disputed -> Released: `release` by the payer at any time (or `releaseWithSig`); by
///        anyone once Completed and `block.timestamp >= completedAt + reviewWindow`. The payer may release a Disputed
///        job: that concedes the dispute, and only the payer's own money is at stake.
///      - Funded | Completed | Disputed -> Refunded: `refund` by the provider at any time; by the operator while the
///        job is still Funded (never completed: the provider reported failure), at any time; by the payer once
///        `block.timestamp >= completionDeadline` if the job is still Funded. Money goes back only to the payer.
///      - Disputed -> Resolved: `resolve`, arbiter, with a provider share in bps. A dispute stays open until the
///        arbiter resolves it or a party concedes (payer releases, provider refunds).
///      `stepMany` (operator) relays Complete, Release, ReleaseWithSig, DisputeWithSig and Refund steps with exactly
///      the authority the operator has through the direct entries: a batch grants nothing new. Each transition has
///      one internal implementation taking the authorising caller (`msg.sender`, the payer of a valid signature, or
///      the operator inside `stepMany`).
///
///      Batches. `fundMany`, `fundManyWithTransfer`, `payMany`, `stepMany` and `claimMany` run each item in a
///      self-call with a fixed stipend (`FUND_ITEM_GAS`), checked against `gasleft()` right before the CALL (too
///      little gas reverts the whole batch, so a relayer cannot make one item fail), copy at most `MAX_REASON_BYTES`
///      of a failed item's revert data into its failure event, and never revert for one item's failure.
///
///      Liabilities. `liabilities[token]` is what the escrow owes in that token: every funding and payment credit
///      adds its amount, every claim subtracts it; transitions only move money from jobs to balances. So
///      `liabilities == open jobs + claimable balances` and `balanceOf(this) == liabilities + surplus`, where the
///      surplus is money that arrived outside the escrow's entries. That happens when someone front-runs a
///      `TransferWithAuthorization` paid to the escrow by submitting it to the token: the money lands, nothing is
///      booked, and the operator's entry fails (authorization used). `fundTransferred` and `creditTransferred` book
///      it: they require the authorization used at the token and `surplus >= amount`, so even a compromised operator
///      key can book only surplus, never money owed to jobs or balances.
///
///      Rebuilding state from events alone. `JobFunded` carries the full terms (token, payer, provider, amount, fee);
///      later events carry the jobId and the amounts credited, all in `terms.token`:
///      - `JobReleased(jobId, providerAmount, feeAmount)`: provider += providerAmount, feeRecipient += feeAmount;
///      - `JobRefunded(jobId, payerAmount)`: payer += payerAmount;
///      - `JobResolved(jobId, bps, payerAmount, providerAmount, feeAmount)`: payer, provider and feeRecipient credited;
///      - `PaymentCredited(token, payer, nonce, provider, providerAmount, feeAmount)`: provider and feeRecipient
///        credited, liabilities += their sum;
///      - `Claimed(token, account, to, amount)`: the account's balance of that token drops to zero.
///      `feeRecipient` is immutable, so these events determine every job, every `claimable` balance and
///      `liabilities`. No separate per-credit event is emitted: two of them would cost ~4k gas per release and break
///      the 60k release budget.
///
///      Safety. Every state-changing entry point holds a transient reentrancy guard; the batch item entries answer
///      only this contract while it holds it. State is written and the event emitted before the external calls (the
///      token, in the fundings, `payMany` items and claims; the bookings' token calls are views). Balances and
///      liabilities are kept per token, so a misbehaving token named in some job's terms can only affect balances in
///      that token. Payouts are pulled: a paused token or a blacklisted recipient delays a claim (or needs another
///      `to`) but never blocks a transition. Note that a claimer blacklisted by the token can still claim to a clean
///      address.
///
///      Gas (whole transactions, steady state, on MockUSDC as FiatToken v2.2 is deployed; contracts/test/benchmark,
///      docs/GAS.md): fund ~131k, fundWithTransfer ~131k, fundManyWithTransfer ~88k per job at N = 100, payMany ~60k
///      per payment at N = 100, release ~60k, releaseWithSig ~69k, claim ~57k. The liabilities slot costs ~5.1k on
///      a lone fund or claim and ~0.35k per item in a batch of 100 (warm after the first); nothing on transitions.
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

    /// @notice One job funded by an x402 `exact` authorization (`TransferWithAuthorization`) paid to this escrow.
    /// @param terms The job's terms, built by the operator: `payer` is the authorization's `from`, `amount` its
    ///        `value`, and `salt` its EIP-3009 nonce.
    /// @param validAfter The authorization's `validAfter`, Unix seconds.
    /// @param validBefore The authorization's `validBefore`, Unix seconds.
    /// @param signature The payer's `TransferWithAuthorization` signature (65-byte ECDSA or ERC-1271 bytes).
    struct TransferFunding {
        JobTerms terms;
        uint256 validAfter;
        uint256 validBefore;
        bytes signature;
    }

    /// @notice One purchase paid straight into claimable balances, with no job lifecycle (a data_api call).
    /// @param payer The authorization's `from`.
    /// @param provider Credited `amount - fee`.
    /// @param amount The authorization's `value`, atomic units; 0 < amount <= MAX_AMOUNT.
    /// @param fee Credited to the fee recipient; at most `amount * maxFeeBps / 10_000`.
    /// @param validAfter The authorization's `validAfter`, Unix seconds.
    /// @param validBefore The authorization's `validBefore`, Unix seconds.
    /// @param nonce The authorization's EIP-3009 nonce (random, chosen by the payer's client).
    /// @param signature The payer's `TransferWithAuthorization` signature (65-byte ECDSA or ERC-1271 bytes).
    struct DirectPayment {
        address payer;
        address provider;
        uint256 amount;
        uint256 fee;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature;
    }

    /// @notice What one `Step` of `stepMany` does.
    /// @dev Complete: `markCompleted` with the operator's authority. Release: `release` with the operator's
    ///      authority (in practice anyone's right once the review window has passed). ReleaseWithSig and
    ///      DisputeWithSig: `releaseWithSig` and `disputeWithSig` with the step's deadline and signature. Refund:
    ///      the operator's `refund` of a job still Funded. ResolveWithSig: `resolveWithSig` with the step's
    ///      provider share, deadline and the arbiter's signature.
    enum StepKind {
        Complete,
        Release,
        ReleaseWithSig,
        DisputeWithSig,
        Refund,
        ResolveWithSig
    }

    /// @notice One lifecycle step the operator relays in `stepMany`.
    /// @param kind What the step does.
    /// @param terms The job's terms.
    /// @param deadline For the signed kinds: the signature's deadline, Unix seconds (inclusive); otherwise ignored.
    /// @param signature For the signed kinds: the payer's (or, for ResolveWithSig, the arbiter's) EIP-712
    ///        signature; otherwise ignored.
    /// @param providerBps For ResolveWithSig: the provider's share in bps; otherwise ignored.
    struct Step {
        StepKind kind;
        JobTerms terms;
        uint256 deadline;
        bytes signature;
        uint16 providerBps;
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

    /// @notice Gas given to each item of every batched entry (`fundMany`, `fundManyWithTransfer`, `payMany`,
    ///         `stepMany`, `claimMany`). An EOA-signed USDC funding uses about 80k, a claim about 30k; the rest is
    ///         headroom for ERC-1271 wallets. The stipend is a cap: unused gas returns to the batch.
    uint256 public constant FUND_ITEM_GAS = 300_000;

    /// @notice Gas a batched entry must hold right before each item's CALL: the stipend under the 63/64 rule
    ///         (EIP-150) plus room to log a failure, move on and close the batch.
    uint256 public constant FUND_ITEM_GAS_REQUIRED = FUND_ITEM_GAS * 64 / 63 + 20_000;

    /// @notice Longest revert reason a batch's failure event (`JobFundFailed`, `PaymentCreditFailed`, `StepFailed`,
    ///         `ClaimFailed`) carries; longer ones are cut (a returndata bomb could otherwise make logging the failure
    ///         run the whole batch out of gas).
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @notice EIP-712 type of the payer's signed release: `keccak256("Release(bytes32 jobId,uint256 deadline)")`.
    bytes32 public constant RELEASE_TYPEHASH = keccak256("Release(bytes32 jobId,uint256 deadline)");

    /// @notice EIP-712 type of the payer's signed dispute: `keccak256("Dispute(bytes32 jobId,uint256 deadline)")`.
    bytes32 public constant DISPUTE_TYPEHASH = keccak256("Dispute(bytes32 jobId,uint256 deadline)");

    /// @notice EIP-712 type of the arbiter's signed resolution:
    ///         `keccak256("Resolve(bytes32 jobId,uint16 providerBps,uint256 deadline)")`.
    bytes32 public constant RESOLVE_TYPEHASH = keccak256("Resolve(bytes32 jobId,uint16 providerBps,uint256 deadline)");

    /// @dev EIP-712's domain type, with the four fields this escrow uses (EIP-5267 `fields` = 0x0f).
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @dev `keccak256` of the EIP-712 domain's name, "Clearing Escrow", and version, "1".
    bytes32 private constant _NAME_HASH = keccak256("Clearing Escrow");
    bytes32 private constant _VERSION_HASH = keccak256("1");

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

    /// @notice The marketplace's relayer: may `markCompleted` any job besides its provider, refund a job still Funded,
    ///         and alone may call the operator entries (`fundWithTransfer`, `fundManyWithTransfer`, `payMany`,
    ///         `stepMany`, `fundTransferred`, `creditTransferred`). Zero disables it (no transaction has a zero sender).
    address public immutable operator;

    /// @dev The EIP-712 domain separator as built at deployment, and the chain and address it was built for; rebuilt
    ///      when either differs (a fork with another chain id), as OpenZeppelin's EIP712 does.
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;
    address private immutable _cachedThis;

    // ------------------------------------------------------------------ storage

    /// @notice What each account may `claim`, per token, in atomic units.
    mapping(address token => mapping(address account => uint256 amount)) public claimable;

    /// @dev One packed word per job: see `JobState`.
    mapping(bytes32 jobId => JobSlot slot) private _jobs;

    /// @notice What the escrow owes, per token, in atomic units: the amounts of open jobs plus every `claimable`
    ///         balance. Every funding and payment credit adds its amount, every claim subtracts it; releases,
    ///         refunds and resolutions only move money from a job to balances and leave it unchanged. The token
    ///         balance above it is `surplus`.
    mapping(address token => uint256 amount) public liabilities;

    /// @dev Authorizations booked by `fundTransferred` or `creditTransferred`, by `keccak256(abi.encode(token, payer,
    ///      nonce))`: each moved its money once, so it books once, whatever terms a later booking names.
    mapping(bytes32 key => bool booked) private _booked;

    // ------------------------------------------------------------------ events

    /// @notice A job was funded; carries its full terms, from which every later event of the job is interpreted.
    /// @param jobId The job id (also the EIP-3009 nonce used).
    /// @param payer `terms.payer`, indexed for lookups.
    /// @param provider `terms.provider`, indexed for lookups.
    /// @param terms The full terms.
    event JobFunded(bytes32 indexed jobId, address indexed payer, address indexed provider, JobTerms terms);

    /// @notice One item of `fundMany` or `fundManyWithTransfer` failed; nothing of it was written.
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
    /// @param to Who received the tokens (`account` itself for `claimFor` and `claimMany`).
    /// @param amount Atomic units sent.
    event Claimed(address indexed token, address indexed account, address to, uint256 amount);

    /// @notice Closes a `fundManyWithTransfer` batch, after exactly `items` item events (`JobFunded` or
    ///         `JobFundFailed`), in order.
    /// @param items How many items the batch held.
    /// @param funded How many of them emitted `JobFunded`.
    event FundBatchSettled(uint256 items, uint256 funded);

    /// @notice A direct payment was credited: `provider` += `providerAmount`, fee recipient += `feeAmount`, in
    ///         `token`; the two sum to the payment's amount, which the escrow received.
    /// @param token The token paid and credited.
    /// @param payer The authorization's `from`.
    /// @param nonce The authorization's EIP-3009 nonce.
    /// @param provider Credited `providerAmount`.
    /// @param providerAmount `amount - fee`, atomic units.
    /// @param feeAmount `fee`, atomic units.
    event PaymentCredited(
        address indexed token,
        address indexed payer,
        bytes32 indexed nonce,
        address provider,
        uint256 providerAmount,
        uint256 feeAmount
    );

    /// @notice One item of `payMany` failed; nothing of it was written and nothing moved.
    /// @param payer The item's `payer`.
    /// @param nonce The item's `nonce`.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event PaymentCreditFailed(address indexed payer, bytes32 indexed nonce, bytes reason);

    /// @notice Closes a `payMany` batch, after exactly `payments` item events (`PaymentCredited` or
    ///         `PaymentCreditFailed`), in order.
    /// @param token The token of every item.
    /// @param payments How many items the batch held.
    /// @param paid How many of them emitted `PaymentCredited`.
    event PayBatchSettled(address indexed token, uint256 payments, uint256 paid);

    /// @notice One step of `stepMany` failed; nothing of it was written.
    /// @param jobId The id of the step's terms.
    /// @param kind The step's kind.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event StepFailed(bytes32 indexed jobId, StepKind kind, bytes reason);

    /// @notice Closes a `stepMany` batch, after exactly `steps` step outcomes (the step's own event, or
    ///         `StepFailed`), in order.
    /// @param steps How many steps the batch held.
    /// @param applied How many of them succeeded.
    event StepsApplied(uint256 steps, uint256 applied);

    /// @notice One account of `claimMany` could not be paid (nothing to claim, a blacklisted account, a paused
    ///         token); its balance is unchanged.
    /// @param token The token claimed.
    /// @param account The account.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event ClaimFailed(address indexed token, address indexed account, bytes reason);

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

    /// @notice A batched entry holds too little gas to give item `index` its full stipend.
    error Escrow_InsufficientGas(uint256 index, uint256 available, uint256 required);

    /// @notice A batch item entry (`fundBatchItem`, `fundWithTransferBatchItem`, `payBatchItem`, `stepBatchItem`,
    ///         `claimBatchItem`) was called by someone other than this contract inside its batch.
    error Escrow_OnlySelf(address caller);

    /// @notice `caller` is not the operator, and the entry is the operator's alone.
    error Escrow_NotOperator(address caller);

    /// @notice The payer's signature was valid only while `block.timestamp <= deadline`.
    error Escrow_SignatureExpired(uint256 nowTs, uint256 deadline);

    /// @notice The signature is not `signer`'s (ECDSA, or ERC-1271 if `signer` has code) over the action on `jobId`.
    error Escrow_InvalidSignature(bytes32 jobId, address signer);

    /// @notice `payer`'s EIP-3009 authorization `nonce` is not used at the token, so it moved no money here.
    error Escrow_AuthorizationNotUsed(address payer, bytes32 nonce);

    /// @notice The escrow's `token` balance above its liabilities, `surplus`, is below the `amount` to book.
    error Escrow_InsufficientSurplus(address token, uint256 surplus, uint256 amount);

    /// @notice `fundTransferred` or `creditTransferred` already booked `payer`'s authorization `nonce`.
    error Escrow_AlreadyBooked(address payer, bytes32 nonce);

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

    /// @dev The operator entries: reverts with `Escrow_NotOperator` for anyone else.
    modifier onlyOperator() {
        if (msg.sender != operator) revert Escrow_NotOperator(msg.sender);
        _;
    }

    /// @dev The batch item entries: only this contract, inside one of its own batches (which holds the guard).
    modifier onlySelf() {
        if (msg.sender != address(this) || !_guardEntered()) revert Escrow_OnlySelf(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ constructor

    /// @param feeRecipient_ Receives every fee; must not be zero.
    /// @param maxFeeBps_ Largest fee in bps of a job's amount, at most 10_000 (the deployment uses 500).
    /// @param operator_ The marketplace's relayer (see `operator`); zero disables it.
    constructor(address feeRecipient_, uint16 maxFeeBps_, address operator_) {
        if (feeRecipient_ == address(0)) revert Escrow_ZeroAddress(AddressField.FeeRecipient);
        if (maxFeeBps_ > BPS) revert Escrow_MaxFeeBpsTooHigh(maxFeeBps_);
        feeRecipient = feeRecipient_;
        maxFeeBps = maxFeeBps_;
        operator = operator_;
        _cachedChainId = block.chainid;
        _cachedThis = address(this);
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    // ------------------------------------------------------------------ external: funding

    /// @notice Funds a job by pulling `terms.amount` from the payer with their EIP-3009 authorization.
    /// @dev Anyone may submit. Requires valid terms (non-zero payer, provider, token and arbiter;
    ///      0 < amount <= MAX_AMOUNT; fee <= amount * maxFeeBps / 10_000; fundingDeadline <= completionDeadline),
    ///      `block.timestamp < fundingDeadline`, and a job never funded before. Writes the job, adds the amount to
    ///      `liabilities` and emits `JobFunded`, then calls
    ///      `receiveWithAuthorization(payer, this, amount, 0, fundingDeadline, jobId, signature)` and requires the
    ///      escrow's balance to grow by exactly `amount` (`Escrow_BalanceDelta`).
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
    ///      Every other batched entry isolates its items the same way.
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
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.fundBatchItem, (terms[i], signatures[i])), i)) {
                ++funded;
            } else {
                bytes memory reason = _boundedReturnData();
                emit JobFundFailed(_jobIdOf(terms[i]), terms[i].payer, reason);
            }
            _resetMemory(freeMemory);
        }
    }

    /// @notice One item of `fundMany`; callable only by this contract while `fundMany` holds the reentrancy guard.
    /// @dev Same checks, effects and event as `fund`.
    /// @param terms The job's terms.
    /// @param signature The payer's signature.
    function fundBatchItem(JobTerms calldata terms, bytes calldata signature) external onlySelf {
        _fund(terms, signature);
    }

    /// @notice Funds a job with an x402 `exact` payment to this escrow: the payer's `TransferWithAuthorization`
    ///         with a random nonce, as stock x402 clients sign it.
    /// @dev Operator only, because the payer signed only `(from, to = escrow, value, validAfter, validBefore,
    ///      nonce)`, not the terms: anyone who saw the authorization could otherwise book it with other terms
    ///      (another provider, fee or arbiter). The operator builds the terms with `payer` = the authorization's
    ///      `from`, `amount` = its `value` and `salt` = its nonce, so each authorization names one jobId. Same term
    ///      checks as `fund` (valid terms, `block.timestamp < fundingDeadline`, never funded before); writes the job,
    ///      adds the amount to `liabilities`, emits `JobFunded`, then calls
    ///      `transferWithAuthorization(payer, this, amount, validAfter, validBefore, salt, signature)` and requires the
    ///      escrow's balance to grow by exactly `amount`. If someone submits the authorization to the token first,
    ///      this reverts (authorization used) and the money is surplus: book it with `fundTransferred`.
    /// @param terms The job's terms (see above).
    /// @param validAfter The authorization's `validAfter`, Unix seconds.
    /// @param validBefore The authorization's `validBefore`, Unix seconds.
    /// @param signature The payer's TransferWithAuthorization signature (65-byte ECDSA or ERC-1271 bytes).
    function fundWithTransfer(
        JobTerms calldata terms,
        uint256 validAfter,
        uint256 validBefore,
        bytes calldata signature
    ) external nonReentrant onlyOperator {
        _fundWithTransfer(terms, validAfter, validBefore, signature);
    }

    /// @notice `fundWithTransfer` for many jobs; each item succeeds or fails on its own.
    /// @dev Operator only (see `fundWithTransfer`). Items are isolated as in `fundMany` (self-call
    ///      `fundWithTransferBatchItem`, `FUND_ITEM_GAS`, `Escrow_InsufficientGas`); per item `JobFunded` or
    ///      `JobFundFailed(jobId, payer, reason)`, then `FundBatchSettled(items, funded)`.
    /// @param items The jobs and their authorizations.
    /// @return funded How many items were funded.
    function fundManyWithTransfer(TransferFunding[] calldata items)
        external
        nonReentrant
        onlyOperator
        returns (uint256 funded)
    {
        uint256 count = items.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.fundWithTransferBatchItem, (items[i])), i)) {
                ++funded;
            } else {
                bytes memory reason = _boundedReturnData();
                emit JobFundFailed(_jobIdOf(items[i].terms), items[i].terms.payer, reason);
            }
            _resetMemory(freeMemory);
        }
        emit FundBatchSettled(count, funded);
    }

    /// @notice One item of `fundManyWithTransfer`; callable only by this contract inside that batch.
    /// @dev Same checks, effects and event as `fundWithTransfer`.
    /// @param item The job and its authorization.
    function fundWithTransferBatchItem(TransferFunding calldata item) external onlySelf {
        _fundWithTransfer(item.terms, item.validAfter, item.validBefore, item.signature);
    }

    /// @notice Credits many direct purchases (x402 `exact` payments to this escrow) to claimable balances, with no
    ///         job lifecycle; each item succeeds or fails on its own.
    /// @dev Operator only, for the reason given at `fundWithTransfer`: the payer signed no provider or fee. Items are
    ///      isolated as in `fundMany` (self-call `payBatchItem`). Per item: requires 0 < amount <= MAX_AMOUNT,
    ///      fee <= amount * maxFeeBps / 10_000 and a non-zero provider; credits `claimable[token][provider]` with
    ///      `amount - fee` and `claimable[token][feeRecipient]` with `fee`, adds `amount` to `liabilities`, emits
    ///      `PaymentCredited`, then calls `transferWithAuthorization(payer, this, amount, validAfter, validBefore,
    ///      nonce, signature)` and requires the balance to grow by exactly `amount`, so a batch never credits more
    ///      than it received. A failed item emits `PaymentCreditFailed(payer, nonce, reason)`. Closes with
    ///      `PayBatchSettled(token, payments, paid)`. Reverts the whole batch for a zero `token`.
    /// @param token The EIP-3009 token (USDC) every payment is in.
    /// @param payments The purchases and their authorizations.
    /// @return paid How many items were credited.
    function payMany(address token, DirectPayment[] calldata payments)
        external
        nonReentrant
        onlyOperator
        returns (uint256 paid)
    {
        if (token == address(0)) revert Escrow_ZeroAddress(AddressField.Token);
        uint256 count = payments.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.payBatchItem, (token, payments[i])), i)) {
                ++paid;
            } else {
                bytes memory reason = _boundedReturnData();
                emit PaymentCreditFailed(payments[i].payer, payments[i].nonce, reason);
            }
            _resetMemory(freeMemory);
        }
        emit PayBatchSettled(token, count, paid);
    }

    /// @notice One item of `payMany`; callable only by this contract inside that batch.
    /// @param token The batch's token.
    /// @param payment The purchase and its authorization.
    function payBatchItem(address token, DirectPayment calldata payment) external onlySelf {
        _creditPayment(token, payment);
        _pullTransfer(
            token,
            payment.payer,
            payment.amount,
            payment.validAfter,
            payment.validBefore,
            payment.nonce,
            payment.signature
        );
    }

    /// @notice Books a job whose `TransferWithAuthorization` (nonce `terms.salt`) was already submitted to the token
    ///         by someone else, so the money sits in the escrow as surplus and `fundWithTransfer` can no longer take
    ///         it.
    /// @dev Operator only. Requires what `fundWithTransfer` requires of the terms, that the token reports
    ///      `authorizationState(payer, salt)` as used, that no booking entry took that authorization before
    ///      (`Escrow_AlreadyBooked`), and `surplus(token) >= amount`; then writes the job, adds the
    ///      amount to `liabilities` and emits `JobFunded`, exactly as a funding does. The token cannot tell which
    ///      transfer an authorization made, so the operator checks off-chain (the token's `AuthorizationUsed` and
    ///      `Transfer` logs) that the stray transfer was that authorization, paying this escrow that amount. Even a
    ///      compromised operator key can only book surplus, never money owed to other jobs or balances.
    /// @param terms The job's terms, as for `fundWithTransfer`.
    function fundTransferred(JobTerms calldata terms) external nonReentrant onlyOperator {
        _markBooked(terms.token, terms.payer, terms.salt);
        _openJob(terms);
        _requireTransferred(terms.token, terms.payer, terms.salt, terms.amount);
    }

    /// @notice Credits a direct payment whose `TransferWithAuthorization` was already submitted to the token by
    ///         someone else (its `payMany` item failed: authorization used), from the surplus it left.
    /// @dev Operator only. Same checks, credits and `PaymentCredited` event as a `payMany` item, plus
    ///      `authorizationState(payer, nonce)` used, not booked before, and `surplus(token) >= amount` (`validAfter`, `validBefore` and
    ///      `signature` are not read). As for `fundTransferred`, the operator checks the token's logs off-chain, and
    ///      a compromised operator key can only book surplus.
    /// @param token The token paid.
    /// @param payment The purchase.
    function creditTransferred(address token, DirectPayment calldata payment) external nonReentrant onlyOperator {
        if (token == address(0)) revert Escrow_ZeroAddress(AddressField.Token);
        _creditTransferred(token, payment);
    }

    /// @notice `creditTransferred` for many front-run payments of one token; each item succeeds or fails on its own.
    /// @dev Operator only. Items are isolated as in `payMany` (self-call `creditTransferredItem`); per item
    ///      `PaymentCredited` or `PaymentCreditFailed(payer, nonce, reason)`, then `PayBatchSettled(token, payments,
    ///      credited)`. Clearing sends it to give a front-run purchase's money back: the payment credited to its own
    ///      payer with no fee, then claimed to the payer's wallet. Reverts the whole batch for a zero `token`.
    /// @param token The token every payment is in.
    /// @param payments The payments (`validAfter`, `validBefore` and `signature` are not read).
    /// @return credited How many items were credited.
    function creditManyTransferred(address token, DirectPayment[] calldata payments)
        external
        nonReentrant
        onlyOperator
        returns (uint256 credited)
    {
        if (token == address(0)) revert Escrow_ZeroAddress(AddressField.Token);
        uint256 count = payments.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.creditTransferredItem, (token, payments[i])), i)) {
                ++credited;
            } else {
                bytes memory reason = _boundedReturnData();
                emit PaymentCreditFailed(payments[i].payer, payments[i].nonce, reason);
            }
            _resetMemory(freeMemory);
        }
        emit PayBatchSettled(token, count, credited);
    }

    /// @notice One item of `creditManyTransferred`; callable only by this contract inside that batch.
    /// @param token The batch's token.
    /// @param payment The payment.
    function creditTransferredItem(address token, DirectPayment calldata payment) external onlySelf {
        _creditTransferred(token, payment);
    }

    // ------------------------------------------------------------------ external: lifecycle

    /// @notice Marks the job completed and opens the payer's review window.
    /// @dev Provider or operator only; requires status Funded and `block.timestamp < completionDeadline`. Records
    ///      `completedAt`; with a zero review window anyone may release at once. Emits
    ///      `JobCompleted(jobId, completedAt, completedAt + reviewWindow)`.
    /// @param terms The job's terms.
    function markCompleted(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _markCompleted(jobId, t, msg.sender);
    }

    /// @notice Pays the job out to the provider: `amount - fee` to the provider, `fee` to the fee recipient.
    /// @dev By the payer in Funded, Completed or Disputed (releasing a Disputed job concedes the dispute); by anyone
    ///      once Completed and `block.timestamp >= completedAt + reviewWindow`. Credits `claimable`, emits
    ///      `JobReleased(jobId, providerAmount, feeAmount)`. No external call.
    /// @param terms The job's terms.
    function release(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _release(jobId, t, msg.sender);
    }

    /// @notice `release` with the payer's authority, by the payer's EIP-712 signature, so the payer needs no gas.
    /// @dev Anyone may relay. The signature is `terms.payer`'s over `Release(bytes32 jobId,uint256 deadline)` in this
    ///      escrow's domain (`releaseDigest`): ECDSA for an account without code, ERC-1271 otherwise; it is valid
    ///      while `block.timestamp <= deadline` (`Escrow_SignatureExpired`, `Escrow_InvalidSignature`). Then exactly
    ///      the payer's `release(terms)`. The signature carries no nonce: a replay is harmless, since a job is
    ///      released at most once and a second release reverts on the status.
    /// @param terms The job's terms.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @param signature The payer's signature (65-byte ECDSA or ERC-1271 bytes).
    function releaseWithSig(JobTerms calldata terms, uint256 deadline, bytes calldata signature) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _requirePayerSignature(RELEASE_TYPEHASH, jobId, t.payer, deadline, signature);
        _release(jobId, t, t.payer);
    }

    /// @notice Returns the full amount to the payer; no fee is taken.
    /// @dev By the provider in any open status (Funded, Completed, Disputed); by the operator only in Funded (never
    ///      completed; the provider reported failure), at any time; by the payer only in Funded and once
    ///      `block.timestamp >= completionDeadline`. Nobody else may refund a Completed or Disputed job: that money
    ///      is the provider's or the arbiter's to return. Credits `claimable`, emits `JobRefunded(jobId, amount)`.
    ///      No external call.
    /// @param terms The job's terms.
    function refund(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _refund(jobId, t, msg.sender);
    }

    /// @notice The payer disputes the job, handing the decision to the arbiter.
    /// @dev Payer only; requires status Funded, or Completed with the review window still open
    ///      (`block.timestamp < completedAt + reviewWindow`). Emits `JobDisputed(jobId)`.
    /// @param terms The job's terms.
    function dispute(JobTerms calldata terms) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _dispute(jobId, t, msg.sender);
    }

    /// @notice `dispute` with the payer's authority, by the payer's EIP-712 signature, so the payer needs no gas.
    /// @dev Anyone may relay. Signed by `terms.payer` over `Dispute(bytes32 jobId,uint256 deadline)`
    ///      (`disputeDigest`), checked as in `releaseWithSig`; then exactly the payer's `dispute(terms)`. A replay is
    ///      harmless: a job is disputed at most once (Disputed cannot be disputed again).
    /// @param terms The job's terms.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @param signature The payer's signature (65-byte ECDSA or ERC-1271 bytes).
    function disputeWithSig(JobTerms calldata terms, uint256 deadline, bytes calldata signature) external nonReentrant {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _requirePayerSignature(DISPUTE_TYPEHASH, jobId, t.payer, deadline, signature);
        _dispute(jobId, t, t.payer);
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
        _resolve(jobId, t, msg.sender, providerBps);
    }

    /// @notice `resolve` with the arbiter's authority, by the arbiter's EIP-712 signature, so the arbiter's key
    ///         signs off-line and needs no gas.
    /// @dev Anyone may relay. Signed by `terms.arbiter` over `Resolve(bytes32 jobId,uint16 providerBps,uint256
    ///      deadline)` (`resolveDigest`), valid while `block.timestamp <= deadline`; then exactly the arbiter's
    ///      `resolve(terms, providerBps)`. A replay is harmless: a job is resolved at most once, and the share is
    ///      part of what is signed, so a relayer cannot change it.
    /// @param terms The job's terms.
    /// @param providerBps The provider's share of the amount, in bps.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @param signature The arbiter's signature (65-byte ECDSA or ERC-1271 bytes).
    function resolveWithSig(JobTerms calldata terms, uint16 providerBps, uint256 deadline, bytes calldata signature)
        external
        nonReentrant
    {
        (bytes32 jobId, JobTerms memory t) = _load(terms);
        _requireSignature(t.arbiter, _resolveDigest(jobId, providerBps, deadline), jobId, deadline, signature);
        _resolve(jobId, t, t.arbiter, providerBps);
    }

    /// @notice Applies many lifecycle steps the operator relays; each step succeeds or fails on its own.
    /// @dev Operator only. Each step runs with exactly the authority the operator has calling the direct entries,
    ///      so the batch grants the operator nothing new: Complete = `markCompleted` as the operator; Release =
    ///      `release` as the operator (anyone's right once the review window has passed); ReleaseWithSig and
    ///      DisputeWithSig = `releaseWithSig` and `disputeWithSig` with `step.deadline` and `step.signature`;
    ///      Refund = the operator's `refund` of a job still Funded; ResolveWithSig = `resolveWithSig` with
    ///      `step.providerBps`, `step.deadline` and the arbiter's `step.signature`. Steps are isolated as in `fundMany` (self-call
    ///      `stepBatchItem`) and applied in order, so a later step sees an earlier one's effect. On success the
    ///      step's own event (`JobCompleted`, `JobReleased`, `JobDisputed`, `JobRefunded`, `JobResolved`), on failure
    ///      `StepFailed(jobId, kind, reason)`; closes with `StepsApplied(steps, applied)`.
    /// @param steps The steps, in order.
    /// @return applied How many steps succeeded.
    function stepMany(Step[] calldata steps) external nonReentrant onlyOperator returns (uint256 applied) {
        uint256 count = steps.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.stepBatchItem, (steps[i])), i)) {
                ++applied;
            } else {
                bytes memory reason = _boundedReturnData();
                emit StepFailed(_jobIdOf(steps[i].terms), steps[i].kind, reason);
            }
            _resetMemory(freeMemory);
        }
        emit StepsApplied(count, applied);
    }

    /// @notice One step of `stepMany`; callable only by this contract inside that batch.
    /// @param step The step.
    function stepBatchItem(Step calldata step) external onlySelf {
        (bytes32 jobId, JobTerms memory t) = _load(step.terms);
        StepKind kind = step.kind;
        if (kind == StepKind.Complete) {
            _markCompleted(jobId, t, operator);
        } else if (kind == StepKind.Release) {
            _release(jobId, t, operator);
        } else if (kind == StepKind.ReleaseWithSig) {
            _requirePayerSignature(RELEASE_TYPEHASH, jobId, t.payer, step.deadline, step.signature);
            _release(jobId, t, t.payer);
        } else if (kind == StepKind.DisputeWithSig) {
            _requirePayerSignature(DISPUTE_TYPEHASH, jobId, t.payer, step.deadline, step.signature);
            _dispute(jobId, t, t.payer);
        } else if (kind == StepKind.ResolveWithSig) {
            bytes32 digest = _resolveDigest(jobId, step.providerBps, step.deadline);
            _requireSignature(t.arbiter, digest, jobId, step.deadline, step.signature);
            _resolve(jobId, t, t.arbiter, step.providerBps);
        } else {
            _refund(jobId, t, operator);
        }
    }

    // ------------------------------------------------------------------ external: claims

    /// @notice Sends the caller's whole claimable balance of `token` to `to`.
    /// @dev Requires a non-zero balance (`Escrow_NothingToClaim`) and a non-zero `to`. Zeroes the balance, subtracts
    ///      it from `liabilities` and emits `Claimed(token, msg.sender, to, amount)` before the transfer; a failed
    ///      transfer (pause, blacklist) reverts the whole claim, so the balance stays claimable.
    /// @param token The token to claim.
    /// @param to Receives the tokens.
    /// @return amount What was sent, in atomic units.
    function claim(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert Escrow_ZeroAddress(AddressField.ClaimRecipient);
        amount = _claim(token, msg.sender, to);
    }

    /// @notice Sends `account`'s whole claimable balance of `token` to `account` itself.
    /// @dev Anyone may call: the money can only go to the account it belongs to, so a relayer (the marketplace
    ///      paying out its providers) needs no permission. Paying elsewhere still needs the account itself
    ///      (`claim(token, to)`). Same checks, effects and event as `claim`, with `to = account`.
    /// @param token The token to claim.
    /// @param account Whose balance is paid, and who receives it.
    /// @return amount What was sent, in atomic units.
    function claimFor(address token, address account) external nonReentrant returns (uint256 amount) {
        amount = _claim(token, account, account);
    }

    /// @notice `claimFor` for many accounts of one token; each account succeeds or fails on its own.
    /// @dev Anyone may call. Accounts are isolated as in `fundMany` (self-call `claimBatchItem`): per account
    ///      `Claimed(token, account, account, amount)`, or `ClaimFailed(token, account, reason)` when there is nothing
    ///      to claim or the token refuses the transfer (a blacklisted account, a paused token), which leaves that
    ///      balance claimable.
    /// @param token The token to claim.
    /// @param accounts Whose balances to pay, each to itself.
    /// @return claimed How many accounts were paid.
    function claimMany(address token, address[] calldata accounts) external nonReentrant returns (uint256 claimed) {
        uint256 count = accounts.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.claimBatchItem, (token, accounts[i])), i)) {
                ++claimed;
            } else {
                bytes memory reason = _boundedReturnData();
                emit ClaimFailed(token, accounts[i], reason);
            }
            _resetMemory(freeMemory);
        }
    }

    /// @notice One account of `claimMany`; callable only by this contract inside that batch.
    /// @param token The token to claim.
    /// @param account Whose balance is paid, and who receives it.
    function claimBatchItem(address token, address account) external onlySelf {
        _claim(token, account, account);
    }

    // ------------------------------------------------------------------ views

    /// @notice The job id of `terms` on this escrow and chain; also the EIP-3009 nonce of its `fund` authorization.
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

    /// @notice The escrow's balance of `token` above what it owes: money that arrived outside the escrow's own
    ///         entries (an authorization submitted straight to the token, a plain transfer), which only
    ///         `fundTransferred` and `creditTransferred` can book.
    /// @param token The token.
    /// @return `balanceOf(this) - liabilities[token]`, or 0 if the balance is lower (a token that took money back).
    function surplus(address token) external view returns (uint256) {
        uint256 balance = IERC20(token).balanceOf(address(this));
        uint256 owed = liabilities[token];
        return balance > owed ? balance - owed : 0;
    }

    /// @notice The EIP-712 digest the payer signs to release `jobId` (for `releaseWithSig`).
    /// @param jobId The job id.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @return The digest of `Release(jobId, deadline)` in this escrow's domain.
    function releaseDigest(bytes32 jobId, uint256 deadline) external view returns (bytes32) {
        return _digest(RELEASE_TYPEHASH, jobId, deadline);
    }

    /// @notice The EIP-712 digest the payer signs to dispute `jobId` (for `disputeWithSig`).
    /// @param jobId The job id.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @return The digest of `Dispute(jobId, deadline)` in this escrow's domain.
    function disputeDigest(bytes32 jobId, uint256 deadline) external view returns (bytes32) {
        return _digest(DISPUTE_TYPEHASH, jobId, deadline);
    }

    /// @notice The EIP-712 digest the arbiter signs to resolve `jobId` (for `resolveWithSig`).
    /// @param jobId The job id.
    /// @param providerBps The provider's share of the amount, in bps.
    /// @param deadline Last second the signature is valid, Unix seconds.
    /// @return The digest of `Resolve(jobId, providerBps, deadline)` in this escrow's domain.
    function resolveDigest(bytes32 jobId, uint16 providerBps, uint256 deadline) external view returns (bytes32) {
        return _resolveDigest(jobId, providerBps, deadline);
    }

    /// @notice The EIP-712 domain separator: name "Clearing Escrow", version "1", this chain, this contract.
    /// @return The separator, rebuilt if the chain id changed since deployment.
    // forge-lint: disable-next-line(mixed-case-function)
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparator();
    }

    /// @notice The EIP-712 domain (EIP-5267).
    /// @return fields 0x0f: name, version, chainId and verifyingContract are used.
    /// @return name "Clearing Escrow".
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
        return (hex"0f", "Clearing Escrow", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------ internal: funding

    /// @dev `fund`: opens the job, then pulls the amount with `receiveWithAuthorization` (nonce = jobId).
    function _fund(JobTerms calldata terms, bytes calldata signature) internal {
        bytes32 jobId = _openJob(terms);
        address token = terms.token;
        uint256 amount = terms.amount;
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC3009(token)
            .receiveWithAuthorization(terms.payer, address(this), amount, 0, terms.fundingDeadline, jobId, signature);
        _requireReceived(token, amount, balanceBefore);
    }

    /// @dev `fundWithTransfer`: opens the job, then pulls the amount with `transferWithAuthorization` (nonce = salt).
    function _fundWithTransfer(
        JobTerms calldata terms,
        uint256 validAfter,
        uint256 validBefore,
        bytes calldata signature
    ) internal {
        _openJob(terms);
        _pullTransfer(terms.token, terms.payer, terms.amount, validAfter, validBefore, terms.salt, signature);
    }

    /// @dev Checks the terms against the clock and the job's slot, writes the job as Funded, adds the amount to
    ///      `liabilities` and emits `JobFunded`: every funding's checks and effects, before any external call.
    function _openJob(JobTerms calldata terms) internal returns (bytes32 jobId) {
        jobId = _jobIdOf(terms);
        _checkTerms(terms);
        if (block.timestamp >= terms.fundingDeadline) {
            revert Escrow_AfterDeadline(block.timestamp, terms.fundingDeadline);
        }
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        if (packed != 0) revert Escrow_InvalidStatus(jobId, _statusOf(packed));

        slot.packed = _advance(0, Status.Funded, _FUNDED_AT_SHIFT);
        _addLiability(terms.token, terms.amount);

        emit JobFunded(jobId, terms.payer, terms.provider, terms);
    }

    /// @dev A direct payment's checks and effects: credits the provider and the fee recipient, adds the amount to
    ///      `liabilities`, emits `PaymentCredited`.
    function _creditPayment(address token, DirectPayment calldata payment) internal {
        uint256 amount = payment.amount;
        if (amount == 0 || amount > MAX_AMOUNT) revert Escrow_InvalidAmount(amount);
        uint256 feeAmount = payment.fee;
        uint256 maxFee = amount * maxFeeBps / BPS;
        if (feeAmount > maxFee) revert Escrow_FeeTooHigh(feeAmount, maxFee);
        address provider = payment.provider;
        if (provider == address(0)) revert Escrow_ZeroAddress(AddressField.Provider);

        uint256 providerAmount = amount - feeAmount;
        mapping(address => uint256) storage balances = claimable[token];
        _credit(balances, provider, providerAmount);
        _credit(balances, feeRecipient, feeAmount);
        _addLiability(token, amount);

        emit PaymentCredited(token, payment.payer, payment.nonce, provider, providerAmount, feeAmount);
    }

    /// @dev `creditTransferred`: credits `payment` from the surplus its front-run authorization left, once.
    function _creditTransferred(address token, DirectPayment calldata payment) internal {
        _markBooked(token, payment.payer, payment.nonce);
        _creditPayment(token, payment);
        _requireTransferred(token, payment.payer, payment.nonce, payment.amount);
    }

    /// @dev Pulls `amount` from `from` with its `TransferWithAuthorization` and requires the exact balance delta.
    function _pullTransfer(
        address token,
        address from,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) internal {
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC3009(token)
            .transferWithAuthorization(from, address(this), amount, validAfter, validBefore, nonce, signature);
        _requireReceived(token, amount, balanceBefore);
    }

    /// @dev Reverts with `Escrow_BalanceDelta` unless the escrow's balance is now `balanceBefore + amount`.
    function _requireReceived(address token, uint256 amount, uint256 balanceBefore) internal view {
        uint256 balanceAfter = IERC20(token).balanceOf(address(this));
        if (balanceAfter != balanceBefore + amount) {
            revert Escrow_BalanceDelta(amount, balanceAfter > balanceBefore ? balanceAfter - balanceBefore : 0);
        }
    }

    /// @dev Marks `payer`'s authorization `nonce` in `token` booked, or reverts if a booking entry took it before.
    function _markBooked(address token, address payer, bytes32 nonce) internal {
        bytes32 key = keccak256(abi.encode(token, payer, nonce));
        if (_booked[key]) revert Escrow_AlreadyBooked(payer, nonce);
        _booked[key] = true;
    }

    /// @dev For the booking entries, after their effects added `amount` to `liabilities`: requires the
    ///      authorization used at the token and the balance still covering every liability, i.e. the surplus before
    ///      the booking was at least `amount`. Both calls are views (STATICCALL), so nothing can reenter.
    function _requireTransferred(address token, address payer, bytes32 nonce, uint256 amount) internal view {
        if (!IERC3009(token).authorizationState(payer, nonce)) revert Escrow_AuthorizationNotUsed(payer, nonce);
        uint256 balance = IERC20(token).balanceOf(address(this));
        uint256 owed = liabilities[token];
        if (balance < owed) {
            // The surplus before this booking: balance - (owed - amount), floored at zero.
            revert Escrow_InsufficientSurplus(token, balance + amount > owed ? balance + amount - owed : 0, amount);
        }
    }

    /// @dev Adds a funding's amount to the token's liabilities. Unchecked: each amount is at most MAX_AMOUNT
    ///      (2^128 - 1), so the sum cannot reach 2^256.
    function _addLiability(address token, uint256 amount) internal {
        unchecked {
            liabilities[token] += amount;
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

    // ------------------------------------------------------------------ internal: transitions

    /// @dev Funded -> Completed with `caller`'s authority (the provider or the operator).
    function _markCompleted(bytes32 jobId, JobTerms memory t, address caller) internal {
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (status != Status.Funded) revert Escrow_InvalidStatus(jobId, status);
        if (caller != t.provider && caller != operator) revert Escrow_Unauthorized(jobId, caller);
        if (block.timestamp >= t.completionDeadline) {
            revert Escrow_AfterDeadline(block.timestamp, t.completionDeadline);
        }

        slot.packed = _advance(packed, Status.Completed, _COMPLETED_AT_SHIFT);

        emit JobCompleted(jobId, block.timestamp, block.timestamp + t.reviewWindow);
    }

    /// @dev Open -> Released with `caller`'s authority (the payer any time; anyone after the review window).
    function _release(bytes32 jobId, JobTerms memory t, address caller) internal {
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (!_isOpen(status)) revert Escrow_InvalidStatus(jobId, status);
        if (caller != t.payer) {
            if (status != Status.Completed) revert Escrow_Unauthorized(jobId, caller);
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

    /// @dev Open -> Refunded with `caller`'s authority (the provider any time; the operator while Funded; the payer
    ///      while Funded from the completion deadline).
    function _refund(bytes32 jobId, JobTerms memory t, address caller) internal {
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (!_isOpen(status)) revert Escrow_InvalidStatus(jobId, status);
        if (caller != t.provider) {
            if (caller != t.payer && caller != operator) revert Escrow_Unauthorized(jobId, caller);
            if (status != Status.Funded) revert Escrow_InvalidStatus(jobId, status);
            if (caller != operator && block.timestamp < t.completionDeadline) {
                revert Escrow_BeforeDeadline(block.timestamp, t.completionDeadline);
            }
        }

        slot.packed = _advance(packed, Status.Refunded, _CLOSED_AT_SHIFT);

        _credit(claimable[t.token], t.payer, t.amount);

        emit JobRefunded(jobId, t.amount);
    }

    /// @dev Funded | Completed (review window open) -> Disputed with `caller`'s authority (the payer).
    function _dispute(bytes32 jobId, JobTerms memory t, address caller) internal {
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (status != Status.Funded && status != Status.Completed) revert Escrow_InvalidStatus(jobId, status);
        if (caller != t.payer) revert Escrow_Unauthorized(jobId, caller);
        if (status == Status.Completed) {
            uint256 reviewEndsAt = _completedAtOf(packed) + t.reviewWindow;
            if (block.timestamp >= reviewEndsAt) {
                revert Escrow_ReviewWindowClosed(jobId, block.timestamp, reviewEndsAt);
            }
        }

        slot.packed = (packed & ~_STATUS_MASK) | uint256(Status.Disputed);

        emit JobDisputed(jobId);
    }

    /// @dev Disputed -> Resolved with `caller`'s authority (the arbiter): `providerBps` of the amount to the provider
    ///      side, the fee pro rata from it, the rest to the payer.
    function _resolve(bytes32 jobId, JobTerms memory t, address caller, uint16 providerBps) internal {
        JobSlot storage slot = _jobs[jobId];
        uint256 packed = slot.packed;
        Status status = _statusOf(packed);
        if (status != Status.Disputed) revert Escrow_InvalidStatus(jobId, status);
        if (caller != t.arbiter) revert Escrow_Unauthorized(jobId, caller);
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

    /// @dev Pays `account`'s whole balance of `token` to `to`: zeroes it, subtracts it from `liabilities`, emits
    ///      `Claimed`, then transfers. Unchecked subtraction: `liabilities[token]` is at least the sum of the token's
    ///      claimable balances (the invariant suite checks it equals open jobs plus balances), so at least `amount`.
    function _claim(address token, address account, address to) internal returns (uint256 amount) {
        amount = claimable[token][account];
        if (amount == 0) revert Escrow_NothingToClaim(token, account);

        claimable[token][account] = 0;
        unchecked {
            liabilities[token] -= amount;
        }

        emit Claimed(token, account, to, amount);

        IERC20(token).safeTransfer(to, amount);
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

    // ------------------------------------------------------------------ internal: signatures

    /// @dev Reverts unless `signature` is `payer`'s over `typeHash(jobId, deadline)` in this domain and
    ///      `block.timestamp <= deadline`.
    function _requirePayerSignature(
        bytes32 typeHash,
        bytes32 jobId,
        address payer,
        uint256 deadline,
        bytes calldata signature
    ) internal view {
        _requireSignature(payer, _digest(typeHash, jobId, deadline), jobId, deadline, signature);
    }

    /// @dev Reverts unless `signature` is `signer`'s over `digest` and `block.timestamp <= deadline`. ECDSA for an
    ///      account without code, ERC-1271 for one with code (as FiatToken v2.2 checks EIP-3009 signatures).
    function _requireSignature(
        address signer,
        bytes32 digest,
        bytes32 jobId,
        uint256 deadline,
        bytes calldata signature
    ) internal view {
        if (block.timestamp > deadline) {
            revert Escrow_SignatureExpired(block.timestamp, deadline);
        }
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) {
            revert Escrow_InvalidSignature(jobId, signer);
        }
    }

    /// @dev The EIP-712 digest of `Resolve(jobId, providerBps, deadline)` in this escrow's domain.
    function _resolveDigest(bytes32 jobId, uint16 providerBps, uint256 deadline) internal view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(RESOLVE_TYPEHASH, jobId, providerBps, deadline));
        return keccak256(abi.encodePacked(hex"1901", _domainSeparator(), structHash));
    }

    /// @dev The EIP-712 digest of `typeHash(jobId, deadline)` in this escrow's domain.
    function _digest(bytes32 typeHash, bytes32 jobId, uint256 deadline) internal view returns (bytes32 digest) {
        bytes32 separator = _domainSeparator();
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typeHash)
            mstore(add(m, 0x20), jobId)
            mstore(add(m, 0x40), deadline)
            let structHash := keccak256(m, 0x60)
            mstore(m, 0x1901)
            mstore(add(m, 0x20), separator)
            mstore(add(m, 0x40), structHash)
            digest := keccak256(add(m, 0x1e), 0x42)
        }
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

    // ------------------------------------------------------------------ internal: batches

    /// @dev Runs one batch item: the self-call `data` with exactly `FUND_ITEM_GAS`. The gas check sits here, after
    ///      the caller encoded `data` and right before the CALL, so nothing in between eats into the stipend; with
    ///      less than `FUND_ITEM_GAS_REQUIRED` left the whole batch reverts (`Escrow_InsufficientGas`), so a relayer
    ///      cannot make an item fail for lack of gas. No return data is copied: on failure the caller takes at most
    ///      `MAX_REASON_BYTES` of it with `_boundedReturnData`.
    function _callItem(bytes memory data, uint256 index) internal returns (bool ok) {
        if (gasleft() < FUND_ITEM_GAS_REQUIRED) {
            revert Escrow_InsufficientGas(index, gasleft(), FUND_ITEM_GAS_REQUIRED);
        }
        assembly ("memory-safe") {
            ok := call(FUND_ITEM_GAS, address(), 0, add(data, 0x20), mload(data), 0, 0)
        }
    }

    /// @dev The free memory pointer, to hand back to `_resetMemory` after an item.
    function _freeMemory() internal pure returns (uint256 pointer) {
        assembly ("memory-safe") {
            pointer := mload(0x40)
        }
    }

    /// @dev Frees an item's memory so a long batch does not pay for ever-growing memory.
    function _resetMemory(uint256 pointer) internal pure {
        assembly ("memory-safe") {
            mstore(0x40, pointer)
        }
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

    // ------------------------------------------------------------------ internal: jobs

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
    ///      checks (upper bits of narrow types), which is sound: every funding entry reads and emits every field
    ///      through the checked decoder, so every funded jobId hashes a canonical encoding; any other encoding of the
    ///      same terms hashes to an unfunded id, and the transitions revert on its status before using `t` (a signed
    ///      entry may first check the signature against `t.payer`, which then fails or names an unfunded job).
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

    /// @dev Funded, Completed and Disputed (1, 2, 3) are open; None and the terminal statuses are not. One
    ///      comparison: `status - 1` wraps to a huge number for None.
    function _isOpen(Status status) internal pure returns (bool open) {
        assembly ("memory-safe") {
            open := lt(sub(status, 1), 3)
        }
    }
}
