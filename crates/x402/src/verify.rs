//! Pure verification of an `exact` EVM payment against its requirements, at a time the caller gives.
//!
//! The checks run in the reference order (docs/PROTOCOL.md, "Reference verify order"; `x402-foundation/x402`
//! `typescript/packages/mechanisms/evm/src/exact/facilitator/eip3009.ts`) and the first failure is reported:
//!
//! 1. scheme: payload and requirements both `exact` (`invalid_exact_evm_scheme`); then the payload must parse
//!    as the `exact` EVM payload (`invalid_payload`);
//! 2. EIP-712 domain: `extra.name` and `extra.version` present (`invalid_exact_evm_missing_eip712_domain`);
//! 3. network: the requirements' network is an EVM chain (`unsupported_network`) and the payload's is the same
//!    chain, v1 names and CAIP-2 compared by chain id (`invalid_exact_evm_network_mismatch`);
//! 4. signature over `TransferWithAuthorization` in the token's domain (see [`PayerCode`]);
//! 5. recipient: `authorization.to == payTo` (`invalid_exact_evm_recipient_mismatch`), and `payTo` is not the
//!    token itself (`invalid_exact_evm_recipient_is_token`, Clearing's own: value sent there is stuck);
//! 6. `validBefore >= now + VALID_BEFORE_MARGIN_SECS` (`..._valid_before`), and `validBefore <= now +
//!    maxTimeoutSeconds + MAX_CLOCK_SKEW_SECS` (`..._valid_before_too_far`, Clearing's own);
//! 7. `validAfter <= now` (`..._valid_after`);
//! 8. `value` equals the amount exactly (v2 `amount`, v1 `maxAmountRequired`) (`..._value_mismatch`), and is
//!    not zero (`invalid_exact_evm_payload_authorization_value`);
//! 9. v2 only: `accepted.asset` is the requirements' asset (`asset_mismatch`, Clearing's own).
//!
//! Malformed requirement fields (`asset`, `payTo`, the amount) are reported where they are first needed, as
//! `invalid_payment_requirements`. The chain checks (nonce unused, balance, asset has code, ERC-1271) are the
//! caller's, after this.

use std::fmt;

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::Value;

use crate::{
    ECDSA_SIGNATURE_LEN, Error, ExactEvmAuthorization, MAX_SIGNATURE_LEN, Network, PayerSignature, PaymentRequest,
    RawPayload, Reason, Rejection, SCHEME_EXACT, TokenDomain, X402Version,
    codec::{parse_address, parse_decimal},
};

/// How far ahead of now `validBefore` must lie, in seconds, so the settlement transaction can still land
/// (reference: `x402-foundation/x402` `typescript/packages/mechanisms/evm/src/exact/facilitator/eip3009.ts`,
/// "Verify validBefore is in the future (with 6 second buffer for block time)").
pub const VALID_BEFORE_MARGIN_SECS: u64 = 6;

/// How far a client's clock may run ahead of ours, in seconds, when `validBefore` is checked against the
/// requirements' `maxTimeoutSeconds`. The reference clients sign `validBefore = now + maxTimeoutSeconds`
/// (`x402-foundation/x402` `typescript/packages/mechanisms/evm/src/exact/client/eip3009.ts`, and the v1 `x402`
/// 1.2 client: its vectors in tests/vectors), so an honest `validBefore` exceeds our `now + maxTimeoutSeconds`
/// only by how far the client's clock leads ours. A minute covers an unsynchronised host; a longer authorization
/// than the resource server asked for is refused.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// How much of a client-supplied string a rejection message quotes.
const QUOTE_MAX_CHARS: usize = 66;

/// What the caller knows about code at `authorization.from`, which decides how a signature is checked:
/// FiatToken v2.2 uses only ERC-1271 `isValidSignature` when the signer has code (also for EIP-7702
/// delegated EOAs), and otherwise only `ecrecover` (65 bytes, low s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PayerCode {
    /// Not looked up (the fast path). A 65-byte signature that recovers to `from` is
    /// [`SignatureCheck::Recovered`]; any other signature that a contract wallet could have made is
    /// [`SignatureCheck::NeedsContractCheck`] and the later checks still run, so if the caller then finds no
    /// code it must verify again with [`PayerCode::NoCode`] to get the reference reason. EIP-6492 wrappers are
    /// refused (`eip6492_factory_not_allowed`).
    #[default]
    Unknown,
    /// `eth_getCode(from)` is empty: only ECDSA counts; anything else is rejected in order.
    NoCode,
    /// `from` has code: every signature is [`SignatureCheck::NeedsContractCheck`] (with the bytes as sent; an
    /// EIP-6492 wrapper is kept so the caller can unwrap it).
    HasCode,
}

/// How the signature was, or still must be, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureCheck {
    /// ECDSA recovered `authorization.from` from the digest.
    Recovered,
    /// Only the chain can tell: call `isValidSignature(digest, signature)` on `from` (ERC-1271) and require
    /// the magic value `0x1626ba7e`; if `from` has no code, the payment is invalid.
    NeedsContractCheck,
}

/// Remembered ECDSA recoveries, kept by the caller: the signer of a (digest, 65-byte signature) pair never
/// changes, so a caller that verifies one payment more than once (a resource server's verify, then settle's) need
/// not recover it again. Only successful recoveries are offered to [`Recoveries::put`].
pub trait Recoveries: Send + Sync {
    /// The signer recovered earlier from `signature` (as sent) over `digest`, if remembered.
    fn get(&self, digest: &B256, signature: &[u8]) -> Option<Address>;
    /// Remembers that `signature` (as sent) over `digest` recovers `signer`.
    fn put(&self, digest: &B256, signature: &[u8], signer: Address);
}

/// Options of [`verify_exact`].
#[derive(Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    payer_code: PayerCode,
    domains: &'a [TokenDomain],
    recoveries: Option<&'a dyn Recoveries>,
}

impl fmt::Debug for VerifyOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("payer_code", &self.payer_code)
            .field("domains", &self.domains)
            .field("recoveries", &self.recoveries.is_some())
            .finish()
    }
}

impl<'a> VerifyOptions<'a> {
    /// Payer code unknown, no cached domains, no remembered recoveries.
    pub const fn new() -> Self {
        Self { payer_code: PayerCode::Unknown, domains: &[], recoveries: None }
    }

    /// Recoveries to look up before recovering, and to add each new one to.
    #[must_use]
    pub const fn with_recoveries(mut self, recoveries: &'a dyn Recoveries) -> Self {
        self.recoveries = Some(recoveries);
        self
    }

    /// What is known about code at the payer.
    #[must_use]
    pub const fn with_payer_code(mut self, payer_code: PayerCode) -> Self {
        self.payer_code = payer_code;
        self
    }

    /// Token domains to reuse: one matching the requirements' (chain, asset, name, version) saves computing
    /// the domain separator; without a match it is computed.
    #[must_use]
    pub const fn with_domains(mut self, domains: &'a [TokenDomain]) -> Self {
        self.domains = domains;
        self
    }
}

/// A payment that passed every check this crate can make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayment {
    /// The protocol version of the request.
    pub x402_version: X402Version,
    /// The chain.
    pub network: Network,
    /// `authorization.from`.
    pub payer: Address,
    /// The authorization, typed.
    pub authorization: ExactEvmAuthorization,
    /// The signature: `Ecdsa` when recovered (v normalised to 27/28 for the `(v, r, s)` overload), the bytes
    /// as sent otherwise.
    pub signature: PayerSignature,
    /// Whether the signature is settled or still needs ERC-1271.
    pub signature_check: SignatureCheck,
    /// The `TransferWithAuthorization` digest.
    pub digest: B256,
    /// The token's domain (its `token()` is the requirements' asset).
    pub domain: TokenDomain,
}

/// Verifies an `exact` EVM payment at unix time `now` (see the module docs for the order of checks).
pub fn verify_exact(
    request: &PaymentRequest,
    now: u64,
    options: VerifyOptions<'_>,
) -> Result<VerifiedPayment, Rejection> {
    let parts = Parts::of(request);
    let parsed = parts.payload.exact_evm();
    let payer = parsed.as_ref().ok().map(|p| p.authorization.from);
    let reject = |reason: Reason, message: String| Rejection { reason, message, payer };

    if parts.payload_scheme != SCHEME_EXACT || parts.scheme != SCHEME_EXACT {
        return Err(reject(
            Reason::InvalidScheme,
            format!(
                "payload scheme {} and requirements scheme {}, expected both \"{SCHEME_EXACT}\"",
                Quote(parts.payload_scheme),
                Quote(parts.scheme)
            ),
        ));
    }
    let payment = parsed.map_err(|e| reject(Reason::InvalidPayload, format!("exact EVM payload: {e}")))?;
    let authorization = payment.authorization;

    let (name, version) = eip712_name_version(parts.extra).ok_or_else(|| {
        reject(
            Reason::MissingEip712Domain,
            "requirements extra.name and extra.version (the token's EIP-712 domain) are required".to_owned(),
        )
    })?;

    let network = Network::parse(parts.network).map_err(|_| {
        reject(
            Reason::UnsupportedNetwork,
            format!("requirements network {} is not an EVM network", Quote(parts.network)),
        )
    })?;
    if Network::parse(parts.payload_network).ok() != Some(network) {
        return Err(reject(
            Reason::NetworkMismatch,
            format!("payload network {}, requirements network {network}", Quote(parts.payload_network)),
        ));
    }

    let asset = parse_address(parts.asset).ok_or_else(|| {
        reject(
            Reason::InvalidPaymentRequirements,
            format!("requirements asset {} is not an address", Quote(parts.asset)),
        )
    })?;
    let domain = options
        .domains
        .iter()
        .find(|d| d.is(network.chain_id(), asset, name, version))
        .cloned()
        .unwrap_or_else(|| TokenDomain::new(network.chain_id(), asset, name, version));
    let digest = domain.transfer_digest(&authorization);

    let (signature, signature_check) =
        check_signature(&payment.signature, &digest, authorization.from, options.payer_code, options.recoveries)
            .map_err(|(reason, message)| reject(reason, message))?;

    let pay_to = parse_address(parts.pay_to).ok_or_else(|| {
        reject(
            Reason::InvalidPaymentRequirements,
            format!("requirements payTo {} is not an address", Quote(parts.pay_to)),
        )
    })?;
    if authorization.to != pay_to {
        return Err(reject(
            Reason::RecipientMismatch,
            format!("authorization.to {} but payTo {pay_to}", authorization.to),
        ));
    }
    if pay_to == asset {
        return Err(reject(
            Reason::RecipientIsToken,
            format!("payTo {pay_to} is the token contract itself; value sent there cannot be moved out"),
        ));
    }

    let now_u256 = U256::from(now);
    if authorization.valid_before < now_u256 + U256::from(VALID_BEFORE_MARGIN_SECS) {
        return Err(reject(
            Reason::ValidBefore,
            format!(
                "validBefore {} is earlier than now {now} + {VALID_BEFORE_MARGIN_SECS}s",
                authorization.valid_before
            ),
        ));
    }
    let latest = now_u256 + U256::from(parts.max_timeout_seconds) + U256::from(MAX_CLOCK_SKEW_SECS);
    if authorization.valid_before > latest {
        return Err(reject(
            Reason::ValidBeforeTooFar,
            format!(
                "validBefore {} is later than now {now} + maxTimeoutSeconds {} + {MAX_CLOCK_SKEW_SECS}s of clock skew",
                authorization.valid_before, parts.max_timeout_seconds
            ),
        ));
    }
    if authorization.valid_after > now_u256 {
        return Err(reject(
            Reason::ValidAfter,
            format!("validAfter {} is later than now {now}", authorization.valid_after),
        ));
    }

    let amount = parse_decimal(parts.amount).ok_or_else(|| {
        reject(
            Reason::InvalidPaymentRequirements,
            format!("required amount {} is not a decimal uint256", Quote(parts.amount)),
        )
    })?;
    if authorization.value != amount {
        return Err(reject(
            Reason::ValueMismatch,
            format!("authorization.value {} but the required amount is {amount}", authorization.value),
        ));
    }
    if amount.is_zero() {
        return Err(reject(
            Reason::InvalidAuthorizationValue,
            "authorization.value and the required amount are 0: a payment must move at least one atomic unit"
                .to_owned(),
        ));
    }

    if let Some(accepted) = parts.accepted_asset
        && parse_address(accepted) != Some(asset)
    {
        return Err(reject(
            Reason::AssetMismatch,
            format!("accepted.asset {} but requirements asset {asset}", Quote(accepted)),
        ));
    }

    Ok(VerifiedPayment {
        x402_version: request.version(),
        network,
        payer: authorization.from,
        authorization,
        signature,
        signature_check,
        digest,
        domain,
    })
}

/// The fields verification reads, whatever the version.
struct Parts<'a> {
    payload_scheme: &'a str,
    payload_network: &'a str,
    payload: &'a RawPayload,
    scheme: &'a str,
    network: &'a str,
    amount: &'a str,
    asset: &'a str,
    pay_to: &'a str,
    max_timeout_seconds: u64,
    extra: Option<&'a Value>,
    accepted_asset: Option<&'a str>,
}

impl<'a> Parts<'a> {
    fn of(request: &'a PaymentRequest) -> Self {
        match request {
            PaymentRequest::V1 { payload, requirements: r } => Self {
                payload_scheme: &payload.scheme,
                payload_network: &payload.network,
                payload: &payload.payload,
                scheme: &r.scheme,
                network: &r.network,
                amount: &r.max_amount_required,
                asset: &r.asset,
                pay_to: &r.pay_to,
                max_timeout_seconds: r.max_timeout_seconds,
                extra: r.extra.as_ref(),
                accepted_asset: None,
            },
            PaymentRequest::V2 { payload, requirements: r } => Self {
                payload_scheme: &payload.accepted.scheme,
                payload_network: &payload.accepted.network,
                payload: &payload.payload,
                scheme: &r.scheme,
                network: &r.network,
                amount: &r.amount,
                asset: &r.asset,
                pay_to: &r.pay_to,
                max_timeout_seconds: r.max_timeout_seconds,
                extra: r.extra.as_ref(),
                accepted_asset: Some(&payload.accepted.asset),
            },
        }
    }
}

/// `extra.name` and `extra.version`, both non-empty strings.
fn eip712_name_version(extra: Option<&Value>) -> Option<(&str, &str)> {
    let extra = extra?;
    let field = |key| extra.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    Some((field("name")?, field("version")?))
}

/// The signature step. See [`PayerCode`] for the decision table.
fn check_signature(
    bytes: &Bytes,
    digest: &B256,
    from: Address,
    code: PayerCode,
    recoveries: Option<&dyn Recoveries>,
) -> Result<(PayerSignature, SignatureCheck), (Reason, String)> {
    let on_chain = || Ok((PayerSignature::Contract(bytes.clone()), SignatureCheck::NeedsContractCheck));
    // Before anything else, a contract wallet's included: too long for any batch to carry (MAX_SIGNATURE_LEN).
    if bytes.len() > MAX_SIGNATURE_LEN {
        return Err((Reason::InvalidSignature, Error::SignatureLength(bytes.len()).to_string()));
    }
    match PayerSignature::parse(bytes) {
        Ok(PayerSignature::Ecdsa(signature)) => {
            if code == PayerCode::HasCode {
                return on_chain();
            }
            let remembered = recoveries.and_then(|r| r.get(digest, bytes));
            let recovered = remembered.map_or_else(|| signature.recover(digest), Ok);
            if let (Some(recoveries), None, Ok(signer)) = (recoveries, remembered, &recovered) {
                recoveries.put(digest, bytes, *signer);
            }
            match recovered {
                Ok(signer) if signer == from => Ok((PayerSignature::Ecdsa(signature), SignatureCheck::Recovered)),
                _ if code == PayerCode::Unknown => on_chain(),
                Ok(signer) => Err((
                    Reason::InvalidSignature,
                    format!("signature recovers {signer}, not authorization.from {from}"),
                )),
                Err(e) => Err((Reason::InvalidSignature, e.to_string())),
            }
        }
        Ok(PayerSignature::Contract(contract)) => match code {
            PayerCode::NoCode => Err((
                Reason::UndeployedSmartWallet,
                format!("{}-byte smart-wallet signature but authorization.from {from} has no code", contract.len()),
            )),
            PayerCode::Unknown | PayerCode::HasCode => {
                Ok((PayerSignature::Contract(contract), SignatureCheck::NeedsContractCheck))
            }
        },
        Ok(PayerSignature::Eip6492(wrapped)) => match code {
            PayerCode::HasCode => Ok((PayerSignature::Eip6492(wrapped), SignatureCheck::NeedsContractCheck)),
            PayerCode::Unknown | PayerCode::NoCode => Err((
                Reason::Eip6492FactoryNotAllowed,
                format!(
                    "EIP-6492 signature deploys through factory {}; counterfactual wallets are not accepted",
                    wrapped.factory
                ),
            )),
        },
        // A 65-byte signature that is not canonical ECDSA may still be a contract wallet's.
        Err(_) if code == PayerCode::HasCode || (code == PayerCode::Unknown && bytes.len() == ECDSA_SIGNATURE_LEN) => {
            on_chain()
        }
        Err(e) => Err((Reason::InvalidSignature, e.to_string())),
    }
}

/// A client-supplied string quoted for a message, cut to [`QUOTE_MAX_CHARS`] characters.
struct Quote<'a>(&'a str);

impl fmt::Display for Quote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTE_MAX_CHARS) {
            Some((cut, _)) => write!(f, "{:?}…", &self.0[..cut]),
            None => write!(f, "{:?}", self.0),
        }
    }
}

#[cfg(test)]
mod tests;
