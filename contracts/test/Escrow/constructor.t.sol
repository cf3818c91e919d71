// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_Constructor_Test is EscrowBase {
    function test_RevertWhen_FeeRecipientIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.FeeRecipient));
        new Escrow(address(0), MAX_FEE_BPS, operator);
    }

    function test_RevertWhen_MaxFeeBpsAbove10000() public {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_MaxFeeBpsTooHigh.selector, 10_001));
        new Escrow(feeRecipient, 10_001, operator);
    }

    function test_When_ParametersValid() public view {
        assertEq(escrow.feeRecipient(), feeRecipient, "fee recipient");
        assertEq(uint256(escrow.maxFeeBps()), MAX_FEE_BPS, "max fee bps");
        assertEq(escrow.operator(), operator, "operator");
    }

    function test_When_MaxFeeBpsIs10000() public {
        Escrow full = new Escrow(feeRecipient, 10_000, operator);
        assertEq(uint256(full.maxFeeBps()), 10_000, "max fee bps");
    }

    function test_When_OperatorIsZero() public {
        Escrow noOperator = new Escrow(feeRecipient, MAX_FEE_BPS, address(0));
        assertEq(noOperator.operator(), address(0), "operator disabled");
    }

    function testFuzz_Constructor(address feeRecipient_, uint16 maxFeeBps_, address operator_) public {
        if (feeRecipient_ == address(0)) {
            vm.expectRevert(
                abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.FeeRecipient)
            );
            new Escrow(feeRecipient_, maxFeeBps_, operator_);
        } else if (maxFeeBps_ > 10_000) {
            vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_MaxFeeBpsTooHigh.selector, maxFeeBps_));
            new Escrow(feeRecipient_, maxFeeBps_, operator_);
        } else {
            Escrow deployed = new Escrow(feeRecipient_, maxFeeBps_, operator_);
            assertEq(deployed.feeRecipient(), feeRecipient_, "fee recipient");
            assertEq(uint256(deployed.maxFeeBps()), maxFeeBps_, "max fee bps");
            assertEq(deployed.operator(), operator_, "operator");
        }
    }
}
