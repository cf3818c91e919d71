//! The x402 wire reason codes, one enum reached through one function, and the rejection that carries one.
//!
//! Where a code exists in the reference SDKs the string is theirs character for character: the exact-EVM
//! facilitator codes from `x402-foundation/x402` `go/mechanisms/evm/exact/facilitator/errors.go` (mirrored in
//! `typescript/packages/mechanisms/evm/src/exact/facilitator/errors.ts`), the protocol codes from the v1
//! `ErrorReasons` list (`typescript/packages/x402/src/types/verify/x402Specs.ts`) and the Go core
//! (`go/errors.go`). Clearing's own codes, used only where no reference code names the case, are listed last.

use std::fmt;

use alloy_primitives::Address;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, )*) => {
        /// A reason code as it appears in `invalidReason` / `errorReason`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $( $(#[$doc])* $variant, )*
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Reason::$variant => $wire, )*
                }
            }

            /// The reason whose wire string is `s`, if any.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s {
                    $( $wire => Some(Reason::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    // exact EVM, verify (reference order: scheme, domain, network, signature, recipient, validBefore,
    // validAfter, value), then the chain checks.
    /// The payload's or the requirements' scheme is not `exact`.
    InvalidScheme = "invalid_exact_evm_scheme",
    /// `extra.name` or `extra.version` (the token's EIP-712 domain) is missing from the requirements.
    MissingEip712Domain = "invalid_exact_evm_missing_eip712_domain",
    /// The payload's network is not the requirements' network.
    NetworkMismatch = "invalid_exact_evm_network_mismatch",
    /// The signature does not verify for `authorization.from`.
    InvalidSignature = "invalid_exact_evm_signature",
    /// `authorization.to` is not the requirements' `payTo`.
    RecipientMismatch = "invalid_exact_evm_recipient_mismatch",
    /// `validBefore` is too close (within the settlement margin) or past.
    ValidBefore = "invalid_exact_evm_payload_authorization_valid_before",
    /// `validAfter` is in the future.
    ValidAfter = "invalid_exact_evm_payload_authorization_valid_after",
    /// `authorization.value` is not exactly the required amount.
    ValueMismatch = "invalid_exact_evm_payload_authorization_value_mismatch",
    /// `authorization.value` (and so the required amount) is zero: nothing would be paid (the v1 reference's
    /// `ErrorReasons` name for a wrong value).
    InvalidAuthorizationValue = "invalid_exact_evm_payload_authorization_value",
    /// The authorization's nonce is used or cancelled on the token.
    NonceAlreadyUsed = "invalid_exact_evm_nonce_already_used",
    /// The payer's token balance is below the value.
    InsufficientBalance = "invalid_exact_evm_insufficient_balance",
    /// The requirements' asset has no code.
    AssetNotDeployedContract = "asset_not_deployed_contract",
    /// A smart-wallet (longer than 65 bytes) signature from an address with no code.
    UndeployedSmartWallet = "invalid_exact_evm_payload_undeployed_smart_wallet",
    /// An EIP-6492 wrapped signature whose factory this facilitator will not call.
    Eip6492FactoryNotAllowed = "eip6492_factory_not_allowed",
    /// The token's `name()` differs from `extra.name`.
    TokenNameMismatch = "invalid_exact_evm_token_name_mismatch",
    /// The token's `version()` differs from `extra.version`.
    TokenVersionMismatch = "invalid_exact_evm_token_version_mismatch",
    /// The asset does not implement EIP-3009.
    Eip3009NotSupported = "invalid_exact_evm_eip3009_not_supported",
    /// Simulating the transfer failed for a reason no diagnostic narrowed down.
    SimulationFailed = "invalid_exact_evm_transaction_simulation_failed",
    /// The settlement transaction reverted.
    TransactionFailed = "invalid_exact_evm_transaction_failed",
    // protocol level
    /// The settlement transaction was broadcast but its receipt is not in yet; retry the same payload.
    SettlementPending = "settlement_pending",
    /// The payload could not be parsed as the scheme's payload.
    InvalidPayload = "invalid_payload",
    /// The payment requirements are malformed (e.g. `payTo` or `asset` not an address).
    InvalidPaymentRequirements = "invalid_payment_requirements",
    /// The network is malformed.
    InvalidNetwork = "invalid_network",
    /// The network is well formed but not served here.
    UnsupportedNetwork = "unsupported_network",
    /// The scheme is not served here.
    UnsupportedScheme = "unsupported_scheme",
    /// The `x402Version` is missing, unknown or inconsistent.
    InvalidX402Version = "invalid_x402_version",
    /// The settlement ended in a state the facilitator cannot explain.
    InvalidTransactionState = "invalid_transaction_state",
    /// Verification failed for a reason of the facilitator's own (e.g. the RPC endpoint).
    UnexpectedVerifyError = "unexpected_verify_error",
    /// Settlement failed for a reason of the facilitator's own (e.g. the RPC endpoint).
    UnexpectedSettleError = "unexpected_settle_error",
    // Clearing's own
    /// A v2 payload's `accepted.asset` is not the requirements' asset (asset substitution).
    AssetMismatch = "asset_mismatch",
    /// `validBefore` lies further ahead than the requirements' `maxTimeoutSeconds` (plus the allowed clock skew)
    /// allows: the authorization would outlive what the resource server asked for.
    ValidBeforeTooFar = "invalid_exact_evm_payload_authorization_valid_before_too_far",
    /// `payTo` is the token contract itself: value sent there is stuck (FiatToken v2.2 blacklists its own address).
    RecipientIsToken = "invalid_exact_evm_recipient_is_token",
    /// The token's blacklist holds the payer (`authorization.from`).
    PayerBlacklisted = "invalid_exact_evm_payer_blacklisted",
    /// The token's blacklist holds the payee (`payTo`).
    RecipientBlacklisted = "invalid_exact_evm_recipient_blacklisted",
    /// The token refused a queued settlement because its blacklist holds the payer or the payee; its revert data
    /// does not say which (verify names the party with the two codes above).
    AccountBlacklisted = "invalid_exact_evm_account_blacklisted",
    /// The token is paused: it moves nothing until unpaused.
    TokenPaused = "invalid_exact_evm_token_paused",
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::from_wire(&s).ok_or_else(|| serde::de::Error::custom(format_args!("unknown x402 reason {s:?}")))
    }
}

/// A payment that does not verify: the reason code, a message naming the problem (expected vs got), and
/// the payer when the payload was readable enough to name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The wire reason.
    pub reason: Reason,
    /// What exactly was wrong, for `invalidMessage` / `errorMessage`.
    pub message: String,
    /// `authorization.from`, if the payload could be read.
    pub payer: Option<Address>,
}

impl Rejection {
    /// A rejection with no payer known.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), payer: None }
    }

    /// The same rejection naming the payer.
    #[must_use]
    pub const fn with_payer(mut self, payer: Option<Address>) -> Self {
        self.payer = payer;
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &reason in Reason::ALL {
            assert!(seen.insert(reason.as_str()), "duplicate {reason}");
            assert_eq!(Reason::from_wire(reason.as_str()), Some(reason));
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), reason);
            assert!(reason.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn reference_strings_character_for_character() {
        // docs/PROTOCOL.md, "Reference verify order and reason strings".
        let expected = [
            (Reason::InvalidScheme, "invalid_exact_evm_scheme"),
            (Reason::MissingEip712Domain, "invalid_exact_evm_missing_eip712_domain"),
            (Reason::NetworkMismatch, "invalid_exact_evm_network_mismatch"),
            (Reason::InvalidSignature, "invalid_exact_evm_signature"),
            (Reason::RecipientMismatch, "invalid_exact_evm_recipient_mismatch"),
            (Reason::ValidBefore, "invalid_exact_evm_payload_authorization_valid_before"),
            (Reason::ValidAfter, "invalid_exact_evm_payload_authorization_valid_after"),
            (Reason::ValueMismatch, "invalid_exact_evm_payload_authorization_value_mismatch"),
            // The v1 reference's `ErrorReasons` (`typescript/packages/x402/src/types/verify/x402Specs.ts`).
            (Reason::InvalidAuthorizationValue, "invalid_exact_evm_payload_authorization_value"),
            // `go/mechanisms/evm/exact/facilitator/errors.go`.
            (Reason::SimulationFailed, "invalid_exact_evm_transaction_simulation_failed"),
            (Reason::TransactionFailed, "invalid_exact_evm_transaction_failed"),
            (Reason::NonceAlreadyUsed, "invalid_exact_evm_nonce_already_used"),
            (Reason::InsufficientBalance, "invalid_exact_evm_insufficient_balance"),
            (Reason::AssetNotDeployedContract, "asset_not_deployed_contract"),
            (Reason::SettlementPending, "settlement_pending"),
            (Reason::Eip6492FactoryNotAllowed, "eip6492_factory_not_allowed"),
        ];
        for (reason, wire) in expected {
            assert_eq!(reason.as_str(), wire);
        }
    }

    #[test]
    fn unknown_reason_is_a_serde_error() {
        let err = serde_json::from_str::<Reason>("\"no_such_reason\"").unwrap_err();
        assert!(err.to_string().contains("no_such_reason"));
    }
}
