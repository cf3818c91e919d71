// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockSignatureChecker} from "./MockSignatureChecker.sol";
import {MockUSDC} from "./MockUSDC.sol";

/// @title MockUSDCProxy
/// @notice The address MockUSDC lives at: an admin upgradeability proxy shaped like FiatToken v2.2's
///         (`FiatTokenProxy`), so every token call pays what it pays on USDC: the admin-slot read that keeps the
///         admin out of the token, the implementation-slot read, and the DELEGATECALL to the implementation.
///         Use it as `MockUSDC(address(new MockUSDCProxy(name)))`.
/// @dev One transaction does what USDC's deployment does in several (deploy the signature library, the
///      implementation and the proxy, then initialize through the proxy), so a dev chain's token is its deployer's
///      first CREATE address. Storage: the implementation and the admin sit at hashed slots of their own, away from
///      the token's slots. The admin is a keyless address: nobody upgrades a test token in practice, but the admin
///      path exists (tests reach it with a prank) and every call pays its check.
contract MockUSDCProxy {
    /// @notice The proxy admin at deployment: `keccak256("clearing.MockUSDCProxy.admin")` as an address, whose key
    ///         nobody holds.
    address public constant INITIAL_ADMIN = address(uint160(uint256(keccak256("clearing.MockUSDCProxy.admin"))));

    /// @dev keccak256("clearing.MockUSDCProxy.implementation") - 1.
    bytes32 private constant _IMPLEMENTATION_SLOT =
        bytes32(uint256(keccak256("clearing.MockUSDCProxy.implementation")) - 1);
    /// @dev keccak256("clearing.MockUSDCProxy.admin") - 1.
    bytes32 private constant _ADMIN_SLOT = bytes32(uint256(keccak256("clearing.MockUSDCProxy.admin")) - 1);

    /// @notice The proxy admin changed.
    event AdminChanged(address previousAdmin, address newAdmin);
    /// @notice The proxy now delegates to `implementation`.
    event Upgraded(address implementation);

    /// @dev Runs the function for the admin; everyone else reaches the implementation, as if the function did not
    ///      exist on the proxy.
    modifier ifAdmin() {
        if (msg.sender == _admin()) {
            _;
        } else {
            _fallback();
        }
    }

    /// @notice Deploys the signature checker and the implementation, points the proxy at it and initializes the
    ///         token: domain name `name_`, owner the deployer, the token's own address blacklisted.
    /// @param name_ The EIP-712 domain name: "USDC" (Base Sepolia) or "USD Coin" (Base).
    constructor(string memory name_) {
        address implementation_ = address(new MockUSDC(address(new MockSignatureChecker())));
        _setImplementation(implementation_);
        _setAdmin(INITIAL_ADMIN);
        (bool ok, bytes memory err) =
            implementation_.delegatecall(abi.encodeCall(MockUSDC.initialize, (name_, msg.sender)));
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(err, 0x20), mload(err))
            }
        }
    }

    /// @notice Every call the proxy does not answer itself runs the implementation's code on the proxy's storage.
    /// @dev Reverts for the admin, who must not reach the token through its own proxy.
    fallback() external payable {
        _fallback();
    }

    /// @notice Calls without data go to the implementation too (which refuses them: the token takes no ether).
    receive() external payable {
        _fallback();
    }

    /// @notice The proxy admin.
    function admin() external view returns (address) {
        return _admin();
    }

    /// @notice The implementation the proxy delegates to.
    function implementation() external view returns (address) {
        return _implementation();
    }

    /// @notice Hands the proxy administration to `newAdmin` (admin only).
    /// @dev Emits `AdminChanged`.
    function changeAdmin(address newAdmin) external ifAdmin {
        require(newAdmin != address(0), "Cannot change the admin of a proxy to the zero address");
        emit AdminChanged(_admin(), newAdmin);
        _setAdmin(newAdmin);
    }

    /// @notice Points the proxy at `newImplementation` (admin only); the token's storage stays.
    /// @dev Emits `Upgraded`.
    function upgradeTo(address newImplementation) external ifAdmin {
        _setImplementation(newImplementation);
        emit Upgraded(newImplementation);
    }

    function _fallback() internal {
        require(msg.sender != _admin(), "Cannot call fallback function from the proxy admin");
        address target = _implementation();
        assembly {
            // Takes over memory from 0: control never returns to Solidity.
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }

    function _admin() internal view returns (address account) {
        bytes32 slot = _ADMIN_SLOT;
        assembly {
            account := sload(slot)
        }
    }

    function _implementation() internal view returns (address target) {
        bytes32 slot = _IMPLEMENTATION_SLOT;
        assembly {
            target := sload(slot)
        }
    }

    function _setAdmin(address newAdmin) internal {
        bytes32 slot = _ADMIN_SLOT;
        assembly {
            sstore(slot, newAdmin)
        }
    }

    function _setImplementation(address newImplementation) internal {
        require(newImplementation.code.length > 0, "Cannot set a proxy implementation to a non-contract address");
        bytes32 slot = _IMPLEMENTATION_SLOT;
        assembly {
            sstore(slot, newImplementation)
        }
    }
}
