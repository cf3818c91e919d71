// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {BatchSettlerFixture} from "./BatchSettlerFixture.sol";

/// @notice `settle` reads its payments in assembly; these tests feed it calldata that is not valid ABI.
/// @dev Layout of `settle(token, [p])` with one payment: 0x00 selector, 0x04 token, 0x24 offset of the array (0x40),
///      0x44 length, 0x64 offset of payment 0 (0x20, relative to 0x64), 0x84 payment 0's head: from, to, value,
///      validAfter, validBefore, nonce, offset of the signature (0xe0, relative to 0x84); 0x164 signature length,
///      0x184 signature bytes.
contract SettleCalldataTest is BatchSettlerFixture {
    uint256 internal constant ELEMENT_OFFSET = 0x64;
    uint256 internal constant FROM = 0x84;
    uint256 internal constant TO = 0xa4;
    uint256 internal constant SIGNATURE_OFFSET = 0x84 + 0xc0;
    uint256 internal constant SIGNATURE_LENGTH = 0x164;

    bytes internal data;

    function setUp() public override {
        super.setUp();
        fundPayer(0);
        data = abi.encodeCall(BatchSettler.settle, (address(token), one(payment(payerKey(0), payTo, 1e6, "n"))));
    }

    function test_When_CalldataIsWellFormed() public {
        (bool ok, bytes memory ret) = address(settler).call(data);
        assertTrue(ok, "settles");
        assertEq(abi.decode(ret, (uint256)), 1, "one settled");
    }

    function test_RevertWhen_FromHasDirtyUpperBits() public {
        data[FROM] = 0x01;
        expectMalformed(0);
    }

    function test_RevertWhen_ToHasDirtyUpperBits() public {
        data[TO + 11] = 0x80;
        expectMalformed(0);
    }

    function test_RevertWhen_ElementOffsetIsHuge() public {
        writeWord(ELEMENT_OFFSET, 1 << 255);
        expectMalformed(0);
    }

    function test_RevertWhen_SignatureOffsetIsHuge() public {
        writeWord(SIGNATURE_OFFSET, type(uint256).max - 0x10);
        expectMalformed(0);
    }

    function test_RevertWhen_SignatureRunsPastTheCalldata() public {
        writeWord(SIGNATURE_LENGTH, 0x1000);
        expectMalformed(0);
    }

    function test_RevertWhen_SignatureLengthIsHuge() public {
        writeWord(SIGNATURE_LENGTH, 1 << 128);
        expectMalformed(0);
    }

    function test_RevertWhen_CalldataIsTruncated() public {
        // Drop the signature's last padding word and two bytes of the signature itself.
        bytes memory cut = data;
        assembly ("memory-safe") {
            mstore(cut, sub(mload(cut), 34))
        }
        (bool ok, bytes memory ret) = address(settler).call(cut);
        assertFalse(ok, "reverted");
        vm.assertEq(ret, abi.encodeWithSelector(BatchSettler.BatchSettler_MalformedPayment.selector, 0), "malformed");
    }

    function test_RevertWhen_SecondItemIsMalformed() public {
        BatchSettler.Payment[] memory ps = new BatchSettler.Payment[](2);
        ps[0] = payment(payerKey(0), payTo, 1e6, "a");
        ps[1] = payment(payerKey(0), payTo, 1e6, "b");
        data = abi.encodeCall(BatchSettler.settle, (address(token), ps));
        // Second element's head: offsets table at 0x64 holds two words (0x40, then the second offset).
        uint256 second = 0x64 + readWord(0x84);
        data[second] = 0xff; // top byte of its `from`
        expectMalformed(1);
        assertFalse(token.authorizationState(payerAddr(0), "a"), "the first item was rolled back too");
    }

    function expectMalformed(uint256 index) internal {
        (bool ok, bytes memory ret) = address(settler).call(data);
        assertFalse(ok, "reverted");
        vm.assertEq(
            ret, abi.encodeWithSelector(BatchSettler.BatchSettler_MalformedPayment.selector, index), "malformed"
        );
    }

    function writeWord(uint256 at, uint256 word) internal {
        for (uint256 i; i < 32; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            data[at + i] = bytes1(uint8(word >> (8 * (31 - i))));
        }
    }

    function readWord(uint256 at) internal view returns (uint256 word) {
        for (uint256 i; i < 32; ++i) {
            word = (word << 8) | uint8(data[at + i]);
        }
    }
}
