//! The mapping from a token's revert data to the x402 reason codes of `clearing-x402`.

use alloy::sol_types::{Revert, SolError};
use clearing_x402::Reason;

/// The x402 reason code for an item the token refused with `revert` (the `PaymentFailed` reason bytes).
///
/// FiatToken v2.2 reverts with `Error(string)`; the messages matched are FiatToken's and OpenZeppelin's
/// ECRecover's (see contracts/test/mocks/MockUSDC.sol).
pub fn from_revert(revert: &[u8]) -> Reason {
    let Ok(Revert { reason }) = Revert::abi_decode(revert) else {
        return Reason::UnexpectedSettleError;
    };
    const TABLE: [(&str, Reason); 6] = [
        ("authorization is used or canceled", Reason::NonceAlreadyUsed),
        ("transfer amount exceeds balance", Reason::InsufficientBalance),
        ("authorization is expired", Reason::ValidBefore),
        ("authorization is not yet valid", Reason::ValidAfter),
        ("invalid signature", Reason::InvalidSignature),
        ("ECRecover:", Reason::InvalidSignature),
    ];
    TABLE.iter().find(|(needle, _)| reason.contains(needle)).map_or(Reason::UnexpectedSettleError, |(_, code)| *code)
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
            ("FiatTokenV2: authorization is used or canceled", Reason::NonceAlreadyUsed),
            ("ERC20: transfer amount exceeds balance", Reason::InsufficientBalance),
            ("FiatTokenV2: authorization is expired", Reason::ValidBefore),
            ("FiatTokenV2: authorization is not yet valid", Reason::ValidAfter),
            ("FiatTokenV2: invalid signature", Reason::InvalidSignature),
            ("ECRecover: invalid signature 's' value", Reason::InvalidSignature),
            ("ECRecover: invalid signature length", Reason::InvalidSignature),
            ("Pausable: paused", Reason::UnexpectedSettleError),
            ("Blacklistable: account is blacklisted", Reason::UnexpectedSettleError),
        ];
        for (reason, code) in cases {
            assert_eq!(from_revert(&error(reason)), code, "{reason}");
        }
    }

    #[test]
    fn empty_or_custom_revert_data_is_unexpected() {
        assert_eq!(from_revert(&[]), Reason::UnexpectedSettleError);
        assert_eq!(from_revert(&[0xd1, 0x27, 0x32, 0x0f]), Reason::UnexpectedSettleError);
        assert_eq!(from_revert(&error("FiatTokenV2: invalid signature")[..40]), Reason::UnexpectedSettleError);
    }
}
