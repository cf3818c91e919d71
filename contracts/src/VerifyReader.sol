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
/// @dev Never deploy it: a deployment would store the answers as code. Each read is a `staticcall` whose failure
///      is reported in the answer rather than reverting the whole batch, so one odd token or wallet cannot fail
///      the other verifies. ERC-1271 is asked only of payers with code, as FiatToken v2.2 does.
contract VerifyReader {
    /// @notice One verify's reads.
    /// @param token The EIP-3009 token (USDC).
    /// @param payer The authorization's `from`.
    /// @param nonce The authorization's nonce.
    /// @param digest The EIP-712 digest the payer signed (asked of ERC-1271 wallets only).
    /// @param signature The payer's signature bytes (passed to ERC-1271 wallets only).
    struct Query {
        address token;
        address payer;
        bytes32 nonce;
        bytes32 digest;
        bytes signature;
    }

    /// @notice What the chain says about one query, at the block of the call.
    /// @param tokenCodeSize Code size of `token`: zero means it is not a contract.
    /// @param payerCodeSize Code size of `payer`: non-zero means a contract wallet (or EIP-7702 delegated EOA).
    /// @param balance `token.balanceOf(payer)`, valid when `balanceOk`.
    /// @param balanceOk Whether `balanceOf` answered with 32 bytes.
    /// @param nonceUsed `token.authorizationState(payer, nonce)`, valid when `nonceOk`.
    /// @param nonceOk Whether `authorizationState` answered with 32 bytes.
    /// @param contractSignatureValid For a payer with code: whether `isValidSignature(digest, signature)` returned
    ///        the ERC-1271 magic value. Always false for a payer without code.
    struct Answer {
        uint256 tokenCodeSize;
        uint256 payerCodeSize;
        uint256 balance;
        bool balanceOk;
        bool nonceUsed;
        bool nonceOk;
        bool contractSignatureValid;
    }

    /// @dev Gas for each wallet's `isValidSignature`, matching BatchSettler's per-item stipend.
    uint256 private constant _ERC1271_GAS = 500_000;

    /// @notice Reads everything `queries` needs and returns `abi.encode(Answer[])` as the creation result.
    /// @param queries One entry per verify.
    constructor(Query[] memory queries) {
        Answer[] memory answers = new Answer[](queries.length);
        for (uint256 i = 0; i < queries.length; i++) {
            answers[i] = _read(queries[i]);
        }
        bytes memory encoded = abi.encode(answers);
        assembly ("memory-safe") {
            return(add(encoded, 0x20), mload(encoded))
        }
    }

    function _read(Query memory query) private view returns (Answer memory answer) {
        answer.tokenCodeSize = query.token.code.length;
        answer.payerCodeSize = query.payer.code.length;
        if (answer.tokenCodeSize == 0) return answer;

        (bool ok, bytes memory data) = query.token.staticcall(abi.encodeCall(IERC20.balanceOf, (query.payer)));
        if (ok && data.length == 32) (answer.balance, answer.balanceOk) = (abi.decode(data, (uint256)), true);

        (ok, data) = query.token.staticcall(abi.encodeCall(IERC3009.authorizationState, (query.payer, query.nonce)));
        if (ok && data.length == 32) (answer.nonceUsed, answer.nonceOk) = (abi.decode(data, (bool)), true);

        if (answer.payerCodeSize > 0) {
            (ok, data) = query.payer.staticcall{gas: _ERC1271_GAS}(
                abi.encodeCall(IERC1271.isValidSignature, (query.digest, query.signature))
            );
            answer.contractSignatureValid =
                ok && data.length >= 32 && bytes4(abi.decode(data, (bytes32))) == IERC1271.isValidSignature.selector;
        }
    }
}
