// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "./interfaces/IERC1271.sol";
import {IERC20} from "./interfaces/IERC20.sol";
import {IERC3009} from "./interfaces/IERC3009.sol";

/// @title VerifyReader
/// @notice Answers every chain read a batch of x402 verifies needs in one `eth_call`, without being deployed: the
///         facilitator sends the creation code plus `abi.encode(queries)` as an `eth_call` with no `to`, and the
///         constructor returns the ABI-encoded `Answer[]` as the call's result. Works on any chain, with no
///         deployment and no trust in a deployed address.
/// @dev Never deploy it: a deployment would store the answers as code. Each read is a call whose failure is reported
///      in the answer rather than reverting the whole batch, so one odd token or wallet cannot fail the other
///      verifies. ERC-1271 is asked only of payers with code, as FiatToken v2.2 does.
///
///      Besides the reads, each query's `transferWithAuthorization` is simulated with the token's own code, through
///      a `VerifyProbe` created once per call: the probe makes the transfer and then reverts with its outcome, so
///      every simulation is undone and no query sees another's effects. Whatever the token would refuse at settle
///      (pause, blacklist, nonce, signature, balance, any rule a token adds) the simulation refuses now, with the
///      token's revert data. It gets the same gas stipend `BatchSettler` gives an item.
contract VerifyReader {
    /// @notice One verify's reads and the transfer to simulate.
    /// @param token The EIP-3009 token (USDC).
    /// @param payer The authorization's `from`.
    /// @param to The authorization's `to` (the x402 `payTo`).
    /// @param value The authorization's value, in the token's atomic units.
    /// @param validAfter The authorization's `validAfter`, unix seconds.
    /// @param validBefore The authorization's `validBefore`, unix seconds.
    /// @param nonce The authorization's nonce.
    /// @param digest The EIP-712 digest the payer signed (asked of ERC-1271 wallets only).
    /// @param signature The payer's signature as the token takes it (65 bytes r‖s‖v for an EOA).
    /// @param simulate Whether to simulate the transfer. The facilitator leaves it out for a payment whose transfer
    ///        it already simulated successfully at an earlier block when nothing since could change the verdict
    ///        except what this call reads again (balance, nonce, payer code).
    struct Query {
        address token;
        address payer;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bytes32 digest;
        bytes signature;
        bool simulate;
    }

    /// @notice What the chain says about one query, at the block of the call.
    /// @param balance `token.balanceOf(payer)`, valid when `BALANCE_OK` is set.
    /// @param flags The `TOKEN_HAS_CODE` ... `RECIPIENT_BLACKLISTED` bits.
    /// @param refusal When the simulated transfer reverted: the message of its `Error(string)` revert data
    ///        (`REFUSAL_IS_MESSAGE` set), else the revert data itself; either cut to `MAX_REFUSAL_LENGTH` bytes.
    ///        Empty otherwise.
    /// @dev Packed because the answers are returned as code, which EIP-170 caps at 24,576 bytes: at most 224 bytes
    ///      an answer (five words and a 64-byte refusal), 100 answers a call.
    struct Answer {
        uint256 balance;
        uint256 flags;
        bytes refusal;
    }

    /// @notice `token` holds code.
    uint256 internal constant TOKEN_HAS_CODE = 1 << 0;
    /// @notice `payer` holds code (a contract wallet or an EIP-7702 delegated account).
    uint256 internal constant PAYER_HAS_CODE = 1 << 1;
    /// @notice `balanceOf` answered with 32 bytes.
    uint256 internal constant BALANCE_OK = 1 << 2;
    /// @notice `authorizationState` answered with 32 bytes.
    uint256 internal constant NONCE_OK = 1 << 3;
    /// @notice `authorizationState` said the nonce is used or cancelled.
    uint256 internal constant NONCE_USED = 1 << 4;
    /// @notice The payer has code and its `isValidSignature(digest, signature)` returned the ERC-1271 magic value.
    uint256 internal constant CONTRACT_SIGNATURE_VALID = 1 << 5;
    /// @notice The transfer was simulated (asked for, the token has code and the call had the gas for it).
    uint256 internal constant SIMULATED = 1 << 6;
    /// @notice The simulated transfer succeeded.
    uint256 internal constant SIMULATION_SUCCEEDED = 1 << 7;
    /// @notice `refusal` is the message of an `Error(string)` revert, not raw revert data.
    uint256 internal constant REFUSAL_IS_MESSAGE = 1 << 8;
    /// @notice After a refusal: the token's `isBlacklisted(payer)` answered true.
    uint256 internal constant PAYER_BLACKLISTED = 1 << 9;
    /// @notice After a refusal: the token's `isBlacklisted(to)` answered true.
    uint256 internal constant RECIPIENT_BLACKLISTED = 1 << 10;

    /// @notice Most bytes of a refusal kept. FiatToken v2.2's longest message on this path,
    ///         "FiatTokenV2: authorization is used or canceled", has 46.
    uint256 internal constant MAX_REFUSAL_LENGTH = 64;

    /// @dev Gas for each wallet's `isValidSignature`, matching BatchSettler's per-item stipend.
    uint256 private constant _ERC1271_GAS = 500_000;
    /// @dev Gas for each `isBlacklisted` diagnostic read.
    uint256 private constant _DIAGNOSTIC_GAS = 30_000;
    /// @dev Gas the probe gets: enough to hand the token `VerifyProbe.TRANSFER_GAS` after EIP-150's 1/64, plus its
    ///      own copying.
    uint256 private constant _PROBE_GAS = 530_000;
    /// @dev `gasleft()` below which a query's transfer is not simulated (the answer says so): the probe's gas after
    ///      EIP-150's 1/64, the two diagnostic reads and the rest of the item.
    uint256 private constant _SIMULATION_GAS_REQUIRED = 620_000;
    /// @dev `Error(string)`'s selector, left-aligned.
    bytes32 private constant _ERROR_SELECTOR = 0x08c379a000000000000000000000000000000000000000000000000000000000;

    /// @notice Reads everything `queries` needs, simulates each transfer, and returns `abi.encode(Answer[])` as the
    ///         creation result.
    /// @param queries One entry per verify.
    constructor(Query[] memory queries) {
        // One probe for the whole batch, and none if nothing is simulated: a CREATE costs 32,000 gas, a CALL to a
        // warm account 100.
        address probe;
        for (uint256 i = 0; i < queries.length; i++) {
            if (queries[i].simulate) {
                probe = address(new VerifyProbe());
                break;
            }
        }
        Answer[] memory answers = new Answer[](queries.length);
        for (uint256 i = 0; i < queries.length; i++) {
            answers[i] = _read(queries[i], probe);
        }
        bytes memory encoded = abi.encode(answers);
        assembly ("memory-safe") {
            return(add(encoded, 0x20), mload(encoded))
        }
    }

    function _read(Query memory query, address probe) private returns (Answer memory answer) {
        if (query.payer.code.length > 0) answer.flags |= PAYER_HAS_CODE;
        if (query.token.code.length == 0) return answer;
        answer.flags |= TOKEN_HAS_CODE;

        (bool ok, bytes memory data) = query.token.staticcall(abi.encodeCall(IERC20.balanceOf, (query.payer)));
        if (ok && data.length == 32) {
            answer.balance = abi.decode(data, (uint256));
            answer.flags |= BALANCE_OK;
        }

        (ok, data) = query.token.staticcall(abi.encodeCall(IERC3009.authorizationState, (query.payer, query.nonce)));
        if (ok && data.length == 32) {
            answer.flags |= NONCE_OK;
            if (abi.decode(data, (uint256)) != 0) answer.flags |= NONCE_USED;
        }

        if (answer.flags & PAYER_HAS_CODE != 0) {
            (ok, data) = query.payer.staticcall{gas: _ERC1271_GAS}(
                abi.encodeCall(IERC1271.isValidSignature, (query.digest, query.signature))
            );
            if (ok && data.length >= 32 && bytes4(abi.decode(data, (bytes32))) == IERC1271.isValidSignature.selector) {
                answer.flags |= CONTRACT_SIGNATURE_VALID;
            }
        }

        if (query.simulate) _simulate(query, probe, answer);
    }

    /// @dev Simulates `query`'s transfer through `probe` and records the outcome in `answer`.
    function _simulate(Query memory query, address probe, Answer memory answer) private {
        if (gasleft() < _SIMULATION_GAS_REQUIRED) return;
        bytes memory transfer = abi.encodeCall(
            IERC3009.transferWithAuthorization,
            (query.payer, query.to, query.value, query.validAfter, query.validBefore, query.nonce, query.signature)
        );
        // The probe always reverts; its revert data is `abi.encodePacked(uint256 success, returndata)`.
        (, bytes memory outcome) =
            probe.call{gas: _PROBE_GAS}(abi.encodePacked(uint256(uint160(query.token)), transfer));
        if (outcome.length < 32) return;
        answer.flags |= SIMULATED;
        if (uint256(bytes32(outcome)) != 0) {
            answer.flags |= SIMULATION_SUCCEEDED;
            return;
        }
        (answer.refusal, answer.flags) = _refusal(outcome, answer.flags);
        if (_isBlacklisted(query.token, query.payer)) answer.flags |= PAYER_BLACKLISTED;
        if (_isBlacklisted(query.token, query.to)) answer.flags |= RECIPIENT_BLACKLISTED;
    }

    /// @dev The refusal in `outcome` (the probe's revert data, whose first word is the success flag): an
    ///      `Error(string)`'s message, or the raw revert data, cut to `MAX_REFUSAL_LENGTH`.
    function _refusal(bytes memory outcome, uint256 flags) private pure returns (bytes memory refusal, uint256) {
        uint256 length = outcome.length - 32;
        uint256 start = 32;
        // abi.encodeWithSelector(Error.selector, message): selector, offset 0x20, length, bytes.
        if (length >= 68) {
            bytes32 selector;
            uint256 offset;
            uint256 messageLength;
            assembly ("memory-safe") {
                let data := add(outcome, 64)
                selector := and(mload(data), 0xffffffff00000000000000000000000000000000000000000000000000000000)
                offset := mload(add(data, 4))
                messageLength := mload(add(data, 36))
            }
            if (selector == _ERROR_SELECTOR && offset == 32 && messageLength <= length - 68) {
                flags |= REFUSAL_IS_MESSAGE;
                (start, length) = (32 + 68, messageLength);
            }
        }
        if (length > MAX_REFUSAL_LENGTH) length = MAX_REFUSAL_LENGTH;
        refusal = new bytes(length);
        for (uint256 i = 0; i < length; i++) {
            refusal[i] = outcome[start + i];
        }
        return (refusal, flags);
    }

    /// @dev Whether `token` answers `isBlacklisted(account)` with true (FiatToken's view; false if it has none).
    function _isBlacklisted(address token, address account) private view returns (bool) {
        (bool ok, bytes memory data) =
            token.staticcall{gas: _DIAGNOSTIC_GAS}(abi.encodeWithSignature("isBlacklisted(address)", account));
        return ok && data.length == 32 && abi.decode(data, (uint256)) != 0;
    }
}

/// @title VerifyProbe
/// @notice Created inside each `VerifyReader` call, never on its own: makes one call and reverts with the outcome,
///         so every state change of the call is undone.
/// @dev Calldata: the target address as the first word, then the calldata to send it. Reverts with
///      `abi.encodePacked(uint256 success, returndata)`, the return data cut to `MAX_RETURN_LENGTH` bytes (a target
///      cannot make the reader copy more). The target gets exactly `TRANSFER_GAS`, as an item of `BatchSettler` does.
contract VerifyProbe {
    /// @notice Gas the target call gets: `BatchSettler.ITEM_GAS_LIMIT`, so a transfer that would run out of gas at
    ///         settle runs out here too.
    uint256 internal constant TRANSFER_GAS = 500_000;
    /// @notice Most bytes of the target's return data passed back: an `Error(string)` with a 128-byte message.
    uint256 internal constant MAX_RETURN_LENGTH = 196;

    fallback() external {
        assembly {
            if lt(calldatasize(), 32) { revert(0, 0) }
            let size := sub(calldatasize(), 32)
            calldatacopy(0, 32, size)
            let success := call(TRANSFER_GAS, calldataload(0), 0, 0, size, 0, 0)
            let length := returndatasize()
            if gt(length, MAX_RETURN_LENGTH) { length := MAX_RETURN_LENGTH }
            mstore(0, success)
            returndatacopy(32, 0, length)
            revert(0, add(32, length))
        }
    }
}
