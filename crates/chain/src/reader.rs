//! The chain reads of x402 verify, many at a time, in one `eth_call`.
//!
//! [`read_verify_batch`] sends `VerifyReader`'s creation code with the encoded queries as an `eth_call` without a
//! `to`: the constructor runs every read, simulates every transfer with the token's own code (each undone before
//! the next), and returns the answers as the call's result. Nothing is deployed, so it works against any node, and
//! a batch costs one RPC call whatever its size. [`read_code`] asks `CodeReader` the same way which accounts have
//! code (the relayer sizes a batch's gas limit by it).

use alloy::{
    eips::BlockId,
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::{SolConstructor, SolValue},
};

use crate::{
    ChainProvider, Result,
    contracts::{
        CodeReader,
        VerifyReader::{self, Query},
    },
    reason::Refusal,
};

alloy::sol! {
    /// `VerifyReader.Answer`, the element of what its constructor returns. The compiled ABI does not carry it (no
    /// function returns it), so it is declared here; the anvil tests decode real answers with it.
    #[derive(Debug)]
    struct Answer {
        uint256 balance;
        uint256 flags;
        bytes refusal;
    }
}

/// `VerifyReader`'s answer flags (contracts/src/VerifyReader.sol; its Foundry tests pin the same values).
mod flags {
    pub(super) const TOKEN_HAS_CODE: u64 = 1 << 0;
    pub(super) const PAYER_HAS_CODE: u64 = 1 << 1;
    pub(super) const BALANCE_OK: u64 = 1 << 2;
    pub(super) const NONCE_OK: u64 = 1 << 3;
    pub(super) const NONCE_USED: u64 = 1 << 4;
    pub(super) const CONTRACT_SIGNATURE_VALID: u64 = 1 << 5;
    pub(super) const SIMULATED: u64 = 1 << 6;
    pub(super) const SIMULATION_SUCCEEDED: u64 = 1 << 7;
    pub(super) const REFUSAL_IS_MESSAGE: u64 = 1 << 8;
    pub(super) const PAYER_BLACKLISTED: u64 = 1 << 9;
    pub(super) const RECIPIENT_BLACKLISTED: u64 = 1 << 10;
}

/// Most queries in one call: the answers are returned as code, which EIP-170 caps at 24,576 bytes, and an answer
/// takes at most 224 bytes.
pub const MAX_VERIFY_READS: usize = 100;

/// EIP-3860's cap on creation code, which nodes apply to an `eth_call` without `to` as well: the reader's code plus
/// its encoded queries must fit.
const MAX_INITCODE_SIZE: usize = 49_152;

/// Bytes of encoded queries one call can carry: what EIP-3860 leaves after the reader's own code and the
/// constructor argument's offset and length words. About 100 queries of EOA payers (480 bytes each).
pub fn verify_batch_budget() -> usize {
    MAX_INITCODE_SIZE - VerifyReader::BYTECODE.len() - 64
}

/// Bytes `read` adds to a call's encoded queries: its offset in the array, ten head words (the signature's as an
/// offset), and the signature's length word and padded bytes.
pub fn verify_read_size(read: &VerifyRead) -> usize {
    32 + 10 * 32 + 32 + read.signature.len().div_ceil(32) * 32
}

/// One verify's reads: the payer's balance and nonce state at `token`, code sizes, for a payer with code its
/// ERC-1271 answer for `digest` and `signature`, and the simulated `transferWithAuthorization` of the authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRead {
    /// The EIP-3009 token.
    pub token: Address,
    /// The authorization's `from`.
    pub payer: Address,
    /// The authorization's `to`.
    pub to: Address,
    /// The authorization's value.
    pub value: U256,
    /// The authorization's `validAfter`.
    pub valid_after: U256,
    /// The authorization's `validBefore`.
    pub valid_before: U256,
    /// The authorization's nonce.
    pub nonce: B256,
    /// The EIP-712 `TransferWithAuthorization` digest of the fields above in the token's domain: it commits to
    /// every one of them, so callers may key what a read answered by (digest, signature).
    pub digest: B256,
    /// The payer's signature as the token takes it (65 bytes r‖s‖v for an EOA).
    pub signature: Bytes,
    /// Whether to simulate the transfer (the answer's `transfer` is [`Simulation::NotRun`] when not).
    pub simulate: bool,
}

impl VerifyRead {
    /// A read of `payer`'s code alone (no token, nothing simulated).
    pub fn code_of(payer: Address) -> Self {
        Self {
            token: Address::ZERO,
            payer,
            to: Address::ZERO,
            value: U256::ZERO,
            valid_after: U256::ZERO,
            valid_before: U256::ZERO,
            nonce: B256::ZERO,
            digest: B256::ZERO,
            signature: Bytes::new(),
            simulate: false,
        }
    }

    /// A read of `payer`'s code and, if it has code, its ERC-1271 answer for `digest` and `signature`, for a
    /// signature given outside x402 (an escrow authorisation). `token` must hold code (the reader asks the wallet
    /// only after a token's reads): the asset the signed step moves. Nothing is simulated; the nonce is zero.
    pub fn wallet_signature(token: Address, payer: Address, digest: B256, signature: Bytes) -> Self {
        Self { token, digest, signature, ..Self::code_of(payer) }
    }
}

/// What the token did with the simulated `transferWithAuthorization` (state rolled back after each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Simulation {
    /// Not simulated: not asked for, the token has no code, or the call had too little gas left for this item.
    NotRun,
    /// The transfer would succeed at this block.
    Succeeded,
    /// The token refused it.
    Refused(TokenRefusal),
}

/// The token's refusal of a simulated transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    /// The message of its `Error(string)`, if it reverted with one (cut to 64 bytes).
    pub message: Option<String>,
    /// Its raw revert data otherwise (cut to 64 bytes; empty when it ran out of its stipend).
    pub data: Bytes,
    /// Whether the token's `isBlacklisted(payer)` said true.
    pub payer_blacklisted: bool,
    /// Whether the token's `isBlacklisted(to)` said true.
    pub recipient_blacklisted: bool,
}

impl TokenRefusal {
    /// What the refusal means ([`reason::classify`](crate::reason::classify)); raw data is [`Refusal::Other`].
    pub fn refusal(&self) -> Refusal {
        self.message.as_deref().map_or(Refusal::Other, crate::reason::classify)
    }
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.message, self.data.is_empty()) {
            (Some(message), _) => write!(f, "{message:?}"),
            (None, true) => f.write_str("no revert data (out of its gas stipend?)"),
            (None, false) => write!(f, "revert data {}", self.data),
        }
    }
}

/// What the chain said about one [`VerifyRead`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The simulated transfer.
    pub transfer: Simulation,
}

impl From<Answer> for VerifyAnswer {
    fn from(answer: Answer) -> Self {
        // Only the low bits are flags; anything above them is ignored.
        let bits = answer.flags.as_limbs()[0];
        let has = |flag: u64| bits & flag != 0;
        let transfer = if !has(flags::SIMULATED) {
            Simulation::NotRun
        } else if has(flags::SIMULATION_SUCCEEDED) {
            Simulation::Succeeded
        } else {
            let (message, data) = if has(flags::REFUSAL_IS_MESSAGE) {
                (Some(String::from_utf8_lossy(&answer.refusal).into_owned()), Bytes::new())
            } else {
                (None, answer.refusal)
            };
            Simulation::Refused(TokenRefusal {
                message,
                data,
                payer_blacklisted: has(flags::PAYER_BLACKLISTED),
                recipient_blacklisted: has(flags::RECIPIENT_BLACKLISTED),
            })
        };
        Self {
            token_is_contract: has(flags::TOKEN_HAS_CODE),
            payer_has_code: has(flags::PAYER_HAS_CODE),
            balance: has(flags::BALANCE_OK).then_some(answer.balance),
            nonce_used: has(flags::NONCE_OK).then_some(has(flags::NONCE_USED)),
            contract_signature_valid: has(flags::CONTRACT_SIGNATURE_VALID),
            transfer,
        }
    }
}

/// Answers up to [`MAX_VERIFY_READS`] reads with one `eth_call` at `block` (the latest block when `None`). Callers
/// keep the reads' [`verify_read_size`]s within [`verify_batch_budget`]; past it the node refuses the whole call
/// ("max initcode size exceeded").
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
            to: read.to,
            value: read.value,
            validAfter: read.valid_after,
            validBefore: read.valid_before,
            nonce: read.nonce,
            digest: read.digest,
            signature: read.signature.clone(),
            simulate: read.simulate,
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

/// The most accounts one [`read_code`] call asks about: 32 bytes of creation-code input each, well within the
/// 49,152 bytes EIP-3860 allows creation code (nodes apply it to an `eth_call` without `to`) and a node's gas cap
/// for calls, and more than a batch holds.
const MAX_CODE_READS: usize = 1_024;

/// Which of `accounts` have code at the latest block (an EIP-7702 delegation counts), in order, from the creation
/// code of `CodeReader` run as an `eth_call` (one call per [`MAX_CODE_READS`] accounts).
pub async fn read_code(provider: &ChainProvider, accounts: &[Address]) -> Result<Vec<bool>> {
    let mut flags = Vec::with_capacity(accounts.len());
    for chunk in accounts.chunks(MAX_CODE_READS) {
        let mut input = CodeReader::BYTECODE.to_vec();
        input.extend_from_slice(&CodeReader::constructorCall { accounts: chunk.to_vec() }.abi_encode());
        let returned = provider.call(TransactionRequest::default().input(Bytes::from(input).into())).await?;
        if returned.len() != chunk.len() || returned.iter().any(|flag| *flag > 1) {
            return Err(crate::Error::Decode {
                what: "CodeReader flags",
                reason: format!("expected {} bytes of 0 or 1, got {returned}", chunk.len()),
            });
        }
        flags.extend(returned.iter().map(|flag| *flag == 1));
    }
    Ok(flags)
}
