// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title CodeReader
/// @notice Says which of a list of accounts have code, in one `eth_call` and without being deployed: the relayer
///         sends the creation code plus `abi.encode(accounts)` as an `eth_call` with no `to`, and the constructor
///         returns one byte per account, in order (`0x01`: the account has code, an EIP-7702 delegation included;
///         `0x00`: none), as the call's result.
/// @dev Never deploy it: a deployment would store the answer as code. The relayer sizes a batch's gas limit with
///      it: a signer with code is asked `isValidSignature` (ERC-1271) by the token or the escrow, and a wallet can
///      spend far more gas there on chain than in the simulation the limit comes from, up to the item's stipend.
///      The accounts are creation-code input, 32 bytes each, so EIP-3860's 49,152-byte limit bounds a call to about
///      1,500 of them (the relayer asks at most 1,024 at once). The answer is returned as code: every byte is 0 or
///      1, so it never starts with the 0xEF byte EIP-3541 refuses.
contract CodeReader {
    /// @param accounts The accounts to look at.
    constructor(address[] memory accounts) {
        bytes memory flags = new bytes(accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            if (accounts[i].code.length > 0) flags[i] = 0x01;
        }
        assembly ("memory-safe") {
            return(add(flags, 0x20), mload(flags))
        }
    }
}
