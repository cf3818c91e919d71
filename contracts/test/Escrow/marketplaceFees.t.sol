// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

/// @notice The two fee shapes the marketplace computes off-chain (5%, as the402), run through the contract:
///         - fixed price P: amount = P, fee = 5% of P (the provider gets 95% of P);
///         - quote Q: amount = Q * 1.05, fee = 5% of Q (the provider gets Q). The fee is then 0.05/1.05 = 4.76% of
///           the amount, inside the 500 bps cap.
contract Escrow_MarketplaceFees_Test is EscrowBase {
    function test_When_FixedPrice50Dollars() public {
        Escrow.JobTerms memory terms = _job(50e6, 2.5e6);
        _runAndClaim(terms);
        assertEq(usdc.balanceOf(provider), 47.5e6, "provider gets $47.50");
        assertEq(usdc.balanceOf(feeRecipient), 2.5e6, "platform gets $2.50");
        assertEq(usdc.balanceOf(payer), PAYER_FUNDS - 50e6, "payer paid $50");
    }

    function test_When_Quote45Dollars() public {
        Escrow.JobTerms memory terms = _job(47.25e6, 2.25e6);
        assertLe(terms.fee * 10_000, terms.amount * MAX_FEE_BPS, "2.25 / 47.25 = 4.76% <= 5%");
        _runAndClaim(terms);
        assertEq(usdc.balanceOf(provider), 45e6, "provider gets the $45 quote");
        assertEq(usdc.balanceOf(feeRecipient), 2.25e6, "platform gets $2.25");
        assertEq(usdc.balanceOf(payer), PAYER_FUNDS - 47.25e6, "payer paid $47.25");
    }

    function testFuzz_QuoteShapeWithinCap(uint256 quote) public {
        quote = bound(quote, 1, 1_000_000e6);
        uint256 fee = quote * 5 / 100;
        Escrow.JobTerms memory terms = _job(quote + fee, fee);
        _runAndClaim(terms);
        assertEq(usdc.balanceOf(provider), quote, "provider gets the quote");
    }

    function _job(uint256 amount, uint256 fee) internal view returns (Escrow.JobTerms memory terms) {
        terms = defaultTerms();
        terms.amount = amount;
        terms.fee = fee;
    }

    function _runAndClaim(Escrow.JobTerms memory terms) internal {
        fundJob(terms);
        completeJob(terms);
        vm.warp(block.timestamp + terms.reviewWindow);
        vm.prank(stranger);
        escrow.release(terms);
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        if (terms.fee > 0) {
            vm.prank(feeRecipient);
            escrow.claim(address(usdc), feeRecipient);
        }
    }
}
