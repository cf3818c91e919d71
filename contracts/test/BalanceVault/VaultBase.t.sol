// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {Subscriptions} from "../../src/Subscriptions.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";

/// @title VaultBase
/// @notice Shared fixture for the BalanceVault and Subscriptions unit tests: a MockUSDC, a vault with a 500 bps fee
///         cap and a one-day withdrawal delay, the Subscriptions contract set as its charger, named actors, and helpers
///         that deposit (by `transferFrom` or a signed x402 `TransferWithAuthorization`), debit and read balances.
abstract contract VaultBase is Authorizations {
    uint16 internal constant MAX_FEE_BPS = 500;
    uint256 internal constant DELAY = 1 days;
    uint256 internal constant T0 = 1_750_000_000;
    uint256 internal constant AGENT_FUNDS = 1_000_000e6;

    MockUSDC internal usdc;
    BalanceVault internal vault;
    Subscriptions internal subs;

    address internal feeRecipient;
    address internal operator;
    address internal provider;
    address internal relayer;
    address internal stranger;
    address internal agent;
    uint256 internal agentKey;

    function setUp() public virtual {
        vm.warp(T0);
        feeRecipient = makeAddr("feeRecipient");
        operator = makeAddr("operator");
        provider = makeAddr("provider");
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");
        (agent, agentKey) = makeKey("agent");

        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        vault = new BalanceVault(feeRecipient, MAX_FEE_BPS, operator, DELAY);
        subs = new Subscriptions(vault);
        vault.setCharger(address(subs));
        usdc.mint(agent, AGENT_FUNDS);
    }

    // ------------------------------------------------------------------ deposits

    /// @dev `account` approves and deposits `amount` with `deposit` (transferFrom).
    function depositAs(address account, uint256 amount) internal {
        vm.prank(account);
        usdc.approve(address(vault), amount);
        vm.prank(account);
        vault.deposit(address(usdc), amount);
    }

    /// @dev The x402 window a stock client signs: valid from 10 minutes ago for 5 minutes.
    function transferWindow() internal view returns (uint256 validAfter, uint256 validBefore) {
        return (block.timestamp - 600, block.timestamp + 300);
    }

    /// @dev `key`'s TransferWithAuthorization of `amount` from `from` to the vault, nonce from `seed`.
    function transferDeposit(address from, uint256 key, uint256 amount, uint256 seed)
        internal
        view
        returns (BalanceVault.TransferDeposit memory item)
    {
        (uint256 validAfter, uint256 validBefore) = transferWindow();
        item = BalanceVault.TransferDeposit({
            from: from,
            amount: amount,
            validAfter: validAfter,
            validBefore: validBefore,
            nonce: keccak256(abi.encode("deposit", seed)),
            signature: ""
        });
        item.signature = signTransfer(
            usdc,
            key,
            Authorization({
                from: from,
                to: address(vault),
                value: amount,
                validAfter: validAfter,
                validBefore: validBefore,
                nonce: item.nonce
            })
        );
    }

    /// @dev Submits `item`'s authorization straight to the token, as a front-runner would.
    function frontRun(BalanceVault.TransferDeposit memory item) internal {
        vm.prank(stranger);
        usdc.transferWithAuthorization(
            item.from, address(vault), item.amount, item.validAfter, item.validBefore, item.nonce, item.signature
        );
    }

    // ------------------------------------------------------------------ debits

    function debitItem(bytes32 id, address payer, uint256 amount, uint256 fee)
        internal
        view
        returns (BalanceVault.Debit memory)
    {
        return BalanceVault.Debit({id: id, payer: payer, provider: provider, amount: amount, fee: fee});
    }

    function one(BalanceVault.Debit memory item) internal pure returns (BalanceVault.Debit[] memory items) {
        items = new BalanceVault.Debit[](1);
        items[0] = item;
    }

    /// @dev Posts `items` as the operator; returns how many applied.
    function debit(BalanceVault.Debit[] memory items) internal returns (uint256) {
        vm.prank(operator);
        return vault.debitMany(address(usdc), items);
    }

    /// @dev The agent asks to withdraw its USDC balance.
    function requestAs(address account) internal returns (uint256 unlockAt) {
        vm.prank(account);
        unlockAt = vault.requestWithdrawal(address(usdc));
    }

    // ------------------------------------------------------------------ reading state

    function balanceOf(address account) internal view returns (uint256) {
        return vault.balanceOf(address(usdc), account);
    }

    function claimableOf(address account) internal view returns (uint256) {
        return vault.claimable(address(usdc), account);
    }

    function liabilitiesOf() internal view returns (uint256) {
        return vault.liabilities(address(usdc));
    }

    function unlockAtOf(address account) internal view returns (uint256) {
        return vault.accountOf(address(usdc), account).unlockAt;
    }

    /// @dev The vault holds exactly what it owes (no surplus) and owes exactly `expected`.
    function assertOwes(uint256 expected, string memory error) internal view {
        assertEq(liabilitiesOf(), expected, error);
        assertEq(usdc.balanceOf(address(vault)), expected, error);
    }

    function expectNotOperator(address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NotOperator.selector, caller));
    }
}
