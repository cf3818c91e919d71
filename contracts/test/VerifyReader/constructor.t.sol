// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VerifyReader} from "../../src/VerifyReader.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {VerifyReaderBase} from "./Base.t.sol";

/// @dev The reads: code, balance, nonce state, ERC-1271.
contract VerifyReaderTest is VerifyReaderBase {
    function test_When_PayerIsAnEOA_ReadsBalanceAndFreshNonce() public {
        VerifyReader.Answer memory a = readOne(query(address(usdc), payer, bytes32(uint256(7))));

        assertTrue(has(a, TOKEN_HAS_CODE), "token has code");
        assertFalse(has(a, PAYER_HAS_CODE), "an EOA has no code");
        assertTrue(has(a, BALANCE_OK) && has(a, NONCE_OK), "both reads answered");
        assertEq(a.balance, 1_000_000, "balance");
        assertFalse(has(a, NONCE_USED), "fresh nonce");
        assertFalse(has(a, CONTRACT_SIGNATURE_VALID), "no ERC-1271 for an EOA");
    }

    function test_When_NonceWasUsed_ReportsIt() public {
        Authorization memory auth = Authorization(payer, address(0xB0B), 10, 0, 2000, bytes32(uint256(7)));
        usdc.transferWithAuthorization(
            auth.from,
            auth.to,
            auth.value,
            auth.validAfter,
            auth.validBefore,
            auth.nonce,
            signTransfer(usdc, payerKey, auth)
        );
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = query(address(usdc), payer, auth.nonce);
        queries[1] = query(address(usdc), payer, bytes32(uint256(8)));

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(has(answers[0], NONCE_USED), "used nonce");
        assertFalse(has(answers[1], NONCE_USED), "the next nonce is fresh");
        assertEq(answers[0].balance, 1_000_000 - 10, "balance after the transfer");
    }

    function test_When_TokenHasNoCode_ReportsZeroCodeAndNoReads() public {
        VerifyReader.Answer memory a = readOne(query(address(0xdead), payer, bytes32(0)));

        assertFalse(has(a, TOKEN_HAS_CODE), "no code");
        assertFalse(has(a, BALANCE_OK) || has(a, NONCE_OK), "nothing read from a non-contract");
        assertFalse(has(a, SIMULATED), "nothing simulated against a non-contract");
    }

    function test_When_TokenIsNotEIP3009_OneQueryFailsAndTheOthersAnswer() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        // A wallet has code but neither balanceOf nor authorizationState.
        queries[0] = query(address(new MockERC1271Wallet(payer)), payer, bytes32(0));
        queries[1] = query(address(usdc), payer, bytes32(0));

        VerifyReader.Answer[] memory answers = read(queries);

        assertFalse(has(answers[0], BALANCE_OK) || has(answers[0], NONCE_OK), "reads of a non-token fail softly");
        assertTrue(has(answers[1], BALANCE_OK) && has(answers[1], NONCE_OK), "the other query still answers");
    }

    function test_When_PayerIsAWallet_AsksERC1271() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        bytes32 digest = keccak256("digest");
        vm.prank(payer);
        wallet.approve(digest);
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = query(address(usdc), address(wallet), bytes32(0));
        queries[0].digest = digest;
        queries[0].signature = hex"01";
        queries[1] = query(address(usdc), address(wallet), bytes32(0));
        queries[1].digest = keccak256("other");
        queries[1].signature = hex"01";

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(has(answers[0], PAYER_HAS_CODE), "a wallet has code");
        assertTrue(has(answers[0], CONTRACT_SIGNATURE_VALID), "approved digest");
        assertFalse(has(answers[1], CONTRACT_SIGNATURE_VALID), "unapproved digest");
    }

    function test_When_WalletReverts_SignatureIsInvalid() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        vm.prank(payer);
        wallet.setMode(MockERC1271Wallet.Mode.Reverting);

        VerifyReader.Answer memory a = readOne(query(address(usdc), address(wallet), bytes32(0)));

        assertFalse(has(a, CONTRACT_SIGNATURE_VALID), "a reverting wallet approves nothing");
    }

    function test_When_NoQueries_ReturnsAnEmptyList() public {
        assertEq(read(new VerifyReader.Query[](0)).length, 0, "empty");
    }

    function test_When_AFullBatchRefuses_TheAnswersStillFitInCode() public {
        usdc.pause();
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](100);
        for (uint256 i = 0; i < queries.length; i++) {
            queries[i] = payment(payTo, 10, bytes32(i));
        }

        VerifyReader.Answer[] memory answers = read(queries);

        assertEq(answers.length, 100, "every answer");
        assertEq(string(answers[99].refusal), "Pausable: paused", "the last refusal");
    }
}
