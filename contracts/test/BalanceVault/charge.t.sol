// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

/// @dev The vault's charger entry, called here as the charger (the Subscriptions contract) would.
contract BalanceVault_Charge_Test is VaultBase {
    bytes32 internal constant REF = keccak256("subscription");

    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
    }

    function test_RevertWhen_CallerNotCharger() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NotCharger.selector, operator));
        vm.prank(operator);
        vault.charge(address(usdc), agent, provider, 1e6, 0, REF);
    }

    function test_RevertWhen_AmountIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, 0));
        _charge(0, 0);
    }

    function test_RevertWhen_AmountAboveMax() public {
        uint256 amount = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, amount));
        _charge(amount, 0);
    }

    function test_RevertWhen_FeeTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_FeeTooHigh.selector, 0.06e6, 0.05e6));
        _charge(1e6, 0.06e6);
    }

    function test_RevertWhen_ProviderIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Provider)
        );
        vm.prank(address(subs));
        vault.charge(address(usdc), agent, address(0), 1e6, 0, REF);
    }

    function test_When_BalanceCovers() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.Charged(REF, address(usdc), agent, provider, 4e6, 0.2e6);
        assertTrue(_charge(4e6, 0.2e6), "charged");
        assertEq(balanceOf(agent), 6e6, "payer");
        assertEq(claimableOf(provider), 3.8e6, "provider");
        assertEq(claimableOf(feeRecipient), 0.2e6, "fee");
        assertOwes(10e6, "moved inside the vault");
    }

    function test_When_BalanceShort_ReturnsFalse() public {
        vm.recordLogs();
        assertFalse(_charge(10e6 + 1, 0), "refused");
        assertEq(vm.getRecordedLogs().length, 0, "no event");
        assertEq(balanceOf(agent), 10e6, "untouched");
        assertEq(claimableOf(provider), 0, "nothing credited");
    }

    function test_When_WithdrawalPending_Charges() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt - 1);
        assertTrue(_charge(1e6, 0), "charged before the unlock");
    }

    function test_When_WithdrawalUnlocked_ReturnsFalse() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt);
        assertFalse(_charge(1e6, 0), "refused from the unlock on");
        assertEq(balanceOf(agent), 10e6, "untouched");
    }

    function testFuzz_Charge_NeverOverdraws(uint256 amount, uint256 fee) public {
        amount = bound(amount, 1, 20e6);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        bool charged = _charge(amount, fee);
        assertEq(charged, amount <= 10e6, "charged iff covered");
        assertEq(balanceOf(agent), charged ? 10e6 - amount : 10e6, "balance");
        assertEq(claimableOf(provider) + claimableOf(feeRecipient), charged ? amount : 0, "credited");
    }

    function _charge(uint256 amount, uint256 fee) internal returns (bool) {
        vm.prank(address(subs));
        return vault.charge(address(usdc), agent, provider, amount, fee, REF);
    }
}
