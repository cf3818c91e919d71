//! [`Usdc`]: an amount of USDC as atomic units (USDC has 6 decimals: 1 USDC = 1,000,000 units), with its exact
//! decimal form.
//!
//! On the wire an amount is a decimal string of whole USDC. Parsing accepts up to [`MAX_USDC_DECIMALS`] decimals
//! ("5", "0.5", "0.50", "0.500000") and turns them into atomic units digit by digit, never through a float; the
//! canonical form written back always carries six decimals ("0.500000"): one spelling per amount, exact, and plain
//! to compare as text. Anything else (a sign, an exponent, a seventh decimal, a bare "." or a JSON number) is
//! refused with what was wrong.

use std::{fmt, str::FromStr};

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// USDC's decimals (FiatToken `decimals()`, 6 on every chain Circle deploys it).
pub const MAX_USDC_DECIMALS: usize = 6;

/// Atomic units in one USDC.
const UNITS_PER_USDC: u128 = 1_000_000;

/// An amount of USDC, held as atomic units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usdc(u128);

/// Why a string is not an amount of USDC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsdcParseError {
    /// Nothing to read.
    #[error("an amount of USDC is a decimal string such as \"0.50\"; got an empty string")]
    Empty,
    /// Not digits with at most one decimal point between digits.
    #[error(
        "an amount of USDC is a decimal string such as \"0.50\" (digits, one optional point, no sign or exponent); got {0:?}"
    )]
    NotDecimal(String),
    /// More decimals than USDC has.
    #[error("USDC has 6 decimals; {got:?} has {decimals}")]
    TooManyDecimals {
        /// The string.
        got: String,
        /// Its number of decimals.
        decimals: usize,
    },
    /// More than any amount this type holds.
    #[error("{0:?} is larger than any amount of USDC")]
    TooLarge(String),
}

impl Usdc {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// `units` atomic units (millionths of a USDC).
    pub const fn from_atomic(units: u128) -> Self {
        Self(units)
    }

    /// `whole` USDC.
    pub const fn from_whole(whole: u64) -> Self {
        Self(whole as u128 * UNITS_PER_USDC)
    }

    /// The amount in atomic units.
    pub const fn atomic(self) -> u128 {
        self.0
    }

    /// The amount in atomic units, as x402 amounts are given.
    pub fn to_u256(self) -> U256 {
        U256::from(self.0)
    }

    /// Whether it is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The sum, unless it overflows.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Self(sum)),
            None => None,
        }
    }

    /// The difference, unless `other` is larger.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(difference) => Some(Self(difference)),
            None => None,
        }
    }

    /// Parses a decimal string of whole USDC ("0.50") exactly into atomic units.
    pub fn parse(text: &str) -> Result<Self, UsdcParseError> {
        if text.is_empty() {
            return Err(UsdcParseError::Empty);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
            return Err(UsdcParseError::NotDecimal(text.to_owned()));
        }
        let fraction = fraction.unwrap_or("");
        if fraction.len() > MAX_USDC_DECIMALS {
            return Err(UsdcParseError::TooManyDecimals { got: text.to_owned(), decimals: fraction.len() });
        }
        let too_large = || UsdcParseError::TooLarge(text.to_owned());
        let whole: u128 = whole.parse().map_err(|_| too_large())?;
        // Right-padded to six digits: "5" is 500,000 millionths.
        let fraction: u128 = format!("{fraction:0<MAX_USDC_DECIMALS$}").parse().map_err(|_| too_large())?;
        let units = whole.checked_mul(UNITS_PER_USDC).and_then(|u| u.checked_add(fraction)).ok_or_else(too_large)?;
        Ok(Self(units))
    }
}

impl fmt::Display for Usdc {
    /// The canonical form: whole USDC, a point, six decimals ("0.500000", "47.250000").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, fraction) = (self.0 / UNITS_PER_USDC, self.0 % UNITS_PER_USDC);
        write!(f, "{whole}.{fraction:0MAX_USDC_DECIMALS$}")
    }
}

impl FromStr for Usdc {
    type Err = UsdcParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Usdc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Usdc {
    /// From a decimal string only: a JSON number would have gone through a float in most clients already.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Usdc;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string of USDC such as \"0.50\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Usdc, E> {
                Usdc::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_exactly_into_atomic_units() {
        for (text, units) in [
            ("0", 0),
            ("5", 5_000_000),
            ("0.5", 500_000),
            ("0.50", 500_000),
            ("0.500000", 500_000),
            ("0.000001", 1),
            ("47.25", 47_250_000),
            ("007.1", 7_100_000),
            ("0.1", 100_000),
            ("0.3", 300_000),
        ] {
            assert_eq!(Usdc::parse(text), Ok(Usdc::from_atomic(units)), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for text in ["", ".5", "5.", "+5", "-5", "1e3", "0x10", " 1", "1 ", "1,5", "1.2.3", "NaN", "½", "$1"] {
            assert!(Usdc::parse(text).is_err(), "{text:?}");
        }
        assert_eq!(
            Usdc::parse("0.0000001"),
            Err(UsdcParseError::TooManyDecimals { got: "0.0000001".into(), decimals: 7 })
        );
        let huge = format!("{}", u128::MAX);
        assert_eq!(Usdc::parse(&huge), Err(UsdcParseError::TooLarge(huge.clone())));
        let message = Usdc::parse("1e3").unwrap_err().to_string();
        assert!(message.contains("\"0.50\"") && message.contains("\"1e3\""), "{message}");
    }

    #[test]
    fn displays_six_decimals() {
        assert_eq!(Usdc::from_atomic(500_000).to_string(), "0.500000");
        assert_eq!(Usdc::from_atomic(47_250_000).to_string(), "47.250000");
        assert_eq!(Usdc::ZERO.to_string(), "0.000000");
        assert_eq!(Usdc::from_atomic(1).to_string(), "0.000001");
        assert_eq!(Usdc::from_whole(3).to_string(), "3.000000");
    }

    #[test]
    fn json_is_a_string_and_never_a_number() {
        assert_eq!(serde_json::to_string(&Usdc::from_atomic(10_000)).unwrap(), "\"0.010000\"");
        assert_eq!(serde_json::from_str::<Usdc>("\"0.01\"").unwrap(), Usdc::from_atomic(10_000));
        let err = serde_json::from_str::<Usdc>("0.01").unwrap_err().to_string();
        assert!(err.contains("decimal string"), "{err}");
    }

    proptest! {
        #[test]
        fn the_canonical_form_reads_back(units in any::<u128>()) {
            let amount = Usdc::from_atomic(units);
            prop_assert_eq!(Usdc::parse(&amount.to_string()), Ok(amount));
        }

        #[test]
        fn any_spelling_means_whole_times_a_million_plus_the_padded_fraction(
            whole in 0u64..u64::MAX,
            fraction in "[0-9]{0,6}",
            leading_zeros in 0usize..3,
        ) {
            let text = if fraction.is_empty() {
                format!("{}{whole}", "0".repeat(leading_zeros))
            } else {
                format!("{}{whole}.{fraction}", "0".repeat(leading_zeros))
            };
            let padded: u128 = format!("{fraction:0<6}").parse().unwrap();
            let expected = u128::from(whole) * 1_000_000 + padded;
            let parsed = Usdc::parse(&text).unwrap();
            prop_assert_eq!(parsed.atomic(), expected);
            // The canonical form of any spelling is the canonical form of its value.
            prop_assert_eq!(parsed.to_string(), Usdc::from_atomic(expected).to_string());
        }

        #[test]
        fn a_seventh_decimal_is_refused(whole in 0u32.., fraction in "[0-9]{7,10}") {
            let refused = matches!(Usdc::parse(&format!("{whole}.{fraction}")), Err(UsdcParseError::TooManyDecimals { .. }));
            prop_assert!(refused);
        }
    }
}
