//! The v1 network table against both reference SDKs' own tables, copied exactly from the released packages:
//! npm `x402` 1.2.0 `EvmNetworkToChainId` (dist/esm, `src/types/shared/network.ts`) and PyPI `x402` 2.25.0
//! `V1_NETWORK_CHAIN_IDS` (`x402/mechanisms/evm/v1/constants.py`). When either SDK is upgraded in the interop
//! harness, refresh its table here; this test then says what Clearing must decide.

use std::collections::BTreeMap;

use clearing_x402::{Network, V1_EVM_NETWORKS};

/// npm `x402` 1.2.0, `EvmNetworkToChainId`, in its order.
const NPM_X402_1_2_0: &[(&str, u64)] = &[
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
    ("story", 1514),
    ("educhain", 41923),
    ("skale-base-sepolia", 324705682),
];

/// PyPI `x402` 2.25.0, `V1_NETWORK_CHAIN_IDS`, in its order.
const PYPI_X402_2_25_0: &[(&str, u64)] = &[
    ("base", 8453),
    ("base-sepolia", 84532),
    ("ethereum", 1),
    ("polygon", 137),
    ("polygon-amoy", 80002),
    ("avalanche", 43114),
    ("avalanche-fuji", 43113),
    ("abstract", 2741),
    ("abstract-testnet", 11124),
    ("iotex", 4689),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("peaq", 3338),
    ("story", 1513),
    ("educhain", 656476),
    ("skale-base-sepolia", 1444673419),
    ("megaeth", 4326),
    ("monad", 143),
    ("monad-testnet", 10143),
    ("stable", 988),
    ("stable-testnet", 2201),
    ("celo", 42220),
    ("flare", 14),
];

/// The names the SDKs map to different chains; Clearing follows npm for each (see `V1_EVM_NETWORKS`).
const DISPUTED: &[&str] = &["story", "educhain", "skale-base-sepolia"];

fn table(entries: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    let map: BTreeMap<_, _> = entries.iter().copied().collect();
    assert_eq!(map.len(), entries.len(), "a name appears twice");
    map
}

#[test]
fn the_v1_table_is_the_union_of_both_sdks_with_npm_ids_where_they_disagree() {
    let npm = table(NPM_X402_1_2_0);
    let pypi = table(PYPI_X402_2_25_0);
    let ours = table(V1_EVM_NETWORKS);

    let disputed: Vec<_> =
        npm.iter().filter(|&(name, id)| pypi.get(name).is_some_and(|p| p != id)).map(|(n, _)| *n).collect();
    assert_eq!(disputed, {
        let mut d = DISPUTED.to_vec();
        d.sort_unstable();
        d
    });

    let mut expected = pypi.clone();
    expected.extend(npm.iter().map(|(n, id)| (*n, *id))); // npm wins where they disagree
    assert_eq!(ours, expected);

    for (name, id) in &ours {
        let network = Network::parse(name).unwrap();
        assert_eq!(network.chain_id(), *id, "{name}");
        assert_eq!(network.v1_name(), Some(*name), "{name}: the v1 name of its chain");
    }
}

#[test]
fn names_neither_sdk_defines_are_refused() {
    for name in ["lisk", "lisk-sepolia", "sepolia", "iotex-testnet", "solana", "solana-devnet", "Base", "base "] {
        assert!(Network::parse(name).is_err(), "{name:?} parsed");
    }
    // The disputed names' PyPI chains have no v1 name here, so /supported offers them v2 only.
    for id in [1513, 656476, 1444673419] {
        assert_eq!(Network::new(id).v1_name(), None, "chain {id}");
    }
}
