//! x402 `exact` verify: the pure checks of `clearing-x402`, then what only the chain knows.
//!
//! The order is the reference facilitator's (docs/PROTOCOL.md): scheme, EIP-712 domain, network, signature, recipient,
//! validity window, value (all pure, in [`clearing_x402::verify_exact`]); then, from one coalesced chain read,
//! the signature of a payer with code (ERC-1271 only, as FiatToken v2.2 does), the nonce, the balance less what
//! the payer already has in flight, whether the asset is a contract, and last the transfer itself, simulated with
//! the token's own code in the same read: a paused token, a blacklisted payer or payTo, or any other rule of the
//! token refuses the payment now, with its reason, rather than at settle. Verify commits nothing.
//!
//! The chain answers are read at the head the poller last saw and reused until it moves ([`cache`]); an answer
//! reflects every transaction mined before the poll that reported its block was sent. Two rules keep that exact
//! where this facilitator's own settlements are concerned: the nonce of a payment it holds (queued, sent, or just
//! final) is answered only from a head polled after the payment last changed, and settlements in flight are
//! subtracted from the balance at answer time, including just-final ones the answer's block may predate. And a
//! payment is refused only on an answer from a head polled after the request arrived: staleness may delay nothing
//! but an acceptance's view of the newest block, never turn a payer funded a moment ago away.

mod cache;
mod coalescer;
mod guard;
mod head;
mod recoveries;
mod used;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Instant,
};

use alloy::primitives::{Address, B256, Bytes};
use clearing_chain::{Simulation, VerifyRead, reason::Refusal};
use clearing_x402::{
    Network, PayerCode, PayerSignature, PaymentRequest, Reason, Rejection, SCHEME_EXACT, SignatureCheck, TokenDomain,
    VerifiedPayment, VerifyOptions, verify_exact,
};

pub use self::coalescer::{BlockAnswer, CoalescerConfig, ReadCoalescer, ReadError};
use self::recoveries::RecoveryCache;
pub use self::used::{USED_BY_LOOKBACK_BLOCKS, UsedBy};
use crate::{Clock, InFlight};

/// Most token domains kept; beyond it new ones are computed per request (a domain costs two hashes).
const MAX_CACHED_DOMAINS: usize = 256;

/// What the chain says of a payer's signature given outside x402 ([`Verifier::wallet_signature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletSignature {
    /// The payer has no code: only its own ECDSA signature counts, which needs no chain.
    NoCode,
    /// The payer has code and its `isValidSignature` returned the ERC-1271 magic value.
    Valid,
    /// The payer has code and its `isValidSignature` did not (another value, a revert, or no answer).
    Refused,
}

/// Verifies x402 `exact` payments on the chains it serves; cheap to clone.
#[derive(Debug, Clone)]
pub struct Verifier {
    chains: Arc<HashMap<u64, ReadCoalescer>>,
    clock: Arc<dyn Clock>,
    inflight: InFlight,
    domains: Arc<RwLock<Vec<TokenDomain>>>,
    recoveries: Arc<RecoveryCache>,
}

impl Verifier {
    /// A verifier for the chains in `readers` (by chain id), reading time from `clock` and counting `inflight`
    /// settlements against balances.
    pub fn new(readers: HashMap<u64, ReadCoalescer>, clock: Arc<dyn Clock>, inflight: InFlight) -> Self {
        Self { chains: Arc::new(readers), clock, inflight, domains: Arc::default(), recoveries: Arc::default() }
    }

    /// The chains served, as networks.
    pub fn networks(&self) -> Vec<Network> {
        let mut networks: Vec<_> = self.chains.keys().map(|id| Network::new(*id)).collect();
        networks.sort_by_key(|network| network.chain_id());
        networks
    }

    /// Whether `request` would settle now: every check passes and nothing is committed.
    pub async fn verify(&self, request: &PaymentRequest) -> Result<VerifiedPayment, Rejection> {
        let coalescer = self.chain_of(request)?;
        let payment = match self.verify_pure(request, PayerCode::Unknown) {
            Ok(payment) => payment,
            Err(rejection) => return Err(self.signature_first(request, coalescer, rejection).await),
        };
        let started = Instant::now();
        let (chain_id, token, nonce) =
            (payment.network.chain_id(), payment.domain.token(), payment.authorization.nonce);
        let read = || VerifyRead {
            token,
            payer: payment.payer,
            to: payment.authorization.to,
            value: payment.authorization.value,
            valid_after: payment.authorization.valid_after,
            valid_before: payment.authorization.valid_before,
            nonce,
            digest: payment.digest,
            signature: token_signature(&payment.signature),
            simulate: true,
        };
        let failed = |e: ReadError| reject(&payment, Reason::UnexpectedVerifyError, e.to_string());
        // A payment of ours may be mined any moment: its nonce is never answered from a block polled before that.
        let answer = match self.inflight.unsettled_since(chain_id, token, payment.payer, nonce) {
            Some(since) => coalescer.read_after(read(), since).await,
            None => coalescer.read(read()).await,
        }
        .map_err(failed)?;
        let as_of = answer.as_of;
        match self.judge(request, &payment, answer) {
            // A refusal comes only from a block polled after the request arrived (a payer funded a moment ago is
            // not refused from the block before); acceptance may come from the head polled last.
            Err(_) if as_of < started => {
                let answer = coalescer.read_after(read(), started).await.map_err(failed)?;
                self.judge(request, &payment, answer)?;
            }
            judged => judged?,
        }
        Ok(payment)
    }

    /// What the chain's `answer` says of `payment`, in the reference order.
    fn judge(&self, request: &PaymentRequest, payment: &VerifiedPayment, answer: BlockAnswer) -> Result<(), Rejection> {
        let BlockAnswer { answer, as_of } = answer;
        if answer.payer_has_code {
            if !answer.contract_signature_valid {
                return Err(reject(
                    payment,
                    Reason::InvalidSignature,
                    format!("payer {} has code and its ERC-1271 isValidSignature refused the signature", payment.payer),
                ));
            }
        } else if payment.signature_check == SignatureCheck::NeedsContractCheck {
            // No code at the payer: only ECDSA counts, so the reference reason comes from the pure checks.
            self.verify_pure(request, PayerCode::NoCode)?;
        }

        if answer.nonce_used == Some(true) {
            return Err(reject(
                payment,
                Reason::NonceAlreadyUsed,
                format!("nonce {} of {} is already used or cancelled", payment.authorization.nonce, payment.payer),
            ));
        }
        if let Some(balance) = answer.balance {
            let (chain_id, token) = (payment.network.chain_id(), payment.domain.token());
            let committed = self.inflight.committed(chain_id, token, payment.payer, payment.authorization.nonce, as_of);
            let needed = payment.authorization.value.saturating_add(committed);
            if balance < needed {
                return Err(reject(
                    payment,
                    Reason::InsufficientBalance,
                    format!(
                        "balance {balance} of {} is below {} plus {committed} in flight",
                        payment.payer, payment.authorization.value
                    ),
                ));
            }
        }
        if !answer.token_is_contract {
            return Err(reject(
                payment,
                Reason::AssetNotDeployedContract,
                format!("asset {} has no code on {}", payment.domain.token(), payment.network),
            ));
        }
        if answer.balance.is_none() || answer.nonce_used.is_none() {
            return Err(reject(
                payment,
                Reason::Eip3009NotSupported,
                format!("asset {} does not answer balanceOf and authorizationState", payment.domain.token()),
            ));
        }
        simulated(payment, &answer.transfer)
    }

    /// The reader of the request's chain, or `unsupported_network` when this facilitator does not serve it.
    fn chain_of(&self, request: &PaymentRequest) -> Result<&ReadCoalescer, Rejection> {
        if let Ok(network) = request.parsed_network()
            && let Some(coalescer) = self.chains.get(&network.chain_id())
        {
            return Ok(coalescer);
        }
        // A wrong scheme comes before the network in the reference order.
        if request.scheme() != SCHEME_EXACT || request.payload_scheme() != SCHEME_EXACT {
            self.verify_pure(request, PayerCode::Unknown)?;
        }
        Err(Rejection::new(
            Reason::UnsupportedNetwork,
            format!("network {:?} is not served by this facilitator (see GET /supported)", request.network()),
        ))
    }

    /// With the payer's code unknown, a signature that does not recover may still be a wallet's, so the pure
    /// checks go on past it; when a later check then fails, the reference order still wants the signature named
    /// first if the payer has no code. (A wallet's signature with a later failure reports the later reason.)
    async fn signature_first(
        &self,
        request: &PaymentRequest,
        coalescer: &ReadCoalescer,
        rejection: Rejection,
    ) -> Rejection {
        let Some(payer) = rejection.payer.filter(|_| checked_after_signature(rejection.reason)) else {
            return rejection;
        };
        let ecdsa_only = match self.verify_pure(request, PayerCode::NoCode) {
            Err(ecdsa_only) if ecdsa_only.reason == Reason::InvalidSignature => ecdsa_only,
            _ => return rejection,
        };
        match coalescer.read(VerifyRead::code_of(payer)).await {
            Ok(BlockAnswer { answer, .. }) if answer.payer_has_code => rejection,
            Ok(_) => ecdsa_only,
            Err(e) => Rejection::new(Reason::UnexpectedVerifyError, e.to_string()).with_payer(Some(payer)),
        }
    }

    /// Whether `payer` has code on `chain_id` and, if so, whether its ERC-1271 `isValidSignature(digest,
    /// signature)` returns the magic value: the same batched, per-block cached read as a wallet's payment gets, for
    /// a signature given outside x402 (the escrow authorisations the market relays). `token` must hold code (the
    /// asset the signed step moves). As in [`Verifier::verify`], anything but [`WalletSignature::Valid`] is answered
    /// only from a head polled after this call began.
    pub async fn wallet_signature(
        &self,
        chain_id: u64,
        token: Address,
        payer: Address,
        digest: B256,
        signature: Bytes,
    ) -> Result<WalletSignature, ReadError> {
        let coalescer = self.chains.get(&chain_id).ok_or(ReadError::UnservedChain(chain_id))?;
        let started = Instant::now();
        let read = || VerifyRead::wallet_signature(token, payer, digest, signature.clone());
        let mut answer = coalescer.read(read()).await?;
        let verdict =
            |answer: &BlockAnswer| match (answer.answer.payer_has_code, answer.answer.contract_signature_valid) {
                (false, _) => WalletSignature::NoCode,
                (true, true) => WalletSignature::Valid,
                (true, false) => WalletSignature::Refused,
            };
        if verdict(&answer) != WalletSignature::Valid && answer.as_of < started {
            answer = coalescer.read_after(read(), started).await?;
        }
        Ok(verdict(&answer))
    }

    /// Waits until every chain's answers reflect each transaction mined before this call (for a caller that
    /// just changed the chain itself, such as a test).
    pub async fn sync(&self) -> Result<(), ReadError> {
        for coalescer in self.chains.values() {
            coalescer.sync().await?;
        }
        Ok(())
    }

    /// The checks that need no chain: a payment that fails them fails `verify` too, with the same reason.
    pub fn precheck(&self, request: &PaymentRequest) -> Result<VerifiedPayment, Rejection> {
        self.verify_pure(request, PayerCode::Unknown)
    }

    fn verify_pure(&self, request: &PaymentRequest, payer_code: PayerCode) -> Result<VerifiedPayment, Rejection> {
        let now = self.clock.now();
        let payment = {
            let domains = self.domains.read().unwrap_or_else(|e| e.into_inner());
            let options = VerifyOptions::new()
                .with_payer_code(payer_code)
                .with_domains(&domains)
                .with_recoveries(self.recoveries.as_ref());
            verify_exact(request, now, options)?
        };
        self.remember(&payment.domain);
        Ok(payment)
    }

    fn remember(&self, domain: &TokenDomain) {
        let known = {
            let domains = self.domains.read().unwrap_or_else(|e| e.into_inner());
            domains.iter().any(|d| d == domain) || domains.len() >= MAX_CACHED_DOMAINS
        };
        if !known {
            let mut domains = self.domains.write().unwrap_or_else(|e| e.into_inner());
            if !domains.iter().any(|d| d == domain) {
                domains.push(domain.clone());
            }
        }
    }
}

/// The simulated transfer's verdict, last in the order as in the reference facilitator (which simulates after its
/// reads): whatever the token would refuse at settle is refused now, with its reason.
fn simulated(payment: &VerifiedPayment, transfer: &Simulation) -> Result<(), Rejection> {
    let refusal = match transfer {
        Simulation::Succeeded => return Ok(()),
        Simulation::NotRun => {
            return Err(reject(
                payment,
                Reason::UnexpectedVerifyError,
                "the batched chain read ran short of gas before simulating this transfer; retry".to_owned(),
            ));
        }
        Simulation::Refused(refusal) => refusal,
    };
    let (payer, to, token) = (payment.payer, payment.authorization.to, payment.domain.token());
    let (reason, message) = match refusal.refusal() {
        // The head's timestamp trails our clock, which already found the window open; the settling block's is later.
        Refusal::Reason(Reason::ValidAfter) => return Ok(()),
        Refusal::Reason(reason) => (reason, format!("token {token} would refuse the transfer: {refusal}")),
        Refusal::Blacklisted if refusal.payer_blacklisted => {
            (Reason::PayerBlacklisted, format!("payer {payer} is on token {token}'s blacklist"))
        }
        Refusal::Blacklisted if refusal.recipient_blacklisted => {
            (Reason::RecipientBlacklisted, format!("payTo {to} is on token {token}'s blacklist"))
        }
        Refusal::Blacklisted => {
            (Reason::AccountBlacklisted, format!("token {token} says the payer or payTo is blacklisted: {refusal}"))
        }
        Refusal::Other => (Reason::SimulationFailed, format!("token {token} would refuse the transfer: {refusal}")),
    };
    Err(reject(payment, reason, message))
}

/// Whether the reference order checks `reason` after the signature.
const fn checked_after_signature(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::RecipientMismatch
            | Reason::RecipientIsToken
            | Reason::ValidBefore
            | Reason::ValidBeforeTooFar
            | Reason::ValidAfter
            | Reason::ValueMismatch
            | Reason::InvalidAuthorizationValue
            | Reason::AssetMismatch
    )
}

/// The signature as the token takes it: 65 bytes r‖s‖v (v as 27/28) for ECDSA, the bytes as sent for a wallet.
pub fn token_signature(signature: &PayerSignature) -> Bytes {
    match signature {
        PayerSignature::Ecdsa(ecdsa) => Bytes::copy_from_slice(&ecdsa.to_bytes()),
        PayerSignature::Contract(bytes) => bytes.clone(),
        PayerSignature::Eip6492(wrapped) => wrapped.inner.clone(),
    }
}

fn reject(payment: &VerifiedPayment, reason: Reason, message: String) -> Rejection {
    Rejection::new(reason, message).with_payer(Some(payment.payer))
}
