// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {MockUSDC_Base} from "./Base.t.sol";

/// @notice Signature rules of FiatToken v2.2 on all six EIP-3009 entry points: signers without code need a strict
///         65-byte ECDSA signature (low s, v in {27,28}); signers with code, EIP-7702 delegated EOAs included, are
///         asked through ERC-1271 `isValidSignature` only.
contract MockUSDC_Signature_Test is MockUSDC_Base {
    // ------------------------------------------------------------------ EOA: ECRecover rules

    function test_When_ValidEOASignature_EveryEntryPointAccepts() public {
        Op[6] memory ops = _allOps();
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = _auth(_nonce(i));
            uint256 fromBefore = token.balanceOf(alice);
            uint256 toBefore = token.balanceOf(bob);
            _signAndSubmit(ops[i], aliceKey, auth);
            _assertApplied(ops[i], auth, fromBefore, toBefore);
        }
    }

    function test_RevertWhen_SIsHigh_OnEveryEntryPoint() public {
        Op[6] memory ops = _allOps();
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = _auth(_nonce(i));
            bytes32 digest = _digest(ops[i], auth);
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(aliceKey, digest);
            // The malleated twin (r, n - s, flipped v) is a valid secp256k1 signature of the same key...
            bytes32 highS = bytes32(SECP256K1_N - uint256(s));
            uint8 flippedV = v == 27 ? 28 : 27;
            assertEq(ecrecover(digest, flippedV, r, highS), alice, "precompile accepts the twin");
            // ...which FiatToken refuses (EIP-2 low-s rule).
            _expectSubmitReverts(ops[i], auth, abi.encodePacked(r, highS, flippedV), BAD_S);
        }
    }

    function test_RevertWhen_VIsNot27Or28_OnEveryEntryPoint() public {
        Op[6] memory ops = _allOps();
        uint8[4] memory badVs = [0, 1, 29, 255];
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = _auth(_nonce(i));
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(aliceKey, _digest(ops[i], auth));
            for (uint256 j; j < badVs.length; ++j) {
                // v - 27 (the 0/1 "yParity" form) is the common mistake.
                _expectSubmitReverts(ops[i], auth, abi.encodePacked(r, s, badVs[j]), BAD_V);
            }
            _submit(ops[i], auth, abi.encodePacked(r, s, v));
            assertTrue(token.authorizationState(alice, auth.nonce), "the proper v works");
        }
    }

    function test_RevertWhen_LengthIs64_CompactSignatureOnBytesOverloads() public {
        Op[3] memory ops = [Op.TransferBytes, Op.ReceiveBytes, Op.CancelBytes];
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = _auth(_nonce(i));
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(aliceKey, _digest(ops[i], auth));
            // EIP-2098 compact form: yParity folded into the top bit of s.
            bytes32 vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
            _expectSubmitReverts(ops[i], auth, abi.encodePacked(r, vs), BAD_LENGTH);
        }
    }

    function test_RevertWhen_LengthIs66_OnBytesOverloads() public {
        Op[3] memory ops = [Op.TransferBytes, Op.ReceiveBytes, Op.CancelBytes];
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = _auth(_nonce(i));
            bytes memory padded = abi.encodePacked(_sign(ops[i], aliceKey, auth), bytes1(0));
            _expectSubmitReverts(ops[i], auth, padded, BAD_LENGTH);
        }
    }

    function test_RevertWhen_LengthIsZero_OnBytesOverloads() public {
        _expectSubmitReverts(Op.TransferBytes, _auth(NONCE), "", BAD_LENGTH);
        _expectSubmitReverts(Op.ReceiveBytes, _auth(NONCE), "", BAD_LENGTH);
        _expectSubmitReverts(Op.CancelBytes, _auth(NONCE), "", BAD_LENGTH);
    }

    /// @dev Any length other than 65 is refused before recovery.
    function testFuzz_RevertWhen_LengthIsNot65(uint256 length, bytes32 seed) public {
        length = bound(length, 0, 200);
        if (length == 65) length = 66;
        bytes memory signature = new bytes(length);
        for (uint256 i; i < length; ++i) {
            signature[i] = keccak256(abi.encode(seed, i))[0];
        }
        _expectSubmitReverts(Op.TransferBytes, _auth(NONCE), signature, BAD_LENGTH);
    }

    function test_RevertWhen_SignedByAnotherKey_OnEveryEntryPoint() public {
        Op[6] memory ops = _allOps();
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = _auth(_nonce(i));
            _expectSubmitReverts(ops[i], auth, _sign(ops[i], bobKey, auth), INVALID_SIGNATURE);
        }
    }

    function test_RevertWhen_EcrecoverReturnsZero() public {
        // r = 0 is not a curve point: the precompile returns address(0), which FiatToken refuses on its own.
        bytes memory signature = abi.encodePacked(bytes32(0), bytes32(uint256(1)), uint8(27));
        _expectSubmitReverts(Op.TransferBytes, _auth(NONCE), signature, ECRECOVER_ZERO);
        _expectSubmitReverts(Op.TransferVRS, _auth(NONCE), signature, ECRECOVER_ZERO);
    }

    function testFuzz_RevertWhen_SignedByAnyOtherKey(uint256 key) public {
        key = bound(key, 1, SECP256K1_N - 1);
        vm.assume(key != aliceKey);
        Authorization memory auth = _auth(NONCE);
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, key, auth), INVALID_SIGNATURE);
    }

    // ------------------------------------------------------------------ signers with code: ERC-1271 only

    function test_When_ContractSigner_WalletApprovesDigest_EveryEntryPointAccepts() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(bob);
        token.mint(address(wallet), START_BALANCE);
        Op[6] memory ops = _allOps();
        for (uint256 i; i < ops.length; ++i) {
            Authorization memory auth = Authorization(address(wallet), bob, AMOUNT, NOW - 1, NOW + 1, _nonce(i));
            bytes32 digest = _digest(ops[i], auth);
            vm.prank(bob);
            wallet.approve(digest);
            uint256 fromBefore = token.balanceOf(address(wallet));
            uint256 toBefore = token.balanceOf(bob);
            // The (v,r,s) overloads hand the wallet r ‖ s ‖ v; the bytes overloads pass anything through.
            bytes memory signature = _isVRS(ops[i]) ? _sign(ops[i], bobKey, auth) : bytes("opaque wallet proof");
            _submit(ops[i], auth, signature);
            _assertApplied(ops[i], auth, fromBefore, toBefore);
        }
    }

    function test_When_ContractSigner_WalletChecksOwnerSignature_Accepted() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(bob);
        token.mint(address(wallet), START_BALANCE);
        vm.prank(bob);
        wallet.setMode(MockERC1271Wallet.Mode.OwnerSignature);
        Authorization memory auth = Authorization(address(wallet), relayer, AMOUNT, NOW - 1, NOW + 1, NONCE);
        _submit(Op.TransferBytes, auth, signTransfer(token, bobKey, auth));
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_RevertWhen_ContractSigner_WalletRejectsOwnersValidECDSASignature() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(bob); // Approvals mode, nothing approved
        token.mint(address(wallet), START_BALANCE);
        Authorization memory auth = Authorization(address(wallet), relayer, AMOUNT, NOW - 1, NOW + 1, NONCE);
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, bobKey, auth), INVALID_SIGNATURE);
        _expectSubmitReverts(Op.TransferVRS, auth, signTransfer(token, bobKey, auth), INVALID_SIGNATURE);
    }

    function test_RevertWhen_SignerHasCode_ItsOwnECDSASignatureIsNotConsulted() public {
        // Wallet code at alice's address: alice's key still signs validly, but the token only asks the code.
        vm.etch(alice, address(new MockERC1271Wallet(address(0))).code);
        Authorization memory auth = _auth(NONCE);
        bytes32 digest = digestOf(token, token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), auth);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        (uint8 v, bytes32 r, bytes32 s) = _split(signature);
        assertEq(ecrecover(digest, v, r, s), alice, "ecrecover alone would accept it");
        _expectSubmitReverts(Op.TransferBytes, auth, signature, INVALID_SIGNATURE);

        vm.prank(alice);
        MockERC1271Wallet(alice).approve(digest);
        _submit(Op.TransferBytes, auth, "");
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_RevertWhen_WalletReturnsWrongMagicValue() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(bob);
        token.mint(address(wallet), START_BALANCE);
        Authorization memory auth = Authorization(address(wallet), relayer, AMOUNT, NOW - 1, NOW + 1, NONCE);
        bytes32 digest = digestOf(token, token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), auth);
        vm.startPrank(bob);
        wallet.approve(digest);
        wallet.setMode(MockERC1271Wallet.Mode.WrongMagic);
        vm.stopPrank();
        _expectSubmitReverts(Op.TransferBytes, auth, "", INVALID_SIGNATURE);
    }

    function test_RevertWhen_WalletReverts() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(bob);
        token.mint(address(wallet), START_BALANCE);
        vm.prank(bob);
        wallet.setMode(MockERC1271Wallet.Mode.Reverting);
        Authorization memory auth = Authorization(address(wallet), relayer, AMOUNT, NOW - 1, NOW + 1, NONCE);
        _expectSubmitReverts(Op.TransferBytes, auth, "", INVALID_SIGNATURE);
    }

    // ------------------------------------------------------------------ EIP-7702 delegated EOAs: ERC-1271 only

    function test_RevertWhen_7702DelegatedEOA_OwnECDSASignatureRejectedByWallet() public {
        _delegateAliceToWallet();
        Authorization memory auth = _auth(NONCE);
        // alice's key signs validly, but her account has code now: only isValidSignature counts.
        _expectSubmitReverts(Op.TransferBytes, auth, signTransfer(token, aliceKey, auth), INVALID_SIGNATURE);
        _expectSubmitReverts(Op.ReceiveBytes, auth, signReceive(token, aliceKey, auth), INVALID_SIGNATURE);
        _expectSubmitReverts(Op.CancelBytes, auth, signCancel(token, aliceKey, alice, NONCE), INVALID_SIGNATURE);
        assertFalse(token.authorizationState(alice, NONCE), "unused");
    }

    function test_When_7702DelegatedEOA_WalletApproves_Accepted() public {
        _delegateAliceToWallet();
        Authorization memory auth = _auth(NONCE);
        bytes32 digest = digestOf(token, token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), auth);
        vm.prank(alice);
        MockERC1271Wallet(alice).approve(digest);
        _submit(Op.TransferBytes, auth, "approved by the account");
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_When_7702DelegatedEOA_WalletChecksOwnSignature_AcceptedThroughERC1271() public {
        _delegateAliceToWallet();
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        // The same signature fails while the wallet answers a wrong magic value...
        vm.prank(alice);
        MockERC1271Wallet(alice).setMode(MockERC1271Wallet.Mode.WrongMagic);
        _expectSubmitReverts(Op.TransferBytes, auth, signature, INVALID_SIGNATURE);
        // ...and passes once the wallet checks the key's signature itself.
        vm.prank(alice);
        MockERC1271Wallet(alice).setMode(MockERC1271Wallet.Mode.OwnerSignature);
        _submit(Op.TransferBytes, auth, signature);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    // ------------------------------------------------------------------ helpers

    function _nonce(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("signature", i));
    }

    /// @dev Delegates alice's EOA to a MockERC1271Wallet implementation (default mode: approvals only).
    function _delegateAliceToWallet() internal {
        MockERC1271Wallet implementation = new MockERC1271Wallet(address(0));
        vm.attachDelegation(vm.signDelegation(address(implementation), aliceKey));
        vm.assertEq(alice.code, abi.encodePacked(hex"ef0100", address(implementation)), "EIP-7702 designator");
    }
}
