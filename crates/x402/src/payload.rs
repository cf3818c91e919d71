//! Scheme payloads: kept verbatim as raw JSON on the wire types, parsed into typed `exact` EVM values on
//! demand.
//!
//! A payment payload's `payload` object belongs to its scheme, so the wire structs hold it as raw JSON
//! ([`RawPayload`]): a payload of a scheme we do not serve still parses (and is answered with a reason rather
//! than a 400), re-encoding reproduces the client's bytes, and the `exact` EVM parse reads the text once with
//! borrowed strings instead of building a JSON tree.

use std::{borrow::Cow, fmt};

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use serde::{Deserialize, Serialize, ser::SerializeStruct};
use serde_json::value::RawValue;

use crate::{
    Error, FieldProblem, Result,
    codec::{address_field, bytes32_field, decimal_field},
};

/// A scheme payload as the client sent it (raw JSON text). Compares by text; `Debug` shows only its size, so
/// a payload (and its signature) never lands in a log by accident.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawPayload(Box<RawValue>);

impl RawPayload {
    /// Wraps JSON text, checking that it is JSON.
    pub fn from_json(json: impl Into<String>) -> Result<Self> {
        Ok(Self(RawValue::from_string(json.into())?))
    }

    /// The JSON of an `exact` EVM payload.
    pub fn from_exact_evm(payload: &ExactEvmPayload) -> Self {
        Self(serde_json::value::to_raw_value(payload).expect("an exact EVM payload always serialises"))
    }

    /// The JSON text, exactly as received.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Parses the payload as the `exact` EVM scheme's.
    pub fn exact_evm(&self) -> Result<ExactEvmPayload> {
        ExactEvmPayload::from_json(self.as_str())
    }
}

impl PartialEq for RawPayload {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawPayload {}

impl fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawPayload({} bytes)", self.as_str().len())
    }
}

/// An EIP-3009 `transferWithAuthorization` / `receiveWithAuthorization` message, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExactEvmAuthorization {
    /// The payer (`authorization.from`).
    pub from: Address,
    /// The payee (`authorization.to`).
    pub to: Address,
    /// Atomic units of the token.
    pub value: U256,
    /// Unix seconds after which the authorization is valid (strictly after, on chain).
    pub valid_after: U256,
    /// Unix seconds before which the authorization is valid (strictly before, on chain).
    pub valid_before: U256,
    /// The payer's unique 32-byte nonce.
    pub nonce: B256,
}

/// The `exact` scheme's EVM payload: `{signature, authorization:{from, to, value, validAfter, validBefore,
/// nonce}}` with decimal strings for numbers and `0x` hex for the nonce and the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct ExactEvmPayload {
    /// The authorization, typed.
    pub authorization: ExactEvmAuthorization,
    /// The signature bytes as sent: 65 bytes r‖s‖v for an EOA, anything longer for a contract wallet
    /// (ERC-1271) or an EIP-6492 wrapper. Classify with [`crate::PayerSignature::parse`].
    pub signature: Bytes,
}

impl fmt::Debug for ExactEvmPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExactEvmPayload")
            .field("authorization", &self.authorization)
            .field("signature", &format_args!("<{} bytes>", self.signature.len()))
            .finish()
    }
}

#[derive(Deserialize)]
struct WireExact<'a> {
    #[serde(borrow)]
    signature: Cow<'a, str>,
    #[serde(borrow)]
    authorization: WireAuthorization<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAuthorization<'a> {
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow)]
    to: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
    #[serde(borrow)]
    valid_after: Cow<'a, str>,
    #[serde(borrow)]
    valid_before: Cow<'a, str>,
    #[serde(borrow)]
    nonce: Cow<'a, str>,
}

impl ExactEvmPayload {
    /// Parses the payload's JSON text. Unknown fields are ignored; every known one is checked.
    pub fn from_json(json: &str) -> Result<Self> {
        let wire: WireExact<'_> = serde_json::from_str(json)?;
        let a = &wire.authorization;
        let authorization = ExactEvmAuthorization {
            from: address_field("authorization.from", &a.from)?,
            to: address_field("authorization.to", &a.to)?,
            value: decimal_field("authorization.value", &a.value)?,
            valid_after: decimal_field("authorization.validAfter", &a.valid_after)?,
            valid_before: decimal_field("authorization.validBefore", &a.valid_before)?,
            nonce: bytes32_field("authorization.nonce", &a.nonce)?,
        };
        let signature = wire
            .signature
            .strip_prefix("0x")
            .and_then(|digits| hex::decode(digits).ok())
            .ok_or(Error::field("signature", FieldProblem::Hex))?;
        Ok(Self { authorization, signature: signature.into() })
    }
}

impl Serialize for ExactEvmPayload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ExactEvmPayload", 2)?;
        s.serialize_field("signature", &self.signature)?;
        s.serialize_field("authorization", &self.authorization)?;
        s.end()
    }
}

impl Serialize for ExactEvmAuthorization {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ExactEvmAuthorization", 6)?;
        s.serialize_field("from", self.from.to_checksum_buffer(None).as_str())?;
        s.serialize_field("to", self.to.to_checksum_buffer(None).as_str())?;
        s.serialize_field("value", &self.value.to_string())?;
        s.serialize_field("validAfter", &self.valid_after.to_string())?;
        s.serialize_field("validBefore", &self.valid_before.to_string())?;
        s.serialize_field("nonce", &self.nonce)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"signature":"0xce115e41df211d8ae2c5d69481f93c53c939d5d8d7f90e317f793ea5d483a8c65dea39a76a01e8839bbb43ad60c70f3d502b179d07fa7352cf09810df2c9b0c31c","authorization":{"from":"0x6CC7e1Eb68DC07E8efc620f18809CFb30B802d5A","to":"0x0c9f478c4490b13b1f01da8407b7364c894b9614","value":"10000","validAfter":"1795245402","validBefore":"1795246302","nonce":"0xe542af9853ac4c81cd0fe88cf1e766e78b15b5129c9528d00b801b637e465f8c"}}"#;

    #[test]
    fn parses_typed_and_serialises_back() {
        let p = ExactEvmPayload::from_json(PAYLOAD).unwrap();
        assert_eq!(p.authorization.value, U256::from(10_000));
        assert_eq!(p.authorization.valid_after, U256::from(1_795_245_402u64));
        assert_eq!(p.signature.len(), 65);
        let again = ExactEvmPayload::from_json(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(again, p);
        let raw = RawPayload::from_exact_evm(&p);
        assert_eq!(raw.exact_evm().unwrap(), p);
        assert!(format!("{p:?}").contains("<65 bytes>"));
        assert!(!format!("{raw:?}").contains("0x"));
    }

    #[test]
    fn tolerates_unknown_fields_and_escapes() {
        let json = PAYLOAD.replacen("{\"signature\"", "{\"extra\":[1,{\"x\":null}],\"signature\"", 1).replacen(
            "\"value\":\"10000\"",
            "\"value\":\"1\\u0030000\"",
            1,
        );
        let p = ExactEvmPayload::from_json(&json).unwrap();
        assert_eq!(p.authorization.value, U256::from(10_000));
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            ("\"value\":\"10000\"", "\"value\":\"0x10\"", "authorization.value"),
            ("\"value\":\"10000\"", "\"value\":10000", "invalid JSON"),
            ("\"validAfter\":\"1795245402\"", "\"validAfter\":\"-1\"", "authorization.validAfter"),
            ("\"to\":\"0x0c9f", "\"to\":\"0c9f", "authorization.to"),
            ("\"nonce\":\"0xe5", "\"nonce\":\"0x5", "authorization.nonce"),
            ("\"signature\":\"0xce", "\"signature\":\"ce", "signature"),
            ("\"signature\":\"0xce", "\"signature\":\"0xc", "signature"),
        ];
        for (from, to, expect) in cases {
            let err = ExactEvmPayload::from_json(&PAYLOAD.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(err.contains(expect), "{to}: {err}");
        }
        assert!(ExactEvmPayload::from_json("{}").is_err());
        assert!(RawPayload::from_json("{").is_err());
    }
}
