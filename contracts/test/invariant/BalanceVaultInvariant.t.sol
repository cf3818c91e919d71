// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Test} from "../utils/Test.sol";
import {console} from "../utils/console.sol";
import {BalanceVaultHandler} from "./handlers/BalanceVaultHandler.sol";
import {SubscriptionsHandler} from "./handlers/SubscriptionsHandler.sol";

/// @title BalanceVaultInvariantTest
/// @notice Properties of the vault's money that must hold after any sequence of deposits, debits, charges (through
///         the real Subscriptions contract), withdrawals and claims.
contract BalanceVaultInvariantTest is Test {
    BalanceVault internal vault;
    MockUSDC internal usdc;
    SubscriptionsHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        vault = new BalanceVault(makeAddr("feeRecipient"), 500, makeAddr("operator"), 1 days);
        Subscriptions subs = new Subscriptions(vault);
        vault.setCharger(address(subs));
        handler = new SubscriptionsHandler(vault, usdc, subs);

        bytes4[] memory selectors = new bytes4[](20);
        selectors[0] = BalanceVaultHandler.deposit.selector;
        selectors[1] = BalanceVaultHandler.depositWithTransfer.selector;
        selectors[2] = BalanceVaultHandler.depositManyWithTransfer.selector;
        selectors[3] = BalanceVaultHandler.book.selector;
        selectors[4] = BalanceVaultHandler.donate.selector;
        selectors[5] = BalanceVaultHandler.debitMany.selector;
        selectors[6] = BalanceVaultHandler.debitMany.selector; // twice: debits are the vault's daily business
        selectors[7] = BalanceVaultHandler.lateDebit.selector;
        selectors[8] = BalanceVaultHandler.requestWithdrawal.selector;
        selectors[9] = BalanceVaultHandler.cancelWithdrawal.selector;
        selectors[10] = BalanceVaultHandler.withdraw.selector;
        selectors[11] = BalanceVaultHandler.withdraw.selector; // twice: unlocked requests get withdrawn
        selectors[12] = BalanceVaultHandler.claim.selector;
        selectors[13] = BalanceVaultHandler.claimFor.selector;
        selectors[14] = BalanceVaultHandler.claimMany.selector;
        selectors[15] = BalanceVaultHandler.warp.selector;
        selectors[16] = SubscriptionsHandler.subscribe.selector;
        selectors[17] = SubscriptionsHandler.charge.selector;
        selectors[18] = SubscriptionsHandler.chargeMany.selector;
        selectors[19] = BalanceVaultHandler.deposit.selector; // twice: balances to spend
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// balanceOf(vault) == liabilities[usdc] + (stray - booked), and surplus(usdc) == stray - booked: the vault holds
    /// what it owes plus exactly the money that reached it outside its entries and was not booked;
    /// liabilities[usdc] == sum(balances of agents, pending withdrawals included) + sum(claimable) ==
    /// deposited - withdrawn - claimed
    function invariant_Vault_BalanceEqualsBalancesPlusClaimablesPlusSurplus() public view {
        uint256 unbooked = handler.ghostStray() - handler.ghostBooked();
        uint256 liabilities = vault.liabilities(address(usdc));
        assertEq(usdc.balanceOf(address(vault)), liabilities + unbooked, "balance");
        assertEq(vault.surplus(address(usdc)), unbooked, "surplus");
        address[] memory accounts = handler.accounts();
        uint256 owed;
        for (uint256 i; i < accounts.length; ++i) {
            owed += vault.balanceOf(address(usdc), accounts[i]) + vault.claimable(address(usdc), accounts[i]);
        }
        assertEq(liabilities, owed, "liabilities == balances + claimables");
        assertEq(
            liabilities,
            handler.ghostDeposited() - handler.ghostWithdrawn() - handler.ghostClaimed(),
            "liabilities == deposited - withdrawn - claimed"
        );
    }

    /// for every account: balance == model balance and claimable == model claimable, where the model applies each
    /// debit exactly when amount <= balance, fee <= cap, the id is new and the payer's withdrawal has not unlocked
    function invariant_Vault_MatchesModel() public view {
        address[] memory accounts = handler.accounts();
        for (uint256 i; i < accounts.length; ++i) {
            assertEq(vault.balanceOf(address(usdc), accounts[i]), handler.modelBalance(accounts[i]), "balance");
            assertEq(vault.claimable(address(usdc), accounts[i]), handler.modelClaimable(accounts[i]), "claimable");
        }
        assertFalse(handler.ghostDebitCountWrong(), "a batch applied other debits than the rules allow");
    }

    /// for every Debited and Charged event, in order: amount <= the payer's balance at that moment, and the balances
    /// after a call are exactly what its events left (no debit or charge exceeds its balance);
    /// no Debited or Charged against a payer with block.timestamp >= unlockAt (nothing spends an unlocked balance);
    /// for every debit id: #Debited(id) <= 1 (a debit applies once)
    function invariant_Vault_SpendsWithinTheRules() public view {
        assertFalse(handler.ghostOverdrawn(), "a debit or charge exceeded its balance");
        assertFalse(handler.ghostSpentAfterUnlock(), "spent after the unlock");
        assertFalse(handler.ghostDebitedTwice(), "a debit id applied twice");
    }

    /// for every agent with a request: at max(now, unlockAt), withdraw succeeds and pays exactly the balance then
    /// (checked on a snapshot, then rolled back); and no withdrawal the handler made after the delay was refused
    function invariant_Vault_RequestedWithdrawalPayableAfterDelay() public {
        assertFalse(handler.ghostWithdrawRefused(), "a withdrawal after the delay was refused");
        for (uint256 i; i < 3; ++i) {
            address agent = handler.agents(i);
            BalanceVault.Account memory account = vault.accountOf(address(usdc), agent);
            if (account.unlockAt == 0) continue;
            uint256 snapshot = vm.snapshotState();
            if (block.timestamp < account.unlockAt) vm.warp(account.unlockAt);
            uint256 balance = vault.balanceOf(address(usdc), agent);
            vm.prank(agent);
            assertEq(vault.withdraw(address(usdc), agent), balance, "withdraw pays the balance");
            vm.revertToState(snapshot);
        }
    }

    /// Prints how often each action succeeded, to show the handler reaches every path.
    function afterInvariant() public view {
        console.log("deposit, depositWithTransfer", handler.calls("deposit"), handler.calls("depositWithTransfer"));
        console.log("depositManyWithTransfer, book", handler.calls("depositManyWithTransfer"), handler.calls("book"));
        console.log("donate, debitMany", handler.calls("donate"), handler.calls("debitMany"));
        console.log("lateDebit, requestWithdrawal", handler.calls("lateDebit"), handler.calls("requestWithdrawal"));
        console.log("cancelWithdrawal, withdraw", handler.calls("cancelWithdrawal"), handler.calls("withdraw"));
        console.log("claim, claimFor", handler.calls("claim"), handler.calls("claimFor"));
        console.log("claimMany, warp", handler.calls("claimMany"), handler.calls("warp"));
        console.log("subscribe, charge", handler.calls("subscribe"), handler.calls("charge"));
        console.log("chargeMany, debits applied", handler.calls("chargeMany"), handler.calls("debited"));
        console.log("periods charged", handler.calls("charged"));
    }
}
