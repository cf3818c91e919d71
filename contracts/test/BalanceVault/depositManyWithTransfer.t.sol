// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {EvilToken} from "../Escrow/mocks/EvilToken.sol";
import {Vm} from "../utils/Vm.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_DepositManyWithTransfer_Test is VaultBase {
    function test_RevertWhen_CallerNotOperator() public {
        BalanceVault.TransferDeposit[] memory items = _batch(2);
        expectNotOperator(relayer);
        vm.prank(relayer);
        vault.depositManyWithTransfer(address(usdc), items);
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        BalanceVault.TransferDeposit[] memory items = _batch(1);
        uint256 required = vault.ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(BalanceVault.Vault_InsufficientGas.selector);
        vm.prank(operator);
        vault.depositManyWithTransfer{gas: required}(address(usdc), items);
    }

    function test_RevertWhen_GasRunsShortMidBatch() public {
        BalanceVault.TransferDeposit[] memory items = _batch(3);
        uint256 gasLimit = vault.ITEM_GAS_REQUIRED() + 50_000;
        vm.expectPartialRevert(BalanceVault.Vault_InsufficientGas.selector);
        vm.prank(operator);
        vault.depositManyWithTransfer{gas: gasLimit}(address(usdc), items);
        assertEq(balanceOf(agent), 0, "rolled back");
        assertEq(liabilitiesOf(), 0, "no liability");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        BalanceVault.TransferDeposit[] memory items = _batch(1);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_OnlySelf.selector, operator));
        vm.prank(operator);
        vault.depositBatchItem(address(usdc), items[0]);
    }

    function test_When_Empty() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositBatchSettled(address(usdc), 0, 0);
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(usdc), new BalanceVault.TransferDeposit[](0)), 0, "none");
    }

    function test_When_AllItemsValid() public {
        BalanceVault.TransferDeposit[] memory items = _batch(3);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(vault));
            emit BalanceVault.Deposited(address(usdc), agent, items[i].nonce, items[i].amount);
        }
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositBatchSettled(address(usdc), 3, 3);
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(usdc), items), 3, "deposited");
        assertEq(balanceOf(agent), 1e6 + 2e6 + 3e6, "balance");
        assertOwes(6e6, "owed and held");
    }

    function test_When_OneSignatureInvalid() public {
        BalanceVault.TransferDeposit[] memory items = _batch(3);
        (, uint256 otherKey) = makeKey("mallory");
        items[1] = transferDeposit(agent, otherKey, 2e6, 2);
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, items[0].nonce, 1e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent, items[1].nonce, abi.encodeWithSignature("Error(string)", "FiatTokenV2: invalid signature")
        );
        vm.expectEmit(address(vault));
        emit BalanceVault.Deposited(address(usdc), agent, items[2].nonce, 3e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositBatchSettled(address(usdc), 3, 2);
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(usdc), items), 2, "deposited");
        assertOwes(4e6, "the good items only");
    }

    /// @dev The front-running case end to end: the item fails, the money is surplus, `depositTransferred` books it.
    function test_When_ItemFrontRun() public {
        BalanceVault.TransferDeposit[] memory items = _batch(2);
        frontRun(items[0]);
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent,
            items[0].nonce,
            abi.encodeWithSignature("Error(string)", "FiatTokenV2: authorization is used or canceled")
        );
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(usdc), items), 1, "other item deposited");
        assertEq(vault.surplus(address(usdc)), 1e6, "front-run money is surplus");

        vm.prank(operator);
        vault.depositTransferred(address(usdc), agent, 1e6, items[0].nonce);
        assertEq(balanceOf(agent), 3e6, "both credited");
        assertOwes(3e6, "no surplus left");
    }

    function test_When_ItemRepeated() public {
        BalanceVault.TransferDeposit[] memory items = _batch(2);
        items[1] = items[0];
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(usdc), items), 1, "deposited once");
        assertOwes(1e6, "counted once");
    }

    function test_When_ManyPayers() public {
        (address other, uint256 otherKey) = makeKey("other agent");
        usdc.mint(other, 10e6);
        BalanceVault.TransferDeposit[] memory items = new BalanceVault.TransferDeposit[](2);
        items[0] = transferDeposit(agent, agentKey, 4e6, 1);
        items[1] = transferDeposit(other, otherKey, 6e6, 2);
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(usdc), items), 2, "deposited");
        assertEq(balanceOf(agent), 4e6, "agent");
        assertEq(balanceOf(other), 6e6, "other");
    }

    function test_When_TokenBurnsAllGas() public {
        EvilToken evil = _evil(EvilToken.Mode.GasBomb);
        BalanceVault.TransferDeposit[] memory items = _batch(2);
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(agent, items[0].nonce, "");
        uint256 gasLimit = 3 * vault.ITEM_GAS_REQUIRED();
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer{gas: gasLimit}(address(evil), items), 0, "none");
    }

    function test_When_TokenRevertReasonIsHuge() public {
        EvilToken evil = _evil(EvilToken.Mode.RevertBomb);
        BalanceVault.TransferDeposit[] memory items = _batch(2);
        vm.recordLogs();
        vm.prank(operator);
        assertEq(vault.depositManyWithTransfer(address(evil), items), 0, "none");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 failures;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != BalanceVault.DepositFailed.selector) continue;
            assertEq(abi.decode(logs[i].data, (bytes)).length, vault.MAX_REASON_BYTES(), "reason cut");
            ++failures;
        }
        assertEq(failures, 2, "each failure logged");
    }

    function test_When_TokenReenters() public {
        EvilToken evil = _evil(EvilToken.Mode.Reenter);
        BalanceVault.TransferDeposit[] memory items = _batch(2);
        evil.setReentry(address(vault), abi.encodeCall(BalanceVault.depositBatchItem, (address(evil), items[1])));
        vm.expectEmit(address(vault));
        emit BalanceVault.DepositFailed(
            agent, items[0].nonce, abi.encodeWithSelector(BalanceVault.Vault_OnlySelf.selector, address(evil))
        );
        vm.prank(operator);
        vault.depositManyWithTransfer(address(evil), items);
    }

    function testFuzz_DepositManyWithTransfer_NoItemStarved(uint256 gasLimit) public {
        BalanceVault.TransferDeposit[] memory items = _batch(3);
        gasLimit = bound(gasLimit, 50_000, 1_500_000);
        vm.prank(operator);
        try vault.depositManyWithTransfer{gas: gasLimit}(address(usdc), items) returns (uint256 deposited) {
            assertEq(deposited, 3, "every valid item deposited");
        } catch {
            assertEq(balanceOf(agent), 0, "rolled back");
        }
    }

    function testFuzz_DepositManyWithTransfer_MixedBatch(uint8 badMask, uint8 frontRunMask) public {
        BalanceVault.TransferDeposit[] memory items = _batch(4);
        (, uint256 otherKey) = makeKey("mallory");
        uint256 good;
        uint256 strays;
        for (uint256 i; i < 4; ++i) {
            if (badMask & (1 << i) != 0) {
                items[i] = transferDeposit(agent, otherKey, items[i].amount, i + 1);
            } else if (frontRunMask & (1 << i) != 0) {
                frontRun(items[i]);
                strays += items[i].amount;
            } else {
                good += items[i].amount;
            }
        }
        vm.prank(operator);
        vault.depositManyWithTransfer(address(usdc), items);
        assertEq(balanceOf(agent), good, "good items credited");
        assertEq(liabilitiesOf(), good, "liabilities");
        assertEq(vault.surplus(address(usdc)), strays, "front-run money is surplus");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev `count` deposits of $1, $2, ... from the agent.
    function _batch(uint256 count) internal view returns (BalanceVault.TransferDeposit[] memory items) {
        items = new BalanceVault.TransferDeposit[](count);
        for (uint256 i; i < count; ++i) {
            items[i] = transferDeposit(agent, agentKey, (i + 1) * 1e6, i + 1);
        }
    }

    function _evil(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.mint(agent, 100e6);
        evil.setMode(mode);
    }
}
