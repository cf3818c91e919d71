//! EVM networks: CAIP-2 `eip155:<chain id>` (x402 v2) and the fixed names of x402 v1.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::{Error, Result};

/// The CAIP-2 namespace of EVM chains (CAIP-2, namespace `eip155`).
pub const EIP155_NAMESPACE: &str = "eip155";

/// Longest CAIP-2 reference: `[-_a-zA-Z0-9]{1,32}` (CAIP-2 syntax).
const CAIP2_MAX_REFERENCE_LEN: usize = 32;

/// The EVM network names of x402 v1 and their chain ids: every name that either reference SDK maps to a chain
/// id, npm `x402` 1.2.0 (`EvmNetworkToChainId`, `src/types/shared/network.ts`) or PyPI `x402` 2.25.0
/// (`V1_NETWORK_CHAIN_IDS`, `x402/mechanisms/evm/v1/constants.py`). A v1 client signs its EIP-712 domain with the
/// chain id its SDK maps the name to, so a name is understood here only where an SDK defines it.
///
/// Where the two disagree (`story`, `educhain`, `skale-base-sepolia`) this follows npm: its ids are the chains
/// the names denote (viem's `story` is Story mainnet 1514 and `eduChain` is EDU Chain 41923; x402 1.2 defines
/// SKALE Base Sepolia as 324705682 and lists a bridged USDC on each of the three), and npm `@x402/evm` 2.27 keeps
/// the same ids. PyPI's (1513, 656476, 1444673419) name other chains, so a PyPI v1 client cannot pay on those
/// three names through any facilitator on the named chain. Names only PyPI has are included: no SDK gives them
/// another id. `tests/it/network_table.rs` pins this table against both SDKs' tables.
pub const V1_EVM_NETWORKS: &[(&str, u64)] = &[
    // In both SDKs, with the same id.
    ("abstract", 2741),
    ("abstract-testnet", 11124),
    ("base-sepolia", 84532),
    ("base", 8453),
    ("avalanche-fuji", 43113),
    ("avalanche", 43114),
    ("iotex", 4689),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("polygon", 137),
    ("polygon-amoy", 80002),
    ("peaq", 3338),
    // In both, with different ids: npm's (see above).
    ("story", 1514),
    ("educhain", 41923),
    ("skale-base-sepolia", 324705682),
    // PyPI only.
    ("ethereum", 1),
    ("megaeth", 4326),
    ("monad", 143),
    ("monad-testnet", 10143),
    ("stable", 988),
    ("stable-testnet", 2201),
    ("celo", 42220),
    ("flare", 14),
];

/// An EVM chain, named on the wire as CAIP-2 `eip155:<chain id>` (v2) or, where x402 v1 has one, by its v1
/// name. Serialises as CAIP-2; deserialises from either form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    chain_id: u64,
}

impl Network {
    /// Base mainnet, `eip155:8453` (v1 `base`).
    pub const BASE: Self = Self::new(8453);
    /// Base Sepolia, `eip155:84532` (v1 `base-sepolia`).
    pub const BASE_SEPOLIA: Self = Self::new(84532);
    /// Anvil's default chain, `eip155:31337` (no v1 name).
    pub const ANVIL: Self = Self::new(31337);

    /// The network of `chain_id`.
    pub const fn new(chain_id: u64) -> Self {
        Self { chain_id }
    }

    /// The EIP-155 chain id.
    pub const fn chain_id(self) -> u64 {
        self.chain_id
    }

    /// Parses CAIP-2 `eip155:<chain id>` or an x402 v1 name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::from_caip2(s).or_else(|| Self::from_v1_name(s)).ok_or_else(|| Error::UnsupportedNetwork(s.to_owned()))
    }

    /// Parses CAIP-2 `eip155:<chain id>`: a decimal chain id without sign or leading zero, not zero.
    pub fn from_caip2(s: &str) -> Option<Self> {
        let reference = s.strip_prefix(EIP155_NAMESPACE)?.strip_prefix(':')?;
        let digits = reference.as_bytes();
        let well_formed = !digits.is_empty()
            && digits.len() <= CAIP2_MAX_REFERENCE_LEN
            && digits.iter().all(u8::is_ascii_digit)
            && digits[0] != b'0';
        if !well_formed {
            return None;
        }
        reference.parse::<u64>().ok().map(Self::new)
    }

    /// The network an x402 v1 name stands for.
    pub fn from_v1_name(name: &str) -> Option<Self> {
        V1_EVM_NETWORKS.iter().find(|(n, _)| *n == name).map(|&(_, id)| Self::new(id))
    }

    /// The x402 v1 name of this network, if v1 has one.
    pub fn v1_name(self) -> Option<&'static str> {
        V1_EVM_NETWORKS.iter().find(|&&(_, id)| id == self.chain_id).map(|&(n, _)| n)
    }

    /// The CAIP-2 form, `eip155:<chain id>`.
    pub fn caip2(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EIP155_NAMESPACE}:{}", self.chain_id)
    }
}

impl FromStr for Network {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_in_both_forms() {
        assert_eq!(Network::parse("base").unwrap(), Network::BASE);
        assert_eq!(Network::parse("eip155:8453").unwrap(), Network::BASE);
        assert_eq!(Network::parse("base-sepolia").unwrap(), Network::BASE_SEPOLIA);
        assert_eq!(Network::parse("eip155:84532").unwrap(), Network::BASE_SEPOLIA);
        assert_eq!(Network::BASE.v1_name(), Some("base"));
        assert_eq!(Network::BASE_SEPOLIA.v1_name(), Some("base-sepolia"));
        assert_eq!(Network::BASE.to_string(), "eip155:8453");
        assert_eq!(Network::ANVIL.v1_name(), None);
        assert_eq!(Network::parse("eip155:31337").unwrap().chain_id(), 31337);
    }

    #[test]
    fn every_v1_name_round_trips_and_ids_are_unique() {
        let mut ids = std::collections::HashSet::new();
        for &(name, id) in V1_EVM_NETWORKS {
            assert!(ids.insert(id), "duplicate chain id {id}");
            let network = Network::parse(name).unwrap();
            assert_eq!(network.chain_id(), id);
            assert_eq!(network.v1_name(), Some(name));
            assert_eq!(Network::parse(&network.caip2()).unwrap(), network);
        }
    }

    #[test]
    fn malformed_caip2_is_refused() {
        for bad in [
            "",
            "eip155",
            "eip155:",
            "eip155:0",
            "eip155:08453",
            "eip155:+8453",
            "eip155:-1",
            "eip155:0x2105",
            "eip155: 8453",
            "eip155:8453 ",
            "EIP155:8453",
            "eip155:18446744073709551616",
            "eip155:*",
            "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
            "Base",
            "mainnet",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(Network::parse("eip155:18446744073709551615").unwrap().chain_id(), u64::MAX);
    }

    #[test]
    fn serde_writes_caip2_and_reads_both() {
        assert_eq!(serde_json::to_string(&Network::BASE).unwrap(), "\"eip155:8453\"");
        assert_eq!(serde_json::from_str::<Network>("\"base\"").unwrap(), Network::BASE);
        assert_eq!(serde_json::from_str::<Network>("\"eip155:8453\"").unwrap(), Network::BASE);
        assert!(serde_json::from_str::<Network>("\"nowhere\"").is_err());
    }
}
