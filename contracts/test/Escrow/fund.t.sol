// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

contract Escrow_Fund_Test is EscrowBase {
    // ------------------------------------------------------------------ terms validation

    function test_RevertWhen_PayerIsZero() public {
        _expectZeroAddress(_with(0, address(0)), Escrow.AddressField.Payer);
    }

    function test_RevertWhen_ProviderIsZero() public {
        _expectZeroAddress(_with(1, address(0)), Escrow.AddressField.Provider);
    }

    function test_RevertWhen_TokenIsZero() public {
        _expectZeroAddress(_with(2, address(0)), Escrow.AddressField.Token);
    }

    function test_RevertWhen_ArbiterIsZero() public {
        _expectZeroAddress(_with(5, address(0)), Escrow.AddressField.Arbiter);
    }

    function test_RevertWhen_AmountIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = 0;
        terms.fee = 0;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidAmount.selector, 0));
        escrow.fund(terms, "");
    }

    function test_RevertWhen_AmountAboveMax() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidAmount.selector, terms.amount));
        escrow.fund(terms, "");
    }

    function test_RevertWhen_FeeAboveCap() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fee = 2.5e6 + 1; // 5% of 50e6 is 2.5e6
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, terms.fee, 2.5e6));
        escrow.fund(terms, "");
    }

    function test_RevertWhen_FundingDeadlineAfterCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.completionDeadline = terms.fundingDeadline - 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                Escrow.Escrow_InvalidDeadlines.selector, terms.fundingDeadline, terms.completionDeadline
            )
        );
        escrow.fund(terms, "");
    }

    function test_RevertWhen_AtFundingDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        vm.warp(terms.fundingDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.fundingDeadline)
        );
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_AfterFundingDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        vm.warp(terms.fundingDeadline + 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.fundingDeadline)
        );
        escrow.fund(terms, signature);
    }

    /// @dev Every narrow field is checked by the ABI decoder in `fund`, so a funded jobId always hashes a canonical
    ///      encoding (what lets the later calls skip those checks).
    function test_RevertWhen_TermsEncodingNotCanonical() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        uint256[7] memory narrowFields = [uint256(0), 1, 2, 5, 6, 7, 8];
        for (uint256 i; i < narrowFields.length; ++i) {
            bytes memory data = abi.encodeCall(Escrow.fund, (terms, signature));
            data[4 + 32 * narrowFields[i]] = 0x01; // set the field's top byte
            (bool ok, bytes memory reason) = address(escrow).call(data);
            assertFalse(ok, "dirty field accepted");
            assertEq(reason.length, 0, "decoder revert");
        }
        // The canonical encoding funds.
        escrow.fund(terms, signature);
    }

    // ------------------------------------------------------------------ state and authorization

    function test_RevertWhen_AlreadyFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signTerms(terms, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.Funded);
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_JobClosed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Refunded);
        bytes memory signature = signTerms(terms, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.Refunded);
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_SignedByOtherKey() public {
        Escrow.JobTerms memory terms = defaultTerms();
        (, uint256 otherKey) = makeKey("mallory");
        bytes memory signature = signTerms(terms, otherKey);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        escrow.fund(terms, signature);
    }

    /// @dev The signature binds every field through the jobId nonce: a signature for one job funds no other.
    function test_RevertWhen_SignatureForOtherTerms() public {
        Escrow.JobTerms memory signed = defaultTerms();
        bytes memory signature = signTerms(signed, payerKey);
        Escrow.JobTerms memory submitted = defaultTerms();
        submitted.provider = stranger;
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        escrow.fund(submitted, signature);
        submitted = defaultTerms();
        submitted.fee = 0;
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        escrow.fund(submitted, signature);
    }

    function test_RevertWhen_AuthorizationCancelled() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = escrow.jobIdOf(terms);
        usdc.cancelAuthorization(payer, jobId, signCancel(usdc, payerKey, payer, jobId));
        bytes memory signature = signTerms(terms, payerKey);
        vm.expectRevert(bytes("FiatTokenV2: authorization is used or canceled"));
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_PayerBalanceTooLow() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = PAYER_FUNDS + 1;
        terms.fee = 0;
        bytes memory signature = signTerms(terms, payerKey);
        vm.expectRevert(bytes("ERC20: transfer amount exceeds balance"));
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_TokenPaused() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        usdc.pause();
        vm.expectRevert(bytes("Pausable: paused"));
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_PayerBlacklisted() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        usdc.blacklist(payer);
        vm.expectRevert(bytes("Blacklistable: account is blacklisted"));
        escrow.fund(terms, signature);
    }

    function test_RevertWhen_TokenHasNoCode() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.token = makeAddr("not a token");
        vm.expectRevert();
        escrow.fund(terms, "");
    }

    // ------------------------------------------------------------------ defensive paths

    function test_RevertWhen_EscrowReceivesLess() public {
        EvilToken evil = _evilTerms(EvilToken.Mode.Shortchange);
        Escrow.JobTerms memory terms = _evilJob(evil);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_BalanceDelta.selector, terms.amount, terms.amount - 1));
        escrow.fund(terms, "");
    }

    function test_RevertWhen_EscrowReceivesMore() public {
        EvilToken evil = _evilTerms(EvilToken.Mode.Overpay);
        Escrow.JobTerms memory terms = _evilJob(evil);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_BalanceDelta.selector, terms.amount, terms.amount + 1));
        escrow.fund(terms, "");
    }

    function test_RevertWhen_TokenReenters() public {
        EvilToken evil = _evilTerms(EvilToken.Mode.Reenter);
        Escrow.JobTerms memory terms = _evilJob(evil);
        evil.setReentry(address(escrow), abi.encodeCall(Escrow.release, (terms)));
        vm.expectRevert(Escrow.Escrow_Reentrancy.selector);
        escrow.fund(terms, "");
    }

    /// @dev Every state-changing entry point is guarded: a token calling back into any of them mid-`fund` fails.
    function test_RevertWhen_TokenReentersAnyEntryPoint() public {
        EvilToken evil = _evilTerms(EvilToken.Mode.Reenter);
        Escrow.JobTerms memory terms = _evilJob(evil);
        Escrow.DirectPayment memory payment = directPayment(0);
        bytes[] memory calls = new bytes[](18);
        calls[0] = abi.encodeCall(Escrow.fund, (terms, ""));
        calls[1] = abi.encodeCall(Escrow.fundMany, (new Escrow.JobTerms[](0), new bytes[](0)));
        calls[2] = abi.encodeCall(Escrow.markCompleted, (terms));
        calls[3] = abi.encodeCall(Escrow.release, (terms));
        calls[4] = abi.encodeCall(Escrow.refund, (terms));
        calls[5] = abi.encodeCall(Escrow.dispute, (terms));
        calls[6] = abi.encodeCall(Escrow.resolve, (terms, 5000));
        calls[7] = abi.encodeCall(Escrow.claim, (address(evil), payer));
        calls[8] = abi.encodeCall(Escrow.fundWithTransfer, (terms, 0, 0, ""));
        calls[9] = abi.encodeCall(Escrow.fundManyWithTransfer, (new Escrow.TransferFunding[](0)));
        calls[10] = abi.encodeCall(Escrow.payMany, (address(evil), new Escrow.DirectPayment[](0)));
        calls[11] = abi.encodeCall(Escrow.fundTransferred, (terms));
        calls[12] = abi.encodeCall(Escrow.creditTransferred, (address(evil), payment));
        calls[13] = abi.encodeCall(Escrow.releaseWithSig, (terms, 0, ""));
        calls[14] = abi.encodeCall(Escrow.disputeWithSig, (terms, 0, ""));
        calls[15] = abi.encodeCall(Escrow.stepMany, (new Escrow.Step[](0)));
        calls[16] = abi.encodeCall(Escrow.claimFor, (address(evil), payer));
        calls[17] = abi.encodeCall(Escrow.claimMany, (address(evil), new address[](0)));
        for (uint256 i; i < calls.length; ++i) {
            evil.setReentry(address(escrow), calls[i]);
            vm.expectRevert(Escrow.Escrow_Reentrancy.selector);
            escrow.fund(terms, "");
        }
    }

    /// @dev The batch item entries answer only this contract, whoever holds the guard.
    function test_RevertWhen_TokenReentersABatchItem() public {
        EvilToken evil = _evilTerms(EvilToken.Mode.Reenter);
        Escrow.JobTerms memory terms = _evilJob(evil);
        Escrow.TransferFunding memory item =
            Escrow.TransferFunding({terms: terms, validAfter: 0, validBefore: 0, signature: ""});
        Escrow.Step memory step =
            Escrow.Step({kind: Escrow.StepKind.Complete, terms: terms, deadline: 0, signature: "", providerBps: 0});
        bytes[] memory calls = new bytes[](5);
        calls[0] = abi.encodeCall(Escrow.fundBatchItem, (terms, ""));
        calls[1] = abi.encodeCall(Escrow.fundWithTransferBatchItem, (item));
        calls[2] = abi.encodeCall(Escrow.payBatchItem, (address(evil), directPayment(0)));
        calls[3] = abi.encodeCall(Escrow.stepBatchItem, (step));
        calls[4] = abi.encodeCall(Escrow.claimBatchItem, (address(evil), payer));
        for (uint256 i; i < calls.length; ++i) {
            evil.setReentry(address(escrow), calls[i]);
            vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, address(evil)));
            escrow.fund(terms, "");
        }
    }

    // ------------------------------------------------------------------ success

    function test_When_TermsAndSignatureValid() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = escrow.jobIdOf(terms);
        bytes memory signature = signTerms(terms, payerKey);

        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(jobId, payer, provider, terms);
        vm.prank(relayer);
        escrow.fund(terms, signature);

        Escrow.JobState memory state = escrow.jobState(jobId);
        assertEq(uint256(state.status), uint256(Escrow.Status.Funded), "status");
        assertEq(state.fundedAt, block.timestamp, "fundedAt");
        assertEq(state.completedAt, 0, "completedAt");
        assertEq(state.closedAt, 0, "closedAt");
        assertEq(usdc.balanceOf(address(escrow)), terms.amount, "escrow balance");
        assertEq(usdc.balanceOf(payer), PAYER_FUNDS - terms.amount, "payer balance");
        assertTrue(usdc.authorizationState(payer, jobId), "nonce used");
        assertEq(claimableOf(payer) + claimableOf(provider) + claimableOf(feeRecipient), 0, "nothing credited");
        assertEq(liabilitiesOf(), terms.amount, "liability");
    }

    function test_When_SubmittedByPayerItself() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        vm.prank(payer);
        escrow.fund(terms, signature);
        assertStatus(escrow.jobIdOf(terms), Escrow.Status.Funded, "funded");
    }

    function test_When_FeeIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fee = 0;
        assertStatus(fundJob(terms), Escrow.Status.Funded, "funded");
    }

    function test_When_FeeAtCap() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = 1_000_001; // cap = 1_000_001 * 500 / 10_000 = 50_000 (rounded down)
        terms.fee = 50_000;
        assertStatus(fundJob(terms), Escrow.Status.Funded, "funded");
    }

    function test_When_DeadlinesEqual() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.completionDeadline = terms.fundingDeadline;
        assertStatus(fundJob(terms), Escrow.Status.Funded, "funded");
    }

    function test_When_OneSecondBeforeFundingDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        vm.warp(terms.fundingDeadline - 1);
        escrow.fund(terms, signature);
        assertStatus(escrow.jobIdOf(terms), Escrow.Status.Funded, "funded");
    }

    function test_When_SameTermsOtherSalt() public {
        Escrow.JobTerms memory first = defaultTerms();
        Escrow.JobTerms memory second = defaultTerms();
        second.salt = keccak256("job-2");
        bytes32 firstId = fundJob(first);
        bytes32 secondId = fundJob(second);
        assertTrue(firstId != secondId, "distinct ids");
        assertEq(usdc.balanceOf(address(escrow)), 2 * first.amount, "both funded");
    }

    function testFuzz_Fund(uint256 amount, uint256 fee, uint64 fundingIn, uint64 completionAfter, uint64 reviewWindow)
        public
    {
        amount = bound(amount, 1, PAYER_FUNDS);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        fundingIn = uint64(bound(fundingIn, 1, 365 days));
        completionAfter = uint64(bound(completionAfter, 0, 365 days));
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        terms.fundingDeadline = uint64(block.timestamp) + fundingIn;
        terms.completionDeadline = terms.fundingDeadline + completionAfter;
        terms.reviewWindow = reviewWindow;

        bytes32 jobId = fundJob(terms);
        assertStatus(jobId, Escrow.Status.Funded, "funded");
        assertEq(usdc.balanceOf(address(escrow)), amount, "escrow holds amount");
    }

    function testFuzz_RevertWhen_FeeAboveCap(uint256 amount, uint256 fee) public {
        amount = bound(amount, 1, type(uint128).max);
        uint256 cap = amount * MAX_FEE_BPS / 10_000;
        fee = bound(fee, cap + 1, type(uint256).max);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, fee, cap));
        escrow.fund(terms, "");
    }

    function testFuzz_RevertWhen_AtOrAfterFundingDeadline(uint256 lateBy) public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        vm.warp(terms.fundingDeadline + bound(lateBy, 0, 10 * 365 days));
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.fundingDeadline)
        );
        escrow.fund(terms, signature);
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Default terms with the address field at `index` set to `value`.
    function _with(uint256 index, address value) internal view returns (Escrow.JobTerms memory terms) {
        terms = defaultTerms();
        if (index == 0) terms.payer = value;
        else if (index == 1) terms.provider = value;
        else if (index == 2) terms.token = value;
        else if (index == 5) terms.arbiter = value;
    }

    function _expectZeroAddress(Escrow.JobTerms memory terms, Escrow.AddressField field) internal {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, field));
        escrow.fund(terms, "");
    }

    function _evilTerms(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.setMode(mode);
        evil.mint(payer, 1000e6);
    }

    function _evilJob(EvilToken evil) internal view returns (Escrow.JobTerms memory terms) {
        terms = defaultTerms();
        terms.token = address(evil);
    }
}
