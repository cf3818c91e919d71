//! Verify's answers of one block, reused until the head moves.
//!
//! Every read is pinned to a block number, and what the chain said at block B stays exactly true of block B, so
//! the pieces of an answer read at the current head are served again to any verify at that same head: the asset's
//! code, the payer's code and balance, the nonce state of (asset, payer, nonce), a wallet's ERC-1271 answer for
//! (payer, digest, signature) and the simulated transfer of (digest, signature) (the digest commits to the token,
//! payer, payee, value, window and nonce, which with the signature are all a simulation depends on at one block). When the head moves (up, or down after a reorg) every per-block piece is dropped;
//! nothing read at one block is ever served at another. Only an asset's code, once seen non-empty, is kept across
//! blocks: a deployed token does not lose its code. Settlements in flight are not the cache's business: verify
//! subtracts them from the balance at answer time (`crate::InFlight`).
//!
//! One piece is offered beyond its block, never served from the cache directly: a successful simulation of an
//! EOA payer's transfer ([`Carried`]). The coalescer reuses it at a later head only when the token's logs show no
//! rule change since ([`super::guard`]), and only with the balance, nonce and code read again at that head.

use alloy::primitives::{
    Address, B256, Bytes, U256,
    map::{HashMap, HashSet},
};
use clearing_chain::{Simulation, VerifyAnswer, VerifyRead};

/// Most pieces kept for one block; past it new answers are not cached (memory stays bounded under any load).
const MAX_PIECES_PER_BLOCK: usize = 500_000;

/// Most successful simulations carried across blocks; past it the oldest are dropped all at once.
const MAX_CARRIED: usize = 500_000;

/// A successful simulation of an earlier block, offered for reuse at later heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Carried {
    token: Address,
    /// The block whose state the simulation ran on.
    simulated_at: u64,
    /// The authorization's `validBefore`: past it the payment can never settle and the entry is dropped.
    valid_before: U256,
}

/// The answer pieces of one block (plus the assets known to be contracts).
#[derive(Debug, Default)]
pub(crate) struct BlockCache {
    block: Option<u64>,
    /// Assets seen with code: kept across blocks.
    contracts: HashSet<Address>,
    /// Assets seen without code at `block`.
    no_code: HashSet<Address>,
    payer_code: HashMap<Address, bool>,
    balances: HashMap<(Address, Address), Option<U256>>,
    nonces: HashMap<(Address, Address, B256), Option<bool>>,
    signatures: HashMap<(Address, B256, Bytes), bool>,
    simulations: HashMap<(B256, Bytes), Simulation>,
    /// This block's successful simulations of EOA payers' transfers, carried forward when the head moves on.
    successes: HashMap<(B256, Bytes), Carried>,
    /// Successful simulations of earlier blocks.
    carried: HashMap<(B256, Bytes), Carried>,
    pieces: usize,
}

impl BlockCache {
    /// The block whose pieces are held.
    #[cfg(test)]
    pub(crate) const fn block(&self) -> Option<u64> {
        self.block
    }

    /// The answer to `read` at `head` if every piece of it was read at `head`. Moves the cache to `head` first.
    pub(crate) fn get(&mut self, head: u64, read: &VerifyRead) -> Option<VerifyAnswer> {
        self.advance(head);
        let token_is_contract = if self.contracts.contains(&read.token) {
            true
        } else if self.no_code.contains(&read.token) {
            false
        } else {
            return None;
        };
        let payer_has_code = *self.payer_code.get(&read.payer)?;
        if !token_is_contract {
            // VerifyReader reads nothing else of an asset without code.
            return Some(VerifyAnswer {
                token_is_contract,
                payer_has_code,
                balance: None,
                nonce_used: None,
                contract_signature_valid: false,
                transfer: Simulation::NotRun,
            });
        }
        let balance = *self.balances.get(&(read.token, read.payer))?;
        let nonce_used = *self.nonces.get(&(read.token, read.payer, read.nonce))?;
        let contract_signature_valid = if payer_has_code {
            *self.signatures.get(&(read.payer, read.digest, read.signature.clone()))?
        } else {
            false
        };
        let transfer = self.simulations.get(&(read.digest, read.signature.clone()))?.clone();
        Some(VerifyAnswer {
            token_is_contract,
            payer_has_code,
            balance,
            nonce_used,
            contract_signature_valid,
            transfer,
        })
    }

    /// The block of an earlier successful simulation of `read`'s transfer, if one is carried.
    pub(crate) fn carried(&self, read: &VerifyRead) -> Option<u64> {
        let carried = self.carried.get(&(read.digest, read.signature.clone()))?;
        (carried.token == read.token).then_some(carried.simulated_at)
    }

    /// Keeps `answer`, read at `block`, if `block` is the current head `head`; an answer of any other block is
    /// dropped. `simulated_at` is the block whose state the answer's simulation ran on: `block`, or an earlier one
    /// for a carried success.
    pub(crate) fn insert(
        &mut self,
        block: u64,
        head: u64,
        read: &VerifyRead,
        answer: &VerifyAnswer,
        simulated_at: u64,
    ) {
        let key = (read.digest, read.signature.clone());
        if answer.nonce_used == Some(true) {
            // Used: the payment can never settle again, so nothing of it is worth carrying.
            self.carried.remove(&key);
            self.successes.remove(&key);
        }
        if block != head {
            return;
        }
        self.advance(head);
        if self.pieces >= MAX_PIECES_PER_BLOCK {
            return;
        }
        self.pieces += 1;
        if answer.token_is_contract {
            self.contracts.insert(read.token);
        } else {
            self.no_code.insert(read.token);
        }
        self.payer_code.insert(read.payer, answer.payer_has_code);
        if !answer.token_is_contract {
            return;
        }
        self.balances.insert((read.token, read.payer), answer.balance);
        self.nonces.insert((read.token, read.payer, read.nonce), answer.nonce_used);
        if answer.payer_has_code {
            self.signatures.insert((read.payer, read.digest, read.signature.clone()), answer.contract_signature_valid);
        }
        if answer.transfer == Simulation::Succeeded && !answer.payer_has_code && answer.nonce_used == Some(false) {
            let carried = Carried { token: read.token, simulated_at, valid_before: read.valid_before };
            self.successes.insert(key.clone(), carried);
        }
        self.simulations.insert(key, answer.transfer.clone());
    }

    /// Drops every per-block piece unless the cache already holds `head`'s. Moving up carries the block's
    /// successful simulations forward; moving down (a reorg) drops every carried one.
    fn advance(&mut self, head: u64) {
        if self.block == Some(head) {
            return;
        }
        if self.block.is_some_and(|block| head > block) {
            self.carried.extend(self.successes.drain());
            let now = U256::from(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            );
            self.carried.retain(|_, carried| carried.valid_before > now);
            if self.carried.len() > MAX_CARRIED {
                self.carried.clear();
            }
        } else {
            self.carried.clear();
        }
        self.successes.clear();
        self.block = Some(head);
        self.no_code.clear();
        self.payer_code.clear();
        self.balances.clear();
        self.nonces.clear();
        self.signatures.clear();
        self.simulations.clear();
        self.pieces = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(payer: u8, nonce: u8) -> VerifyRead {
        VerifyRead {
            token: Address::repeat_byte(0xaa),
            nonce: B256::repeat_byte(nonce),
            // The digest commits to the payer and the nonce.
            digest: B256::repeat_byte(nonce ^ payer.rotate_left(4) ^ 0x55),
            signature: Bytes::from(vec![payer; 65]),
            valid_before: U256::MAX,
            simulate: true,
            ..VerifyRead::code_of(Address::repeat_byte(payer))
        }
    }

    fn answer(balance: u64, nonce_used: bool) -> VerifyAnswer {
        VerifyAnswer {
            token_is_contract: true,
            payer_has_code: false,
            balance: Some(U256::from(balance)),
            nonce_used: Some(nonce_used),
            contract_signature_valid: false,
            transfer: Simulation::Succeeded,
        }
    }

    #[test]
    fn serves_an_answer_at_the_block_it_was_read_at() {
        let mut cache = BlockCache::default();
        assert_eq!(cache.get(7, &read(1, 1)), None);
        cache.insert(7, 7, &read(1, 1), &answer(100, false), 7);
        assert_eq!(cache.get(7, &read(1, 1)), Some(answer(100, false)));
        // Another nonce of the same payer needs its own read.
        assert_eq!(cache.get(7, &read(1, 2)), None);
    }

    #[test]
    fn a_new_head_drops_every_answer_of_the_old_one() {
        let mut cache = BlockCache::default();
        cache.insert(7, 7, &read(1, 1), &answer(100, false), 7);
        assert_eq!(cache.get(8, &read(1, 1)), None, "block 7's answer is not served at block 8");
        assert_eq!(cache.block(), Some(8));
        // Nor at block 7 again: it is gone, not set aside.
        assert_eq!(cache.get(7, &read(1, 1)), None);
        // A reorg back to a lower number is a new head too.
        cache.insert(7, 7, &read(1, 1), &answer(90, true), 7);
        assert_eq!(cache.get(6, &read(1, 1)), None);
    }

    #[test]
    fn never_keeps_an_answer_read_at_a_block_that_is_no_longer_the_head() {
        let mut cache = BlockCache::default();
        cache.get(8, &read(1, 1));
        // A read pinned to block 7 that returns after the head moved to 8.
        cache.insert(7, 8, &read(1, 1), &answer(100, false), 7);
        assert_eq!(cache.get(8, &read(1, 1)), None);
        assert_eq!(cache.get(7, &read(1, 1)), None);
    }

    #[test]
    fn an_asset_with_code_stays_known_across_blocks_and_one_without_does_not() {
        let mut cache = BlockCache::default();
        cache.insert(7, 7, &read(1, 1), &answer(100, false), 7);
        let bare = VerifyRead { token: Address::repeat_byte(0xbb), ..read(2, 2) };
        let no_code = VerifyAnswer {
            token_is_contract: false,
            payer_has_code: false,
            balance: None,
            nonce_used: None,
            contract_signature_valid: false,
            transfer: Simulation::NotRun,
        };
        cache.insert(7, 7, &bare, &no_code, 7);
        assert_eq!(cache.get(7, &bare), Some(no_code.clone()));

        cache.get(8, &read(1, 1));
        assert!(cache.contracts.contains(&read(1, 1).token));
        assert!(!cache.no_code.contains(&bare.token));
        // The payer's pieces still need a read at block 8.
        assert_eq!(cache.get(8, &read(1, 1)), None);
    }

    #[test]
    fn a_wallet_answer_is_served_only_for_the_same_digest_and_signature() {
        let mut cache = BlockCache::default();
        let wallet = VerifyAnswer { payer_has_code: true, contract_signature_valid: true, ..answer(100, false) };
        cache.insert(7, 7, &read(3, 1), &wallet, 7);
        assert_eq!(cache.get(7, &read(3, 1)), Some(wallet.clone()));
        let other_signature = VerifyRead { signature: Bytes::from(vec![9; 65]), ..read(3, 1) };
        assert_eq!(cache.get(7, &other_signature), None);
        let other_digest = VerifyRead { digest: B256::repeat_byte(1), ..read(3, 1) };
        assert_eq!(cache.get(7, &other_digest), None);
    }

    #[test]
    fn the_balance_of_one_read_serves_another_nonce_only_once_that_nonce_is_read() {
        let mut cache = BlockCache::default();
        cache.insert(7, 7, &read(1, 1), &answer(100, false), 7);
        cache.insert(7, 7, &read(1, 2), &answer(100, true), 7);
        assert_eq!(cache.get(7, &read(1, 2)), Some(answer(100, true)));
        assert_eq!(cache.get(7, &read(1, 1)), Some(answer(100, false)));
    }

    #[test]
    fn a_success_is_carried_to_later_heads_and_dropped_by_a_reorg_or_a_used_nonce() {
        let mut cache = BlockCache::default();
        cache.insert(7, 7, &read(1, 1), &answer(100, false), 7);
        assert_eq!(cache.carried(&read(1, 1)), None, "not carried within its own block");
        cache.get(8, &read(1, 1));
        assert_eq!(cache.carried(&read(1, 1)), Some(7));
        // Confirmed again at block 8 from the carry: it keeps the block it was simulated at.
        cache.insert(8, 8, &read(1, 1), &answer(100, false), 7);
        cache.get(9, &read(1, 1));
        assert_eq!(cache.carried(&read(1, 1)), Some(7));
        // A reorg to a lower head drops every carry.
        cache.get(5, &read(1, 1));
        assert_eq!(cache.carried(&read(1, 1)), None);

        cache.insert(5, 5, &read(1, 1), &answer(100, false), 5);
        cache.get(6, &read(1, 1));
        assert_eq!(cache.carried(&read(1, 1)), Some(5));
        cache.insert(6, 6, &read(1, 1), &answer(100, true), 6);
        assert_eq!(cache.carried(&read(1, 1)), None, "a used nonce ends the carry");
    }

    #[test]
    fn refusals_wallets_and_expired_payments_are_never_carried() {
        let mut cache = BlockCache::default();
        let refusal = clearing_chain::TokenRefusal {
            message: Some("Pausable: paused".to_owned()),
            data: Bytes::new(),
            payer_blacklisted: false,
            recipient_blacklisted: false,
        };
        let refused = VerifyAnswer { transfer: Simulation::Refused(refusal), ..answer(100, false) };
        cache.insert(7, 7, &read(1, 1), &refused, 7);
        let wallet = VerifyAnswer { payer_has_code: true, contract_signature_valid: true, ..answer(100, false) };
        cache.insert(7, 7, &read(2, 1), &wallet, 7);
        let expired = VerifyRead { valid_before: U256::from(1), ..read(3, 1) };
        cache.insert(7, 7, &expired, &answer(100, false), 7);
        let other_token = VerifyRead { token: Address::repeat_byte(0xcc), ..read(4, 1) };
        cache.insert(7, 7, &read(4, 1), &answer(100, false), 7);
        cache.get(8, &read(1, 1));
        assert_eq!(cache.carried(&read(1, 1)), None, "not a success");
        assert_eq!(cache.carried(&read(2, 1)), None, "a wallet's answer can change without a token log");
        assert_eq!(cache.carried(&expired), None, "past validBefore");
        assert_eq!(cache.carried(&other_token), None, "another token's read");
        assert_eq!(cache.carried(&read(4, 1)), Some(7));
    }
}
