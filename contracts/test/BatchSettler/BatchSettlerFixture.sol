// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";

/// @title BatchSettlerFixture
/// @notice Shared setup for BatchSettler tests: a MockUSDC named like Base's USDC, a settler, funded payers and
///         helpers that sign payments.
abstract contract BatchSettlerFixture is Authorizations {
    /// @dev secp256k1 group order; private keys must lie in [1, N).
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant NOW = 1_750_000_000;
    uint256 internal constant PAYER_BALANCE = 1000e6;

    MockUSDC internal token;
    BatchSettler internal settler;
    address internal payTo;

    function setUp() public virtual {
        vm.warp(NOW);
        token = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        settler = new BatchSettler();
        payTo = makeAddr("payTo");
        token.mint(payTo, 1e6);
    }

    /// @dev The `i`-th test payer's key and address (deterministic, distinct per `i`).
    function payerKey(uint256 i) internal pure returns (uint256 key) {
        key = uint256(keccak256(abi.encode("batch-settler-payer", i))) % (SECP256K1_N - 1) + 1;
    }

    function payerAddr(uint256 i) internal pure returns (address) {
        return vm.addr(payerKey(i));
    }

    /// @dev Mints `PAYER_BALANCE` to payer `i` and returns its address.
    function fundPayer(uint256 i) internal returns (address payer) {
        payer = payerAddr(i);
        token.mint(payer, PAYER_BALANCE);
    }

    /// @dev A payment by `key` to `to`, valid now for an hour, signed for `token`.
    function payment(uint256 key, address to, uint256 value, bytes32 nonce)
        internal
        view
        returns (BatchSettler.Payment memory)
    {
        return paymentWindow(key, to, value, block.timestamp - 1, block.timestamp + 1 hours, nonce);
    }

    /// @dev A payment by `key` with an explicit window, signed for `token`.
    function paymentWindow(
        uint256 key,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal view returns (BatchSettler.Payment memory p) {
        Authorization memory auth = Authorization(vm.addr(key), to, value, validAfter, validBefore, nonce);
        p = BatchSettler.Payment(auth.from, to, value, validAfter, validBefore, nonce, signTransfer(token, key, auth));
    }

    function one(BatchSettler.Payment memory p) internal pure returns (BatchSettler.Payment[] memory ps) {
        ps = new BatchSettler.Payment[](1);
        ps[0] = p;
    }

    /// @dev ABI encoding of `Error(string)`, the revert data of `require(cond, reason)`.
    function errorString(string memory reason) internal pure returns (bytes memory) {
        return abi.encodeWithSignature("Error(string)", reason);
    }

    function expectSettled(BatchSettler.Payment memory p) internal {
        expectSettled(address(token), p);
    }

    function expectSettled(address token_, BatchSettler.Payment memory p) internal {
        vm.expectEmit(address(settler));
        emit BatchSettler.PaymentSettled(p.from, p.nonce, token_, p.to, p.value);
    }

    function expectFailed(BatchSettler.Payment memory p, bytes memory reason) internal {
        vm.expectEmit(address(settler));
        emit BatchSettler.PaymentFailed(p.from, p.nonce, reason);
    }

    function expectBatch(address token_, uint256 payments, uint256 settled) internal {
        vm.expectEmit(address(settler));
        emit BatchSettler.BatchSettled(token_, payments, settled);
    }
}
