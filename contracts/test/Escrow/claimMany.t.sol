// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {Vm} from "../utils/Vm.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

contract Escrow_ClaimMany_Test is EscrowBase {
    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        _released();
        address[] memory accounts = _accounts(provider, feeRecipient);
        uint256 required = escrow.FUND_ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        escrow.claimMany{gas: required}(address(usdc), accounts);
    }

    /// @dev Enough for the first claim and its check, not for the second's stipend: nothing is paid.
    function test_RevertWhen_GasRunsShortMidBatch() public {
        _released();
        address[] memory accounts = _accounts(provider, feeRecipient);
        uint256 gasLimit = escrow.FUND_ITEM_GAS_REQUIRED() + 20_000;
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        escrow.claimMany{gas: gasLimit}(address(usdc), accounts);
        assertEq(claimableOf(provider), 47.5e6, "rolled back");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        _released();
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, stranger));
        vm.prank(stranger);
        escrow.claimBatchItem(address(usdc), provider);
    }

    function test_When_Empty() public {
        assertEq(escrow.claimMany(address(usdc), new address[](0)), 0, "none claimed");
    }

    function test_When_AllAccountsHaveBalances() public {
        _released();
        vm.expectEmit(address(escrow));
        emit Escrow.Claimed(address(usdc), provider, provider, 47.5e6);
        vm.expectEmit(address(escrow));
        emit Escrow.Claimed(address(usdc), feeRecipient, feeRecipient, 2.5e6);
        vm.prank(stranger);
        assertEq(escrow.claimMany(address(usdc), _accounts(provider, feeRecipient)), 2, "claimed");
        assertEq(usdc.balanceOf(provider), 47.5e6, "provider paid");
        assertEq(usdc.balanceOf(feeRecipient), 2.5e6, "fee recipient paid");
        assertEq(liabilitiesOf(), 0, "nothing owed");
        assertEq(usdc.balanceOf(address(escrow)), 0, "escrow empty");
    }

    function test_When_OneAccountHasNothing() public {
        _released();
        address[] memory accounts = new address[](3);
        (accounts[0], accounts[1], accounts[2]) = (provider, stranger, feeRecipient);
        vm.expectEmit(address(escrow));
        emit Escrow.ClaimFailed(
            address(usdc),
            stranger,
            abi.encodeWithSelector(Escrow.Escrow_NothingToClaim.selector, address(usdc), stranger)
        );
        assertEq(escrow.claimMany(address(usdc), accounts), 2, "the others claimed");
    }

    function test_When_OneAccountBlacklisted() public {
        _released();
        usdc.blacklist(provider);
        vm.expectEmit(address(escrow));
        emit Escrow.ClaimFailed(
            address(usdc), provider, abi.encodeWithSignature("Error(string)", "Blacklistable: account is blacklisted")
        );
        vm.expectEmit(address(escrow));
        emit Escrow.Claimed(address(usdc), feeRecipient, feeRecipient, 2.5e6);
        assertEq(escrow.claimMany(address(usdc), _accounts(provider, feeRecipient)), 1, "fee recipient claimed");
        assertEq(claimableOf(provider), 47.5e6, "blacklisted balance kept");
        assertEq(liabilitiesOf(), 47.5e6, "still owed");
    }

    function test_When_AccountRepeated() public {
        _released();
        assertEq(escrow.claimMany(address(usdc), _accounts(provider, provider)), 1, "paid once");
        assertEq(usdc.balanceOf(provider), 47.5e6, "once");
    }

    function test_When_TokenPaused() public {
        _released();
        usdc.pause();
        assertEq(escrow.claimMany(address(usdc), _accounts(provider, feeRecipient)), 0, "nothing claimed");
        assertEq(claimableOf(provider) + claimableOf(feeRecipient), 50e6, "balances kept");
    }

    function test_When_TokenRevertReasonIsHuge() public {
        EvilToken evil = _releasedIn(EvilToken.Mode.RevertBomb);
        vm.recordLogs();
        assertEq(escrow.claimMany(address(evil), _accounts(provider, feeRecipient)), 0, "none claimed");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 failures;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != Escrow.ClaimFailed.selector) continue;
            assertEq(abi.decode(logs[i].data, (bytes)).length, escrow.MAX_REASON_BYTES(), "reason cut");
            ++failures;
        }
        assertEq(failures, 2, "each failure logged");
    }

    function test_When_TokenBurnsAllGas() public {
        EvilToken evil = _releasedIn(EvilToken.Mode.GasBomb);
        vm.expectEmit(address(escrow));
        emit Escrow.ClaimFailed(address(evil), provider, "");
        uint256 gasLimit = 3 * escrow.FUND_ITEM_GAS_REQUIRED();
        assertEq(escrow.claimMany{gas: gasLimit}(address(evil), _accounts(provider, feeRecipient)), 0, "none");
    }

    function test_When_TokenReenters() public {
        EvilToken evil = _releasedIn(EvilToken.Mode.ReenterOnTransfer);
        evil.setReentry(address(escrow), abi.encodeCall(Escrow.claimBatchItem, (address(evil), feeRecipient)));
        vm.expectEmit(address(escrow));
        emit Escrow.ClaimFailed(
            address(evil), provider, abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, address(evil))
        );
        escrow.claimMany(address(evil), _accounts(provider, feeRecipient));
    }

    function testFuzz_ClaimMany_NoItemStarved(uint256 gasLimit) public {
        _released();
        gasLimit = bound(gasLimit, 30_000, 1_000_000);
        try escrow.claimMany{gas: gasLimit}(address(usdc), _accounts(provider, feeRecipient)) returns (uint256 n) {
            assertEq(n, 2, "both claimed");
        } catch {
            assertEq(claimableOf(provider) + claimableOf(feeRecipient), 50e6, "rolled back");
        }
    }

    // ------------------------------------------------------------------ helpers

    function _released() internal {
        jobIn(defaultTerms(), Escrow.Status.Released);
    }

    function _accounts(address a, address b) internal pure returns (address[] memory accounts) {
        accounts = new address[](2);
        (accounts[0], accounts[1]) = (a, b);
    }

    /// @dev A $50 job in an EvilToken (honest while funding), released, then switched to `mode`.
    function _releasedIn(EvilToken.Mode mode) internal returns (EvilToken evil) {
        evil = new EvilToken();
        evil.mint(payer, 1000e6);
        Escrow.JobTerms memory terms = defaultTerms();
        terms.token = address(evil);
        escrow.fund(terms, "");
        releaseJob(terms);
        evil.setMode(mode);
    }
}
