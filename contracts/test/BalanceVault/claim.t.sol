// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BalanceVault} from "../../src/BalanceVault.sol";
import {EvilToken} from "../Escrow/mocks/EvilToken.sol";
import {VaultBase} from "./VaultBase.t.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

contract BalanceVault_Claim_Test is VaultBase {
    function setUp() public override {
        super.setUp();
        depositAs(agent, 10e6);
        debit(one(debitItem(keccak256("d"), agent, 4e6, 0.2e6)));
    }

    function test_RevertWhen_NothingToClaim() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToClaim.selector, address(usdc), stranger));
        vm.prank(stranger);
        vault.claim(address(usdc), stranger);
    }

    /// @dev An agent's prepaid balance is not claimable: it leaves only through `withdraw`.
    function test_RevertWhen_AgentClaimsItsBalance() public {
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToClaim.selector, address(usdc), agent));
        vm.prank(agent);
        vault.claim(address(usdc), agent);
    }

    function test_RevertWhen_RecipientIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(BalanceVault.Vault_ZeroAddress.selector, BalanceVault.AddressField.Recipient)
        );
        vm.prank(provider);
        vault.claim(address(usdc), address(0));
    }

    function test_RevertWhen_AlreadyClaimed() public {
        vm.prank(provider);
        vault.claim(address(usdc), provider);
        vm.expectRevert(abi.encodeWithSelector(BalanceVault.Vault_NothingToClaim.selector, address(usdc), provider));
        vm.prank(provider);
        vault.claim(address(usdc), provider);
    }

    function test_RevertWhen_RecipientBlacklisted() public {
        usdc.blacklist(provider);
        vm.expectRevert(bytes("Blacklistable: account is blacklisted"));
        vm.prank(provider);
        vault.claim(address(usdc), provider);
        assertEq(claimableOf(provider), 3.8e6, "still claimable");
    }

    function test_RevertWhen_TransferReturnsFalse() public {
        EvilToken evil = _earnedIn(EvilToken.Mode.TransferReturnsFalse);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(evil)));
        vm.prank(provider);
        vault.claim(address(evil), provider);
    }

    function test_RevertWhen_TokenReenters() public {
        EvilToken evil = _earnedIn(EvilToken.Mode.ReenterOnTransfer);
        evil.setReentry(address(vault), abi.encodeCall(BalanceVault.claim, (address(evil), provider)));
        vm.expectRevert(BalanceVault.Vault_Reentrancy.selector);
        vm.prank(provider);
        vault.claim(address(evil), provider);
    }

    function test_When_ProviderClaims() public {
        vm.expectEmit(address(vault));
        emit BalanceVault.Claimed(address(usdc), provider, provider, 3.8e6);
        vm.prank(provider);
        assertEq(vault.claim(address(usdc), provider), 3.8e6, "returned");
        assertEq(usdc.balanceOf(provider), 3.8e6, "received");
        assertEq(claimableOf(provider), 0, "zeroed");
        assertOwes(6.2e6, "the agent's balance and the fee");
    }

    function test_When_FeeRecipientClaimsToTreasury() public {
        address treasury = makeAddr("treasury");
        vm.prank(feeRecipient);
        vault.claim(address(usdc), treasury);
        assertEq(usdc.balanceOf(treasury), 0.2e6, "treasury received");
    }

    function testFuzz_Claim(uint256 amount, uint256 fee, address to) public {
        vm.assume(to != address(0) && to != address(vault) && to != provider);
        amount = bound(amount, 1, 6e6);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        vm.assume(fee < amount);
        debit(one(debitItem(keccak256("fuzz"), agent, amount, fee)));
        uint256 before = usdc.balanceOf(to);
        vm.prank(provider);
        assertEq(vault.claim(address(usdc), to), 3.8e6 + amount - fee, "claimed");
        assertEq(usdc.balanceOf(to), before + 3.8e6 + amount - fee, "received");
    }

    /// @dev $4 of an EvilToken (honest while depositing) debited to the provider, then the token turns `mode`.
    function _earnedIn(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.mint(agent, 10e6);
        BalanceVault.TransferDeposit memory item = transferDeposit(agent, agentKey, 10e6, 1);
        vm.prank(operator);
        vault.depositWithTransfer(address(evil), item);
        vm.prank(operator);
        vault.debitMany(address(evil), one(debitItem(keccak256("evil"), agent, 4e6, 0)));
        evil.setMode(mode);
    }
}
