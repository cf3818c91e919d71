// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Deploy} from "../../../script/Deploy.s.sol";
import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {Escrow} from "../../src/Escrow.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {Test} from "../utils/Test.sol";

contract DeployTest is Test {
    Deploy internal script;

    function setUp() public {
        script = new Deploy();
    }

    function test_When_Deployed_EveryContractHasCodeAndItsRoles() public {
        address feeRecipient = makeAddr("feeRecipient");
        address operator = makeAddr("operator");
        address admin = makeAddr("admin");
        address anchorer = makeAddr("anchorer");

        Deploy.Deployment memory d = script.deploy(feeRecipient, 500, operator, admin, anchorer, "");

        assertEq(d.usdc, address(0), "no MockUSDC unless asked");
        assertTrue(d.batchSettler.code.length > 0, "BatchSettler has code");
        assertTrue(d.escrow.code.length > 0, "Escrow has code");
        assertTrue(d.anchorRegistry.code.length > 0, "AnchorRegistry has code");
        assertEq(Escrow(d.escrow).feeRecipient(), feeRecipient, "fee recipient");
        assertEq(uint256(Escrow(d.escrow).maxFeeBps()), 500, "fee cap");
        assertEq(Escrow(d.escrow).operator(), operator, "operator");
        assertEq(AnchorRegistry(d.anchorRegistry).admin(), admin, "anchor admin");
        assertEq(AnchorRegistry(d.anchorRegistry).anchorer(), anchorer, "anchorer");
    }

    function test_When_MockUsdcNameGiven_DeploysTheTestToken() public {
        Deploy.Deployment memory d = script.deploy(address(1), 500, address(2), address(3), address(4), "USD Coin");
        assertEq(MockUSDC(d.usdc).name(), "USD Coin", "domain name");
        assertEq(uint256(MockUSDC(d.usdc).decimals()), 6, "decimals");
    }

    function test_When_Run_DeploysWithTheBroadcasterInEveryRole() public {
        Deploy.Deployment memory d = script.run();
        assertTrue(d.escrow.code.length > 0, "Escrow has code");
        assertTrue(AnchorRegistry(d.anchorRegistry).anchorer() != address(0), "anchorer set");
    }
}
