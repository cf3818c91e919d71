//! The chain reads of x402 verify, many at a time, in one `eth_call`.
//!
//! [`read_verify_batch`] sends `VerifyReader`'s creation code with the encoded queries as an `eth_call` without a
//! `to`: the constructor runs every read and returns the answers as the call's result. Nothing is deployed, so it
//! works against any node, and a batch costs one RPC call whatever its size.

use alloy::{
    eips::BlockId,
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::{SolConstructor, SolValue},
};

use crate::{
    ChainProvider, Result,
    contracts::VerifyReader::{self, Query},
};

alloy::sol! {
    /// `VerifyReader.Answer`, the element of what its constructor returns. The compiled ABI does not carry it (no
    /// function returns it), so it is declared here; the anvil tests decode real answers with it.
    #[derive(Debug)]
    struct Answer {
        uint256 tokenCodeSize;
        uint256 payerCodeSize;
        uint256 balance;
        bool balanceOk;
        bool nonceUsed;
        bool nonceOk;
        bool contractSignatureValid;
    }
}

/// Most queries in one call. Each answer takes 224 bytes of the returned "code", which EIP-170 caps at 24,576.
pub const MAX_VERIFY_READS: usize = 100;

/// One verify's reads: the payer's balance and nonce state at `token`, code sizes, and, for a payer with code,
/// its ERC-1271 answer for `digest` and `signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRead {
    /// The EIP-3009 token.
    pub token: Address,
    /// The authorization's `from`.
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// The EIP-712 digest the payer signed.
    pub digest: B256,
    /// The payer's signature (used only if the payer has code).
    pub signature: Bytes,
}

/// What the chain said about one [`VerifyRead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyAnswer {
    /// Whether the token address holds code.
    pub token_is_contract: bool,
    /// Whether the payer holds code (a contract wallet or an EIP-7702 delegated account).
    pub payer_has_code: bool,
    /// The payer's balance, if the token answered `balanceOf`.
    pub balance: Option<U256>,
    /// Whether the nonce is used or cancelled, if the token answered `authorizationState`.
    pub nonce_used: Option<bool>,
    /// For a payer with code: whether `isValidSignature` returned the ERC-1271 magic value.
    pub contract_signature_valid: bool,
}

impl From<Answer> for VerifyAnswer {
    fn from(answer: Answer) -> Self {
        Self {
            token_is_contract: answer.tokenCodeSize > U256::ZERO,
            payer_has_code: answer.payerCodeSize > U256::ZERO,
            balance: answer.balanceOk.then_some(answer.balance),
            nonce_used: answer.nonceOk.then_some(answer.nonceUsed),
            contract_signature_valid: answer.contractSignatureValid,
        }
    }
}

/// Answers up to [`MAX_VERIFY_READS`] reads with one `eth_call` at `block` (the latest block when `None`).
///
/// # Panics
/// If `reads` holds more than [`MAX_VERIFY_READS`] entries: callers batch below that.
pub async fn read_verify_batch(
    provider: &ChainProvider,
    reads: &[VerifyRead],
    block: Option<BlockId>,
) -> Result<Vec<VerifyAnswer>> {
    assert!(reads.len() <= MAX_VERIFY_READS, "{} reads exceed the batch cap of {MAX_VERIFY_READS}", reads.len());
    let queries = reads
        .iter()
        .map(|read| Query {
            token: read.token,
            payer: read.payer,
            nonce: read.nonce,
            digest: read.digest,
            signature: read.signature.clone(),
        })
        .collect();
    let mut input = VerifyReader::BYTECODE.to_vec();
    input.extend_from_slice(&VerifyReader::constructorCall { queries }.abi_encode());
    let request = TransactionRequest::default().input(Bytes::from(input).into());
    let call = provider.call(request);
    let returned = match block {
        Some(block) => call.block(block).await?,
        None => call.await?,
    };
    let answers = Vec::<Answer>::abi_decode(&returned)
        .map_err(|e| crate::Error::Decode { what: "VerifyReader answers", reason: e.to_string() })?;
    if answers.len() != reads.len() {
        return Err(crate::Error::Decode {
            what: "VerifyReader answers",
            reason: format!("expected {} answers, got {}", reads.len(), answers.len()),
        });
    }
    Ok(answers.into_iter().map(VerifyAnswer::from).collect())
}
