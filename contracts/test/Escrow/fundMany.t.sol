// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {Vm} from "../utils/Vm.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

contract Escrow_FundMany_Test is EscrowBase {
    function test_RevertWhen_LengthsDiffer() public {
        Escrow.JobTerms[] memory terms = _batch(2);
        bytes[] memory signatures = new bytes[](1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_LengthMismatch.selector, 2, 1));
        escrow.fundMany(terms, signatures);
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(1);
        uint256 required = escrow.FUND_ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        escrow.fundMany{gas: required}(terms, signatures);
    }

    /// @dev Enough gas for the first items but not the stipend of a later one: the whole batch reverts rather than
    ///      letting that item fail for lack of gas.
    function test_RevertWhen_GasRunsShortMidBatch() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(3);
        // Passes the check before item 0, which then uses ~100k, so the check before item 1 fails.
        uint256 gasLimit = escrow.FUND_ITEM_GAS_REQUIRED() + 50_000;
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        escrow.fundMany{gas: gasLimit}(terms, signatures);
        for (uint256 i; i < 3; ++i) {
            assertStatus(escrow.jobIdOf(terms[i]), Escrow.Status.None, "rolled back");
        }
    }

    /// @dev The gas check comes after encoding the item: a huge signature whose encoding eats the margin makes the
    ///      batch revert rather than hand the item less than its stipend.
    function test_RevertWhen_EncodingLeavesTooLittleGas() public {
        Escrow.JobTerms[] memory terms = new Escrow.JobTerms[](1);
        terms[0] = _evilJob(EvilToken.Mode.GasBomb);
        bytes[] memory signatures = new bytes[](1);
        signatures[0] = new bytes(100_000);
        uint256 required = escrow.FUND_ITEM_GAS_REQUIRED();
        try escrow.fundMany{gas: required + 5000}(terms, signatures) {
            revert("starved item accepted");
        } catch (bytes memory reason) {
            assertEq(bytes32(bytes4(reason)), bytes32(Escrow.Escrow_InsufficientGas.selector), "error");
            (uint256 index, uint256 available, uint256 needed) =
                abi.decode(_slice(reason, 4), (uint256, uint256, uint256));
            assertEq(index, 0, "index");
            assertLe(available, required, "available below required");
            assertEq(needed, required, "required");
        }
        // With enough gas the same item gets its full stipend, burns it, and fails alone.
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(escrow.jobIdOf(terms[0]), payer, "");
        assertEq(escrow.fundMany{gas: required + 100_000}(terms, signatures), 0, "item failed alone");
    }

    function test_RevertWhen_FundBatchItemCalledDirectly() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes memory signature = signTerms(terms, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, address(this)));
        escrow.fundBatchItem(terms, signature);
    }

    function test_RevertWhen_ItemEncodingNotCanonical() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(2);
        bytes memory data = abi.encodeCall(Escrow.fundMany, (terms, signatures));
        // selector, two array offsets, terms length, then item 0: set the top byte of its payer.
        data[4 + 32 * 3] = 0x01;
        (bool ok,) = address(escrow).call(data);
        assertFalse(ok, "malformed batch accepted");
    }

    function test_When_Empty() public {
        assertEq(escrow.fundMany(new Escrow.JobTerms[](0), new bytes[](0)), 0, "none funded");
    }

    function test_When_AllItemsValid() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(3);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(escrow));
            emit Escrow.JobFunded(escrow.jobIdOf(terms[i]), payer, provider, terms[i]);
        }
        vm.prank(relayer);
        uint256 funded = escrow.fundMany(terms, signatures);
        assertEq(funded, 3, "funded");
        for (uint256 i; i < 3; ++i) {
            assertStatus(escrow.jobIdOf(terms[i]), Escrow.Status.Funded, "item funded");
        }
        assertEq(usdc.balanceOf(address(escrow)), 3 * terms[0].amount, "escrow balance");
    }

    function test_When_OneSignatureInvalid() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(3);
        (, uint256 otherKey) = makeKey("mallory");
        signatures[1] = signTerms(terms[1], otherKey);

        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(escrow.jobIdOf(terms[0]), payer, provider, terms[0]);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            escrow.jobIdOf(terms[1]), payer, abi.encodeWithSignature("Error(string)", "FiatTokenV2: invalid signature")
        );
        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(escrow.jobIdOf(terms[2]), payer, provider, terms[2]);
        uint256 funded = escrow.fundMany(terms, signatures);

        assertEq(funded, 2, "funded");
        assertStatus(escrow.jobIdOf(terms[1]), Escrow.Status.None, "bad item not written");
        assertFalse(usdc.authorizationState(payer, escrow.jobIdOf(terms[1])), "bad item nonce unused");
        assertEq(usdc.balanceOf(address(escrow)), 2 * terms[0].amount, "escrow balance");
    }

    function test_When_ItemRepeated() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(2);
        terms[1] = terms[0];
        signatures[1] = signatures[0];
        bytes32 jobId = escrow.jobIdOf(terms[0]);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            jobId, payer, abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, Escrow.Status.Funded)
        );
        assertEq(escrow.fundMany(terms, signatures), 1, "funded once");
    }

    function test_When_ItemTermsInvalid() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(2);
        terms[0].fee = terms[0].amount; // above the 5% cap
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            escrow.jobIdOf(terms[0]),
            payer,
            abi.encodeWithSelector(Escrow.Escrow_FeeTooHigh.selector, terms[0].amount, terms[0].amount / 20)
        );
        assertEq(escrow.fundMany(terms, signatures), 1, "other item funded");
        assertStatus(escrow.jobIdOf(terms[1]), Escrow.Status.Funded, "second funded");
    }

    function test_When_ItemTokenBurnsAllGas() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(3);
        terms[1] = _evilJob(EvilToken.Mode.GasBomb);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(escrow.jobIdOf(terms[1]), payer, "");
        uint256 gasLimit = 3 * escrow.FUND_ITEM_GAS_REQUIRED();
        uint256 funded = escrow.fundMany{gas: gasLimit}(terms, signatures);
        assertEq(funded, 2, "others funded");
        assertStatus(escrow.jobIdOf(terms[2]), Escrow.Status.Funded, "item after the bomb funded");
    }

    function test_When_ItemRevertReasonIsHuge() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(2);
        terms[0] = _evilJob(EvilToken.Mode.RevertBomb);
        vm.recordLogs();
        assertEq(escrow.fundMany(terms, signatures), 1, "other item funded");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != Escrow.JobFundFailed.selector) continue;
            bytes memory reason = abi.decode(logs[i].data, (bytes));
            assertEq(reason.length, escrow.MAX_REASON_BYTES(), "reason cut");
            found = true;
        }
        assertTrue(found, "failure logged");
    }

    function test_When_ItemTokenReenters() public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(2);
        terms[0] = _evilJob(EvilToken.Mode.Reenter);
        EvilToken(terms[0].token).setReentry(address(escrow), abi.encodeCall(Escrow.refund, (terms[1])));
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            escrow.jobIdOf(terms[0]), payer, abi.encodeWithSelector(Escrow.Escrow_Reentrancy.selector)
        );
        assertEq(escrow.fundMany(terms, signatures), 1, "other item funded");
    }

    /// @dev Whatever gas limit a relayer picks, the batch either reverts as a whole or funds every valid item: no
    ///      item is starved.
    function testFuzz_FundMany_NoItemStarved(uint256 gasLimit) public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(3);
        gasLimit = bound(gasLimit, 50_000, 1_500_000);
        try escrow.fundMany{gas: gasLimit}(terms, signatures) returns (uint256 funded) {
            assertEq(funded, 3, "every valid item funded");
        } catch {
            for (uint256 i; i < 3; ++i) {
                assertStatus(escrow.jobIdOf(terms[i]), Escrow.Status.None, "rolled back");
            }
        }
    }

    function testFuzz_FundMany_MixedBatch(uint8 badMask) public {
        (Escrow.JobTerms[] memory terms, bytes[] memory signatures) = _signedBatch(4);
        (, uint256 otherKey) = makeKey("mallory");
        uint256 bad;
        for (uint256 i; i < 4; ++i) {
            if (badMask & (1 << i) != 0) {
                signatures[i] = signTerms(terms[i], otherKey);
                ++bad;
            }
        }
        assertEq(escrow.fundMany(terms, signatures), 4 - bad, "good items funded");
        for (uint256 i; i < 4; ++i) {
            Escrow.Status expected = badMask & (1 << i) != 0 ? Escrow.Status.None : Escrow.Status.Funded;
            assertStatus(escrow.jobIdOf(terms[i]), expected, "item status");
        }
        assertEq(usdc.balanceOf(address(escrow)), (4 - bad) * terms[0].amount, "escrow balance");
    }

    // ------------------------------------------------------------------ helpers

    function _batch(uint256 count) internal view returns (Escrow.JobTerms[] memory terms) {
        terms = new Escrow.JobTerms[](count);
        for (uint256 i; i < count; ++i) {
            terms[i] = defaultTerms();
            terms[i].salt = keccak256(abi.encode("batch", i));
        }
    }

    function _signedBatch(uint256 count)
        internal
        view
        returns (Escrow.JobTerms[] memory terms, bytes[] memory signatures)
    {
        terms = _batch(count);
        signatures = new bytes[](count);
        for (uint256 i; i < count; ++i) {
            signatures[i] = signTerms(terms[i], payerKey);
        }
    }

    function _slice(bytes memory data, uint256 from) internal pure returns (bytes memory out) {
        out = new bytes(data.length - from);
        for (uint256 i; i < out.length; ++i) {
            out[i] = data[from + i];
        }
    }

    function _evilJob(EvilToken.Mode mode) internal returns (Escrow.JobTerms memory terms) {
        EvilToken evil = new EvilToken();
        evil.setMode(mode);
        evil.mint(payer, 1000e6);
        terms = defaultTerms();
        terms.token = address(evil);
    }
}
