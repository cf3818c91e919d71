// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VerifyReader} from "../../src/VerifyReader.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";

/// @dev The reader is meant for a deployless `eth_call`; here `new` runs the same constructor and stores the answers
///      as the new account's code, which the tests read back. The flag values mirror VerifyReader's (and
///      crates/chain/src/reader.rs's); a mismatch fails these tests.
abstract contract VerifyReaderBase is Authorizations {
    uint256 internal constant TOKEN_HAS_CODE = 1 << 0;
    uint256 internal constant PAYER_HAS_CODE = 1 << 1;
    uint256 internal constant BALANCE_OK = 1 << 2;
    uint256 internal constant NONCE_OK = 1 << 3;
    uint256 internal constant NONCE_USED = 1 << 4;
    uint256 internal constant CONTRACT_SIGNATURE_VALID = 1 << 5;
    uint256 internal constant SIMULATED = 1 << 6;
    uint256 internal constant SIMULATION_SUCCEEDED = 1 << 7;
    uint256 internal constant REFUSAL_IS_MESSAGE = 1 << 8;
    uint256 internal constant PAYER_BLACKLISTED = 1 << 9;
    uint256 internal constant RECIPIENT_BLACKLISTED = 1 << 10;

    MockUSDC internal usdc;
    address internal payer;
    uint256 internal payerKey;
    address internal payTo = address(0xB0B);

    function setUp() public virtual {
        usdc = MockUSDC(address(new MockUSDCProxy("USDC")));
        (payer, payerKey) = makeKey("payer");
        usdc.mint(payer, 1_000_000);
        vm.warp(1000);
    }

    function read(VerifyReader.Query[] memory queries) internal returns (VerifyReader.Answer[] memory) {
        address answers = address(new VerifyReader(queries));
        return abi.decode(answers.code, (VerifyReader.Answer[]));
    }

    function readOne(VerifyReader.Query memory one) internal returns (VerifyReader.Answer memory) {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](1);
        queries[0] = one;
        return read(queries)[0];
    }

    /// @dev A query with nothing to simulate that succeeds (no signature).
    function query(address token, address who, bytes32 nonce) internal view returns (VerifyReader.Query memory) {
        return VerifyReader.Query({
            token: token,
            payer: who,
            to: payTo,
            value: 0,
            validAfter: 0,
            validBefore: 0,
            nonce: nonce,
            digest: bytes32(0),
            signature: "",
            simulate: true
        });
    }

    /// @dev `payer`'s signed payment of `value` to `to` with `nonce`, valid from 0 to 2000.
    function payment(address to, uint256 value, bytes32 nonce) internal view returns (VerifyReader.Query memory q) {
        Authorization memory auth = Authorization(payer, to, value, 0, 2000, nonce);
        q = VerifyReader.Query({
            token: address(usdc),
            payer: payer,
            to: to,
            value: value,
            validAfter: auth.validAfter,
            validBefore: auth.validBefore,
            nonce: nonce,
            digest: digestOf(usdc, usdc.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), auth),
            signature: signTransfer(usdc, payerKey, auth),
            simulate: true
        });
    }

    function has(VerifyReader.Answer memory answer, uint256 flag) internal pure returns (bool) {
        return answer.flags & flag != 0;
    }
}
