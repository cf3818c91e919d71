//! Facilitator HTTP bodies: `POST /verify` and `POST /settle` requests (either protocol version), their
//! responses, and `GET /supported`.
//!
//! Requests are third-party input and mirror the JSON; the responses are ours to write, so they are typed
//! (reasons are [`Reason`]s, addresses are written checksummed, the transaction is a hash or `""`).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeStruct};
use serde_json::{Value, value::RawValue};

use crate::{
    Error, Network, PaymentPayloadV1, PaymentPayloadV2, PaymentRequirementsV1, PaymentRequirementsV2, RawPayload,
    Reason, Rejection, Result, SCHEME_EXACT, X402Version,
    codec::{checksummed_opt, decimal_opt, tx_or_empty},
};

/// The body of `POST /verify` and `POST /settle`: `{x402Version, paymentPayload, paymentRequirements}`,
/// dispatched on `x402Version` (the top-level one, else the payload's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRequest {
    /// An x402 v1 payment against v1 requirements.
    V1 {
        /// The client's payment (`X-PAYMENT`).
        payload: PaymentPayloadV1,
        /// The resource server's requirement.
        requirements: PaymentRequirementsV1,
    },
    /// An x402 v2 payment against v2 requirements.
    V2 {
        /// The client's payment (`PAYMENT-SIGNATURE`).
        payload: PaymentPayloadV2,
        /// The resource server's requirement.
        requirements: PaymentRequirementsV2,
    },
}

/// The body of `POST /verify`.
pub type VerifyRequest = PaymentRequest;
/// The body of `POST /settle`.
pub type SettleRequest = PaymentRequest;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a JSON object with x402Version, paymentPayload and paymentRequirements")]
struct VersionProbe {
    x402_version: Option<u64>,
    payment_payload: Option<PayloadVersionProbe>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a paymentPayload object")]
struct PayloadVersionProbe {
    x402_version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body<P, R> {
    payment_payload: P,
    payment_requirements: R,
}

impl PaymentRequest {
    /// Parses a request body. Fails on anything that is not a v1 or v2 request (answer 400), including a
    /// top-level `x402Version` that contradicts the payload's.
    pub fn from_json(json: &str) -> Result<Self> {
        // Only an object is a request (serde would also read a struct from an array).
        if !json.trim_start().starts_with('{') {
            return Err(not_an_object(json));
        }
        let probe: VersionProbe = serde_json::from_str(json)?;
        let inner = probe.payment_payload.and_then(|p| p.x402_version);
        let number = match (probe.x402_version, inner) {
            (Some(request), Some(payload)) if request != payload => {
                return Err(Error::VersionMismatch { request, payload });
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => return Err(Error::MissingVersion),
        };
        match X402Version::from_number(number).ok_or(Error::UnsupportedVersion(number))? {
            X402Version::V1 => {
                let body: Body<PaymentPayloadV1, PaymentRequirementsV1> = serde_json::from_str(json)?;
                Ok(Self::V1 { payload: body.payment_payload, requirements: body.payment_requirements })
            }
            X402Version::V2 => {
                let body: Body<PaymentPayloadV2, PaymentRequirementsV2> = serde_json::from_str(json)?;
                Ok(Self::V2 { payload: body.payment_payload, requirements: body.payment_requirements })
            }
        }
    }

    /// Parses a request body from bytes (which must be UTF-8).
    pub fn from_slice(json: &[u8]) -> Result<Self> {
        Self::from_json(std::str::from_utf8(json).map_err(|e| Error::BodyNotUtf8 { offset: e.valid_up_to() })?)
    }

    /// The protocol version.
    pub const fn version(&self) -> X402Version {
        match self {
            Self::V1 { .. } => X402Version::V1,
            Self::V2 { .. } => X402Version::V2,
        }
    }

    /// The scheme the client paid with (v1 `payload.scheme`, v2 `payload.accepted.scheme`).
    pub fn payload_scheme(&self) -> &str {
        match self {
            Self::V1 { payload, .. } => &payload.scheme,
            Self::V2 { payload, .. } => &payload.accepted.scheme,
        }
    }

    /// The network the client paid on (v1 `payload.network`, v2 `payload.accepted.network`).
    pub fn payload_network(&self) -> &str {
        match self {
            Self::V1 { payload, .. } => &payload.network,
            Self::V2 { payload, .. } => &payload.accepted.network,
        }
    }

    /// The requirements' scheme.
    pub fn scheme(&self) -> &str {
        match self {
            Self::V1 { requirements, .. } => &requirements.scheme,
            Self::V2 { requirements, .. } => &requirements.scheme,
        }
    }

    /// The requirements' network as written (a v1 name or CAIP-2).
    pub fn network(&self) -> &str {
        match self {
            Self::V1 { requirements, .. } => &requirements.network,
            Self::V2 { requirements, .. } => &requirements.network,
        }
    }

    /// The requirements' network, parsed.
    pub fn parsed_network(&self) -> Result<Network> {
        Network::parse(self.network())
    }

    /// The scheme payload, verbatim.
    pub const fn raw_payload(&self) -> &RawPayload {
        match self {
            Self::V1 { payload, .. } => &payload.payload,
            Self::V2 { payload, .. } => &payload.payload,
        }
    }

    /// Whether both sides name the `exact` scheme.
    pub fn is_exact(&self) -> bool {
        self.payload_scheme() == SCHEME_EXACT && self.scheme() == SCHEME_EXACT
    }
}

impl Serialize for PaymentRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PaymentRequest", 3)?;
        s.serialize_field("x402Version", &self.version())?;
        match self {
            Self::V1 { payload, requirements } => {
                s.serialize_field("paymentPayload", payload)?;
                s.serialize_field("paymentRequirements", requirements)?;
            }
            Self::V2 { payload, requirements } => {
                s.serialize_field("paymentPayload", payload)?;
                s.serialize_field("paymentRequirements", requirements)?;
            }
        }
        s.end()
    }
}

impl<'de> Deserialize<'de> for PaymentRequest {
    /// Buffers the body as raw JSON, then [`PaymentRequest::from_json`]; works with any serde_json deserializer
    /// (e.g. axum's `Json`). Prefer `from_slice` on the body bytes to skip the copy.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Self::from_json(raw.get()).map_err(serde::de::Error::custom)
    }
}

/// The body `POST /verify` answers with (HTTP 200 for every business outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment verified.
    pub is_valid: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<Reason>,
    /// The specifics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// The payer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "checksummed_opt")]
    pub payer: Option<Address>,
    /// Protocol extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

impl VerifyResponse {
    /// A payment that verified.
    pub const fn valid(payer: Address) -> Self {
        Self { is_valid: true, invalid_reason: None, invalid_message: None, payer: Some(payer), extensions: None }
    }

    /// A payment that did not.
    pub fn invalid(rejection: &Rejection) -> Self {
        Self {
            is_valid: false,
            invalid_reason: Some(rejection.reason),
            invalid_message: Some(rejection.message.clone()),
            payer: rejection.payer,
            extensions: None,
        }
    }
}

/// The body `POST /settle` answers with, and the JSON of `X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether the payment settled.
    pub success: bool,
    /// Why not (`settlement_pending` when broadcast but not yet mined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<Reason>,
    /// The specifics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The payer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "checksummed_opt")]
    pub payer: Option<Address>,
    /// The settlement transaction; `""` on the wire when nothing was broadcast.
    #[serde(with = "tx_or_empty")]
    pub transaction: Option<B256>,
    /// The network as the request named it (a v1 name for v1, CAIP-2 for v2).
    pub network: String,
    /// The amount settled, atomic units.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub amount: Option<U256>,
    /// Protocol extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

impl SettleResponse {
    /// A settled payment.
    pub fn settled(payer: Address, transaction: B256, network: impl Into<String>) -> Self {
        Self {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(payer),
            transaction: Some(transaction),
            network: network.into(),
            amount: None,
            extensions: None,
        }
    }

    /// A payment broadcast in `transaction` whose receipt is not in yet: `settlement_pending` (not a failure:
    /// a retry of the same payload must report that transaction's final result).
    pub fn pending(payer: Address, transaction: B256, network: impl Into<String>) -> Self {
        Self {
            success: false,
            error_reason: Some(Reason::SettlementPending),
            error_message: Some(format!("transaction {transaction} is not mined yet")),
            ..Self::settled(payer, transaction, network)
        }
    }

    /// A payment that did not settle (nothing broadcast unless [`Self::with_transaction`] says otherwise).
    pub fn failed(rejection: &Rejection, network: impl Into<String>) -> Self {
        Self {
            success: false,
            error_reason: Some(rejection.reason),
            error_message: Some(rejection.message.clone()),
            payer: rejection.payer,
            transaction: None,
            network: network.into(),
            amount: None,
            extensions: None,
        }
    }

    /// The same response naming the amount settled.
    #[must_use]
    pub const fn with_amount(mut self, amount: U256) -> Self {
        self.amount = Some(amount);
        self
    }

    /// The same response naming a transaction (e.g. one that reverted).
    #[must_use]
    pub const fn with_transaction(mut self, transaction: B256) -> Self {
        self.transaction = Some(transaction);
        self
    }
}

/// The key of `/supported`'s `signers` that covers every EVM chain.
pub const EVM_SIGNERS_KEY: &str = "eip155:*";

/// One (version, scheme, network) a facilitator serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// The protocol version.
    pub x402_version: X402Version,
    /// The scheme.
    pub scheme: String,
    /// The network: a v1 name for v1 kinds, CAIP-2 for v2 kinds.
    pub network: String,
    /// Scheme extras.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl SupportedKind {
    /// `exact` on `network` for `version`; `None` for v1 on a network without a v1 name.
    pub fn exact(version: X402Version, network: Network) -> Option<Self> {
        let network = match version {
            X402Version::V1 => network.v1_name()?.to_owned(),
            X402Version::V2 => network.caip2(),
        };
        Some(Self { x402_version: version, scheme: SCHEME_EXACT.to_owned(), network, extra: None })
    }
}

/// The body `GET /supported` answers with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    /// What is served.
    pub kinds: Vec<SupportedKind>,
    /// Extensions served (none yet).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// The addresses that submit settlements, by CAIP family pattern (e.g. `eip155:*`).
    #[serde(default, with = "signers")]
    pub signers: BTreeMap<String, Vec<Address>>,
}

impl SupportedResponse {
    /// `kinds`, with `evm_signers` under `eip155:*`.
    pub fn new(kinds: Vec<SupportedKind>, evm_signers: Vec<Address>) -> Self {
        Self { kinds, extensions: Vec::new(), signers: BTreeMap::from([(EVM_SIGNERS_KEY.to_owned(), evm_signers)]) }
    }
}

mod signers {
    use serde::ser::SerializeMap;

    use super::*;

    #[derive(Serialize)]
    struct Checksummed<'a>(#[serde(with = "crate::codec::checksummed_vec")] &'a [Address]);

    #[derive(Deserialize)]
    struct Parsed(#[serde(with = "crate::codec::checksummed_vec")] Vec<Address>);

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Vec<Address>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for (key, addresses) in map {
            out.serialize_entry(key, &Checksummed(addresses))?;
        }
        out.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Vec<Address>>, D::Error> {
        let parsed = BTreeMap::<String, Parsed>::deserialize(deserializer)?;
        Ok(parsed.into_iter().map(|(k, Parsed(v))| (k, v)).collect())
    }
}

/// Why a body that does not start with `{` is not a request: serde's message when it is not JSON at all (it says
/// where), else what JSON value it is instead of an object (serde would name our probe's type).
fn not_an_object(json: &str) -> Error {
    let found = match serde_json::from_str::<Value>(json) {
        Err(error) => return Error::Json(error),
        Ok(Value::Null) => "null",
        Ok(Value::Bool(_)) => "a boolean",
        Ok(Value::Number(_)) => "a number",
        Ok(Value::String(_)) => "a string",
        Ok(Value::Array(_)) => "an array",
        Ok(Value::Object(_)) => "an object preceded by non-JSON whitespace",
    };
    Error::NotAnObject { found }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;

    use super::*;

    const V2_BODY: &str = r#"{"x402Version":2,"paymentPayload":{"x402Version":2,"payload":{"signature":"0x01","authorization":{}},"accepted":{"scheme":"exact","network":"eip155:8453","amount":"1","asset":"0xa","payTo":"0xb","maxTimeoutSeconds":60}},"paymentRequirements":{"scheme":"exact","network":"eip155:8453","amount":"1","asset":"0xa","payTo":"0xb","maxTimeoutSeconds":60}}"#;

    #[test]
    fn dispatches_on_version_and_round_trips() {
        let request = PaymentRequest::from_json(V2_BODY).unwrap();
        assert_eq!(request.version(), X402Version::V2);
        assert_eq!(request.network(), "eip155:8453");
        assert!(request.is_exact());
        assert_eq!(serde_json::to_string(&request).unwrap(), V2_BODY);
        assert_eq!(serde_json::from_str::<PaymentRequest>(V2_BODY).unwrap(), request);
        // The top-level version may be absent: the payload's decides.
        let no_top = V2_BODY.replacen("{\"x402Version\":2,", "{", 1);
        assert_eq!(PaymentRequest::from_json(&no_top).unwrap(), request);
    }

    #[test]
    fn version_errors_are_typed() {
        let mismatch = V2_BODY.replacen("{\"x402Version\":2,", "{\"x402Version\":1,", 1);
        assert!(matches!(PaymentRequest::from_json(&mismatch), Err(Error::VersionMismatch { request: 1, payload: 2 })));
        let three = V2_BODY.replace("\"x402Version\":2", "\"x402Version\":3");
        let err = PaymentRequest::from_json(&three).unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion(3)));
        assert_eq!(err.reason(), Reason::InvalidX402Version);
        assert!(matches!(PaymentRequest::from_json("{}"), Err(Error::MissingVersion)));
    }

    #[test]
    fn a_body_that_is_not_an_object_or_not_text_is_named_as_such() {
        for (body, found) in [("null", "null"), ("[]", "an array"), (" [2, {}, {}]", "an array"), ("\"x\"", "a string")]
        {
            let error = PaymentRequest::from_json(body).unwrap_err();
            assert!(matches!(error, Error::NotAnObject { found: f } if f == found), "{body}: {error}");
            let message = error.to_string();
            assert!(message.contains("must be a JSON object with x402Version, paymentPayload and paymentRequirements"));
            assert!(!message.contains("VersionProbe"), "{message}");
        }
        // Not JSON at all: serde's message, which says where.
        assert!(matches!(PaymentRequest::from_json(""), Err(Error::Json(_))));
        let error = PaymentRequest::from_slice(b"{\"x402Version\": \xff}").unwrap_err();
        assert!(matches!(error, Error::BodyNotUtf8 { offset: 16 }), "{error}");
        assert!(error.to_string().starts_with("the body is not valid UTF-8"), "{error}");
    }

    #[test]
    fn responses_are_camel_case_with_absent_optionals_omitted() {
        let payer = address!("B23b8595b75f2E3772120593Eb256AEb660C6025");
        assert_eq!(
            serde_json::to_string(&VerifyResponse::valid(payer)).unwrap(),
            r#"{"isValid":true,"payer":"0xB23b8595b75f2E3772120593Eb256AEb660C6025"}"#
        );
        let rejection = Rejection::new(Reason::ValidBefore, "expired").with_payer(Some(payer));
        let invalid = VerifyResponse::invalid(&rejection);
        let json = serde_json::to_string(&invalid).unwrap();
        assert_eq!(
            json,
            r#"{"isValid":false,"invalidReason":"invalid_exact_evm_payload_authorization_valid_before","invalidMessage":"expired","payer":"0xB23b8595b75f2E3772120593Eb256AEb660C6025"}"#
        );
        assert_eq!(serde_json::from_str::<VerifyResponse>(&json).unwrap(), invalid);

        let failed = SettleResponse::failed(&Rejection::new(Reason::InvalidScheme, "no"), "base");
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"success":false,"errorReason":"invalid_exact_evm_scheme","errorMessage":"no","transaction":"","network":"base"}"#
        );
        let tx = B256::repeat_byte(0xab);
        let settled = SettleResponse::settled(payer, tx, "eip155:8453").with_amount(U256::from(10_000));
        let json = serde_json::to_string(&settled).unwrap();
        assert!(
            json.ends_with(&format!(r#""transaction":"{tx}","network":"eip155:8453","amount":"10000"}}"#)),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<SettleResponse>(&json).unwrap(), settled);
        let pending = SettleResponse::pending(payer, tx, "eip155:8453");
        assert_eq!(pending.error_reason, Some(Reason::SettlementPending));
        assert_eq!(pending.transaction, Some(tx));
        assert!(!pending.success);
    }

    #[test]
    fn supported_shape() {
        let signer = address!("72B1a530D64885cbFeAd1A4Ce11462855098B02C");
        let kinds = vec![
            SupportedKind::exact(X402Version::V1, Network::BASE_SEPOLIA).unwrap(),
            SupportedKind::exact(X402Version::V2, Network::ANVIL).unwrap(),
        ];
        assert!(SupportedKind::exact(X402Version::V1, Network::ANVIL).is_none());
        let supported = SupportedResponse::new(kinds, vec![signer]);
        let json = serde_json::to_string(&supported).unwrap();
        assert_eq!(
            json,
            r#"{"kinds":[{"x402Version":1,"scheme":"exact","network":"base-sepolia"},{"x402Version":2,"scheme":"exact","network":"eip155:31337"}],"extensions":[],"signers":{"eip155:*":["0x72B1a530D64885cbFeAd1A4Ce11462855098B02C"]}}"#
        );
        assert_eq!(serde_json::from_str::<SupportedResponse>(&json).unwrap(), supported);
    }
}
