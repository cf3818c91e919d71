// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "../../src/interfaces/IERC1271.sol";

/// @title GasBurningWallet
/// @notice A hostile contract wallet for tests: it accepts every signature, cheaply when the transaction pays no gas
///         price (a simulation: `eth_call`, `eth_createAccessList`) and, in a real transaction, only after burning
///         all but `KEPT_GAS` of the gas it is given. A batch's gas limit sized from a simulation then falls short on
///         chain once several such payers ride in it.
contract GasBurningWallet is IERC1271 {
    /// @dev ERC-1271 magic value: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
    bytes4 internal constant _MAGIC_VALUE = 0x1626ba7e;

    /// @notice Gas left unburnt to return the answer.
    uint256 public constant KEPT_GAS = 2000;

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32, bytes memory) external view returns (bytes4 magicValue) {
        if (tx.gasprice > 0) {
            while (gasleft() > KEPT_GAS) {}
        }
        return _MAGIC_VALUE;
    }
}
