// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_Constructor_Test is VaultBase {
    function test_RevertWhen_FeeRecipientIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.FeeRecipient)
        );
        new BalanceVault(address(0), MAX_FEE_BPS, operator, DELAY);
    }

    function test_RevertWhen_MaxFeeBpsAbove10000() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_MaxFeeBpsTooHigh.selector, 10_001));
        new BalanceVault(feeRecipient, 10_001, operator, DELAY);
    }

    function test_RevertWhen_WithdrawalDelayIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidWithdrawalDelay.selector, 0, 30 days));
        new BalanceVault(feeRecipient, MAX_FEE_BPS, operator, 0);
    }

    function test_RevertWhen_WithdrawalDelayAboveMax() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_InvalidWithdrawalDelay.selector, 30 days + 1, 30 days)
        );
        new BalanceVault(feeRecipient, MAX_FEE_BPS, operator, 30 days + 1);
    }

    function test_When_ParametersValid() public view {
        assertEq(vault.feeRecipient(), feeRecipient, "fee recipient");
        assertEq(uint256(vault.maxFeeBps()), MAX_FEE_BPS, "max fee bps");
        assertEq(vault.operator(), operator, "operator");
        assertEq(vault.withdrawalDelay(), DELAY, "withdrawal delay");
        assertEq(vault.chargerSetter(), address(this), "the deployer sets the charger");
        assertEq(vault.charger(), address(subs), "charger set by the fixture");
    }

    function test_When_DelayAtBounds() public {
        assertEq(new BalanceVault(feeRecipient, MAX_FEE_BPS, operator, 1).withdrawalDelay(), 1, "one second");
        assertEq(new BalanceVault(feeRecipient, 10_000, operator, 30 days).withdrawalDelay(), 30 days, "max");
    }

    function test_When_OperatorIsZero() public {
        BalanceVault noOperator = new BalanceVault(feeRecipient, MAX_FEE_BPS, address(0), DELAY);
        assertEq(noOperator.operator(), address(0), "operator disabled");
        assertEq(noOperator.charger(), address(0), "no charger yet");
    }

    function testFuzz_Constructor(address feeRecipient_, uint16 maxFeeBps_, address operator_, uint256 delay) public {
        delay = bound(delay, 0, 60 days);
        if (feeRecipient_ == address(0)) {
            vm.expectRevert(
                abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.FeeRecipient)
            );
            new BalanceVault(feeRecipient_, maxFeeBps_, operator_, delay);
        } else if (maxFeeBps_ > 10_000) {
            vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_MaxFeeBpsTooHigh.selector, maxFeeBps_));
            new BalanceVault(feeRecipient_, maxFeeBps_, operator_, delay);
        } else if (delay == 0 || delay > 30 days) {
            vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidWithdrawalDelay.selector, delay, 30 days));
            new BalanceVault(feeRecipient_, maxFeeBps_, operator_, delay);
        } else {
            BalanceVault deployed = new BalanceVault(feeRecipient_, maxFeeBps_, operator_, delay);
            assertEq(deployed.feeRecipient(), feeRecipient_, "fee recipient");
            assertEq(uint256(deployed.maxFeeBps()), maxFeeBps_, "max fee bps");
            assertEq(deployed.operator(), operator_, "operator");
            assertEq(deployed.withdrawalDelay(), delay, "delay");
        }
    }
}
