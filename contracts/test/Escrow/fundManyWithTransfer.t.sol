// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {Vm} from "../utils/Vm.sol";
import {EscrowBase} from "./EscrowBase.t.sol";
import {EvilToken} from "./mocks/EvilToken.sol";

contract Escrow_FundManyWithTransfer_Test is EscrowBase {
    function test_RevertWhen_CallerNotOperator() public {
        Escrow.TransferFunding[] memory items = _batch(2);
        expectNotOperator(relayer);
        vm.prank(relayer);
        escrow.fundManyWithTransfer(items);
    }

    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        Escrow.TransferFunding[] memory items = _batch(1);
        uint256 required = escrow.FUND_ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        vm.prank(operator);
        escrow.fundManyWithTransfer{gas: required}(items);
    }

    function test_RevertWhen_GasRunsShortMidBatch() public {
        Escrow.TransferFunding[] memory items = _batch(3);
        uint256 gasLimit = escrow.FUND_ITEM_GAS_REQUIRED() + 50_000;
        vm.expectPartialRevert(Escrow.Escrow_InsufficientGas.selector);
        vm.prank(operator);
        escrow.fundManyWithTransfer{gas: gasLimit}(items);
        for (uint256 i; i < 3; ++i) {
            assertStatus(escrow.jobIdOf(items[i].terms), Escrow.Status.None, "rolled back");
        }
        assertEq(liabilitiesOf(), 0, "no liability");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        Escrow.TransferFunding[] memory items = _batch(1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, operator));
        vm.prank(operator);
        escrow.fundWithTransferBatchItem(items[0]);
    }

    function test_When_Empty() public {
        vm.expectEmit(address(escrow));
        emit Escrow.FundBatchSettled(0, 0);
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(new Escrow.TransferFunding[](0)), 0, "none funded");
    }

    function test_When_AllItemsValid() public {
        Escrow.TransferFunding[] memory items = _batch(3);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(escrow));
            emit Escrow.JobFunded(escrow.jobIdOf(items[i].terms), payer, provider, items[i].terms);
        }
        vm.expectEmit(address(escrow));
        emit Escrow.FundBatchSettled(3, 3);
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 3, "funded");
        assertEq(usdc.balanceOf(address(escrow)), 3 * 50e6, "escrow balance");
        assertEq(liabilitiesOf(), 3 * 50e6, "liabilities");
    }

    function test_When_OneSignatureInvalid() public {
        Escrow.TransferFunding[] memory items = _batch(3);
        (, uint256 otherKey) = makeKey("mallory");
        items[1] = transferFunding(items[1].terms, otherKey);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(escrow.jobIdOf(items[0].terms), payer, provider, items[0].terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            escrow.jobIdOf(items[1].terms),
            payer,
            abi.encodeWithSignature("Error(string)", "FiatTokenV2: invalid signature")
        );
        vm.expectEmit(address(escrow));
        emit Escrow.JobFunded(escrow.jobIdOf(items[2].terms), payer, provider, items[2].terms);
        vm.expectEmit(address(escrow));
        emit Escrow.FundBatchSettled(3, 2);
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 2, "funded");
        assertStatus(escrow.jobIdOf(items[1].terms), Escrow.Status.None, "bad item not written");
        assertEq(liabilitiesOf(), 2 * 50e6, "liabilities of the good items");
    }

    /// @dev The front-running case end to end: an item's authorization was submitted to the token first; the item
    ///      fails, the money is surplus, and `fundTransferred` books the job from it.
    function test_When_ItemFrontRun() public {
        Escrow.TransferFunding[] memory items = _batch(2);
        frontRunTerms(items[0].terms);
        bytes32 jobId = escrow.jobIdOf(items[0].terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            jobId, payer, abi.encodeWithSignature("Error(string)", "FiatTokenV2: authorization is used or canceled")
        );
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 1, "other item funded");
        assertEq(escrow.surplus(address(usdc)), 50e6, "front-run money is surplus");

        vm.prank(operator);
        escrow.fundTransferred(items[0].terms);
        assertStatus(jobId, Escrow.Status.Funded, "booked");
        assertEq(escrow.surplus(address(usdc)), 0, "surplus booked");
        assertEq(liabilitiesOf(), usdc.balanceOf(address(escrow)), "balance == liabilities");
    }

    function test_When_ItemRepeated() public {
        Escrow.TransferFunding[] memory items = _batch(2);
        items[1] = items[0];
        bytes32 jobId = escrow.jobIdOf(items[0].terms);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            jobId, payer, abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, Escrow.Status.Funded)
        );
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 1, "funded once");
        assertEq(liabilitiesOf(), 50e6, "counted once");
    }

    function test_When_ItemTokenBurnsAllGas() public {
        Escrow.TransferFunding[] memory items = _batch(3);
        items[1].terms = _evilTerms(EvilToken.Mode.GasBomb);
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(escrow.jobIdOf(items[1].terms), payer, "");
        uint256 gasLimit = 3 * escrow.FUND_ITEM_GAS_REQUIRED();
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer{gas: gasLimit}(items), 2, "others funded");
    }

    function test_When_ItemRevertReasonIsHuge() public {
        Escrow.TransferFunding[] memory items = _batch(2);
        items[0].terms = _evilTerms(EvilToken.Mode.RevertBomb);
        vm.recordLogs();
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 1, "other item funded");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != Escrow.JobFundFailed.selector) continue;
            assertEq(abi.decode(logs[i].data, (bytes)).length, escrow.MAX_REASON_BYTES(), "reason cut");
            found = true;
        }
        assertTrue(found, "failure logged");
    }

    function test_When_ItemTokenReenters() public {
        Escrow.TransferFunding[] memory items = _batch(2);
        items[0].terms = _evilTerms(EvilToken.Mode.Reenter);
        EvilToken(items[0].terms.token)
            .setReentry(address(escrow), abi.encodeCall(Escrow.fundWithTransferBatchItem, (items[1])));
        vm.expectEmit(address(escrow));
        emit Escrow.JobFundFailed(
            escrow.jobIdOf(items[0].terms),
            payer,
            abi.encodeWithSelector(Escrow.Escrow_OnlySelf.selector, items[0].terms.token)
        );
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 1, "other item funded");
    }

    function testFuzz_FundManyWithTransfer_NoItemStarved(uint256 gasLimit) public {
        Escrow.TransferFunding[] memory items = _batch(3);
        gasLimit = bound(gasLimit, 50_000, 1_500_000);
        vm.prank(operator);
        try escrow.fundManyWithTransfer{gas: gasLimit}(items) returns (uint256 funded) {
            assertEq(funded, 3, "every valid item funded");
        } catch {
            for (uint256 i; i < 3; ++i) {
                assertStatus(escrow.jobIdOf(items[i].terms), Escrow.Status.None, "rolled back");
            }
        }
    }

    function testFuzz_FundManyWithTransfer_MixedBatch(uint8 badMask, uint8 frontRunMask) public {
        Escrow.TransferFunding[] memory items = _batch(4);
        (, uint256 otherKey) = makeKey("mallory");
        uint256 bad;
        uint256 strays;
        for (uint256 i; i < 4; ++i) {
            if (badMask & (1 << i) != 0) {
                items[i] = transferFunding(items[i].terms, otherKey);
                ++bad;
            } else if (frontRunMask & (1 << i) != 0) {
                frontRunTerms(items[i].terms);
                ++strays;
            }
        }
        vm.prank(operator);
        assertEq(escrow.fundManyWithTransfer(items), 4 - bad - strays, "good items funded");
        assertEq(liabilitiesOf(), (4 - bad - strays) * 50e6, "liabilities");
        assertEq(escrow.surplus(address(usdc)), strays * 50e6, "front-run money is surplus");
        assertEq(usdc.balanceOf(address(escrow)), (4 - bad) * 50e6, "balance");
    }

    // ------------------------------------------------------------------ helpers

    function _batch(uint256 count) internal view returns (Escrow.TransferFunding[] memory items) {
        items = new Escrow.TransferFunding[](count);
        for (uint256 i; i < count; ++i) {
            Escrow.JobTerms memory terms = defaultTerms();
            terms.salt = keccak256(abi.encode("batch", i));
            items[i] = transferFunding(terms, payerKey);
        }
    }

    function _evilTerms(EvilToken.Mode mode) internal returns (Escrow.JobTerms memory terms) {
        EvilToken evil = new EvilToken();
        evil.setMode(mode);
        evil.mint(payer, 1000e6);
        terms = defaultTerms();
        terms.token = address(evil);
    }
}
