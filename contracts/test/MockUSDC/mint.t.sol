// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice `mint` (a test hook, open to anyone): credits, grows the supply, emits Transfer from zero.
contract MockUSDC_Mint_Test is MockUSDC_Base {
    event Transfer(address indexed from, address indexed to, uint256 value);

    function test_When_Mints_CreditsAndEmitsTransferFromZero() public {
        vm.expectEmit(address(token));
        emit Transfer(address(0), bob, AMOUNT);
        vm.prank(relayer); // anyone may mint on this test token
        token.mint(bob, AMOUNT);
        assertEq(token.balanceOf(bob), AMOUNT, "credited");
        assertEq(token.totalSupply(), START_BALANCE + AMOUNT, "supply");
    }

    function test_RevertWhen_MintToZeroAddress() public {
        vm.expectRevert(bytes("FiatToken: mint to the zero address"));
        token.mint(address(0), AMOUNT);
    }

    /// @dev Supply grows by exactly the minted amounts.
    function testFuzz_Mint(uint256 first, uint256 second) public {
        first = bound(first, 0, type(uint128).max);
        second = bound(second, 0, type(uint128).max);
        token.mint(bob, first);
        token.mint(relayer, second);
        assertEq(token.totalSupply(), START_BALANCE + first + second, "supply");
        assertEq(token.balanceOf(bob), first, "bob");
        assertEq(token.balanceOf(relayer), second, "relayer");
    }
}
