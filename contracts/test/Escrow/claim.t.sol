// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

contract Escrow_Claim_Test is EscrowBase {
    function test_RevertWhen_NothingToClaim() public {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_NothingToClaim.selector, address(usdc), provider));
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
    }

    function test_RevertWhen_RecipientIsZero() public {
        _released();
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.ClaimRecipient));
        vm.prank(provider);
        escrow.claim(address(usdc), address(0));
    }

    function test_RevertWhen_AlreadyClaimed() public {
        _released();
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_NothingToClaim.selector, address(usdc), provider));
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
    }

    function test_RevertWhen_OtherTokenHasNoBalance() public {
        _released();
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_NothingToClaim.selector, stranger, provider));
        vm.prank(provider);
        escrow.claim(stranger, provider);
    }

    /// @dev A blacklisted recipient makes the transfer fail; the balance stays claimable to another address.
    function test_RevertWhen_RecipientBlacklisted() public {
        _released();
        usdc.blacklist(provider);
        vm.expectRevert(bytes("Blacklistable: account is blacklisted"));
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        assertEq(claimableOf(provider), 47.5e6, "still claimable");

        address wallet = makeAddr("provider's other wallet");
        vm.prank(provider);
        escrow.claim(address(usdc), wallet);
        assertEq(usdc.balanceOf(wallet), 47.5e6, "claimed elsewhere");
    }

    function test_RevertWhen_TokenPaused() public {
        _released();
        usdc.pause();
        vm.expectRevert(bytes("Pausable: paused"));
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        usdc.unpause();
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        assertEq(usdc.balanceOf(provider), 47.5e6, "claimed after unpause");
    }

    function test_RevertWhen_TransferReturnsFalse() public {
        EvilToken evil = _releasedIn(EvilToken.Mode.TransferReturnsFalse);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(evil)));
        vm.prank(provider);
        escrow.claim(address(evil), provider);
    }

    function test_RevertWhen_TokenReenters() public {
        EvilToken evil = _releasedIn(EvilToken.Mode.ReenterOnTransfer);
        evil.setReentry(address(escrow), abi.encodeCall(Escrow.claim, (address(evil), provider)));
        vm.expectRevert(Escrow.Escrow_Reentrancy.selector);
        vm.prank(provider);
        escrow.claim(address(evil), provider);
    }

    function test_When_ProviderClaims() public {
        _released();
        vm.expectEmit(address(escrow));
        emit Escrow.Claimed(address(usdc), provider, provider, 47.5e6);
        vm.prank(provider);
        uint256 amount = escrow.claim(address(usdc), provider);
        assertEq(amount, 47.5e6, "returned amount");
        assertEq(usdc.balanceOf(provider), 47.5e6, "received");
        assertEq(claimableOf(provider), 0, "balance zeroed");
        assertEq(usdc.balanceOf(address(escrow)), 2.5e6, "fee still held");
    }

    function test_When_FeeRecipientClaimsToOtherAddress() public {
        _released();
        address treasury = makeAddr("treasury");
        vm.expectEmit(address(escrow));
        emit Escrow.Claimed(address(usdc), feeRecipient, treasury, 2.5e6);
        vm.prank(feeRecipient);
        escrow.claim(address(usdc), treasury);
        assertEq(usdc.balanceOf(treasury), 2.5e6, "treasury received");
    }

    function test_When_PayerClaimsRefund() public {
        Escrow.JobTerms memory terms = defaultTerms();
        jobIn(terms, Escrow.Status.Refunded);
        vm.prank(payer);
        escrow.claim(address(usdc), payer);
        assertEq(usdc.balanceOf(payer), PAYER_FUNDS, "payer made whole");
        assertEq(usdc.balanceOf(address(escrow)), 0, "escrow empty");
    }

    /// @dev Balances are per token: claiming one token leaves another untouched.
    function test_When_BalancesInTwoTokens() public {
        _released();
        EvilToken other = _releasedIn(EvilToken.Mode.Honest);
        vm.prank(provider);
        escrow.claim(address(other), provider);
        assertEq(other.balanceOf(provider), 47.5e6, "other token claimed");
        assertEq(claimableOf(provider), 47.5e6, "usdc untouched");
    }

    function testFuzz_Claim(uint256 amount, uint256 fee, address to) public {
        vm.assume(to != address(0) && to != address(escrow));
        amount = bound(amount, 1, PAYER_FUNDS);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        vm.assume(fee < amount);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        jobIn(terms, Escrow.Status.Released);
        uint256 before = usdc.balanceOf(to);
        vm.prank(provider);
        assertEq(escrow.claim(address(usdc), to), amount - fee, "claimed");
        assertEq(usdc.balanceOf(to), before + amount - fee, "received");
        assertEq(usdc.balanceOf(address(escrow)), fee, "fee left");
    }

    function _released() internal returns (Escrow.JobTerms memory terms) {
        terms = defaultTerms();
        jobIn(terms, Escrow.Status.Released);
    }

    /// @dev A $50 job in an EvilToken (honest while funding), released, then switched to `mode`.
    function _releasedIn(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.mint(payer, 1000e6);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.token = address(evil);
        escrow.fund(terms, "");
        releaseJob(terms);
        evil.setMode(mode);
    }
}
