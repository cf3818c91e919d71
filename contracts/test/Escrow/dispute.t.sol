// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_Dispute_Test is EscrowBase {
    function test_RevertWhen_NotFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        disputeJob(terms);
    }

    function test_RevertWhen_AlreadyDisputed() public {
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

    function test_RevertWhen_CallerIsProvider() public {
        _expectUnauthorizedCaller(provider);
    }

    function test_RevertWhen_CallerIsArbiter() public {
        _expectUnauthorizedCaller(arbiter);
    }

    function test_RevertWhen_CallerIsOperator() public {
        _expectUnauthorizedCaller(operator);
    }

    function test_RevertWhen_ReviewWindowClosed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 reviewEndsAt = block.timestamp + terms.reviewWindow;
        vm.warp(reviewEndsAt);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_ReviewWindowClosed.selector, jobId, block.timestamp, reviewEndsAt)
        );
        disputeJob(terms);
    }

    function test_RevertWhen_ReviewWindowIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.reviewWindow = 0;
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_ReviewWindowClosed.selector, jobId, block.timestamp, block.timestamp)
        );
        disputeJob(terms);
    }

    function test_When_Funded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobDisputed(jobId);
        disputeJob(terms);
        assertStatus(jobId, Escrow.Status.Disputed, "disputed");
    }

    /// @dev Disputing a funded job after its completion deadline is allowed (the payer could also refund).
    function test_When_FundedAfterCompletionDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        vm.warp(terms.completionDeadline + 1);
        disputeJob(terms);
        assertStatus(jobId, Escrow.Status.Disputed, "disputed");
    }

    function test_When_CompletedWithinReviewWindow() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 completedAt = block.timestamp;
        vm.warp(completedAt + terms.reviewWindow - 1);
        vm.expectEmit(address(escrow));
        emit Escrow.JobDisputed(jobId);
        disputeJob(terms);
        Escrow.JobState memory state = escrow.jobState(jobId);
        assertEq(uint256(state.status), uint256(Escrow.Status.Disputed), "disputed");
        assertEq(state.completedAt, completedAt, "completedAt kept");
        assertEq(state.closedAt, 0, "not closed");
    }

    /// @dev Once disputed, a job is no longer releasable by anyone but the payer, even after the review window.
    function test_When_DisputedThenReviewWindowPasses() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        disputeJob(terms);
        vm.warp(block.timestamp + terms.reviewWindow + 1);
        expectUnauthorized(jobId, stranger);
        vm.prank(stranger);
        escrow.release(terms);
    }

    function testFuzz_Dispute_AfterCompletion(uint64 reviewWindow, uint256 elapsed) public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.reviewWindow = uint64(bound(reviewWindow, 0, 60 days));
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 reviewEndsAt = block.timestamp + terms.reviewWindow;
        vm.warp(block.timestamp + bound(elapsed, 0, 2 * uint256(terms.reviewWindow) + 1));
        if (block.timestamp >= reviewEndsAt) {
            vm.expectRevert(
                abi.encodeWithSelector(Escrow.Escrow_ReviewWindowClosed.selector, jobId, block.timestamp, reviewEndsAt)
            );
            disputeJob(terms);
        } else {
            disputeJob(terms);
            assertStatus(jobId, Escrow.Status.Disputed, "disputed");
        }
    }

    function _expectInvalidFrom(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectInvalidStatus(jobId, status);
        disputeJob(terms);
    }

    function _expectUnauthorizedCaller(address caller) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        expectUnauthorized(jobId, caller);
        vm.prank(caller);
        escrow.dispute(terms);
    }
}
