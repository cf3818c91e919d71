// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";

/// @title EscrowBase
/// @notice Shared fixture for the Escrow unit tests: a MockUSDC, an Escrow with a 500 bps fee cap, named actors, a
///         default $50 job, and helpers that sign the payer's ReceiveWithAuthorization and walk a job through its
///         lifecycle.
abstract contract EscrowBase is Authorizations {
    uint16 internal constant MAX_FEE_BPS = 500;
    uint256 internal constant T0 = 1_750_000_000;
    uint256 internal constant PAYER_FUNDS = 1_000_000_000e6;

    MockUSDC internal usdc;
    Escrow internal escrow;

    address internal feeRecipient;
    address internal operator;
    address internal arbiter;
    address internal provider;
    address internal relayer;
    address internal stranger;
    address internal payer;
    uint256 internal payerKey;

    function setUp() public virtual {
        vm.warp(T0);
        feeRecipient = makeAddr("feeRecipient");
        operator = makeAddr("operator");
        arbiter = makeAddr("arbiter");
        provider = makeAddr("provider");
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");
        (payer, payerKey) = makeKey("payer");

        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        escrow = new Escrow(feeRecipient, MAX_FEE_BPS, operator);
        usdc.mint(payer, PAYER_FUNDS);
    }

    /// @dev A $50 job: fee $2.50, fund within 1 hour, complete within 7 days, 3-day review window.
    function defaultTerms() internal view returns (Escrow.JobTerms memory) {
        return Escrow.JobTerms({
            payer: payer,
            provider: provider,
            token: address(usdc),
            amount: 50e6,
            fee: 2.5e6,
            arbiter: arbiter,
            fundingDeadline: uint64(block.timestamp + 1 hours),
            completionDeadline: uint64(block.timestamp + 7 days),
            reviewWindow: 3 days,
            salt: keccak256("job-1")
        });
    }

    /// @dev The payer's ReceiveWithAuthorization signature for `terms`, with the jobId as nonce.
    function signTerms(Escrow.JobTerms memory terms, uint256 key) internal view returns (bytes memory) {
        return signReceive(usdc, key, authorizationOf(terms));
    }

    function authorizationOf(Escrow.JobTerms memory terms) internal view returns (Authorization memory) {
        return Authorization({
            from: terms.payer,
            to: address(escrow),
            value: terms.amount,
            validAfter: 0,
            validBefore: terms.fundingDeadline,
            nonce: escrow.jobIdOf(terms)
        });
    }

    function fundJob(Escrow.JobTerms memory terms) internal returns (bytes32 jobId) {
        bytes memory signature = signTerms(terms, payerKey);
        vm.prank(relayer);
        escrow.fund(terms, signature);
        return escrow.jobIdOf(terms);
    }

    function completeJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.provider);
        escrow.markCompleted(terms);
    }

    function disputeJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.payer);
        escrow.dispute(terms);
    }

    function releaseJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.payer);
        escrow.release(terms);
    }

    function refundJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.provider);
        escrow.refund(terms);
    }

    function resolveJob(Escrow.JobTerms memory terms, uint16 bps) internal {
        vm.prank(terms.arbiter);
        escrow.resolve(terms, bps);
    }

    /// @dev Funds `terms` and drives the job to `target`; terminal targets use the default path to them.
    function jobIn(Escrow.JobTerms memory terms, Escrow.Status target) internal returns (bytes32 jobId) {
        if (target == Escrow.Status.None) return escrow.jobIdOf(terms);
        jobId = fundJob(terms);
        if (target == Escrow.Status.Completed) {
            completeJob(terms);
        } else if (target == Escrow.Status.Disputed) {
            disputeJob(terms);
        } else if (target == Escrow.Status.Released) {
            releaseJob(terms);
        } else if (target == Escrow.Status.Refunded) {
            refundJob(terms);
        } else if (target == Escrow.Status.Resolved) {
            disputeJob(terms);
            resolveJob(terms, 5000);
        }
    }

    function statusOf(bytes32 jobId) internal view returns (Escrow.Status) {
        return escrow.jobState(jobId).status;
    }

    function assertStatus(bytes32 jobId, Escrow.Status expected, string memory error) internal view {
        assertEq(uint256(statusOf(jobId)), uint256(expected), error);
    }

    function expectInvalidStatus(bytes32 jobId, Escrow.Status current) internal {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, current));
    }

    function expectUnauthorized(bytes32 jobId, address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_Unauthorized.selector, jobId, caller));
    }

    function claimableOf(address account) internal view returns (uint256) {
        return escrow.claimable(address(usdc), account);
    }
}
