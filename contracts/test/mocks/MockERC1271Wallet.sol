// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "../../src/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title MockERC1271Wallet
/// @notice A contract wallet for tests that answers ERC-1271 `isValidSignature` in one of four modes, so tests can
///         show that a token consults the wallet and nothing else:
///         - `Approvals` (the default, storage zero): only digests the controller approved beforehand are valid,
///           whatever the signature bytes; an ECDSA signature of the controller alone is refused;
///         - `OwnerSignature`: a 65-byte ECDSA signature of the controller is valid;
///         - `WrongMagic`: answers a value other than the ERC-1271 magic value;
///         - `Reverting`: reverts.
/// @dev Works deployed (controller = `owner`) and as an EIP-7702 delegate (deploy with `owner == address(0)`: the
///      controller is then the delegating EOA itself, `address(this)`, and the mode and approvals live in its storage).
contract MockERC1271Wallet is IERC1271 {
    /// @notice How `isValidSignature` answers.
    enum Mode {
        Approvals,
        OwnerSignature,
        WrongMagic,
        Reverting
    }

    /// @dev ERC-1271 magic value: `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`.
    bytes4 internal constant _MAGIC_VALUE = 0x1626ba7e;
    /// @dev What the wallet answers for an invalid signature.
    bytes4 internal constant _INVALID = 0xffffffff;

    /// @notice The controller's EOA, or zero when the controller is the account itself (EIP-7702 delegate).
    address public immutable owner;

    /// @notice The current answering mode.
    Mode public mode;
    /// @notice Digests approved by the controller (valid in `Approvals` mode).
    mapping(bytes32 digest => bool) public approved;

    /// @notice Raised when someone other than the controller configures the wallet.
    error MockERC1271Wallet_NotController(address caller);
    /// @notice Raised by `isValidSignature` in `Reverting` mode.
    error MockERC1271Wallet_Reverting();

    modifier onlyController() {
        if (msg.sender != controller()) revert MockERC1271Wallet_NotController(msg.sender);
        _;
    }

    /// @param owner_ The controller's EOA; zero for an EIP-7702 implementation (the controller is the account).
    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Sets the answering mode.
    /// @dev Only the controller.
    /// @param newMode The mode `isValidSignature` uses from now on.
    function setMode(Mode newMode) external onlyController {
        mode = newMode;
    }

    /// @notice Approves `digest`: in `Approvals` mode any signature bytes over it are valid.
    /// @dev Only the controller.
    /// @param digest The EIP-712 digest to approve.
    function approve(bytes32 digest) external onlyController {
        approved[digest] = true;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4 magicValue) {
        Mode current = mode;
        if (current == Mode.Reverting) revert MockERC1271Wallet_Reverting();
        if (current == Mode.WrongMagic) return _INVALID;
        if (current == Mode.OwnerSignature) {
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
            return err == ECDSA.RecoverError.NoError && recovered == controller() ? _MAGIC_VALUE : _INVALID;
        }
        return approved[hash] ? _MAGIC_VALUE : _INVALID;
    }

    /// @notice The address allowed to configure the wallet and whose ECDSA signatures count in `OwnerSignature` mode.
    function controller() public view returns (address) {
        return owner == address(0) ? address(this) : owner;
    }
}
