// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {Vm} from "../utils/Vm.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

contract Escrow_PayMany_Test is EscrowBase {
    // ------------------------------------------------------------------ the batch

    function test_RevertWhen_CallerNotOperator() public {
        Escrow.DirectPayment[] memory payments = _payments(1);
        expectNotOperator(stranger);
        vm.prank(stranger);
        escrow.payMany(address(usdc), payments);
    }

    function test_RevertWhen_TokenIsZero() public {
        Escrow.DirectPayment[] memory payments = _payments(1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.Token));
        vm.prank(operator);
        escrow.payMany(address(0), payments);
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        Escrow.DirectPayment[] memory payments = _payments(1);
        uint256 required = escrow.FUND_ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        vm.prank(operator);
        escrow.payMany{gas: required}(address(usdc), payments);
    }

    function test_RevertWhen_GasRunsShortMidBatch() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        uint256 gasLimit = escrow.FUND_ITEM_GAS_REQUIRED() + 50_000;
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        vm.prank(operator);
        escrow.payMany{gas: gasLimit}(address(usdc), payments);
        assertEq(claimableOf(provider), 0, "rolled back");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        Escrow.DirectPayment[] memory payments = _payments(1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, operator));
        vm.prank(operator);
        escrow.payBatchItem(address(usdc), payments[0]);
    }

    function test_When_Empty() public {
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(usdc), 0, 0);
        vm.prank(operator);
        assertEq(escrow.payMany(address(usdc), new Escrow.DirectPayment[](0)), 0, "none paid");
    }

    function test_When_AllPaymentsValid() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(escrow));
            emit Escrow.PaymentCredited(address(usdc), payer, payments[i].nonce, provider, 0.95e6, 0.05e6);
        }
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(usdc), 3, 3);
        vm.prank(operator);
        assertEq(escrow.payMany(address(usdc), payments), 3, "paid");
        assertEq(claimableOf(provider), 3 * 0.95e6, "provider credited");
        assertEq(claimableOf(feeRecipient), 3 * 0.05e6, "fee credited");
        assertEq(usdc.balanceOf(address(escrow)), 3e6, "escrow received");
        assertEq(liabilitiesOf(), 3e6, "liabilities");
        for (uint256 i; i < 3; ++i) {
            assertTrue(usdc.authorizationState(payer, payments[i].nonce), "nonce used");
        }
    }

    /// @dev Credits are claimable at once: no job, no review window.
    function test_When_ProviderClaimsAtOnce() public {
        Escrow.DirectPayment[] memory payments = _payments(2);
        vm.prank(operator);
        escrow.payMany(address(usdc), payments);
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        assertEq(usdc.balanceOf(provider), 1.9e6, "provider paid");
        assertEq(liabilitiesOf(), 0.1e6, "fees still owed");
    }

    function test_When_FeeIsZero() public {
        Escrow.DirectPayment[] memory payments = _payments(1);
        payments[0].fee = 0;
        _pay(payments);
        assertEq(claimableOf(provider), 1e6, "provider gets all");
        assertEq(claimableOf(feeRecipient), 0, "no fee");
    }

    // ------------------------------------------------------------------ one bad item among good ones

    function test_When_FeeAboveCap() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[1].fee = 0.05e6 + 1; // 5% of 1e6
        _expectFailure(payments, 1, abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, 0.05e6 + 1, 0.05e6));
    }

    function test_When_AmountIsZero() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[1].amount = 0;
        payments[1].fee = 0;
        _expectFailure(payments, 1, abi.encodeWithSelector(Escrow.Escrow_InvalidAmount.selector, 0));
    }

    function test_When_AmountAboveMax() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[1].amount = uint256(type(uint128).max) + 1;
        payments[1].fee = 0;
        _expectFailure(payments, 1, abi.encodeWithSelector(Escrow.Escrow_InvalidAmount.selector, payments[1].amount));
    }

    function test_When_ProviderIsZero() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[1].provider = address(0);
        _expectFailure(
            payments, 1, abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.Provider)
        );
    }

    function test_When_SignedByOtherKey() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        (, uint256 otherKey) = makeKey("mallory");
        payments[1].signature = signPayment(payments[1], otherKey);
        _expectFailure(payments, 1, abi.encodeWithSignature("Error(string)", "FiatTokenV2: invalid signature"));
    }

    /// @dev The payer signed an amount: a batch claiming more for the same signature is refused.
    function test_When_AmountDiffersFromAuthorization() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[1].amount = 2e6;
        _expectFailure(payments, 1, abi.encodeWithSignature("Error(string)", "FiatTokenV2: invalid signature"));
    }

    function test_When_NonceUsed() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        frontRun(payments[1]);
        _expectFailure(
            payments, 1, abi.encodeWithSignature("Error(string)", "FiatTokenV2: authorization is used or canceled")
        );
        assertEq(escrow.surplus(address(usdc)), 1e6, "front-run money is surplus");
    }

    function test_When_SamePaymentTwiceInBatch() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[2] = payments[0];
        _expectFailure(
            payments, 2, abi.encodeWithSignature("Error(string)", "FiatTokenV2: authorization is used or canceled")
        );
    }

    function test_When_AuthorizationExpired() public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        payments[1].validBefore = block.timestamp;
        payments[1].signature = signPayment(payments[1], payerKey);
        _expectFailure(payments, 1, abi.encodeWithSignature("Error(string)", "FiatTokenV2: authorization is expired"));
    }

    function test_When_PayerBlacklisted() public {
        Escrow.DirectPayment[] memory payments = _payments(2);
        (address other, uint256 otherKey) = makeKey("blacklisted payer");
        usdc.mint(other, 10e6);
        payments[1].payer = other;
        payments[1].signature = signPayment(payments[1], otherKey);
        usdc.blacklist(other);
        _expectFailure(payments, 1, abi.encodeWithSignature("Error(string)", "Blacklistable: account is blacklisted"));
    }

    // ------------------------------------------------------------------ hostile tokens

    function test_When_TokenShortchanges() public {
        EvilToken evil = _evilToken(EvilToken.Mode.Shortchange);
        Escrow.DirectPayment[] memory payments = _payments(1);
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(
            payer, payments[0].nonce, abi.encodeWithSelector(Escrow.Escrow_BalanceDelta.selector, 1e6, 1e6 - 1)
        );
        vm.prank(operator);
        assertEq(escrow.payMany(address(evil), payments), 0, "nothing credited");
        assertEq(escrow.claimable(address(evil), provider), 0, "no credit");
        assertEq(escrow.liabilities(address(evil)), 0, "no liability");
    }

    function test_When_ItemRevertReasonIsHuge() public {
        EvilToken evil = _evilToken(EvilToken.Mode.RevertBomb);
        Escrow.DirectPayment[] memory payments = _payments(2);
        vm.recordLogs();
        vm.prank(operator);
        assertEq(escrow.payMany(address(evil), payments), 0, "none credited");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 failures;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != Escrow.PaymentCreditFailed.selector) continue;
            assertEq(abi.decode(logs[i].data, (bytes)).length, escrow.MAX_REASON_BYTES(), "reason cut");
            ++failures;
        }
        assertEq(failures, 2, "each failure logged");
    }

    function test_When_ItemTokenBurnsAllGas() public {
        EvilToken evil = _evilToken(EvilToken.Mode.GasBomb);
        Escrow.DirectPayment[] memory payments = _payments(2);
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(payer, payments[0].nonce, "");
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(payer, payments[1].nonce, "");
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(evil), 2, 0);
        uint256 gasLimit = 3 * escrow.FUND_ITEM_GAS_REQUIRED();
        vm.prank(operator);
        escrow.payMany{gas: gasLimit}(address(evil), payments);
    }

    function test_When_ItemTokenReenters() public {
        EvilToken evil = _evilToken(EvilToken.Mode.Reenter);
        Escrow.DirectPayment[] memory payments = _payments(1);
        evil.setReentry(address(escrow), abi.encodeCall(Escrow.payBatchItem, (address(evil), payments[0])));
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(
            payer, payments[0].nonce, abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, address(evil))
        );
        vm.prank(operator);
        escrow.payMany(address(evil), payments);
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Whatever mix of good and bad items, the batch credits exactly what it received.
    function testFuzz_PayMany_CreditsWhatItReceived(uint8 badMask, uint256 amount, uint256 fee) public {
        amount = bound(amount, 1, 1000e6);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        Escrow.DirectPayment[] memory payments = _payments(5);
        (, uint256 otherKey) = makeKey("mallory");
        uint256 good;
        for (uint256 i; i < 5; ++i) {
            payments[i].amount = amount;
            payments[i].fee = fee;
            payments[i].signature = signPayment(payments[i], badMask & (1 << i) != 0 ? otherKey : payerKey);
            if (badMask & (1 << i) == 0) ++good;
        }
        uint256 balanceBefore = usdc.balanceOf(address(escrow));
        vm.prank(operator);
        assertEq(escrow.payMany(address(usdc), payments), good, "paid");
        uint256 received = usdc.balanceOf(address(escrow)) - balanceBefore;
        assertEq(received, good * amount, "received");
        assertEq(claimableOf(provider) + claimableOf(feeRecipient), received, "credited == received");
        assertEq(claimableOf(feeRecipient), good * fee, "fees");
        assertEq(liabilitiesOf(), received, "liabilities");
    }

    function testFuzz_PayMany_NoItemStarved(uint256 gasLimit) public {
        Escrow.DirectPayment[] memory payments = _payments(3);
        gasLimit = bound(gasLimit, 50_000, 1_500_000);
        vm.prank(operator);
        try escrow.payMany{gas: gasLimit}(address(usdc), payments) returns (uint256 paid) {
            assertEq(paid, 3, "every valid item paid");
        } catch {
            assertEq(claimableOf(provider), 0, "rolled back");
        }
    }

    // ------------------------------------------------------------------ helpers

    function _payments(uint256 count) internal view returns (Escrow.DirectPayment[] memory payments) {
        payments = new Escrow.DirectPayment[](count);
        for (uint256 i; i < count; ++i) {
            payments[i] = directPayment(i);
        }
    }

    function _pay(Escrow.DirectPayment[] memory payments) internal returns (uint256) {
        vm.prank(operator);
        return escrow.payMany(address(usdc), payments);
    }

    /// @dev Pays `payments`, expecting only item `bad` to fail with `reason`.
    function _expectFailure(Escrow.DirectPayment[] memory payments, uint256 bad, bytes memory reason) internal {
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(payments[bad].payer, payments[bad].nonce, reason);
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(usdc), payments.length, payments.length - 1);
        assertEq(_pay(payments), payments.length - 1, "the others paid");
        assertEq(claimableOf(provider), (payments.length - 1) * 0.95e6, "provider credited for the others");
        assertEq(liabilitiesOf(), (payments.length - 1) * 1e6, "liabilities of the others");
    }

    function _evilToken(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.setMode(mode);
        evil.mint(payer, 1000e6);
    }
}
