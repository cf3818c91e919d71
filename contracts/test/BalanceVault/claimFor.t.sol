// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_ClaimFor_Test is VaultBase {
    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
        debit(one(debitItem(keccak256("d"), agent, 4e6, 0.2e6)));
    }

    function test_RevertWhen_NothingToClaim() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToClaim.selector, address(usdc), stranger));
        vm.prank(relayer);
        vault.claimFor(address(usdc), stranger);
    }

    /// @dev A relayer cannot reach an agent's prepaid balance through claims.
    function test_RevertWhen_AccountIsAnAgent() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToClaim.selector, address(usdc), agent));
        vm.prank(relayer);
        vault.claimFor(address(usdc), agent);
    }

    function test_When_RelayerPaysTheProvider() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.Claimed(address(usdc), provider, provider, 3.8e6);
        vm.prank(relayer);
        assertEq(vault.claimFor(address(usdc), provider), 3.8e6, "returned");
        assertEq(usdc.balanceOf(provider), 3.8e6, "paid to the provider itself");
        assertEq(usdc.balanceOf(relayer), 0, "never to the relayer");
    }

    function testFuzz_ClaimFor_PaysOnlyTheAccount(address caller) public {
        vm.assume(caller != provider);
        vm.prank(caller);
        vault.claimFor(address(usdc), provider);
        assertEq(usdc.balanceOf(provider), 3.8e6, "provider paid");
    }
}
