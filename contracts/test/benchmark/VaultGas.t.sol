// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {console} from "../utils/console.sol";
import {VaultGasBase} from "./VaultGasBase.sol";

/// @title VaultGasBenchmark
/// @notice Gas of the BalanceVault's entries and of subscription charges (readings: `VaultGasBase`), whole
///         transactions in the steady state described there. Batches run at N = 100; per-item figures are the whole
///         transaction divided by N. No targets: the figures are for docs/GAS.md.
contract VaultGasBenchmark is VaultGasBase {
    uint256 internal constant N = 100;

    /// @dev `deposit` (transferFrom, approved beforehand): an agent topping up its balance, and a new agent's first.
    function test_Gas_Vault_Deposit() public {
        vm.prank(agent);
        usdc.approve(address(vault), 50e6);
        // The token's proxy and implementation are warm in this test, cold in a fresh transaction.
        (uint256 exec, uint256 txGas) =
            _measure(agent, address(vault), abi.encodeCall(BalanceVault.deposit, (address(usdc), 50e6)), 2);
        address fresh = makeAddr("new agent");
        usdc.mint(fresh, 100e6);
        vm.prank(fresh);
        usdc.approve(address(vault), 50e6);
        (uint256 firstExec, uint256 firstTx) =
            _measure(fresh, address(vault), abi.encodeCall(BalanceVault.deposit, (address(usdc), 50e6)), 2);
        console.log("deposit, top-up: exec, tx", exec, txGas);
        console.log("deposit, an agent's first: exec, tx", firstExec, firstTx);
        assertEq(vault.balanceOf(address(usdc), fresh), 50e6, "deposited");
    }

    /// @dev 100 x402 deposits from 100 new agents (their first deposit: a fresh vault balance each).
    function test_Gas_Vault_DepositManyWithTransfer_N100() public {
        (address[] memory agents, uint256[] memory keys) = _freshAgents(N);
        BalanceVault.TransferDeposit[] memory items = new BalanceVault.TransferDeposit[](N);
        for (uint256 i; i < N; ++i) {
            items[i] = _transferDeposit(agents[i], keys[i], 20e6);
        }
        // The minting and the signing touched the token's proxy and implementation (its signature checker is cold).
        (, uint256 txGas) = _measure(
            operator, address(vault), abi.encodeCall(BalanceVault.depositManyWithTransfer, (address(usdc), items)), 2
        );
        console.log("depositManyWithTransfer of 100 first deposits: tx, per item", txGas, txGas / N);
        assertEq(vault.balanceOf(address(usdc), agents[N - 1]), 20e6, "deposited");
    }

    /// @dev The same, from 100 agents that already hold a balance (top-ups).
    function test_Gas_Vault_DepositManyWithTransfer_N100_TopUp() public {
        (address[] memory agents, uint256[] memory keys) = _freshAgents(N);
        BalanceVault.TransferDeposit[] memory items = new BalanceVault.TransferDeposit[](N);
        for (uint256 i; i < N; ++i) {
            _depositAs(agents[i], 1e6);
            items[i] = _transferDeposit(agents[i], keys[i], 20e6);
        }
        // As above, plus the 100 agents, touched by their first deposits (the token reads each one's code size).
        (, uint256 txGas) = _measure(
            operator,
            address(vault),
            abi.encodeCall(BalanceVault.depositManyWithTransfer, (address(usdc), items)),
            2 + N
        );
        console.log("depositManyWithTransfer of 100 top-ups: tx, per item", txGas, txGas / N);
    }

    /// @dev 100 front-run x402 deposits booked from the surplus their transfers left (`depositManyTransferred`), for
    ///      100 new agents: the recovery when someone submits the agents' authorizations to the token first.
    function test_Gas_Vault_DepositManyTransferred_N100() public {
        (address[] memory agents, uint256[] memory keys) = _freshAgents(N);
        BalanceVault.TransferredDeposit[] memory items = new BalanceVault.TransferredDeposit[](N);
        for (uint256 i; i < N; ++i) {
            BalanceVault.TransferDeposit memory item = _transferDeposit(agents[i], keys[i], 20e6);
            usdc.transferWithAuthorization(
                item.from, address(vault), item.amount, item.validAfter, item.validBefore, item.nonce, item.signature
            );
            items[i] = BalanceVault.TransferredDeposit({from: item.from, amount: item.amount, nonce: item.nonce});
        }
        (, uint256 txGas) = _measure(
            operator, address(vault), abi.encodeCall(BalanceVault.depositManyTransferred, (address(usdc), items)), 2
        );
        console.log("depositManyTransferred of 100 front-run deposits: tx, per item", txGas, txGas / N);
        assertEq(vault.balanceOf(address(usdc), agents[N - 1]), 20e6, "booked");
    }

    /// @dev 100 debits ($0.10, 5% fee) from 100 agents to one provider, with random ids (UUIDs): the worst case for
    ///      the id bitmap, a fresh word per debit.
    function test_Gas_Vault_DebitMany_N100() public {
        BalanceVault.Debit[] memory items = _debits(false);
        (, uint256 txGas) =
            _measure(operator, address(vault), abi.encodeCall(BalanceVault.debitMany, (address(usdc), items)), 0);
        console.log("debitMany of 100, random ids: tx, per debit", txGas, txGas / N);
        assertEq(vault.balanceOf(address(usdc), items[N - 1].payer), 10e6 - 0.1e6, "debited");
    }

    /// @dev The same with ids numbered in sequence, as a ledger numbers its debits: 256 ids share a bitmap word.
    function test_Gas_Vault_DebitMany_N100_SequentialIds() public {
        BalanceVault.Debit[] memory items = _debits(true);
        (, uint256 txGas) =
            _measure(operator, address(vault), abi.encodeCall(BalanceVault.debitMany, (address(usdc), items)), 0);
        console.log("debitMany of 100, sequential ids: tx, per debit", txGas, txGas / N);
    }

    /// @dev A provider claims its earnings to its own wallet (which holds USDC); other money stays in the vault.
    function test_Gas_Vault_Claim() public {
        // Nothing this test did touched the token: its accounts are cold here as in a fresh transaction.
        (uint256 exec, uint256 txGas) =
            _measure(provider, address(vault), abi.encodeCall(BalanceVault.claim, (address(usdc), provider)), 0);
        console.log("claim to a wallet holding USDC: exec, tx", exec, txGas);
        assertEq(vault.claimable(address(usdc), provider), 0, "claimed");
    }

    /// @dev The agent withdraws its balance after the delay, to its wallet; other money stays in the vault.
    function test_Gas_Vault_Withdraw() public {
        vm.prank(agent);
        uint256 unlockAt = vault.requestWithdrawal(address(usdc));
        vm.warp(unlockAt);
        (uint256 exec, uint256 txGas) =
            _measure(agent, address(vault), abi.encodeCall(BalanceVault.withdraw, (address(usdc), agent)), 0);
        assertEq(vault.balanceOf(address(usdc), agent), 0, "withdrawn");
        (, uint256 requestTx) = _requestMeasured();
        console.log("withdraw to a wallet holding USDC: exec, tx", exec, txGas);
        console.log("requestWithdrawal: tx", requestTx);
    }

    /// @dev `charge` of a due period: period 0 right after subscribing, and a renewal (period 1).
    function test_Gas_Subscriptions_Charge() public {
        bytes32 id = _subscribe(agent);
        // The subscription contract calls the vault, which `_isolated`'s probe touched.
        (, uint256 firstTx) = _measure(makeAddr("keeper"), address(subs), abi.encodeCall(Subscriptions.charge, (id)), 1);
        vm.warp(block.timestamp + 30 days);
        (uint256 exec, uint256 txGas) =
            _measure(makeAddr("keeper"), address(subs), abi.encodeCall(Subscriptions.charge, (id)), 1);
        console.log("charge, period 0: tx", firstTx);
        console.log("charge, renewal: exec, tx", exec, txGas);
        assertEq(subs.subscriptionOf(id).charged, 2, "two periods");
    }

    /// @dev `chargeMany` of 100 renewals by 100 subscribers of one provider.
    function test_Gas_Subscriptions_ChargeMany_N100() public {
        (address[] memory agents,) = _freshAgents(N);
        bytes32[] memory ids = new bytes32[](N);
        for (uint256 i; i < N; ++i) {
            _depositAs(agents[i], 100e6);
            ids[i] = _subscribe(agents[i]);
        }
        subs.chargeMany(ids);
        vm.warp(block.timestamp + 30 days);
        (, uint256 txGas) =
            _measure(makeAddr("keeper"), address(subs), abi.encodeCall(Subscriptions.chargeMany, (ids)), 1);
        console.log("chargeMany of 100 renewals: tx, per charge", txGas, txGas / N);
        assertEq(subs.subscriptionOf(ids[N - 1]).charged, 2, "renewed");
    }

    /// @dev `operateMany` of 100 opens by the operator, each with its first period charged in the same item.
    function test_Gas_Subscriptions_OperateMany_Open_N100() public {
        (address[] memory agents,) = _freshAgents(N);
        Subscriptions.Operation[] memory ops = new Subscriptions.Operation[](N);
        for (uint256 i; i < N; ++i) {
            _depositAs(agents[i], 100e6);
            Subscriptions.SubscriptionTerms memory terms = _terms(agents[i]);
            ops[i] = Subscriptions.Operation(Subscriptions.OperationKind.Open, subs.subscriptionIdOf(terms), terms);
        }
        (, uint256 txGas) =
            _measure(subs.operator(), address(subs), abi.encodeCall(Subscriptions.operateMany, (ops)), 1);
        console.log("operateMany of 100 opens with period 0 charged: tx, per open", txGas, txGas / N);
        assertEq(subs.subscriptionOf(ops[N - 1].id).charged, 1, "period 0 paid");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev 100 agents holding $10 each, and a debit of $0.10 from each to the provider.
    function _debits(bool sequential) internal returns (BalanceVault.Debit[] memory items) {
        (address[] memory agents,) = _freshAgents(N);
        items = new BalanceVault.Debit[](N);
        for (uint256 i; i < N; ++i) {
            _depositAs(agents[i], 10e6);
            items[i] = BalanceVault.Debit({
                id: sequential ? bytes32(1000 + i) : keccak256(abi.encode("bench debit", i)),
                payer: agents[i],
                provider: provider,
                amount: 0.1e6,
                fee: 0.005e6
            });
        }
    }

    function _requestMeasured() internal returns (uint256, uint256) {
        _depositAs(agent, 1e6);
        return _measure(agent, address(vault), abi.encodeCall(BalanceVault.requestWithdrawal, (address(usdc))), 0);
    }
}
