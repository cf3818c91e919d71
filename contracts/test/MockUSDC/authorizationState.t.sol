// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice One nonce map per authorizer, shared by transfer, receive and cancel; `authorizationState` reflects it.
contract MockUSDC_AuthorizationState_Test is MockUSDC_Base {
    function test_When_NonceFresh_StateIsFalse() public view {
        assertFalse(token.authorizationState(alice, NONCE), "fresh");
    }

    function test_RevertWhen_TransferNonceReusedByTransfer() public {
        _useThenExpectRevert(Op.TransferBytes, Op.TransferBytes);
    }

    function test_RevertWhen_TransferNonceReusedByReceive() public {
        _useThenExpectRevert(Op.TransferBytes, Op.ReceiveBytes);
    }

    function test_RevertWhen_TransferNonceReusedByCancel() public {
        _useThenExpectRevert(Op.TransferBytes, Op.CancelBytes);
    }

    function test_RevertWhen_ReceiveNonceReusedByReceive() public {
        _useThenExpectRevert(Op.ReceiveBytes, Op.ReceiveBytes);
    }

    function test_RevertWhen_ReceiveNonceReusedByTransfer() public {
        _useThenExpectRevert(Op.ReceiveBytes, Op.TransferBytes);
    }

    function test_RevertWhen_ReceiveNonceReusedByCancel() public {
        _useThenExpectRevert(Op.ReceiveBytes, Op.CancelBytes);
    }

    function test_RevertWhen_CanceledNonceUsedByTransfer() public {
        _useThenExpectRevert(Op.CancelBytes, Op.TransferBytes);
    }

    function test_RevertWhen_CanceledNonceUsedByReceive() public {
        _useThenExpectRevert(Op.CancelBytes, Op.ReceiveBytes);
    }

    function test_RevertWhen_NonceUsedThroughVRSOverloadReusedThroughBytesOverload() public {
        _useThenExpectRevert(Op.TransferVRS, Op.ReceiveBytes);
        _useThenExpectRevert(Op.CancelVRS, Op.TransferBytes);
    }

    function test_When_SameNonceOfAnotherAuthorizer_IsIndependent() public {
        _signAndSubmit(Op.TransferBytes, aliceKey, _auth(NONCE));
        token.mint(bob, AMOUNT);
        Authorization memory bobs = Authorization(bob, alice, AMOUNT, NOW - 1, NOW + 1, NONCE);
        assertFalse(token.authorizationState(bob, NONCE), "bob's map is separate");
        _signAndSubmit(Op.TransferBytes, bobKey, bobs);
        assertTrue(token.authorizationState(bob, NONCE), "bob's nonce used");
    }

    function test_When_AttemptReverts_NonceStaysUnused() public {
        Authorization memory auth = _auth(NONCE);
        auth.validAfter = NOW; // not yet valid
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), NOT_YET_VALID);
        assertFalse(token.authorizationState(alice, NONCE), "unused after a revert");
        auth.validAfter = NOW - 1;
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        assertTrue(token.authorizationState(alice, NONCE), "used");
    }

    /// @dev For every pair of entry points (first, second): after `first` consumes a nonce, `second` reverts with
    ///      "used or canceled" and the state stays true.
    function testFuzz_OneNonceMapForAllEntryPoints(uint8 first, uint8 second, bytes32 nonce) public {
        Op firstOp = Op(bound(first, 0, 5));
        Op secondOp = Op(bound(second, 0, 5));
        Authorization memory auth = _auth(nonce);
        assertFalse(token.authorizationState(alice, nonce), "fresh");
        _signAndSubmit(firstOp, aliceKey, auth);
        assertTrue(token.authorizationState(alice, nonce), "consumed");
        _expectSubmitReverts(secondOp, auth, _sign(secondOp, aliceKey, auth), USED_OR_CANCELED);
        assertTrue(token.authorizationState(alice, nonce), "still consumed");
    }

    function _useThenExpectRevert(Op first, Op second) internal {
        bytes32 nonce = keccak256(abi.encode(first, second));
        Authorization memory auth = _auth(nonce);
        _signAndSubmit(first, aliceKey, auth);
        assertTrue(token.authorizationState(alice, nonce), "consumed");
        _expectSubmitReverts(second, auth, _sign(second, aliceKey, auth), USED_OR_CANCELED);
    }
}
