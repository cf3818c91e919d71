// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {console} from "../utils/console.sol";
import {EscrowGasBase} from "./EscrowGasBase.sol";

/// @title EscrowEntriesGasBenchmark
/// @notice Gas of the operator and relayer entries (readings: `EscrowGasBase`), in the same steady state as
///         `EscrowGasBenchmark`: the escrow already holds money (its liabilities slot is non-zero) and the fee
///         recipient has a claimable balance. Batches pay from fresh payers (each a cold account with a cold balance
///         and a fresh nonce, as x402 purchases from many agents are); per-item figures are the whole transaction
///         divided by N. No targets: the figures are for docs/GAS.md.
contract EscrowEntriesGasBenchmark is EscrowGasBase {
    /// @dev The x402 window a stock client signs.
    uint256 internal constant VALID_FOR = 300;

    function test_Gas_Escrow_FundWithTransfer() public {
        _steadyState();
        Escrow.TransferFunding memory item = _transferFunding(_terms(), payerKey);
        // Signing read the token (proxy and implementation); the earlier funds touched the checker and the payer.
        (uint256 exec, uint256 txGas) = _measure(
            operator,
            abi.encodeCall(Escrow.fundWithTransfer, (item.terms, item.validAfter, item.validBefore, item.signature)),
            4
        );
        console.log("fundWithTransfer, steady state: exec, tx", exec, txGas);
        assertEq(escrow.liabilities(address(usdc)), 2 * 50e6 + 2.5e6, "funded");
    }

    function test_Gas_Escrow_FundManyWithTransfer_N1() public {
        _fundManyWithTransfer(1);
    }

    function test_Gas_Escrow_FundManyWithTransfer_N10() public {
        _fundManyWithTransfer(10);
    }

    function test_Gas_Escrow_FundManyWithTransfer_N100() public {
        _fundManyWithTransfer(100);
    }

    /// @dev 100 data_api purchases from 100 payers to one provider whose claimable balance starts at zero.
    function test_Gas_Escrow_PayMany_N100() public {
        _steadyState();
        uint256 n = 100;
        (address[] memory payers, uint256[] memory keys) = _freshPayers(n);
        Escrow.DirectPayment[] memory payments = new Escrow.DirectPayment[](n);
        for (uint256 i; i < n; ++i) {
            payments[i] = Escrow.DirectPayment({
                payer: payers[i],
                provider: provider,
                amount: 1e6,
                fee: 0.05e6,
                validAfter: block.timestamp - VALID_FOR,
                validBefore: block.timestamp + VALID_FOR,
                nonce: keccak256(abi.encode("payment", i)),
                signature: ""
            });
            payments[i].signature = _signTransfer(payments[i].payer, 1e6, payments[i].nonce, keys[i]);
        }
        (, uint256 txGas) = _measure(operator, abi.encodeCall(Escrow.payMany, (address(usdc), payments)), 3);
        console.log("payMany of 100: tx, per payment", txGas, txGas / n);
        assertEq(escrow.claimable(address(usdc), provider), n * 0.95e6, "all credited");
    }

    /// @dev The steady-state `release` of EscrowGasBenchmark, relayed with the payer's signature.
    function test_Gas_Escrow_ReleaseWithSig() public {
        Escrow.JobTerms memory terms = _steadyState();
        bytes32 jobId = escrow.jobIdOf(terms);
        uint256 deadline = block.timestamp + 1 days;
        bytes memory signature = _signDigest(payerKey, escrow.releaseDigest(jobId, deadline));
        // The payer's account is read (EXTCODESIZE, to choose ECDSA); earlier funds warmed it.
        (uint256 exec, uint256 txGas) =
            _measure(address(this), abi.encodeCall(Escrow.releaseWithSig, (terms, deadline, signature)), 1);
        console.log("releaseWithSig, steady state (provider balance 0): exec, tx", exec, txGas);
        assertEq(uint256(escrow.jobState(jobId).status), uint256(Escrow.Status.Released), "released");
    }

    /// @dev Ten steps of one kind on ten jobs of one provider: Complete, then ReleaseWithSig.
    function test_Gas_Escrow_StepMany() public {
        _steadyState();
        uint256 n = 10;
        Escrow.Step[] memory steps = new Escrow.Step[](n);
        for (uint256 i; i < n; ++i) {
            steps[i] = Escrow.Step({
                kind: Escrow.StepKind.Complete, terms: _fund(), deadline: 0, signature: "", providerBps: 0
            });
        }
        (, uint256 completeTx) = _measure(operator, abi.encodeCall(Escrow.stepMany, (steps)), 0);
        uint256 deadline = block.timestamp + 1 days;
        for (uint256 i; i < n; ++i) {
            steps[i].kind = Escrow.StepKind.ReleaseWithSig;
            steps[i].deadline = deadline;
            steps[i].signature = _signDigest(payerKey, escrow.releaseDigest(escrow.jobIdOf(steps[i].terms), deadline));
        }
        (, uint256 releaseTx) = _measure(operator, abi.encodeCall(Escrow.stepMany, (steps)), 1);
        console.log("stepMany of 10 Complete: tx, per step", completeTx, completeTx / n);
        console.log("stepMany of 10 ReleaseWithSig: tx, per step", releaseTx, releaseTx / n);
        assertEq(escrow.claimable(address(usdc), provider), n * 47.5e6, "all released");
    }

    /// @dev The steady-state `claim` of EscrowGasBenchmark, sent by a relayer: paid to the provider itself.
    function test_Gas_Escrow_ClaimFor() public {
        Escrow.JobTerms memory first = _fund();
        _fund(); // other money stays in the escrow
        vm.prank(payer);
        escrow.release(first);
        (uint256 exec, uint256 txGas) =
            _measure(makeAddr("relayer"), abi.encodeCall(Escrow.claimFor, (address(usdc), provider)), 2);
        console.log("claimFor to a wallet holding USDC: exec, tx", exec, txGas);
        assertEq(usdc.balanceOf(provider), 1e6 + 47.5e6, "claimed");
    }

    /// @dev Ten providers, each holding USDC and a claimable balance, paid in one batch.
    function test_Gas_Escrow_ClaimMany() public {
        uint256 n = 10;
        address[] memory accounts = new address[](n);
        for (uint256 i; i < n; ++i) {
            accounts[i] = makeAddr(string.concat("bench provider ", vm.toString(i)));
            usdc.mint(accounts[i], 1e6);
            Escrow.JobTerms memory terms = _terms();
            terms.provider = accounts[i];
            (bool ok,) = address(escrow).call(_fundCall(terms));
            assertTrue(ok, "fund");
            vm.prank(payer);
            escrow.release(terms);
        }
        _fund(); // other money stays in the escrow
        (, uint256 txGas) =
            _measure(makeAddr("relayer"), abi.encodeCall(Escrow.claimMany, (address(usdc), accounts)), 2);
        console.log("claimMany of 10: tx, per account", txGas, txGas / n);
        assertEq(usdc.balanceOf(accounts[n - 1]), 1e6 + 47.5e6, "claimed");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev The steady state of the release benchmark: the escrow holds a job's money, the fee recipient has a
    ///      balance, the provider claimed its own (balance 0). Returns a funded job.
    function _steadyState() internal returns (Escrow.JobTerms memory terms) {
        Escrow.JobTerms memory released = _fund();
        terms = _fund();
        vm.prank(payer);
        escrow.release(released);
        vm.prank(provider);
        escrow.claim(address(usdc), provider);
    }

    function _fundManyWithTransfer(uint256 n) internal {
        _steadyState();
        (address[] memory payers, uint256[] memory keys) = _freshPayers(n);
        Escrow.TransferFunding[] memory items = new Escrow.TransferFunding[](n);
        for (uint256 i; i < n; ++i) {
            Escrow.JobTerms memory terms = _terms();
            terms.payer = payers[i];
            items[i] = _transferFunding(terms, keys[i]);
        }
        // Signing warmed the token's proxy and implementation, the steady-state funds the checker.
        (, uint256 txGas) = _measure(operator, abi.encodeCall(Escrow.fundManyWithTransfer, (items)), 3);
        console.log("fundManyWithTransfer, N", n);
        console.log("  tx, per item", txGas, txGas / n);
        assertEq(escrow.liabilities(address(usdc)), (n + 1) * 50e6 + 2.5e6, "all funded");
    }

    function _transferFunding(Escrow.JobTerms memory terms, uint256 key)
        internal
        view
        returns (Escrow.TransferFunding memory)
    {
        return Escrow.TransferFunding({
            terms: terms,
            validAfter: block.timestamp - VALID_FOR,
            validBefore: block.timestamp + VALID_FOR,
            signature: _signTransfer(terms.payer, terms.amount, terms.salt, key)
        });
    }

    function _signTransfer(address from, uint256 value, bytes32 nonce, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        return signTransfer(
            usdc,
            key,
            Authorization({
                from: from,
                to: address(escrow),
                value: value,
                validAfter: block.timestamp - VALID_FOR,
                validBefore: block.timestamp + VALID_FOR,
                nonce: nonce
            })
        );
    }

    function _signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
