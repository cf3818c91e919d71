// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

/// @notice jobIdOf, jobState, claimable and the public constants.
contract Escrow_Views_Test is EscrowBase {
    function test_When_JobIdOf() public view {
        Escrow.JobTerms memory terms = defaultTerms();
        assertEq(escrow.jobIdOf(terms), keccak256(abi.encode(block.chainid, address(escrow), terms)), "jobId formula");
    }

    function test_When_JobIdOfOnOtherChain() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 here = escrow.jobIdOf(terms);
        vm.chainId(84_532);
        bytes32 there = escrow.jobIdOf(terms);
        assertTrue(here != there, "chain id in the hash");
        assertEq(there, keccak256(abi.encode(uint256(84_532), address(escrow), terms)), "formula on the new chain");
    }

    function test_When_JobIdOfOnOtherEscrow() public {
        Escrow other = new Escrow(feeRecipient, MAX_FEE_BPS, operator);
        Escrow.JobTerms memory terms = defaultTerms();
        assertTrue(escrow.jobIdOf(terms) != other.jobIdOf(terms), "escrow address in the hash");
    }

    function testFuzz_JobIdOf(Escrow.JobTerms memory terms) public view {
        assertEq(escrow.jobIdOf(terms), keccak256(abi.encode(block.chainid, address(escrow), terms)), "jobId formula");
    }

    function test_When_JobStateOfUnknownJob() public view {
        Escrow.JobState memory state = escrow.jobState(keccak256("unknown"));
        assertEq(uint256(state.status), uint256(Escrow.Status.None), "status");
        assertEq(state.fundedAt + state.completedAt + state.closedAt, 0, "timestamps");
    }

    /// @dev Timestamps are written once, at their transition, and kept through later ones.
    function test_When_JobStateThroughLifecycle() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        uint256 fundedAt = block.timestamp;
        vm.warp(block.timestamp + 1 days);
        completeJob(terms);
        uint256 completedAt = block.timestamp;
        vm.warp(block.timestamp + 1 hours);
        disputeJob(terms);
        vm.warp(block.timestamp + 2 days);
        resolveJob(terms, 7000);

        Escrow.JobState memory state = escrow.jobState(jobId);
        assertEq(uint256(state.status), uint256(Escrow.Status.Resolved), "status");
        assertEq(state.fundedAt, fundedAt, "fundedAt");
        assertEq(state.completedAt, completedAt, "completedAt");
        assertEq(state.closedAt, block.timestamp, "closedAt");
    }

    function testFuzz_JobStateTimestamps(uint64 fundAt, uint32 completeAfter, uint32 closeAfter) public {
        fundAt = uint64(bound(fundAt, T0, type(uint64).max - 2 * uint64(type(uint32).max) - 2));
        vm.warp(fundAt);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.fundingDeadline = uint64(block.timestamp) + 1;
        terms.completionDeadline = uint64(block.timestamp) + uint64(completeAfter) + 1;
        bytes32 jobId = fundJob(terms);
        vm.warp(block.timestamp + completeAfter);
        completeJob(terms);
        vm.warp(block.timestamp + closeAfter);
        releaseJob(terms);
        Escrow.JobState memory state = escrow.jobState(jobId);
        assertEq(state.fundedAt, fundAt, "fundedAt");
        assertEq(state.completedAt, uint256(fundAt) + completeAfter, "completedAt");
        assertEq(state.closedAt, block.timestamp, "closedAt");
        assertEq(uint256(state.status), uint256(Escrow.Status.Released), "status");
    }

    function test_When_Claimable() public {
        assertEq(escrow.claimable(address(usdc), provider), 0, "empty");
        Escrow.JobTerms memory terms = defaultTerms();
        jobIn(terms, Escrow.Status.Released);
        assertEq(escrow.claimable(address(usdc), provider), 47.5e6, "provider");
        assertEq(escrow.claimable(address(usdc), feeRecipient), 2.5e6, "fee recipient");
        assertEq(escrow.claimable(address(0xdead), provider), 0, "other token");
    }

    function test_When_Constants() public view {
        assertEq(escrow.BPS(), 10_000, "bps");
        assertEq(escrow.MAX_AMOUNT(), type(uint128).max, "max amount");
        assertEq(escrow.FUND_ITEM_GAS(), 300_000, "item gas");
        assertEq(escrow.FUND_ITEM_GAS_REQUIRED(), uint256(300_000) * 64 / 63 + 20_000, "item gas required");
        assertEq(escrow.MAX_REASON_BYTES(), 256, "reason bytes");
    }
}
