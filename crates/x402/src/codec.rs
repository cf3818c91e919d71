//! Field-level text codecs shared by the wire types: decimal uint256 strings, checksummed addresses, and
//! transaction hashes that may be the empty string.

use alloy_primitives::{Address, B256, U256, hex};
use serde::{Deserialize, Deserializer, Serializer, de};

use crate::{Error, FieldProblem, Result};

/// Most decimal digits of a uint256 (2^256 - 1 has 78).
const U256_MAX_DECIMAL_DIGITS: usize = 78;

/// Parses a decimal uint256 string: ASCII digits only (no sign, no `0x`, no whitespace), at least one.
pub(crate) fn parse_decimal(s: &str) -> Option<U256> {
    let digits = s.as_bytes();
    // Leading zeros are allowed (BigInt("007") is 7 in the reference), so only the significant digits count.
    let significant = digits.iter().position(|&b| b != b'0').map_or(&digits[..0], |i| &digits[i..]);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || significant.len() > U256_MAX_DECIMAL_DIGITS {
        return None;
    }
    U256::from_str_radix(s, 10).ok()
}

/// Parses a decimal uint256 field, naming it on failure.
pub(crate) fn decimal_field(field: &'static str, s: &str) -> Result<U256> {
    parse_decimal(s).ok_or(Error::field(field, FieldProblem::Decimal))
}

/// Parses a `0x`-prefixed 20-byte address field (any letter case; the checksum is not enforced, as in the
/// reference, which lower-cases before comparing).
pub(crate) fn address_field(field: &'static str, s: &str) -> Result<Address> {
    parse_address(s).ok_or(Error::field(field, FieldProblem::Address))
}

/// Parses a `0x`-prefixed 20-byte address.
pub(crate) fn parse_address(s: &str) -> Option<Address> {
    let digits = s.strip_prefix("0x")?;
    let mut out = [0u8; 20];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(Address::from(out))
}

/// Parses `0x` followed by exactly 64 hex digits.
pub(crate) fn bytes32_field(field: &'static str, s: &str) -> Result<B256> {
    let digits = s.strip_prefix("0x").ok_or(Error::field(field, FieldProblem::Bytes32))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| Error::field(field, FieldProblem::Bytes32))?;
    Ok(B256::from(out))
}

/// Serde for an `Option<Address>` written EIP-55 checksummed (alloy's own serde writes lower case).
pub(crate) mod checksummed_opt {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(address: &Option<Address>, serializer: S) -> Result<S::Ok, S::Error> {
        match address {
            Some(address) => serializer.serialize_str(address.to_checksum_buffer(None).as_str()),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Address>, D::Error> {
        Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?
            .map(|s| parse_address(&s).ok_or_else(|| de::Error::custom(FieldProblem::Address)))
            .transpose()
    }
}

/// Serde for a list of addresses written EIP-55 checksummed.
pub(crate) mod checksummed_vec {
    use serde::ser::SerializeSeq;

    use super::*;

    pub(crate) fn serialize<S: Serializer>(addresses: &[Address], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(addresses.len()))?;
        for address in addresses {
            seq.serialize_element(address.to_checksum_buffer(None).as_str())?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Address>, D::Error> {
        Vec::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?
            .iter()
            .map(|s| parse_address(s).ok_or_else(|| de::Error::custom(FieldProblem::Address)))
            .collect()
    }
}

/// Serde for an optional uint256 written as a decimal string.
pub(crate) mod decimal_opt {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &Option<U256>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<U256>, D::Error> {
        Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?
            .map(|s| parse_decimal(&s).ok_or_else(|| de::Error::custom(FieldProblem::Decimal)))
            .transpose()
    }
}

/// Serde for a transaction hash that is the empty string when there is none (`SettleResponse.transaction`).
pub(crate) mod tx_or_empty {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(tx: &Option<B256>, serializer: S) -> Result<S::Ok, S::Error> {
        match tx {
            Some(tx) => serializer.collect_str(tx),
            None => serializer.serialize_str(""),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<B256>, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        if s.is_empty() {
            return Ok(None);
        }
        bytes32_field("transaction", &s).map(Some).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal("0"), Some(U256::ZERO));
        assert_eq!(parse_decimal("007"), Some(U256::from(7)));
        assert_eq!(parse_decimal(&U256::MAX.to_string()), Some(U256::MAX));
        let with_zeros = format!("000{}", U256::MAX);
        assert_eq!(parse_decimal(&with_zeros), Some(U256::MAX));
        for bad in [
            "",
            "-1",
            "+1",
            "0x10",
            "1e3",
            " 1",
            "1 ",
            "1.0",
            "١",
            "115792089237316195423570985008687907853269984665640564039457584007913129639936",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn addresses_need_prefix_and_twenty_bytes() {
        let a = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
        assert_eq!(parse_address(a), parse_address(&a.to_lowercase()));
        assert!(parse_address(&a[2..]).is_none());
        assert!(parse_address(&a[..41]).is_none());
        assert!(parse_address("0x").is_none());
        assert!(bytes32_field("nonce", &format!("0x{}", "ab".repeat(32))).is_ok());
        assert!(bytes32_field("nonce", &"ab".repeat(32)).is_err());
        assert!(bytes32_field("nonce", &format!("0x{}", "ab".repeat(31))).is_err());
    }
}
