// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

/// @notice Booking a job whose authorization someone submitted straight to the token (the front-running recovery).
contract Escrow_FundTransferred_Test is EscrowBase {
    function test_RevertWhen_CallerNotOperator() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        expectNotOperator(payer);
        vm.prank(payer);
        escrow.fundTransferred(terms);
    }

    function test_RevertWhen_AuthorizationNotUsed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        usdc.mint(address(escrow), terms.amount); // surplus alone is not enough
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AuthorizationNotUsed.selector, payer, terms.salt));
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    /// @dev A cancelled authorization reads as used but moved nothing: no surplus, nothing to book.
    function test_RevertWhen_AuthorizationCancelledNotTransferred() public {
        Escrow.JobTerms memory terms = defaultTerms();
        usdc.cancelAuthorization(payer, terms.salt, signCancel(usdc, payerKey, payer, terms.salt));
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_InsufficientSurplus.selector, address(usdc), 0, terms.amount)
        );
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    /// @dev Other jobs' money is never surplus: a compromised operator cannot book it.
    function test_RevertWhen_OnlyOtherJobsMoneyHeld() public {
        Escrow.JobTerms memory other = defaultTerms();
        other.salt = keccak256("other job");
        fundJob(other);
        Escrow.JobTerms memory terms = defaultTerms();
        usdc.cancelAuthorization(payer, terms.salt, signCancel(usdc, payerKey, payer, terms.salt));
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_InsufficientSurplus.selector, address(usdc), 0, terms.amount)
        );
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    function test_RevertWhen_SurplusBelowAmount() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        terms.amount = 50e6 + 1; // one unit more than the stray transfer
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_InsufficientSurplus.selector, address(usdc), 50e6, 50e6 + 1)
        );
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    /// @dev One stray transfer books one job: the same surplus cannot be booked twice under other terms.
    function test_RevertWhen_BookedTwice() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        vm.prank(operator);
        escrow.fundTransferred(terms);
        Escrow.JobTerms memory again = defaultTerms();
        again.provider = stranger;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AlreadyBooked.selector, payer, terms.salt));
        vm.prank(operator);
        escrow.fundTransferred(again);
    }

    /// @dev Even with other surplus to take (another payer's front-run money), one authorization books one job.
    function test_RevertWhen_SameSaltBookedTwice_MoreSurplus() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        vm.prank(operator);
        escrow.fundTransferred(terms);
        usdc.mint(address(escrow), terms.amount);
        Escrow.JobTerms memory again = defaultTerms();
        again.reviewWindow += 1;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AlreadyBooked.selector, payer, terms.salt));
        vm.prank(operator);
        escrow.fundTransferred(again);
        assertEq(escrow.surplus(address(usdc)), terms.amount, "the other payment's money stays surplus");
    }

    function test_RevertWhen_AlreadyFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJobWithTransfer(terms);
        usdc.mint(address(escrow), terms.amount);
        expectInvalidStatus(jobId, Escrow.Status.Funded);
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    function test_RevertWhen_TermsInvalid() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        terms.fee = terms.amount;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, terms.amount, 2.5e6));
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    function test_RevertWhen_AfterFundingDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        vm.warp(terms.fundingDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.Escrow_AfterDeadline.selector, block.timestamp, terms.fundingDeadline)
        );
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    /// @dev A token whose balance fell below what the escrow owes (it took money back): nothing is surplus.
    function test_RevertWhen_BalanceBelowLiabilities() public {
        EvilToken evil = new EvilToken();
        evil.mint(payer, 1000e6);
        Escrow.JobTerms memory held = defaultTerms();
        held.token = address(evil);
        escrow.fund(held, "");
        evil.seize(address(escrow), 10e6);
        assertEq(escrow.surplus(address(evil)), 0, "surplus floored at zero");

        Escrow.JobTerms memory terms = defaultTerms();
        terms.token = address(evil);
        terms.salt = keccak256("stray");
        vm.prank(payer);
        evil.transferWithAuthorization(payer, address(escrow), 5e6, 0, 0, terms.salt, "");
        terms.amount = 5e6;
        terms.fee = 0;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InsufficientSurplus.selector, address(evil), 0, 5e6));
        vm.prank(operator);
        escrow.fundTransferred(terms);
    }

    function test_When_FrontRun() public {
        Escrow.JobTerms memory terms = defaultTerms();
        Escrow.JobTerms memory other = defaultTerms();
        other.salt = keccak256("other job");
        fundJob(other);
        frontRunTerms(terms);
        assertEq(escrow.surplus(address(usdc)), terms.amount, "stray money is surplus");

        bytes32 jobId = escrow.jobIdOf(terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(jobId, payer, provider, terms);
        vm.prank(operator);
        escrow.fundTransferred(terms);

        assertStatus(jobId, Escrow.Status.Funded, "booked");
        assertEq(escrow.jobState(jobId).fundedAt, block.timestamp, "fundedAt");
        assertEq(escrow.surplus(address(usdc)), 0, "surplus used");
        assertEq(liabilitiesOf(), 2 * terms.amount, "liabilities");
        assertEq(usdc.balanceOf(address(escrow)), liabilitiesOf(), "balance == liabilities");
    }

    /// @dev A booked job then lives like any other: refunded by the operator, claimed by the payer.
    function test_When_BookedThenRefunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        vm.prank(operator);
        escrow.fundTransferred(terms);
        vm.prank(operator);
        escrow.refund(terms);
        vm.prank(payer);
        escrow.claim(address(usdc), payer);
        assertEq(usdc.balanceOf(payer), PAYER_FUNDS, "payer made whole");
        assertEq(liabilitiesOf(), 0, "nothing owed");
    }

    function testFuzz_FundTransferred_OnlySurplus(uint256 stray, uint256 amount) public {
        stray = bound(stray, 0, 100e6);
        amount = bound(amount, 1, 100e6);
        Escrow.JobTerms memory held = defaultTerms();
        held.salt = keccak256("held");
        fundJob(held);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = 0;
        usdc.cancelAuthorization(payer, terms.salt, signCancel(usdc, payerKey, payer, terms.salt));
        usdc.mint(address(escrow), stray);
        vm.prank(operator);
        (bool ok,) = address(escrow).call(abi.encodeCall(Escrow.fundTransferred, (terms)));
        assertEq(ok, amount <= stray, "booked iff the surplus covers it");
        assertLe(liabilitiesOf(), usdc.balanceOf(address(escrow)), "liabilities covered");
        assertEq(escrow.surplus(address(usdc)), ok ? stray - amount : stray, "surplus");
    }
}
