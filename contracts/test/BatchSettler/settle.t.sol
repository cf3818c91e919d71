// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {BatchSettlerHostileToken, BatchSettlerWallet} from "../mocks/BatchSettlerMocks.sol";
import {Vm} from "../utils/Vm.sol";
import {BatchSettlerFixture} from "./BatchSettlerFixture.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @notice Unit tests of `BatchSettler.settle`, one per path.
contract SettleTest is BatchSettlerFixture {
    uint256 internal aliceKey;
    address internal alice;
    uint256 internal bobKey;
    address internal bob;

    function setUp() public override {
        super.setUp();
        aliceKey = payerKey(0);
        alice = fundPayer(0);
        bobKey = payerKey(1);
        bob = fundPayer(1);
    }

    // ------------------------------------------------------------------ whole-batch reverts

    function test_RevertWhen_BatchIsEmpty() public {
        vm.expectRevert(BatchSettler.BatchSettler_EmptyBatch.selector);
        settler.settle(address(token), new BatchSettler.Payment[](0));
    }

    function test_RevertWhen_TokenIsNotAContract() public {
        BatchSettler.Payment[] memory ps = one(payment(aliceKey, payTo, 1e6, bytes32(uint256(1))));
        address eoa = makeAddr("eoa");
        vm.expectRevert(abi.encodeWithSelector(BatchSettler.BatchSettler_TokenNotContract.selector, eoa));
        settler.settle(eoa, ps);

        vm.expectRevert(abi.encodeWithSelector(BatchSettler.BatchSettler_TokenNotContract.selector, address(0)));
        settler.settle(address(0), ps);

        // A precompile has no code either.
        vm.expectRevert(abi.encodeWithSelector(BatchSettler.BatchSettler_TokenNotContract.selector, address(1)));
        settler.settle(address(1), ps);
    }

    function test_RevertWhen_GasIsTooLowForTheFirstItem() public {
        BatchSettler.Payment[] memory ps = one(payment(aliceKey, payTo, 1e6, bytes32(uint256(1))));
        (bool ok, bytes memory data) =
            address(settler).call{gas: 300_000}(abi.encodeCall(BatchSettler.settle, (address(token), ps)));
        assertFalse(ok, "batch reverted");
        (uint256 index, uint256 gasLeft, uint256 required) = decodeInsufficientGas(data);
        assertEq(index, 0, "index");
        assertLe(gasLeft, 300_000, "gasLeft");
        assertEq(required, settler.ITEM_GAS_REQUIRED(), "required");
        assertFalse(token.authorizationState(alice, bytes32(uint256(1))), "nonce unused");
    }

    function test_RevertWhen_GasIsTooLowForAllItems() public {
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](3);
        for (uint256 i; i < 3; ++i) {
            ps[i] = payment(aliceKey, payTo, 1e6, bytes32(i));
        }
        // Enough for the first item's check but not for the whole batch.
        (bool ok, bytes memory data) =
            address(settler).call{gas: 600_000}(abi.encodeCall(BatchSettler.settle, (address(token), ps)));
        assertFalse(ok, "batch reverted");
        (uint256 index, uint256 gasLeft, uint256 required) = decodeInsufficientGas(data);
        assertGe(index, 1, "first item passed its check");
        assertLe(index, 2, "index in range");
        assertLe(gasLeft, required - 1, "gasLeft below required");
        for (uint256 i; i < 3; ++i) {
            assertFalse(token.authorizationState(alice, bytes32(i)), "nothing settled");
        }
        assertEq(token.balanceOf(alice), PAYER_BALANCE, "alice unchanged");
    }

    // ------------------------------------------------------------------ success

    function test_When_AllItemsAreValid() public {
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](3);
        ps[0] = payment(aliceKey, payTo, 1e6, keccak256("a0"));
        ps[1] = payment(bobKey, payTo, 2e6, keccak256("b0"));
        ps[2] = payment(aliceKey, makeAddr("carol"), 3e6, keccak256("a1"));
        for (uint256 i; i < 3; ++i) {
            expectSettled(ps[i]);
        }
        expectBatch(address(token), 3, 3);
        uint256 settled = settler.settle(address(token), ps);

        assertEq(settled, 3, "settled");
        assertEq(token.balanceOf(alice), PAYER_BALANCE - 4e6, "alice");
        assertEq(token.balanceOf(bob), PAYER_BALANCE - 2e6, "bob");
        assertEq(token.balanceOf(payTo), 1e6 + 3e6, "payTo");
        assertEq(token.balanceOf(makeAddr("carol")), 3e6, "carol");
        assertEq(token.balanceOf(address(settler)), 0, "settler holds nothing");
        assertTrue(token.authorizationState(alice, keccak256("a0")), "a0 used");
        assertTrue(token.authorizationState(bob, keccak256("b0")), "b0 used");
    }

    function test_When_CallerIsAnyone() public {
        BatchSettler.Payment[] memory ps = one(payment(aliceKey, payTo, 1e6, bytes32(uint256(7))));
        vm.prank(makeAddr("stranger"));
        assertEq(settler.settle(address(token), ps), 1, "permissionless");
    }

    function test_When_ValueIsZero() public {
        BatchSettler.Payment memory p = payment(aliceKey, payTo, 0, bytes32(uint256(7)));
        expectSettled(p);
        assertEq(settler.settle(address(token), one(p)), 1, "zero value settles");
        assertTrue(token.authorizationState(alice, p.nonce), "nonce used");
    }

    function test_When_PayerIsAnERC1271Wallet() public {
        BatchSettlerWallet wallet = new BatchSettlerWallet(alice);
        token.mint(address(wallet), 10e6);
        BatchSettler.Payment memory p = walletPayment(wallet, aliceKey, 4e6, keccak256("w0"), "");
        expectSettled(p);
        assertEq(settler.settle(address(token), one(p)), 1, "settled");
        assertEq(token.balanceOf(address(wallet)), 6e6, "wallet paid");
        assertEq(token.balanceOf(payTo), 1e6 + 4e6, "payTo paid");
    }

    function test_When_WalletSignatureIsLongerThan65Bytes() public {
        BatchSettlerWallet wallet = new BatchSettlerWallet(alice);
        token.mint(address(wallet), 10e6);
        // 65 + 35 = 100 bytes: not a multiple of 32, so the settler must pad the call data itself.
        BatchSettler.Payment memory p = walletPayment(wallet, aliceKey, 1e6, keccak256("w1"), new bytes(35));
        assertEq(p.signature.length, 100, "length");
        expectSettled(p);
        assertEq(settler.settle(address(token), one(p)), 1, "settled");
    }

    function test_When_WalletRefusesTheSignature() public {
        BatchSettlerWallet wallet = new BatchSettlerWallet(alice);
        token.mint(address(wallet), 10e6);
        // Signed by bob, but the wallet belongs to alice.
        BatchSettler.Payment memory p = walletPayment(wallet, bobKey, 1e6, keccak256("w2"), "");
        expectFailed(p, errorString("FiatTokenV2: invalid signature"));
        assertEq(settler.settle(address(token), one(p)), 0, "refused");
    }

    // ------------------------------------------------------------------ per-item failures

    function test_When_ItemsAreMixed() public {
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](9);
        ps[0] = payment(aliceKey, payTo, 1e6, keccak256("good-0"));
        // Signed by bob for alice's address.
        ps[1] = payment(bobKey, payTo, 1e6, keccak256("bad-sig"));
        ps[1].from = alice;
        ps[2] = paymentWindow(aliceKey, payTo, 1e6, NOW - 100, NOW, keccak256("expired"));
        ps[3] = paymentWindow(aliceKey, payTo, 1e6, NOW, NOW + 100, keccak256("early"));
        ps[4] = payment(bobKey, payTo, PAYER_BALANCE + 1, keccak256("too-much"));
        ps[5] = payment(aliceKey, payTo, 1e6, keccak256("cancelled"));
        token.cancelAuthorization(alice, ps[5].nonce, signCancel(token, aliceKey, alice, ps[5].nonce));
        ps[6] = payment(aliceKey, payTo, 1e6, keccak256("short-sig"));
        ps[6].signature = new bytes(64);
        ps[7] = payment(aliceKey, address(settler), 1e6, keccak256("to-settler"));
        ps[8] = payment(bobKey, payTo, 2e6, keccak256("good-1"));

        expectSettled(ps[0]);
        expectFailed(ps[1], errorString("FiatTokenV2: invalid signature"));
        expectFailed(ps[2], errorString("FiatTokenV2: authorization is expired"));
        expectFailed(ps[3], errorString("FiatTokenV2: authorization is not yet valid"));
        expectFailed(ps[4], errorString("ERC20: transfer amount exceeds balance"));
        expectFailed(ps[5], errorString("FiatTokenV2: authorization is used or canceled"));
        expectFailed(ps[6], errorString("ECRecover: invalid signature length"));
        expectFailed(ps[7], abi.encodeWithSelector(BatchSettler.BatchSettler_PayToSettler.selector));
        expectSettled(ps[8]);
        expectBatch(address(token), 9, 2);
        uint256 settled = settler.settle(address(token), ps);

        assertEq(settled, 2, "two settled");
        assertEq(token.balanceOf(alice), PAYER_BALANCE - 1e6, "alice paid once");
        assertEq(token.balanceOf(bob), PAYER_BALANCE - 2e6, "bob paid once");
        assertEq(token.balanceOf(payTo), 1e6 + 3e6, "payTo");
        assertEq(token.balanceOf(address(settler)), 0, "settler holds nothing");
        assertFalse(token.authorizationState(alice, keccak256("expired")), "failed nonce stays unused");
        assertFalse(token.authorizationState(alice, keccak256("to-settler")), "refused nonce stays unused");
    }

    function test_When_NonceRepeatsWithinTheBatch() public {
        BatchSettler.Payment memory p = payment(aliceKey, payTo, 5e6, keccak256("dup"));
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](2);
        ps[0] = p;
        ps[1] = p;
        expectSettled(p);
        expectFailed(p, errorString("FiatTokenV2: authorization is used or canceled"));
        expectBatch(address(token), 2, 1);
        assertEq(settler.settle(address(token), ps), 1, "settled once");
        assertEq(token.balanceOf(alice), PAYER_BALANCE - 5e6, "paid once");
    }

    function test_When_ItemWasAlreadySettled() public {
        BatchSettler.Payment memory p = payment(aliceKey, payTo, 5e6, keccak256("again"));
        assertEq(settler.settle(address(token), one(p)), 1, "first");
        expectFailed(p, errorString("FiatTokenV2: authorization is used or canceled"));
        assertEq(settler.settle(address(token), one(p)), 0, "second");
        assertEq(token.balanceOf(alice), PAYER_BALANCE - 5e6, "paid once");
    }

    function test_When_ItemIsExpired() public {
        // validBefore is exclusive: now == validBefore is expired, now == validBefore - 1 is not.
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](2);
        ps[0] = paymentWindow(aliceKey, payTo, 1e6, 0, NOW, keccak256("at-edge"));
        ps[1] = paymentWindow(aliceKey, payTo, 1e6, 0, NOW + 1, keccak256("inside"));
        expectFailed(ps[0], errorString("FiatTokenV2: authorization is expired"));
        expectSettled(ps[1]);
        assertEq(settler.settle(address(token), ps), 1, "only the one inside");
    }

    function test_When_ItemIsNotYetValid() public {
        // validAfter is exclusive: now == validAfter is too early, now == validAfter + 1 is fine.
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](2);
        ps[0] = paymentWindow(aliceKey, payTo, 1e6, NOW, NOW + 60, keccak256("at-edge"));
        ps[1] = paymentWindow(aliceKey, payTo, 1e6, NOW - 1, NOW + 60, keccak256("inside"));
        expectFailed(ps[0], errorString("FiatTokenV2: authorization is not yet valid"));
        expectSettled(ps[1]);
        assertEq(settler.settle(address(token), ps), 1, "only the one inside");
    }

    function test_When_TokenIsPaused() public {
        token.pause();
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](2);
        ps[0] = payment(aliceKey, payTo, 1e6, keccak256("p0"));
        ps[1] = payment(bobKey, payTo, 1e6, keccak256("p1"));
        expectFailed(ps[0], errorString("Pausable: paused"));
        expectFailed(ps[1], errorString("Pausable: paused"));
        expectBatch(address(token), 2, 0);
        assertEq(settler.settle(address(token), ps), 0, "none settled");
    }

    function test_When_PayerOrPayeeIsBlacklisted() public {
        address blocked = makeAddr("blocked");
        token.blacklist(bob);
        token.blacklist(blocked);
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](3);
        ps[0] = payment(bobKey, payTo, 1e6, keccak256("from-blocked"));
        ps[1] = payment(aliceKey, blocked, 1e6, keccak256("to-blocked"));
        ps[2] = payment(aliceKey, payTo, 1e6, keccak256("fine"));
        expectFailed(ps[0], errorString("Blacklistable: account is blacklisted"));
        expectFailed(ps[1], errorString("Blacklistable: account is blacklisted"));
        expectSettled(ps[2]);
        assertEq(settler.settle(address(token), ps), 1, "only the clean one");
    }

    function test_When_PayToIsTheToken() public {
        // FiatToken v2.2 blacklists its own address, so the money can never be stranded in the token.
        BatchSettler.Payment memory p = payment(aliceKey, address(token), 1e6, keccak256("to-token"));
        expectFailed(p, errorString("Blacklistable: account is blacklisted"));
        expectBatch(address(token), 1, 0);
        assertEq(settler.settle(address(token), one(p)), 0, "refused");
        assertEq(token.balanceOf(address(token)), 0, "nothing stranded");
        assertFalse(token.authorizationState(alice, keccak256("to-token")), "nonce unused");
    }

    function test_When_PayToIsTheSettler() public {
        BatchSettler.Payment memory p = payment(aliceKey, address(settler), 1e6, keccak256("self"));
        expectFailed(p, abi.encodeWithSelector(BatchSettler.BatchSettler_PayToSettler.selector));
        assertEq(settler.settle(address(token), one(p)), 0, "refused");
        assertEq(token.balanceOf(address(settler)), 0, "nothing stranded");
        assertFalse(token.authorizationState(alice, p.nonce), "nonce unused, the payer can still pay elsewhere");
    }

    // ------------------------------------------------------------------ hostile tokens

    function test_When_TokenRevertsWithoutData() public {
        BatchSettlerHostileToken hostile = new BatchSettlerHostileToken();
        BatchSettler.Payment[] memory ps = hostileBatch(hostile, BatchSettlerHostileToken.Mode.RevertEmpty);
        expectSettled(address(hostile), ps[0]);
        expectFailed(ps[1], "");
        expectSettled(address(hostile), ps[2]);
        expectBatch(address(hostile), 3, 2);
        assertEq(settler.settle(address(hostile), ps), 2, "the others settle");
    }

    function test_When_TokenRevertsWithACustomError() public {
        BatchSettlerHostileToken hostile = new BatchSettlerHostileToken();
        BatchSettler.Payment[] memory ps = hostileBatch(hostile, BatchSettlerHostileToken.Mode.RevertCustom);
        bytes memory reason = abi.encodeWithSelector(
            BatchSettlerHostileToken.HostileToken_Refused.selector, ps[1].from, ps[1].nonce, ps[1].value
        );
        expectSettled(address(hostile), ps[0]);
        expectFailed(ps[1], reason);
        expectSettled(address(hostile), ps[2]);
        expectBatch(address(hostile), 3, 2);
        assertEq(settler.settle(address(hostile), ps), 2, "the others settle");
    }

    function test_When_TokenReturnsARevertDataBomb() public {
        BatchSettlerHostileToken hostile = new BatchSettlerHostileToken();
        BatchSettler.Payment[] memory ps = hostileBatch(hostile, BatchSettlerHostileToken.Mode.RevertBomb);
        uint256 maxReason = settler.MAX_REASON_LENGTH();
        bytes memory cut = new bytes(maxReason);
        for (uint256 offset; offset < maxReason; offset += 32) {
            bytes32 word = hostile.bombWord(offset);
            assembly ("memory-safe") {
                mstore(add(add(cut, 0x20), offset), word)
            }
        }
        expectSettled(address(hostile), ps[0]);
        expectFailed(ps[1], cut);
        expectSettled(address(hostile), ps[2]);
        expectBatch(address(hostile), 3, 2);
        assertEq(settler.settle(address(hostile), ps), 2, "the others settle");
    }

    function test_When_TokenBurnsAllItsGas() public {
        BatchSettlerHostileToken hostile = new BatchSettlerHostileToken();
        BatchSettler.Payment[] memory ps = hostileBatch(hostile, BatchSettlerHostileToken.Mode.BurnAllGas);
        expectSettled(address(hostile), ps[0]);
        expectFailed(ps[1], "");
        expectSettled(address(hostile), ps[2]);
        expectBatch(address(hostile), 3, 2);
        uint256 before = gasleft();
        assertEq(settler.settle(address(hostile), ps), 2, "the others settle");
        uint256 used = before - gasleft();
        // The griefing item burns exactly its stipend, never more.
        assertGe(used, settler.ITEM_GAS_LIMIT(), "burnt the stipend");
        assertLe(used, settler.ITEM_GAS_LIMIT() + 60_000, "and no more");
    }

    function test_When_TokenReentersSettle() public {
        BatchSettlerHostileToken hostile = new BatchSettlerHostileToken();
        BatchSettler.Payment[] memory ps = hostileBatch(hostile, BatchSettlerHostileToken.Mode.Reenter);
        expectSettled(address(hostile), ps[0]);
        expectFailed(ps[1], abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector));
        expectSettled(address(hostile), ps[2]);
        expectBatch(address(hostile), 3, 2);
        assertEq(settler.settle(address(hostile), ps), 2, "the others settle");
    }

    function test_When_GasIsJustEnough_ItemGetsItsWholeStipend() public {
        BatchSettlerHostileToken hostile = new BatchSettlerHostileToken();
        BatchSettler.Payment[] memory ps = hostileBatch(hostile, BatchSettlerHostileToken.Mode.RecordGas);
        bytes memory data = abi.encodeCall(BatchSettler.settle, (address(hostile), ps));

        uint256 snapshot = vm.snapshotState();
        (bool ok,) = address(settler).call(data);
        assertTrue(ok, "plenty of gas");
        uint256 seenWithPlenty = hostile.recordedGas();
        assertLe(seenWithPlenty, settler.ITEM_GAS_LIMIT(), "capped at the stipend");
        assertGe(seenWithPlenty, settler.ITEM_GAS_LIMIT() - 1000, "the stipend minus the callee's prologue");

        // Find the least gas the batch accepts; the item must see exactly the same gas there.
        uint256 lo = settler.ITEM_GAS_REQUIRED();
        uint256 hi = lo + 200_000;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            vm.revertToState(snapshot);
            (ok,) = address(settler).call{gas: mid}(data);
            if (ok) hi = mid;
            else lo = mid + 1;
        }
        vm.revertToState(snapshot);
        (ok,) = address(settler).call{gas: lo}(data);
        assertTrue(ok, "least accepted gas");
        assertEq(hostile.recordedGas(), seenWithPlenty, "same gas at the edge");
    }

    // ------------------------------------------------------------------ events and constants

    function test_When_Settled_EventTopicsAndDataAreExact() public {
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](2);
        ps[0] = payment(aliceKey, payTo, 1e6, keccak256("e0"));
        ps[1] = payment(bobKey, payTo, 1e6, keccak256("e0"));
        ps[1].value = 2e6; // breaks the signature
        vm.recordLogs();
        settler.settle(address(token), ps);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(settler)) continue;
            Vm.Log memory log = logs[i];
            if (seen == 2) {
                assertEq(log.topics.length, 2, "batch: token indexed");
                assertEq(log.topics[0], BatchSettler.BatchSettled.selector, "batch topic0");
                assertEq(log.topics[1], bytes32(uint256(uint160(address(token)))), "token topic");
                (uint256 payments, uint256 settled) = abi.decode(log.data, (uint256, uint256));
                assertEq(payments, 2, "payments");
                assertEq(settled, 1, "settled");
                ++seen;
                continue;
            }
            assertEq(log.topics.length, 3, "payer and nonce indexed");
            assertEq(log.topics[1], bytes32(uint256(uint160(ps[seen].from))), "payer topic");
            assertEq(log.topics[2], ps[seen].nonce, "nonce topic");
            if (seen == 0) {
                assertEq(log.topics[0], BatchSettler.PaymentSettled.selector, "settled topic0");
                vm.assertEq(log.data, abi.encode(address(token), payTo, uint256(1e6)), "token, payee and value");
            } else {
                assertEq(log.topics[0], BatchSettler.PaymentFailed.selector, "failed topic0");
                bytes memory reason = abi.decode(log.data, (bytes));
                vm.assertEq(reason, errorString("FiatTokenV2: invalid signature"), "reason");
                assertEq(log.data.length, 0x40 + 0x80, "padded to words");
            }
            ++seen;
        }
        assertEq(seen, 3, "one event per item, then the batch");
    }

    function test_When_PayToIsTheSettler_ReasonIsExact() public {
        BatchSettler.Payment memory p = payment(aliceKey, address(settler), 1e6, keccak256("self"));
        vm.recordLogs();
        settler.settle(address(token), one(p));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 2, "failed, batch");
        assertEq(logs[0].topics[0], BatchSettler.PaymentFailed.selector, "failed");
        vm.assertEq(
            abi.decode(logs[0].data, (bytes)),
            abi.encodeWithSelector(BatchSettler.BatchSettler_PayToSettler.selector),
            "reason"
        );
        assertEq(logs[0].data.length, 0x60, "padded to words");
    }

    function test_Constants() public view {
        uint256 limit = settler.ITEM_GAS_LIMIT();
        uint256 grossed = settler.ITEM_GAS_REQUIRED() - settler.ITEM_GAS_OVERHEAD();
        assertEq(grossed, (limit * 64 + 62) / 63, "required = ceil(limit * 64 / 63) + overhead");
        assertGe(grossed - grossed / 64, limit, "EIP-150 leaves the callee its whole stipend");
        // The ceiling over-asks by at most one gas: two less is already too little.
        assertLe((grossed - 2) - (grossed - 2) / 64, limit - 1, "and the bound is tight");
        assertEq(settler.MAX_REASON_LENGTH(), 256, "reason cap");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Three payments on `hostile`: the middle one misbehaves in `mode`, the outer two succeed.
    function hostileBatch(BatchSettlerHostileToken hostile, BatchSettlerHostileToken.Mode mode)
        internal
        returns (BatchSettler.Payment[] memory ps)
    {
        ps = new BatchSettler.Payment[](3);
        for (uint256 i; i < 3; ++i) {
            ps[i] = BatchSettler.Payment(
                alice, payTo, 1e6 + i, NOW - 1, NOW + 60, keccak256(abi.encode("hostile", i)), new bytes(65)
            );
        }
        hostile.setMode(ps[1].nonce, mode);
    }

    /// @dev A payment from `wallet`, signed by `key` and followed by `suffix`.
    function walletPayment(BatchSettlerWallet wallet, uint256 key, uint256 value, bytes32 nonce, bytes memory suffix)
        internal
        view
        returns (BatchSettler.Payment memory)
    {
        Authorization memory auth = Authorization(address(wallet), payTo, value, NOW - 1, NOW + 60, nonce);
        bytes memory signature = bytes.concat(signTransfer(token, key, auth), suffix);
        return BatchSettler.Payment(address(wallet), payTo, value, NOW - 1, NOW + 60, nonce, signature);
    }

    function decodeInsufficientGas(bytes memory data)
        internal
        pure
        returns (uint256 index, uint256 gasLeft, uint256 required)
    {
        assertEq(data.length, 4 + 3 * 32, "revert data length");
        // forge-lint: disable-next-line(unsafe-typecast)
        assertEq(bytes32(bytes4(data)), bytes32(BatchSettler.BatchSettler_InsufficientGas.selector), "selector");
        assembly ("memory-safe") {
            index := mload(add(data, 0x24))
            gasLeft := mload(add(data, 0x44))
            required := mload(add(data, 0x64))
        }
    }
}
