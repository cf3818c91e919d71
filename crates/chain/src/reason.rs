//! x402 settle failure reason codes, and the mapping from a token's revert data to them.
//!
//! The strings are the reference SDKs' (FACTS.md, "x402 wire format"). The `clearing-x402` crate will own the
//! reason-code enum; until then this is the one place these strings are spelled, so switching to the enum is a
//! change here and in the callers' types only.

use alloy::sol_types::{Revert, SolError};

/// The authorization's nonce was already used or cancelled at the token.
pub const NONCE_ALREADY_USED: &str = "invalid_exact_evm_nonce_already_used";
/// The payer's balance is below the value.
pub const INSUFFICIENT_BALANCE: &str = "invalid_exact_evm_insufficient_balance";
/// validBefore has passed (on chain, or while the payment was queued).
pub const VALID_BEFORE: &str = "invalid_exact_evm_payload_authorization_valid_before";
/// validAfter has not passed yet.
pub const VALID_AFTER: &str = "invalid_exact_evm_payload_authorization_valid_after";
/// The signature does not recover to (or is not accepted by) the payer.
pub const SIGNATURE: &str = "invalid_exact_evm_signature";
/// Anything else the token refused.
pub const UNEXPECTED_SETTLE_ERROR: &str = "unexpected_settle_error";
/// A settle answered before its transaction's receipt arrived (not a failure of the payment).
pub const SETTLEMENT_PENDING: &str = "settlement_pending";

/// The x402 reason code for an item the token refused with `revert` (the `PaymentFailed` reason bytes).
///
/// FiatToken v2.2 reverts with `Error(string)`; the messages matched are FiatToken's and OpenZeppelin's
/// ECRecover's (see contracts/test/mocks/MockUSDC.sol).
pub fn from_revert(revert: &[u8]) -> &'static str {
    let Ok(Revert { reason }) = Revert::abi_decode(revert) else {
        return UNEXPECTED_SETTLE_ERROR;
    };
    const TABLE: [(&str, &str); 6] = [
        ("authorization is used or canceled", NONCE_ALREADY_USED),
        ("transfer amount exceeds balance", INSUFFICIENT_BALANCE),
        ("authorization is expired", VALID_BEFORE),
        ("authorization is not yet valid", VALID_AFTER),
        ("invalid signature", SIGNATURE),
        ("ECRecover:", SIGNATURE),
    ];
    TABLE.iter().find(|(needle, _)| reason.contains(needle)).map_or(UNEXPECTED_SETTLE_ERROR, |(_, code)| code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(reason: &str) -> Vec<u8> {
        Revert { reason: reason.to_owned() }.abi_encode()
    }

    #[test]
    fn fiat_token_reasons_map_to_the_reference_codes() {
        let cases = [
            ("FiatTokenV2: authorization is used or canceled", NONCE_ALREADY_USED),
            ("ERC20: transfer amount exceeds balance", INSUFFICIENT_BALANCE),
            ("FiatTokenV2: authorization is expired", VALID_BEFORE),
            ("FiatTokenV2: authorization is not yet valid", VALID_AFTER),
            ("FiatTokenV2: invalid signature", SIGNATURE),
            ("ECRecover: invalid signature 's' value", SIGNATURE),
            ("ECRecover: invalid signature length", SIGNATURE),
            ("Pausable: paused", UNEXPECTED_SETTLE_ERROR),
            ("Blacklistable: account is blacklisted", UNEXPECTED_SETTLE_ERROR),
        ];
        for (reason, code) in cases {
            assert_eq!(from_revert(&error(reason)), code, "{reason}");
        }
    }

    #[test]
    fn empty_or_custom_revert_data_is_unexpected() {
        assert_eq!(from_revert(&[]), UNEXPECTED_SETTLE_ERROR);
        assert_eq!(from_revert(&[0xd1, 0x27, 0x32, 0x0f]), UNEXPECTED_SETTLE_ERROR);
        assert_eq!(from_revert(&error("FiatTokenV2: invalid signature")[..40]), UNEXPECTED_SETTLE_ERROR);
    }
}
