// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

/// @notice Crediting a direct payment whose authorization someone submitted straight to the token.
contract Escrow_CreditTransferred_Test is EscrowBase {
    function test_RevertWhen_CallerNotOperator() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        expectNotOperator(provider);
        vm.prank(provider);
        escrow.creditTransferred(address(usdc), payment);
    }

    function test_RevertWhen_TokenIsZero() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.Token));
        vm.prank(operator);
        escrow.creditTransferred(address(0), payment);
    }

    function test_RevertWhen_AuthorizationNotUsed() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        usdc.mint(address(escrow), payment.amount);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AuthorizationNotUsed.selector, payer, payment.nonce));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    function test_RevertWhen_NoSurplus() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        fundJob(defaultTerms()); // the escrow holds a job's money, none of it surplus
        usdc.cancelAuthorization(payer, payment.nonce, signCancel(usdc, payerKey, payer, payment.nonce));
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InsufficientSurplus.selector, address(usdc), 0, 1e6));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    function test_RevertWhen_CreditedTwice() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AlreadyBooked.selector, payer, payment.nonce));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    /// @dev Another payer's front-run money in the escrow does not let one authorization be credited twice.
    function test_RevertWhen_CreditedTwice_MoreSurplus() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
        usdc.mint(address(escrow), payment.amount); // stands in for a second, unrelated front-run payment
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AlreadyBooked.selector, payer, payment.nonce));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
        assertEq(escrow.claimable(address(usdc), payment.provider), payment.amount - payment.fee, "credited once");
        assertEq(escrow.surplus(address(usdc)), payment.amount, "the other payment's money stays surplus");
    }

    /// @dev An authorization booked as a job cannot also be credited as a direct payment.
    function test_RevertWhen_BookedAsAJob() public {
        Escrow.JobTerms memory terms = defaultTerms();
        frontRunTerms(terms);
        vm.prank(operator);
        escrow.fundTransferred(terms);
        usdc.mint(address(escrow), terms.amount);
        Escrow.DirectPayment memory payment = directPayment(0);
        payment.nonce = terms.salt;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_AlreadyBooked.selector, payer, terms.salt));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    function test_RevertWhen_FeeAboveCap() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        payment.fee = 0.05e6 + 1;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, 0.05e6 + 1, 0.05e6));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    function test_RevertWhen_ProviderIsZero() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        payment.provider = address(0);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_ZeroAddress.selector, Escrow.AddressField.Provider));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    function test_RevertWhen_AmountIsZero() public {
        Escrow.DirectPayment memory payment = directPayment(0);
        frontRun(payment);
        payment.amount = 0;
        payment.fee = 0;
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidAmount.selector, 0));
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payment);
    }

    /// @dev The payMany item fails (authorization used), then the operator credits it from the surplus.
    function test_When_FrontRun() public {
        Escrow.DirectPayment[] memory payments = new Escrow.DirectPayment[](1);
        payments[0] = directPayment(0);
        frontRun(payments[0]);
        vm.prank(operator);
        assertEq(escrow.payMany(address(usdc), payments), 0, "item failed");

        vm.expectEmit(address(escrow));
        emit Escrow.PaymentCredited(address(usdc), payer, payments[0].nonce, provider, 0.95e6, 0.05e6);
        vm.prank(operator);
        escrow.creditTransferred(address(usdc), payments[0]);

        assertEq(claimableOf(provider), 0.95e6, "provider credited");
        assertEq(claimableOf(feeRecipient), 0.05e6, "fee credited");
        assertEq(liabilitiesOf(), 1e6, "liabilities");
        assertEq(escrow.surplus(address(usdc)), 0, "surplus used");
    }
}
