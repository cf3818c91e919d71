// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry} from "../contracts/src/AnchorRegistry.sol";
import {BatchSettler} from "../contracts/src/BatchSettler.sol";
import {Escrow} from "../contracts/src/Escrow.sol";
import {MockUSDCProxy} from "../contracts/test/mocks/MockUSDCProxy.sol";
import {Vm} from "../contracts/test/utils/Vm.sol";
import {console} from "../contracts/test/utils/console.sol";

/// @title Deploy
/// @notice Deploys the Clearing suite: BatchSettler, Escrow and AnchorRegistry, and a MockUSDC (behind its proxy) on dev
///         chains.
/// @dev `forge script script/Deploy.s.sol --rpc-url $RPC --broadcast --private-key $KEY`. Roles come from the
///      environment and default to the broadcaster: FEE_RECIPIENT, MAX_FEE_BPS (default 500), OPERATOR,
///      ANCHOR_ADMIN, ANCHORER; DEPLOY_MOCK_USDC=1 also deploys a MockUSDC named MOCK_USDC_NAME (default "USDC").
///      The Rust `clearing deploy` and `clearing dev` do the same through `clearing-chain`.
contract Deploy {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// @dev The escrow's default fee cap: the marketplace's 5%.
    uint256 internal constant DEFAULT_MAX_FEE_BPS = 500;

    struct Deployment {
        address usdc;
        address batchSettler;
        address escrow;
        address anchorRegistry;
    }

    /// @notice Deploys the suite with roles from the environment.
    function run() external returns (Deployment memory deployment) {
        vm.startBroadcast();
        (, address broadcaster,) = _callers();
        deployment = deploy(
            vm.envOr("FEE_RECIPIENT", broadcaster),
            uint16(vm.envOr("MAX_FEE_BPS", DEFAULT_MAX_FEE_BPS)),
            vm.envOr("OPERATOR", broadcaster),
            vm.envOr("ANCHOR_ADMIN", broadcaster),
            vm.envOr("ANCHORER", broadcaster),
            vm.envOr("DEPLOY_MOCK_USDC", uint256(0)) == 1 ? vm.envOr("MOCK_USDC_NAME", string("USDC")) : ""
        );
        vm.stopBroadcast();
        console.log(string.concat("BatchSettler   ", vm.toString(deployment.batchSettler)));
        console.log(string.concat("Escrow         ", vm.toString(deployment.escrow)));
        console.log(string.concat("AnchorRegistry ", vm.toString(deployment.anchorRegistry)));
        if (deployment.usdc != address(0)) console.log(string.concat("MockUSDC       ", vm.toString(deployment.usdc)));
    }

    /// @notice Deploys the suite with explicit roles; a non-empty `mockUsdcName` also deploys a MockUSDC.
    function deploy(
        address feeRecipient,
        uint16 maxFeeBps,
        address operator,
        address anchorAdmin,
        address anchorer,
        string memory mockUsdcName
    ) public returns (Deployment memory deployment) {
        if (bytes(mockUsdcName).length > 0) {
            deployment.usdc = address(new MockUSDCProxy(mockUsdcName));
        }
        deployment.batchSettler = address(new BatchSettler());
        deployment.escrow = address(new Escrow(feeRecipient, maxFeeBps, operator));
        deployment.anchorRegistry = address(new AnchorRegistry(anchorAdmin, anchorer));
    }

    function _callers() private returns (uint256 mode, address msgSender, address txOrigin) {
        (bool ok, bytes memory data) = address(vm).call(abi.encodeWithSignature("readCallers()"));
        require(ok, "readCallers failed");
        (mode, msgSender, txOrigin) = abi.decode(data, (uint256, address, address));
    }
}
