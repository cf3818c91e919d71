// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_SetCharger_Test is VaultBase {
    BalanceVault internal fresh;

    function setUp() public override {
        super.setUp();
        fresh = new BalanceVault(feeRecipient, MAX_FEE_BPS, operator, DELAY);
    }

    function test_RevertWhen_CallerNotDeployer() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NotChargerSetter.selector, operator));
        vm.prank(operator);
        fresh.setCharger(address(subs));
    }

    function test_RevertWhen_ChargerIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Charger)
        );
        fresh.setCharger(address(0));
    }

    /// @dev Set once, never again: not even by the deployer, not even to the same address.
    function test_RevertWhen_AlreadySet() public {
        fresh.setCharger(address(subs));
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_ChargerAlreadySet.selector, address(subs)));
        fresh.setCharger(stranger);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_ChargerAlreadySet.selector, address(subs)));
        fresh.setCharger(address(subs));
        assertEq(fresh.charger(), address(subs), "unchanged");
    }

    function test_When_DeployerSets() public {
        vm.expectEmit(address(fresh));
        emit BalanceVault.ChargerSet(address(subs));
        fresh.setCharger(address(subs));
        assertEq(fresh.charger(), address(subs), "charger");
    }

    /// @dev Until the charger is set, nobody can charge: not the operator, not the future charger.
    function test_When_NotSet_NobodyCharges() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NotCharger.selector, address(subs)));
        vm.prank(address(subs));
        fresh.charge(address(usdc), agent, provider, 1e6, 0, bytes32(0));
    }

    function testFuzz_SetCharger_OnlyDeployer(address caller, address charger_) public {
        vm.assume(charger_ != address(0));
        if (caller != address(this)) {
            vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NotChargerSetter.selector, caller));
        }
        vm.prank(caller);
        fresh.setCharger(charger_);
        assertEq(fresh.charger(), caller == address(this) ? charger_ : address(0), "charger");
    }
}
