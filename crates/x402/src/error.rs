//! The crate's one error type: everything that can go wrong turning bytes into x402 values.
//!
//! Business outcomes of verification are not errors: they are [`crate::Rejection`]s carrying a
//! [`crate::Reason`].

use crate::Reason;

/// Why bytes could not be turned into an x402 value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A header value was not base64 (standard alphabet).
    #[error("header is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// A header decoded to bytes that are not UTF-8.
    #[error("header is not UTF-8: {0}")]
    Utf8(#[from] std::str::Utf8Error),
    /// A body, header or payload was not the JSON we expect; serde's message says where.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A facilitator request body that is JSON but not an object.
    #[error("the body must be a JSON object with x402Version, paymentPayload and paymentRequirements, not {found}")]
    NotAnObject {
        /// What it is instead: `null`, `an array`, `a string`, ...
        found: &'static str,
    },
    /// A request body whose bytes are not UTF-8 text (JSON is UTF-8).
    #[error("the body is not valid UTF-8 text (JSON must be): invalid bytes at offset {offset}")]
    BodyNotUtf8 {
        /// Bytes from the start of the body to the first invalid one.
        offset: usize,
    },
    /// A facilitator request named no `x402Version`, neither at the top level nor in its payload.
    #[error("request has no x402Version")]
    MissingVersion,
    /// An `x402Version` this crate does not speak.
    #[error("unsupported x402Version {0} (expected 1 or 2)")]
    UnsupportedVersion(u64),
    /// The top-level `x402Version` of a request disagrees with its payload's.
    #[error("request x402Version {request} but payload x402Version {payload}")]
    VersionMismatch {
        /// The top-level version.
        request: u64,
        /// The payload's version.
        payload: u64,
    },
    /// A network that is neither CAIP-2 `eip155:<chain id>` nor a known x402 v1 name.
    #[error("unsupported network {0:?} (expected eip155:<chain id> or a known x402 v1 name)")]
    UnsupportedNetwork(String),
    /// A payload field was not what the `exact` EVM scheme requires.
    #[error("field {field}: {problem}")]
    Field {
        /// The JSON field, e.g. `authorization.value`.
        field: &'static str,
        /// What was wrong with it.
        problem: FieldProblem,
    },
    /// A signature shorter than the 65 bytes of r‖s‖v, or longer than [`crate::MAX_SIGNATURE_LEN`].
    #[error("signature of {0} bytes (an ECDSA signature has 65, a contract wallet's at most 8,192)")]
    SignatureLength(usize),
    /// A 65-byte signature whose v is none of 0, 1, 27, 28.
    #[error("signature v = {0} (expected 27 or 28, or 0 or 1)")]
    SignatureV(u8),
    /// A 65-byte signature with s in the upper half of the curve order (EIP-2; FiatToken rejects it).
    #[error("signature s is in the upper half of the curve order (malleable, rejected by EIP-2)")]
    SignatureHighS,
    /// A 65-byte signature whose r or s is zero or not below the curve order.
    #[error("signature r or s is zero or not below the curve order")]
    SignatureScalar,
    /// No public key recovers from this signature and digest.
    #[error("no public key recovers from the signature")]
    Recovery,
    /// A signature ending in the EIP-6492 magic suffix whose wrapper is not `abi.encode(address, bytes, bytes)`.
    #[error("EIP-6492 wrapper is malformed")]
    Eip6492Wrapper,
}

/// What was wrong with one field of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// Not a 20-byte `0x` address.
    #[error("not a 0x-prefixed 20-byte hex address")]
    Address,
    /// Not a decimal string of an unsigned 256-bit integer.
    #[error("not a decimal string of a uint256")]
    Decimal,
    /// Not `0x` followed by 64 hex digits.
    #[error("not 0x followed by 64 hex digits")]
    Bytes32,
    /// Not `0x` followed by an even number of hex digits.
    #[error("not 0x-prefixed hex bytes")]
    Hex,
}

impl Error {
    /// The wire reason a facilitator answers with when a request fails to parse this way and it still
    /// wants to answer with a structured body: [`Reason::InvalidX402Version`] for version problems,
    /// [`Reason::UnsupportedNetwork`] for networks, [`Reason::InvalidPayload`] for everything else.
    pub const fn reason(&self) -> Reason {
        match self {
            Self::MissingVersion | Self::UnsupportedVersion(_) | Self::VersionMismatch { .. } => {
                Reason::InvalidX402Version
            }
            Self::UnsupportedNetwork(_) => Reason::UnsupportedNetwork,
            _ => Reason::InvalidPayload,
        }
    }

    pub(crate) const fn field(field: &'static str, problem: FieldProblem) -> Self {
        Self::Field { field, problem }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
