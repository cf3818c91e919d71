// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {EvilToken} from "../Escrow/mocks/EvilToken.sol";
import {Vm} from "../utils/Vm.sol";
import {VaultBase} from "./VaultBase.t.sol";

contract BalanceVault_ClaimMany_Test is VaultBase {
    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
        debit(one(debitItem(keccak256("d"), agent, 4e6, 0.2e6)));
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        uint256 required = vault.ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(BalanceVault.Vault_InsufficientGas.selector);
        vault.claimMany{gas: required}(address(usdc), _accounts(provider, feeRecipient));
    }

    function test_RevertWhen_GasRunsShortMidBatch() public {
        uint256 gasLimit = vault.ITEM_GAS_REQUIRED() + 20_000;
        vm.expectPartialRevert(BalanceVault.Vault_InsufficientGas.selector);
        vault.claimMany{gas: gasLimit}(address(usdc), _accounts(provider, feeRecipient));
        assertEq(claimableOf(provider), 3.8e6, "rolled back");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_OnlySelf.selector, stranger));
        vm.prank(stranger);
        vault.claimBatchItem(address(usdc), provider);
    }

    function test_When_Empty() public {
        assertEq(vault.claimMany(address(usdc), new address[](0)), 0, "none");
    }

    function test_When_AllAccountsHaveBalances() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.Claimed(address(usdc), provider, provider, 3.8e6);
        vm.expectEmit(address(vault));
        emit BalanceVault.Claimed(address(usdc), feeRecipient, feeRecipient, 0.2e6);
        vm.prank(stranger);
        assertEq(vault.claimMany(address(usdc), _accounts(provider, feeRecipient)), 2, "claimed");
        assertOwes(6e6, "the agent's balance is untouched");
    }

    /// @dev An agent in the list has no claimable balance: its prepaid balance is never paid out by a claim.
    function test_When_AccountIsAnAgent() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.ClaimFailed(
            address(usdc),
            agent,
            abi.encodeWithSelector(BalanceVault.Vault_NothingToClaim.selector, address(usdc), agent)
        );
        assertEq(vault.claimMany(address(usdc), _accounts(agent, provider)), 1, "provider only");
        assertEq(balanceOf(agent), 6e6, "untouched");
    }

    function test_When_OneAccountBlacklisted() public {
        usdc.blacklist(provider);
        vm.expectEmit(address(vault));
        emit BalanceVault.ClaimFailed(
            address(usdc), provider, abi.encodeWithSignature("Error(string)", "Blacklistable: account is blacklisted")
        );
        assertEq(vault.claimMany(address(usdc), _accounts(provider, feeRecipient)), 1, "fee recipient claimed");
        assertEq(claimableOf(provider), 3.8e6, "kept");
    }

    function test_When_AccountRepeated() public {
        assertEq(vault.claimMany(address(usdc), _accounts(provider, provider)), 1, "paid once");
        assertEq(usdc.balanceOf(provider), 3.8e6, "once");
    }

    function test_When_TokenRevertReasonIsHuge() public {
        EvilToken evil = _earnedIn(EvilToken.Mode.RevertBomb);
        vm.recordLogs();
        assertEq(vault.claimMany(address(evil), _accounts(provider, feeRecipient)), 0, "none");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 failures;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != BalanceVault.ClaimFailed.selector) continue;
            assertEq(abi.decode(logs[i].data, (bytes)).length, vault.MAX_REASON_BYTES(), "reason cut");
            ++failures;
        }
        assertEq(failures, 2, "each failure logged");
    }

    function test_When_TokenBurnsAllGas() public {
        EvilToken evil = _earnedIn(EvilToken.Mode.GasBomb);
        vm.expectEmit(address(vault));
        emit BalanceVault.ClaimFailed(address(evil), provider, "");
        uint256 gasLimit = 3 * vault.ITEM_GAS_REQUIRED();
        assertEq(vault.claimMany{gas: gasLimit}(address(evil), _accounts(provider, feeRecipient)), 0, "none");
    }

    function testFuzz_ClaimMany_NoItemStarved(uint256 gasLimit) public {
        gasLimit = bound(gasLimit, 30_000, 1_000_000);
        try vault.claimMany{gas: gasLimit}(address(usdc), _accounts(provider, feeRecipient)) returns (uint256 n) {
            assertEq(n, 2, "both claimed");
        } catch {
            assertEq(claimableOf(provider) + claimableOf(feeRecipient), 4e6, "rolled back");
        }
    }

    function _accounts(address a, address b) internal pure returns (address[] memory accounts) {
        accounts = new address[](2);
        (accounts[0], accounts[1]) = (a, b);
    }

    function _earnedIn(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.mint(agent, 10e6);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.prank(operator);
        vault.depositWithTransfer(address(evil), item);
        vm.prank(operator);
        vault.debitMany(address(evil), one(debitItem(keccak256("evil"), agent, 4e6, 0.2e6)));
        evil.setMode(mode);
    }
}
