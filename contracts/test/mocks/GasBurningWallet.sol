// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "../../src/interfaces/IERC1271.sol";

/// @title GasBurningWallet
/// @notice A contract wallet for tests that accepts every signature and spends gas doing so, in one of two ways.
///         With `HEAVY_GAS` 0 it is hostile: cheap when the transaction pays no gas price (a simulation: `eth_call`,
///         `eth_createAccessList`) and, in a real transaction, only after burning all but `KEPT_GAS` of the gas it is
///         given, so a batch's gas limit sized from a simulation falls short on chain once several such payers ride
///         in it. Otherwise it is honest but expensive (as a passkey wallet verifying P-256 in Solidity is): it
///         spends `HEAVY_GAS` in every call, simulated or not, so a batch of many needs more gas than one
///         transaction may ask for.
contract GasBurningWallet is IERC1271 {
    /// @dev ERC-1271 magic value: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
    bytes4 internal constant _MAGIC_VALUE = 0x1626ba7e;

    /// @notice Gas left unburnt to return the answer.
    uint256 public constant KEPT_GAS = 2000;

    /// @notice Gas spent in every call; 0 for the hostile wallet.
    uint256 public immutable HEAVY_GAS;

    /// @param heavyGas See `HEAVY_GAS`.
    constructor(uint256 heavyGas) {
        HEAVY_GAS = heavyGas;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32, bytes memory) external view returns (bytes4 magicValue) {
        if (HEAVY_GAS > 0) {
            uint256 until = gasleft() - HEAVY_GAS;
            while (gasleft() > until) {}
        } else if (tx.gasprice > 0) {
            while (gasleft() > KEPT_GAS) {}
        }
        return _MAGIC_VALUE;
    }
}
