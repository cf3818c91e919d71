// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_ClaimFor_Test is EscrowBase {
    function test_RevertWhen_NothingToClaim() public {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_NothingToClaim.selector, address(usdc), provider));
        vm.prank(stranger);
        escrow.claimFor(address(usdc), provider);
    }

    function test_RevertWhen_AlreadyClaimed() public {
        _released();
        escrow.claimFor(address(usdc), provider);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_NothingToClaim.selector, address(usdc), provider));
        escrow.claimFor(address(usdc), provider);
    }

    /// @dev A blacklisted account cannot be paid to itself; only the account can send its balance elsewhere.
    function test_RevertWhen_AccountBlacklisted() public {
        _released();
        usdc.blacklist(provider);
        vm.expectRevert(bytes("Blacklistable: account is blacklisted"));
        escrow.claimFor(address(usdc), provider);
        assertEq(claimableOf(provider), 47.5e6, "still claimable");
        assertEq(liabilitiesOf(), 50e6, "still owed");

        address wallet = makeAddr("provider's other wallet");
        vm.prank(provider);
        escrow.claim(address(usdc), wallet);
        assertEq(usdc.balanceOf(wallet), 47.5e6, "claimed elsewhere by the account itself");
    }

    function test_RevertWhen_TokenPaused() public {
        _released();
        usdc.pause();
        vm.expectRevert(bytes("Pausable: paused"));
        escrow.claimFor(address(usdc), provider);
    }

    function test_When_AnyoneClaimsForProvider() public {
        _released();
        vm.expectEmit(address(escrow));
        emit Escrow.Claimed(address(usdc), provider, provider, 47.5e6);
        vm.prank(stranger);
        uint256 amount = escrow.claimFor(address(usdc), provider);
        assertEq(amount, 47.5e6, "returned amount");
        assertEq(usdc.balanceOf(provider), 47.5e6, "paid to the account itself");
        assertEq(usdc.balanceOf(stranger), 0, "never to the caller");
        assertEq(claimableOf(provider), 0, "balance zeroed");
        assertEq(liabilitiesOf(), 2.5e6, "liabilities: the fee is still owed");
    }

    function test_When_AccountClaimsForItself() public {
        _released();
        vm.prank(feeRecipient);
        escrow.claimFor(address(usdc), feeRecipient);
        assertEq(usdc.balanceOf(feeRecipient), 2.5e6, "fee paid");
    }

    function testFuzz_ClaimFor(uint256 amount, uint256 fee, address caller) public {
        amount = bound(amount, 1, PAYER_FUNDS);
        fee = bound(fee, 0, amount * MAX_FEE_BPS / 10_000);
        vm.assume(fee < amount);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
        jobIn(terms, Escrow.Status.Released);
        vm.prank(caller);
        assertEq(escrow.claimFor(address(usdc), provider), amount - fee, "claimed");
        assertEq(usdc.balanceOf(provider), amount - fee, "received");
        assertEq(liabilitiesOf(), fee, "liabilities");
        assertEq(usdc.balanceOf(address(escrow)), liabilitiesOf(), "balance == liabilities");
    }

    function _released() internal returns (Escrow.JobTerms memory terms) {
        terms = defaultTerms();
        jobIn(terms, Escrow.Status.Released);
    }
}
