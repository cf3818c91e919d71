//! A key from the configuration that must never reach a log.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value that must never be printed or logged: it prints as `<redacted>`. Configured private keys (the relayer's,
/// the anchorer's) are held in one until the place that turns them into a signer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Holds `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_redacted() {
        assert_eq!(format!("{:?}", Secret::new("0xdeadbeef")), "<redacted>");
    }
}
