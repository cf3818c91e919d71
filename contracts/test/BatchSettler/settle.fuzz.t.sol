// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {BatchSettlerWallet} from "../mocks/BatchSettlerMocks.sol";
import {Vm} from "../utils/Vm.sol";
import {BatchSettlerFixture} from "./BatchSettlerFixture.sol";

/// @notice Fuzz tests of `BatchSettler.settle` against a model of the token's rules.
contract SettleFuzzTest is BatchSettlerFixture {
    uint256 internal constant PAYERS = 3;
    uint256 internal constant NONCES = 4;
    uint256 internal constant MAX_BATCH = 12;

    /// @dev One item's generated shape and the model's verdict.
    struct Item {
        uint256 payer;
        bool badSignature;
        bool toSettler;
        bool settles;
        bytes reason;
    }

    function setUp() public override {
        super.setUp();
        for (uint256 i; i < PAYERS; ++i) {
            fundPayer(i);
        }
    }

    /// @dev The model's running state over one batch.
    struct Model {
        uint256[PAYERS] balances;
        bool[NONCES][PAYERS] used;
        uint256 settled;
        uint256 moved;
    }

    /// @dev Random batches (sizes, payers, values, windows around now, repeated nonces, broken signatures, payees
    ///      equal to the settler) settle exactly as the token's rules say, item by item, with the right reasons.
    function testFuzz_Settle_MatchesTheTokenRules(uint256 seed, uint256 size) public {
        size = bound(size, 1, MAX_BATCH);
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](size);
        Item[] memory items = new Item[](size);
        Model memory model;
        model.balances = [PAYER_BALANCE, PAYER_BALANCE, PAYER_BALANCE];
        for (uint256 i; i < size; ++i) {
            (ps[i], items[i]) = generate(model, uint256(keccak256(abi.encode(seed, i))));
        }

        uint256 payToBefore = token.balanceOf(payTo);
        vm.recordLogs();
        uint256 settled = settler.settle(address(token), ps);
        assertEq(settled, model.settled, "settled count");
        checkLogs(vm.getRecordedLogs(), ps, items, model.settled);

        for (uint256 j; j < PAYERS; ++j) {
            assertEq(token.balanceOf(payerAddr(j)), model.balances[j], "payer balance");
        }
        assertEq(token.balanceOf(payTo), payToBefore + model.moved, "payTo balance");
        assertEq(token.balanceOf(address(settler)), 0, "settler holds nothing");
    }

    /// @dev Whatever gas the relayer gives, the batch either settles every (valid) item or reverts with
    ///      `BatchSettler_InsufficientGas` and settles nothing: no item ever fails for lack of gas.
    function testFuzz_When_GasIsTight_NoItemFailsForLackOfGas(uint256 gasLimit, uint256 size) public {
        size = bound(size, 1, 4);
        uint256 required = settler.ITEM_GAS_REQUIRED();
        gasLimit = bound(gasLimit, required - 20_000, required + size * 60_000);
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](size);
        for (uint256 i; i < size; ++i) {
            ps[i] = payment(payerKey(i % PAYERS), payTo, 1e6, bytes32(i));
        }
        (bool ok, bytes memory ret) =
            address(settler).call{gas: gasLimit}(abi.encodeCall(BatchSettler.settle, (address(token), ps)));
        if (ok) {
            assertEq(abi.decode(ret, (uint256)), size, "all settled");
        } else {
            // forge-lint: disable-next-line(unsafe-typecast)
            assertEq(bytes32(bytes4(ret)), bytes32(BatchSettler.BatchSettler_InsufficientGas.selector), "our error");
        }
        for (uint256 i; i < size; ++i) {
            assertEq(token.authorizationState(payerAddr(i % PAYERS), bytes32(i)), ok, "all or nothing");
        }
    }

    /// @dev Contract-wallet signatures of any length reach the token intact (the settler pads them itself).
    function testFuzz_When_WalletSignatureHasAnyLength(uint256 extra, uint256 value) public {
        extra = bound(extra, 0, 300);
        value = bound(value, 0, 10e6);
        BatchSettlerWallet wallet = new BatchSettlerWallet(payerAddr(0));
        token.mint(address(wallet), 10e6);
        bytes32 nonce = keccak256(abi.encode(extra, value));
        Authorization memory auth = Authorization(address(wallet), payTo, value, NOW - 1, NOW + 60, nonce);
        bytes memory signature = bytes.concat(signTransfer(token, payerKey(0), auth), new bytes(extra));
        BatchSettler.Payment memory p =
            BatchSettler.Payment(address(wallet), payTo, value, NOW - 1, NOW + 60, nonce, signature);
        expectSettled(p);
        assertEq(settler.settle(address(token), one(p)), 1, "settled");
        assertEq(token.balanceOf(address(wallet)), 10e6 - value, "wallet paid");
    }

    /// @dev One random payment from `r`, and the model's verdict on it given the items before it.
    function generate(Model memory model, uint256 r)
        internal
        view
        returns (BatchSettler.Payment memory p, Item memory item)
    {
        item.payer = r % PAYERS;
        item.badSignature = (r >> 8) % 8 == 0;
        item.toSettler = (r >> 16) % 16 == 0;
        uint256 nonceIndex = (r >> 24) % NONCES;
        uint256 value = bound(r >> 32, 0, (PAYER_BALANCE * 2) / 3);
        uint256 validAfter = NOW - 50 + (r >> 96) % 100; // [now - 50, now + 49]
        uint256 validBefore = NOW - 20 + (r >> 128) % 200; // [now - 20, now + 179]
        p = paymentWindow(
            payerKey(item.payer),
            item.toSettler ? address(settler) : payTo,
            value,
            validAfter,
            validBefore,
            bytes32(nonceIndex)
        );
        if (item.badSignature) p.value = value + 1; // the signature no longer matches

        // The token's order of checks, with the settler's own check first.
        if (item.toSettler) {
            item.reason = abi.encodeWithSelector(BatchSettler.BatchSettler_PayToSettler.selector);
        } else if (NOW <= validAfter) {
            item.reason = errorString("FiatTokenV2: authorization is not yet valid");
        } else if (NOW >= validBefore) {
            item.reason = errorString("FiatTokenV2: authorization is expired");
        } else if (model.used[item.payer][nonceIndex]) {
            item.reason = errorString("FiatTokenV2: authorization is used or canceled");
        } else if (item.badSignature) {
            item.reason = errorString("FiatTokenV2: invalid signature");
        } else if (p.value > model.balances[item.payer]) {
            item.reason = errorString("ERC20: transfer amount exceeds balance");
        } else {
            item.settles = true;
            model.used[item.payer][nonceIndex] = true;
            model.balances[item.payer] -= p.value;
            model.moved += p.value;
            ++model.settled;
        }
    }

    /// @dev The settler's logs are one event per item, in order, as the model says, then `BatchSettled`.
    function checkLogs(
        Vm.Log[] memory logs,
        BatchSettler.Payment[] memory ps,
        Item[] memory items,
        uint256 expectedSettled
    ) internal view {
        uint256 seen;
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].emitter != address(settler)) continue;
            Vm.Log memory log = logs[k];
            if (seen == ps.length) {
                assertEq(log.topics[0], BatchSettler.BatchSettled.selector, "batch last");
                (uint256 payments, uint256 settledInLog) = abi.decode(log.data, (uint256, uint256));
                assertEq(payments, ps.length, "batch size");
                assertEq(settledInLog, expectedSettled, "batch settled");
            } else {
                assertEq(log.topics[1], bytes32(uint256(uint160(ps[seen].from))), "payer");
                assertEq(log.topics[2], ps[seen].nonce, "nonce");
                if (items[seen].settles) {
                    assertEq(log.topics[0], BatchSettler.PaymentSettled.selector, "settled");
                    vm.assertEq(log.data, abi.encode(address(token), ps[seen].to, ps[seen].value), "record");
                } else {
                    assertEq(log.topics[0], BatchSettler.PaymentFailed.selector, "failed");
                    vm.assertEq(abi.decode(log.data, (bytes)), items[seen].reason, "reason");
                }
            }
            ++seen;
        }
        assertEq(seen, ps.length + 1, "one event per item, then the batch");
    }
}
