// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC} from "../mocks/MockUSDC.sol";
import {Authorizations} from "../utils/Authorizations.sol";

contract SmokeTest is Authorizations {
    MockUSDC token;
    function setUp() public { token = new MockUSDC("USDC"); }
    function test_Smoke() public {
        (address alice, uint256 key) = makeKey("alice");
        token.mint(alice, 100);
        vm.warp(1000);
        Authorization memory a = Authorization(alice, address(0xB0B), 40, 0, 2000, bytes32(uint256(1)));
        token.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signTransfer(token, key, a));
        assertEq(token.balanceOf(address(0xB0B)), 40, "moved");
    }
}
