// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";
import {Vm} from "../utils/Vm.sol";

/// @dev Cheatcodes the escrow benchmarks need that Vm.sol lacks.
interface VmExtra {
    /// @dev Marks `target` and its storage cold, as at the start of a transaction.
    function cool(address target) external;
}

/// @title EscrowGasBase
/// @notice The escrow benchmarks' fixture and their one way of measuring, in two readings:
///         - exec: gas used inside the escrow call (calldata, base cost and refund excluded);
///         - tx: the whole transaction as its receipt reports it: exec + 21,000 + calldata (EIP-2028: 16 gas per
///           non-zero byte, 4 per zero byte) - the refund (EIP-3529: at most a fifth).
///         Run with `--isolate` for exact figures: each call is then its own transaction and `vm.lastCallGas()`
///         returns the receipt's gas (checked equal to anvil `--hardfork cancun` receipts for the same calls). Without
///         it, all calls of a test share one transaction: `vm.cool` makes the escrow's and token's storage cold again
///         but not accounts already touched (the token's proxy and implementation, its signature checker, and the
///         payer, whose code size the checker reads), so the tx figure adds the 2,500 gas (cold 2,600 - warm 100)
///         that each such account costs in a fresh transaction. Both modes print the same numbers.
abstract contract EscrowGasBase is Authorizations {
    VmExtra internal constant vmExtra = VmExtra(address(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D));

    /// @dev EIP-2929: a cold account access costs 2,600, a warm one 100.
    uint256 internal constant COLD_ACCOUNT_EXTRA = 2500;

    MockUSDC internal usdc;
    Escrow internal escrow;
    address internal feeRecipient;
    address internal provider;
    address internal arbiter;
    address internal operator;
    address internal payer;
    uint256 internal payerKey;
    uint256 internal jobCount;

    function setUp() public {
        vm.warp(1_750_000_000);
        feeRecipient = makeAddr("feeRecipient");
        provider = makeAddr("provider");
        arbiter = makeAddr("arbiter");
        operator = makeAddr("operator");
        (payer, payerKey) = makeKey("payer");
        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        escrow = new Escrow(feeRecipient, 500, operator);
        usdc.mint(payer, 1_000_000e6);
        // The provider's wallet already holds USDC, as a working provider's does.
        usdc.mint(provider, 1e6);
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

    /// @dev `count` fresh payers (never touched: each costs its cold account access, as in a real batch), each
    ///      holding $1,000.
    function _freshPayers(uint256 count) internal returns (address[] memory payers, uint256[] memory keys) {
        payers = new address[](count);
        keys = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            (payers[i], keys[i]) = makeKey(string.concat("bench payer ", vm.toString(i)));
            usdc.mint(payers[i], 1000e6);
        }
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
