// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_DepositManyTransferred_Test is VaultBase {
    BalanceVault.TransferDeposit internal first;
    BalanceVault.TransferDeposit internal second;

    function setUp() public override {
        super.setUp();
        first = transferDeposit(agent, agentKey, 10e6, 1);
        second = transferDeposit(agent, agentKey, 4e6, 2);
    }

    function test_RevertWhen_CallerNotOperator() public {
        frontRun(first);
        expectNotOperator(agent);
        vm.prank(agent);
        vault.depositManyTransferred(address(usdc), _items(_booking(first)));
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        frontRun(first);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_OnlySelf.selector, operator));
        vm.prank(operator);
        vault.depositTransferredItem(address(usdc), _booking(first));
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        frontRun(first);
        uint256 required = vault.ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(BalanceVault.Vault_InsufficientGas.selector);
        vm.prank(operator);
        vault.depositManyTransferred{gas: required}(address(usdc), _items(_booking(first)));
    }

    function test_When_Empty() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositBatchSettled(address(usdc), 0, 0);
        vm.prank(operator);
        assertEq(vault.depositManyTransferred(address(usdc), new BalanceVault.TransferredDeposit[](0)), 0, "none");
    }

    function test_When_BothFrontRun() public {
        frontRun(first);
        frontRun(second);
        BalanceVault.TransferredDeposit[] memory items = new BalanceVault.TransferredDeposit[](2);
        (items[0], items[1]) = (_booking(first), _booking(second));
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, first.nonce, 10e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, second.nonce, 4e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositBatchSettled(address(usdc), 2, 2);
        vm.prank(operator);
        assertEq(vault.depositManyTransferred(address(usdc), items), 2, "booked");
        assertEq(balanceOf(agent), 14e6, "credited");
        assertOwes(14e6, "every front-run unit owed");
        assertTrue(vault.isBooked(address(usdc), agent, second.nonce), "marked");
    }

    /// @dev Each refusal is the item's own: an authorization not used, one booked twice in the batch, and one larger
    ///      than the surplus left fail with their errors while the good item is booked.
    function test_When_SomeItemsRefused() public {
        frontRun(first);
        BalanceVault.TransferredDeposit[] memory items = new BalanceVault.TransferredDeposit[](4);
        items[0] = _booking(second); // never used
        items[1] = _booking(first);
        items[2] = _booking(first); // booked by items[1]
        items[3] = BalanceVault.TransferredDeposit({from: agent, amount: 1, nonce: first.nonce});
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent,
            second.nonce,
            abi.encodeWithSelector(BalanceVault.Vault_AuthorizationNotUsed.selector, agent, second.nonce)
        );
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, first.nonce, 10e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent, first.nonce, abi.encodeWithSelector(BalanceVault.Vault_AlreadyBooked.selector, agent, first.nonce)
        );
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent, first.nonce, abi.encodeWithSelector(BalanceVault.Vault_AlreadyBooked.selector, agent, first.nonce)
        );
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositBatchSettled(address(usdc), 4, 1);
        vm.prank(operator);
        assertEq(vault.depositManyTransferred(address(usdc), items), 1, "one booked");
        assertEq(balanceOf(agent), 10e6, "credited once");
        assertOwes(10e6, "owed and held");
    }

    function test_When_SurplusTooSmall() public {
        frontRun(second); // 4 USDC of surplus
        BalanceVault.TransferredDeposit[] memory items =
            _items(BalanceVault.TransferredDeposit({from: agent, amount: 5e6, nonce: second.nonce}));
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent,
            second.nonce,
            abi.encodeWithSelector(BalanceVault.Vault_InsufficientSurplus.selector, address(usdc), 4e6, 5e6)
        );
        vm.prank(operator);
        assertEq(vault.depositManyTransferred(address(usdc), items), 0, "none booked");
        assertEq(balanceOf(agent), 0, "nothing credited");
        assertFalse(vault.isBooked(address(usdc), agent, second.nonce), "a refused item marks nothing");
    }

    /// @dev Whatever the operator claims, the batch books at most the surplus that front-running left.
    function testFuzz_DepositManyTransferred_OnlySurplus(uint256 frontRunAmount, uint256 claimed, uint256 owed) public {
        frontRunAmount = bound(frontRunAmount, 1, 100e6);
        claimed = bound(claimed, 1, 200e6);
        owed = bound(owed, 0, 50e6);
        if (owed > 0) depositAs(agent, owed);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, frontRunAmount, 7);
        frontRun(item);
        BalanceVault.TransferredDeposit[] memory items =
            _items(BalanceVault.TransferredDeposit({from: agent, amount: claimed, nonce: item.nonce}));
        vm.prank(operator);
        uint256 booked = vault.depositManyTransferred(address(usdc), items);
        assertEq(booked, claimed <= frontRunAmount ? 1 : 0, "booked iff covered by surplus");
        assertEq(balanceOf(agent), owed + (booked == 1 ? claimed : 0), "balance");
        assertLe(liabilitiesOf(), usdc.balanceOf(address(vault)), "never owes more than it holds");
    }

    function _booking(BalanceVault.TransferDeposit memory item)
        internal
        pure
        returns (BalanceVault.TransferredDeposit memory)
    {
        return BalanceVault.TransferredDeposit({from: item.from, amount: item.amount, nonce: item.nonce});
    }

    function _items(BalanceVault.TransferredDeposit memory item)
        internal
        pure
        returns (BalanceVault.TransferredDeposit[] memory items)
    {
        items = new BalanceVault.TransferredDeposit[](1);
        items[0] = item;
    }
}
