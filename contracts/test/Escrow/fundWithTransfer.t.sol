// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

contract Escrow_FundWithTransfer_Test is EscrowBase {
    // ------------------------------------------------------------------ caller

    function test_RevertWhen_CallerIsStranger() public {
        _expectNotOperatorFor(stranger);
    }

    /// @dev Not even the payer: the payer signed no terms, only the transfer.
    function test_RevertWhen_CallerIsPayer() public {
        _expectNotOperatorFor(payer);
    }

    function test_RevertWhen_CallerIsProvider() public {
        _expectNotOperatorFor(provider);
    }

    // ------------------------------------------------------------------ terms and state

    function test_RevertWhen_FeeAboveCap() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fee = 2.5e6 + 1;
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, terms.fee, 2.5e6));
        _submit(item);
    }

    function test_RevertWhen_AmountIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = 0;
        terms.fee = 0;
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidAmount.selector, 0));
        _submit(item);
    }

    function test_RevertWhen_ArbiterIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.arbiter = address(0);
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.Arbiter));
        _submit(item);
    }

    function test_RevertWhen_FundingDeadlineAfterCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.completionDeadline = terms.fundingDeadline - 1;
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.expectRevert(
            abi.encodeWithSelector(
                Escrow.Escrow_InvalidDeadlines.selector, terms.fundingDeadline, terms.completionDeadline
            )
        );
        _submit(item);
    }

    function test_RevertWhen_AtFundingDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fundingDeadline = uint64(block.timestamp);
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.fundingDeadline)
        );
        _submit(item);
    }

    function test_RevertWhen_AlreadyFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJobWithTransfer(terms);
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.Funded);
        _submit(item);
    }

    /// @dev One jobId, two ways to fund it: whichever comes first wins, the other is refused on the status.
    function test_RevertWhen_AlreadyFundedByFund() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.Funded);
        _submit(item);
    }

    function test_RevertWhen_TermsEncodingNotCanonical() public {
        Escrow.JobTerms memory terms = defaultTerms();
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        bytes memory data =
            abi.encodeCall(Escrow.fundWithTransfer, (terms, item.validAfter, item.validBefore, item.signature));
        data[4 + 32 * 6] = 0x01; // top byte of fundingDeadline
        vm.prank(operator);
        (bool ok, bytes memory reason) = address(escrow).call(data);
        assertFalse(ok, "dirty field accepted");
        assertEq(reason.length, 0, "decoder revert");
    }

    // ------------------------------------------------------------------ the authorization

    function test_RevertWhen_SignedByOtherKey() public {
        (, uint256 otherKey) = makeKey("mallory");
        Escrow.TransferFunding memory item = transferFunding(defaultTerms(), otherKey);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _submit(item);
    }

    /// @dev The authorization binds the amount (its value) and the salt (its nonce): other ones do not match it.
    function test_RevertWhen_AmountOrSaltDiffersFromAuthorization() public {
        Escrow.TransferFunding memory item = transferFunding(defaultTerms(), payerKey);
        item.terms.amount = 40e6;
        item.terms.fee = 0;
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _submit(item);
        item = transferFunding(defaultTerms(), payerKey);
        item.terms.salt = keccak256("other salt");
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        _submit(item);
    }

    /// @dev Someone submitted the authorization to the token first: the nonce is used, this reverts, and the
    ///      money waits in the escrow as surplus for `fundTransferred`.
    function test_RevertWhen_AuthorizationUsed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        frontRunTerms(terms);
        vm.expectRevert(bytes("FiatTokenV2: authorization is used or canceled"));
        _submit(item);
        assertStatus(escrow.jobIdOf(terms), Escrow.Status.None, "not booked");
        assertEq(escrow.surplus(address(usdc)), terms.amount, "surplus");
        assertEq(liabilitiesOf(), 0, "no liability");
    }

    function test_RevertWhen_AuthorizationCancelled() public {
        Escrow.JobTerms memory terms = defaultTerms();
        usdc.cancelAuthorization(payer, terms.salt, signCancel(usdc, payerKey, payer, terms.salt));
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.expectRevert(bytes("FiatTokenV2: authorization is used or canceled"));
        _submit(item);
    }

    function test_RevertWhen_AuthorizationExpired() public {
        Escrow.TransferFunding memory item = transferFunding(defaultTerms(), payerKey);
        vm.warp(item.validBefore);
        vm.expectRevert(bytes("FiatTokenV2: authorization is expired"));
        _submit(item);
    }

    function test_RevertWhen_AuthorizationNotYetValid() public {
        Escrow.TransferFunding memory item = transferFunding(defaultTerms(), payerKey);
        item.validAfter = block.timestamp;
        item.signature = signTransfer(
            usdc,
            payerKey,
            Authorization({
                from: payer,
                to: address(escrow),
                value: item.terms.amount,
                validAfter: item.validAfter,
                validBefore: item.validBefore,
                nonce: item.terms.salt
            })
        );
        vm.expectRevert(bytes("FiatTokenV2: authorization is not yet valid"));
        _submit(item);
    }

    function test_RevertWhen_TokenPaused() public {
        Escrow.TransferFunding memory item = transferFunding(defaultTerms(), payerKey);
        usdc.pause();
        vm.expectRevert(bytes("Pausable: paused"));
        _submit(item);
    }

    // ------------------------------------------------------------------ defensive paths

    function test_RevertWhen_EscrowReceivesLess() public {
        Escrow.JobTerms memory terms = _evilJob(EvilToken.Mode.Shortchange);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_BalanceDelta.selector, terms.amount, terms.amount - 1));
        vm.prank(operator);
        escrow.fundWithTransfer(terms, 0, type(uint256).max, "");
    }

    function test_RevertWhen_EscrowReceivesMore() public {
        Escrow.JobTerms memory terms = _evilJob(EvilToken.Mode.Overpay);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_BalanceDelta.selector, terms.amount, terms.amount + 1));
        vm.prank(operator);
        escrow.fundWithTransfer(terms, 0, type(uint256).max, "");
    }

    function test_RevertWhen_TokenReenters() public {
        Escrow.JobTerms memory terms = _evilJob(EvilToken.Mode.Reenter);
        EvilToken(terms.token)
            .setReentry(address(escrow), abi.encodeCall(Escrow.fundWithTransfer, (terms, 0, type(uint256).max, "")));
        vm.expectRevert(Escrow.Escrow_Reentrancy.selector);
        vm.prank(operator);
        escrow.fundWithTransfer(terms, 0, type(uint256).max, "");
    }

    // ------------------------------------------------------------------ success

    function test_When_AuthorizationValid() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = escrow.jobIdOf(terms);
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);

        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(jobId, payer, provider, terms);
        _submit(item);

        Escrow.JobState memory state = escrow.jobState(jobId);
        assertEq(uint256(state.status), uint256(Escrow.Status.Funded), "status");
        assertEq(state.fundedAt, block.timestamp, "fundedAt");
        assertEq(usdc.balanceOf(address(escrow)), terms.amount, "escrow balance");
        assertEq(usdc.balanceOf(payer), PAYER_FUNDS - terms.amount, "payer balance");
        assertTrue(usdc.authorizationState(payer, terms.salt), "salt is the nonce used");
        assertFalse(usdc.authorizationState(payer, jobId), "jobId nonce untouched");
        assertEq(liabilitiesOf(), terms.amount, "liability");
        assertEq(escrow.surplus(address(usdc)), 0, "no surplus");
    }

    /// @dev The rest of the lifecycle does not care how a job was funded.
    function test_When_FundedThenReleasedAndClaimed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJobWithTransfer(terms);
        releaseJob(terms);
        assertStatus(jobId, Escrow.Status.Released, "released");
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        assertEq(usdc.balanceOf(provider), 47.5e6, "provider paid");
        assertEq(liabilitiesOf(), 2.5e6, "the fee is still owed");
    }

    function test_When_PayerIsERC1271Wallet() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        usdc.mint(address(wallet), 100e6);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.payer = address(wallet);
        (uint256 validAfter, uint256 validBefore) = transferWindow();
        bytes32 digest = digestOf(
            usdc,
            usdc.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(),
            Authorization({
                from: address(wallet),
                to: address(escrow),
                value: terms.amount,
                validAfter: validAfter,
                validBefore: validBefore,
                nonce: terms.salt
            })
        );
        vm.prank(payer);
        wallet.approve(digest);
        vm.prank(operator);
        escrow.fundWithTransfer(terms, validAfter, validBefore, "wallet-approved");
        assertStatus(escrow.jobIdOf(terms), Escrow.Status.Funded, "funded");
        assertEq(usdc.balanceOf(address(wallet)), 50e6, "wallet paid");
    }

    /// @dev Why the entry is the operator's alone: the authorization does not bind the provider, fee or arbiter,
    ///      so whoever submits it chooses them.
    function test_When_AuthorizationDoesNotBindTheTerms() public {
        Escrow.JobTerms memory signed = defaultTerms();
        Escrow.TransferFunding memory item = transferFunding(signed, payerKey);
        item.terms.provider = stranger;
        item.terms.arbiter = stranger;
        _submit(item);
        assertStatus(escrow.jobIdOf(item.terms), Escrow.Status.Funded, "booked with other terms");
    }

    function testFuzz_FundWithTransfer(uint256 amount, uint256 fee, uint64 fundingIn, bytes32 salt) public {
        amount = bound(amount, 1, PAYER_FUNDS);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        terms.fundingDeadline = uint64(block.timestamp + bound(fundingIn, 1, 365 days));
        terms.completionDeadline = terms.fundingDeadline;
        terms.salt = salt;
        bytes32 jobId = fundJobWithTransfer(terms);
        assertStatus(jobId, Escrow.Status.Funded, "funded");
        assertEq(usdc.balanceOf(address(escrow)), amount, "escrow holds amount");
        assertEq(liabilitiesOf(), amount, "liability");
    }

    // ------------------------------------------------------------------ helpers

    function _submit(Escrow.TransferFunding memory item) internal {
        vm.prank(operator);
        escrow.fundWithTransfer(item.terms, item.validAfter, item.validBefore, item.signature);
    }

    function _expectNotOperatorFor(address caller) internal {
        Escrow.TransferFunding memory item = transferFunding(defaultTerms(), payerKey);
        expectNotOperator(caller);
        vm.prank(caller);
        escrow.fundWithTransfer(item.terms, item.validAfter, item.validBefore, item.signature);
    }

    function _evilJob(EvilToken.Mode mode) internal returns (Escrow.JobTerms memory terms) {
        EvilToken evil = new EvilToken();
        evil.setMode(mode);
        evil.mint(payer, 1000e6);
        terms = defaultTerms();
        terms.token = address(evil);
    }
}
