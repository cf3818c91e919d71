// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_DisputeWithSig_Test is EscrowBase {
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 1 days;
    }

    function test_RevertWhen_DeadlinePassed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(disputeTypeHash(), jobId, deadline, payerKey);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_SignatureExpired.selector, deadline + 1, deadline));
        escrow.disputeWithSig(terms, deadline, signature);
    }

    function test_RevertWhen_SignedByOtherKey() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        (, uint256 otherKey) = makeKey("mallory");
        bytes memory signature = signAction(disputeTypeHash(), jobId, deadline, otherKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        escrow.disputeWithSig(terms, deadline, signature);
    }

    /// @dev A release signature cannot be turned into a dispute (nor the other way round).
    function test_RevertWhen_SignatureIsForRelease() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        escrow.disputeWithSig(terms, deadline, signature);
    }

    function test_RevertWhen_ERC1271WalletRefuses() public {
        (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) = walletJob();
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, address(wallet)));
        escrow.disputeWithSig(terms, deadline, "not approved");
    }

    function test_RevertWhen_ReviewWindowClosed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 reviewEndsAt = block.timestamp + terms.reviewWindow;
        uint256 sigDeadline = reviewEndsAt + 1 days;
        bytes memory signature = signAction(disputeTypeHash(), jobId, sigDeadline, payerKey);
        vm.warp(reviewEndsAt);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_ReviewWindowClosed.selector, jobId, reviewEndsAt, reviewEndsAt)
        );
        escrow.disputeWithSig(terms, sigDeadline, signature);
    }

    /// @dev No nonce: a replay fails on the status, since a job is disputed once.
    function test_RevertWhen_Replayed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(disputeTypeHash(), jobId, deadline, payerKey);
        escrow.disputeWithSig(terms, deadline, signature);
        expectInvalidStatus(jobId, Escrow.Status.Disputed);
        escrow.disputeWithSig(terms, deadline, signature);
    }

    /// @dev Replayed after the arbiter resolved the dispute: still refused.
    function test_RevertWhen_ReplayedAfterResolution() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(disputeTypeHash(), jobId, deadline, payerKey);
        escrow.disputeWithSig(terms, deadline, signature);
        resolveJob(terms, 5000);
        expectInvalidStatus(jobId, Escrow.Status.Resolved);
        escrow.disputeWithSig(terms, deadline, signature);
    }

    function test_RevertWhen_Released() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Released);
        bytes memory signature = signAction(disputeTypeHash(), jobId, deadline, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.Released);
        escrow.disputeWithSig(terms, deadline, signature);
    }

    function test_When_Funded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(disputeTypeHash(), jobId, deadline, payerKey);
        vm.expectEmit(address(escrow));
        emit Escrow.JobDisputed(jobId);
        vm.prank(relayer);
        escrow.disputeWithSig(terms, deadline, signature);
        assertStatus(jobId, Escrow.Status.Disputed, "disputed");
        assertEq(liabilitiesOf(), 50e6, "liabilities unchanged");
    }

    function test_When_CompletedDuringReviewWindow() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 sigDeadline = block.timestamp + terms.reviewWindow;
        bytes memory signature = signAction(disputeTypeHash(), jobId, sigDeadline, payerKey);
        vm.warp(block.timestamp + terms.reviewWindow - 1);
        escrow.disputeWithSig(terms, sigDeadline, signature);
        assertStatus(jobId, Escrow.Status.Disputed, "disputed");
    }

    function test_When_PayerIsERC1271Wallet() public {
        (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) = walletJob();
        bytes32 digest = escrow.disputeDigest(jobId, deadline);
        vm.prank(payer);
        wallet.approve(digest);
        escrow.disputeWithSig(terms, deadline, "");
        assertStatus(jobId, Escrow.Status.Disputed, "disputed");
    }

    function test_When_DigestView() public {
        bytes32 jobId = keccak256("some job");
        assertEq(escrow.disputeDigest(jobId, deadline), actionDigest(disputeTypeHash(), jobId, deadline), "digest");
        assertTrue(escrow.disputeDigest(jobId, deadline) != escrow.releaseDigest(jobId, deadline), "distinct types");
    }
}
