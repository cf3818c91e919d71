// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../../src/BatchSettler.sol";
import {MockUSDC} from "../../mocks/MockUSDC.sol";
import {Authorizations} from "../../utils/Authorizations.sol";
import {Vm} from "../../utils/Vm.sol";

/// @title BatchSettlerHandler
/// @notice Drives BatchSettler for the invariant suite: random batches over a few payers, payees and nonces (so
///         nonces repeat within and across batches), with broken signatures, bad windows, payees equal to the
///         settler, overdrafts, cancellations, pauses, blacklists, top-ups and the passing of time. Records ghosts from
///         the settler's events.
contract BatchSettlerHandler is Authorizations {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 public constant PAYERS = 4;
    uint256 public constant PAYEES = 3;
    uint256 public constant NONCES = 12;
    uint256 public constant MAX_BATCH = 4;
    uint256 public constant INITIAL_BALANCE = 500e6;

    MockUSDC public immutable token;
    BatchSettler public immutable settler;
    /// @dev The token's owner (pause, blacklist): the invariant test that deployed it.
    address internal immutable owner;

    uint256[PAYERS] internal keys;
    address[PAYERS] public payers;
    address[PAYEES] public payees;

    // ------------------------------------------------------------------ ghosts

    /// @notice PaymentSettled events seen per (payer, nonce).
    mapping(address payer => mapping(bytes32 nonce => uint256)) public ghostSettledCount;
    /// @notice The largest value of `ghostSettledCount` ever reached.
    uint256 public ghostMaxSettledCount;
    /// @notice PaymentSettled events whose token, payee or value differ from the item they close.
    uint256 public ghostMismatchedRecords;

    /// @notice Sum of the values of every item that emitted PaymentSettled.
    uint256 public ghostSettledValue;
    /// @notice Everything minted to payers, initial balances included.
    uint256 public ghostMinted;
    /// @notice Items relayed, settled (PaymentSettled) and failed (PaymentFailed).
    uint256 public ghostItems;
    uint256 public ghostSettled;
    uint256 public ghostFailed;
    /// @notice Batches whose closing BatchSettled disagreed with their item events.
    uint256 public ghostBadBatchSummaries;

    /// @dev Every (payer, nonce) that settled, to check against the token's nonce map.
    address[] internal settledPayers;
    bytes32[] internal settledNonces;

    constructor(MockUSDC token_, BatchSettler settler_) {
        token = token_;
        settler = settler_;
        owner = msg.sender;
        for (uint256 i; i < PAYERS; ++i) {
            keys[i] = uint256(keccak256(abi.encode("invariant-payer", i))) % (SECP256K1_N - 1) + 1;
            payers[i] = vm.addr(keys[i]);
            token.mint(payers[i], INITIAL_BALANCE);
            ghostMinted += INITIAL_BALANCE;
        }
        for (uint256 i; i < PAYEES; ++i) {
            payees[i] = address(uint160(uint256(keccak256(abi.encode("invariant-payee", i)))));
        }
    }

    // ------------------------------------------------------------------ actions

    /// @notice Settles a random batch of 1..MAX_BATCH payments and records what the settler reports. One batch in
    ///         sixteen runs while the token is paused, one in eight while a payer or payee is blacklisted.
    function settleBatch(uint256 seed, uint256 size) external {
        size = bound(size, 1, MAX_BATCH);
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](size);
        for (uint256 i; i < size; ++i) {
            ps[i] = randomPayment(uint256(keccak256(abi.encode(seed, i))));
        }
        bool pause = seed % 16 == 0;
        address blocked = (seed >> 8) % 8 == 0 ? account((seed >> 16) % (PAYERS + PAYEES)) : address(0);
        vm.startPrank(owner);
        if (pause) token.pause();
        if (blocked != address(0)) token.blacklist(blocked);
        vm.stopPrank();

        vm.recordLogs();
        uint256 settled = settler.settle(address(token), ps);
        record(vm.getRecordedLogs(), ps, settled);

        vm.startPrank(owner);
        if (pause) token.unpause();
        if (blocked != address(0)) token.unBlacklist(blocked);
        vm.stopPrank();
    }

    /// @notice Lets up to two minutes pass.
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 120));
    }

    /// @notice The payer cancels one of its nonces (a used nonce cannot be cancelled).
    function cancel(uint256 payerIndex, uint256 nonceIndex) external {
        payerIndex = bound(payerIndex, 0, PAYERS - 1);
        bytes32 nonce = bytes32(bound(nonceIndex, 0, NONCES - 1));
        address payer = payers[payerIndex];
        if (token.paused() || token.authorizationState(payer, nonce)) return;
        token.cancelAuthorization(payer, nonce, signCancel(token, keys[payerIndex], payer, nonce));
    }

    /// @notice Tops up a payer.
    function mint(uint256 payerIndex, uint256 value) external {
        address payer = payers[bound(payerIndex, 0, PAYERS - 1)];
        if (token.paused() || token.isBlacklisted(payer)) return;
        value = bound(value, 0, 100e6);
        token.mint(payer, value);
        ghostMinted += value;
    }

    // ------------------------------------------------------------------ views for the invariants

    function account(uint256 index) public view returns (address) {
        return index < PAYERS ? payers[index] : payees[index - PAYERS];
    }

    function settledKeyCount() external view returns (uint256) {
        return settledPayers.length;
    }

    function settledKey(uint256 i) external view returns (address payer, bytes32 nonce) {
        return (settledPayers[i], settledNonces[i]);
    }

    function payerBalances() public view returns (uint256 sum) {
        for (uint256 i; i < PAYERS; ++i) {
            sum += token.balanceOf(payers[i]);
        }
    }

    function payeeBalances() public view returns (uint256 sum) {
        for (uint256 i; i < PAYEES; ++i) {
            sum += token.balanceOf(payees[i]);
        }
    }

    // ------------------------------------------------------------------ internal

    /// @dev A payment that is usually valid and sometimes broken in one of several ways.
    function randomPayment(uint256 r) internal view returns (BatchSettler.Payment memory p) {
        uint256 payerIndex = r % PAYERS;
        address to = (r >> 8) % 12 == 0 ? address(settler) : payees[(r >> 16) % PAYEES];
        uint256 value = bound(r >> 24, 0, 60e6);
        // Mostly valid windows; now and then not yet valid or already expired.
        uint256 validAfter = block.timestamp - 60 + (r >> 88) % 70;
        uint256 validBefore = block.timestamp - 5 + (r >> 120) % 300;
        bytes32 nonce = bytes32((r >> 152) % NONCES);
        Authorization memory auth = Authorization(payers[payerIndex], to, value, validAfter, validBefore, nonce);
        p = BatchSettler.Payment(
            auth.from, to, value, validAfter, validBefore, nonce, signTransfer(token, keys[payerIndex], auth)
        );
        if ((r >> 160) % 10 == 0) p.value = value + 1; // breaks the signature
    }

    /// @dev Reads the settler's events: one per item in order, then BatchSettled.
    function record(Vm.Log[] memory logs, BatchSettler.Payment[] memory ps, uint256 settled) internal {
        uint256 item;
        uint256 settledSeen;
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].emitter != address(settler)) continue;
            bytes32 topic = logs[k].topics[0];
            if (topic == BatchSettler.PaymentSettled.selector) {
                address payer = address(uint160(uint256(logs[k].topics[1])));
                bytes32 nonce = logs[k].topics[2];
                uint256 count = ++ghostSettledCount[payer][nonce];
                if (count > ghostMaxSettledCount) ghostMaxSettledCount = count;
                if (count == 1) {
                    settledPayers.push(payer);
                    settledNonces.push(nonce);
                }
                (address eventToken, address eventTo, uint256 eventValue) =
                    abi.decode(logs[k].data, (address, address, uint256));
                if (eventToken != address(token) || eventTo != ps[item].to || eventValue != ps[item].value) {
                    ++ghostMismatchedRecords;
                }
                ghostSettledValue += eventValue;
                ++ghostSettled;
                ++settledSeen;
                ++item;
            } else if (topic == BatchSettler.PaymentFailed.selector) {
                ++ghostFailed;
                ++item;
            } else if (topic == BatchSettler.BatchSettled.selector) {
                (uint256 payments, uint256 settledInLog) = abi.decode(logs[k].data, (uint256, uint256));
                if (payments != ps.length || item != ps.length || settledInLog != settledSeen) {
                    ++ghostBadBatchSummaries;
                }
            }
        }
        if (settled != settledSeen) ++ghostBadBatchSummaries;
        ghostItems += ps.length;
    }
}
