// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../../src/Escrow.sol";
import {MockUSDC} from "../../mocks/MockUSDC.sol";
import {Vm} from "../../utils/Vm.sol";
import {EscrowHandler} from "./EscrowHandler.sol";

/// @title EscrowOperatorHandler
/// @notice EscrowHandler plus the entries the marketplace's operator and relayers use: x402 transfer funding one at a
///         time or in batches, direct payments (`payMany`), signed releases and disputes, `stepMany`, the operator's
///         refund, `claimFor` and `claimMany`. Some authorizations are front-run (submitted straight to the token),
///         leaving stray money that `book` later books with `fundTransferred` or `creditTransferred`; `donate`
///         sends plain transfers nobody can book; `fundAgain` tries to fund a known job a second time by every route.
/// @dev Credits of a batch that may close several jobs (`stepMany`) are read from the escrow's events; single
///      closes use the parent's `claimable` deltas.
contract EscrowOperatorHandler is EscrowHandler {
    /// @notice An authorization someone submitted straight to the token: money in the escrow nobody booked yet.
    struct Stray {
        bool isJob;
        bool booked;
        Escrow.JobTerms terms;
        Escrow.DirectPayment payment;
    }

    address public immutable frontRunner;

    Stray[] internal _strays;
    uint256 internal _nonce;

    /// @notice Money that reached the escrow outside its entries (front-run authorizations, plain transfers).
    uint256 public ghostStray;
    /// @notice The part of `ghostStray` booked by `fundTransferred` or `creditTransferred`.
    uint256 public ghostBooked;
    /// @notice Set if a `payMany` credited anything but exactly what the escrow received.
    bool public ghostPayMiscredited;
    /// @notice Set if a known job was funded a second time.
    bool public ghostDoubleFunded;

    /// @dev Signs the arbiter's resolutions that `stepMany` relays.
    uint256 internal immutable arbiterKey;

    constructor(Escrow escrow_, MockUSDC usdc_, address feeRecipient_, address operator_, uint256 arbiterKey_)
        EscrowHandler(escrow_, usdc_, feeRecipient_, operator_, vm.addr(arbiterKey_))
    {
        frontRunner = makeAddr("front-runner");
        arbiterKey = arbiterKey_;
    }

    // ------------------------------------------------------------------ funding

    /// @notice The operator funds one new job with the payer's x402 transfer authorization.
    function fundWithTransfer(uint256 actorSeed, uint256 amount, uint256 fee, uint256 fundingIn, uint256 window)
        external
    {
        (Escrow.JobTerms memory terms, uint256 key) = _newTerms(actorSeed, amount, fee, fundingIn, window, actorSeed);
        bytes memory signature = _signTransfer(terms.payer, terms.amount, terms.salt, key);
        vm.prank(operator);
        escrow.fundWithTransfer(terms, 0, type(uint256).max, signature);
        _recordFunded(terms);
        ++calls["fundWithTransfer"];
    }

    /// @notice The operator funds up to four jobs in a batch; `badMask` items carry a wrong signer, `frontRunMask`
    ///         items were submitted to the token first.
    function fundManyWithTransfer(uint256 seed, uint256 count, uint8 badMask, uint8 frontRunMask) external {
        count = bound(count, 1, 4);
        Escrow.TransferFunding[] memory items = new Escrow.TransferFunding[](count);
        for (uint256 i; i < count; ++i) {
            uint256 itemSeed = uint256(keccak256(abi.encode(seed, i)));
            (Escrow.JobTerms memory terms, uint256 key) =
                _newTerms(itemSeed, itemSeed >> 8, itemSeed >> 48, itemSeed >> 96, itemSeed >> 128, itemSeed >> 160);
            bool bad = badMask & (1 << i) != 0;
            bytes memory signature = _signTransfer(terms.payer, terms.amount, terms.salt, bad ? key ^ 1 : key);
            items[i] = Escrow.TransferFunding({
                terms: terms, validAfter: 0, validBefore: type(uint256).max, signature: signature
            });
            if (!bad && frontRunMask & (1 << i) != 0) {
                _frontRun(terms.payer, terms.amount, terms.salt, signature);
                Stray storage stray = _strays.push();
                stray.isJob = true;
                stray.terms = terms;
            }
        }
        vm.prank(operator);
        uint256 funded = escrow.fundManyWithTransfer(items);
        uint256 seen;
        for (uint256 i; i < count; ++i) {
            if (escrow.jobState(escrow.jobIdOf(items[i].terms)).status == Escrow.Status.Funded) {
                _recordFunded(items[i].terms);
                ++seen;
            }
        }
        require(seen == funded, "fundManyWithTransfer count");
        ++calls["fundManyWithTransfer"];
    }

    /// @notice The operator credits up to four direct payments; `badMask` items carry a wrong signer or a fee above
    ///         the cap, `frontRunMask` items were submitted to the token first.
    function payMany(uint256 seed, uint256 count, uint8 badMask, uint8 frontRunMask) external {
        count = bound(count, 1, 4);
        Escrow.DirectPayment[] memory payments = new Escrow.DirectPayment[](count);
        for (uint256 i; i < count; ++i) {
            uint256 itemSeed = uint256(keccak256(abi.encode(seed, i, "pay")));
            payments[i] = _newPayment(itemSeed);
            if (badMask & (1 << i) != 0) {
                if (itemSeed & 1 == 0) {
                    payments[i].signature = _signTransfer(payments[i].payer, 1, payments[i].nonce, 1);
                } else {
                    payments[i].fee = payments[i].amount; // above the 5% cap
                }
            } else if (frontRunMask & (1 << i) != 0) {
                Escrow.DirectPayment memory p = payments[i];
                _frontRun(p.payer, p.amount, p.nonce, p.signature);
                _strays.push().payment = p;
            }
        }
        uint256 balanceBefore = usdc.balanceOf(address(escrow));
        uint256 owedBefore = _totalClaimable();
        uint256 liabilitiesBefore = escrow.liabilities(address(usdc));
        vm.prank(operator);
        escrow.payMany(address(usdc), payments);
        uint256 received = usdc.balanceOf(address(escrow)) - balanceBefore;
        uint256 credited = _totalClaimable() - owedBefore;
        if (credited != received || escrow.liabilities(address(usdc)) - liabilitiesBefore != received) {
            ghostPayMiscredited = true;
        }
        ghostFunded += credited;
        ghostCredited += credited;
        ++calls["payMany"];
    }

    /// @notice The operator books one front-run authorization from the surplus it left.
    function book(uint256 seed) external {
        uint256 count = _strays.length;
        for (uint256 i; i < count; ++i) {
            Stray storage stray = _strays[(seed % count + i) % count];
            if (stray.booked) continue;
            stray.booked = true;
            if (stray.isJob) {
                Escrow.JobTerms memory terms = stray.terms;
                if (block.timestamp >= terms.fundingDeadline) {
                    // The operator chooses the terms: late, it books fresh deadlines under the same salt.
                    terms.fundingDeadline = uint64(block.timestamp + 1 hours);
                    terms.completionDeadline = terms.fundingDeadline + 1 days;
                }
                vm.prank(operator);
                escrow.fundTransferred(terms);
                _recordFunded(terms);
                ghostBooked += terms.amount;
            } else {
                vm.prank(operator);
                escrow.creditTransferred(address(usdc), stray.payment);
                uint256 amount = stray.payment.amount;
                ghostFunded += amount;
                ghostCredited += amount;
                ghostBooked += amount;
            }
            ++calls["book"];
            return;
        }
    }

    /// @notice A payer sends USDC to the escrow with a plain transfer: surplus nobody can book.
    function donate(uint256 actorSeed, uint256 amount) external {
        amount = bound(amount, 1, 10e6);
        vm.prank(payers[actorSeed % ACTORS]);
        usdc.transfer(address(escrow), amount);
        ghostStray += amount;
        ++calls["donate"];
    }

    /// @notice Tries to fund a known job again: by `fund`, by `fundWithTransfer` (each with a fresh valid
    ///         authorization) or by `fundTransferred` after donating enough surplus. None may succeed.
    function fundAgain(uint256 jobSeed, uint256 which) external {
        uint256 count = _jobs.length;
        if (count == 0) return;
        JobGhost storage job = _jobs[jobSeed % count];
        Escrow.JobTerms memory terms = job.terms;
        uint256 key = _keyOf(terms.payer);
        bytes memory data;
        address caller = operator;
        which = which % 3;
        if (which == 0) {
            (data, caller) = (abi.encodeCall(Escrow.fund, (terms, _sign(terms, key))), relayer);
        } else if (which == 1) {
            bytes memory signature = _signTransfer(terms.payer, terms.amount, terms.salt, key);
            data = abi.encodeCall(Escrow.fundWithTransfer, (terms, 0, type(uint256).max, signature));
        } else {
            vm.prank(terms.payer);
            usdc.transfer(address(escrow), terms.amount);
            ghostStray += terms.amount;
            data = abi.encodeCall(Escrow.fundTransferred, (terms));
        }
        vm.prank(caller);
        (bool ok,) = address(escrow).call(data);
        if (ok) ghostDoubleFunded = true;
        ++calls["fundAgain"];
    }

    // ------------------------------------------------------------------ lifecycle

    /// @notice A relayer releases an open job with the payer's EIP-712 signature.
    function releaseWithSig(uint256 jobSeed) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _OPEN);
        if (!found) return;
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory signature = _signAction(escrow.releaseDigest(job.id, deadline), job.terms.payer);
        _close(job, relayer, abi.encodeCall(Escrow.releaseWithSig, (job.terms, deadline, signature)), 10_000);
        ++calls["releaseWithSig"];
    }

    /// @notice A relayer disputes a funded job, or a completed one within its review window, by signature.
    function disputeWithSig(uint256 jobSeed) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Funded) | _bit(Escrow.Status.Completed));
        if (!found) return;
        Escrow.JobState memory state = escrow.jobState(job.id);
        if (
            state.status == Escrow.Status.Completed
                && block.timestamp >= uint256(state.completedAt) + job.terms.reviewWindow
        ) return;
        uint256 deadline = block.timestamp;
        bytes memory signature = _signAction(escrow.disputeDigest(job.id, deadline), job.terms.payer);
        vm.prank(relayer);
        escrow.disputeWithSig(job.terms, deadline, signature);
        ++calls["disputeWithSig"];
    }

    /// @notice The operator refunds a job still Funded (the provider reported failure).
    function operatorRefund(uint256 jobSeed) external {
        (JobGhost storage job, bool found) = _find(jobSeed, _bit(Escrow.Status.Funded));
        if (!found) return;
        _close(job, operator, abi.encodeCall(Escrow.refund, (job.terms)), 0);
        ++calls["operatorRefund"];
    }

    /// @notice The operator relays up to four random steps on random known jobs, valid or not.
    function stepMany(uint256 seed, uint256 count) external {
        uint256 jobCount_ = _jobs.length;
        if (jobCount_ == 0) return;
        count = bound(count, 1, 4);
        Escrow.Step[] memory steps = new Escrow.Step[](count);
        bool[] memory wasTerminal = new bool[](jobCount_);
        for (uint256 i; i < jobCount_; ++i) {
            wasTerminal[i] = _jobs[i].terminal != Escrow.Status.None;
        }
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i, "step")));
            JobGhost storage job = _jobs[r % jobCount_];
            Escrow.StepKind kind = Escrow.StepKind((r >> 8) % 6);
            steps[i] =
                Escrow.Step({kind: kind, terms: job.terms, deadline: block.timestamp, signature: "", providerBps: 0});
            if (kind == Escrow.StepKind.ReleaseWithSig) {
                steps[i].signature = _signAction(escrow.releaseDigest(job.id, block.timestamp), job.terms.payer);
            } else if (kind == Escrow.StepKind.DisputeWithSig) {
                steps[i].signature = _signAction(escrow.disputeDigest(job.id, block.timestamp), job.terms.payer);
            } else if (kind == Escrow.StepKind.ResolveWithSig) {
                uint16 bps = uint16((r >> 16) % 10_001);
                steps[i].providerBps = bps;
                (uint8 v, bytes32 rs, bytes32 ss) =
                    vm.sign(arbiterKey, escrow.resolveDigest(job.id, bps, block.timestamp));
                steps[i].signature = abi.encodePacked(rs, ss, v);
            }
        }
        vm.recordLogs();
        vm.prank(operator);
        uint256 applied = escrow.stepMany(steps);
        uint256 failed = _recordCloses(vm.getRecordedLogs(), wasTerminal);
        require(applied + failed == count, "stepMany count");
        ++calls["stepMany"];
    }

    // ------------------------------------------------------------------ claims

    /// @notice Anyone pays one account's balance to the account.
    function claimFor(uint256 accountSeed) external {
        address account = _account(accountSeed);
        uint256 balance = escrow.claimable(address(usdc), account);
        if (balance == 0) return;
        vm.prank(relayer);
        require(escrow.claimFor(address(usdc), account) == balance, "claimFor amount");
        ghostClaimed += balance;
        ++calls["claimFor"];
    }

    /// @notice Anyone pays every account's balance to itself; accounts with nothing fail alone.
    function claimMany() external {
        address[] memory list = this.accounts();
        uint256 total;
        uint256 nonZero;
        for (uint256 i; i < list.length; ++i) {
            uint256 balance = escrow.claimable(address(usdc), list[i]);
            total += balance;
            if (balance != 0) ++nonZero;
        }
        vm.prank(relayer);
        require(escrow.claimMany(address(usdc), list) == nonZero, "claimMany count");
        ghostClaimed += total;
        ++calls["claimMany"];
    }

    // ------------------------------------------------------------------ internal

    function _newPayment(uint256 seed) internal returns (Escrow.DirectPayment memory payment) {
        uint256 payerIndex = seed % ACTORS;
        uint256 amount = bound(seed >> 8, 1, MAX_AMOUNT);
        payment = Escrow.DirectPayment({
            payer: payers[payerIndex],
            provider: providers[(seed >> 4) % ACTORS],
            amount: amount,
            fee: bound(seed >> 64, 0, amount * escrow.maxFeeBps() / 10_000),
            validAfter: 0,
            validBefore: type(uint256).max,
            nonce: keccak256(abi.encode("payment", ++_nonce)),
            signature: ""
        });
        payment.signature = _signTransfer(payment.payer, amount, payment.nonce, _payerKeys[payerIndex]);
    }

    function _signTransfer(address from, uint256 value, bytes32 nonce, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        return signTransfer(
            usdc,
            key,
            Authorization({
                from: from,
                to: address(escrow),
                value: value,
                validAfter: 0,
                validBefore: type(uint256).max,
                nonce: nonce
            })
        );
    }

    function _signAction(bytes32 digest, address payer) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keyOf(payer), digest);
        return abi.encodePacked(r, s, v);
    }

    function _keyOf(address payer) internal view returns (uint256) {
        for (uint256 i; i < ACTORS; ++i) {
            if (payers[i] == payer) return _payerKeys[i];
        }
        revert("unknown payer");
    }

    /// @dev Submits an authorization straight to the token, as anyone who saw it could.
    function _frontRun(address from, uint256 value, bytes32 nonce, bytes memory signature) internal {
        vm.prank(frontRunner);
        usdc.transferWithAuthorization(from, address(escrow), value, 0, type(uint256).max, nonce, signature);
        ghostStray += value;
    }

    /// @dev Every claimable balance of the known accounts, summed.
    function _totalClaimable() internal view returns (uint256 total) {
        address[] memory list = this.accounts();
        for (uint256 i; i < list.length; ++i) {
            total += escrow.claimable(address(usdc), list[i]);
        }
    }

    /// @dev Records the closes in a batch's `logs` (JobReleased, JobRefunded) on their jobs and flags any close of a
    ///      job that was already terminal; returns how many steps failed (`StepFailed`). The recorded logs include
    ///      those of reverted item frames, so a close counts only if the job is now in that terminal status (each
    ///      job closes at most once; the outer frame's `StepFailed` never reverts).
    function _recordCloses(Vm.Log[] memory logs, bool[] memory wasTerminal) internal returns (uint256 failed) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(escrow)) continue;
            bytes32 topic = logs[i].topics[0];
            if (topic == Escrow.StepFailed.selector) {
                ++failed;
                continue;
            }
            bool released = topic == Escrow.JobReleased.selector;
            bool resolved = topic == Escrow.JobResolved.selector;
            if (!released && !resolved && topic != Escrow.JobRefunded.selector) continue;
            uint256 index = _indexOf[logs[i].topics[1]] - 1;
            JobGhost storage job = _jobs[index];
            Escrow.Status closedAs =
                released ? Escrow.Status.Released : (resolved ? Escrow.Status.Resolved : Escrow.Status.Refunded);
            if (escrow.jobState(job.id).status != closedAs) continue; // logged in a reverted step
            if (wasTerminal[index]) {
                ghostTerminalViolated = true;
                continue;
            }
            if (job.terminal != Escrow.Status.None) continue; // the same close logged twice: impossible, skip
            if (released) {
                (job.providerPaid, job.feePaid) = abi.decode(logs[i].data, (uint256, uint256));
                job.providerBps = 10_000;
            } else if (resolved) {
                (job.providerBps, job.payerPaid, job.providerPaid, job.feePaid) =
                    abi.decode(logs[i].data, (uint256, uint256, uint256, uint256));
            } else {
                job.payerPaid = abi.decode(logs[i].data, (uint256));
            }
            job.terminal = closedAs;
            ghostCredited += job.payerPaid + job.providerPaid + job.feePaid;
        }
    }
}
