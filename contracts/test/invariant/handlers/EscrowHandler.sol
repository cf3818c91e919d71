// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../../src/Escrow.sol";
import {MockUSDC} from "../../mocks/MockUSDC.sol";
import {Authorizations} from "../../utils/Authorizations.sol";

/// @title EscrowHandler
/// @notice Drives an Escrow through random, mostly valid lifecycles for the invariant suite: funds jobs (one at a
///         time or in batches, some with bad signatures) with real EIP-3009 signatures from a pool of payer keys,
///         completes, releases, refunds, disputes, resolves, claims and warps time, all with bounded inputs. Records
///         ghost totals and, per job, what each party was credited, measured as `claimable` deltas.
contract EscrowHandler is Authorizations {
    uint256 internal constant ACTORS = 3;
    uint256 internal constant MAX_AMOUNT = 1000e6;
    /// @dev Status bit masks: open = Funded | Completed | Disputed; terminal = Released | Refunded | Resolved.
    uint256 internal constant _OPEN = (1 << 1) | (1 << 2) | (1 << 3);
    uint256 internal constant _TERMINAL = (1 << 4) | (1 << 5) | (1 << 6);

    /// @notice What the handler knows of one job.
    struct JobGhost {
        Escrow.JobTerms terms;
        bytes32 id;
        uint256 payerPaid;
        uint256 providerPaid;
        uint256 feePaid;
        /// @dev Share of the amount that went to the provider side when the job closed: 10_000 on release,
        ///      0 on refund, the arbiter's bps on resolve.
        uint256 providerBps;
        /// @dev The terminal status first observed; None while open.
        Escrow.Status terminal;
    }

    Escrow public immutable escrow;
    MockUSDC public immutable usdc;
    address public immutable feeRecipient;
    address public immutable operator;
    address public immutable arbiter;
    address public immutable relayer;
    address public immutable sink;

    address[ACTORS] public payers;
    uint256[ACTORS] internal _payerKeys;
    address[ACTORS] public providers;

    JobGhost[] internal _jobs;
    /// @dev Returned by `_find` when no job matches; never written.
    JobGhost internal _none;

    /// @notice Sum of every amount added to the escrow's liabilities: every job funded (or booked) and every direct
    ///         payment credited (or booked).
    uint256 public ghostFunded;
    /// @notice Sum of every credit to a claimable balance.
    uint256 public ghostCredited;
    /// @notice Sum of every claim paid out.
    uint256 public ghostClaimed;
    /// @notice Set if a transition out of a terminal status ever succeeded.
    bool public ghostTerminalViolated;
    /// @notice Successful calls per action, for the run summary.
    mapping(bytes32 action => uint256 count) public calls;
    /// @notice How many times each job was recorded funded (must stay 1).
    mapping(bytes32 jobId => uint256 count) public fundings;
    /// @dev Index + 1 of each job in `_jobs`, 0 if unknown.
    mapping(bytes32 jobId => uint256 indexPlusOne) internal _indexOf;

    uint256 internal _salt;

    constructor(Escrow escrow_, MockUSDC usdc_, address feeRecipient_, address operator_, address arbiter_) {
        escrow = escrow_;
        usdc = usdc_;
        feeRecipient = feeRecipient_;
        operator = operator_;
        arbiter = arbiter_;
        relayer = makeAddr("relayer");
        sink = makeAddr("claim sink");
        for (uint256 i; i < ACTORS; ++i) {
            (payers[i], _payerKeys[i]) = makeKey(string.concat("payer-", vm.toString(i)));
            providers[i] = makeAddr(string.concat("provider-", vm.toString(i)));
            usdc_.mint(payers[i], 1_000_000_000e6);
        }
    }

    // ------------------------------------------------------------------ actions

    /// @notice Funds one new job with bounded terms.
    function fund(uint256 actorSeed, uint256 amount, uint256 fee, uint256 fundingIn, uint256 window, uint256 review)
        external
    {
        (Escrow.JobTerms memory terms, uint256 key) = _newTerms(actorSeed, amount, fee, fundingIn, window, review);
        bytes memory signature = _sign(terms, key);
        vm.prank(relayer);
        escrow.fund(terms, signature);
        _recordFunded(terms);
        ++calls["fund"];
    }

    /// @notice Funds up to three new jobs in one batch; items flagged in `badMask` carry a wrong signature.
    function fundMany(uint256 seed, uint256 count, uint8 badMask) external {
        count = bound(count, 1, 3);
        Escrow.JobTerms[] memory terms = new Escrow.JobTerms[](count);
        bytes[] memory signatures = new bytes[](count);
        for (uint256 i; i < count; ++i) {
            uint256 itemSeed = uint256(keccak256(abi.encode(seed, i)));
            uint256 key;
            (terms[i], key) =
                _newTerms(itemSeed, itemSeed >> 8, itemSeed >> 48, itemSeed >> 96, itemSeed >> 128, itemSeed >> 160);
            if (badMask & (1 << i) != 0) key = _payerKeys[(itemSeed + 1) % ACTORS] ^ 1;
            signatures[i] = _sign(terms[i], key);
        }
        vm.prank(relayer);
        uint256 funded = escrow.fundMany(terms, signatures);
        uint256 seen;
        for (uint256 i; i < count; ++i) {
            if (escrow.jobState(escrow.jobIdOf(terms[i])).status == Escrow.Status.Funded) {
                _recordFunded(terms[i]);
                ++seen;
            }
        }
        require(seen == funded, "fundMany count");
        ++calls["fundMany"];
    }

    /// @notice The provider or the operator marks a funded job completed before its deadline.
    function markCompleted(uint256 jobSeed, bool byOperator) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Funded));
        if (!found || block.timestamp >= job.terms.completionDeadline) return;
        vm.prank(byOperator ? operator : job.terms.provider);
        escrow.markCompleted(job.terms);
        ++calls["markCompleted"];
    }

    /// @notice The payer releases an open job, or anyone releases a completed job after its review window.
    function release(uint256 jobSeed, bool byPayer) external {
        if (byPayer) {
            (JobGhost storage job, bool found) = _find(jobSeed, _OPEN);
            if (!found) return;
            _close(job, job.terms.payer, abi.encodeCall(Escrow.release, (job.terms)), 10_000);
        } else {
            (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Completed));
            if (!found) return;
            if (block.timestamp < uint256(escrow.jobState(job.id).completedAt) + job.terms.reviewWindow) return;
            _close(job, relayer, abi.encodeCall(Escrow.release, (job.terms)), 10_000);
        }
        ++calls["release"];
    }

    /// @notice The provider refunds an open job, or the payer refunds an uncompleted one after its deadline.
    function refund(uint256 jobSeed, bool byProvider) external {
        if (byProvider) {
            (JobGhost storage job, bool found) = _find(jobSeed, _OPEN);
            if (!found) return;
            _close(job, job.terms.provider, abi.encodeCall(Escrow.refund, (job.terms)), 0);
        } else {
            (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Funded));
            if (!found || block.timestamp < job.terms.completionDeadline) return;
            _close(job, job.terms.payer, abi.encodeCall(Escrow.refund, (job.terms)), 0);
        }
        ++calls["refund"];
    }

    /// @notice The payer disputes a funded job, or a completed one within its review window.
    function dispute(uint256 jobSeed) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Funded) | _bit(Escrow.Status.Completed));
        if (!found) return;
        Escrow.JobState memory state = escrow.jobState(job.id);
        if (
            state.status == Escrow.Status.Completed
                && block.timestamp >= uint256(state.completedAt) + job.terms.reviewWindow
        ) return;
        vm.prank(job.terms.payer);
        escrow.dispute(job.terms);
        ++calls["dispute"];
    }

    /// @notice The arbiter splits a disputed job at a bounded bps.
    function resolve(uint256 jobSeed, uint256 bps) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Disputed));
        if (!found) return;
        bps = bound(bps, 0, 10_000);
        _close(job, arbiter, abi.encodeCall(Escrow.resolve, (job.terms, uint16(bps))), bps);
        ++calls["resolve"];
    }

    /// @notice Tries every transition, by the party allowed it in an open job, on a closed job; none may succeed.
    function pokeClosed(uint256 jobSeed, uint256 which) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _TERMINAL);
        if (!found) return;
        which = which % 6;
        bytes memory data;
        address caller;
        if (which == 0) (data, caller) = (abi.encodeCall(Escrow.release, (job.terms)), job.terms.payer);
        else if (which == 1) (data, caller) = (abi.encodeCall(Escrow.refund, (job.terms)), job.terms.provider);
        else if (which == 2) (data, caller) = (abi.encodeCall(Escrow.dispute, (job.terms)), job.terms.payer);
        else if (which == 3) (data, caller) = (abi.encodeCall(Escrow.resolve, (job.terms, 5000)), arbiter);
        else if (which == 4) (data, caller) = (abi.encodeCall(Escrow.markCompleted, (job.terms)), operator);
        else (data, caller) = (abi.encodeCall(Escrow.fund, (job.terms, _sign(job.terms, _payerKeys[0]))), relayer);
        vm.prank(caller);
        (bool ok,) = address(escrow).call(data);
        if (ok) ghostTerminalViolated = true;
        ++calls["pokeClosed"];
    }

    /// @notice One of the payers, providers or the fee recipient claims its whole balance.
    function claim(uint256 accountSeed) external {
        address account = _account(accountSeed);
        uint256 balance = escrow.claimable(address(usdc), account);
        if (balance == 0) return;
        vm.prank(account);
        uint256 amount = escrow.claim(address(usdc), sink);
        require(amount == balance, "claim amount");
        ghostClaimed += amount;
        ++calls["claim"];
    }

    /// @notice Moves time forward by up to three days.
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 3 days));
        ++calls["warp"];
    }

    // ------------------------------------------------------------------ views for the invariants

    function jobCount() external view returns (uint256) {
        return _jobs.length;
    }

    function jobAt(uint256 index) external view returns (JobGhost memory) {
        return _jobs[index];
    }

    /// @notice Everyone who can be credited: the payers, the providers and the fee recipient.
    function accounts() external view returns (address[] memory list) {
        list = new address[](2 * ACTORS + 1);
        for (uint256 i; i < ACTORS; ++i) {
            list[i] = payers[i];
            list[ACTORS + i] = providers[i];
        }
        list[2 * ACTORS] = feeRecipient;
    }

    // ------------------------------------------------------------------ internal

    function _newTerms(
        uint256 actorSeed,
        uint256 amount,
        uint256 fee,
        uint256 fundingIn,
        uint256 window,
        uint256 review
    ) internal returns (Escrow.JobTerms memory terms, uint256 key) {
        uint256 payerIndex = actorSeed % ACTORS;
        amount = bound(amount, 1, MAX_AMOUNT);
        uint64 fundingDeadline = uint64(block.timestamp + bound(fundingIn, 1, 2 days));
        terms = Escrow.JobTerms({
            payer: payers[payerIndex],
            provider: providers[(actorSeed / ACTORS) % ACTORS],
            token: address(usdc),
            amount: amount,
            fee: bound(fee, 0, amount * escrow.maxFeeBps() / 10_000),
            arbiter: arbiter,
            fundingDeadline: fundingDeadline,
            completionDeadline: fundingDeadline + uint64(bound(window, 0, 10 days)),
            // A quarter of the jobs have no review window.
            reviewWindow: review % 4 == 0 ? 0 : uint64(bound(review, 1, 5 days)),
            salt: bytes32(++_salt)
        });
        key = _payerKeys[payerIndex];
    }

    function _sign(Escrow.JobTerms memory terms, uint256 key) internal view returns (bytes memory) {
        return signReceive(
            usdc,
            key,
            Authorization({
                from: terms.payer,
                to: address(escrow),
                value: terms.amount,
                validAfter: 0,
                validBefore: terms.fundingDeadline,
                nonce: escrow.jobIdOf(terms)
            })
        );
    }

    function _recordFunded(Escrow.JobTerms memory terms) internal {
        JobGhost storage job = _jobs.push();
        job.terms = terms;
        job.id = escrow.jobIdOf(terms);
        ghostFunded += terms.amount;
        ++fundings[job.id];
        _indexOf[job.id] = _jobs.length;
    }

    /// @dev The first job, scanning from `seed % length`, whose status is in `mask` (one bit per Status).
    function _find(uint256 seed, uint256 mask) internal view returns (JobGhost storage job, bool found) {
        uint256 count = _jobs.length;
        for (uint256 i; i < count; ++i) {
            job = _jobs[(seed % count + i) % count];
            if (mask & _bit(escrow.jobState(job.id).status) != 0) return (job, true);
        }
        return (_none, false);
    }

    function _bit(Escrow.Status status) internal pure returns (uint256) {
        return 1 << uint256(status);
    }

    function _account(uint256 seed) internal view returns (address) {
        uint256 index = seed % (2 * ACTORS + 1);
        if (index < ACTORS) return payers[index];
        if (index < 2 * ACTORS) return providers[index - ACTORS];
        return feeRecipient;
    }

    /// @dev Runs a closing call and records each party's credit from the `claimable` deltas.
    function _close(JobGhost storage job, address caller, bytes memory data, uint256 providerBps) internal {
        uint256 payerBefore = escrow.claimable(address(usdc), job.terms.payer);
        uint256 providerBefore = escrow.claimable(address(usdc), job.terms.provider);
        uint256 feeBefore = escrow.claimable(address(usdc), feeRecipient);
        vm.prank(caller);
        (bool ok, bytes memory reason) = address(escrow).call(data);
        if (!ok) {
            assembly {
                revert(add(reason, 0x20), mload(reason))
            }
        }
        job.payerPaid = escrow.claimable(address(usdc), job.terms.payer) - payerBefore;
        job.providerPaid = escrow.claimable(address(usdc), job.terms.provider) - providerBefore;
        job.feePaid = escrow.claimable(address(usdc), feeRecipient) - feeBefore;
        job.providerBps = providerBps;
        job.terminal = escrow.jobState(job.id).status;
        ghostCredited += job.payerPaid + job.providerPaid + job.feePaid;
    }
}
