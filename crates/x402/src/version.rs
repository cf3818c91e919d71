//! `x402Version`: a marker per version for the typed wire structs, and an enum where either is possible.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The `x402Version` field of a version-specific struct: serialises as `N` and refuses any other number, so
/// a v2 body never parses as a v1 struct.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Version<const N: u8>;

impl<const N: u8> Serialize for Version<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(N)
    }
}

impl<'de, const N: u8> Deserialize<'de> for Version<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let got = u64::deserialize(deserializer)?;
        if got == u64::from(N) {
            Ok(Self)
        } else {
            Err(de::Error::custom(format_args!("x402Version {got}, expected {N}")))
        }
    }
}

/// A protocol version where either is possible (`/supported` kinds, verified payments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum X402Version {
    /// x402 v1: JSON 402 bodies, `X-PAYMENT`, v1 network names, `maxAmountRequired`.
    V1,
    /// x402 v2: everything in headers, CAIP-2 networks, `amount`, `accepted`.
    V2,
}

impl X402Version {
    /// The number on the wire.
    pub const fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The version numbered `n`, if this crate speaks it.
    pub const fn from_number(n: u64) -> Option<Self> {
        match n {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }
}

impl fmt::Display for X402Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl Serialize for X402Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for X402Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(deserializer)?;
        Self::from_number(n).ok_or_else(|| de::Error::custom(format_args!("unsupported x402Version {n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_accepts_only_its_number() {
        assert_eq!(serde_json::to_string(&Version::<2>).unwrap(), "2");
        assert!(serde_json::from_str::<Version<2>>("2").is_ok());
        let err = serde_json::from_str::<Version<2>>("1").unwrap_err().to_string();
        assert!(err.contains("x402Version 1, expected 2"), "{err}");
        assert!(serde_json::from_str::<Version<1>>("\"1\"").is_err());
    }

    #[test]
    fn enum_round_trips() {
        for v in [X402Version::V1, X402Version::V2] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<X402Version>(&json).unwrap(), v);
        }
        assert!(serde_json::from_str::<X402Version>("3").is_err());
    }
}
