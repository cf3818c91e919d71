// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_Release_Test is EscrowBase {
    function test_RevertWhen_NotFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        releaseJob(terms);
    }

    /// @dev Terms are checked by their hash: changing any field (here the fee) names a job that does not exist.
    function test_RevertWhen_TermsDifferFromFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        terms.fee = 0;
        expectInvalidStatus(escrow.jobIdOf(terms), Escrow.Status.None);
        releaseJob(terms);
    }

    /// @dev Dirty upper bits in a narrow field hash to another, unfunded id.
    function test_RevertWhen_TermsEncodingNotCanonical() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        bytes memory data = abi.encodeCall(Escrow.release, (terms));
        data[4] = 0x01; // top byte of the payer word
        bytes32 dirtyId;
        assembly {
            let m := mload(0x40)
            mstore(m, chainid())
            mstore(add(m, 0x20), sload(escrow.slot))
            mcopy(add(m, 0x40), add(data, 0x24), 0x140)
            dirtyId := keccak256(m, 0x180)
        }
        vm.prank(payer);
        (bool ok, bytes memory reason) = address(escrow).call(data);
        assertFalse(ok, "dirty encoding accepted");
        vm.assertEq(
            reason,
            abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, dirtyId, Escrow.Status.None),
            "unknown job"
        );
    }

    function test_RevertWhen_AlreadyReleased() public {
        _expectInvalidFrom(Escrow.Status.Released);
    }

    function test_RevertWhen_Refunded() public {
        _expectInvalidFrom(Escrow.Status.Refunded);
    }

    function test_RevertWhen_Resolved() public {
        _expectInvalidFrom(Escrow.Status.Resolved);
    }

    function test_RevertWhen_StrangerAndFunded() public {
        _expectUnauthorizedIn(Escrow.Status.Funded, stranger);
    }

    function test_RevertWhen_ProviderAndFunded() public {
        _expectUnauthorizedIn(Escrow.Status.Funded, provider);
    }

    function test_RevertWhen_StrangerAndDisputed() public {
        _expectUnauthorizedIn(Escrow.Status.Disputed, stranger);
    }

    function test_RevertWhen_ArbiterAndDisputed() public {
        _expectUnauthorizedIn(Escrow.Status.Disputed, arbiter);
    }

    function test_RevertWhen_StrangerDuringReviewWindow() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 reviewEndsAt = block.timestamp + terms.reviewWindow;
        vm.warp(reviewEndsAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_ReviewWindowOpen.selector, jobId, block.timestamp, reviewEndsAt)
        );
        vm.prank(provider);
        escrow.release(terms);
    }

    function test_When_PayerAndFunded() public {
        _releaseByPayerIn(Escrow.Status.Funded);
    }

    function test_When_PayerAndCompleted() public {
        _releaseByPayerIn(Escrow.Status.Completed);
    }

    /// @dev The payer may release a disputed job: it concedes the dispute.
    function test_When_PayerAndDisputed() public {
        _releaseByPayerIn(Escrow.Status.Disputed);
    }

    function test_When_AnyoneAtReviewWindowEnd() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        vm.warp(block.timestamp + terms.reviewWindow);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 47.5e6, 2.5e6);
        vm.prank(stranger);
        escrow.release(terms);
        assertStatus(jobId, Escrow.Status.Released, "released");
        assertEq(escrow.jobState(jobId).closedAt, block.timestamp, "closedAt");
    }

    function test_When_ProviderAfterReviewWindow() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        vm.warp(block.timestamp + terms.reviewWindow + 30 days);
        vm.prank(provider);
        escrow.release(terms);
        assertStatus(jobId, Escrow.Status.Released, "released");
        assertEq(claimableOf(provider), 47.5e6, "provider credited");
    }

    function test_When_FeeIsZero() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fee = 0;
        bytes32 jobId = fundJob(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 50e6, 0);
        releaseJob(terms);
        assertEq(claimableOf(provider), 50e6, "provider gets all");
        assertEq(claimableOf(feeRecipient), 0, "no fee");
    }

    function test_When_FeeIsWholeAmount() public {
        escrow = new Escrow(feeRecipient, 10_000, operator);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fee = terms.amount;
        fundJob(terms);
        releaseJob(terms);
        assertEq(claimableOf(provider), 0, "provider gets nothing");
        assertEq(claimableOf(feeRecipient), terms.amount, "fee is everything");
    }

    function test_When_CreditsAccumulate() public {
        Escrow.JobTerms memory first = defaultTerms();
        Escrow.JobTerms memory second = defaultTerms();
        second.salt = keccak256("job-2");
        fundJob(first);
        fundJob(second);
        releaseJob(first);
        releaseJob(second);
        assertEq(claimableOf(provider), 2 * 47.5e6, "provider");
        assertEq(claimableOf(feeRecipient), 2 * 2.5e6, "fee recipient");
    }

    function testFuzz_Release(uint256 amount, uint256 fee, uint64 reviewWindow, uint256 elapsed) public {
        amount = bound(amount, 1, PAYER_FUNDS);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        reviewWindow = uint64(bound(reviewWindow, 0, 60 days));
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        terms.reviewWindow = reviewWindow;
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        uint256 reviewEndsAt = block.timestamp + reviewWindow;
        vm.warp(block.timestamp + bound(elapsed, 0, 2 * uint256(reviewWindow) + 1));

        if (block.timestamp < reviewEndsAt) {
            vm.expectRevert(
                abi.encodeWithSelector(Escrow.Escrow_ReviewWindowOpen.selector, jobId, block.timestamp, reviewEndsAt)
            );
            vm.prank(stranger);
            escrow.release(terms);
            releaseJob(terms); // the payer still may
        } else {
            vm.prank(stranger);
            escrow.release(terms);
        }
        assertStatus(jobId, Escrow.Status.Released, "released");
        assertEq(claimableOf(provider), amount - fee, "provider");
        assertEq(claimableOf(feeRecipient), fee, "fee");
        assertEq(claimableOf(payer), 0, "payer");
        assertEq(usdc.balanceOf(address(escrow)), amount, "escrow still holds it until claimed");
    }

    function _releaseByPayerIn(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 47.5e6, 2.5e6);
        releaseJob(terms);
        assertStatus(jobId, Escrow.Status.Released, "released");
        assertEq(claimableOf(provider), 47.5e6, "provider");
        assertEq(claimableOf(feeRecipient), 2.5e6, "fee recipient");
        assertEq(claimableOf(payer), 0, "payer");
    }

    function _expectInvalidFrom(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectInvalidStatus(jobId, status);
        releaseJob(terms);
    }

    function _expectUnauthorizedIn(Escrow.Status status, address caller) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectUnauthorized(jobId, caller);
        vm.prank(caller);
        escrow.release(terms);
    }
}
