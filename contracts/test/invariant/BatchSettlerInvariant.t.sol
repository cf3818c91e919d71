// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {BatchSettler} from "../../src/BatchSettler.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Test} from "../utils/Test.sol";
import {BatchSettlerHandler} from "./handlers/BatchSettlerHandler.sol";

/// @title BatchSettlerInvariantTest
/// @notice Properties of BatchSettler that hold after any sequence of batches (some under a pause or a blacklist),
///         cancellations, top-ups and time passing.
contract BatchSettlerInvariantTest is Test {
    MockUSDC internal token;
    BatchSettler internal settler;
    BatchSettlerHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        token = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        settler = new BatchSettler();
        handler = new BatchSettlerHandler(token, settler);

        // settleBatch three times: half of all calls settle a batch.
        bytes4[] memory selectors = new bytes4[](6);
        selectors[0] = BatchSettlerHandler.settleBatch.selector;
        selectors[1] = BatchSettlerHandler.settleBatch.selector;
        selectors[2] = BatchSettlerHandler.settleBatch.selector;
        selectors[3] = BatchSettlerHandler.warp.selector;
        selectors[4] = BatchSettlerHandler.cancel.selector;
        selectors[5] = BatchSettlerHandler.mint.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// @dev balanceOf(settler) == 0
    function invariant_Settler_HoldsNoTokens() public view {
        assertEq(token.balanceOf(address(settler)), 0, "settler balance");
    }

    /// @dev for all (payer, nonce): #PaymentSettled(payer, nonce) <= 1, and == 1 implies the nonce is used
    function invariant_Payment_SettlesAtMostOnce() public view {
        assertLe(handler.ghostMaxSettledCount(), 1, "a (payer, nonce) settled twice");
        uint256 n = handler.settledKeyCount();
        for (uint256 i; i < n; ++i) {
            (address payer, bytes32 nonce) = handler.settledKey(i);
            assertTrue(token.authorizationState(payer, nonce), "settled nonce is used at the token");
        }
    }

    /// @dev sum(payee balances) == sum(values of settled items) == minted - sum(payer balances)
    function invariant_Payment_MovedEqualsSettledValues() public view {
        uint256 settledValue = handler.ghostSettledValue();
        assertEq(handler.payeeBalances(), settledValue, "payees received the settled values");
        assertEq(handler.ghostMinted() - handler.payerBalances(), settledValue, "payers paid the settled values");
    }

    /// @dev every PaymentSettled names the token, payee and value of the item it reports
    function invariant_Payment_EventIsTheRecord() public view {
        assertEq(handler.ghostMismatchedRecords(), 0, "PaymentSettled data differs from its item");
    }

    /// @dev sum(payer balances) + sum(payee balances) == totalSupply == minted
    function invariant_Balances_Conserve() public view {
        uint256 held = handler.payerBalances() + handler.payeeBalances();
        assertEq(held, token.totalSupply(), "every token is with a payer or payee");
        assertEq(held, handler.ghostMinted(), "nothing created or destroyed");
    }

    /// @dev items == settled + failed, and every BatchSettled matches its item events and return value
    function invariant_Batch_EveryItemReported() public view {
        assertEq(handler.ghostItems(), handler.ghostSettled() + handler.ghostFailed(), "one event per item");
        assertEq(handler.ghostBadBatchSummaries(), 0, "batch summaries agree");
    }
}
