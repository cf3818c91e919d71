// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "../../src/interfaces/IERC1271.sol";

/// @title MockSignatureChecker
/// @notice MockUSDC's signature check, deployed on its own and reached by DELEGATECALL, as FiatToken v2.2 reaches
///         its `SignatureChecker` library (an external library function, so a DELEGATECALL from the implementation,
///         which itself runs behind the proxy's DELEGATECALL). Keeping the check out of line is what makes gas
///         measured on MockUSDC track the real token: the call, its argument copy and its cold account cost about
///         3,000 gas per token call that an inline check would not pay.
/// @dev Stateless: it reads no storage, so running it in the caller's context (DELEGATECALL) or its own (CALL) gives
///      the same answer. Rules, with FiatToken's revert strings (`ECRecover` is inlined into the library in v2.2):
///      signers with code, EIP-7702 delegated EOAs included, are asked through ERC-1271 only; others must give a
///      65-byte ECDSA signature with a low s and v in {27, 28} that recovers to them.
contract MockSignatureChecker {
    /// @dev secp256k1n / 2: signatures with a larger s are malleable and refused (EIP-2).
    uint256 private constant _MAX_LOW_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Whether `signature` is `signer`'s signature of `digest` now.
    /// @dev Reverts with an `ECRecover: ...` reason for a malformed ECDSA signature of a signer without code (as
    ///      FiatToken does); answers false for a well-formed signature of someone else or a refusing wallet.
    /// @param signer The claimed signer.
    /// @param digest The EIP-712 digest that was signed.
    /// @param signature 65 bytes r || s || v for a signer without code; anything its wallet accepts otherwise.
    function isValidSignatureNow(address signer, bytes32 digest, bytes memory signature) external view returns (bool) {
        if (signer.code.length == 0) return _recover(digest, signature) == signer;
        (bool ok, bytes memory result) =
            signer.staticcall(abi.encodeWithSelector(IERC1271.isValidSignature.selector, digest, signature));
        return ok && result.length >= 32 && abi.decode(result, (bytes32)) == bytes32(IERC1271.isValidSignature.selector);
    }

    /// @dev FiatToken's ECRecover.recover, with its revert strings.
    function _recover(bytes32 digest, bytes memory signature) private pure returns (address signer) {
        require(signature.length == 65, "ECRecover: invalid signature length");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        require(uint256(s) <= _MAX_LOW_S, "ECRecover: invalid signature 's' value");
        require(v == 27 || v == 28, "ECRecover: invalid signature 'v' value");
        signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "ECRecover: invalid signature");
    }
}
