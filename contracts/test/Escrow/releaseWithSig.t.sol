// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Escrow} from "../../src/Escrow.sol";
import {MockERC1271Wallet} from "../mocks/MockERC1271Wallet.sol";
import {EscrowBase} from "./EscrowBase.t.sol";

contract Escrow_ReleaseWithSig_Test is EscrowBase {
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        deadline = block.timestamp + 1 days;
    }

    // ------------------------------------------------------------------ the signature

    function test_RevertWhen_DeadlinePassed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_SignatureExpired.selector, deadline + 1, deadline));
        vm.prank(relayer);
        escrow.releaseWithSig(terms, deadline, signature);
    }

    function test_RevertWhen_SignedByOtherKey() public {
        (, uint256 otherKey) = makeKey("mallory");
        _expectInvalidSignature(releaseTypeHash(), deadline, otherKey);
    }

    /// @dev The provider gains nothing by signing a release in the payer's name.
    function test_RevertWhen_SignedByProvider() public {
        (address signer, uint256 key) = makeKey("provider key");
        Escrow.JobTerms memory terms = defaultTerms();
        terms.provider = signer;
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, key);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        escrow.releaseWithSig(terms, deadline, signature);
    }

    /// @dev A dispute signature is not a release signature.
    function test_RevertWhen_SignatureIsForDispute() public {
        _expectInvalidSignature(disputeTypeHash(), deadline, payerKey);
    }

    function test_RevertWhen_SignatureForOtherDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        escrow.releaseWithSig(terms, deadline + 1, signature);
    }

    function test_RevertWhen_SignatureForOtherJob() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        Escrow.JobTerms memory other = defaultTerms();
        other.salt = keccak256("job-2");
        fundJob(other);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        bytes32 otherId = escrow.jobIdOf(other);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, otherId, payer));
        escrow.releaseWithSig(other, deadline, signature);
    }

    /// @dev Signed for this escrow on another chain (or another escrow): the domain differs.
    function test_RevertWhen_SignatureForOtherDomain() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        uint256 chainId = block.chainid;
        vm.chainId(chainId + 1);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.chainId(chainId);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        escrow.releaseWithSig(terms, deadline, signature);
    }

    function test_RevertWhen_SignatureMalformed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        assembly {
            mstore(signature, 64) // cut to 64 bytes
        }
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        escrow.releaseWithSig(terms, deadline, signature);
    }

    // ------------------------------------------------------------------ ERC-1271 payers

    function test_When_PayerIsERC1271Wallet() public {
        (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) = walletJob();
        bytes32 digest = escrow.releaseDigest(jobId, deadline);
        vm.prank(payer);
        wallet.approve(digest);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 47.5e6, 2.5e6);
        vm.prank(relayer);
        escrow.releaseWithSig(terms, deadline, "any bytes the wallet accepts");
        assertStatus(jobId, Escrow.Status.Released, "released");
        assertEq(address(wallet), terms.payer, "wallet is the payer");
    }

    /// @dev A payer with code is asked by ERC-1271 only: the controller's own ECDSA signature is not enough
    ///      unless the wallet says so.
    function test_RevertWhen_ERC1271WalletRefuses() public {
        (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) = walletJob();
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, address(wallet)));
        escrow.releaseWithSig(terms, deadline, signature);

        vm.prank(payer);
        wallet.setMode(MockERC1271Wallet.Mode.OwnerSignature);
        escrow.releaseWithSig(terms, deadline, signature);
        assertStatus(jobId, Escrow.Status.Released, "released once the wallet accepts the owner's signature");
    }

    function test_RevertWhen_ERC1271WalletAnswersWrongMagic() public {
        (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) = walletJob();
        vm.prank(payer);
        wallet.setMode(MockERC1271Wallet.Mode.WrongMagic);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, address(wallet)));
        escrow.releaseWithSig(terms, deadline, "");
    }

    function test_RevertWhen_ERC1271WalletReverts() public {
        (MockERC1271Wallet wallet, Escrow.JobTerms memory terms, bytes32 jobId) = walletJob();
        vm.prank(payer);
        wallet.setMode(MockERC1271Wallet.Mode.Reverting);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, address(wallet)));
        escrow.releaseWithSig(terms, deadline, "");
    }

    // ------------------------------------------------------------------ status

    function test_RevertWhen_NotFunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = escrow.jobIdOf(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.None);
        escrow.releaseWithSig(terms, deadline, signature);
    }

    /// @dev No nonce: a replayed release signature fails on the status, since a job is released once.
    function test_RevertWhen_Replayed() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        escrow.releaseWithSig(terms, deadline, signature);
        expectInvalidStatus(jobId, Escrow.Status.Released);
        escrow.releaseWithSig(terms, deadline, signature);
        assertEq(claimableOf(provider), 47.5e6, "credited once");
    }

    function test_RevertWhen_Refunded() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, Escrow.Status.Refunded);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        expectInvalidStatus(jobId, Escrow.Status.Refunded);
        escrow.releaseWithSig(terms, deadline, signature);
    }

    // ------------------------------------------------------------------ success: the payer's release

    function test_When_Funded() public {
        _releaseWithSigIn(Escrow.Status.Funded);
    }

    /// @dev Inside the review window, where only the payer may release.
    function test_When_CompletedDuringReviewWindow() public {
        _releaseWithSigIn(Escrow.Status.Completed);
    }

    /// @dev The payer's signature concedes the dispute, as the payer's own `release` does.
    function test_When_Disputed() public {
        _releaseWithSigIn(Escrow.Status.Disputed);
    }

    function test_When_AtDeadline() public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.warp(deadline);
        escrow.releaseWithSig(terms, deadline, signature);
        assertStatus(jobId, Escrow.Status.Released, "released at the deadline");
    }

    function test_When_DigestView() public {
        bytes32 jobId = keccak256("some job");
        assertEq(escrow.releaseDigest(jobId, deadline), actionDigest(releaseTypeHash(), jobId, deadline), "digest");
    }

    function testFuzz_ReleaseWithSig(uint256 signedFor, uint256 elapsed) public {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        uint256 sigDeadline = block.timestamp + bound(signedFor, 0, 30 days);
        bytes memory signature = signAction(releaseTypeHash(), jobId, sigDeadline, payerKey);
        vm.warp(block.timestamp + bound(elapsed, 0, 60 days));
        if (block.timestamp > sigDeadline) {
            vm.expectRevert(
                abi.encodeWithSelector(Escrow.Escrow_SignatureExpired.selector, block.timestamp, sigDeadline)
            );
            escrow.releaseWithSig(terms, sigDeadline, signature);
            assertStatus(jobId, Escrow.Status.Funded, "still funded");
        } else {
            escrow.releaseWithSig(terms, sigDeadline, signature);
            assertStatus(jobId, Escrow.Status.Released, "released");
        }
    }

    // ------------------------------------------------------------------ helpers

    function _releaseWithSigIn(Escrow.Status status) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = jobIn(terms, status);
        bytes memory signature = signAction(releaseTypeHash(), jobId, deadline, payerKey);
        vm.expectEmit(address(escrow));
        emit Escrow.JobReleased(jobId, 47.5e6, 2.5e6);
        vm.prank(relayer);
        escrow.releaseWithSig(terms, deadline, signature);
        assertStatus(jobId, Escrow.Status.Released, "released");
        assertEq(claimableOf(provider), 47.5e6, "provider");
        assertEq(claimableOf(feeRecipient), 2.5e6, "fee recipient");
        assertEq(liabilitiesOf(), 50e6, "liabilities unchanged by a release");
    }

    function _expectInvalidSignature(bytes32 typeHash, uint256 sigDeadline, uint256 key) internal {
        Escrow.JobTerms memory terms = defaultTerms();
        bytes32 jobId = fundJob(terms);
        bytes memory signature = signAction(typeHash, jobId, sigDeadline, key);
        vm.expectRevert(abi.encodeWithSelector(Escrow.Escrow_InvalidSignature.selector, jobId, payer));
        vm.prank(relayer);
        escrow.releaseWithSig(terms, sigDeadline, signature);
    }
}
