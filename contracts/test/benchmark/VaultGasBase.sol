// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";
import {Vm} from "../utils/Vm.sol";

/// @dev Cheatcodes the benchmarks need that Vm.sol lacks.
interface VaultVmExtra {
    /// @dev Marks `target` and its storage cold, as at the start of a transaction.
    function cool(address target) external;
}

/// @title VaultGasBase
/// @notice The vault and subscription benchmarks' fixture, measured exactly as `EscrowGasBase` measures the escrow:
///         the tx reading is the whole transaction as its receipt reports it (exec + 21,000 + calldata - refund). Run
///         with `--isolate` for exact figures (each call its own transaction); without it, `vm.cool` makes the vault's,
///         the subscription contract's and the token's storage cold again, and each account the measured call reads
///         that the test already touched (the token's proxy and implementation, its signature checker, the vault
///         called by the subscription contract) adds the 2,500 gas a cold access costs in a fresh transaction. Both
///         modes print the same numbers.
///         Steady state: the vault already holds money, the provider and the fee recipient already have claimable
///         balances, and agents and providers hold USDC in their wallets.
abstract contract VaultGasBase is Authorizations {
    VaultVmExtra internal constant vmExtra = VaultVmExtra(address(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D));

    /// @dev EIP-2929: a cold account access costs 2,600, a warm one 100.
    uint256 internal constant COLD_ACCOUNT_EXTRA = 2500;
    /// @dev The x402 window a stock client signs.
    uint256 internal constant VALID_FOR = 300;

    MockUSDC internal usdc;
    BalanceVault internal vault;
    Subscriptions internal subs;
    address internal feeRecipient;
    address internal provider;
    address internal operator;
    address internal agent;
    uint256 internal agentKey;
    uint256 internal nonceSeq;

    function setUp() public {
        vm.warp(1_750_000_000);
        feeRecipient = makeAddr("feeRecipient");
        provider = makeAddr("provider");
        operator = makeAddr("operator");
        (agent, agentKey) = makeKey("agent");
        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        vault = new BalanceVault(feeRecipient, 500, operator, 1 days);
        subs = new Subscriptions(vault);
        vault.setCharger(address(subs));
        usdc.mint(agent, 1_000_000e6);
        usdc.mint(provider, 1e6);
        // Steady state: the vault holds money and the provider and the fee recipient have earned before.
        _depositAs(agent, 500e6);
        _debit(agent, 1e6);
    }

    // ------------------------------------------------------------------ helpers

    function _depositAs(address account, uint256 amount) internal {
        vm.prank(account);
        usdc.approve(address(vault), amount);
        vm.prank(account);
        vault.deposit(address(usdc), amount);
    }

    /// @dev One debit of `amount` from `payer` to the provider with a 5% fee.
    function _debit(address payer, uint256 amount) internal {
        BalanceVault.Debit[] memory items = new BalanceVault.Debit[](1);
        items[0] = BalanceVault.Debit({
            id: keccak256(abi.encode("setup debit", ++nonceSeq)),
            payer: payer,
            provider: provider,
            amount: amount,
            fee: amount * 500 / 10_000
        });
        vm.prank(operator);
        vault.debitMany(address(usdc), items);
    }

    /// @dev `count` fresh agents (never touched), each holding $1,000 in its wallet.
    function _freshAgents(uint256 count) internal returns (address[] memory agents, uint256[] memory keys) {
        agents = new address[](count);
        keys = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            (agents[i], keys[i]) = makeKey(string.concat("bench agent ", vm.toString(i)));
            usdc.mint(agents[i], 1000e6);
        }
    }

    /// @dev `key`'s x402 deposit of `amount` from `from` to the vault.
    function _transferDeposit(address from, uint256 key, uint256 amount)
        internal
        returns (BalanceVault.TransferDeposit memory item)
    {
        item = BalanceVault.TransferDeposit({
            from: from,
            amount: amount,
            validAfter: block.timestamp - VALID_FOR,
            validBefore: block.timestamp + VALID_FOR,
            nonce: keccak256(abi.encode("bench deposit", ++nonceSeq)),
            signature: ""
        });
        item.signature = signTransfer(
            usdc,
            key,
            Authorization({
                from: from,
                to: address(vault),
                value: amount,
                validAfter: item.validAfter,
                validBefore: item.validBefore,
                nonce: item.nonce
            })
        );
    }

    /// @dev A $10.50 monthly subscription of `subscriber` to the provider ($0.50 fee), starting now.
    function _subscribe(address subscriber) internal returns (bytes32 id) {
        Subscriptions.SubscriptionTerms memory terms = _terms(subscriber);
        vm.prank(operator);
        id = subs.subscribeFor(terms);
    }

    /// @dev The terms `_subscribe` uses, with a fresh salt.
    function _terms(address subscriber) internal returns (Subscriptions.SubscriptionTerms memory terms) {
        terms = Subscriptions.SubscriptionTerms({
            subscriber: subscriber,
            provider: provider,
            token: address(usdc),
            price: 10.5e6,
            fee: 0.5e6,
            period: 30 days,
            start: uint64(block.timestamp),
            grace: 3 days,
            salt: keccak256(abi.encode("bench plan", ++nonceSeq))
        });
    }

    /// @dev Calls `target` from `sender` as a fresh transaction would see it and returns (exec gas, tx gas).
    ///      `warmAccounts`: accounts the call reads that this test already touched (see the contract notice); used
    ///      only without `--isolate`.
    function _measure(address sender, address target, bytes memory data, uint256 warmAccounts)
        internal
        returns (uint256 exec, uint256 txGas)
    {
        bool isolated = _isolated();
        vmExtra.cool(address(vault));
        vmExtra.cool(address(subs));
        vmExtra.cool(address(usdc));
        vm.prank(sender);
        (bool ok,) = target.call(data);
        assertTrue(ok, "measured call");
        Vm.Gas memory gas = vm.lastCallGas();
        uint256 intrinsic = 21_000 + _calldataGas(data);
        if (isolated) {
            txGas = gas.gasTotalUsed;
            exec = txGas - intrinsic;
        } else {
            exec = gas.gasTotalUsed + COLD_ACCOUNT_EXTRA * warmAccounts;
            uint256 refund = gas.gasRefunded > 0 ? uint256(int256(gas.gasRefunded)) : 0;
            uint256 gross = intrinsic + exec;
            txGas = gross - (refund < gross / 5 ? refund : gross / 5);
            exec -= gross - txGas; // report exec net of the refund in both modes
        }
    }

    /// @dev Under `--isolate` a call's reported gas includes the 21,000 base; inside one transaction it cannot.
    function _isolated() internal returns (bool) {
        (bool ok,) = address(vault).call(abi.encodeWithSignature("maxFeeBps()"));
        assertTrue(ok, "probe");
        return vm.lastCallGas().gasTotalUsed >= 21_000;
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 cost) {
        for (uint256 i; i < data.length; ++i) {
            cost += data[i] == 0 ? 4 : 16;
        }
    }
}
