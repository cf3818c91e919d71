// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CodeReader} from "../../src/CodeReader.sol";
import {GasBurningWallet} from "../mocks/GasBurningWallet.sol";
import {Test} from "../utils/Test.sol";

/// @dev The reader is meant for a deployless `eth_call`; here `new` runs the same constructor and stores the answer
///      as the new account's code, which the tests read back.
contract CodeReaderConstructorTest is Test {
    function read(address[] memory accounts) internal returns (bytes memory) {
        return address(new CodeReader(accounts)).code;
    }

    function test_NoAccounts_AnswersNothing() public {
        assertEq(read(new address[](0)).length, 0, "no bytes");
    }

    function test_OneByteAnAccount_InOrder() public {
        address[] memory accounts = new address[](4);
        accounts[0] = address(0xA11CE);
        accounts[1] = address(new GasBurningWallet(0));
        accounts[2] = address(0);
        accounts[3] = address(this);
        assertEq(read(accounts), hex"00010001", "EOA, wallet, zero, test contract");
    }

    function test_AnEip7702DelegationIsCode() public {
        address delegated = address(0xDE1E);
        // What EXTCODESIZE sees of a delegated EOA: the 23-byte designator 0xef0100 || address.
        vm.etch(delegated, abi.encodePacked(hex"ef0100", address(new GasBurningWallet(0))));
        address[] memory accounts = new address[](1);
        accounts[0] = delegated;
        assertEq(read(accounts), hex"01", "a delegated EOA has code");
    }

    function test_TheSameAccountTwice_AnsweredTwice() public {
        address[] memory accounts = new address[](2);
        accounts[0] = address(this);
        accounts[1] = address(this);
        assertEq(read(accounts), hex"0101", "each position answered");
    }

    /// forge-config: default.fuzz.runs = 256
    function testFuzz_FlagsMatchEachAccountsCode(uint160 seed, uint8 count, uint256 withCode) public {
        count = uint8(bound(count, 1, 64));
        address[] memory accounts = new address[](count);
        bytes memory expected = new bytes(count);
        for (uint256 i; i < count; ++i) {
            // Addresses above the precompiles and clear of the test's own accounts.
            address account = address(uint160(uint256(keccak256(abi.encode(seed, i)))) | (uint160(1) << 159));
            accounts[i] = account;
            if ((withCode >> i) & 1 == 1) {
                vm.etch(account, hex"00");
                expected[i] = 0x01;
            }
        }
        assertEq(read(accounts), expected, "one flag an account");
    }
}
