//! The payer's EIP-712 authorisations the market relays to the escrow, so an agent releases or disputes a job with a
//! signature and no gas: `Release(bytes32 jobId,uint256 deadline)` and `Dispute(bytes32 jobId,uint256 deadline)` in
//! the domain `Clearing Escrow` / `1` / chain / escrow, exactly as `Escrow.releaseDigest` and `disputeDigest` compute
//! them; and the arbiter's `Resolve(bytes32 jobId,uint16 providerBps,uint256 deadline)` (`Escrow.resolveDigest`).
//! The market checks the payer's signature before queueing it, an EOA's by recovery and a wallet's by asking it on
//! chain (ERC-1271): these routes need no key, so a bad one is a 400, never a queued step that only fails on chain.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{Eip712Domain, SolStruct, sol};
use clearing_facilitator::WalletSignature;
use clearing_ledger::market::Job;
use clearing_x402::{ECDSA_SIGNATURE_LEN, EcdsaSignature};
use serde_json::{Value, json};

use crate::{ErrorCode, MarketError, Result, X402Edge};

/// The escrow's EIP-712 domain name.
pub(crate) const DOMAIN_NAME: &str = "Clearing Escrow";
/// Its version.
pub(crate) const DOMAIN_VERSION: &str = "1";
/// Longest a signed step may stay valid, seconds: a signature is a standing order the market relays.
pub(crate) const MAX_SIGNATURE_LIFETIME: u64 = 7 * 24 * 3_600;

sol! {
    /// The payer releases the job to its provider.
    struct Release {
        bytes32 jobId;
        uint256 deadline;
    }

    /// The payer disputes the job.
    struct Dispute {
        bytes32 jobId;
        uint256 deadline;
    }

    /// The arbiter splits a disputed job.
    struct Resolve {
        bytes32 jobId;
        uint16 providerBps;
        uint256 deadline;
    }
}

/// Which signed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signed {
    /// `Release`.
    Release,
    /// `Dispute`.
    Dispute,
}

impl Signed {
    const fn primary_type(self) -> &'static str {
        match self {
            Self::Release => "Release",
            Self::Dispute => "Dispute",
        }
    }
}

fn domain(chain_id: u64, escrow: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(escrow),
        None,
    )
}

/// The EIP-712 digest of `kind` for `job_id` valid until `deadline`.
pub(crate) fn digest(kind: Signed, chain_id: u64, escrow: Address, job_id: B256, deadline: u64) -> B256 {
    let domain = domain(chain_id, escrow);
    let deadline = U256::from(deadline);
    match kind {
        Signed::Release => Release { jobId: job_id, deadline }.eip712_signing_hash(&domain),
        Signed::Dispute => Dispute { jobId: job_id, deadline }.eip712_signing_hash(&domain),
    }
}

/// The EIP-712 digest the arbiter signs to give `provider_bps` of `job_id` to its provider side, valid until
/// `deadline` (`Escrow.resolveDigest`).
pub(crate) fn resolve_digest(chain_id: u64, escrow: Address, job_id: B256, provider_bps: u16, deadline: u64) -> B256 {
    Resolve { jobId: job_id, providerBps: provider_bps, deadline: U256::from(deadline) }
        .eip712_signing_hash(&domain(chain_id, escrow))
}

/// The arbiter's typed data to sign for [`resolve_digest`].
pub(crate) fn resolve_typed_data(
    chain_id: u64,
    escrow: Address,
    job_id: B256,
    provider_bps: u16,
    deadline: u64,
) -> Value {
    json!({
        "domain": domain_json(chain_id, escrow),
        "types": {
            "EIP712Domain": DOMAIN_TYPES.clone(),
            "Resolve": [
                {"name": "jobId", "type": "bytes32"},
                {"name": "providerBps", "type": "uint16"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Resolve",
        "message": {"jobId": job_id.to_string(), "providerBps": provider_bps, "deadline": deadline.to_string()},
        "digest": resolve_digest(chain_id, escrow, job_id, provider_bps, deadline).to_string(),
    })
}

fn domain_json(chain_id: u64, escrow: Address) -> Value {
    json!({
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": escrow.to_checksum(None),
    })
}

static DOMAIN_TYPES: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!([
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ])
});

/// Checks a deadline a signature is to be valid until: ahead, and not too far.
pub(crate) fn check_deadline(deadline: u64, now: u64) -> Result<()> {
    if deadline <= now {
        return Err(MarketError::field(ErrorCode::InvalidSignature, "deadline", "the signature's deadline has passed"));
    }
    if deadline > now + MAX_SIGNATURE_LIFETIME {
        return Err(MarketError::field(
            ErrorCode::InvalidSignature,
            "deadline",
            format!("a deadline more than {MAX_SIGNATURE_LIFETIME} seconds ahead is refused"),
        ));
    }
    Ok(())
}

/// The typed data to sign (`eth_signTypedData_v4`'s argument), for a wallet or viem's `signTypedData`.
pub(crate) fn typed_data(kind: Signed, chain_id: u64, escrow: Address, job_id: B256, deadline: u64) -> Value {
    json!({
        "domain": domain_json(chain_id, escrow),
        "types": {
            "EIP712Domain": DOMAIN_TYPES.clone(),
            kind.primary_type(): [
                {"name": "jobId", "type": "bytes32"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": kind.primary_type(),
        "message": {"jobId": job_id.to_string(), "deadline": deadline.to_string()},
        "digest": digest(kind, chain_id, escrow, job_id, deadline).to_string(),
    })
}

/// Longest signature relayed, bytes. Each rides in a `stepMany` item, and a batch over the 128 KiB (131,072-byte)
/// transaction limit of geth's and reth's pools is never mined, blocking the relayer's nonce. An item's ABI is 512
/// bytes (its offset word; kind, the ten words of the terms, deadline, the signature's offset and providerBps; the
/// signature's length word) plus the signature padded to 32 bytes, so a full batch of `[settle] batch_size` 100 is
/// at most 68 + 100 × (512 + 768) = 128,068 bytes of calldata, leaving 3 KB for the envelope (800 would not fit).
/// Room for a passkey (WebAuthn) wallet's signature, about 700 bytes, or eleven 65-byte multisig signatures.
pub(crate) const MAX_SIGNATURE_LEN: usize = 768;

/// Checks a signed step before it is queued, as the escrow will judge it (OpenZeppelin's `SignatureChecker`, and
/// the x402 verifier for payments): the deadline is ahead (and not too far), the signature at most
/// [`MAX_SIGNATURE_LEN`] bytes, and then by the payer's code on chain: with code, its ERC-1271 `isValidSignature`
/// must return the magic value (whatever the length: EIP-7702 accounts and smart wallets); without, it must be a
/// 65-byte ECDSA signature recovering to the payer. Returns the bytes to relay (an EOA's with v as 27/28).
pub(crate) async fn check(
    edge: &X402Edge,
    kind: Signed,
    job: &Job,
    deadline: u64,
    signature: &Bytes,
    now: u64,
) -> Result<Bytes> {
    let Some((job_id, _)) = &job.new.escrow_job else {
        return Err(MarketError::refused(ErrorCode::TransitionNotAllowed, "a data_api purchase has nothing to sign"));
    };
    let (chain_id, escrow, job_id, payer) = (job.new.chain_id, job.new.escrow, job_id.0, job.new.payer);
    check_deadline(deadline, now)?;
    if signature.len() > MAX_SIGNATURE_LEN {
        return Err(MarketError::field(
            ErrorCode::InvalidSignature,
            "signature",
            format!("a signature of more than {MAX_SIGNATURE_LEN} bytes is refused; this one has {}", signature.len()),
        ));
    }
    let digest = digest(kind, chain_id, escrow, job_id, deadline);
    let wrong = |why: &str| {
        MarketError::field(
            ErrorCode::InvalidSignature,
            "signature",
            format!(
                "the signature is not the payer's ({payer}) over this job's {} typed data: {why}",
                kind.primary_type()
            ),
        )
    };
    match edge.wallet_signature(chain_id, job.new.asset, payer, digest, signature.clone()).await? {
        WalletSignature::Valid => Ok(signature.clone()),
        WalletSignature::Refused => Err(wrong("the payer has code and its ERC-1271 isValidSignature refused it")),
        WalletSignature::NoCode => {
            let ecdsa = <&[u8; ECDSA_SIGNATURE_LEN]>::try_from(signature.as_ref())
                .ok()
                .and_then(|bytes| EcdsaSignature::from_bytes(bytes).ok())
                .filter(|ecdsa| ecdsa.recover(&digest).ok() == Some(payer));
            ecdsa
                .map(|ecdsa| Bytes::copy_from_slice(&ecdsa.to_bytes()))
                .ok_or_else(|| wrong("the payer has no code, so only its 65-byte ECDSA signature counts"))
        }
    }
}
