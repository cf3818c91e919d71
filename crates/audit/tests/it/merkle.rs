//! Rust-built trees and proofs verify through `AnchorRegistry.verify` on anvil.

use alloy::primitives::{B256, U256, keccak256};
use alloy::sol_types::SolValue;
use clearing_audit::MerkleTree;
use clearing_chain::contracts::AnchorRegistry;
use clearing_testkit::Chain;

#[tokio::test]
async fn proofs_of_ranges_of_1_2_3_7_100_records_verify_on_chain() {
    let chain = Chain::start().await;
    let registry = AnchorRegistry::new(chain.deployment.anchor_registry, &chain.provider);
    let mut next = 0u64;
    for (index, size) in [1u64, 2, 3, 7, 100].into_iter().enumerate() {
        let leaves: Vec<B256> = (0..size)
            .map(|i| keccak256(keccak256((U256::from(next + i), B256::repeat_byte(9)).abi_encode())))
            .collect();
        let tree = MerkleTree::new(&leaves).unwrap();
        let receipt = chain.anchor(next, next + size - 1, tree.root()).await;
        assert!(receipt.status());
        for leaf in &leaves {
            let proof = tree.proof(*leaf).unwrap();
            assert!(registry.verify(U256::from(index), *leaf, proof.clone()).call().await.unwrap(), "size {size}");
            let mut tampered = *leaf;
            tampered.0[0] ^= 0x80;
            assert!(!registry.verify(U256::from(index), tampered, proof).call().await.unwrap(), "size {size}");
        }
        next += size;
    }
}
