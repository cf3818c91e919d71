// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC} from "../mocks/MockUSDC.sol";
import {Test} from "./Test.sol";

/// @title Authorizations
/// @notice Signs EIP-3009 authorizations against a MockUSDC for tests.
abstract contract Authorizations is Test {
    struct Authorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    function digestOf(MockUSDC token, bytes32 typeHash, Authorization memory auth) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(typeHash, auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce)
        );
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    function signTransfer(MockUSDC token, uint256 key, Authorization memory auth) internal view returns (bytes memory) {
        return _sign(key, digestOf(token, token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), auth));
    }

    function signReceive(MockUSDC token, uint256 key, Authorization memory auth) internal view returns (bytes memory) {
        return _sign(key, digestOf(token, token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), auth));
    }

    function signCancel(MockUSDC token, uint256 key, address authorizer, bytes32 nonce)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), authorizer, nonce));
        return _sign(key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function _sign(uint256 key, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
