// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {IERC3009} from "../../src/interfaces/IERC3009.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Test} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";
import {console} from "../utils/console.sol";

/// @title BatchSettlerGasBase
/// @notice Builds realistic batches for the gas benchmark and the anvil cross-check: every payment has a fresh payer
///         (who holds a balance) paying a distinct payTo (who already holds tokens) with a fresh nonce.
abstract contract BatchSettlerGasBase is Test {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant MAX_N = 100;
    uint256 internal constant VALUE = 1_250_000; // 1.25 USDC, a typical x402 price

    function benchKey(uint256 i) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("bench-payer", i))) % (SECP256K1_N - 1) + 1;
    }

    /// @dev The payee of payment `i`: one merchant for all (`shared`, an x402 resource server's batch) or a
    ///      distinct one per payment (the worst case: every payee's balance slot is cold).
    function benchPayTo(uint256 i, bool shared) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("bench-payTo", shared ? type(uint256).max : i)))));
    }

    /// @dev Mints a balance to each of the first `n` payers and payTos, and to the shared payTo.
    function fund(MockUSDC token, uint256 n) internal {
        token.mint(benchPayTo(0, true), 5e6);
        for (uint256 i; i < n; ++i) {
            token.mint(vm.addr(benchKey(i)), 100e6);
            token.mint(benchPayTo(i, false), 5e6);
        }
    }

    /// @dev Payment `i`, signed against `domainSeparator` without calling the token (so nothing gets warmed).
    function benchPayment(bytes32 domainSeparator, uint256 i, uint256 nowTs, bool shared)
        internal
        pure
        returns (BatchSettler.Payment memory p)
    {
        uint256 key = benchKey(i);
        p.from = vm.addr(key);
        p.to = benchPayTo(i, shared);
        p.value = VALUE;
        p.validAfter = nowTs - 60;
        p.validBefore = nowTs + 3600;
        p.nonce = keccak256(abi.encode("bench-nonce", i, nowTs));
        bytes32 structHash = keccak256(
            abi.encode(
                0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267,
                p.from,
                p.to,
                p.value,
                p.validAfter,
                p.validBefore,
                p.nonce
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash)));
        p.signature = abi.encodePacked(r, s, v);
    }

    /// @dev Payments `first` .. `first + n - 1`.
    function benchBatch(bytes32 domainSeparator, uint256 first, uint256 n, uint256 nowTs, bool shared)
        internal
        pure
        returns (BatchSettler.Payment[] memory ps)
    {
        ps = new BatchSettler.Payment[](n);
        for (uint256 i; i < n; ++i) {
            ps[i] = benchPayment(domainSeparator, first + i, nowTs, shared);
        }
    }

    /// @dev Intrinsic gas of a call transaction carrying `data`: 21,000 + 16 per nonzero byte + 4 per zero byte
    ///      (EIP-2028). EIP-7623's floor (10/40 per byte) does not bind: execution is far larger than calldata.
    function intrinsicGas(bytes memory data) internal pure returns (uint256 gas) {
        gas = 21_000;
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }
}

/// @title BatchSettlerGasTest
/// @notice Whole-transaction gas of settling N payments through BatchSettler against one standalone
///         `transferWithAuthorization`. Execution gas comes from `vm.lastCallGas()` (the callee frame, as in a
///         transaction); intrinsic gas is computed from the exact calldata. Everything the call touches is cold, as
///         in a fresh transaction: balances are minted in `setUp` and signatures are made without calling the token.
contract BatchSettlerGasTest is BatchSettlerGasBase {
    /// @dev Circle's FiatToken v2.2 built from its source with its settings, behind its proxy, on anvil:
    ///      a standalone `transferWithAuthorization` and the per-payment gas of this benchmark's N = 100 batch.
    ///      MockUSDC must stay within 1% of both (`REAL_TOKEN_TOLERANCE_BPS`), so figures measured on it hold on USDC.
    ///      The per-payment target (<= 49,000 at N = 100) is not met: docs/GAS.md says where each item's gas goes.
    uint256 internal constant REAL_USDC_STANDALONE = 86_204;
    uint256 internal constant REAL_USDC_PER_PAYMENT_N100 = 50_910;
    uint256 internal constant REAL_TOKEN_TOLERANCE_BPS = 100;
    uint256 internal constant NOW = 1_750_000_000;

    MockUSDC internal token;
    BatchSettler internal settler;
    bytes32 internal domainSeparator;

    function setUp() public {
        vm.warp(NOW);
        token = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        settler = new BatchSettler();
        domainSeparator = token.DOMAIN_SEPARATOR();
        fund(token, MAX_N);
    }

    function test_Gas_Standalone_TransferWithAuthorization() public {
        BatchSettler.Payment memory p = benchPayment(domainSeparator, 0, NOW, true);
        bytes memory data = abi.encodeCall(
            IERC3009.transferWithAuthorization,
            (p.from, p.to, p.value, p.validAfter, p.validBefore, p.nonce, p.signature)
        );
        (bool ok,) = address(token).call(data);
        assertTrue(ok, "transfer");
        uint256 execution = vm.lastCallGas().gasTotalUsed;
        uint256 intrinsic = intrinsicGas(data);
        console.log("standalone transferWithAuthorization");
        console.log("  execution, intrinsic (21k + calldata)", execution, intrinsic);
        console.log("  total tx gas", execution + intrinsic);
        assertWithinOnePercent(execution + intrinsic, REAL_USDC_STANDALONE, "standalone vs FiatToken v2.2");
    }

    function test_Gas_BatchSettler_N1() public {
        measure(1, true);
    }

    function test_Gas_BatchSettler_N10() public {
        measure(10, true);
    }

    function test_Gas_BatchSettler_N50() public {
        measure(50, true);
    }

    function test_Gas_BatchSettler_N100() public {
        uint256 perPayment = measure(100, true);
        assertWithinOnePercent(perPayment, REAL_USDC_PER_PAYMENT_N100, "per payment at N = 100 vs FiatToken v2.2");
    }

    /// @dev The worst case: every payment to a different payee, so each payee's balance slot is cold (+2,000 gas).
    function test_Gas_BatchSettler_N100_DistinctPayTo() public {
        measure(100, false);
    }

    function assertWithinOnePercent(uint256 measured, uint256 real, string memory what) internal pure {
        uint256 diff = measured > real ? measured - real : real - measured;
        assertLe(diff * 10_000, real * REAL_TOKEN_TOLERANCE_BPS, what);
    }

    function measure(uint256 n, bool shared) internal returns (uint256 perPayment) {
        BatchSettler.Payment[] memory ps = benchBatch(domainSeparator, 0, n, NOW, shared);
        bytes memory data = abi.encodeCall(BatchSettler.settle, (address(token), ps));
        (bool ok, bytes memory ret) = address(settler).call(data);
        assertTrue(ok, "settle");
        assertEq(abi.decode(ret, (uint256)), n, "all settled");
        uint256 execution = vm.lastCallGas().gasTotalUsed;
        uint256 intrinsic = intrinsicGas(data);
        uint256 total = execution + intrinsic;
        perPayment = total / n;
        console.log(shared ? "BatchSettler, one payTo, N" : "BatchSettler, a payTo per payment, N", n);
        console.log("  execution, intrinsic (21k + calldata)", execution, intrinsic);
        console.log("  total tx gas, per payment", total, perPayment);
    }
}

/// @title BatchSettlerGasScript
/// @notice Cross-checks the benchmark on a real node: deploys MockUSDC and BatchSettler, funds 100 payers and payTos,
///         then sends one standalone `transferWithAuthorization` and two 100-payment `settle`s (one payTo; a payTo
///         per payment). Compare the receipts' gasUsed with the test's figures:
///         `forge script contracts/test/benchmark/BatchSettlerGas.t.sol:BatchSettlerGasScript --rpc-url <anvil>
///         --broadcast --private-key <funded key>`.
contract BatchSettlerGasScript is BatchSettlerGasBase {
    function run() external {
        vm.startBroadcast();
        MockUSDC token = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        BatchSettler settler = new BatchSettler();
        // Payers 0..99 pay the shared payTo, 100..199 a payTo each, 200 pays standalone.
        address[] memory accounts = new address[](2 * MAX_N + 1 + MAX_N + 1);
        for (uint256 i; i <= 2 * MAX_N; ++i) {
            accounts[i] = vm.addr(benchKey(i));
        }
        for (uint256 i; i < MAX_N; ++i) {
            accounts[2 * MAX_N + 1 + i] = benchPayTo(MAX_N + i, false);
        }
        accounts[accounts.length - 1] = benchPayTo(0, true);
        new BatchSettlerGasFunder(token, accounts);
        bytes32 domainSeparator = token.DOMAIN_SEPARATOR();
        BatchSettler.Payment memory p = benchPayment(domainSeparator, 2 * MAX_N, block.timestamp, true);
        IERC3009(address(token))
            .transferWithAuthorization(p.from, p.to, p.value, p.validAfter, p.validBefore, p.nonce, p.signature);
        settler.settle(address(token), benchBatch(domainSeparator, 0, MAX_N, block.timestamp, true));
        settler.settle(address(token), benchBatch(domainSeparator, MAX_N, MAX_N, block.timestamp, false));
        vm.stopBroadcast();
    }
}

/// @title BatchSettlerGasFunder
/// @notice Funds the benchmark's payers and payTos in one transaction (MockUSDC's mint is open). Uses no
///         cheatcodes: it runs on a real node.
contract BatchSettlerGasFunder {
    constructor(MockUSDC token, address[] memory accounts) {
        for (uint256 i; i < accounts.length; ++i) {
            token.mint(accounts[i], 100e6);
        }
    }
}
