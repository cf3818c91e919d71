// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";
import {Vm} from "../utils/Vm.sol";
import {console} from "../utils/console.sol";

/// @dev Cheatcodes this benchmark needs that Vm.sol lacks.
interface VmExtra {
    /// @dev Marks `target` and its storage cold, as at the start of a transaction.
    function cool(address target) external;
}

/// @title EscrowGasBenchmark
/// @notice Gas of `fund`, `release` and `claim` with real MockUSDC signatures, printed in two readings:
///         - exec: gas used inside the escrow call (calldata, base cost and refund excluded);
///         - tx: the whole transaction as its receipt reports it: exec + 21,000 + calldata (EIP-2028: 16 gas per
///           non-zero byte, 4 per zero byte) - the refund (EIP-3529: at most a fifth).
///         Run with `--isolate` for exact figures: each call is then its own transaction and `vm.lastCallGas()`
///         returns the receipt's gas (checked equal to anvil `--hardfork cancun` receipts for the same calls). Without
///         it, all calls of a test share one transaction: `vm.cool` makes the escrow's and token's storage cold again
///         but not accounts already touched (the token's proxy and implementation, its signature checker, and the
///         payer, whose code size the checker reads), so the tx figure
///         adds the 2,500 gas (cold 2,600 - warm 100) that each such account costs in a fresh transaction. Both modes
///         print the same numbers.
///         Steady state: the escrow holds other jobs' money and the fee recipient already has a claimable balance, so
///         the only zero-to-non-zero writes are the job slot and the EIP-3009 nonce (fund) and the provider's first
///         credit (release). "First" figures are the cold start: escrow balance zero, fee recipient never credited.
///         Salts are random 32-byte words (the worst case for calldata).
///         Targets (tx reading, steady state): fund <= 120k, release <= 60k, claim <= 50k; only release is met
///         (docs/GAS.md).
contract EscrowGasBenchmark is Authorizations {
    VmExtra internal constant vmExtra = VmExtra(address(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D));

    uint256 internal constant RELEASE_TARGET = 60_000;
    /// @dev The same steady-state `fund` and `claim` measured on Circle's FiatToken v2.2 behind its proxy.
    ///      Their targets (fund <= 120k, claim <= 50k) are not met on the real token: docs/GAS.md says where the gas
    ///      goes. These checks keep MockUSDC's figures within 1.5% of the real ones (fund +0.3%, claim +1.0%
    ///      when written), so the escrow's figures hold on USDC.
    uint256 internal constant REAL_USDC_FUND = 124_897;
    uint256 internal constant REAL_USDC_CLAIM = 51_685;
    uint256 internal constant REAL_TOKEN_TOLERANCE_BPS = 150;
    /// @dev EIP-2929: a cold account access costs 2,600, a warm one 100.
    uint256 internal constant COLD_ACCOUNT_EXTRA = 2500;

    MockUSDC internal usdc;
    Escrow internal escrow;
    address internal feeRecipient;
    address internal provider;
    address internal arbiter;
    address internal payer;
    uint256 internal payerKey;
    uint256 internal jobCount;

    function setUp() public {
        vm.warp(1_750_000_000);
        feeRecipient = makeAddr("feeRecipient");
        provider = makeAddr("provider");
        arbiter = makeAddr("arbiter");
        (payer, payerKey) = makeKey("payer");
        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        escrow = new Escrow(feeRecipient, 500, makeAddr("operator"));
        usdc.mint(payer, 1_000_000e6);
        // The provider's wallet already holds USDC, as a working provider's does.
        usdc.mint(provider, 1e6);
    }

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

    // ------------------------------------------------------------------ helpers

    /// @dev A $50 job with a random-looking salt, as the marketplace makes them.
    function _terms() internal returns (Escrow.JobTerms memory terms) {
        terms = Escrow.JobTerms({
            payer: payer,
            provider: provider,
            token: address(usdc),
            amount: 50e6,
            fee: 2.5e6,
            arbiter: arbiter,
            fundingDeadline: uint64(block.timestamp + 1 hours),
            completionDeadline: uint64(block.timestamp + 7 days),
            reviewWindow: 3 days,
            salt: keccak256(abi.encode("job", ++jobCount))
        });
    }

    function _fundCall(Escrow.JobTerms memory terms) internal view returns (bytes memory) {
        bytes memory signature = signReceive(
            usdc,
            payerKey,
            Authorization({
                from: payer,
                to: address(escrow),
                value: terms.amount,
                validAfter: 0,
                validBefore: terms.fundingDeadline,
                nonce: escrow.jobIdOf(terms)
            })
        );
        return abi.encodeCall(Escrow.fund, (terms, signature));
    }

    function _fund() internal returns (Escrow.JobTerms memory terms) {
        terms = _terms();
        (bool ok,) = address(escrow).call(_fundCall(terms));
        assertTrue(ok, "fund");
    }

    /// @dev Calls the escrow from `sender` as a fresh transaction would see it and returns (exec gas, tx gas).
    ///      `warmAccounts`: accounts the call reads that this test already touched (see the contract notice); used
    ///      only without `--isolate`.
    function _measure(address sender, bytes memory data, uint256 warmAccounts)
        internal
        returns (uint256 exec, uint256 txGas)
    {
        bool isolated = _isolated();
        vmExtra.cool(address(escrow));
        vmExtra.cool(address(usdc));
        vm.prank(sender);
        (bool ok,) = address(escrow).call(data);
        assertTrue(ok, "measured call");
        Vm.Gas memory gas = vm.lastCallGas();
        uint256 intrinsic = 21_000 + _calldataGas(data);
        if (isolated) {
            txGas = gas.gasTotalUsed;
            exec = txGas - intrinsic;
        } else {
            exec = gas.gasTotalUsed + COLD_ACCOUNT_EXTRA * warmAccounts;
            uint256 refund = gas.gasRefunded > 0 ? uint256(int256(gas.gasRefunded)) : 0;
            uint256 gross = intrinsic + exec;
            txGas = gross - (refund < gross / 5 ? refund : gross / 5);
            exec -= gross - txGas; // report exec net of the refund in both modes
        }
    }

    /// @dev Under `--isolate` a call's reported gas includes the 21,000 base; inside one transaction it cannot.
    function _isolated() internal returns (bool) {
        (bool ok,) = address(escrow).call(abi.encodeWithSignature("maxFeeBps()"));
        assertTrue(ok, "probe");
        return vm.lastCallGas().gasTotalUsed >= 21_000;
    }

    function _assertNearRealToken(uint256 measured, uint256 real, string memory what) internal pure {
        uint256 diff = measured > real ? measured - real : real - measured;
        assertLe(diff * 10_000, real * REAL_TOKEN_TOLERANCE_BPS, what);
    }

    function _slice(bytes memory data, uint256 from) internal pure returns (bytes memory out) {
        out = new bytes(data.length - from);
        for (uint256 i; i < out.length; ++i) {
            out[i] = data[from + i];
        }
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 cost) {
        for (uint256 i; i < data.length; ++i) {
            cost += data[i] == 0 ? 4 : 16;
        }
    }
}
