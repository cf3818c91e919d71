// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Subscriptions} from "../../src/Subscriptions.sol";
import {VaultBase} from "../BalanceVault/VaultBase.t.sol";

/// @title SubscriptionsBase
/// @notice Shared fixture for the Subscriptions unit tests: the vault fixture with $100 deposited by the agent, a
///         default monthly plan ($10.50 a month of which $0.50 is the fee, 30-day periods, 3 days of grace, starting
///         now), and helpers that sign the subscriber's EIP-712 terms (digest built here from the spec), create and
///         charge subscriptions.
abstract contract SubscriptionsBase is VaultBase {
    uint256 internal constant PRICE = 10.5e6;
    uint256 internal constant FEE = 0.5e6;
    uint64 internal constant PERIOD = 30 days;
    uint64 internal constant GRACE = 3 days;
    uint256 internal constant DEPOSIT = 100e6;

    function setUp() public virtual override {
        super.setUp();
        depositAs(agent, DEPOSIT);
    }

    function defaultTerms() internal view returns (Subscriptions.SubscriptionTerms memory) {
        return Subscriptions.SubscriptionTerms({
            subscriber: agent,
            provider: provider,
            token: address(usdc),
            price: PRICE,
            fee: FEE,
            period: PERIOD,
            start: uint64(block.timestamp),
            grace: GRACE,
            salt: keccak256("plan-1")
        });
    }

    /// @dev The operator opens `terms` with the agent's signature (the subscriber must be the agent, or the
    ///      signature is refused).
    function subscribe(Subscriptions.SubscriptionTerms memory terms) internal returns (bytes32 id) {
        bytes memory signature = signTerms(terms, block.timestamp, agentKey);
        vm.prank(operator);
        id = subs.subscribeWithSig(terms, block.timestamp, signature);
    }

    /// @dev The default plan, signed by the agent, period 0 charged.
    function subscribedAndCharged() internal returns (bytes32 id) {
        id = subscribe(defaultTerms());
        assertTrue(subs.charge(id), "period 0 charged");
    }

    /// @dev `key`'s EIP-712 signature over `Subscribe(terms..., deadline)`, digest computed here.
    function signTerms(Subscriptions.SubscriptionTerms memory terms, uint256 deadline, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, termsDigest(terms, deadline));
        return abi.encodePacked(r, s, v);
    }

    /// @dev The EIP-712 digest of the terms in the Subscriptions domain, built from the spec.
    function termsDigest(Subscriptions.SubscriptionTerms memory terms, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Clearing Subscriptions"),
                keccak256("1"),
                block.chainid,
                address(subs)
            )
        );
        bytes32 typeHash = keccak256(
            "Subscribe(address subscriber,address provider,address token,uint256 price,uint256 fee,uint64 period,uint64 start,uint64 grace,bytes32 salt,uint256 deadline)"
        );
        bytes32 structHash = keccak256(
            abi.encode(
                typeHash,
                terms.subscriber,
                terms.provider,
                terms.token,
                terms.price,
                terms.fee,
                terms.period,
                terms.start,
                terms.grace,
                terms.salt,
                deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function statusOf(bytes32 id) internal view returns (Subscriptions.Status) {
        return subs.statusOf(id);
    }

    function storedStatusOf(bytes32 id) internal view returns (Subscriptions.Status) {
        return subs.subscriptionOf(id).status;
    }

    function assertStatus(bytes32 id, Subscriptions.Status expected, string memory error) internal view {
        assertEq(uint256(statusOf(id)), uint256(expected), error);
    }

    function expectInvalidStatus(bytes32 id, Subscriptions.Status current) internal {
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_InvalidStatus.selector, id, current));
    }

    function expectUnauthorized(bytes32 id, address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(Subscriptions.Subs_Unauthorized.selector, id, caller));
    }
}
