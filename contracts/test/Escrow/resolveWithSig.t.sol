// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_ResolveWithSig_Test is EscrowBase {
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 1 days;
    }

    function test_RevertWhen_DeadlinePassed() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(jobId, 7000, deadline, arbiterKey);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_SignatureExpired.selector, deadline + 1, deadline));
        escrow.resolveWithSig(terms, 7000, deadline, signature);
    }

    function test_RevertWhen_SignedByPayer() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(jobId, 7000, deadline, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, arbiter));
        escrow.resolveWithSig(terms, 7000, deadline, signature);
    }

    /// @dev The share is signed: a relayer cannot move it, in either direction.
    function test_RevertWhen_ShareChanged() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(jobId, 7000, deadline, arbiterKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, arbiter));
        escrow.resolveWithSig(terms, 10_000, deadline, signature);
    }

    /// @dev Another job's resolution cannot be replayed onto this one.
    function test_RevertWhen_SignatureIsForAnotherJob() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(keccak256("other job"), 7000, deadline, arbiterKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, arbiter));
        escrow.resolveWithSig(terms, 7000, deadline, signature);
    }

    function test_RevertWhen_NotDisputed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Completed);
        bytes memory signature = signResolve(jobId, 7000, deadline, arbiterKey);
        expectInvalidStatus(jobId, Escrow.Status.Completed);
        escrow.resolveWithSig(terms, 7000, deadline, signature);
    }

    function test_RevertWhen_BpsAbove10000() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(jobId, 10_001, deadline, arbiterKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidBps.selector, 10_001));
        escrow.resolveWithSig(terms, 10_001, deadline, signature);
    }

    /// @dev No nonce: a replay fails on the status, since a job is resolved once.
    function test_RevertWhen_Replayed() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(jobId, 7000, deadline, arbiterKey);
        escrow.resolveWithSig(terms, 7000, deadline, signature);
        expectInvalidStatus(jobId, Escrow.Status.Resolved);
        escrow.resolveWithSig(terms, 7000, deadline, signature);
    }

    /// @dev 70/30 of $50 with a $2.50 fee: provider side $35 of which the fee's 70% ($1.75), payer $15.
    function test_When_SplitSeventyThirty() public {
        (Escrow.JobTerms memory terms, bytes32 jobId) = _disputed();
        bytes memory signature = signResolve(jobId, 7000, deadline, arbiterKey);
        vm.expectEmit(address(escrow));
        emit Escrow.JobResolved(jobId, 7000, 15e6, 33.25e6, 1.75e6);
        vm.prank(relayer);
        escrow.resolveWithSig(terms, 7000, deadline, signature);
        assertStatus(jobId, Escrow.Status.Resolved, "resolved");
        assertEq(claimableOf(payer), 15e6, "payer");
        assertEq(claimableOf(provider), 33.25e6, "provider");
        assertEq(claimableOf(feeRecipient), 1.75e6, "fee");
        assertEq(liabilitiesOf(), 50e6, "liabilities unchanged until claimed");
    }

    function test_When_ArbiterIsERC1271Wallet() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(arbiter);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.arbiter = address(wallet);
        bytes32 jobId = jobIn(terms, Escrow.Status.Disputed);
        bytes32 digest = escrow.resolveDigest(jobId, 5000, deadline);
        vm.prank(arbiter);
        wallet.approve(digest);
        escrow.resolveWithSig(terms, 5000, deadline, "");
        assertStatus(jobId, Escrow.Status.Resolved, "resolved");
    }

    function test_When_DigestView() public view {
        bytes32 jobId = keccak256("some job");
        assertEq(escrow.resolveDigest(jobId, 7000, deadline), resolveDigestOf(jobId, 7000, deadline), "digest");
        assertEq(
            escrow.RESOLVE_TYPEHASH(), keccak256("Resolve(bytes32 jobId,uint16 providerBps,uint256 deadline)"), "type"
        );
    }

    /// @dev Signed or direct, a resolution credits exactly what `resolve` does, and the three shares sum to the amount.
    function testFuzz_ResolveWithSigMatchesResolve(uint256 amount, uint256 fee, uint16 bps) public {
        amount = bound(amount, 1, PAYER_FUNDS / 2);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        bps = uint16(bound(bps, 0, 10_000));
        Escrow.JobTerms memory signed = defaultTerms();
        signed.amount = amount;
        signed.fee = fee;
        Escrow.JobTerms memory direct = defaultTerms();
        (direct.amount, direct.fee, direct.salt) = (amount, fee, keccak256("direct"));
        bytes32 signedId = jobIn(signed, Escrow.Status.Disputed);
        jobIn(direct, Escrow.Status.Disputed);

        resolveJob(direct, bps);
        uint256 payerDirect = claimableOf(payer);
        uint256 providerDirect = claimableOf(provider);
        uint256 feeDirect = claimableOf(feeRecipient);
        escrow.resolveWithSig(signed, bps, deadline, signResolve(signedId, bps, deadline, arbiterKey));

        assertEq(claimableOf(payer), 2 * payerDirect, "payer");
        assertEq(claimableOf(provider), 2 * providerDirect, "provider");
        assertEq(claimableOf(feeRecipient), 2 * feeDirect, "fee");
        assertEq(payerDirect + providerDirect + feeDirect, amount, "sum exact");
    }

    function _disputed() internal returns (Escrow.JobTerms memory terms, bytes32 jobId) {
        terms = defaultTerms();
        jobId = jobIn(terms, Escrow.Status.Disputed);
    }
}
