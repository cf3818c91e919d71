// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_ChargeMany_Test is SubscriptionsBase {
    function test_RevertWhen_GasBelowRequiredBeforeFirstItem() public {
        bytes32[] memory ids = _subscriptions(1);
        uint256 required = subs.ITEM_GAS_REQUIRED();
        vm.expectPartialRevert(Subscriptions.Subs_InsufficientGas.selector);
        subs.chargeMany{gas: required}(ids);
    }

    function test_RevertWhen_GasRunsShortMidBatch() public {
        bytes32[] memory ids = _subscriptions(3);
        uint256 gasLimit = subs.ITEM_GAS_REQUIRED() + 60_000;
        vm.expectPartialRevert(Subscriptions.Subs_InsufficientGas.selector);
        subs.chargeMany{gas: gasLimit}(ids);
        assertEq(balanceOf(agent), DEPOSIT, "rolled back");
    }

    function test_RevertWhen_BatchItemCalledDirectly() public {
        bytes32[] memory ids = _subscriptions(1);
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_OnlySelf.selector, stranger));
        vm.prank(stranger);
        subs.chargeBatchItem(ids[0]);
    }

    function test_When_Empty() public {
        vm.expectEmit(address(subs));
        emit Subscriptions.ChargeBatchSettled(0, 0);
        assertEq(subs.chargeMany(new bytes32[](0)), 0, "none");
    }

    function test_When_AllDue() public {
        bytes32[] memory ids = _subscriptions(3);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(subs));
            emit Subscriptions.SubscriptionCharged(ids[i], 0, T0 + PERIOD);
        }
        vm.expectEmit(address(subs));
        emit Subscriptions.ChargeBatchSettled(3, 3);
        vm.prank(relayer);
        assertEq(subs.chargeMany(ids), 3, "charged");
        assertEq(balanceOf(agent), DEPOSIT - 3 * PRICE, "three prices");
    }

    /// @dev A charge that would revert fails alone; a past-due or expiring one writes its state and is no failure.
    function test_When_Mixed() public {
        bytes32[] memory ids = new bytes32[](5);
        bytes32[] memory made = _subscriptions(2);
        ids[0] = made[0];
        ids[1] = keccak256("unknown");
        ids[2] = made[0]; // charged just before in this batch: not due
        Subscriptions.SubscriptionTerms memory dear = defaultTerms();
        dear.salt = "dear";
        dear.price = 1000e6;
        dear.fee = 0;
        ids[3] = subscribe(dear);
        ids[4] = made[1];
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionCharged(ids[0], 0, T0 + PERIOD);
        vm.expectEmit(address(subs));
        emit Subscriptions.ChargeFailed(
            ids[1], abi.encodeWithSelector(Subscriptions.Subs_InvalidStatus.selector, ids[1], Subscriptions.Status.None)
        );
        vm.expectEmit(address(subs));
        emit Subscriptions.ChargeFailed(
            ids[2], abi.encodeWithSelector(Subscriptions.Subs_NotDue.selector, ids[2], T0, T0 + PERIOD)
        );
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionPastDue(ids[3], 0, T0 + GRACE);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionCharged(ids[4], 0, T0 + PERIOD);
        vm.expectEmit(address(subs));
        emit Subscriptions.ChargeBatchSettled(5, 2);
        assertEq(subs.chargeMany(ids), 2, "two charged");
        assertStatus(ids[3], Subscriptions.Status.PastDue, "past due written");
    }

    function test_When_Expiring() public {
        bytes32[] memory ids = _subscriptions(2);
        subs.chargeMany(ids);
        vm.warp(T0 + PERIOD + GRACE);
        vm.expectEmit(address(subs));
        emit Subscriptions.SubscriptionExpired(ids[0], 1);
        assertEq(subs.chargeMany(ids), 0, "none charged");
        assertEq(uint256(storedStatusOf(ids[1])), uint256(Subscriptions.Status.Expired), "written");
    }

    /// @dev The vault refusing this contract (not its charger) fails each item alone.
    function test_When_VaultReverts() public {
        Subscriptions rogue = new Subscriptions(vault);
        vm.prank(operator);
        bytes32 id = rogue.subscribeFor(defaultTerms());
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = id;
        vm.expectEmit(address(rogue));
        emit Subscriptions.ChargeFailed(id, abi.encodeWithSignature("Vault_NotCharger(address)", address(rogue)));
        assertEq(rogue.chargeMany(ids), 0, "none");
    }

    function testFuzz_ChargeMany_NoItemStarved(uint256 gasLimit) public {
        bytes32[] memory ids = _subscriptions(3);
        gasLimit = bound(gasLimit, 50_000, 1_500_000);
        try subs.chargeMany{gas: gasLimit}(ids) returns (uint256 charged) {
            assertEq(charged, 3, "every due item charged");
        } catch {
            assertEq(balanceOf(agent), DEPOSIT, "rolled back");
        }
    }

    function testFuzz_ChargeMany_RepeatedIds(uint8 count) public {
        bytes32[] memory made = _subscriptions(2);
        uint256 n = bound(count, 1, 8);
        bytes32[] memory ids = new bytes32[](n);
        bool[2] memory seen;
        uint256 distinct;
        for (uint256 i; i < n; ++i) {
            uint256 pick = uint256(keccak256(abi.encode(count, i))) % 2;
            ids[i] = made[pick];
            if (!seen[pick]) {
                seen[pick] = true;
                ++distinct;
            }
        }
        assertEq(subs.chargeMany(ids), distinct, "each subscription once per period");
        assertEq(balanceOf(agent), DEPOSIT - distinct * PRICE, "once each");
    }

    function _subscriptions(uint256 count) internal returns (bytes32[] memory ids) {
        ids = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            Subscriptions.SubscriptionTerms memory terms = defaultTerms();
            terms.salt = keccak256(abi.encode("plan", i));
            ids[i] = subscribe(terms);
        }
    }
}
