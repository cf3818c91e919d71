// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_Refund_Test is EscrowBase {
    function test_RevertWhen_NotFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        refundJob(terms);
    }

    function test_RevertWhen_TermsDifferFromFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        terms.amount = terms.amount * 2;
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        refundJob(terms);
    }

    function test_RevertWhen_Released() public {
        _expectInvalidFrom(Escrow.Status.Released);
    }

    function test_RevertWhen_AlreadyRefunded() public {
        _expectInvalidFrom(Escrow.Status.Refunded);
    }

    function test_RevertWhen_Resolved() public {
        _expectInvalidFrom(Escrow.Status.Resolved);
    }

    function test_RevertWhen_CallerIsStranger() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.warp(terms.completionDeadline);
        expectUnauthorized(jobId, stranger);
        vm.prank(stranger);
        escrow.refund(terms);
    }

    function test_RevertWhen_CallerIsArbiter() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Disputed);
        expectUnauthorized(jobId, arbiter);
        vm.prank(arbiter);
        escrow.refund(terms);
    }

    function test_RevertWhen_PayerBeforeCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        vm.warp(terms.completionDeadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_BeforeDeadline.selector, block.timestamp, terms.completionDeadline)
        );
        vm.prank(payer);
        escrow.refund(terms);
    }

    /// @dev A completed job is not refundable to the payer, even after the completion deadline.
    function test_RevertWhen_PayerAndCompleted() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        vm.warp(terms.completionDeadline + 1);
        expectInvalidStatus(jobId, Escrow.Status.Completed);
        vm.prank(payer);
        escrow.refund(terms);
    }

    /// @dev A disputed job is the arbiter's to split; the payer cannot refund it to itself.
    function test_RevertWhen_PayerAndDisputed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Disputed);
        vm.warp(terms.completionDeadline + 1);
        expectInvalidStatus(jobId, Escrow.Status.Disputed);
        vm.prank(payer);
        escrow.refund(terms);
    }

    /// @dev The operator returns money only before completion: it may not refund a completed job.
    function test_RevertWhen_OperatorAndCompleted() public {
        _expectOperatorInvalidIn(Escrow.Status.Completed);
    }

    /// @dev Nor a disputed one, which is the arbiter's to split.
    function test_RevertWhen_OperatorAndDisputed() public {
        _expectOperatorInvalidIn(Escrow.Status.Disputed);
    }

    function test_RevertWhen_OperatorAndReleased() public {
        _expectOperatorInvalidIn(Escrow.Status.Released);
    }

    /// @dev The provider reported failure: the operator sends the money back before any deadline.
    function test_When_OperatorAndFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobRefunded(jobId, terms.amount);
        vm.prank(operator);
        escrow.refund(terms);
        assertStatus(jobId, Escrow.Status.Refunded, "refunded");
        assertEq(claimableOf(payer), terms.amount, "payer credited in full");
        assertEq(claimableOf(provider) + claimableOf(feeRecipient), 0, "nothing else credited");
        assertEq(liabilitiesOf(), terms.amount, "liabilities unchanged until claimed");
    }

    function test_When_OperatorAfterCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.warp(terms.completionDeadline + 1 days);
        vm.prank(operator);
        escrow.refund(terms);
        assertStatus(jobId, Escrow.Status.Refunded, "refunded");
    }

    function test_When_ProviderAndFunded() public {
        _refundByProviderIn(Escrow.Status.Funded);
    }

    function test_When_ProviderAndCompleted() public {
        _refundByProviderIn(Escrow.Status.Completed);
    }

    function test_When_ProviderAndDisputed() public {
        _refundByProviderIn(Escrow.Status.Disputed);
    }

    function test_When_PayerAtCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.warp(terms.completionDeadline);
        vm.expectEmit(address(escrow));
        emit Escrow.JobRefunded(jobId, terms.amount);
        vm.prank(payer);
        escrow.refund(terms);
        assertStatus(jobId, Escrow.Status.Refunded, "refunded");
        assertEq(claimableOf(payer), terms.amount, "payer credited in full");
        assertEq(claimableOf(feeRecipient), 0, "no fee");
        assertEq(escrow.jobState(jobId).closedAt, block.timestamp, "closedAt");
    }

    function testFuzz_Refund_ByPayer(uint256 amount, uint256 elapsed) public {
        amount = bound(amount, 1, PAYER_FUNDS);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = amount * MAX_FEE_BPS / 10_000;
        bytes32 jobId = fundJob(terms);
        vm.warp(block.timestamp + bound(elapsed, 0, 30 days));
        if (block.timestamp < terms.completionDeadline) {
            vm.expectRevert(
                abi.encodeWithSelector(Escrow.Escrow_BeforeDeadline.selector, block.timestamp, terms.completionDeadline)
            );
            vm.prank(payer);
            escrow.refund(terms);
        } else {
            vm.prank(payer);
            escrow.refund(terms);
            assertStatus(jobId, Escrow.Status.Refunded, "refunded");
            assertEq(claimableOf(payer), amount, "full amount back");
            assertEq(claimableOf(feeRecipient) + claimableOf(provider), 0, "nothing else credited");
        }
    }

    function _refundByProviderIn(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        vm.expectEmit(address(escrow));
        emit Escrow.JobRefunded(jobId, terms.amount);
        refundJob(terms);
        assertStatus(jobId, Escrow.Status.Refunded, "refunded");
        assertEq(claimableOf(payer), terms.amount, "payer credited in full");
        assertEq(claimableOf(provider) + claimableOf(feeRecipient), 0, "nothing else credited");
    }

    function _expectOperatorInvalidIn(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectInvalidStatus(jobId, status);
        vm.prank(operator);
        escrow.refund(terms);
    }

    function _expectInvalidFrom(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectInvalidStatus(jobId, status);
        refundJob(terms);
    }
}
