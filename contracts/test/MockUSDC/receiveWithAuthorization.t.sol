// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice `receiveWithAuthorization`, both overloads: the payee rule first, then the same checks as transfer.
contract MockUSDC_ReceiveWithAuthorization_Test is MockUSDC_Base {
    function test_When_PayeeSubmitsBytesSignature() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.ReceiveBytes, aliceKey, auth);
        _assertApplied(Op.ReceiveBytes, auth, START_BALANCE, 0);
    }

    function test_When_PayeeSubmitsVRSSignature() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.ReceiveVRS, aliceKey, auth);
        _assertApplied(Op.ReceiveVRS, auth, START_BALANCE, 0);
    }

    function test_When_PayeeIsAContract_ItPullsTheFunds() public {
        Authorization memory auth = _auth(NONCE);
        auth.to = address(this);
        bytes memory signature = signReceive(token, aliceKey, auth);
        token.receiveWithAuthorization(
            auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature
        );
        _assertApplied(Op.ReceiveBytes, auth, START_BALANCE, 0);
    }

    function test_RevertWhen_CallerIsNotPayee() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        vm.expectRevert(bytes(NOT_PAYEE));
        _submitAs(Op.ReceiveBytes, relayer, auth, signature);
    }

    function test_RevertWhen_CallerIsNotPayee_VRSOverload() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        vm.expectRevert(bytes(NOT_PAYEE));
        _submitAs(Op.ReceiveVRS, relayer, auth, signature);
    }

    function test_RevertWhen_CallerIsNotPayee_EvenThePayer() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        vm.expectRevert(bytes(NOT_PAYEE));
        _submitAs(Op.ReceiveBytes, alice, auth, signature);
    }

    function test_RevertWhen_CallerIsNotPayee_CheckedBeforeWindowNonceAndSignature() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.TransferBytes, aliceKey, auth); // nonce used
        vm.warp(auth.validBefore); // window closed
        bytes memory wrongSignature = signReceive(token, bobKey, auth);
        vm.expectRevert(bytes(NOT_PAYEE));
        _submitAs(Op.ReceiveBytes, relayer, auth, wrongSignature);
    }

    function test_RevertWhen_NowEqualsValidAfter() public {
        Authorization memory auth = _auth(NONCE);
        auth.validAfter = NOW;
        _expectSubmitReverts(Op.ReceiveBytes, auth, signReceive(token, aliceKey, auth), NOT_YET_VALID);
    }

    function test_RevertWhen_NowEqualsValidBefore() public {
        Authorization memory auth = _auth(NONCE);
        auth.validBefore = NOW;
        _expectSubmitReverts(Op.ReceiveBytes, auth, signReceive(token, aliceKey, auth), EXPIRED);
    }

    function test_When_NowStrictlyInsideWindow() public {
        Authorization memory auth = Authorization(alice, bob, AMOUNT, NOW - 1, NOW + 1, NONCE);
        _signAndSubmit(Op.ReceiveBytes, aliceKey, auth);
        _assertApplied(Op.ReceiveBytes, auth, START_BALANCE, 0);
    }

    function test_RevertWhen_InsufficientBalance() public {
        Authorization memory auth = _auth(NONCE);
        auth.value = START_BALANCE + 1;
        _expectSubmitReverts(Op.ReceiveBytes, auth, signReceive(token, aliceKey, auth), EXCEEDS_BALANCE);
    }

    function test_RevertWhen_SignedAsTransferAuthorization() public {
        Authorization memory auth = _auth(NONCE);
        _expectSubmitReverts(Op.ReceiveBytes, auth, signTransfer(token, aliceKey, auth), INVALID_SIGNATURE);
    }

    function test_When_WindowCheckedBeforeNonce() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.ReceiveBytes, aliceKey, auth);
        vm.warp(auth.validBefore);
        _expectSubmitReverts(Op.ReceiveBytes, auth, signReceive(token, aliceKey, auth), EXPIRED);
    }

    function test_When_NonceCheckedBeforeSignature() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.ReceiveBytes, aliceKey, auth);
        _expectSubmitReverts(Op.ReceiveBytes, auth, signReceive(token, bobKey, auth), USED_OR_CANCELED);
    }

    function test_When_Succeeds_EmitsAuthorizationUsedBeforeTransfer() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        vm.recordLogs();
        _submit(Op.ReceiveBytes, auth, signature);
        _assertAuthorizationUsedThenTransfer(vm.getRecordedLogs(), auth);
    }

    function test_When_Succeeds_VRSOverloadEmitsAuthorizationUsedBeforeTransfer() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        vm.recordLogs();
        _submit(Op.ReceiveVRS, auth, signature);
        _assertAuthorizationUsedThenTransfer(vm.getRecordedLogs(), auth);
    }

    /// @dev Only `to` itself may submit: any other caller gets the payee error.
    function testFuzz_OnlyPayeeMaySubmit(address caller) public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        if (caller == auth.to) {
            _submitAs(Op.ReceiveBytes, caller, auth, signature);
            _assertApplied(Op.ReceiveBytes, auth, START_BALANCE, 0);
        } else {
            vm.expectRevert(bytes(NOT_PAYEE));
            _submitAs(Op.ReceiveBytes, caller, auth, signature);
        }
    }

    /// @dev Succeeds iff validAfter < now < validBefore.
    function testFuzz_ValidityWindow(uint256 validAfter, uint256 validBefore, uint256 nowTs) public {
        nowTs = bound(nowTs, 1, type(uint64).max);
        validAfter = bound(validAfter, 0, type(uint64).max);
        validBefore = bound(validBefore, 0, type(uint64).max);
        vm.warp(nowTs);
        Authorization memory auth = Authorization(alice, bob, AMOUNT, validAfter, validBefore, NONCE);
        bytes memory signature = signReceive(token, aliceKey, auth);
        if (nowTs <= validAfter) {
            _expectSubmitReverts(Op.ReceiveBytes, auth, signature, NOT_YET_VALID);
        } else if (nowTs >= validBefore) {
            _expectSubmitReverts(Op.ReceiveBytes, auth, signature, EXPIRED);
        } else {
            _submit(Op.ReceiveBytes, auth, signature);
            _assertApplied(Op.ReceiveBytes, auth, START_BALANCE, 0);
        }
    }
}
