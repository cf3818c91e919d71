// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";
import {Vm} from "../utils/Vm.sol";

/// @title MockUSDC_Base
/// @notice Shared setup for the MockUSDC rule tests. Each rule of docs/PROTOCOL.md "USDC and EIP-3009" has named tests:
///         - typehashes: eip712.t.sol `test_When_{Transfer,Receive,Cancel}Typehash_EqualsFactsValueAndTypeString`;
///         - domain `{name, "2", chainId, verifyingContract}`, configurable name, 6 decimals: eip712.t.sol, and the
///           third-party viem vectors in vectors.t.sol (chain 31337 at anvil's first CREATE, Base, Base Sepolia);
///         - strict window `validAfter < now < validBefore`: transferWithAuthorization.t.sol and
///           receiveWithAuthorization.t.sol `test_RevertWhen_NowEqualsValid{After,Before}`, `testFuzz_ValidityWindow`;
///         - check order window, nonce, signature: `test_When_WindowCheckedBeforeNonce`,
///           `test_When_NonceCheckedBeforeSignature`;
///         - one nonce map for transfer, receive and cancel: authorizationState.t.sol;
///         - `AuthorizationUsed` before `Transfer`: `test_When_Succeeds_EmitsAuthorizationUsedBeforeTransfer`;
///         - payee rule and its precedence: receiveWithAuthorization.t.sol `test_RevertWhen_CallerIsNotPayee*`;
///         - anyone may submit `transferWithAuthorization`: `test_When_SubmittedByAnyRelayer_OutcomeIsTheSame`;
///         - ERC-1271 only for signers with code, EIP-7702 included; low-s, v in {27,28}, length 65; both overloads:
///           signature.t.sol;
///         - pause on every transfer path: pause.t.sol; blacklist on `from` and `to`: blacklist.t.sol.
abstract contract MockUSDC_Base is Authorizations {
    /// @dev The six EIP-3009 entry points: three operations, each with a `bytes` and a (v,r,s) overload.
    enum Op {
        TransferBytes,
        TransferVRS,
        ReceiveBytes,
        ReceiveVRS,
        CancelBytes,
        CancelVRS
    }

    uint256 internal constant NOW = 1_750_000_000;
    uint256 internal constant START_BALANCE = 1000e6;
    uint256 internal constant AMOUNT = 100e6;
    bytes32 internal constant NONCE = keccak256("nonce");
    /// @dev secp256k1 group order.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    string internal constant NOT_YET_VALID = "FiatTokenV2: authorization is not yet valid";
    string internal constant EXPIRED = "FiatTokenV2: authorization is expired";
    string internal constant USED_OR_CANCELED = "FiatTokenV2: authorization is used or canceled";
    string internal constant INVALID_SIGNATURE = "FiatTokenV2: invalid signature";
    string internal constant NOT_PAYEE = "FiatTokenV2: caller must be the payee";
    string internal constant BAD_S = "ECRecover: invalid signature 's' value";
    string internal constant BAD_V = "ECRecover: invalid signature 'v' value";
    string internal constant BAD_LENGTH = "ECRecover: invalid signature length";
    string internal constant ECRECOVER_ZERO = "ECRecover: invalid signature";
    string internal constant PAUSED = "Pausable: paused";
    string internal constant BLACKLISTED = "Blacklistable: account is blacklisted";
    string internal constant NOT_OWNER = "Ownable: caller is not the owner";
    string internal constant EXCEEDS_BALANCE = "ERC20: transfer amount exceeds balance";
    string internal constant EXCEEDS_ALLOWANCE = "ERC20: transfer amount exceeds allowance";

    MockUSDC internal token;
    address internal alice;
    uint256 internal aliceKey;
    address internal bob;
    uint256 internal bobKey;
    address internal relayer;

    function setUp() public virtual {
        token = MockUSDC(address(new MockUSDCProxy("USDC")));
        (alice, aliceKey) = makeKey("alice");
        (bob, bobKey) = makeKey("bob");
        relayer = makeAddr("relayer");
        token.mint(alice, START_BALANCE);
        vm.warp(NOW);
    }

    // ------------------------------------------------------------------ authorizations

    /// @dev alice pays bob AMOUNT, valid in (NOW - 1, NOW + 1 hour).
    function _auth(bytes32 nonce) internal view returns (Authorization memory) {
        return Authorization(alice, bob, AMOUNT, NOW - 1, NOW + 1 hours, nonce);
    }

    function _isReceive(Op op) internal pure returns (bool) {
        return op == Op.ReceiveBytes || op == Op.ReceiveVRS;
    }

    function _isCancel(Op op) internal pure returns (bool) {
        return op == Op.CancelBytes || op == Op.CancelVRS;
    }

    function _isVRS(Op op) internal pure returns (bool) {
        return op == Op.TransferVRS || op == Op.ReceiveVRS || op == Op.CancelVRS;
    }

    /// @dev The EIP-712 digest `op` signs for `auth` (cancel signs `(auth.from, auth.nonce)`).
    function _digest(Op op, Authorization memory auth) internal view returns (bytes32) {
        if (_isCancel(op)) {
            bytes32 structHash = keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), auth.from, auth.nonce));
            return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        }
        bytes32 typeHash =
            _isReceive(op) ? token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH() : token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH();
        return digestOf(token, typeHash, auth);
    }

    /// @dev `key`'s 65-byte signature (r ‖ s ‖ v) of what `op` needs for `auth`.
    function _sign(Op op, uint256 key, Authorization memory auth) internal view returns (bytes memory) {
        return _signDigest(key, _digest(op, auth));
    }

    function _signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Splits a 65-byte r ‖ s ‖ v signature.
    function _split(bytes memory signature) internal pure returns (uint8 v, bytes32 r, bytes32 s) {
        require(signature.length == 65, "split: length");
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
    }

    /// @dev Submits `auth` with `signature` through entry point `op`: transfers from `relayer`, receives from the
    ///      payee `auth.to`, cancels from `relayer`.
    function _submit(Op op, Authorization memory auth, bytes memory signature) internal {
        _submitAs(op, _isReceive(op) ? auth.to : relayer, auth, signature);
    }

    /// @dev Like `_submit`, from `caller`.
    function _submitAs(Op op, address caller, Authorization memory auth, bytes memory signature) internal {
        vm.prank(caller);
        if (op == Op.TransferBytes) {
            token.transferWithAuthorization(
                auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature
            );
        } else if (op == Op.ReceiveBytes) {
            token.receiveWithAuthorization(
                auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature
            );
        } else if (op == Op.CancelBytes) {
            token.cancelAuthorization(auth.from, auth.nonce, signature);
        } else {
            (uint8 v, bytes32 r, bytes32 s) = _split(signature);
            if (op == Op.TransferVRS) {
                token.transferWithAuthorization(
                    auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, v, r, s
                );
            } else if (op == Op.ReceiveVRS) {
                token.receiveWithAuthorization(
                    auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, v, r, s
                );
            } else {
                token.cancelAuthorization(auth.from, auth.nonce, v, r, s);
            }
        }
    }

    /// @dev Signs `auth` with `key` for `op` and submits it.
    function _signAndSubmit(Op op, uint256 key, Authorization memory auth) internal {
        _submit(op, auth, _sign(op, key, auth));
    }

    /// @dev Expects `op` to revert with the FiatToken reason string `reason`.
    function _expectSubmitReverts(Op op, Authorization memory auth, bytes memory signature, string memory reason)
        internal
    {
        vm.expectRevert(bytes(reason));
        _submit(op, auth, signature);
    }

    /// @dev The six entry points, for loops that check a rule on every one.
    function _allOps() internal pure returns (Op[6] memory ops) {
        ops = [Op.TransferBytes, Op.TransferVRS, Op.ReceiveBytes, Op.ReceiveVRS, Op.CancelBytes, Op.CancelVRS];
    }

    /// @dev Asserts the effect of a successful `op` on `auth`: funds moved (transfer and receive) and nonce consumed.
    function _assertApplied(Op op, Authorization memory auth, uint256 fromBefore, uint256 toBefore) internal view {
        assertTrue(token.authorizationState(auth.from, auth.nonce), "nonce consumed");
        uint256 moved = _isCancel(op) ? 0 : auth.value;
        assertEq(token.balanceOf(auth.from), fromBefore - moved, "payer debited");
        assertEq(token.balanceOf(auth.to), toBefore + moved, "payee credited");
    }

    /// @dev Asserts `logs` are exactly AuthorizationUsed(from, nonce) then Transfer(from, to, value), in that order.
    function _assertAuthorizationUsedThenTransfer(Vm.Log[] memory logs, Authorization memory auth) internal view {
        assertEq(logs.length, 2, "two events");
        assertEq(logs[0].emitter, address(token), "emitter");
        assertEq(logs[0].topics[0], keccak256("AuthorizationUsed(address,bytes32)"), "AuthorizationUsed first");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(auth.from))), "authorizer");
        assertEq(logs[0].topics[2], auth.nonce, "nonce");
        assertEq(logs[1].emitter, address(token), "emitter");
        assertEq(logs[1].topics[0], keccak256("Transfer(address,address,uint256)"), "Transfer second");
        assertEq(logs[1].topics[1], bytes32(uint256(uint160(auth.from))), "from");
        assertEq(logs[1].topics[2], bytes32(uint256(uint160(auth.to))), "to");
        assertEq(abi.decode(logs[1].data, (uint256)), auth.value, "value");
    }
}
