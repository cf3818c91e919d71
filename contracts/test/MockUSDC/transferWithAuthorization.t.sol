// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice `transferWithAuthorization`, both overloads: strict window, check order, event order, balance.
contract MockUSDC_TransferWithAuthorization_Test is MockUSDC_Base {
    function test_When_BytesSignature_MovesFundsAndConsumesNonce() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_When_VRSSignature_MovesFundsAndConsumesNonce() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.TransferVRS, aliceKey, auth);
        _assertApplied(Op.TransferVRS, auth, START_BALANCE, 0);
    }

    function test_When_SubmittedByAnyRelayer_OutcomeIsTheSame() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        // The payer, the payee or a stranger: the funds always go from `from` to `to`.
        _submitAs(Op.TransferBytes, makeAddr("stranger"), auth, signature);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
        assertEq(token.balanceOf(makeAddr("stranger")), 0, "submitter gets nothing");
    }

    function test_RevertWhen_NowEqualsValidAfter() public {
        Authorization memory auth = _auth(NONCE);
        auth.validAfter = NOW;
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), NOT_YET_VALID);
    }

    function test_RevertWhen_NowBeforeValidAfter() public {
        Authorization memory auth = _auth(NONCE);
        auth.validAfter = NOW + 10;
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), NOT_YET_VALID);
    }

    function test_When_NowIsOneSecondAfterValidAfter() public {
        Authorization memory auth = _auth(NONCE);
        auth.validAfter = NOW - 1;
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_RevertWhen_NowEqualsValidBefore() public {
        Authorization memory auth = _auth(NONCE);
        auth.validBefore = NOW;
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), EXPIRED);
    }

    function test_RevertWhen_NowAfterValidBefore() public {
        Authorization memory auth = _auth(NONCE);
        auth.validBefore = NOW - 10;
        auth.validAfter = 0;
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), EXPIRED);
    }

    function test_When_NowIsOneSecondBeforeValidBefore() public {
        Authorization memory auth = _auth(NONCE);
        auth.validBefore = NOW + 1;
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_RevertWhen_InsufficientBalance() public {
        Authorization memory auth = _auth(NONCE);
        auth.value = START_BALANCE + 1;
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), EXCEEDS_BALANCE);
        assertFalse(token.authorizationState(alice, NONCE), "a reverted transfer leaves the nonce unused");
    }

    function test_RevertWhen_ToIsZeroAddress() public {
        Authorization memory auth = _auth(NONCE);
        auth.to = address(0);
        _expectSubmitReverts(
            Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), "ERC20: transfer to the zero address"
        );
    }

    function test_RevertWhen_ValueTamperedAfterSigning() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        auth.value += 1;
        _expectSubmitReverts(Op.TransferBytes, auth, signature, INVALID_SIGNATURE);
    }

    function test_RevertWhen_RecipientTamperedAfterSigning() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        auth.to = relayer;
        _expectSubmitReverts(Op.TransferBytes, auth, signature, INVALID_SIGNATURE);
    }

    function test_RevertWhen_SignedAsReceiveAuthorization() public {
        Authorization memory auth = _auth(NONCE);
        _expectSubmitReverts(Op.TransferBytes, auth, signReceive(token, aliceKey, auth), INVALID_SIGNATURE);
    }

    function test_When_WindowCheckedBeforeNonce() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        vm.warp(auth.validBefore);
        // Nonce used and window closed: the window is reported.
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), EXPIRED);
    }

    function test_When_NonceCheckedBeforeSignature() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        // Nonce used and signature wrong: the nonce is reported.
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, bobKey, auth), USED_OR_CANCELED);
    }

    function test_When_Succeeds_EmitsAuthorizationUsedBeforeTransfer() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        vm.recordLogs();
        _submit(Op.TransferBytes, auth, signature);
        _assertAuthorizationUsedThenTransfer(vm.getRecordedLogs(), auth);
    }

    function test_When_Succeeds_VRSOverloadEmitsAuthorizationUsedBeforeTransfer() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        vm.recordLogs();
        _submit(Op.TransferVRS, auth, signature);
        _assertAuthorizationUsedThenTransfer(vm.getRecordedLogs(), auth);
    }

    /// @dev Succeeds iff validAfter < now < validBefore; otherwise the first failing bound is reported.
    function testFuzz_ValidityWindow(uint256 validAfter, uint256 validBefore, uint256 nowTs) public {
        nowTs = bound(nowTs, 1, type(uint64).max);
        validAfter = bound(validAfter, 0, type(uint64).max);
        validBefore = bound(validBefore, 0, type(uint64).max);
        vm.warp(nowTs);
        Authorization memory auth = Authorization(alice, bob, AMOUNT, validAfter, validBefore, NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        if (nowTs <= validAfter) {
            _expectSubmitReverts(Op.TransferBytes, auth, signature, NOT_YET_VALID);
        } else if (nowTs >= validBefore) {
            _expectSubmitReverts(Op.TransferBytes, auth, signature, EXPIRED);
        } else {
            _submit(Op.TransferBytes, auth, signature);
            _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
        }
    }

    /// @dev Any amount up to the balance moves exactly; one unit more reverts.
    function testFuzz_Amount(uint256 balance, uint256 value) public {
        balance = bound(balance, 0, type(uint128).max);
        value = bound(value, 0, type(uint128).max);
        address payer = vm.addr(aliceKey + 1);
        token.mint(payer, balance);
        Authorization memory auth = Authorization(payer, bob, value, NOW - 1, NOW + 1, NONCE);
        bytes memory signature = signTransfer(token, aliceKey + 1, auth);
        if (value > balance) {
            _expectSubmitReverts(Op.TransferBytes, auth, signature, EXCEEDS_BALANCE);
        } else {
            _submit(Op.TransferBytes, auth, signature);
            _assertApplied(Op.TransferBytes, auth, balance, 0);
        }
    }
}
