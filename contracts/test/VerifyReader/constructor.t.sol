// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VerifyReader} from "../../src/VerifyReader.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";

/// @dev The reader is meant for a deployless `eth_call`; here `new` runs the same constructor and stores the answers
///      as the new account's code, which the test reads back.
contract VerifyReaderTest is Authorizations {
    MockUSDC internal usdc;
    address internal payer;
    uint256 internal payerKey;

    function setUp() public {
        usdc = MockUSDC(address(new MockUSDCProxy("USDC")));
        (payer, payerKey) = makeKey("payer");
        usdc.mint(payer, 1_000_000);
        vm.warp(1000);
    }

    function read(VerifyReader.Query[] memory queries) internal returns (VerifyReader.Answer[] memory) {
        address answers = address(new VerifyReader(queries));
        return abi.decode(answers.code, (VerifyReader.Answer[]));
    }

    function query(address token, address who, bytes32 nonce) internal pure returns (VerifyReader.Query memory) {
        return VerifyReader.Query({token: token, payer: who, nonce: nonce, digest: bytes32(0), signature: ""});
    }

    function test_When_PayerIsAnEOA_ReadsBalanceAndFreshNonce() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](1);
        queries[0] = query(address(usdc), payer, bytes32(uint256(7)));

        VerifyReader.Answer memory a = read(queries)[0];

        assertEq(a.tokenCodeSize, address(usdc).code.length, "token code size");
        assertEq(a.payerCodeSize, 0, "an EOA has no code");
        assertTrue(a.balanceOk && a.nonceOk, "both reads answered");
        assertEq(a.balance, 1_000_000, "balance");
        assertFalse(a.nonceUsed, "fresh nonce");
        assertFalse(a.contractSignatureValid, "no ERC-1271 for an EOA");
    }

    function test_When_NonceWasUsed_ReportsIt() public {
        Authorization memory auth = Authorization(payer, address(0xB0B), 10, 0, 2000, bytes32(uint256(7)));
        usdc.transferWithAuthorization(
            auth.from,
            auth.to,
            auth.value,
            auth.validAfter,
            auth.validBefore,
            auth.nonce,
            signTransfer(usdc, payerKey, auth)
        );
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = query(address(usdc), payer, auth.nonce);
        queries[1] = query(address(usdc), payer, bytes32(uint256(8)));

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(answers[0].nonceUsed, "used nonce");
        assertFalse(answers[1].nonceUsed, "the next nonce is fresh");
        assertEq(answers[0].balance, 1_000_000 - 10, "balance after the transfer");
    }

    function test_When_TokenHasNoCode_ReportsZeroCodeAndNoReads() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](1);
        queries[0] = query(address(0xdead), payer, bytes32(0));

        VerifyReader.Answer memory a = read(queries)[0];

        assertEq(a.tokenCodeSize, 0, "no code");
        assertFalse(a.balanceOk || a.nonceOk, "nothing read from a non-contract");
    }

    function test_When_TokenIsNotEIP3009_OneQueryFailsAndTheOthersAnswer() public {
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        // A wallet has code but neither balanceOf nor authorizationState.
        queries[0] = query(address(new MockERC1271Wallet(payer)), payer, bytes32(0));
        queries[1] = query(address(usdc), payer, bytes32(0));

        VerifyReader.Answer[] memory answers = read(queries);

        assertFalse(answers[0].balanceOk || answers[0].nonceOk, "reads of a non-token fail softly");
        assertTrue(answers[1].balanceOk && answers[1].nonceOk, "the other query still answers");
    }

    function test_When_PayerIsAWallet_AsksERC1271() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        bytes32 digest = keccak256("digest");
        vm.prank(payer);
        wallet.approve(digest);
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](2);
        queries[0] = VerifyReader.Query(address(usdc), address(wallet), bytes32(0), digest, hex"01");
        queries[1] = VerifyReader.Query(address(usdc), address(wallet), bytes32(0), keccak256("other"), hex"01");

        VerifyReader.Answer[] memory answers = read(queries);

        assertTrue(answers[0].payerCodeSize > 0, "a wallet has code");
        assertTrue(answers[0].contractSignatureValid, "approved digest");
        assertFalse(answers[1].contractSignatureValid, "unapproved digest");
    }

    function test_When_WalletReverts_SignatureIsInvalid() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(payer);
        vm.prank(payer);
        wallet.setMode(MockERC1271Wallet.Mode.Reverting);
        VerifyReader.Query[] memory queries = new VerifyReader.Query[](1);
        queries[0] = VerifyReader.Query(address(usdc), address(wallet), bytes32(0), bytes32(0), "");

        assertFalse(read(queries)[0].contractSignatureValid, "a reverting wallet approves nothing");
    }

    function test_When_NoQueries_ReturnsAnEmptyList() public {
        assertEq(read(new VerifyReader.Query[](0)).length, 0, "empty");
    }
}
