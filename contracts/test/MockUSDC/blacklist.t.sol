// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice The blacklist applies to `from` and `to` on every transfer path (and to the caller of transfer and
///         transferFrom); approve and cancelAuthorization are not blacklist-checked (v2.2); only the owner
///         blacklists; the token's own address is blacklisted from initialization.
contract MockUSDC_Blacklist_Test is MockUSDC_Base {
    event Blacklisted(address indexed account);
    event UnBlacklisted(address indexed account);

    function test_When_OwnerBlacklists_FlagSetBalanceKept() public {
        vm.expectEmit(address(token));
        emit Blacklisted(alice);
        token.blacklist(alice);
        assertTrue(token.isBlacklisted(alice), "flag");
        assertEq(token.balanceOf(alice), START_BALANCE, "balance unaffected by the flag bit");
        assertEq(token.totalSupply(), START_BALANCE, "supply unaffected");
    }

    function test_When_OwnerUnBlacklists_TransfersResume() public {
        token.blacklist(alice);
        vm.expectEmit(address(token));
        emit UnBlacklisted(alice);
        token.unBlacklist(alice);
        assertFalse(token.isBlacklisted(alice), "flag cleared");
        vm.prank(alice);
        assertTrue(token.transfer(bob, AMOUNT), "transfer returns true");
        assertEq(token.balanceOf(bob), AMOUNT, "moved");
    }

    function test_RevertWhen_NonOwnerBlacklists() public {
        vm.expectRevert(bytes(NOT_OWNER));
        vm.prank(alice);
        token.blacklist(bob);
    }

    function test_RevertWhen_NonOwnerUnBlacklists() public {
        token.blacklist(bob);
        vm.expectRevert(bytes(NOT_OWNER));
        vm.prank(alice);
        token.unBlacklist(bob);
    }

    function test_RevertWhen_Blacklisted_TransferFrom() public {
        token.blacklist(alice);
        vm.expectRevert(bytes(BLACKLISTED));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, AMOUNT);
    }

    function test_RevertWhen_Blacklisted_TransferTo() public {
        token.blacklist(bob);
        vm.expectRevert(bytes(BLACKLISTED));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, AMOUNT);
    }

    function test_RevertWhen_Blacklisted_TransferFromFromAccount() public {
        _approveRelayer();
        token.blacklist(alice);
        vm.expectRevert(bytes(BLACKLISTED));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, AMOUNT);
    }

    function test_RevertWhen_Blacklisted_TransferFromToAccount() public {
        _approveRelayer();
        token.blacklist(bob);
        vm.expectRevert(bytes(BLACKLISTED));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, AMOUNT);
    }

    function test_RevertWhen_Blacklisted_TransferFromSpender() public {
        _approveRelayer();
        token.blacklist(relayer);
        vm.expectRevert(bytes(BLACKLISTED));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, AMOUNT);
    }

    function test_When_OwnerOrSpenderBlacklisted_ApproveStillWorks() public {
        // v2.2 dropped the blacklist checks of approve (a blacklisted spender still cannot transferFrom).
        token.blacklist(alice);
        token.blacklist(relayer);
        vm.prank(alice);
        assertTrue(token.approve(relayer, AMOUNT), "returns true");
        assertEq(token.allowance(alice, relayer), AMOUNT, "allowance");
    }

    function test_RevertWhen_PayToIsTheToken_EveryPath() public {
        // Initialization blacklisted the token's own address: nothing can be paid to it, so nothing gets stuck there.
        Authorization memory auth = _auth(NONCE);
        auth.to = address(token);
        _expectBlacklistedAuth(Op.TransferBytes, auth);
        _expectBlacklistedAuth(Op.TransferVRS, auth);
        vm.expectRevert(bytes(BLACKLISTED));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(address(token), AMOUNT);
        vm.expectRevert(bytes(BLACKLISTED));
        token.mint(address(token), AMOUNT);
        assertEq(token.balanceOf(address(token)), 0, "nothing reached the token");
    }

    function test_RevertWhen_Blacklisted_MintTo() public {
        token.blacklist(bob);
        vm.expectRevert(bytes(BLACKLISTED));
        token.mint(bob, AMOUNT);
    }

    function test_RevertWhen_Blacklisted_TransferWithAuthorizationFrom() public {
        _expectBlacklistedOn(Op.TransferBytes, alice);
        _expectBlacklistedOn(Op.TransferVRS, alice);
    }

    function test_RevertWhen_Blacklisted_TransferWithAuthorizationTo() public {
        _expectBlacklistedOn(Op.TransferBytes, bob);
        _expectBlacklistedOn(Op.TransferVRS, bob);
    }

    function test_RevertWhen_Blacklisted_ReceiveWithAuthorizationFrom() public {
        _expectBlacklistedOn(Op.ReceiveBytes, alice);
        _expectBlacklistedOn(Op.ReceiveVRS, alice);
    }

    function test_RevertWhen_Blacklisted_ReceiveWithAuthorizationTo() public {
        _expectBlacklistedOn(Op.ReceiveBytes, bob);
        _expectBlacklistedOn(Op.ReceiveVRS, bob);
    }

    function test_When_AuthorizerBlacklisted_CancelAuthorizationStillWorks() public {
        token.blacklist(alice);
        _signAndSubmit(Op.CancelBytes, aliceKey, _auth(NONCE));
        assertTrue(token.authorizationState(alice, NONCE), "cancelled");
    }

    function test_When_RelayerBlacklisted_TransferWithAuthorizationStillWorks() public {
        // Only `from` and `to` are checked, not the submitter.
        token.blacklist(relayer);
        Authorization memory auth = _auth(NONCE);
        _signAndSubmit(Op.TransferBytes, aliceKey, auth);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function _expectBlacklistedAuth(Op op, Authorization memory auth) internal {
        _expectSubmitReverts(op, auth, _sign(op, aliceKey, auth), BLACKLISTED);
    }

    function _approveRelayer() internal {
        vm.prank(alice);
        token.approve(relayer, START_BALANCE);
    }

    function _expectBlacklistedOn(Op op, address account) internal {
        Authorization memory auth = _auth(keccak256(abi.encode(op, account)));
        bytes memory signature = _sign(op, aliceKey, auth);
        token.blacklist(account);
        _expectSubmitReverts(op, auth, signature, BLACKLISTED);
        assertFalse(token.authorizationState(alice, auth.nonce), "nonce unused");
        token.unBlacklist(account);
        _submit(op, auth, signature); // the same call works once lifted
    }
}
