// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_DebitMany_Test is VaultBase {
    bytes32 internal constant ID = keccak256("debit-1");

    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
    }

    function test_RevertWhen_CallerNotOperator() public {
        expectNotOperator(agent);
        vm.prank(agent);
        vault.debitMany(address(usdc), one(debitItem(ID, agent, 1e6, 0)));
    }

    function test_RevertWhen_TokenIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Token)
        );
        vm.prank(operator);
        vault.debitMany(address(0), one(debitItem(ID, agent, 1e6, 0)));
    }

    function test_When_Empty() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitBatchSettled(address(usdc), 0, 0);
        assertEq(debit(new BalanceVault.Debit[](0)), 0, "none");
    }

    function test_When_DebitValid() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.Debited(ID, address(usdc), agent, provider, 1e6, 0.05e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitBatchSettled(address(usdc), 1, 1);
        assertEq(debit(one(debitItem(ID, agent, 1e6, 0.05e6))), 1, "applied");
        assertEq(balanceOf(agent), 9e6, "payer debited");
        assertEq(claimableOf(provider), 0.95e6, "provider credited amount - fee");
        assertEq(claimableOf(feeRecipient), 0.05e6, "fee credited");
        assertOwes(10e6, "debits move money inside the vault");
        assertTrue(vault.isDebited(ID), "id recorded");
    }

    function test_When_DebitTakesWholeBalance() public {
        assertEq(debit(one(debitItem(ID, agent, 10e6, 0.5e6))), 1, "applied");
        assertEq(balanceOf(agent), 0, "empty");
    }

    function test_When_BalanceShort_FailsAlone() public {
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](3);
        items[0] = debitItem(keccak256("a"), agent, 4e6, 0);
        items[1] = debitItem(keccak256("b"), agent, 7e6, 0); // 6 left
        items[2] = debitItem(keccak256("c"), agent, 6e6, 0.3e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.Debited(items[0].id, address(usdc), agent, provider, 4e6, 0);
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(
            items[1].id,
            agent,
            abi.encodeWithSelector(BalanceVault.Vault_InsufficientBalance.selector, address(usdc), agent, 6e6, 7e6)
        );
        vm.expectEmit(address(vault));
        emit BalanceVault.Debited(items[2].id, address(usdc), agent, provider, 6e6, 0.3e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitBatchSettled(address(usdc), 3, 2);
        assertEq(debit(items), 2, "the others applied");
        assertEq(balanceOf(agent), 0, "never overdrawn");
        assertFalse(vault.isDebited(items[1].id), "failed id stays free");
        assertEq(claimableOf(feeRecipient), 0.3e6, "fees of the applied items");
    }

    /// @dev A failed debit's id is free: after a deposit the operator retries it, and it applies once.
    function test_When_FailedDebitRetried() public {
        BalanceVault.Debit memory item = debitItem(ID, agent, 15e6, 0);
        assertEq(debit(one(item)), 0, "short");
        depositAs(agent, 5e6);
        assertEq(debit(one(item)), 1, "retried");
        assertEq(debit(one(item)), 0, "never twice");
        assertEq(balanceOf(agent), 0, "debited once");
    }

    function test_When_IdRecorded_FailsAlone() public {
        debit(one(debitItem(ID, agent, 1e6, 0)));
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(ID, agent, abi.encodeWithSelector(BalanceVault.Vault_DebitRecorded.selector, ID));
        assertEq(debit(one(debitItem(ID, agent, 1e6, 0))), 0, "refused");
        assertEq(balanceOf(agent), 9e6, "debited once");
    }

    function test_When_IdRepeatedInBatch() public {
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](2);
        items[0] = debitItem(ID, agent, 1e6, 0);
        items[1] = debitItem(ID, agent, 2e6, 0);
        assertEq(debit(items), 1, "first applied, second refused");
        assertEq(balanceOf(agent), 9e6, "once");
    }

    /// @dev Ids are global: the same id with another payer or token is still refused.
    function test_When_IdUsedWithOtherPayer() public {
        address other = makeAddr("other agent");
        usdc.mint(other, 10e6);
        depositAs(other, 10e6);
        debit(one(debitItem(ID, agent, 1e6, 0)));
        assertEq(debit(one(debitItem(ID, other, 1e6, 0))), 0, "refused");
        assertEq(balanceOf(other), 10e6, "untouched");
    }

    /// @dev Neighbouring ids share a storage word but not a bit.
    function test_When_SequentialIds() public {
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](3);
        for (uint256 i; i < 3; ++i) {
            items[i] = debitItem(bytes32(uint256(0x1ff + i)), agent, 1e6, 0); // crosses a word boundary
        }
        assertEq(debit(items), 3, "applied");
        assertTrue(vault.isDebited(bytes32(uint256(0x200))), "recorded");
        assertFalse(vault.isDebited(bytes32(uint256(0x1fe))), "neighbour free");
        assertFalse(vault.isDebited(bytes32(uint256(0x202))), "neighbour free");
    }

    function test_When_AmountIsZero_FailsAlone() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(ID, agent, abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, 0));
        assertEq(debit(one(debitItem(ID, agent, 0, 0))), 0, "refused");
    }

    function test_When_AmountAboveMax_FailsAlone() public {
        uint256 amount = uint256(type(uint128).max) + 1;
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(
            ID, agent, abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, amount)
        );
        assertEq(debit(one(debitItem(ID, agent, amount, 0))), 0, "refused");
    }

    function test_When_FeeTooHigh_FailsAlone() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(
            ID, agent, abi.encodeWithSelector(BalanceVault.Vault_FeeTooHigh.selector, 0.06e6, 0.05e6)
        );
        assertEq(debit(one(debitItem(ID, agent, 1e6, 0.06e6))), 0, "refused");
        assertEq(balanceOf(agent), 10e6, "untouched");
    }

    function test_When_ProviderIsZero_FailsAlone() public {
        BalanceVault.Debit memory item = debitItem(ID, agent, 1e6, 0);
        item.provider = address(0);
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(
            ID,
            agent,
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Provider)
        );
        assertEq(debit(one(item)), 0, "refused");
    }

    function test_When_PayerHasNoBalance_FailsAlone() public {
        assertEq(debit(one(debitItem(ID, stranger, 1e6, 0))), 0, "refused");
    }

    /// @dev The exit rule: before the unlock the operator may still post the debits it accepted.
    function test_When_WithdrawalPending_DebitApplies() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt - 1);
        assertEq(debit(one(debitItem(ID, agent, 3e6, 0))), 1, "applied before the unlock");
        assertEq(balanceOf(agent), 7e6, "debited");
    }

    /// @dev The exit rule: from the unlock on, nothing can drain the balance the withdrawal pays.
    function test_When_WithdrawalUnlocked_FailsAlone() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt);
        vm.expectEmit(address(vault));
        emit BalanceVault.DebitFailed(
            ID,
            agent,
            abi.encodeWithSelector(BalanceVault.Vault_WithdrawalUnlocked.selector, address(usdc), agent, unlockAt)
        );
        assertEq(debit(one(debitItem(ID, agent, 1e6, 0))), 0, "refused");
        assertEq(balanceOf(agent), 10e6, "untouched");
    }

    function test_When_WithdrawalCancelled_DebitApplies() public {
        uint256 unlockAt = requestAs(agent);
        vm.warp(unlockAt + 1);
        vm.prank(agent);
        vault.cancelWithdrawal(address(usdc));
        assertEq(debit(one(debitItem(ID, agent, 1e6, 0))), 1, "applies again");
    }

    /// @dev The fee recipient credited as a provider and as the fee taker adds up.
    function test_When_ProviderIsFeeRecipient() public {
        BalanceVault.Debit memory item = debitItem(ID, agent, 2e6, 0.1e6);
        item.provider = feeRecipient;
        debit(one(item));
        assertEq(claimableOf(feeRecipient), 2e6, "both parts");
    }

    function test_When_ManyPayersAndProviders() public {
        address other = makeAddr("other agent");
        address otherProvider = makeAddr("other provider");
        usdc.mint(other, 10e6);
        depositAs(other, 10e6);
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](2);
        items[0] = debitItem(keccak256("a"), agent, 2e6, 0.1e6);
        items[1] = BalanceVault.Debit({id: keccak256("b"), payer: other, provider: otherProvider, amount: 3e6, fee: 0});
        assertEq(debit(items), 2, "applied");
        assertEq(balanceOf(agent), 8e6, "agent");
        assertEq(balanceOf(other), 7e6, "other");
        assertEq(claimableOf(provider), 1.9e6, "provider");
        assertEq(claimableOf(otherProvider), 3e6, "other provider");
        assertEq(claimableOf(feeRecipient), 0.1e6, "fee");
    }

    /// @dev No sequence of debits takes more than the balance, and each one takes exactly its amount.
    function testFuzz_DebitMany_NeverOverdraws(uint256[5] memory amounts, uint256 feeSeed) public {
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](5);
        uint256 left = 10e6;
        uint256 expected;
        uint256 fees;
        for (uint256 i; i < 5; ++i) {
            uint256 amount = bound(amounts[i], 1, 6e6);
            uint256 fee = bound(uint256(keccak256(abi.encode(feeSeed, i))), 0, amount * MAX_FEE_BPS / 10_000);
            items[i] = debitItem(bytes32(i + 1), agent, amount, fee);
            if (amount <= left) {
                left -= amount;
                ++expected;
                fees += fee;
            }
        }
        assertEq(debit(items), expected, "applied while the balance lasts");
        assertEq(balanceOf(agent), left, "balance");
        assertEq(claimableOf(provider) + claimableOf(feeRecipient), 10e6 - left, "moved == taken");
        assertEq(claimableOf(feeRecipient), fees, "fees");
        assertOwes(10e6, "still owed");
    }

    /// @dev Before the unlock a debit applies; at or after it, never.
    function testFuzz_DebitMany_ExitRule(uint256 elapsed) public {
        uint256 unlockAt = requestAs(agent);
        elapsed = bound(elapsed, 0, 3 * DELAY);
        vm.warp(block.timestamp + elapsed);
        uint256 applied = debit(one(debitItem(ID, agent, 1e6, 0)));
        assertEq(applied, block.timestamp < unlockAt ? 1 : 0, "debit only before the unlock");
    }
}
