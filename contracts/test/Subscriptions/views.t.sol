// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {SubscriptionsBase} from "./SubscriptionsBase.t.sol";

contract Subscriptions_Views_Test is SubscriptionsBase {
    function test_SubscriptionIdOf() public view {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        assertEq(
            subs.subscriptionIdOf(terms), keccak256(abi.encode(block.chainid, address(subs), terms)), "id from spec"
        );
    }

    function test_SubscribeDigest_MatchesSpec() public view {
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        assertEq(subs.subscribeDigest(terms, 123), termsDigest(terms, 123), "digest");
    }

    function test_Typehash() public view {
        assertEq(
            subs.SUBSCRIBE_TYPEHASH(),
            keccak256(
                "Subscribe(address subscriber,address provider,address token,uint256 price,uint256 fee,uint64 period,uint64 start,uint64 grace,bytes32 salt,uint256 deadline)"
            ),
            "typehash"
        );
    }

    function test_Eip712Domain() public view {
        (bytes1 fields, string memory name, string memory version, uint256 chainId, address verifying,,) =
            subs.eip712Domain();
        assertEq(uint256(uint8(fields)), 0x0f, "fields");
        assertEq(name, "Clearing Subscriptions", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid, "chain");
        assertEq(verifying, address(subs), "contract");
        assertEq(
            subs.DOMAIN_SEPARATOR(),
            keccak256(
                abi.encode(
                    keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                    keccak256("Clearing Subscriptions"),
                    keccak256("1"),
                    block.chainid,
                    address(subs)
                )
            ),
            "separator"
        );
    }

    /// @dev On a fork with another chain id the separator follows the chain, so old signatures do not replay.
    function test_DomainSeparator_FollowsChainId() public {
        bytes32 before = subs.DOMAIN_SEPARATOR();
        vm.chainId(block.chainid + 1);
        assertTrue(subs.DOMAIN_SEPARATOR() != before, "rebuilt");
        Subscriptions.SubscriptionTerms memory terms = defaultTerms();
        assertEq(subs.subscribeDigest(terms, 1), termsDigest(terms, 1), "digest on the new chain");
    }

    function test_StatusOf_Unknown() public view {
        assertStatus(keccak256("nothing"), Subscriptions.Status.None, "none");
    }

    function test_StatusOf_LapseBoundary() public {
        bytes32 id = subscribedAndCharged();
        vm.warp(T0 + PERIOD + GRACE - 1);
        assertStatus(id, Subscriptions.Status.Active, "within the grace");
        vm.warp(T0 + PERIOD + GRACE);
        assertStatus(id, Subscriptions.Status.Expired, "lapsed");
        assertEq(uint256(storedStatusOf(id)), uint256(Subscriptions.Status.Active), "not written yet");
    }

    function test_StatusOf_CancelledStaysCancelled() public {
        bytes32 id = subscribedAndCharged();
        vm.prank(agent);
        subs.cancel(id);
        vm.warp(T0 + 10 * PERIOD);
        assertStatus(id, Subscriptions.Status.Cancelled, "cancelled, not expired");
    }

    function test_PaidThrough() public {
        bytes32 id = subscribe(defaultTerms());
        assertEq(subs.paidThrough(id), T0, "nothing paid");
        subs.charge(id);
        assertEq(subs.paidThrough(id), T0 + PERIOD, "one period");
        assertEq(subs.paidThrough(keccak256("nothing")), 0, "unknown");
    }
}
