// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IERC3009
/// @notice EIP-3009 as implemented by Circle's FiatToken v2.2 (USDC): the `bytes signature` overloads, which
///         accept 65-byte ECDSA signatures from EOAs and ERC-1271 signatures from contract wallets.
interface IERC3009 {
    /// @notice Moves `value` from `from` to `to` with `from`'s signed authorization; anyone may submit it.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    /// @notice Like `transferWithAuthorization`, but only the payee (`to == msg.sender`) may submit it.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    /// @notice Whether `nonce` of `authorizer` is used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
}
