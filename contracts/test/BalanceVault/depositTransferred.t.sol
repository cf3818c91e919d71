// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_DepositTransferred_Test is VaultBase {
    BalanceVault.TransferDeposit internal item;

    function setUp() public override {
        super.setUp();
        item = transferDeposit(agent, agentKey, 10e6, 1);
    }

    function test_RevertWhen_CallerNotOperator() public {
        frontRun(item);
        expectNotOperator(agent);
        vm.prank(agent);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
    }

    function test_RevertWhen_AuthorizationNotUsed() public {
        vm.prank(agent);
        usdc.transfer(address(vault), 10e6); // surplus exists, but this authorization moved nothing
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_AuthorizationNotUsed.selector, agent, item.nonce));
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
    }

    function test_RevertWhen_SurplusTooSmall() public {
        frontRun(item);
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_InsufficientSurplus.selector, address(usdc), 10e6, 11e6)
        );
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 11e6, item.nonce);
    }

    /// @dev The vault's own deposit used the authorization: there is no surplus to book, whatever the operator says.
    function test_RevertWhen_DepositedByTheVault() public {
        depositAs(agent, 50e6); // money owed to the agent: not surplus
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InsufficientSurplus.selector, address(usdc), 0, 10e6));
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
    }

    /// @dev One authorization is booked once, even when more surplus arrived since.
    function test_RevertWhen_AlreadyBooked() public {
        frontRun(item);
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
        usdc.mint(address(vault), 10e6); // more surplus
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_AlreadyBooked.selector, agent, item.nonce));
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
    }

    function test_RevertWhen_AmountIsZero() public {
        frontRun(item);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, 0));
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 0, item.nonce);
    }

    function test_When_FrontRunBooked() public {
        depositAs(agent, 5e6);
        frontRun(item);
        assertEq(vault.surplus(address(usdc)), 10e6, "surplus");
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, item.nonce, 10e6);
        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 10e6, item.nonce);
        assertEq(balanceOf(agent), 15e6, "credited");
        assertOwes(15e6, "surplus booked");
        assertTrue(vault.isBooked(address(usdc), agent, item.nonce), "recorded");
    }

    function testFuzz_DepositTransferred_OnlySurplus(uint256 amount, uint256 extra) public {
        frontRun(item);
        extra = bound(extra, 0, 5e6);
        if (extra != 0) usdc.mint(address(vault), extra);
        amount = bound(amount, 1, 20e6);
        if (amount > 10e6 + extra) {
            vm.expectPartialRevert(BalanceVault.Vault_InsufficientSurplus.selector);
            vm.prank(operator);
            vault.depositTransferred(address(usdc), agent, amount, item.nonce);
        } else {
            vm.prank(operator);
            vault.depositTransferred(address(usdc), agent, amount, item.nonce);
            assertEq(vault.surplus(address(usdc)), 10e6 + extra - amount, "surplus left");
            assertEq(liabilitiesOf(), amount, "booked");
        }
    }
}
