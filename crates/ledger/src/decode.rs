//! Stored values back to domain types, in one place. A value the schema's checks should have made impossible is
//! [`Error::Corrupt`], naming the table and the column: a default in its place would pass a wrong value on as a
//! right one.

use std::{fmt::Debug, str::FromStr};

use alloy::primitives::{Address, B256, hex};
use clearing_x402::{Network, Reason, X402Version};
use sqlx::{Postgres, Row as _, postgres::PgRow};

use crate::{Error, Result};

/// The columns of one row of `table`, each read as its domain type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'r> {
    table: &'static str,
    row: &'r PgRow,
}

impl<'r> Fields<'r> {
    /// A row of `table` (the table or view the columns are named after in errors).
    pub(crate) const fn of(table: &'static str, row: &'r PgRow) -> Self {
        Self { table, row }
    }

    /// A column whose SQL type already is its domain type (booleans, text, byte strings, signed integers).
    pub(crate) fn get<T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(&self, column: &'static str) -> Result<T> {
        Ok(self.row.try_get(column)?)
    }

    /// A 20-byte `BYTEA`.
    pub(crate) fn address(&self, column: &'static str) -> Result<Address> {
        address(self.table, column, &self.get::<Vec<u8>>(column)?)
    }

    /// A 32-byte `BYTEA`.
    pub(crate) fn b256(&self, column: &'static str) -> Result<B256> {
        b256(self.table, column, &self.get::<Vec<u8>>(column)?)
    }

    /// A nullable 32-byte `BYTEA`.
    pub(crate) fn opt_b256(&self, column: &'static str) -> Result<Option<B256>> {
        self.get::<Option<Vec<u8>>>(column)?.map(|bytes| b256(self.table, column, &bytes)).transpose()
    }

    /// A `BYTEA[]` of 32-byte values.
    pub(crate) fn b256s(&self, column: &'static str) -> Result<Vec<B256>> {
        self.get::<Vec<Vec<u8>>>(column)?.iter().map(|bytes| b256(self.table, column, bytes)).collect()
    }

    /// A non-negative `BIGINT`.
    pub(crate) fn u64(&self, column: &'static str) -> Result<u64> {
        u64(self.table, column, self.get(column)?)
    }

    /// A nullable non-negative `BIGINT`.
    pub(crate) fn opt_u64(&self, column: &'static str) -> Result<Option<u64>> {
        self.get::<Option<i64>>(column)?.map(|value| u64(self.table, column, value)).transpose()
    }

    /// A `NUMERIC` selected as text (`column::text`), as the unsigned integer type `T` (`U256`, `u128`, `u64`).
    pub(crate) fn number<T: FromStr>(&self, column: &'static str) -> Result<T> {
        number(self.table, column, &self.get::<String>(column)?)
    }

    /// An x402 network as text (CAIP-2, or a v1 name written before networks were stored as CAIP-2).
    pub(crate) fn network(&self, column: &'static str) -> Result<Network> {
        network(self.table, column, &self.get::<String>(column)?)
    }

    /// An x402 version as `SMALLINT`.
    pub(crate) fn x402_version(&self, column: &'static str) -> Result<X402Version> {
        x402_version(self.table, column, self.get(column)?)
    }

    /// A nullable x402 reason code as its wire string.
    pub(crate) fn opt_reason(&self, column: &'static str) -> Result<Option<Reason>> {
        self.get::<Option<String>>(column)?.map(|text| reason(self.table, column, &text)).transpose()
    }

    /// A column stored as `R` whose domain value `parse` finds, or `expected` names in the error.
    pub(crate) fn parsed<R, T>(
        &self,
        column: &'static str,
        expected: &'static str,
        parse: impl FnOnce(&R) -> Option<T>,
    ) -> Result<T>
    where
        R: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Debug,
    {
        parsed(self.table, column, expected, self.get::<R>(column)?, parse)
    }

    /// A nullable column stored as `R`, as [`Fields::parsed`]; NULL is `None`.
    pub(crate) fn opt_parsed<R, T>(
        &self,
        column: &'static str,
        expected: &'static str,
        parse: impl FnOnce(&R) -> Option<T>,
    ) -> Result<Option<T>>
    where
        R: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Debug,
    {
        self.get::<Option<R>>(column)?.map(|raw| parsed(self.table, column, expected, raw, parse)).transpose()
    }
}

/// `raw` read from `table.column` as the value `parse` finds in it; `expected` says what it should have been.
pub(crate) fn parsed<R: Debug, T>(
    table: &'static str,
    column: &'static str,
    expected: &'static str,
    raw: R,
    parse: impl FnOnce(&R) -> Option<T>,
) -> Result<T> {
    parse(&raw).ok_or_else(|| Error::Corrupt { table, column, value: format!("{raw:?}"), expected })
}

/// A 20-byte address.
pub(crate) fn address(table: &'static str, column: &'static str, bytes: &[u8]) -> Result<Address> {
    Address::try_from(bytes).map_err(|_| corrupt_bytes(table, column, bytes, "a 20-byte address"))
}

/// A 32-byte hash (a block or transaction hash, a nonce, a topic, a root).
pub(crate) fn b256(table: &'static str, column: &'static str, bytes: &[u8]) -> Result<B256> {
    B256::try_from(bytes).map_err(|_| corrupt_bytes(table, column, bytes, "a 32-byte hash"))
}

/// A non-negative `BIGINT` (block numbers, indexes, sequence numbers, chain ids).
pub(crate) fn u64(table: &'static str, column: &'static str, value: i64) -> Result<u64> {
    parsed(table, column, "a non-negative integer", value, |&v| u64::try_from(v).ok())
}

/// A decimal unsigned integer that fits `T` (a `NUMERIC` as text).
pub(crate) fn number<T: FromStr>(table: &'static str, column: &'static str, text: &str) -> Result<T> {
    let decimal = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    parsed(table, column, "a non-negative integer in range", text, |t| decimal.then(|| t.parse().ok()).flatten())
}

/// An EVM network x402 names (CAIP-2 `eip155:<chain id>` or a v1 name).
pub(crate) fn network(table: &'static str, column: &'static str, text: &str) -> Result<Network> {
    parsed(table, column, "an x402 EVM network", text, |t| Network::parse(t).ok())
}

/// An x402 protocol version this build speaks.
pub(crate) fn x402_version(table: &'static str, column: &'static str, number: i16) -> Result<X402Version> {
    parsed(table, column, "an x402 version", number, |&n| u64::try_from(n).ok().and_then(X402Version::from_number))
}

/// An x402 reason code this build knows, by its wire string.
pub(crate) fn reason(table: &'static str, column: &'static str, text: &str) -> Result<Reason> {
    parsed(table, column, "an x402 reason code", text, |t| Reason::from_wire(t))
}

fn corrupt_bytes(table: &'static str, column: &'static str, bytes: &[u8], expected: &'static str) -> Error {
    Error::Corrupt { table, column, value: format!("0x{} ({} bytes)", hex::encode(bytes), bytes.len()), expected }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;

    use super::*;

    fn is_corrupt<T: Debug>(result: Result<T>, want_column: &str) {
        match result {
            Err(Error::Corrupt { table, column, .. }) => assert_eq!((table, column), ("t", want_column)),
            other => panic!("expected a corrupt {want_column}, got {other:?}"),
        }
    }

    #[test]
    fn a_malformed_hash_is_an_error_not_zero() {
        for bytes in [&[][..], &[0u8; 31][..], &[0u8; 33][..], &[0xff; 20][..]] {
            is_corrupt(b256("t", "hash", bytes), "hash");
        }
        assert_eq!(b256("t", "hash", &[0xab; 32]).unwrap(), B256::repeat_byte(0xab));
        let err = b256("t", "hash", &[1, 2]).unwrap_err().to_string();
        assert!(err.contains("t.hash holds 0x0102 (2 bytes), not a 32-byte hash"), "{err}");
    }

    #[test]
    fn a_malformed_address_is_an_error_not_zero() {
        for bytes in [&[][..], &[0u8; 19][..], &[0u8; 21][..], &[0xff; 32][..]] {
            is_corrupt(address("t", "payer", bytes), "payer");
        }
        assert_eq!(address("t", "payer", &[0x11; 20]).unwrap(), Address::repeat_byte(0x11));
    }

    #[test]
    fn a_malformed_amount_is_an_error_not_zero() {
        let too_big = format!("{}0", U256::MAX);
        for text in ["", "-1", "1.5", "0x10", " 1", "1e3", "abc", too_big.as_str()] {
            is_corrupt(number::<U256>("t", "value", text), "value");
        }
        is_corrupt(number::<u64>("t", "tx_nonce", "18446744073709551616"), "tx_nonce");
        is_corrupt(number::<u128>("t", "max_fee", "-2"), "max_fee");
        assert_eq!(number::<U256>("t", "value", &U256::MAX.to_string()).unwrap(), U256::MAX);
        assert_eq!(number::<U256>("t", "value", "0").unwrap(), U256::ZERO);
    }

    #[test]
    fn a_negative_integer_is_an_error_not_zero() {
        is_corrupt(u64("t", "block_number", -1), "block_number");
        is_corrupt(u64("t", "block_number", i64::MIN), "block_number");
        assert_eq!(u64("t", "block_number", i64::MAX).unwrap(), i64::MAX as u64);
    }

    #[test]
    fn an_unknown_protocol_value_is_an_error_not_a_fallback() {
        for text in ["", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "eip155:0", "Base"] {
            is_corrupt(network("t", "network", text), "network");
        }
        assert_eq!(network("t", "network", "eip155:84532").unwrap(), Network::BASE_SEPOLIA);
        assert_eq!(network("t", "network", "base-sepolia").unwrap(), Network::BASE_SEPOLIA);
        for number in [-1, 0, 3] {
            is_corrupt(x402_version("t", "x402_version", number), "x402_version");
        }
        assert_eq!(x402_version("t", "x402_version", 1).unwrap(), X402Version::V1);
        assert_eq!(x402_version("t", "x402_version", 2).unwrap(), X402Version::V2);
        for text in ["", "invalid_exact_evm_nonce_already_use", "INVALID_PAYLOAD"] {
            is_corrupt(reason("t", "failure_reason", text), "failure_reason");
        }
        assert_eq!(reason("t", "failure_reason", "invalid_payload").unwrap(), Reason::InvalidPayload);
    }

    #[test]
    fn an_unknown_enum_value_is_an_error() {
        let parse = |s: &String| (s == "pending").then_some(());
        is_corrupt(parsed("t", "status", "a status", "pendng".to_owned(), parse), "status");
        parsed("t", "status", "a status", "pending".to_owned(), parse).unwrap();
    }
}
