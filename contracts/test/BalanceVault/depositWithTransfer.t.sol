// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {EvilToken} from "../Escrow/mocks/EvilToken.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_DepositWithTransfer_Test is VaultBase {
    function test_RevertWhen_CallerNotOperator() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        expectNotOperator(agent);
        vm.prank(agent);
        vault.depositWithTransfer(address(usdc), item);
    }

    function test_RevertWhen_SignatureInvalid() public {
        (, uint256 otherKey) = makeKey("mallory");
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, otherKey, 10e6, 1);
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
    }

    /// @dev The operator cannot credit more than the agent signed for.
    function test_RevertWhen_AmountDiffersFromSigned() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        item.amount = 11e6;
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
    }

    /// @dev The operator cannot credit the deposit to anyone but its payer.
    function test_RevertWhen_FromIsNotTheSigner() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        item.from = stranger;
        vm.expectRevert(bytes("FiatTokenV2: invalid signature"));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
    }

    function test_RevertWhen_FromIsZero() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        item.from = address(0);
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Payer)
        );
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
    }

    function test_RevertWhen_AmountIsZero() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_InvalidAmount.selector, 0));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
    }

    function test_RevertWhen_AuthorizationExpired() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.warp(item.validBefore);
        vm.expectRevert(bytes("FiatTokenV2: authorization is expired"));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
    }

    /// @dev Someone submitted the authorization first: the money is surplus, nothing is credited here.
    function test_RevertWhen_FrontRun() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        frontRun(item);
        vm.expectRevert(bytes("FiatTokenV2: authorization is used or canceled"));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        assertEq(vault.surplus(address(usdc)), 10e6, "surplus");
        assertEq(balanceOf(agent), 0, "nothing credited");
    }

    function test_RevertWhen_Replayed() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        vm.expectRevert(bytes("FiatTokenV2: authorization is used or canceled"));
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        assertEq(balanceOf(agent), 10e6, "credited once");
    }

    function test_RevertWhen_TokenShortchanges() public {
        EvilToken evil = new EvilToken();
        evil.mint(agent, 100e6);
        evil.setMode(EvilToken.Mode.Shortchange);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_BalanceDelta.selector, 10e6, 10e6 - 1));
        vm.prank(operator);
        vault.depositWithTransfer(address(evil), item);
    }

    function test_RevertWhen_TokenOverpays() public {
        EvilToken evil = new EvilToken();
        evil.mint(agent, 100e6);
        evil.setMode(EvilToken.Mode.Overpay);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_BalanceDelta.selector, 10e6, 10e6 + 1));
        vm.prank(operator);
        vault.depositWithTransfer(address(evil), item);
    }

    function test_When_OperatorDeposits() public {
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, item.nonce, 10e6);
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        assertEq(balanceOf(agent), 10e6, "credited to the payer");
        assertOwes(10e6, "owed and held");
        assertTrue(usdc.authorizationState(agent, item.nonce), "authorization used");
    }

    /// @dev A contract wallet pays with an ERC-1271 approval, as FiatToken v2.2 accepts.
    function test_When_PayerIsContractWallet() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(agent);
        usdc.mint(address(wallet), 20e6);
        BalanceVault.TransferDeposit memory item = transferDeposit(address(wallet), agentKey, 10e6, 1);
        vm.prank(agent);
        wallet.setMode(MockERC1271Wallet.Mode.OwnerSignature);
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        assertEq(balanceOf(address(wallet)), 10e6, "wallet credited");
    }

    function testFuzz_DepositWithTransfer(uint256 amount, uint256 seed) public {
        amount = bound(amount, 1, AGENT_FUNDS);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, amount, seed);
        vm.prank(operator);
        vault.depositWithTransfer(address(usdc), item);
        assertEq(balanceOf(agent), amount, "credited");
        assertOwes(amount, "owed and held");
    }
}
