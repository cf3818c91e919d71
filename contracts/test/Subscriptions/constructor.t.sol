// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_Constructor_Test is SubscriptionsBase {
    function test_RevertWhen_VaultIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(Subscriptions.Subs_ZeroAddress.selector, Subscriptions.AddressField.Vault)
        );
        new Subscriptions(BalanceVault(address(0)));
    }

    function test_When_VaultGiven_ReadsItsOperatorAndFeeCap() public view {
        assertEq(address(subs.vault()), address(vault), "vault");
        assertEq(subs.operator(), operator, "the vault's operator");
        assertEq(uint256(subs.maxFeeBps()), MAX_FEE_BPS, "the vault's fee cap");
    }

    function test_When_VaultHasOtherSettings() public {
        BalanceVault other = new BalanceVault(feeRecipient, 250, stranger, DELAY);
        Subscriptions deployed = new Subscriptions(other);
        assertEq(deployed.operator(), stranger, "operator");
        assertEq(uint256(deployed.maxFeeBps()), 250, "fee cap");
    }

    /// @dev A Subscriptions contract the vault does not name as charger cannot move money: its charges revert.
    function test_When_NotTheVaultsCharger() public {
        Subscriptions rogue = new Subscriptions(vault);
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        vm.prank(operator);
        bytes32 id = rogue.subscribeFor(terms);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NotCharger.selector, address(rogue)));
        rogue.charge(id);
        assertEq(balanceOf(agent), DEPOSIT, "untouched");
    }
}
