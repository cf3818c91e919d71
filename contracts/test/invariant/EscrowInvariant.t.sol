// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Test} from "../utils/Test.sol";
import {console} from "../utils/console.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.sol";
import {EscrowOperatorHandler} from "./handlers/EscrowOperatorHandler.sol";

/// @title EscrowInvariantTest
/// @notice Properties of the Escrow's money and lifecycle that must hold after any sequence of handler calls.
contract EscrowInvariantTest is Test {
    Escrow internal escrow;
    MockUSDC internal usdc;
    EscrowOperatorHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        address feeRecipient = makeAddr("feeRecipient");
        escrow = new Escrow(feeRecipient, 500, makeAddr("operator"));
        handler =
            new EscrowOperatorHandler(escrow, usdc, feeRecipient, makeAddr("operator"), uint256(keccak256("arbiter")));

        bytes4[] memory selectors = new bytes4[](23);
        selectors[0] = EscrowHandler.fund.selector;
        selectors[1] = EscrowHandler.fundMany.selector;
        selectors[2] = EscrowHandler.markCompleted.selector;
        selectors[3] = EscrowHandler.release.selector;
        selectors[4] = EscrowHandler.refund.selector;
        selectors[5] = EscrowHandler.dispute.selector;
        selectors[6] = EscrowHandler.resolve.selector;
        selectors[7] = EscrowHandler.claim.selector;
        selectors[8] = EscrowHandler.warp.selector;
        selectors[9] = EscrowHandler.pokeClosed.selector;
        selectors[10] = EscrowOperatorHandler.fundWithTransfer.selector;
        selectors[11] = EscrowOperatorHandler.fundManyWithTransfer.selector;
        selectors[12] = EscrowOperatorHandler.payMany.selector;
        selectors[13] = EscrowOperatorHandler.book.selector;
        selectors[14] = EscrowOperatorHandler.donate.selector;
        selectors[15] = EscrowOperatorHandler.fundAgain.selector;
        selectors[16] = EscrowOperatorHandler.releaseWithSig.selector;
        selectors[17] = EscrowOperatorHandler.disputeWithSig.selector;
        selectors[18] = EscrowOperatorHandler.operatorRefund.selector;
        selectors[19] = EscrowOperatorHandler.stepMany.selector;
        selectors[20] = EscrowOperatorHandler.claimFor.selector;
        selectors[21] = EscrowOperatorHandler.claimMany.selector;
        selectors[22] = EscrowOperatorHandler.book.selector; // twice: strays get booked as often as they appear
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// balanceOf(escrow) == liabilities[usdc] + (stray - booked), and surplus(usdc) == stray - booked: the escrow holds
    /// what it owes plus exactly the money that reached it outside its entries and was not booked
    function invariant_Escrow_BalanceEqualsLiabilitiesPlusSurplus() public view {
        uint256 unbooked = handler.ghostStray() - handler.ghostBooked();
        assertEq(usdc.balanceOf(address(escrow)), escrow.liabilities(address(usdc)) + unbooked, "balance");
        assertEq(escrow.surplus(address(usdc)), unbooked, "surplus");
    }

    /// liabilities[usdc] == sum(amount of open jobs) + sum(claimable[usdc][a] for every account a)
    /// (open = Funded, Completed, Disputed); and == funded - claimed
    function invariant_Escrow_LiabilitiesEqualOpenJobsPlusClaimable() public view {
        uint256 open;
        uint256 count = handler.jobCount();
        for (uint256 i; i < count; ++i) {
            EscrowHandler.JobGhost memory job = handler.jobAt(i);
            Escrow.Status status = escrow.jobState(job.id).status;
            if (status == Escrow.Status.Funded || status == Escrow.Status.Completed || status == Escrow.Status.Disputed)
            {
                open += job.terms.amount;
            }
        }
        uint256 owed;
        address[] memory accounts = handler.accounts();
        for (uint256 i; i < accounts.length; ++i) {
            owed += escrow.claimable(address(usdc), accounts[i]);
        }
        uint256 liabilities = escrow.liabilities(address(usdc));
        assertEq(liabilities, open + owed, "liabilities == open jobs + claimable");
        assertEq(liabilities, handler.ghostFunded() - handler.ghostClaimed(), "liabilities == funded - claimed");
    }

    /// funded + stray - booked == balanceOf(escrow) + claimed, credited <= funded, claimed <= credited: money in
    /// equals money held plus money out, and nothing is credited that was not funded
    function invariant_Escrow_Conservation() public view {
        assertEq(
            handler.ghostFunded() + handler.ghostStray() - handler.ghostBooked(),
            usdc.balanceOf(address(escrow)) + handler.ghostClaimed(),
            "in == held + out"
        );
        assertLe(handler.ghostCredited(), handler.ghostFunded(), "credited <= funded");
        assertLe(handler.ghostClaimed(), handler.ghostCredited(), "claimed <= credited");
    }

    /// for every job: fundings(jobId) == 1, and no attempt to fund a known job again (fund, fundWithTransfer,
    /// fundTransferred) succeeded
    function invariant_Escrow_NoJobFundedTwice() public view {
        assertFalse(handler.ghostDoubleFunded(), "a job was funded twice");
        uint256 count = handler.jobCount();
        for (uint256 i; i < count; ++i) {
            assertEq(handler.fundings(handler.jobAt(i).id), 1, "recorded funded once");
        }
    }

    /// for every payMany: sum(PaymentCredited amounts) == the escrow's balance delta, and #PaymentCredited == paid
    function invariant_Escrow_PayManyCreditsWhatItReceived() public view {
        assertFalse(handler.ghostPayMiscredited(), "payMany credited other than it received");
    }

    /// for every job: payerPaid + providerPaid + feePaid <= amount
    function invariant_Escrow_JobPaysAtMostAmount() public view {
        uint256 count = handler.jobCount();
        for (uint256 i; i < count; ++i) {
            EscrowHandler.JobGhost memory job = handler.jobAt(i);
            assertLe(job.payerPaid + job.providerPaid + job.feePaid, job.terms.amount, "payout <= amount");
        }
    }

    /// for every closed job: payerPaid + providerPaid + feePaid == amount; for every open job: all three are 0
    function invariant_Escrow_ClosedJobPaysExactlyAmount() public view {
        uint256 count = handler.jobCount();
        for (uint256 i; i < count; ++i) {
            EscrowHandler.JobGhost memory job = handler.jobAt(i);
            uint256 paid = job.payerPaid + job.providerPaid + job.feePaid;
            if (job.terminal == Escrow.Status.None) assertEq(paid, 0, "open job paid nothing");
            else assertEq(paid, job.terms.amount, "closed job paid exactly its amount");
        }
    }

    /// for every closed job: feePaid == fee * providerBps / 10_000 <= fee, and providerPaid + feePaid ==
    /// amount * providerBps / 10_000 (providerBps = 10_000 on release, 0 on refund, the arbiter's on resolve)
    function invariant_Escrow_FeeProRata() public view {
        uint256 count = handler.jobCount();
        for (uint256 i; i < count; ++i) {
            EscrowHandler.JobGhost memory job = handler.jobAt(i);
            if (job.terminal == Escrow.Status.None) continue;
            assertEq(job.feePaid, job.terms.fee * job.providerBps / 10_000, "fee pro rata");
            assertLe(job.feePaid, job.terms.fee, "fee <= agreed fee");
            assertEq(job.providerPaid + job.feePaid, job.terms.amount * job.providerBps / 10_000, "provider side share");
            if (job.terminal == Escrow.Status.Released) assertEq(job.feePaid, job.terms.fee, "release: full fee");
            if (job.terminal == Escrow.Status.Refunded) assertEq(job.feePaid, 0, "refund: no fee");
        }
    }

    /// once a job is Released, Refunded or Resolved, its status never changes and no transition out succeeds
    function invariant_Escrow_TerminalStaysTerminal() public view {
        assertFalse(handler.ghostTerminalViolated(), "transition out of a terminal status");
        uint256 count = handler.jobCount();
        for (uint256 i; i < count; ++i) {
            EscrowHandler.JobGhost memory job = handler.jobAt(i);
            if (job.terminal == Escrow.Status.None) continue;
            assertTrue(job.terminal >= Escrow.Status.Released, "recorded status is terminal");
            assertEq(uint256(escrow.jobState(job.id).status), uint256(job.terminal), "terminal status unchanged");
        }
    }

    /// Prints how often each action succeeded, to show the handler reaches every transition.
    function afterInvariant() public view {
        console.log("jobs", handler.jobCount());
        console.log("fund, fundMany", handler.calls("fund"), handler.calls("fundMany"));
        console.log("markCompleted, dispute", handler.calls("markCompleted"), handler.calls("dispute"));
        console.log("release, refund", handler.calls("release"), handler.calls("refund"));
        console.log("resolve, claim", handler.calls("resolve"), handler.calls("claim"));
        console.log("pokeClosed, warp", handler.calls("pokeClosed"), handler.calls("warp"));
        console.log(
            "fundWithTransfer, fundManyWithTransfer",
            handler.calls("fundWithTransfer"),
            handler.calls("fundManyWithTransfer")
        );
        console.log("payMany, book", handler.calls("payMany"), handler.calls("book"));
        console.log("donate, fundAgain", handler.calls("donate"), handler.calls("fundAgain"));
        console.log("releaseWithSig, disputeWithSig", handler.calls("releaseWithSig"), handler.calls("disputeWithSig"));
        console.log("operatorRefund, stepMany", handler.calls("operatorRefund"), handler.calls("stepMany"));
        console.log("claimFor, claimMany", handler.calls("claimFor"), handler.calls("claimMany"));
    }
}
