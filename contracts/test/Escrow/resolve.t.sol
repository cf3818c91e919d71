// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_Resolve_Test is EscrowBase {
    function test_RevertWhen_NotFunded() public {
        _expectInvalidFrom(Escrow.Status.None);
    }

    function test_RevertWhen_Funded() public {
        _expectInvalidFrom(Escrow.Status.Funded);
    }

    function test_RevertWhen_Completed() public {
        _expectInvalidFrom(Escrow.Status.Completed);
    }

    function test_RevertWhen_Released() public {
        _expectInvalidFrom(Escrow.Status.Released);
    }

    function test_RevertWhen_Refunded() public {
        _expectInvalidFrom(Escrow.Status.Refunded);
    }

    function test_RevertWhen_AlreadyResolved() public {
        _expectInvalidFrom(Escrow.Status.Resolved);
    }

    function test_RevertWhen_CallerIsPayer() public {
        _expectUnauthorizedCaller(payer);
    }

    function test_RevertWhen_CallerIsProvider() public {
        _expectUnauthorizedCaller(provider);
    }

    function test_RevertWhen_CallerIsOperator() public {
        _expectUnauthorizedCaller(operator);
    }

    function test_RevertWhen_BpsAbove10000() public {
        Escrow.JobTerms memory terms = defaultTerms();
        jobIn(terms, Escrow.Status.Disputed);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidBps.selector, 10_001));
        resolveJob(terms, 10_001);
    }

    function test_When_AllToPayer() public {
        _resolveAndCheck(0, 50e6, 0, 0);
    }

    function test_When_AllToProvider() public {
        _resolveAndCheck(10_000, 0, 47.5e6, 2.5e6);
    }

    function test_When_SplitEvenly() public {
        _resolveAndCheck(5000, 25e6, 23.75e6, 1.25e6);
    }

    /// @dev Rounding: both shares round down, the payer's remainder absorbs the dust, the sum stays exact.
    function test_When_SplitRoundsDown() public {
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = 999_999;
        terms.fee = 49_999;
        bytes32 jobId = jobIn(terms, Escrow.Status.Disputed);
        // providerShare = 999_999 * 3333 / 10_000 = 333_299; feeShare = 49_999 * 3333 / 10_000 = 16_664
        vm.expectEmit(address(escrow));
        emit Escrow.JobResolved(jobId, 3333, 666_700, 316_635, 16_664);
        resolveJob(terms, 3333);
        assertEq(claimableOf(payer) + claimableOf(provider) + claimableOf(feeRecipient), 999_999, "sum exact");
    }

    function testFuzz_Resolve(uint256 amount, uint256 fee, uint16 bps) public {
        amount = bound(amount, 1, PAYER_FUNDS);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        bps = uint16(bound(bps, 0, 10_000));
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        jobIn(terms, Escrow.Status.Disputed);
        resolveJob(terms, bps);

        uint256 toPayer = claimableOf(payer);
        uint256 toProvider = claimableOf(provider);
        uint256 toFee = claimableOf(feeRecipient);
        assertEq(toPayer + toProvider + toFee, amount, "sum is the amount");
        assertEq(toFee, fee * bps / 10_000, "fee pro rata");
        assertLe(toFee, fee, "fee at most the agreed fee");
        assertEq(toProvider + toFee, amount * bps / 10_000, "provider side is its bps share");
        if (bps == 10_000) assertEq(toFee, fee, "full release takes the full fee");
        if (bps == 0) assertEq(toPayer, amount, "full refund");
    }

    function _resolveAndCheck(uint16 bps, uint256 toPayer, uint256 toProvider, uint256 toFee) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Disputed);
        vm.expectEmit(address(escrow));
        emit Escrow.JobResolved(jobId, bps, toPayer, toProvider, toFee);
        resolveJob(terms, bps);
        assertStatus(jobId, Escrow.Status.Resolved, "resolved");
        assertEq(escrow.jobState(jobId).closedAt, block.timestamp, "closedAt");
        assertEq(claimableOf(payer), toPayer, "payer");
        assertEq(claimableOf(provider), toProvider, "provider");
        assertEq(claimableOf(feeRecipient), toFee, "fee recipient");
    }

    function _expectInvalidFrom(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        expectInvalidStatus(jobId, status);
        resolveJob(terms, 5000);
    }

    function _expectUnauthorizedCaller(address caller) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Disputed);
        expectUnauthorized(jobId, caller);
        vm.prank(caller);
        escrow.resolve(terms, 5000);
    }
}
