// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {Vm} from "../utils/Vm.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {HostileWallet} from "./mocks/HostileWallet.sol";

contract Escrow_StepMany_Test is EscrowBase {
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 30 days;
    }

    // ------------------------------------------------------------------ the batch

    function test_RevertWhen_CallerNotOperator() public {
        Escrow.Step[] memory steps = new Escrow.Step[](1);
        steps[0] = _step(Escrow.StepKind.Complete, _job(0));
        expectNotOperator(provider);
        vm.prank(provider);
        escrow.stepMany(steps);
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        Escrow.Step[] memory steps = new Escrow.Step[](1);
        steps[0] = _step(Escrow.StepKind.Complete, _job(0));
        uint256 required = escrow.FUND_ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        vm.prank(operator);
        escrow.stepMany{gas: required}(steps);
    }

    function test_RevertWhen_GasRunsShortMidBatch() public {
        Escrow.Step[] memory steps = new Escrow.Step[](3);
        for (uint256 i; i < 3; ++i) {
            steps[i] = _signedStep(Escrow.StepKind.ReleaseWithSig, _job(i), payerKey);
        }
        // Passes the first check, but a signed release uses more than the 20k margin, so the second check fails.
        uint256 gasLimit = escrow.FUND_ITEM_GAS_REQUIRED() + 20_000;
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        vm.prank(operator);
        escrow.stepMany{gas: gasLimit}(steps);
        assertStatus(escrow.jobIdOf(steps[0].terms), Escrow.Status.Funded, "rolled back");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        Escrow.Step memory step = _step(Escrow.StepKind.Complete, _job(0));
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, operator));
        vm.prank(operator);
        escrow.stepBatchItem(step);
    }

    /// @dev An out-of-range kind is a broken encoding of the batch, not a failed step: the whole call reverts.
    function test_RevertWhen_KindOutOfRange() public {
        Escrow.Step[] memory steps = new Escrow.Step[](1);
        steps[0] = _step(Escrow.StepKind.Complete, _job(0));
        bytes memory data = abi.encodeCall(Escrow.stepMany, (steps));
        // selector, array offset, length, offset of step 0, then step 0's kind (its last byte).
        data[4 + 32 * 3 + 31] = 0x06;
        vm.prank(operator);
        (bool ok,) = address(escrow).call(data);
        assertFalse(ok, "bad kind accepted");
    }

    function test_When_Empty() public {
        vm.expectEmit(address(escrow));
        emit Escrow.StepsApplied(0, 0);
        vm.prank(operator);
        assertEq(escrow.stepMany(new Escrow.Step[](0)), 0, "none applied");
    }

    // ------------------------------------------------------------------ each kind

    function test_When_Complete() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobCompleted(jobId, block.timestamp, block.timestamp + terms.reviewWindow);
        _applyOne(_step(Escrow.StepKind.Complete, terms), 1);
        assertStatus(jobId, Escrow.Status.Completed, "completed");
    }

    function test_When_CompleteAfterCompletionDeadline() public {
        Escrow.JobTerms memory terms = _job(0);
        vm.warp(terms.completionDeadline);
        _expectStepFailure(
            _step(Escrow.StepKind.Complete, terms),
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.completionDeadline)
        );
    }

    /// @dev Release is the operator's release: anyone's right once the review window is over, not before.
    function test_When_ReleaseDuringReviewWindow() public {
        Escrow.JobTerms memory terms = _job(0);
        completeJob(terms);
        bytes32 jobId = escrow.jobIdOf(terms);
        uint256 reviewEndsAt = block.timestamp + terms.reviewWindow;
        _expectStepFailure(
            _step(Escrow.StepKind.Release, terms),
            abi.encodeWithSelector(Escrow.Escrow_ReviewWindowOpen.selector, jobId, block.timestamp, reviewEndsAt)
        );
    }

    function test_When_ReleaseOfFundedJob() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        _expectStepFailure(
            _step(Escrow.StepKind.Release, terms),
            abi.encodeWithSelector(Escrow.Escrow_Unauthorized.selector, jobId, operator)
        );
    }

    function test_When_ReleaseAfterReviewWindow() public {
        Escrow.JobTerms memory terms = _job(0);
        completeJob(terms);
        vm.warp(block.timestamp + terms.reviewWindow);
        bytes32 jobId = escrow.jobIdOf(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 47.5e6, 2.5e6);
        _applyOne(_step(Escrow.StepKind.Release, terms), 1);
        assertStatus(jobId, Escrow.Status.Released, "released");
    }

    function test_When_ReleaseWithSig() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 47.5e6, 2.5e6);
        _applyOne(_signedStep(Escrow.StepKind.ReleaseWithSig, terms, payerKey), 1);
        assertStatus(jobId, Escrow.Status.Released, "released by the payer's signature");
    }

    function test_When_ReleaseWithSigExpired() public {
        Escrow.Step memory step = _signedStep(Escrow.StepKind.ReleaseWithSig, _job(0), payerKey);
        vm.warp(deadline + 1);
        _expectStepFailure(
            step, abi.encodeWithSelector(Escrow.Escrow_SignatureExpired.selector, block.timestamp, deadline)
        );
    }

    function test_When_ReleaseWithSigByWrongSigner() public {
        (, uint256 otherKey) = makeKey("mallory");
        Escrow.Step memory step = _signedStep(Escrow.StepKind.ReleaseWithSig, _job(0), otherKey);
        _expectStepFailure(
            step, abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, escrow.jobIdOf(step.terms), payer)
        );
    }

    function test_When_DisputeWithSig() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobDisputed(jobId);
        _applyOne(_signedStep(Escrow.StepKind.DisputeWithSig, terms, payerKey), 1);
        assertStatus(jobId, Escrow.Status.Disputed, "disputed");
    }

    /// @dev The kind picks the signed type: a release signature does not dispute.
    function test_When_DisputeWithReleaseSignature() public {
        Escrow.Step memory step = _signedStep(Escrow.StepKind.ReleaseWithSig, _job(0), payerKey);
        step.kind = Escrow.StepKind.DisputeWithSig;
        _expectStepFailure(
            step, abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, escrow.jobIdOf(step.terms), payer)
        );
    }

    function test_When_ResolveWithSig() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        _applyOne(_signedStep(Escrow.StepKind.DisputeWithSig, terms, payerKey), 1);
        Escrow.Step memory step = _resolveStep(terms, 7000, arbiterKey);
        vm.expectEmit(address(escrow));
        emit Escrow.JobResolved(jobId, 7000, 15e6, 33.25e6, 1.75e6);
        _applyOne(step, 1);
        assertStatus(jobId, Escrow.Status.Resolved, "resolved by the arbiter's signature");
    }

    /// @dev The operator relays the arbiter's decision but cannot make one: its own signature, or a share other
    ///      than the signed one, fails the step.
    function test_When_ResolveWithSigNotTheArbiters() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        _applyOne(_signedStep(Escrow.StepKind.DisputeWithSig, terms, payerKey), 1);
        (, uint256 operatorKey) = makeKey("operator key");
        bytes memory invalid = abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, arbiter);
        _expectStepFailure(_resolveStep(terms, 7000, operatorKey), invalid);
        Escrow.Step memory moved = _resolveStep(terms, 7000, arbiterKey);
        moved.providerBps = 10_000;
        _expectStepFailure(moved, invalid);
        assertStatus(jobId, Escrow.Status.Disputed, "still disputed");
    }

    function test_When_Refund() public {
        Escrow.JobTerms memory terms = _job(0);
        bytes32 jobId = escrow.jobIdOf(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobRefunded(jobId, 50e6);
        _applyOne(_step(Escrow.StepKind.Refund, terms), 1);
        assertStatus(jobId, Escrow.Status.Refunded, "refunded");
        assertEq(claimableOf(payer), 50e6, "payer credited");
    }

    /// @dev The operator returns money only before completion: a completed job is the payer's and provider's.
    function test_When_RefundOfCompletedJob() public {
        Escrow.JobTerms memory terms = _job(0);
        completeJob(terms);
        bytes32 jobId = escrow.jobIdOf(terms);
        _expectStepFailure(
            _step(Escrow.StepKind.Refund, terms),
            abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, Escrow.Status.Completed)
        );
    }

    function test_When_RefundOfDisputedJob() public {
        Escrow.JobTerms memory terms = _job(0);
        disputeJob(terms);
        bytes32 jobId = escrow.jobIdOf(terms);
        _expectStepFailure(
            _step(Escrow.StepKind.Refund, terms),
            abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, Escrow.Status.Disputed)
        );
    }

    function test_When_StepOnUnknownJob() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.salt = keccak256("never funded");
        bytes32 jobId = escrow.jobIdOf(terms);
        _expectStepFailure(
            _step(Escrow.StepKind.Complete, terms),
            abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, Escrow.Status.None)
        );
    }

    // ------------------------------------------------------------------ batches

    /// @dev Steps apply in order: a later step sees what an earlier one did.
    function test_When_StepsDependOnEachOther() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.reviewWindow = 0;
        bytes32 jobId = fundJob(terms);
        Escrow.Step[] memory steps = new Escrow.Step[](3);
        steps[0] = _step(Escrow.StepKind.Complete, terms);
        steps[1] = _step(Escrow.StepKind.Release, terms); // anyone's right: the review window is zero
        steps[2] = _step(Escrow.StepKind.Refund, terms); // too late: released
        vm.expectEmit(address(escrow));
        emit Escrow.StepFailed(
            jobId,
            Escrow.StepKind.Refund,
            abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, Escrow.Status.Released)
        );
        vm.expectEmit(address(escrow));
        emit Escrow.StepsApplied(3, 2);
        vm.prank(operator);
        assertEq(escrow.stepMany(steps), 2, "applied");
        assertStatus(jobId, Escrow.Status.Released, "released");
    }

    function test_When_OneBadStepAmongGood() public {
        Escrow.Step[] memory steps = new Escrow.Step[](4);
        steps[0] = _step(Escrow.StepKind.Complete, _job(0));
        steps[1] = _signedStep(Escrow.StepKind.ReleaseWithSig, _job(1), payerKey);
        (, uint256 otherKey) = makeKey("mallory");
        steps[2] = _signedStep(Escrow.StepKind.DisputeWithSig, _job(2), otherKey);
        steps[3] = _step(Escrow.StepKind.Refund, _job(3));
        vm.prank(operator);
        assertEq(escrow.stepMany(steps), 3, "applied");
        assertStatus(escrow.jobIdOf(steps[0].terms), Escrow.Status.Completed, "0");
        assertStatus(escrow.jobIdOf(steps[1].terms), Escrow.Status.Released, "1");
        assertStatus(escrow.jobIdOf(steps[2].terms), Escrow.Status.Funded, "2 untouched");
        assertStatus(escrow.jobIdOf(steps[3].terms), Escrow.Status.Refunded, "3");
    }

    /// @dev A payer wallet that burns its whole ERC-1271 call fails its own step only.
    function test_When_WalletBurnsAllGas() public {
        Escrow.Step[] memory steps = new Escrow.Step[](2);
        steps[0] = _hostileStep(HostileWallet.Mode.GasBomb);
        steps[1] = _step(Escrow.StepKind.Complete, _job(1));
        uint256 gasLimit = 3 * escrow.FUND_ITEM_GAS_REQUIRED();
        vm.prank(operator);
        assertEq(escrow.stepMany{gas: gasLimit}(steps), 1, "the other step applied");
        assertStatus(escrow.jobIdOf(steps[1].terms), Escrow.Status.Completed, "completed");
    }

    /// @dev 100,000 bytes of ERC-1271 answer: the step pays for them out of its stipend and fails alone; the
    ///      logged reason stays bounded.
    function test_When_WalletReturnsHugeData() public {
        Escrow.Step[] memory steps = new Escrow.Step[](2);
        steps[0] = _hostileStep(HostileWallet.Mode.ReturnBomb);
        steps[1] = _step(Escrow.StepKind.Complete, _job(1));
        vm.recordLogs();
        uint256 gasLimit = 3 * escrow.FUND_ITEM_GAS_REQUIRED();
        vm.prank(operator);
        escrow.stepMany{gas: gasLimit}(steps);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != Escrow.StepFailed.selector) continue;
            (, bytes memory reason) = abi.decode(logs[i].data, (Escrow.StepKind, bytes));
            assertLe(reason.length, escrow.MAX_REASON_BYTES(), "reason bounded");
        }
        assertStatus(escrow.jobIdOf(steps[1].terms), Escrow.Status.Completed, "the other step applied");
    }

    function testFuzz_StepMany_NoStepStarved(uint256 gasLimit) public {
        Escrow.Step[] memory steps = new Escrow.Step[](3);
        for (uint256 i; i < 3; ++i) {
            steps[i] = _signedStep(Escrow.StepKind.ReleaseWithSig, _job(i), payerKey);
        }
        gasLimit = bound(gasLimit, 50_000, 1_500_000);
        vm.prank(operator);
        try escrow.stepMany{gas: gasLimit}(steps) returns (uint256 applied) {
            assertEq(applied, 3, "every valid step applied");
        } catch {
            for (uint256 i; i < 3; ++i) {
                assertStatus(escrow.jobIdOf(steps[i].terms), Escrow.Status.Funded, "rolled back");
            }
        }
    }

    /// @dev Random kinds on random states: the count matches the steps that changed their job.
    function testFuzz_StepMany_Mixed(uint256 seed) public {
        uint256 count = 5;
        Escrow.Step[] memory steps = new Escrow.Step[](count);
        for (uint256 i; i < count; ++i) {
            Escrow.JobTerms memory terms = _job(i);
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            if (r % 3 == 0) completeJob(terms);
            Escrow.StepKind kind = Escrow.StepKind(r / 3 % 5);
            steps[i] = kind == Escrow.StepKind.ReleaseWithSig || kind == Escrow.StepKind.DisputeWithSig
                ? _signedStep(kind, terms, payerKey)
                : _step(kind, terms);
        }
        Escrow.Status[] memory before = new Escrow.Status[](count);
        for (uint256 i; i < count; ++i) {
            before[i] = statusOf(escrow.jobIdOf(steps[i].terms));
        }
        vm.prank(operator);
        uint256 applied = escrow.stepMany(steps);
        uint256 changed;
        for (uint256 i; i < count; ++i) {
            if (statusOf(escrow.jobIdOf(steps[i].terms)) != before[i]) ++changed;
        }
        assertEq(applied, changed, "applied == jobs that moved");
        assertEq(liabilitiesOf(), count * 50e6, "steps never change liabilities");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev A funded default job with salt `i`.
    function _job(uint256 i) internal returns (Escrow.JobTerms memory terms) {
        terms = defaultTerms();
        terms.salt = keccak256(abi.encode("step job", i));
        fundJob(terms);
    }

    function _step(Escrow.StepKind kind, Escrow.JobTerms memory terms) internal pure returns (Escrow.Step memory) {
        return Escrow.Step({kind: kind, terms: terms, deadline: 0, signature: "", providerBps: 0});
    }

    function _signedStep(Escrow.StepKind kind, Escrow.JobTerms memory terms, uint256 key)
        internal
        view
        returns (Escrow.Step memory)
    {
        bytes32 typeHash = kind == Escrow.StepKind.DisputeWithSig ? disputeTypeHash() : releaseTypeHash();
        bytes memory signature = signAction(typeHash, escrow.jobIdOf(terms), deadline, key);
        return Escrow.Step({kind: kind, terms: terms, deadline: deadline, signature: signature, providerBps: 0});
    }

    function _resolveStep(Escrow.JobTerms memory terms, uint16 bps, uint256 key)
        internal
        view
        returns (Escrow.Step memory)
    {
        bytes memory signature = signResolve(escrow.jobIdOf(terms), bps, deadline, key);
        return Escrow.Step({
            kind: Escrow.StepKind.ResolveWithSig,
            terms: terms,
            deadline: deadline,
            signature: signature,
            providerBps: bps
        });
    }

    /// @dev A ReleaseWithSig step on a job paid by a HostileWallet, switched to `mode` after funding.
    function _hostileStep(HostileWallet.Mode mode) internal returns (Escrow.Step memory) {
        HostileWallet wallet = new HostileWallet();
        usdc.mint(address(wallet), 100e6);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.payer = address(wallet);
        terms.salt = keccak256("hostile");
        escrow.fund(terms, "accepted");
        wallet.setMode(mode);
        return Escrow.Step({
            kind: Escrow.StepKind.ReleaseWithSig, terms: terms, deadline: deadline, signature: "", providerBps: 0
        });
    }

    function _applyOne(Escrow.Step memory step, uint256 expectedApplied) internal {
        Escrow.Step[] memory steps = new Escrow.Step[](1);
        steps[0] = step;
        vm.prank(operator);
        assertEq(escrow.stepMany(steps), expectedApplied, "applied");
    }

    function _expectStepFailure(Escrow.Step memory step, bytes memory reason) internal {
        bytes32 jobId = escrow.jobIdOf(step.terms);
        Escrow.Status before = statusOf(jobId);
        vm.expectEmit(address(escrow));
        emit Escrow.StepFailed(jobId, step.kind, reason);
        vm.expectEmit(address(escrow));
        emit Escrow.StepsApplied(1, 0);
        _applyOne(step, 0);
        assertStatus(jobId, before, "status unchanged");
    }
}
