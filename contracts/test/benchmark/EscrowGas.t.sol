// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {console} from "../utils/console.sol";
import {EscrowGasBase} from "./EscrowGasBase.sol";

/// @title EscrowGasBenchmark
/// @notice Gas of `fund`, `release` and `claim` with real MockUSDC signatures (readings: `EscrowGasBase`).
///         Steady state: the escrow holds other jobs' money and the fee recipient already has a claimable balance, so
///         the only zero-to-non-zero writes are the job slot and the EIP-3009 nonce (fund) and the provider's first
///         credit (release). "First" figures are the cold start: escrow balance zero, fee recipient never credited
///         (and, for fund, the token's liabilities slot written for the first time).
///         Salts are random 32-byte words (the worst case for calldata).
///         Targets (tx reading, steady state): fund <= 120k, release <= 60k, claim <= 50k; only release is met
///         (docs/GAS.md).
contract EscrowGasBenchmark is EscrowGasBase {
    uint256 internal constant RELEASE_TARGET = 60_000;
    /// @dev The same steady-state `fund` and `claim` on Circle's FiatToken v2.2 behind its proxy. Measured there
    ///      (124,897 and 51,685) with the escrow as it was before its liability accounting; what the escrow's own
    ///      execution gained since (fund +5,834, claim +5,276: the liabilities slot, 5,105 and 5,081, and the
    ///      refactor into shared internal transitions) is measured on MockUSDC and added: the escrow makes the same
    ///      token calls with the same arguments, so the token's share is unchanged. Not re-measured on v2.2 itself.
    ///      Their targets (fund <= 120k, claim <= 50k) are not met on the real token: docs/GAS.md says where the gas
    ///      goes. These checks keep MockUSDC's figures within 1.5% of the real ones (fund +0.3%, claim +1.0%
    ///      when written), so the escrow's figures hold on USDC.
    uint256 internal constant REAL_USDC_FUND = 124_897 + 5834;
    uint256 internal constant REAL_USDC_CLAIM = 51_685 + 5276;
    uint256 internal constant REAL_TOKEN_TOLERANCE_BPS = 150;

    function test_Gas_Escrow_Fund() public {
        // Signing read the token (proxy and implementation), so both are warm; the signature checker and the payer
        // are cold for the first fund, warm (in a shared transaction) for the second.
        (uint256 firstExec, uint256 firstTx) = _measure(address(this), _fundCall(_terms()), 2);
        Escrow.JobTerms memory terms = _terms();
        (uint256 exec, uint256 txGas) = _measure(address(this), _fundCall(terms), 4);
        console.log("fund, first job (escrow balance 0): exec, tx", firstExec, firstTx);
        console.log("fund, steady state: exec, tx", exec, txGas);
        assertEq(uint256(escrow.jobState(escrow.jobIdOf(terms)).status), uint256(Escrow.Status.Funded), "funded");
        _assertNearRealToken(txGas, REAL_USDC_FUND, "fund tx gas vs FiatToken v2.2");
    }

    function test_Gas_Escrow_Release() public {
        Escrow.JobTerms memory first = _fund();
        (uint256 firstExec, uint256 firstTx) = _measure(payer, abi.encodeCall(Escrow.release, (first)), 0);
        Escrow.JobTerms memory second = _fund();
        _fund(); // keeps money in the escrow after the provider claims
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
        (uint256 exec, uint256 txGas) = _measure(payer, abi.encodeCall(Escrow.release, (second)), 0);
        Escrow.JobTerms memory third = _fund();
        (uint256 warmExec, uint256 warmTx) = _measure(payer, abi.encodeCall(Escrow.release, (third)), 0);
        console.log("release, first (fee recipient never credited): exec, tx", firstExec, firstTx);
        console.log("release, steady state (provider balance 0): exec, tx", exec, txGas);
        console.log("release, provider already has a balance: exec, tx", warmExec, warmTx);
        assertEq(escrow.claimable(address(usdc), provider), 2 * 47.5e6, "credited");
        assertLe(txGas, RELEASE_TARGET, "release tx gas");
    }

    function test_Gas_Escrow_Claim() public {
        Escrow.JobTerms memory first = _fund();
        _fund(); // other money stays in the escrow
        vm.prank(payer);
        escrow.release(first);
        (uint256 exec, uint256 txGas) = _measure(provider, abi.encodeCall(Escrow.claim, (address(usdc), provider)), 2);
        Escrow.JobTerms memory second = _fund();
        vm.prank(payer);
        escrow.release(second);
        address fresh = makeAddr("fresh wallet");
        (uint256 freshExec, uint256 freshTx) =
            _measure(provider, abi.encodeCall(Escrow.claim, (address(usdc), fresh)), 2);
        console.log("claim to a wallet holding USDC: exec, tx", exec, txGas);
        console.log("claim to a wallet with no USDC: exec, tx", freshExec, freshTx);
        assertEq(usdc.balanceOf(fresh), 47.5e6, "claimed");
        _assertNearRealToken(txGas, REAL_USDC_CLAIM, "claim tx gas vs FiatToken v2.2");
    }

    /// @dev No target: the other transitions, for the record.
    function test_Gas_Escrow_OtherTransitions() public {
        _fund(); // steady state: the escrow holds money
        Escrow.JobTerms memory released = _fund();
        vm.prank(payer);
        escrow.release(released); // and the fee recipient has a balance
        Escrow.JobTerms memory a = _fund();
        (, uint256 completeTx) = _measure(provider, abi.encodeCall(Escrow.markCompleted, (a)), 0);
        (, uint256 disputeTx) = _measure(payer, abi.encodeCall(Escrow.dispute, (a)), 0);
        (, uint256 resolveTx) = _measure(arbiter, abi.encodeCall(Escrow.resolve, (a, 6000)), 0);
        Escrow.JobTerms memory b = _fund();
        (, uint256 refundTx) = _measure(provider, abi.encodeCall(Escrow.refund, (b)), 0);
        console.log("markCompleted, dispute: tx", completeTx, disputeTx);
        console.log("resolve (60/40, payer balance 0), refund (payer has a balance): tx", resolveTx, refundTx);
    }

    /// @dev No target: `fundMany` of 10 steady-state items, whole transaction and per item.
    function test_Gas_Escrow_FundMany() public {
        _fund(); // steady state
        uint256 count = 10;
        Escrow.JobTerms[] memory terms = new Escrow.JobTerms[](count);
        bytes[] memory signatures = new bytes[](count);
        for (uint256 i; i < count; ++i) {
            terms[i] = _terms();
            bytes memory call_ = _fundCall(terms[i]);
            (, signatures[i]) = abi.decode(_slice(call_, 4), (Escrow.JobTerms, bytes));
        }
        (, uint256 txGas) = _measure(address(this), abi.encodeCall(Escrow.fundMany, (terms, signatures)), 4);
        console.log("fundMany of 10: tx, per item", txGas, txGas / count);
        assertEq(usdc.balanceOf(address(escrow)), 11 * 50e6, "all funded");
    }

    function _assertNearRealToken(uint256 measured, uint256 real, string memory what) internal pure {
        uint256 diff = measured > real ? measured - real : real - measured;
        assertLe(diff * 10_000, real * REAL_TOKEN_TOLERANCE_BPS, what);
    }
}
