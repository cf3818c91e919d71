// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {MockUSDC} from "../mocks/MockUSDC.sol";
import {MockUSDCProxy} from "../mocks/MockUSDCProxy.sol";
import {Authorizations} from "../utils/Authorizations.sol";

/// @title EscrowBase
/// @notice Shared fixture for the Escrow unit tests: a MockUSDC, an Escrow with a 500 bps fee cap, named actors, a
///         default $50 job, and helpers that sign the payer's ReceiveWithAuthorization (fund), TransferWithAuthorization
///         (the operator entries) and EIP-712 Release/Dispute, and walk a job through its lifecycle.
abstract contract EscrowBase is Authorizations {
    uint16 internal constant MAX_FEE_BPS = 500;
    uint256 internal constant T0 = 1_750_000_000;
    uint256 internal constant PAYER_FUNDS = 1_000_000_000e6;

    MockUSDC internal usdc;
    Escrow internal escrow;

    address internal feeRecipient;
    address internal operator;
    address internal arbiter;
    uint256 internal arbiterKey;
    address internal provider;
    address internal relayer;
    address internal stranger;
    address internal payer;
    uint256 internal payerKey;

    function setUp() public virtual {
        vm.warp(T0);
        feeRecipient = makeAddr("feeRecipient");
        operator = makeAddr("operator");
        (arbiter, arbiterKey) = makeKey("arbiter");
        provider = makeAddr("provider");
        relayer = makeAddr("relayer");
        stranger = makeAddr("stranger");
        (payer, payerKey) = makeKey("payer");

        usdc = MockUSDC(address(new MockUSDCProxy("USD Coin")));
        escrow = new Escrow(feeRecipient, MAX_FEE_BPS, operator);
        usdc.mint(payer, PAYER_FUNDS);
    }

    /// @dev A $50 job: fee $2.50, fund within 1 hour, complete within 7 days, 3-day review window.
    function defaultTerms() internal view returns (Escrow.JobTerms memory) {
        return Escrow.JobTerms({
            payer: payer,
            provider: provider,
            token: address(usdc),
            amount: 50e6,
            fee: 2.5e6,
            arbiter: arbiter,
            fundingDeadline: uint64(block.timestamp + 1 hours),
            completionDeadline: uint64(block.timestamp + 7 days),
            reviewWindow: 3 days,
            salt: keccak256("job-1")
        });
    }

    /// @dev The payer's ReceiveWithAuthorization signature for `terms`, with the jobId as nonce.
    function signTerms(Escrow.JobTerms memory terms, uint256 key) internal view returns (bytes memory) {
        return signReceive(usdc, key, authorizationOf(terms));
    }

    function authorizationOf(Escrow.JobTerms memory terms) internal view returns (Authorization memory) {
        return Authorization({
            from: terms.payer,
            to: address(escrow),
            value: terms.amount,
            validAfter: 0,
            validBefore: terms.fundingDeadline,
            nonce: escrow.jobIdOf(terms)
        });
    }

    function fundJob(Escrow.JobTerms memory terms) internal returns (bytes32 jobId) {
        bytes memory signature = signTerms(terms, payerKey);
        vm.prank(relayer);
        escrow.fund(terms, signature);
        return escrow.jobIdOf(terms);
    }

    function completeJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.provider);
        escrow.markCompleted(terms);
    }

    function disputeJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.payer);
        escrow.dispute(terms);
    }

    function releaseJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.payer);
        escrow.release(terms);
    }

    function refundJob(Escrow.JobTerms memory terms) internal {
        vm.prank(terms.provider);
        escrow.refund(terms);
    }

    function resolveJob(Escrow.JobTerms memory terms, uint16 bps) internal {
        vm.prank(terms.arbiter);
        escrow.resolve(terms, bps);
    }

    /// @dev Funds `terms` and drives the job to `target`; terminal targets use the default path to them.
    function jobIn(Escrow.JobTerms memory terms, Escrow.Status target) internal returns (bytes32 jobId) {
        if (target == Escrow.Status.None) return escrow.jobIdOf(terms);
        jobId = fundJob(terms);
        if (target == Escrow.Status.Completed) {
            completeJob(terms);
        } else if (target == Escrow.Status.Disputed) {
            disputeJob(terms);
        } else if (target == Escrow.Status.Released) {
            releaseJob(terms);
        } else if (target == Escrow.Status.Refunded) {
            refundJob(terms);
        } else if (target == Escrow.Status.Resolved) {
            disputeJob(terms);
            resolveJob(terms, 5000);
        }
    }

    // ------------------------------------------------------------------ x402 transfer funding and payments

    /// @dev The x402 `exact` window the stock clients sign: valid from 10 minutes ago for 5 minutes.
    function transferWindow() internal view returns (uint256 validAfter, uint256 validBefore) {
        return (block.timestamp - 600, block.timestamp + 300);
    }

    /// @dev The payer's TransferWithAuthorization to the escrow for `terms`: value = amount, nonce = salt.
    function signTransferTerms(Escrow.JobTerms memory terms, uint256 key) internal view returns (bytes memory) {
        (uint256 validAfter, uint256 validBefore) = transferWindow();
        return signTransfer(
            usdc,
            key,
            Authorization({
                from: terms.payer,
                to: address(escrow),
                value: terms.amount,
                validAfter: validAfter,
                validBefore: validBefore,
                nonce: terms.salt
            })
        );
    }

    /// @dev A `TransferFunding` item for `terms`, signed with `key`.
    function transferFunding(Escrow.JobTerms memory terms, uint256 key)
        internal
        view
        returns (Escrow.TransferFunding memory item)
    {
        (uint256 validAfter, uint256 validBefore) = transferWindow();
        item = Escrow.TransferFunding({
            terms: terms, validAfter: validAfter, validBefore: validBefore, signature: signTransferTerms(terms, key)
        });
    }

    /// @dev Funds `terms` through the operator's `fundWithTransfer`.
    function fundJobWithTransfer(Escrow.JobTerms memory terms) internal returns (bytes32 jobId) {
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.prank(operator);
        escrow.fundWithTransfer(terms, item.validAfter, item.validBefore, item.signature);
        return escrow.jobIdOf(terms);
    }

    /// @dev A $1 data_api purchase from the payer to the provider with a 5-cent fee and a nonce from `seed`, signed.
    function directPayment(uint256 seed) internal view returns (Escrow.DirectPayment memory payment) {
        (uint256 validAfter, uint256 validBefore) = transferWindow();
        payment = Escrow.DirectPayment({
            payer: payer,
            provider: provider,
            amount: 1e6,
            fee: 0.05e6,
            validAfter: validAfter,
            validBefore: validBefore,
            nonce: keccak256(abi.encode("payment", seed)),
            signature: ""
        });
        payment.signature = signPayment(payment, payerKey);
    }

    /// @dev `key`'s TransferWithAuthorization for `payment`, paid to the escrow.
    function signPayment(Escrow.DirectPayment memory payment, uint256 key) internal view returns (bytes memory) {
        return signTransfer(
            usdc,
            key,
            Authorization({
                from: payment.payer,
                to: address(escrow),
                value: payment.amount,
                validAfter: payment.validAfter,
                validBefore: payment.validBefore,
                nonce: payment.nonce
            })
        );
    }

    /// @dev Submits `payment`'s authorization straight to the token, as a front-runner would: the money lands in
    ///      the escrow as surplus and the authorization is used.
    function frontRun(Escrow.DirectPayment memory payment) internal {
        vm.prank(stranger);
        usdc.transferWithAuthorization(
            payment.payer,
            address(escrow),
            payment.amount,
            payment.validAfter,
            payment.validBefore,
            payment.nonce,
            payment.signature
        );
    }

    /// @dev Submits `terms`' transfer authorization straight to the token (see `frontRun`).
    function frontRunTerms(Escrow.JobTerms memory terms) internal {
        Escrow.TransferFunding memory item = transferFunding(terms, payerKey);
        vm.prank(stranger);
        usdc.transferWithAuthorization(
            terms.payer, address(escrow), terms.amount, item.validAfter, item.validBefore, terms.salt, item.signature
        );
    }

    // ------------------------------------------------------------------ EIP-712 release and dispute

    /// @dev `key`'s EIP-712 signature over `typeHash(jobId, deadline)`, digest computed here (not by the escrow).
    function signAction(bytes32 typeHash, bytes32 jobId, uint256 deadline, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, actionDigest(typeHash, jobId, deadline));
        return abi.encodePacked(r, s, v);
    }

    /// @dev The EIP-712 digest of `typeHash(jobId, deadline)` in the escrow's domain, built from the spec.
    function actionDigest(bytes32 typeHash, bytes32 jobId, uint256 deadline) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Clearing Escrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, keccak256(abi.encode(typeHash, jobId, deadline))));
    }

    /// @dev A job paid by a MockERC1271Wallet that the payer key controls, funded with a wallet-approved
    ///      authorization.
    function walletJob() internal returns (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) {
        wallet = new MockERC1271Wallet(payer);
        usdc.mint(address(wallet), 100e6);
        terms = defaultTerms();
        terms.payer = address(wallet);
        jobId = escrow.jobIdOf(terms);
        bytes32 digest = digestOf(usdc, usdc.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), authorizationOf(terms));
        vm.prank(payer);
        wallet.approve(digest);
        escrow.fund(terms, "approved");
    }

    /// @dev `key`'s EIP-712 signature over `Resolve(jobId, providerBps, deadline)`, digest computed here.
    function signResolve(bytes32 jobId, uint16 providerBps, uint256 deadline, uint256 key)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, resolveDigestOf(jobId, providerBps, deadline));
        return abi.encodePacked(r, s, v);
    }

    /// @dev The EIP-712 digest of `Resolve(jobId, providerBps, deadline)` in the escrow's domain, from the spec.
    function resolveDigestOf(bytes32 jobId, uint16 providerBps, uint256 deadline) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Clearing Escrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Resolve(bytes32 jobId,uint16 providerBps,uint256 deadline)"), jobId, providerBps, deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function releaseTypeHash() internal pure returns (bytes32) {
        return keccak256("Release(bytes32 jobId,uint256 deadline)");
    }

    function disputeTypeHash() internal pure returns (bytes32) {
        return keccak256("Dispute(bytes32 jobId,uint256 deadline)");
    }

    // ------------------------------------------------------------------ reading state

    function statusOf(bytes32 jobId) internal view returns (Escrow.Status) {
        return escrow.jobState(jobId).status;
    }

    function assertStatus(bytes32 jobId, Escrow.Status expected, string memory error) internal view {
        assertEq(uint256(statusOf(jobId)), uint256(expected), error);
    }

    function expectInvalidStatus(bytes32 jobId, Escrow.Status current) internal {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidStatus.selector, jobId, current));
    }

    function expectUnauthorized(bytes32 jobId, address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_Unauthorized.selector, jobId, caller));
    }

    function claimableOf(address account) internal view returns (uint256) {
        return escrow.claimable(address(usdc), account);
    }

    function liabilitiesOf() internal view returns (uint256) {
        return escrow.liabilities(address(usdc));
    }

    function expectNotOperator(address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_NotOperator.selector, caller));
    }
}
