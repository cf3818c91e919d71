//! The x402 protocol, pure and without I/O.
//!
//! This crate owns the x402 v1 and v2 wire types and facilitator bodies, the base64 header codecs, EVM
//! networks (CAIP-2 and the v1 names), the EIP-3009 EIP-712 digests, payer signatures (ECDSA recovery with
//! libsecp256k1, scalars parsed with k256; ERC-1271 and EIP-6492 detection), the wire reason codes, and
//! [`verify_exact`], the pure part of verifying an `exact` EVM payment. For resource servers it owns what a paid
//! route offers ([`Price`]: its requirements, its 402 [`Challenge`], reading a retry's payment against it) and
//! [`Usdc`], a USDC amount with its exact decimal form. It never touches the network, a
//! database or a clock: the time is an argument, and what only the chain knows (nonce state, balance, code)
//! is the facilitator's.
//!
//! Wire structs mirror the JSON they carry (strings stay strings, so third-party input of any chain parses
//! and re-encodes as it came); typed values ([`ExactEvmAuthorization`], [`Network`], [`VerifiedPayment`])
//! begin where verification reads them. Responses, which are ours to write, are typed.

mod codec;
mod eip712;
mod error;
mod facilitator;
mod header;
mod network;
mod payload;
mod price;
mod reason;
mod signature;
mod usdc;
mod v1;
mod v2;
mod verify;
mod version;

pub use eip712::{
    AuthorizationKind, CANCEL_AUTHORIZATION_TYPEHASH, RECEIVE_WITH_AUTHORIZATION_TYPEHASH, ReceiveWithAuthorization,
    TRANSFER_WITH_AUTHORIZATION_TYPEHASH, TokenDomain, TransferWithAuthorization,
};
pub use error::{Error, FieldProblem, Result};
pub use facilitator::{
    EVM_SIGNERS_KEY, PaymentRequest, SettleRequest, SettleResponse, SupportedKind, SupportedResponse, VerifyRequest,
    VerifyResponse,
};
pub use header::{
    PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, X_PAYMENT, X_PAYMENT_RESPONSE, decode_header, encode_header,
    response_header,
};
pub use network::{EIP155_NAMESPACE, Network, V1_EVM_NETWORKS};
pub use payload::{ExactEvmAuthorization, ExactEvmPayload, RawPayload};
pub use price::{BASE_SEPOLIA_USDC, BASE_USDC, Challenge, DEFAULT_MAX_TIMEOUT_SECONDS, Price};
pub use reason::{Reason, Rejection};
pub use signature::{
    ECDSA_SIGNATURE_LEN, EIP6492_MAGIC, EcdsaSignature, Eip6492Signature, MAX_SIGNATURE_LEN, PayerSignature,
    SECP256K1N_HALF,
};
pub use usdc::{MAX_USDC_DECIMALS, Usdc, UsdcParseError};
pub use v1::{PaymentPayloadV1, PaymentRequiredV1, PaymentRequirementsV1};
pub use v2::{PaymentPayloadV2, PaymentRequiredV2, PaymentRequirementsV2, ResourceInfo};
pub use verify::{
    MAX_CLOCK_SKEW_SECS, PayerCode, Recoveries, SignatureCheck, VALID_BEFORE_MARGIN_SECS, VerifiedPayment,
    VerifyOptions, verify_exact,
};
pub use version::{Version, X402Version};

/// The `exact` scheme's name on the wire.
pub const SCHEME_EXACT: &str = "exact";
