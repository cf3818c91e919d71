// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockSignatureChecker} from "../mocks/MockSignatureChecker.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Vm} from "../utils/Vm.sol";
import {MockUSDC_Base} from "./Base.t.sol";

/// @notice MockUSDC is deployed as FiatToken v2.2 is: a proxy (the token's address) delegating to an implementation,
///         which checks signatures through a separately deployed checker by DELEGATECALL; initialization sets the
///         name and owner once and blacklists the token's own address.
contract MockUSDC_Proxy_Test is MockUSDC_Base {
    event Blacklisted(address indexed account);
    event AdminChanged(address previousAdmin, address newAdmin);
    event Upgraded(address implementation);

    MockUSDCProxy internal proxy;
    address internal admin;

    function setUp() public override {
        super.setUp();
        proxy = MockUSDCProxy(payable(address(token)));
        admin = proxy.INITIAL_ADMIN();
    }

    // ------------------------------------------------------------------ constructor and initialize

    function test_When_Deployed_TokenIsTheProxyWithAnImplementationAndAChecker() public view {
        address implementation = proxy.implementation();
        assertTrue(implementation != address(token), "implementation apart from the proxy");
        assertTrue(implementation.code.length > 0, "implementation has code");
        address checker = MockUSDC(implementation).signatureChecker();
        assertTrue(checker.code.length > 0, "checker has code");
        assertEq(token.signatureChecker(), checker, "the proxy reads the implementation's immutable");
        assertEq(proxy.admin(), admin, "admin");
        assertEq(token.owner(), address(this), "owner is the deployer");
        assertEq(token.name(), "USDC", "name in the proxy's storage");
    }

    function test_When_Deployed_TokenBlacklistsItself() public {
        assertTrue(token.isBlacklisted(address(token)), "the token's own address");
        vm.recordLogs();
        MockUSDC fresh = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].emitter, address(fresh), "emitted by the token");
        assertEq(logs[0].topics[0], keccak256("Blacklisted(address)"), "Blacklisted");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(address(fresh)))), "its own address");
    }

    function test_RevertWhen_InitializedAgain() public {
        vm.expectRevert(bytes("MockUSDC: already initialized"));
        token.initialize("Other", alice);
        assertEq(token.owner(), address(this), "owner unchanged");
    }

    function test_RevertWhen_ImplementationInitializedDirectly() public {
        MockUSDC implementation = MockUSDC(proxy.implementation());
        vm.expectRevert(bytes("MockUSDC: already initialized"));
        implementation.initialize("USDC", alice);
    }

    // ------------------------------------------------------------------ fallback

    function test_RevertWhen_AdminCallsTheToken() public {
        vm.expectRevert(bytes("Cannot call fallback function from the proxy admin"));
        vm.prank(admin);
        token.balanceOf(alice);
    }

    function test_RevertWhen_CalledWithoutData() public {
        // The implementation has no receive or fallback: an empty call reaches it and is refused.
        vm.prank(alice);
        (bool ok,) = address(token).call("");
        assertFalse(ok, "refused");
    }

    function test_When_TokenRevertsBehindTheProxy_ReasonComesBackUnchanged() public {
        Authorization memory auth = _auth(NONCE);
        bytes memory sig = _sign(Op.TransferBytes, aliceKey, auth);
        sig[64] = 0x1d; // v = 29
        // From inside the checker, through two DELEGATECALLs.
        _expectSubmitReverts(Op.TransferBytes, auth, sig, BAD_V);
    }

    // ------------------------------------------------------------------ admin functions

    function test_When_AdminChangesAdmin() public {
        vm.expectEmit(address(proxy));
        emit AdminChanged(admin, alice);
        vm.prank(admin);
        proxy.changeAdmin(alice);
        assertEq(proxy.admin(), alice, "new admin");
    }

    function test_RevertWhen_AdminChangesAdminToZero() public {
        vm.expectRevert(bytes("Cannot change the admin of a proxy to the zero address"));
        vm.prank(admin);
        proxy.changeAdmin(address(0));
    }

    function test_When_AdminUpgrades_StorageStays() public {
        address next = address(new MockUSDC(address(new MockSignatureChecker())));
        vm.expectEmit(address(proxy));
        emit Upgraded(next);
        vm.prank(admin);
        proxy.upgradeTo(next);
        assertEq(proxy.implementation(), next, "implementation");
        assertEq(token.balanceOf(alice), START_BALANCE, "balances kept");
        assertEq(token.name(), "USDC", "name kept");
        _signAndSubmit(Op.TransferBytes, aliceKey, _auth(NONCE));
        assertEq(token.balanceOf(bob), AMOUNT, "the new implementation moves tokens");
    }

    function test_RevertWhen_UpgradeToNonContract() public {
        vm.expectRevert(bytes("Cannot set a proxy implementation to a non-contract address"));
        vm.prank(admin);
        proxy.upgradeTo(alice);
    }

    function test_When_NonAdminCallsAdminFunctions_TheyReachTheImplementation() public {
        // The implementation has no changeAdmin or upgradeTo: the call reverts there and nothing changes.
        vm.prank(alice);
        vm.expectRevert();
        proxy.changeAdmin(alice);
        vm.prank(alice);
        vm.expectRevert();
        proxy.upgradeTo(address(token));
        assertEq(proxy.admin(), admin, "admin unchanged");
    }

    // ------------------------------------------------------------------ signature checker

    function test_When_CheckerCalledDirectly_SameRules() public {
        MockSignatureChecker checker = MockSignatureChecker(token.signatureChecker());
        bytes32 digest = keccak256("digest");
        bytes memory sig = _signDigest(aliceKey, digest);
        assertTrue(checker.isValidSignatureNow(alice, digest, sig), "the signer");
        assertFalse(checker.isValidSignatureNow(bob, digest, sig), "someone else");
        vm.expectRevert(bytes(BAD_LENGTH));
        checker.isValidSignatureNow(alice, digest, new bytes(64));
    }
}
