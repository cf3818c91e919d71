//! The mapping from a token's refusal to the x402 reason codes of `clearing-x402`, shared by verify (which simulates
//! the transfer, [`crate::read_verify_batch`]) and settle (which reads the refusal from `PaymentFailed`).

use alloy::sol_types::{Revert, SolError};
use clearing_x402::Reason;

/// What a token's refusal of `transferWithAuthorization` means, read from its revert message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The message names the case exactly.
    Reason(Reason),
    /// `Blacklistable: account is blacklisted`: the payer or the payee, the message does not say which.
    Blacklisted,
    /// A refusal of the token's own with no x402 code (verify answers `..._transaction_simulation_failed`, settle
    /// `..._transaction_failed`, both with the message).
    Other,
}

/// Every message FiatToken v2.2's `transferWithAuthorization(..., bytes signature)` can revert with, behind its
/// proxy, in the order its checks run (Circle's `FiatTokenV2_2`, `EIP3009`, `SignatureChecker`, `ECRecover`,
/// `FiatTokenV1`, `Pausable`, `Blacklistable`), matched by the part after the contract prefix so that tokens
/// built on the same code with another prefix map alike. The first needle the message contains decides.
const FIAT_TOKEN_REFUSALS: [(&str, Refusal); 13] = [
    // `FiatTokenProxy`: only when the caller is the proxy admin, which the settler never is.
    ("Cannot call fallback function from the proxy admin", Refusal::Other),
    // Modifiers: `whenNotPaused`, then `notBlacklisted(from)`, `notBlacklisted(to)`.
    ("Pausable: paused", Refusal::Reason(Reason::TokenPaused)),
    ("account is blacklisted", Refusal::Blacklisted),
    // `_requireValidAuthorization`.
    ("authorization is not yet valid", Refusal::Reason(Reason::ValidAfter)),
    ("authorization is expired", Refusal::Reason(Reason::ValidBefore)),
    ("authorization is used or canceled", Refusal::Reason(Reason::NonceAlreadyUsed)),
    // `_requireValidSignature`: `ECRecover` for a signer without code ("invalid signature length", "'s' value",
    // "'v' value", "invalid signature"), then FiatToken's own "FiatTokenV2: invalid signature".
    ("ECRecover:", Refusal::Reason(Reason::InvalidSignature)),
    ("invalid signature", Refusal::Reason(Reason::InvalidSignature)),
    // `_transfer`. The zero address signs nothing, so a payment from it never gets this far.
    ("transfer from the zero address", Refusal::Reason(Reason::InvalidSignature)),
    ("transfer to the zero address", Refusal::Reason(Reason::InvalidPaymentRequirements)),
    ("transfer amount exceeds balance", Refusal::Reason(Reason::InsufficientBalance)),
    // `_setBalance`: a payee balance past 2^255 - 1 (the top bit is the blacklist flag); more than all USDC. Its
    // second check ("FiatTokenV2_2: Account is blacklisted", capitalised) only fires if a modifier missed it.
    ("Balance exceeds (2^255 - 1)", Refusal::Other),
    ("Account is blacklisted", Refusal::Blacklisted),
];

/// What the token's revert `message` (the string of its `Error(string)`) means; [`Refusal::Other`] for a message
/// that is not FiatToken's.
pub fn classify(message: &str) -> Refusal {
    FIAT_TOKEN_REFUSALS.iter().find(|(needle, _)| message.contains(needle)).map_or(Refusal::Other, |(_, r)| *r)
}

/// The x402 reason code of a queued payment the token refused with `revert` (the `PaymentFailed` reason bytes).
///
/// A blacklist refusal is [`Reason::AccountBlacklisted`] here, since the revert data does not say whose; another
/// `Error(string)` is [`Reason::TransactionFailed`], as the reference facilitator answers an unknown revert; revert
/// data that is no `Error(string)` (empty when the item ran out of its stipend, a custom error) is
/// [`Reason::UnexpectedSettleError`].
pub fn from_revert(revert: &[u8]) -> Reason {
    let Ok(Revert { reason }) = Revert::abi_decode(revert) else {
        return Reason::UnexpectedSettleError;
    };
    match classify(&reason) {
        Refusal::Reason(code) => code,
        Refusal::Blacklisted => Reason::AccountBlacklisted,
        Refusal::Other => Reason::TransactionFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(reason: &str) -> Vec<u8> {
        Revert { reason: reason.to_owned() }.abi_encode()
    }

    /// FiatToken v2.2's messages on the `transferWithAuthorization` path, verbatim.
    const FIAT_TOKEN_V2_2: [(&str, Reason); 16] = [
        ("Cannot call fallback function from the proxy admin", Reason::TransactionFailed),
        ("Pausable: paused", Reason::TokenPaused),
        ("Blacklistable: account is blacklisted", Reason::AccountBlacklisted),
        ("FiatTokenV2: authorization is not yet valid", Reason::ValidAfter),
        ("FiatTokenV2: authorization is expired", Reason::ValidBefore),
        ("FiatTokenV2: authorization is used or canceled", Reason::NonceAlreadyUsed),
        ("ECRecover: invalid signature length", Reason::InvalidSignature),
        ("ECRecover: invalid signature 's' value", Reason::InvalidSignature),
        ("ECRecover: invalid signature 'v' value", Reason::InvalidSignature),
        ("ECRecover: invalid signature", Reason::InvalidSignature),
        ("FiatTokenV2: invalid signature", Reason::InvalidSignature),
        ("ERC20: transfer from the zero address", Reason::InvalidSignature),
        ("ERC20: transfer to the zero address", Reason::InvalidPaymentRequirements),
        ("ERC20: transfer amount exceeds balance", Reason::InsufficientBalance),
        ("FiatTokenV2_2: Balance exceeds (2^255 - 1)", Reason::TransactionFailed),
        ("FiatTokenV2_2: Account is blacklisted", Reason::AccountBlacklisted),
    ];

    #[test]
    fn every_fiat_token_refusal_maps_to_a_code() {
        for (message, code) in FIAT_TOKEN_V2_2 {
            assert_eq!(from_revert(&error(message)), code, "{message}");
        }
    }

    #[test]
    fn verify_tells_blacklisting_apart_from_the_other_refusals() {
        assert_eq!(classify("Blacklistable: account is blacklisted"), Refusal::Blacklisted);
        assert_eq!(classify("Pausable: paused"), Refusal::Reason(Reason::TokenPaused));
        assert_eq!(classify("MyToken: frozen"), Refusal::Other);
    }

    #[test]
    fn an_unknown_message_is_a_failed_transaction() {
        assert_eq!(from_revert(&error("MyToken: frozen")), Reason::TransactionFailed);
    }

    #[test]
    fn empty_or_custom_revert_data_is_unexpected() {
        assert_eq!(from_revert(&[]), Reason::UnexpectedSettleError);
        assert_eq!(from_revert(&[0xd1, 0x27, 0x32, 0x0f]), Reason::UnexpectedSettleError);
        assert_eq!(from_revert(&error("FiatTokenV2: invalid signature")[..40]), Reason::UnexpectedSettleError);
    }
}
