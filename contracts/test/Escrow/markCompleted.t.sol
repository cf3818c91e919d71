// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_MarkCompleted_Test is EscrowBase {
    function test_RevertWhen_NotFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        vm.prank(provider);
        escrow.markCompleted(terms);
    }

    function test_RevertWhen_TermsDifferFromFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        terms.reviewWindow = 0; // the provider cannot shorten the payer's review window
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        vm.prank(provider);
        escrow.markCompleted(terms);
    }

    function test_RevertWhen_AlreadyCompleted() public {
        _expectInvalidFrom(Escrow.Status.Completed);
    }

    function test_RevertWhen_Disputed() public {
        _expectInvalidFrom(Escrow.Status.Disputed);
    }

    function test_RevertWhen_Released() public {
        _expectInvalidFrom(Escrow.Status.Released);
    }

    function test_RevertWhen_Refunded() public {
        _expectInvalidFrom(Escrow.Status.Refunded);
    }

    function test_RevertWhen_Resolved() public {
        _expectInvalidFrom(Escrow.Status.Resolved);
    }

    function test_RevertWhen_CallerIsPayer() public {
        _expectUnauthorizedCaller(payer);
    }

    function test_RevertWhen_CallerIsArbiter() public {
        _expectUnauthorizedCaller(arbiter);
    }

    function test_RevertWhen_CallerIsStranger() public {
        _expectUnauthorizedCaller(stranger);
    }

    function test_RevertWhen_OperatorDisabledAndCallerIsOldOperator() public {
        escrow = new Escrow(feeRecipient, MAX_FEE_BPS, address(0));
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        expectUnauthorized(jobId, operator);
        vm.prank(operator);
        escrow.markCompleted(terms);
        completeJob(terms); // the provider still may
        assertStatus(jobId, Escrow.Status.Completed, "completed by provider");
    }

    function test_RevertWhen_AtCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        vm.warp(terms.completionDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.completionDeadline)
        );
        vm.prank(provider);
        escrow.markCompleted(terms);
    }

    function test_When_CalledByProvider() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.warp(block.timestamp + 1 days);
        vm.expectEmit(address(escrow));
        emit Escrow.JobCompleted(jobId, block.timestamp, block.timestamp + terms.reviewWindow);
        vm.prank(provider);
        escrow.markCompleted(terms);
        Escrow.JobState memory state = escrow.jobState(jobId);
        assertEq(uint256(state.status), uint256(Escrow.Status.Completed), "status");
        assertEq(state.completedAt, block.timestamp, "completedAt");
        assertEq(state.fundedAt, T0, "fundedAt kept");
    }

    function test_When_CalledByOperator() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.prank(operator);
        escrow.markCompleted(terms);
        assertStatus(jobId, Escrow.Status.Completed, "completed");
    }

    function test_When_OneSecondBeforeCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.warp(terms.completionDeadline - 1);
        completeJob(terms);
        assertStatus(jobId, Escrow.Status.Completed, "completed");
    }

    /// @dev A zero review window: anyone may release at once.
    function test_When_ReviewWindowIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.reviewWindow = 0;
        bytes32 jobId = fundJob(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobCompleted(jobId, block.timestamp, block.timestamp);
        completeJob(terms);
        vm.prank(stranger);
        escrow.release(terms);
        assertStatus(jobId, Escrow.Status.Released, "released by anyone");
    }

    function testFuzz_MarkCompleted(uint256 elapsed, uint64 reviewWindow) public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.reviewWindow = reviewWindow;
        bytes32 jobId = fundJob(terms);
        elapsed = bound(elapsed, 0, 2 * (terms.completionDeadline - block.timestamp));
        vm.warp(block.timestamp + elapsed);
        if (block.timestamp >= terms.completionDeadline) {
            vm.expectRevert(
                abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.completionDeadline)
            );
            completeJob(terms);
        } else {
            vm.expectEmit(address(escrow));
            emit Escrow.JobCompleted(jobId, block.timestamp, block.timestamp + uint256(reviewWindow));
            completeJob(terms);
            assertEq(escrow.jobState(jobId).completedAt, block.timestamp, "completedAt");
        }
    }

    function _expectInvalidFrom(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectInvalidStatus(jobId, status);
        vm.prank(provider);
        escrow.markCompleted(terms);
    }

    function _expectUnauthorizedCaller(address caller) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        expectUnauthorized(jobId, caller);
        vm.prank(caller);
        escrow.markCompleted(terms);
    }
}
