// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC3009} from "./interfaces/IERC3009.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title BalanceVault
/// @notice Prepaid balances of agents, per token (USDC): agents deposit, the marketplace's operator posts debits that
///         pay providers and the fee recipient out of them, the subscription contract charges renewals from them, and
///         an agent can always take what is left out after a fixed delay, whatever the operator does. Providers and
///         the fee recipient pull their earnings with `claim`, as from the Escrow.
/// @dev Accounts, per token:
///      - `balance` (an agent's prepaid money): deposits add to it; debits and charges take from it, never more than it
///        holds; `withdraw` empties it.
///      - `claimable` (a provider's or the fee recipient's earnings): debits and charges credit `amount - fee` to the
///        provider and `fee` to the fee recipient; `claim` empties it.
///
///      Deposits. `deposit(token, amount)` (anyone, for themselves) pulls with `transferFrom`. `depositWithTransfer` /
///      `depositManyWithTransfer` (operator) execute the x402 `TransferWithAuthorization(from, to = vault, value, ...)`
///      a stock client signs and credit `from`. `depositTransferred` (operator) books such an authorization that
///      someone submitted straight to the token (see Liabilities). Every deposit requires the vault's balance to grow
///      by exactly the amount credited.
///
///      Debits. `debitMany` (operator) applies the spends the marketplace accepted off-chain (a data_api call paid from
///      a balance, authorised by the agent's API key): each item names an `id`, the off-chain idempotency key, which
///      the vault records so that no debit is ever applied twice. The vault cannot see the agent's consent to a debit:
///      it trusts the operator for it, as a prepaid balance on any platform does, and bounds what the operator can do
///      to the balance itself (never more than it holds), the fee cap, one application per id, and the exit below.
///
///      The exit. `requestWithdrawal(token)` (the agent) starts a fixed delay, `withdrawalDelay` (immutable, set at
///      deployment; 24 hours is the intended value); from `unlockAt = requestedAt + withdrawalDelay` on,
///      `withdraw(token, to)` pays the agent whatever balance is left. The rule that makes the exit unblockable:
///      - before `unlockAt`, debits and charges still apply (the operator posts the spends it accepted before it saw
///        `WithdrawalRequested`; it should accept no new ones);
///      - from `unlockAt` on, every debit and charge against that balance fails (`Vault_WithdrawalUnlocked`), so nothing
///        can drain it between the unlock and the withdrawal, however late the agent withdraws;
///      - `withdraw` needs nothing from the operator and pays the whole balance (zero is allowed: it just closes the
///        request), then clears the request.
///      A deposit never touches a request: the money joins the balance the withdrawal pays (spendable until `unlockAt`
///      like the rest, withdrawable at once after it). `cancelWithdrawal` (the agent, before or after `unlockAt`)
///      drops the request, and debits apply again. No one else can start, cancel or speed up an agent's exit.
///
///      The charger. One contract (Clearing's `Subscriptions`) may move a balance to provider and fee-recipient
///      claimables with `charge`, under the same rules as a debit. It is set once, by the deployer, with `setCharger`
///      (the two contracts name each other, so one of them must learn the other's address after deployment) and can
///      never change: whoever could replace it could install code that charges any balance without the subscriber's
///      signed terms. Fixed, it lets agents audit the pair once, as `operator` and `feeRecipient` are immutable.
///
///      Liabilities. `liabilities[token]` is what the vault owes in that token: every deposit adds its amount, every
///      withdrawal and claim subtracts it; debits and charges only move money from balances to claimables. So
///      `liabilities == sum(balances) + sum(claimables)` and `balanceOf(vault) == liabilities + surplus`. A front-run
///      `TransferWithAuthorization` (submitted to the token by someone else) leaves its money as surplus and makes
///      the operator's deposit fail (authorization used); `depositTransferred` (or `depositManyTransferred`, batched)
///      books it, requiring the authorization
///      used at the token, `surplus >= amount` and that nonce not booked before, so even a compromised operator key
///      can only book surplus, never money owed to balances or claimables.
///
///      Batches. `depositManyWithTransfer` and `claimMany`, whose items call the token (and, through it, a payer's
///      ERC-1271 wallet), isolate each item in a self-call with a fixed stipend exactly as the Escrow does (too little
///      gas reverts the whole batch; a failed item emits its failure event with at most `MAX_REASON_BYTES` of revert
///      data). `debitMany` makes no external call: its items are checked inline, a failed check writes nothing and
///      emits `DebitFailed` with the encoded custom error the item failed on, and no item can revert or starve
///      another, which saves the self-call (about 3,000 gas a debit) on the hottest path.
///
///      Rebuilding state from events alone: `Deposited` (balance +), `Debited` and `Charged` (balance -, provider +
///      `amount - fee`, fee recipient + `fee`), `WithdrawalRequested` / `WithdrawalCancelled` / `Withdrawn` (balance to
///      zero), `Claimed` (claimable to zero).
///
///      Safety. Every state-changing entry holds a transient reentrancy guard; state is written and the event emitted
///      before any token call. Balances are per token, so a misbehaving token affects only balances in itself.
///
///      Gas (whole transactions, steady state, MockUSDC; contracts/test/benchmark/VaultGas.t.sol, docs/GAS.md): deposit
///      ~67k, depositManyWithTransfer ~80k per first deposit at N = 100, debitMany ~34.5k per debit at N = 100 with
///      random ids (~12.7k with ids in sequence), claim ~57k, withdraw ~58k.
contract BalanceVault {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ types

    /// @notice One deposit by an x402 `exact` authorization (`TransferWithAuthorization`) paid to this vault.
    /// @param from The authorization's `from`: the agent credited.
    /// @param amount The authorization's `value`, atomic units; 0 < amount <= MAX_AMOUNT.
    /// @param validAfter The authorization's `validAfter`, Unix seconds.
    /// @param validBefore The authorization's `validBefore`, Unix seconds.
    /// @param nonce The authorization's EIP-3009 nonce (random, chosen by the agent's client).
    /// @param signature The agent's `TransferWithAuthorization` signature (65-byte ECDSA or ERC-1271 bytes).
    struct TransferDeposit {
        address from;
        uint256 amount;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature;
    }

    /// @notice An x402 deposit someone else submitted straight to the token, to book (`depositManyTransferred`).
    /// @param from The authorization's `from`: the agent credited.
    /// @param amount The authorization's `value`, atomic units.
    /// @param nonce The authorization's EIP-3009 nonce.
    struct TransferredDeposit {
        address from;
        uint256 amount;
        bytes32 nonce;
    }

    /// @notice One spend from an agent's balance, posted by the operator.
    /// @param id The off-chain idempotency key; a debit with an id already recorded fails.
    /// @param payer The agent whose balance pays `amount`.
    /// @param provider Credited `amount - fee`.
    /// @param amount Taken from the payer's balance, atomic units; 0 < amount <= MAX_AMOUNT.
    /// @param fee Credited to the fee recipient, out of `amount`; at most `amount * maxFeeBps / 10_000`.
    struct Debit {
        bytes32 id;
        address payer;
        address provider;
        uint256 amount;
        uint256 fee;
    }

    /// @notice An agent's prepaid balance of one token and its withdrawal request, stored in one word.
    /// @param balance Atomic units the agent holds.
    /// @param unlockAt Zero with no request; else the Unix second from which `withdraw` pays and debits fail.
    struct Account {
        uint192 balance;
        uint64 unlockAt;
    }

    /// @notice Names the address field that was zero in `Vault_ZeroAddress`.
    enum AddressField {
        FeeRecipient,
        Payer,
        Provider,
        Token,
        Recipient,
        Charger
    }

    // ------------------------------------------------------------------ constants

    /// @notice The bps denominator: 10_000 bps = 100%.
    uint256 public constant BPS = 10_000;

    /// @notice Largest amount one deposit, debit or charge may carry; keeps every sum and bps product far from 2^256.
    uint256 public constant MAX_AMOUNT = type(uint128).max;

    /// @notice Longest `withdrawalDelay` the constructor accepts: an agent's money is never locked for longer.
    uint256 public constant MAX_WITHDRAWAL_DELAY = 30 days;

    /// @notice Gas given to each item of `depositManyWithTransfer` and `claimMany`, as the Escrow's `FUND_ITEM_GAS`:
    ///         an EOA-signed USDC deposit uses about 80k, a claim about 30k, the rest is headroom for ERC-1271 wallets.
    uint256 public constant ITEM_GAS = 300_000;

    /// @notice Gas a batched entry must hold right before each item's CALL: the stipend under the 63/64 rule
    ///         (EIP-150) plus room to log a failure, move on and close the batch.
    uint256 public constant ITEM_GAS_REQUIRED = ITEM_GAS * 64 / 63 + 20_000;

    /// @notice Longest revert reason a failure event (`DepositFailed`, `ClaimFailed`) carries; longer ones are cut.
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @dev Transient slot of the reentrancy guard: uint256(keccak256("clearing.vault.reentrancy")) - 1.
    uint256 private constant _GUARD_SLOT = 0xdc2951e1effd7ef29ab823fde2fc7b3945aad937985a348541d9285868af5c30;

    // ------------------------------------------------------------------ immutables

    /// @notice Receives every fee, credited to `claimable`.
    address public immutable feeRecipient;

    /// @notice Largest fee a debit or charge may carry, in bps of its amount.
    uint16 public immutable maxFeeBps;

    /// @notice The marketplace's relayer: alone may call `depositWithTransfer`, `depositManyWithTransfer`,
    ///         `depositTransferred`, `depositManyTransferred` and `debitMany`. Zero disables those entries.
    address public immutable operator;

    /// @notice Seconds between `requestWithdrawal` and the moment `withdraw` pays (and debits stop).
    uint256 public immutable withdrawalDelay;

    /// @notice The deployer: the only account that may call `setCharger`, once.
    address public immutable chargerSetter;

    // ------------------------------------------------------------------ storage

    /// @notice The one contract allowed to `charge` balances (zero until `setCharger`).
    address public charger;

    /// @notice What each provider and the fee recipient may `claim`, per token, in atomic units.
    mapping(address token => mapping(address account => uint256 amount)) public claimable;

    /// @notice What the vault owes, per token: every balance plus every claimable amount. The token balance above it
    ///         is `surplus`.
    mapping(address token => uint256 amount) public liabilities;

    /// @dev Every agent's balance and withdrawal request, per token.
    mapping(address token => mapping(address agent => Account account)) private _accounts;

    /// @dev The recorded debit ids as a bitmap: id `i` is bit `i & 0xff` of word `i >> 8`. Random ids take a word each;
    ///      ids numbered in sequence share one word per 256, so the zero-to-nonzero write (22,100 gas) is paid once per
    ///      256 debits.
    mapping(uint256 word => uint256 bits) private _debitIds;

    /// @dev Authorizations booked by `depositTransferred` (or its batch), by `keccak256(abi.encode(token, from, nonce))`.
    mapping(bytes32 key => bool booked) private _booked;

    // ------------------------------------------------------------------ events

    /// @notice `account`'s balance of `token` grew by `amount`, which the vault received.
    /// @param token The token deposited.
    /// @param account The agent credited.
    /// @param nonce The EIP-3009 nonce of an x402 deposit; zero for `deposit` (transferFrom).
    /// @param amount Atomic units.
    event Deposited(address indexed token, address indexed account, bytes32 indexed nonce, uint256 amount);

    /// @notice One item of `depositManyWithTransfer` or `depositManyTransferred` failed; nothing of it was written and
    ///         nothing moved.
    /// @param from The item's `from`.
    /// @param nonce The item's `nonce`.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event DepositFailed(address indexed from, bytes32 indexed nonce, bytes reason);

    /// @notice Closes a `depositManyWithTransfer` or `depositManyTransferred` batch after exactly `items` item events,
    ///         in order.
    /// @param token The token of every item.
    /// @param items How many items the batch held.
    /// @param deposited How many of them emitted `Deposited`.
    event DepositBatchSettled(address indexed token, uint256 items, uint256 deposited);

    /// @notice The operator's debit `id` was applied: `payer`'s balance -= `amount`, `provider` += `amount - fee`, fee
    ///         recipient += `fee`, all in `token`.
    /// @param id The debit's idempotency key, now recorded.
    /// @param token The token.
    /// @param payer The agent debited.
    /// @param provider The provider credited.
    /// @param amount Atomic units taken from the balance.
    /// @param fee Atomic units credited to the fee recipient (included in `amount`).
    event Debited(
        bytes32 indexed id, address indexed token, address indexed payer, address provider, uint256 amount, uint256 fee
    );

    /// @notice One debit of `debitMany` failed; nothing of it was written and its id stays unrecorded.
    /// @param id The debit's id.
    /// @param payer The debit's payer.
    /// @param reason The ABI-encoded custom error the debit failed on.
    event DebitFailed(bytes32 indexed id, address indexed payer, bytes reason);

    /// @notice Closes a `debitMany` batch after exactly `items` item events (`Debited` or `DebitFailed`), in order.
    /// @param token The token of every item.
    /// @param items How many items the batch held.
    /// @param debited How many of them emitted `Debited`.
    event DebitBatchSettled(address indexed token, uint256 items, uint256 debited);

    /// @notice The charger moved `amount` of `payer`'s balance: `provider` += `amount - fee`, fee recipient += `fee`.
    /// @param ref The charger's reference (the subscription id, for `Subscriptions`).
    /// @param token The token.
    /// @param payer The agent charged.
    /// @param provider The provider credited.
    /// @param amount Atomic units taken from the balance.
    /// @param fee Atomic units credited to the fee recipient (included in `amount`).
    event Charged(
        bytes32 indexed ref, address indexed token, address indexed payer, address provider, uint256 amount, uint256 fee
    );

    /// @notice `account` asked to withdraw its balance of `token`; `withdraw` pays from `unlockAt` on.
    /// @param token The token.
    /// @param account The agent.
    /// @param balance Its balance when it asked (debits accepted earlier may still lower it until `unlockAt`).
    /// @param unlockAt Unix seconds: `block.timestamp + withdrawalDelay`.
    event WithdrawalRequested(address indexed token, address indexed account, uint256 balance, uint256 unlockAt);

    /// @notice `account` dropped its withdrawal request; debits apply again.
    /// @param token The token.
    /// @param account The agent.
    event WithdrawalCancelled(address indexed token, address indexed account);

    /// @notice `account` withdrew its whole balance of `token` (now zero, request cleared), sent to `to`.
    /// @param token The token.
    /// @param account The agent.
    /// @param to Who received the tokens.
    /// @param amount Atomic units sent (zero when debits had used the whole balance).
    event Withdrawn(address indexed token, address indexed account, address to, uint256 amount);

    /// @notice `account` claimed its whole claimable balance of `token`, sent to `to`.
    /// @param token The token.
    /// @param account Whose claimable balance it was; now zero.
    /// @param to Who received the tokens (`account` itself for `claimFor` and `claimMany`).
    /// @param amount Atomic units sent.
    event Claimed(address indexed token, address indexed account, address to, uint256 amount);

    /// @notice One account of `claimMany` could not be paid; its claimable balance is unchanged.
    /// @param token The token.
    /// @param account The account.
    /// @param reason The revert data, cut to `MAX_REASON_BYTES`.
    event ClaimFailed(address indexed token, address indexed account, bytes reason);

    /// @notice The charger was set, for good.
    /// @param charger The contract that may `charge` balances.
    event ChargerSet(address indexed charger);

    // ------------------------------------------------------------------ errors

    /// @notice An address that must be set was zero.
    error Vault_ZeroAddress(AddressField field);

    /// @notice The constructor's `maxFeeBps` exceeds 10_000.
    error Vault_MaxFeeBpsTooHigh(uint256 maxFeeBps);

    /// @notice The constructor's `withdrawalDelay` is zero or above `MAX_WITHDRAWAL_DELAY`.
    error Vault_InvalidWithdrawalDelay(uint256 delay, uint256 max);

    /// @notice `amount` is zero or above `MAX_AMOUNT`.
    error Vault_InvalidAmount(uint256 amount);

    /// @notice `fee` exceeds `amount * maxFeeBps / 10_000`.
    error Vault_FeeTooHigh(uint256 fee, uint256 maxFee);

    /// @notice `account`'s balance of `token`, `balance`, is below the `amount` to take.
    error Vault_InsufficientBalance(address token, address account, uint256 balance, uint256 amount);

    /// @notice `account`'s withdrawal of `token` unlocked at `unlockAt`: its balance can no longer be debited or
    ///         charged.
    error Vault_WithdrawalUnlocked(address token, address account, uint256 unlockAt);

    /// @notice A debit with this id was already applied.
    error Vault_DebitRecorded(bytes32 id);

    /// @notice `account` already asked to withdraw `token`; it unlocks at `unlockAt`.
    error Vault_WithdrawalPending(address token, address account, uint256 unlockAt);

    /// @notice `account` has no withdrawal request for `token`.
    error Vault_NoWithdrawalRequested(address token, address account);

    /// @notice `account`'s withdrawal of `token` pays only from `unlockAt` on.
    error Vault_WithdrawalLocked(address token, address account, uint256 nowTs, uint256 unlockAt);

    /// @notice `account` has no balance of `token` to withdraw.
    error Vault_NothingToWithdraw(address token, address account);

    /// @notice `account` has nothing of `token` to claim.
    error Vault_NothingToClaim(address token, address account);

    /// @notice The vault's token balance did not grow by exactly `expected` while depositing.
    error Vault_BalanceDelta(uint256 expected, uint256 actual);

    /// @notice A batched entry holds too little gas to give item `index` its full stipend.
    error Vault_InsufficientGas(uint256 index, uint256 available, uint256 required);

    /// @notice A batch item entry was called by someone other than this contract inside its batch.
    error Vault_OnlySelf(address caller);

    /// @notice `caller` is not the operator, and the entry is the operator's alone.
    error Vault_NotOperator(address caller);

    /// @notice `caller` is not the charger.
    error Vault_NotCharger(address caller);

    /// @notice `caller` is not the deployer, who alone may set the charger.
    error Vault_NotChargerSetter(address caller);

    /// @notice The charger is already set, to `charger`, and cannot change.
    error Vault_ChargerAlreadySet(address charger);

    /// @notice `from`'s EIP-3009 authorization `nonce` is not used at the token, so it moved no money here.
    error Vault_AuthorizationNotUsed(address from, bytes32 nonce);

    /// @notice `depositTransferred` already booked `from`'s authorization `nonce`.
    error Vault_AlreadyBooked(address from, bytes32 nonce);

    /// @notice The vault's `token` balance above its liabilities, `surplus`, is below the `amount` to book.
    error Vault_InsufficientSurplus(address token, uint256 surplus, uint256 amount);

    /// @notice A guarded entry point was entered again while one was running.
    error Vault_Reentrancy();

    // ------------------------------------------------------------------ modifiers

    /// @dev Transient-storage reentrancy guard (EIP-1153), as the Escrow's.
    modifier nonReentrant() {
        if (_guardEntered()) revert Vault_Reentrancy();
        assembly ("memory-safe") {
            tstore(_GUARD_SLOT, 1)
        }
        _;
        assembly ("memory-safe") {
            tstore(_GUARD_SLOT, 0)
        }
    }

    /// @dev The operator entries.
    modifier onlyOperator() {
        if (msg.sender != operator) revert Vault_NotOperator(msg.sender);
        _;
    }

    /// @dev The batch item entries: only this contract, inside one of its own batches (which holds the guard).
    modifier onlySelf() {
        if (msg.sender != address(this) || !_guardEntered()) revert Vault_OnlySelf(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ constructor

    /// @param feeRecipient_ Receives every fee; must not be zero (Clearing deploys the Escrow's).
    /// @param maxFeeBps_ Largest fee in bps of a debit or charge, at most 10_000 (500 intended, the Escrow's).
    /// @param operator_ The marketplace's relayer (see `operator`); zero disables the operator entries.
    /// @param withdrawalDelay_ Seconds from `requestWithdrawal` to `withdraw`; 1 to `MAX_WITHDRAWAL_DELAY` (86_400
    ///        intended: a day for the operator to post the debits it accepted before the request).
    constructor(address feeRecipient_, uint16 maxFeeBps_, address operator_, uint256 withdrawalDelay_) {
        if (feeRecipient_ == address(0)) revert Vault_ZeroAddress(AddressField.FeeRecipient);
        if (maxFeeBps_ > BPS) revert Vault_MaxFeeBpsTooHigh(maxFeeBps_);
        if (withdrawalDelay_ == 0 || withdrawalDelay_ > MAX_WITHDRAWAL_DELAY) {
            revert Vault_InvalidWithdrawalDelay(withdrawalDelay_, MAX_WITHDRAWAL_DELAY);
        }
        feeRecipient = feeRecipient_;
        maxFeeBps = maxFeeBps_;
        operator = operator_;
        withdrawalDelay = withdrawalDelay_;
        chargerSetter = msg.sender;
    }

    // ------------------------------------------------------------------ external: setup

    /// @notice Sets the one contract that may `charge` balances. Once, by the deployer; it never changes after.
    /// @dev Requires `msg.sender == chargerSetter`, no charger yet and a non-zero `charger_`. Emits `ChargerSet`.
    /// @param charger_ The subscription contract.
    function setCharger(address charger_) external nonReentrant {
        if (msg.sender != chargerSetter) revert Vault_NotChargerSetter(msg.sender);
        if (charger != address(0)) revert Vault_ChargerAlreadySet(charger);
        if (charger_ == address(0)) revert Vault_ZeroAddress(AddressField.Charger);
        charger = charger_;
        emit ChargerSet(charger_);
    }

    // ------------------------------------------------------------------ external: deposits

    /// @notice Deposits `amount` of `token` into the caller's balance, pulled with `transferFrom` (approve first).
    /// @dev Anyone, for themselves. Requires a non-zero token and 0 < amount <= MAX_AMOUNT. Credits the balance, adds
    ///      to `liabilities`, emits `Deposited(token, caller, 0, amount)`, then pulls and requires the vault's balance
    ///      to grow by exactly `amount` (`Vault_BalanceDelta`). A pending withdrawal request is left as it is.
    /// @param token The token.
    /// @param amount Atomic units.
    function deposit(address token, uint256 amount) external nonReentrant {
        _credit(token, msg.sender, amount, bytes32(0));
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        _requireReceived(token, amount, balanceBefore);
    }

    /// @notice Deposits an x402 `exact` payment to this vault into the balance of its payer (`from`).
    /// @dev Operator only. The agent signed `TransferWithAuthorization(from, to = vault, value, validAfter,
    ///      validBefore, nonce)`, which names no purpose: what the payment is for is known only to the server whose
    ///      402 answer the agent paid (a deposit, or a purchase paid to the vault). Only the operator, who issued the
    ///      payment requirements, can say that it is a deposit; anyone else who saw the authorization could book a
    ///      payment made for something else as a withdrawable balance (the same reason the Escrow's
    ///      `fundWithTransfer` is the operator's). Credits `from`, adds to `liabilities`, emits
    ///      `Deposited(token, from, nonce, amount)`, then calls `transferWithAuthorization` and requires the exact
    ///      balance delta. If someone submitted the authorization to the token first, this reverts (authorization
    ///      used) and the money is surplus: book it with `depositTransferred`.
    /// @param token The EIP-3009 token (USDC).
    /// @param item The authorization.
    function depositWithTransfer(address token, TransferDeposit calldata item) external nonReentrant onlyOperator {
        _depositWithTransfer(token, item);
    }

    /// @notice `depositWithTransfer` for many authorizations of one token; each item succeeds or fails on its own.
    /// @dev Operator only. Each item runs in a self-call (`depositBatchItem`) with exactly `ITEM_GAS`; with less than
    ///      `ITEM_GAS_REQUIRED` left before an item the whole call reverts (`Vault_InsufficientGas`), so a relayer
    ///      cannot make an item fail for lack of gas. Per item `Deposited` or `DepositFailed(from, nonce, reason)`, then
    ///      `DepositBatchSettled(token, items, deposited)`. Malformed ABI input reverts the whole call.
    /// @param token The EIP-3009 token every item is in.
    /// @param items The authorizations.
    /// @return deposited How many items were deposited.
    function depositManyWithTransfer(address token, TransferDeposit[] calldata items)
        external
        nonReentrant
        onlyOperator
        returns (uint256 deposited)
    {
        uint256 count = items.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.depositBatchItem, (token, items[i])), i)) {
                ++deposited;
            } else {
                bytes memory reason = _boundedReturnData();
                emit DepositFailed(items[i].from, items[i].nonce, reason);
            }
            _resetMemory(freeMemory);
        }
        emit DepositBatchSettled(token, count, deposited);
    }

    /// @notice One item of `depositManyWithTransfer`; callable only by this contract inside that batch.
    /// @param token The batch's token.
    /// @param item The authorization.
    function depositBatchItem(address token, TransferDeposit calldata item) external onlySelf {
        _depositWithTransfer(token, item);
    }

    /// @notice Books a deposit whose `TransferWithAuthorization` someone else already submitted to the token, so the
    ///         money sits in the vault as surplus and `depositWithTransfer` can no longer take it.
    /// @dev Operator only. Requires `authorizationState(from, nonce)` used at the token, the nonce not booked here
    ///      before and `surplus(token) >= amount`; then credits `from` exactly as a deposit does (same event). The
    ///      token cannot tell which transfer an authorization made, so the operator checks its `AuthorizationUsed` and
    ///      `Transfer` logs off-chain; even a compromised operator key can only book surplus.
    /// @param token The token.
    /// @param from The authorization's `from`, credited.
    /// @param amount The authorization's `value`.
    /// @param nonce The authorization's nonce.
    function depositTransferred(address token, address from, uint256 amount, bytes32 nonce)
        external
        nonReentrant
        onlyOperator
    {
        _depositTransferred(token, from, amount, nonce);
    }

    /// @notice `depositTransferred` for many front-run authorizations of one token; each item succeeds or fails on its
    ///         own, so one the chain refuses (booked already, not used, no surplus) does not hold the others back.
    /// @dev Operator only. Items run as `depositManyWithTransfer`'s do (a self-call with exactly `ITEM_GAS`). Per item
    ///      `Deposited` or `DepositFailed(from, nonce, reason)`, then `DepositBatchSettled(token, items, deposited)`.
    /// @param token The token every item is in.
    /// @param items The authorizations to book.
    /// @return deposited How many items were booked.
    function depositManyTransferred(address token, TransferredDeposit[] calldata items)
        external
        nonReentrant
        onlyOperator
        returns (uint256 deposited)
    {
        uint256 count = items.length;
        for (uint256 i; i < count; ++i) {
            uint256 freeMemory = _freeMemory();
            if (_callItem(abi.encodeCall(this.depositTransferredItem, (token, items[i])), i)) {
                ++deposited;
            } else {
                bytes memory reason = _boundedReturnData();
                emit DepositFailed(items[i].from, items[i].nonce, reason);
            }
            _resetMemory(freeMemory);
        }
        emit DepositBatchSettled(token, count, deposited);
    }

    /// @notice One item of `depositManyTransferred`; callable only by this contract inside that batch.
    /// @param token The batch's token.
    /// @param item The authorization to book.
    function depositTransferredItem(address token, TransferredDeposit calldata item) external onlySelf {
        _depositTransferred(token, item.from, item.amount, item.nonce);
    }

    // ------------------------------------------------------------------ external: spending

    /// @notice Applies the operator's debits in one token; each succeeds or fails on its own, none overdraws.
    /// @dev Operator only (see the contract's notes on trust). Per item: requires 0 < amount <= MAX_AMOUNT,
    ///      fee <= amount * maxFeeBps / 10_000, a non-zero provider, an id never recorded, no unlocked withdrawal
    ///      request of the payer (`Vault_WithdrawalUnlocked`) and a balance >= amount. Then records the id, takes
    ///      `amount` from the payer's balance, credits the provider `amount - fee` and the fee recipient `fee`, and
    ///      emits `Debited`. A failed item writes nothing (its id stays free for a retry) and emits
    ///      `DebitFailed(id, payer, reason)` with the ABI-encoded custom error. Items apply in order, so a later item
    ///      sees the balance an earlier one left. Closes with `DebitBatchSettled(token, items, debited)`. No
    ///      external call. Reverts the whole call only for a zero `token` or malformed ABI input.
    /// @param token The token every debit is in.
    /// @param debits The debits, in order.
    /// @return debited How many debits were applied.
    function debitMany(address token, Debit[] calldata debits)
        external
        nonReentrant
        onlyOperator
        returns (uint256 debited)
    {
        if (token == address(0)) revert Vault_ZeroAddress(AddressField.Token);
        uint256 count = debits.length;
        uint256 fees;
        for (uint256 i; i < count; ++i) {
            Debit calldata item = debits[i];
            uint256 freeMemory = _freeMemory();
            bytes memory reason = _debit(token, item);
            if (reason.length == 0) {
                ++debited;
                fees += item.fee;
                emit Debited(item.id, token, item.payer, item.provider, item.amount, item.fee);
            } else {
                emit DebitFailed(item.id, item.payer, reason);
            }
            _resetMemory(freeMemory);
        }
        // The fee recipient's credit is written once per batch; each fee is at most MAX_AMOUNT, so no overflow.
        if (fees != 0) {
            unchecked {
                claimable[token][feeRecipient] += fees;
            }
        }
        emit DebitBatchSettled(token, count, debited);
    }

    /// @notice Moves `amount` of `payer`'s balance to `provider` (`amount - fee`) and the fee recipient (`fee`), for
    ///         the charger (the subscription contract), under a debit's rules.
    /// @dev Charger only. Reverts for an invalid amount, fee or provider (the charger validated them when the terms
    ///      were made). Returns false, writing nothing, when the balance is below `amount` or the payer's withdrawal
    ///      has unlocked: the charger decides what a refused charge means (a past-due subscription). On success takes
    ///      the balance, credits both claimables and emits `Charged`. No external call.
    /// @param token The token.
    /// @param payer The agent charged.
    /// @param provider The provider credited.
    /// @param amount Atomic units taken from the balance.
    /// @param fee Atomic units credited to the fee recipient, out of `amount`.
    /// @param ref The charger's reference, carried in `Charged` (the subscription id).
    /// @return charged Whether the money moved.
    function charge(address token, address payer, address provider, uint256 amount, uint256 fee, bytes32 ref)
        external
        nonReentrant
        returns (bool charged)
    {
        if (msg.sender != charger) revert Vault_NotCharger(msg.sender);
        _checkSpend(amount, fee, provider);
        Account storage account = _accounts[token][payer];
        Account memory current = account;
        if (!_spendable(current, amount)) return false;
        // Lossless: amount <= balance, a uint192.
        // forge-lint: disable-next-line(unsafe-typecast)
        account.balance = current.balance - uint192(amount);
        mapping(address => uint256) storage balances = claimable[token];
        _addClaimable(balances, provider, amount - fee);
        _addClaimable(balances, feeRecipient, fee);
        emit Charged(ref, token, payer, provider, amount, fee);
        return true;
    }

    // ------------------------------------------------------------------ external: the exit

    /// @notice Asks to withdraw the caller's whole balance of `token`; `withdraw` pays from `unlockAt` on.
    /// @dev The agent only (it is the caller's own balance). Requires a non-zero balance and no pending request.
    ///      Writes `unlockAt = block.timestamp + withdrawalDelay` and emits `WithdrawalRequested`. Until `unlockAt`
    ///      debits and charges still apply; from then on they fail.
    /// @param token The token.
    /// @return unlockAt Unix seconds from which `withdraw` pays.
    function requestWithdrawal(address token) external nonReentrant returns (uint256 unlockAt) {
        Account storage account = _accounts[token][msg.sender];
        Account memory current = account;
        if (current.unlockAt != 0) revert Vault_WithdrawalPending(token, msg.sender, current.unlockAt);
        if (current.balance == 0) revert Vault_NothingToWithdraw(token, msg.sender);
        unlockAt = block.timestamp + withdrawalDelay;
        // A uint64 of seconds lasts past the year 584 billion.
        // forge-lint: disable-next-line(unsafe-typecast)
        account.unlockAt = uint64(unlockAt);
        emit WithdrawalRequested(token, msg.sender, current.balance, unlockAt);
    }

    /// @notice Drops the caller's withdrawal request for `token`, before or after it unlocked; debits apply again.
    /// @dev Requires a request. Emits `WithdrawalCancelled`.
    /// @param token The token.
    function cancelWithdrawal(address token) external nonReentrant {
        Account storage account = _accounts[token][msg.sender];
        if (account.unlockAt == 0) revert Vault_NoWithdrawalRequested(token, msg.sender);
        account.unlockAt = 0;
        emit WithdrawalCancelled(token, msg.sender);
    }

    /// @notice Pays the caller's whole balance of `token` to `to` once its withdrawal request has unlocked.
    /// @dev Requires a non-zero `to`, a request, and `block.timestamp >= unlockAt`; nothing from the operator. Zeroes
    ///      the account (balance and request), subtracts the balance from `liabilities`, emits
    ///      `Withdrawn(token, caller, to, amount)`, then transfers (nothing when the balance is zero). A token that
    ///      refuses the transfer (pause, blacklisted `to`) reverts the whole call and leaves the account as it was;
    ///      another `to` can be tried.
    /// @param token The token.
    /// @param to Receives the tokens (the agent's choice, as in `claim`).
    /// @return amount What was sent, in atomic units.
    function withdraw(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert Vault_ZeroAddress(AddressField.Recipient);
        Account storage account = _accounts[token][msg.sender];
        Account memory current = account;
        if (current.unlockAt == 0) revert Vault_NoWithdrawalRequested(token, msg.sender);
        if (block.timestamp < current.unlockAt) {
            revert Vault_WithdrawalLocked(token, msg.sender, block.timestamp, current.unlockAt);
        }
        amount = current.balance;
        delete _accounts[token][msg.sender];
        unchecked {
            // liabilities[token] includes every balance, this one too.
            liabilities[token] -= amount;
        }
        emit Withdrawn(token, msg.sender, to, amount);
        if (amount != 0) IERC20(token).safeTransfer(to, amount);
    }

    // ------------------------------------------------------------------ external: claims

    /// @notice Sends the caller's whole claimable balance of `token` to `to`.
    /// @dev Requires a non-zero balance and `to`. Zeroes it, subtracts it from `liabilities`, emits `Claimed`, then
    ///      transfers; a failed transfer reverts the whole claim.
    /// @param token The token.
    /// @param to Receives the tokens.
    /// @return amount What was sent, in atomic units.
    function claim(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert Vault_ZeroAddress(AddressField.Recipient);
        amount = _claim(token, msg.sender, to);
    }

    /// @notice Sends `account`'s whole claimable balance of `token` to `account` itself.
    /// @dev Anyone may call: the money can only go to the account it belongs to. Same checks and effects as `claim`.
    /// @param token The token.
    /// @param account Whose balance is paid, and who receives it.
    /// @return amount What was sent, in atomic units.
    function claimFor(address token, address account) external nonReentrant returns (uint256 amount) {
        amount = _claim(token, account, account);
    }

    /// @notice `claimFor` for many accounts of one token; each succeeds or fails on its own.
    /// @dev Anyone may call. Isolated as `depositManyWithTransfer` (self-call `claimBatchItem`): per account
    ///      `Claimed(token, account, account, amount)` or `ClaimFailed(token, account, reason)`.
    /// @param token The token.
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
    /// @param token The token.
    /// @param account Whose balance is paid, and who receives it.
    function claimBatchItem(address token, address account) external onlySelf {
        _claim(token, account, account);
    }

    // ------------------------------------------------------------------ views

    /// @notice An agent's balance of `token` and its withdrawal request.
    /// @param token The token.
    /// @param agent The agent.
    /// @return The balance and `unlockAt` (zero with no request).
    function accountOf(address token, address agent) external view returns (Account memory) {
        return _accounts[token][agent];
    }

    /// @notice An agent's prepaid balance of `token`, atomic units.
    /// @param token The token.
    /// @param agent The agent.
    /// @return The balance.
    function balanceOf(address token, address agent) external view returns (uint256) {
        return _accounts[token][agent].balance;
    }

    /// @notice Whether a debit with this id was applied.
    /// @param id The debit id.
    /// @return Whether it is recorded.
    function isDebited(bytes32 id) external view returns (bool) {
        // Bit `id & 0xff` of word `id >> 8`: the shift operands are in the intended order.
        // forge-lint: disable-next-line(incorrect-shift)
        return _debitIds[uint256(id) >> 8] & (1 << (uint256(id) & 0xff)) != 0;
    }

    /// @notice Whether `depositTransferred` booked `from`'s authorization `nonce` in `token`.
    /// @param token The token.
    /// @param from The authorization's `from`.
    /// @param nonce The authorization's nonce.
    /// @return Whether it is booked.
    function isBooked(address token, address from, bytes32 nonce) external view returns (bool) {
        return _booked[keccak256(abi.encode(token, from, nonce))];
    }

    /// @notice The vault's balance of `token` above what it owes (money that arrived outside its entries), which only
    ///         `depositTransferred` can book.
    /// @param token The token.
    /// @return `balanceOf(this) - liabilities[token]`, or 0 if the balance is lower.
    function surplus(address token) external view returns (uint256) {
        uint256 balance = IERC20(token).balanceOf(address(this));
        uint256 owed = liabilities[token];
        return balance > owed ? balance - owed : 0;
    }

    // ------------------------------------------------------------------ internal: money

    /// @dev `depositTransferred`: books `from`'s front-run authorization `nonce` of `amount` from the surplus.
    function _depositTransferred(address token, address from, uint256 amount, bytes32 nonce) internal {
        bytes32 key = keccak256(abi.encode(token, from, nonce));
        if (_booked[key]) revert Vault_AlreadyBooked(from, nonce);
        _booked[key] = true;
        _credit(token, from, amount, nonce);
        if (!IERC3009(token).authorizationState(from, nonce)) revert Vault_AuthorizationNotUsed(from, nonce);
        uint256 balance = IERC20(token).balanceOf(address(this));
        uint256 owed = liabilities[token];
        if (balance < owed) {
            // The surplus before this booking: balance - (owed - amount), floored at zero.
            revert Vault_InsufficientSurplus(token, balance + amount > owed ? balance + amount - owed : 0, amount);
        }
    }

    /// @dev A deposit's checks and effects: credits `account`'s balance, adds to `liabilities`, emits `Deposited`.
    ///      The balance add is checked (a uint192 field); liabilities cannot overflow (each amount <= MAX_AMOUNT).
    function _credit(address token, address account, uint256 amount, bytes32 nonce) internal {
        if (token == address(0)) revert Vault_ZeroAddress(AddressField.Token);
        if (account == address(0)) revert Vault_ZeroAddress(AddressField.Payer);
        if (amount == 0 || amount > MAX_AMOUNT) revert Vault_InvalidAmount(amount);
        // Lossless: amount <= 2^128 - 1.
        // forge-lint: disable-next-line(unsafe-typecast)
        _accounts[token][account].balance += uint192(amount);
        unchecked {
            liabilities[token] += amount;
        }
        emit Deposited(token, account, nonce, amount);
    }

    /// @dev `depositWithTransfer`: credits `from`, then pulls with `transferWithAuthorization` and checks the delta.
    function _depositWithTransfer(address token, TransferDeposit calldata item) internal {
        uint256 amount = item.amount;
        _credit(token, item.from, amount, item.nonce);
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC3009(token)
            .transferWithAuthorization(
                item.from, address(this), amount, item.validAfter, item.validBefore, item.nonce, item.signature
            );
        _requireReceived(token, amount, balanceBefore);
    }

    /// @dev One debit: the ABI-encoded custom error it fails on, or empty after applying it (the fee recipient's
    ///      credit is left to the caller). Every check precedes every write.
    function _debit(address token, Debit calldata item) internal returns (bytes memory reason) {
        uint256 amount = item.amount;
        uint256 fee = item.fee;
        address provider = item.provider;
        if (amount == 0 || amount > MAX_AMOUNT) return abi.encodeWithSelector(Vault_InvalidAmount.selector, amount);
        uint256 maxFee = amount * maxFeeBps / BPS;
        if (fee > maxFee) return abi.encodeWithSelector(Vault_FeeTooHigh.selector, fee, maxFee);
        if (provider == address(0)) {
            return abi.encodeWithSelector(Vault_ZeroAddress.selector, AddressField.Provider);
        }
        uint256 word = uint256(item.id) >> 8;
        // forge-lint: disable-next-line(incorrect-shift)
        uint256 bit = 1 << (uint256(item.id) & 0xff);
        uint256 bits = _debitIds[word];
        if (bits & bit != 0) return abi.encodeWithSelector(Vault_DebitRecorded.selector, item.id);
        address payer = item.payer;
        Account storage account = _accounts[token][payer];
        Account memory current = account;
        if (current.unlockAt != 0 && block.timestamp >= current.unlockAt) {
            return abi.encodeWithSelector(Vault_WithdrawalUnlocked.selector, token, payer, current.unlockAt);
        }
        if (current.balance < amount) {
            return abi.encodeWithSelector(Vault_InsufficientBalance.selector, token, payer, current.balance, amount);
        }

        _debitIds[word] = bits | bit;
        // Lossless: amount <= balance, a uint192.
        // forge-lint: disable-next-line(unsafe-typecast)
        account.balance = current.balance - uint192(amount);
        _addClaimable(claimable[token], provider, amount - fee);
    }

    /// @dev Reverts unless a spend's amount, fee and provider are valid (as `_debit` checks them).
    function _checkSpend(uint256 amount, uint256 fee, address provider) internal view {
        if (amount == 0 || amount > MAX_AMOUNT) revert Vault_InvalidAmount(amount);
        uint256 maxFee = amount * maxFeeBps / BPS;
        if (fee > maxFee) revert Vault_FeeTooHigh(fee, maxFee);
        if (provider == address(0)) revert Vault_ZeroAddress(AddressField.Provider);
    }

    /// @dev Whether `amount` may be taken from `account` now: its withdrawal has not unlocked and it holds enough.
    function _spendable(Account memory account, uint256 amount) internal view returns (bool) {
        bool unlocked = account.unlockAt != 0 && block.timestamp >= account.unlockAt;
        return !unlocked && account.balance >= amount;
    }

    /// @dev Adds `amount` to `account`'s claimable entry in `balances`; skips zero. Unchecked: each credit is at most
    ///      MAX_AMOUNT, so a balance cannot reach 2^256.
    function _addClaimable(mapping(address => uint256) storage balances, address account, uint256 amount) internal {
        if (amount != 0) {
            unchecked {
                balances[account] += amount;
            }
        }
    }

    /// @dev Pays `account`'s whole claimable balance of `token` to `to`: zeroes it, subtracts it from `liabilities`,
    ///      emits `Claimed`, then transfers.
    function _claim(address token, address account, address to) internal returns (uint256 amount) {
        amount = claimable[token][account];
        if (amount == 0) revert Vault_NothingToClaim(token, account);
        claimable[token][account] = 0;
        unchecked {
            // liabilities[token] includes every claimable balance, this one too.
            liabilities[token] -= amount;
        }
        emit Claimed(token, account, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @dev Reverts with `Vault_BalanceDelta` unless the vault's balance is now `balanceBefore + amount`.
    function _requireReceived(address token, uint256 amount, uint256 balanceBefore) internal view {
        uint256 balanceAfter = IERC20(token).balanceOf(address(this));
        if (balanceAfter != balanceBefore + amount) {
            revert Vault_BalanceDelta(amount, balanceAfter > balanceBefore ? balanceAfter - balanceBefore : 0);
        }
    }

    // ------------------------------------------------------------------ internal: batches

    /// @dev Runs one batch item, the self-call `data`, with exactly `ITEM_GAS` (see the Escrow's `_callItem`).
    function _callItem(bytes memory data, uint256 index) internal returns (bool ok) {
        if (gasleft() < ITEM_GAS_REQUIRED) revert Vault_InsufficientGas(index, gasleft(), ITEM_GAS_REQUIRED);
        assembly ("memory-safe") {
            ok := call(ITEM_GAS, address(), 0, add(data, 0x20), mload(data), 0, 0)
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

    /// @dev Whether a guarded entry point is running.
    function _guardEntered() internal view returns (bool entered) {
        assembly ("memory-safe") {
            entered := tload(_GUARD_SLOT)
        }
    }
}
