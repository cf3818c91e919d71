// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice `cancelAuthorization`, both overloads: consumes the nonce without moving funds, no validity window.
contract MockUSDC_CancelAuthorization_Test is MockUSDC_Base {
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    function test_When_BytesSignature_CancelsAndEmits() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signCancel(token, aliceKey, alice, NONCE);
        vm.expectEmit(address(token));
        emit AuthorizationCanceled(alice, NONCE);
        _submit(Op.CancelBytes, auth, signature);
        _assertApplied(Op.CancelBytes, auth, START_BALANCE, 0);
    }

    function test_When_VRSSignature_CancelsAndEmits() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signCancel(token, aliceKey, alice, NONCE);
        vm.expectEmit(address(token));
        emit AuthorizationCanceled(alice, NONCE);
        _submit(Op.CancelVRS, auth, signature);
        _assertApplied(Op.CancelVRS, auth, START_BALANCE, 0);
    }

    function test_When_Cancels_EmitsOnlyAuthorizationCanceled() public {
        bytes memory signature = signCancel(token, aliceKey, alice, NONCE);
        vm.recordLogs();
        _submit(Op.CancelBytes, _auth(NONCE), signature);
        assertEq(vm.getRecordedLogs().length, 1, "one event, no Transfer");
    }

    function test_When_AnyTime_CancelHasNoValidityWindow() public {
        vm.warp(type(uint64).max);
        _signAndSubmit(Op.CancelBytes, aliceKey, _auth(NONCE));
        assertTrue(token.authorizationState(alice, NONCE), "cancelled");
    }

    function test_When_SubmittedByAnyone() public {
        bytes memory signature = signCancel(token, aliceKey, alice, NONCE);
        _submitAs(Op.CancelBytes, makeAddr("stranger"), _auth(NONCE), signature);
        assertTrue(token.authorizationState(alice, NONCE), "cancelled");
    }

    function test_RevertWhen_AlreadyCanceled() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.CancelBytes, aliceKey, auth);
        _expectSubmitReverts(Op.CancelBytes, auth, signCancel(token, aliceKey, alice, NONCE), USED_OR_CANCELED);
    }

    function test_RevertWhen_SignedByAnotherKey() public {
        _expectSubmitReverts(Op.CancelBytes, _auth(NONCE), signCancel(token, bobKey, alice, NONCE), INVALID_SIGNATURE);
        assertFalse(token.authorizationState(alice, NONCE), "still usable");
    }

    function test_RevertWhen_SignedForAnotherNonce() public {
        bytes memory signature = signCancel(token, aliceKey, alice, keccak256("other"));
        _expectSubmitReverts(Op.CancelBytes, _auth(NONCE), signature, INVALID_SIGNATURE);
    }

    function test_RevertWhen_TransferAuthorizationSignatureUsedToCancel() public {
        Authorization memory auth = _auth(NONCE);
        _expectSubmitReverts(Op.CancelBytes, auth, signTransfer(token, aliceKey, auth), INVALID_SIGNATURE);
    }

    function test_When_NonceCheckedBeforeSignature() public {
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.CancelBytes, aliceKey, auth);
        _expectSubmitReverts(Op.CancelBytes, auth, signCancel(token, bobKey, alice, NONCE), USED_OR_CANCELED);
    }
}
