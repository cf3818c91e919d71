// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockUSDC_Base} from "./Base.t.sol";

/// @notice Pause blocks every transfer path (and approve, mint, cancel); only the owner pauses and unpauses.
contract MockUSDC_Pause_Test is MockUSDC_Base {
    event Pause();
    event Unpause();

    function setUp() public override {
        super.setUp();
        vm.prank(alice);
        token.approve(relayer, START_BALANCE);
    }

    function test_When_OwnerPauses_FlagSetAndEventEmitted() public {
        vm.expectEmit(address(token));
        emit Pause();
        token.pause();
        assertTrue(token.paused(), "paused");
    }

    function test_When_OwnerUnpauses_FlagClearedAndEventEmitted() public {
        token.pause();
        vm.expectEmit(address(token));
        emit Unpause();
        token.unpause();
        assertFalse(token.paused(), "unpaused");
    }

    function test_RevertWhen_NonOwnerPauses() public {
        vm.expectRevert(bytes(NOT_OWNER));
        vm.prank(alice);
        token.pause();
    }

    function test_RevertWhen_NonOwnerUnpauses() public {
        token.pause();
        vm.expectRevert(bytes(NOT_OWNER));
        vm.prank(alice);
        token.unpause();
    }

    function test_RevertWhen_Paused_Transfer() public {
        token.pause();
        vm.expectRevert(bytes(PAUSED));
        vm.prank(alice);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transfer(bob, AMOUNT);
    }

    function test_RevertWhen_Paused_TransferFrom() public {
        token.pause();
        vm.expectRevert(bytes(PAUSED));
        vm.prank(relayer);
        // forge-lint: disable-next-line(erc20-unchecked-transfer)
        token.transferFrom(alice, bob, AMOUNT);
    }

    function test_RevertWhen_Paused_Approve() public {
        token.pause();
        vm.expectRevert(bytes(PAUSED));
        vm.prank(alice);
        token.approve(bob, AMOUNT);
    }

    function test_RevertWhen_Paused_Mint() public {
        token.pause();
        vm.expectRevert(bytes(PAUSED));
        token.mint(bob, AMOUNT);
    }

    function test_RevertWhen_Paused_TransferWithAuthorization() public {
        _expectPausedOn(Op.TransferBytes);
        _expectPausedOn(Op.TransferVRS);
    }

    function test_RevertWhen_Paused_ReceiveWithAuthorization() public {
        _expectPausedOn(Op.ReceiveBytes);
        _expectPausedOn(Op.ReceiveVRS);
    }

    function test_RevertWhen_Paused_CancelAuthorization() public {
        _expectPausedOn(Op.CancelBytes);
        _expectPausedOn(Op.CancelVRS);
    }

    function test_When_Unpaused_AuthorizationSignedDuringPauseWorks() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory signature = signTransfer(token, aliceKey, auth);
        token.pause();
        _expectSubmitReverts(Op.TransferBytes, auth, signature, PAUSED);
        assertFalse(token.authorizationState(alice, NONCE), "a paused attempt leaves the nonce unused");
        token.unpause();
        _submit(Op.TransferBytes, auth, signature);
        _assertApplied(Op.TransferBytes, auth, START_BALANCE, 0);
    }

    function test_When_Unpaused_TransfersResume() public {
        token.pause();
        token.unpause();
        vm.prank(alice);
        assertTrue(token.transfer(bob, AMOUNT), "transfer returns true");
        assertEq(token.balanceOf(bob), AMOUNT, "moved");
    }

    function _expectPausedOn(Op op) internal {
        Authorization memory auth = _auth(keccak256(abi.encode(op)));
        bytes memory signature = _sign(op, aliceKey, auth);
        token.pause();
        _expectSubmitReverts(op, auth, signature, PAUSED);
        token.unpause();
        _submit(op, auth, signature); // the same call works once unpaused
    }
}
