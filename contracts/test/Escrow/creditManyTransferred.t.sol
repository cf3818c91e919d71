// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

/// @notice Crediting many payments whose authorizations someone submitted straight to the token, each on its own.
contract Escrow_CreditManyTransferred_Test is EscrowBase {
    function test_RevertWhen_CallerNotOperator() public {
        Escrow.DirectPayment[] memory payments = _one(directPayment(0));
        frontRun(payments[0]);
        expectNotOperator(provider);
        vm.prank(provider);
        escrow.creditManyTransferred(address(usdc), payments);
    }

    function test_RevertWhen_TokenIsZero() public {
        Escrow.DirectPayment[] memory payments = _one(directPayment(0));
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.Token));
        vm.prank(operator);
        escrow.creditManyTransferred(address(0), payments);
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, operator));
        vm.prank(operator);
        escrow.creditTransferredItem(address(usdc), payment);
    }

    function test_When_Empty() public {
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(usdc), 0, 0);
        vm.prank(operator);
        assertEq(escrow.creditManyTransferred(address(usdc), new Escrow.DirectPayment[](0)), 0, "none");
    }

    /// @dev How Clearing gives a front-run purchase's money back: credited to the payer itself, with no fee, then
    ///      claimed to its wallet.
    function test_When_GivenBackToThePayer() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        (payment.provider, payment.fee) = (payer, 0);
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCredited(address(usdc), payer, payment.nonce, payer, payment.amount, 0);
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(usdc), 1, 1);
        vm.prank(operator);
        assertEq(escrow.creditManyTransferred(address(usdc), _one(payment)), 1, "credited");
        assertEq(claimableOf(payer), payment.amount, "the payer's own money, claimable");
        assertEq(escrow.surplus(address(usdc)), 0, "no surplus left");
        uint256 before = usdc.balanceOf(payer);
        escrow.claimFor(address(usdc), payer);
        assertEq(usdc.balanceOf(payer), before + payment.amount, "back in the payer's wallet");
    }

    /// @dev A payment never used, one credited twice in the batch and one with a fee above the cap fail alone.
    function test_When_SomeItemsRefused() public {
        Escrow.DirectPayment memory used = directPayment(0);
        Escrow.DirectPayment memory unused = directPayment(1);
        frontRun(used);
        Escrow.DirectPayment[] memory payments = new Escrow.DirectPayment[](3);
        (payments[0], payments[1], payments[2]) = (unused, used, used);
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(
            payer,
            unused.nonce,
            abi.encodeWithSelector(Escrow.Escrow_AuthorizationNotUsed.selector, payer, unused.nonce)
        );
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCredited(address(usdc), payer, used.nonce, provider, 0.95e6, 0.05e6);
        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCreditFailed(
            payer, used.nonce, abi.encodeWithSelector(Escrow.Escrow_AlreadyBooked.selector, payer, used.nonce)
        );
        vm.expectEmit(address(escrow));
        emit Escrow.PayBatchSettled(address(usdc), 3, 1);
        vm.prank(operator);
        assertEq(escrow.creditManyTransferred(address(usdc), payments), 1, "one credited");
        assertEq(claimableOf(provider), 0.95e6, "credited once");
        assertEq(escrow.surplus(address(usdc)), 0, "exactly the front-run money");
    }

    /// @dev Whatever the operator claims, the batch credits at most the surplus that front-running left.
    function testFuzz_CreditManyTransferred_OnlySurplus(uint256 claimed) public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        claimed = bound(claimed, 1, 10 * payment.amount);
        (payment.amount, payment.provider, payment.fee) = (claimed, payer, 0);
        vm.prank(operator);
        uint256 credited = escrow.creditManyTransferred(address(usdc), _one(payment));
        assertEq(credited, claimed <= directPayment(0).amount ? 1 : 0, "credited iff covered by surplus");
        assertLe(escrow.liabilities(address(usdc)), usdc.balanceOf(address(escrow)), "never owes more than it holds");
    }

    function _one(Escrow.DirectPayment memory payment) internal pure returns (Escrow.DirectPayment[] memory payments) {
        payments = new Escrow.DirectPayment[](1);
        payments[0] = payment;
    }
}
