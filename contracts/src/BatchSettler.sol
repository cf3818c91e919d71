// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title BatchSettler
/// @notice Relays many x402 `exact` payments (EIP-3009 `transferWithAuthorization`, the `bytes signature` overload) of
///         one token in a single transaction. Funds move straight from each payer to its payTo; the settler never
///         holds tokens, keeps no storage and needs no permission.
/// @dev Every item runs as its own call with a fixed gas stipend (`ITEM_GAS_LIMIT`). An item that reverts (bad
///      signature, used nonce, outside its window, paused token, blacklisted party, short balance, or anything else
///      the token refuses) emits `PaymentFailed` with the token's revert data and the batch goes on; an item that
///      succeeds emits `PaymentSettled`. Before each item the settler checks that the item can receive its whole
///      stipend (EIP-150 keeps back 1/64) and still finish, and reverts the whole batch otherwise, so a relayer can
///      never make an item fail for lack of gas while the batch succeeds.
contract BatchSettler is ReentrancyGuardTransient {
    // ------------------------------------------------------------------ types

    /// @notice One EIP-3009 `TransferWithAuthorization`, exactly as the payer signed it.
    /// @param from The payer (the authorizer), an EOA or an ERC-1271 wallet.
    /// @param to The payee (x402 `payTo`); must not be this contract.
    /// @param value Amount in the token's atomic units (USDC: 6 decimals).
    /// @param validAfter Unix seconds; the token requires `block.timestamp > validAfter`.
    /// @param validBefore Unix seconds; the token requires `block.timestamp < validBefore`.
    /// @param nonce The payer's unique 32-byte EIP-3009 nonce.
    /// @param signature 65 bytes r||s||v for an EOA, or any bytes the ERC-1271 wallet `from` accepts.
    struct Payment {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes signature;
    }

    // ------------------------------------------------------------------ constants

    /// @notice Gas given to each item's `transferWithAuthorization` call.
    /// @dev 500,000 covers the token's own work with everything cold (FiatToken v2.2 behind its proxy: about 61k of
    ///      execution, measured on anvil) plus an ERC-1271 check by a demanding wallet: a P-256/WebAuthn passkey verified in
    ///      Solidity where no RIP-7212 precompile exists costs about 330k (daimo p256-verifier), a multi-owner Safe
    ///      about 10k per owner. The stipend is only a cap: unused gas returns to the batch, so a large cap costs the
    ///      relayer a higher gas limit, not more gas used.
    uint256 public constant ITEM_GAS_LIMIT = 500_000;

    /// @notice Gas the batch keeps per item on top of the grossed-up stipend, to finish the item after its call.
    /// @dev Covers the code between the check and the CALL (under 200 with the warm CALL's 100), the worst event
    ///      (copying `MAX_REASON_LENGTH` bytes of revert data and a LOG3 of 320 bytes of data: about 4,100) and,
    ///      after the last item, the closing `BatchSettled` and return (about 2,000), with room to spare. With it,
    ///      a batch that passes every item's check always completes.
    uint256 public constant ITEM_GAS_OVERHEAD = 10_000;

    /// @notice `gasleft()` below which the batch reverts before starting an item.
    /// @dev ceil(ITEM_GAS_LIMIT * 64 / 63) + ITEM_GAS_OVERHEAD = 507,937 + 10,000, written out so assembly can read
    ///      it (pinned by a test). EIP-150 gives the callee at most all but 1/64 of the gas left at the CALL, and
    ///      G - floor(G / 64) >= ITEM_GAS_LIMIT holds for every G >= 507,937.
    uint256 public constant ITEM_GAS_REQUIRED = 517_937;

    /// @notice Most bytes of an item's revert data copied into `PaymentFailed`; longer data is cut to this length.
    /// @dev Bounds what a hostile token can make the batch copy and log (a "return-data bomb"). FiatToken's longest
    ///      reason, `Error("FiatTokenV2: authorization is used or canceled")`, takes 132 bytes.
    uint256 public constant MAX_REASON_LENGTH = 256;

    /// @dev `IERC3009.transferWithAuthorization.selector` (the `bytes signature` overload:
    ///      `transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)`), right-aligned.
    uint256 private constant _TRANSFER_WITH_AUTHORIZATION_SELECTOR = 0xcf092995;

    /// @dev `BatchSettler_InsufficientGas.selector`, right-aligned.
    uint256 private constant _INSUFFICIENT_GAS_SELECTOR = 0xb92a049f;

    /// @dev `BatchSettler_MalformedPayment.selector`, right-aligned.
    uint256 private constant _MALFORMED_PAYMENT_SELECTOR = 0x66077769;

    /// @dev `abi.encodeWithSelector(BatchSettler_PayToSettler.selector)` as one left-aligned word.
    uint256 private constant _PAY_TO_SETTLER_REASON =
        0xd127320f00000000000000000000000000000000000000000000000000000000;

    /// @dev `PaymentSettled.selector`.
    uint256 private constant _PAYMENT_SETTLED_TOPIC =
        0xbba8f31f20106d8e431b018aa9a4e7cc881078a38522f85b3898d817b0763f2d;

    /// @dev `PaymentFailed.selector`.
    uint256 private constant _PAYMENT_FAILED_TOPIC = 0x16e7f981532f10b63c4151167d52723d5ac5d0d19c5f43badc1a6b14eb7f8b45;

    /// @dev `BatchSettled.selector`.
    uint256 private constant _BATCH_SETTLED_TOPIC = 0x0d6d85f3008924dae0b1a32d4282a496a9a01be312d238d9d229c8a0d401ffe3;

    // ------------------------------------------------------------------ events

    /// @notice `payer`'s authorization `nonce` was used: the token moved `value` from `payer` to `to`.
    /// @dev The token's own `AuthorizationUsed(payer, nonce)` and `Transfer(payer, to, value)` logs come right
    ///      before this one in the same transaction. The event repeats the token, payee and value (about 800 gas)
    ///      so that one log is a complete settlement record: the indexer and the audit rebuild read payments from
    ///      this contract's logs alone, without following the token.
    /// @param payer The authorization's `from`.
    /// @param nonce The authorization's nonce, now used at the token.
    /// @param token The EIP-3009 token that moved the value.
    /// @param to The authorization's payee.
    /// @param value The amount moved, in the token's base units.
    event PaymentSettled(address indexed payer, bytes32 indexed nonce, address token, address to, uint256 value);

    /// @notice The token refused `payer`'s authorization `nonce`; nothing moved and the nonce is unchanged (unless
    ///         it was already used, which may be the reason).
    /// @param payer The authorization's `from`.
    /// @param nonce The authorization's nonce.
    /// @param reason The token's revert data cut to `MAX_REASON_LENGTH` bytes (e.g. the ABI encoding of
    ///        `Error("FiatTokenV2: invalid signature")`); empty when the item ran out of its stipend or the token
    ///        reverted without data; `BatchSettler_PayToSettler()` when `to` was this contract.
    event PaymentFailed(address indexed payer, bytes32 indexed nonce, bytes reason);

    /// @notice Closes a batch: after exactly `payments` item events (`PaymentSettled` or `PaymentFailed`), in order.
    /// @param token The EIP-3009 token every item of the batch used.
    /// @param payments How many items the batch held.
    /// @param settled How many of them emitted `PaymentSettled`.
    event BatchSettled(address indexed token, uint256 payments, uint256 settled);

    // ------------------------------------------------------------------ errors

    /// @notice The batch holds no payments.
    error BatchSettler_EmptyBatch();

    /// @notice `token` has no code, so every item would "succeed" without moving anything.
    /// @param token The address given as the token.
    error BatchSettler_TokenNotContract(address token);

    /// @notice Too little gas is left to give item `index` its whole stipend and finish it.
    /// @param index Position of the item in the batch (0-based).
    /// @param gasLeft Gas left when the item was checked.
    /// @param required `ITEM_GAS_REQUIRED`.
    error BatchSettler_InsufficientGas(uint256 index, uint256 gasLeft, uint256 required);

    /// @notice Item `index` is not valid ABI: an address with dirty upper bits, an offset or length of 2^32 or
    ///         more, or a field past the end of the calldata.
    /// @param index Position of the item in the batch (0-based).
    error BatchSettler_MalformedPayment(uint256 index);

    /// @notice Never reverted: the `reason` of `PaymentFailed` for an item whose `to` is this contract, which would
    ///         strand funds here.
    error BatchSettler_PayToSettler();

    // ------------------------------------------------------------------ external

    /// @notice Settles every payment it can, in order, and reports each one by event.
    /// @dev Emits, per item and in order, exactly one of `PaymentSettled` or `PaymentFailed`, then one
    ///      `BatchSettled`. One bad item never reverts the batch. Reverts the whole batch only with
    ///      `BatchSettler_EmptyBatch`, `BatchSettler_TokenNotContract`, `BatchSettler_MalformedPayment`,
    ///      `BatchSettler_InsufficientGas` (the relayer gave too little gas: `ITEM_GAS_REQUIRED` must be left before
    ///      each item, so set the gas limit to the estimate plus `ITEM_GAS_REQUIRED`), or on reentry.
    ///      Permissionless: anyone may submit `transferWithAuthorization`, and an item's outcome is the same
    ///      whoever submits it. The reentrancy guard is defence in depth (the settler has no state a reentrant call
    ///      could corrupt and holds no funds); it costs about 470 gas per batch (measured).
    ///      The loop is assembly: it builds each call in memory past the free memory pointer (never allocating, so
    ///      memory does not grow with the batch), calls without Solidity's extcodesize check (the token's code is
    ///      checked once) and copies at most `MAX_REASON_LENGTH` bytes of revert data.
    /// @param token The EIP-3009 token all payments are in (USDC); must have code.
    /// @param payments The authorizations to relay; at least one.
    /// @return settled How many items emitted `PaymentSettled`.
    function settle(address token, Payment[] calldata payments) external nonReentrant returns (uint256 settled) {
        if (payments.length == 0) revert BatchSettler_EmptyBatch();
        // Also warms `token`, so each item's CALL costs the warm 100.
        if (token.code.length == 0) revert BatchSettler_TokenNotContract(token);
        assembly ("memory-safe") {
            // [m, m + 0x160): an event's data (0x40 of head, at most 0x100 of reason, one padding word).
            // [m + 0x160, ...): the call transferWithAuthorization(from, to, value, validAfter, validBefore, nonce,
            // signature), selector right-aligned in its first word so the call data starts at m + 0x17c.
            let m := mload(0x40)
            mstore(add(m, 0x160), _TRANSFER_WITH_AUTHORIZATION_SELECTOR)
            mstore(add(m, 0x240), 0xe0) // the signature's offset, the same for every item
            for { let i := 0 } lt(i, payments.length) { i := add(i, 1) } {
                // Payment i: head at p (from, to, value, validAfter, validBefore, nonce, offset of signature),
                // signature length at sig, its bytes after; offsets relative as the ABI defines them.
                let p := add(payments.offset, calldataload(add(payments.offset, shl(5, i))))
                let sig := add(p, calldataload(add(p, 0xc0)))
                let sigLen := calldataload(sig)
                // Valid ABI only: offsets and length below 2^32 (so nothing wraps), head and signature inside the
                // calldata, clean addresses.
                if or(
                    or(
                        gt(or(calldataload(add(payments.offset, shl(5, i))), calldataload(add(p, 0xc0))), 0xffffffff),
                        or(gt(sigLen, 0xffffffff), shr(160, or(calldataload(p), calldataload(add(p, 0x20)))))
                    ),
                    or(gt(add(p, 0xe0), calldatasize()), gt(add(add(sig, 0x20), sigLen), calldatasize()))
                ) {
                    mstore(0, _MALFORMED_PAYMENT_SELECTOR)
                    mstore(0x20, i)
                    revert(0x1c, 0x24)
                }

                switch eq(calldataload(add(p, 0x20)), address())
                case 0 {
                    calldatacopy(add(m, 0x180), p, 0xc0)
                    mstore(add(m, 0x260), sigLen)
                    // Zero the last word first so the padding after the signature is clean.
                    mstore(add(add(m, 0x280), and(sigLen, not(31))), 0)
                    calldatacopy(add(m, 0x280), add(sig, 0x20), sigLen)

                    // Checked right before the CALL, after every memory expansion, so nothing between the check
                    // and the call can eat into the stipend.
                    if lt(gas(), ITEM_GAS_REQUIRED) {
                        mstore(m, _INSUFFICIENT_GAS_SELECTOR)
                        mstore(add(m, 0x20), i)
                        mstore(add(m, 0x40), gas())
                        mstore(add(m, 0x60), ITEM_GAS_REQUIRED)
                        revert(add(m, 0x1c), 0x64)
                    }
                    switch call(
                        ITEM_GAS_LIMIT,
                        token,
                        0,
                        add(m, 0x17c),
                        add(0x104, and(add(sigLen, 31), not(31))),
                        0,
                        0
                    )
                    case 0 {
                        // PaymentFailed(from, nonce, reason): data is abi.encode(bytes reason).
                        let n := returndatasize()
                        if gt(n, MAX_REASON_LENGTH) { n := MAX_REASON_LENGTH }
                        mstore(m, 0x20)
                        mstore(add(m, 0x20), n)
                        mstore(add(add(m, 0x40), and(n, not(31))), 0)
                        returndatacopy(add(m, 0x40), 0, n)
                        log3(
                            m,
                            add(0x40, and(add(n, 31), not(31))),
                            _PAYMENT_FAILED_TOPIC,
                            calldataload(p),
                            calldataload(add(p, 0xa0))
                        )
                    }
                    default {
                        settled := add(settled, 1)
                        // PaymentSettled(from, nonce, token, to, value); the head was validated above.
                        mstore(m, token)
                        mstore(add(m, 0x20), calldataload(add(p, 0x20)))
                        mstore(add(m, 0x40), calldataload(add(p, 0x40)))
                        log3(m, 0x60, _PAYMENT_SETTLED_TOPIC, calldataload(p), calldataload(add(p, 0xa0)))
                    }
                }
                default {
                    // Paying the settler would strand the funds here: refuse without calling the token.
                    mstore(m, 0x20)
                    mstore(add(m, 0x20), 4)
                    mstore(add(m, 0x40), _PAY_TO_SETTLER_REASON)
                    log3(m, 0x60, _PAYMENT_FAILED_TOPIC, calldataload(p), calldataload(add(p, 0xa0)))
                }
            }
            mstore(m, payments.length)
            mstore(add(m, 0x20), settled)
            log2(m, 0x40, _BATCH_SETTLED_TOPIC, token)
        }
    }
}
