// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {IERC1271} from "../../src/interfaces/IERC1271.sol";

/// @title BatchSettlerWallet
/// @notice A minimal ERC-1271 wallet for BatchSettler tests: accepts a 65-byte ECDSA signature by `owner` over the
///         digest, optionally followed by padding (smart-wallet signatures are often longer than 65 bytes).
contract BatchSettlerWallet is IERC1271 {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4) {
        if (signature.length < 65) return 0xffffffff;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        return ecrecover(hash, v, r, s) == owner ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}

/// @title BatchSettlerHostileToken
/// @notice A token-shaped contract whose `transferWithAuthorization` misbehaves per nonce, to test that one bad item
///         never harms the batch. Items whose nonce has no mode set succeed without moving anything.
contract BatchSettlerHostileToken {
    enum Mode {
        Succeed,
        RevertEmpty,
        RevertCustom,
        RevertBomb,
        BurnAllGas,
        Reenter,
        RecordGas
    }

    /// @notice The custom error thrown in `RevertCustom` mode.
    error HostileToken_Refused(address from, bytes32 nonce, uint256 value);

    /// @notice Bytes of revert data in `RevertBomb` mode.
    uint256 public constant BOMB_SIZE = 64 * 1024;

    mapping(bytes32 nonce => Mode) public modeOf;

    /// @notice `gasleft()` at entry of the last `RecordGas` item.
    uint256 public recordedGas;

    /// @notice Sets how the item carrying `nonce` behaves.
    function setMode(bytes32 nonce, Mode mode) external {
        modeOf[nonce] = mode;
    }

    /// @notice The EIP-3009 entry point BatchSettler calls.
    function transferWithAuthorization(
        address from,
        address,
        uint256 value,
        uint256,
        uint256,
        bytes32 nonce,
        bytes calldata
    ) external {
        uint256 entryGas = gasleft();
        Mode mode = modeOf[nonce];
        if (mode == Mode.Succeed) return;
        if (mode == Mode.RevertEmpty) revert();
        if (mode == Mode.RevertCustom) revert HostileToken_Refused(from, nonce, value);
        if (mode == Mode.RevertBomb) {
            assembly ("memory-safe") {
                let size := BOMB_SIZE
                // Fill with a recognisable pattern so the cut reason can be checked.
                for { let i := 0 } lt(i, size) { i := add(i, 0x20) } { mstore(i, add(0xb0b0, i)) }
                revert(0, size)
            }
        }
        if (mode == Mode.BurnAllGas) {
            assembly ("memory-safe") {
                for {} 1 {} {}
            }
        }
        if (mode == Mode.Reenter) {
            BatchSettler.Payment[] memory one = new BatchSettler.Payment[](1);
            (bool ok, bytes memory data) = msg.sender.call(abi.encodeCall(BatchSettler.settle, (address(this), one)));
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(data, 0x20), mload(data))
                }
            }
            return;
        }
        // RecordGas
        recordedGas = entryGas;
    }

    /// @notice The pattern word at byte `offset` of the bomb's revert data.
    function bombWord(uint256 offset) external pure returns (bytes32) {
        return bytes32(0xb0b0 + offset);
    }
}
