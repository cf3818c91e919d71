// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

/// @notice `liabilities` and `surplus`: fundings and credits add, claims subtract, transitions leave them alone.
contract Escrow_Liabilities_Test is EscrowBase {
    function test_When_Nothing() public view {
        assertEq(liabilitiesOf(), 0, "liabilities");
        assertEq(escrow.surplus(address(usdc)), 0, "surplus");
    }

    function test_When_JobLifecycle() public {
        Escrow.JobTerms memory terms = defaultTerms();
        fundJob(terms);
        assertEq(liabilitiesOf(), 50e6, "fund adds");
        completeJob(terms);
        assertEq(liabilitiesOf(), 50e6, "complete leaves");
        releaseJob(terms);
        assertEq(liabilitiesOf(), 50e6, "release leaves");
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        assertEq(liabilitiesOf(), 2.5e6, "claim subtracts");
        vm.prank(feeRecipient);
        escrow.claim(address(usdc), feeRecipient);
        assertEq(liabilitiesOf(), 0, "all claimed");
    }

    function test_When_Resolved() public {
        Escrow.JobTerms memory terms = defaultTerms();
        jobIn(terms, Escrow.Status.Resolved);
        assertEq(liabilitiesOf(), 50e6, "resolve leaves");
        assertEq(
            liabilitiesOf(), claimableOf(payer) + claimableOf(provider) + claimableOf(feeRecipient), "all claimable"
        );
    }

    function test_When_PlainTransferToEscrow() public {
        fundJob(defaultTerms());
        vm.prank(payer);
        usdc.transfer(address(escrow), 7e6);
        assertEq(escrow.surplus(address(usdc)), 7e6, "donation is surplus");
        assertEq(liabilitiesOf(), 50e6, "not a liability");
    }

    /// @dev Per token: a job in one token is no liability in another.
    function test_When_TwoTokens() public {
        fundJob(defaultTerms());
        EvilToken other = new EvilToken();
        other.mint(payer, 100e6);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.token = address(other);
        escrow.fund(terms, "");
        assertEq(liabilitiesOf(), 50e6, "usdc");
        assertEq(escrow.liabilities(address(other)), 50e6, "other");
    }

    function test_When_BalanceBelowLiabilities() public {
        EvilToken evil = new EvilToken();
        evil.mint(payer, 100e6);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.token = address(evil);
        escrow.fund(terms, "");
        evil.seize(address(escrow), 1);
        assertEq(escrow.surplus(address(evil)), 0, "floored at zero");
    }

    /// @dev A random walk over every entry that moves money: balance == liabilities + surplus, and liabilities ==
    ///      open jobs + claimable balances, at every step.
    function testFuzz_Liabilities_Accounting(uint256 seed) public {
        Escrow.JobTerms[] memory jobs = new Escrow.JobTerms[](4);
        uint256 stray;
        for (uint256 i; i < 4; ++i) {
            jobs[i] = defaultTerms();
            jobs[i].salt = keccak256(abi.encode(seed, i));
            jobs[i].amount = bound(uint256(keccak256(abi.encode(seed, i, "amount"))), 1, 100e6);
            jobs[i].fee = jobs[i].amount / 20;
            if (i % 2 == 0) fundJob(jobs[i]);
            else fundJobWithTransfer(jobs[i]);
        }
        uint256 r = uint256(keccak256(abi.encode(seed)));
        if (r & 1 != 0) releaseJob(jobs[0]);
        if (r & 2 != 0) refundJob(jobs[1]);
        if (r & 4 != 0) {
            disputeJob(jobs[2]);
            resolveJob(jobs[2], uint16(r >> 8) % 10_001);
        }
        Escrow.DirectPayment[] memory payments = new Escrow.DirectPayment[](2);
        payments[0] = directPayment(seed);
        payments[1] = directPayment(seed ^ 1);
        if (r & 8 != 0) {
            frontRun(payments[1]);
            stray = payments[1].amount;
        }
        vm.prank(operator);
        escrow.payMany(address(usdc), payments);
        _assertAccounting(jobs, stray);
        if (r & 16 != 0) escrow.claimFor(address(usdc), provider); // always credited by payMany
        if (r & 32 != 0 && claimableOf(payer) != 0) escrow.claimFor(address(usdc), payer);
        if (r & 64 != 0 && stray != 0) {
            vm.prank(operator);
            escrow.creditTransferred(address(usdc), payments[1]);
            stray = 0;
        }
        _assertAccounting(jobs, stray);
    }

    function _assertAccounting(Escrow.JobTerms[] memory jobs, uint256 stray) internal view {
        uint256 open;
        for (uint256 i; i < jobs.length; ++i) {
            Escrow.Status status = statusOf(escrow.jobIdOf(jobs[i]));
            if (status >= Escrow.Status.Funded && status <= Escrow.Status.Disputed) open += jobs[i].amount;
        }
        uint256 owed = claimableOf(payer) + claimableOf(provider) + claimableOf(feeRecipient);
        assertEq(liabilitiesOf(), open + owed, "liabilities == open + claimable");
        assertEq(usdc.balanceOf(address(escrow)), liabilitiesOf() + stray, "balance == liabilities + stray");
        assertEq(escrow.surplus(address(usdc)), stray, "surplus == stray");
    }
}
