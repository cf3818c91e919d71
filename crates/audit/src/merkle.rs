//! Merkle trees in OpenZeppelin's StandardMerkleTree layout, and OZ `MerkleProof` verification.
//!
//! Leaves are sorted ascending and stored in reverse at the end of a `2n - 1` array; inner node `i` is the
//! sorted-pair hash of nodes `2i + 1` and `2i + 2`. A proof lists the siblings from the leaf up. This is what the
//! npm `@openzeppelin/merkle-tree` builds by default, and what `AnchorRegistry.verify` checks.

use alloy::primitives::{B256, keccak256};

/// A tree over at least one leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    nodes: Vec<B256>,
}

impl MerkleTree {
    /// The tree over `leaves` (already double-hashed; any order), or `None` when there are none.
    pub fn new(leaves: &[B256]) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut sorted = leaves.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let mut nodes = vec![B256::ZERO; 2 * n - 1];
        let len = nodes.len();
        for (i, leaf) in sorted.into_iter().enumerate() {
            nodes[len - 1 - i] = leaf;
        }
        for node in (0..len - n).rev() {
            nodes[node] = hash_pair(nodes[2 * node + 1], nodes[2 * node + 2]);
        }
        Some(Self { nodes })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.nodes[0]
    }

    /// The proof of `leaf` (siblings from the leaf up), or `None` if it is not a leaf of this tree.
    pub fn proof(&self, leaf: B256) -> Option<Vec<B256>> {
        let leaves = self.nodes.len() / 2;
        let mut index = (leaves..self.nodes.len()).find(|&i| self.nodes[i] == leaf)?;
        let mut proof = Vec::new();
        while index > 0 {
            proof.push(self.nodes[if index % 2 == 1 { index + 1 } else { index - 1 }]);
            index = (index - 1) / 2;
        }
        Some(proof)
    }
}

/// OZ `Hashes.commutativeKeccak256`: the keccak of the two words, smaller first.
pub fn hash_pair(a: B256, b: B256) -> B256 {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(low.as_slice());
    buf[32..].copy_from_slice(high.as_slice());
    keccak256(buf)
}

/// OZ `MerkleProof.processProof`: the root that `proof` leads to from `leaf`.
pub fn process_proof(leaf: B256, proof: &[B256]) -> B256 {
    proof.iter().fold(leaf, |node, sibling| hash_pair(node, *sibling))
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{U256, address, b256},
        sol_types::SolValue,
    };

    use super::*;

    fn double_hash(encoded: &[u8]) -> B256 {
        keccak256(keccak256(encoded))
    }

    fn leaves(n: usize) -> Vec<B256> {
        (0..n).map(|i| double_hash(&(U256::from(i), B256::repeat_byte(7)).abi_encode())).collect()
    }

    #[test]
    fn every_leaf_of_trees_of_1_2_3_7_100_proves_to_the_root() {
        for n in [1, 2, 3, 7, 100] {
            let leaves = leaves(n);
            let tree = MerkleTree::new(&leaves).unwrap();
            for leaf in &leaves {
                let proof = tree.proof(*leaf).unwrap();
                assert_eq!(process_proof(*leaf, &proof), tree.root(), "n = {n}");
                let mut flipped = *leaf;
                flipped.0[31] ^= 1;
                assert_ne!(process_proof(flipped, &proof), tree.root(), "n = {n}: a tampered leaf fails");
            }
        }
    }

    #[test]
    fn a_single_leaf_is_its_own_root_with_an_empty_proof() {
        let leaf = leaves(1)[0];
        let tree = MerkleTree::new(&[leaf]).unwrap();
        assert_eq!(tree.root(), leaf);
        assert_eq!(tree.proof(leaf).unwrap(), Vec::<B256>::new());
        assert!(MerkleTree::new(&[]).is_none());
    }

    #[test]
    fn the_root_does_not_depend_on_leaf_order() {
        let mut leaves = leaves(7);
        let root = MerkleTree::new(&leaves).unwrap().root();
        leaves.reverse();
        assert_eq!(MerkleTree::new(&leaves).unwrap().root(), root);
    }

    /// The third-party StandardMerkleTree dump (npm `@openzeppelin/merkle-tree`, leafEncoding [address, uint256])
    /// that contracts/test/AnchorRegistry/verify.t.sol also pins: the same leaves, tree and root.
    #[test]
    fn matches_an_openzeppelin_standard_merkle_tree_dump() {
        let account = address!("0x80d628ff4AC2aFf620C3474663F1e559234bbE0c");
        let dump = [
            b256!("0x0fecce441c7468f17e3fe4a5f211b77a15b27c9ab3d33317df385dfbe5487034"),
            b256!("0x636ab2686ee3036244cf3d6b5574e051e4b20a3577b008975dbcca6dde2897d2"),
            b256!("0xd90245da324d7908326a3d56a9659741551a4603c397bf4dd373976bd85660e7"),
            b256!("0x36fb17c97ec80bb961ff0adff1af4a2a34847ecc40653c162e327117a76e3ec9"),
            b256!("0x1867c4ebd455913e429523a5c2d4b3a79f58068b5a25af911956245ed03a659d"),
        ];
        let values: Vec<B256> = (0..3u64).map(|i| double_hash(&(account, U256::from(i)).abi_encode())).collect();
        assert_eq!([values[0], values[1], values[2]], [dump[4], dump[3], dump[2]], "leaf hashes and positions");
        let tree = MerkleTree::new(&values).unwrap();
        assert_eq!(tree.nodes, dump, "every node");
        for value in values {
            assert_eq!(process_proof(value, &tree.proof(value).unwrap()), dump[0]);
        }
    }
}
