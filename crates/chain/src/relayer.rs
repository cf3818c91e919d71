//! The relayer: signs, sends and follows batch transactions ([`BatchCall`]: `BatchSettler.settle`, and the escrow's
//! batched fundings and credits) from one key.
//!
//! Signing and sending are separate so the caller can record a transaction's hash and bytes durably before it
//! exists anywhere else: [`Relayer::sign`] returns the raw EIP-2718 bytes and hash without sending, and
//! [`Relayer::broadcast`] sends exactly those bytes (again, after a restart). Nonces are explicit: the caller
//! owns nonce allocation, and a replacement reuses the nonce with fees bumped by [`Fees::bumped`].

use std::time::Duration;

use alloy::{
    eips::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, Bytes, TxHash},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use tracing::debug;

use crate::{BatchCall, BatchOutcome, ChainProvider, Error, MinedTx, Result, batch::decode_receipt, reader::read_code};

/// The gas `BatchSettler` requires left before each item (`BatchSettler.ITEM_GAS_REQUIRED`, pinned by a test):
/// its NatSpec says to set the gas limit to the estimate plus this.
pub const ITEM_GAS_REQUIRED: u64 = 517_937;

/// The gas `Escrow` and `BalanceVault` require left before each item of their batched entries
/// (`FUND_ITEM_GAS_REQUIRED` and `ITEM_GAS_REQUIRED`, both `300_000 * 64 / 63 + 20_000`; pinned by a test).
pub const CONTRACT_ITEM_GAS_REQUIRED: u64 = 324_761;

/// The highest gas limit a batch is given: EIP-7825 (Osaka) caps a transaction's at 2^24, and a node refuses one
/// above its chain's cap or block gas limit (a refused batch would hold the relayer's nonce). A batch that needs more
/// is refused before signing ([`Error::TooHeavy`]), and the batcher sends its items alone.
pub const MAX_BATCH_GAS: u64 = 1 << 24;

/// EIP-1559 fees, wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// Both fees raised by `percent` (rounded up) plus one wei, so a replacement at the same nonce clears the
    /// node's replacement rule (geth and anvil require +10%, some nodes +12.5%) for any `percent` >= 13.
    #[must_use]
    pub fn bumped(self, percent: u32) -> Self {
        let bump = |fee: u128| fee.saturating_mul(100 + u128::from(percent)).div_ceil(100).saturating_add(1);
        Self {
            max_fee_per_gas: bump(self.max_fee_per_gas),
            max_priority_fee_per_gas: bump(self.max_priority_fee_per_gas),
        }
    }

    /// The field-wise maximum of two fee pairs.
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        Self {
            max_fee_per_gas: self.max_fee_per_gas.max(other.max_fee_per_gas),
            max_priority_fee_per_gas: self.max_priority_fee_per_gas.max(other.max_priority_fee_per_gas),
        }
    }
}

/// A signed batch transaction, not yet sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBatch {
    /// Its hash.
    pub tx_hash: TxHash,
    /// The EIP-2718 bytes to send.
    pub raw: Bytes,
    /// The relayer nonce it uses.
    pub nonce: u64,
    /// Its gas limit.
    pub gas_limit: u64,
    /// Its fees.
    pub fees: Fees,
}

/// Sends `BatchSettler` batches from one local key.
#[derive(Debug, Clone)]
pub struct Relayer {
    provider: ChainProvider,
    wallet: EthereumWallet,
    address: Address,
    settler: Address,
    /// The escrow the escrow routes call; `None` serves the settle route only.
    escrow: Option<Address>,
    /// The balance vault the vault routes call.
    vault: Option<Address>,
    /// The subscription contract the subscription routes call.
    subscriptions: Option<Address>,
    chain_id: u64,
}

impl Relayer {
    /// A relayer sending from `signer` to the `BatchSettler` at `settler`, through a (read-only) `provider`.
    pub async fn new(provider: ChainProvider, signer: PrivateKeySigner, settler: Address) -> Result<Self> {
        let chain_id = provider.get_chain_id().await?;
        let address = signer.address();
        Ok(Self {
            provider,
            wallet: EthereumWallet::from(signer),
            address,
            settler,
            escrow: None,
            vault: None,
            subscriptions: None,
            chain_id,
        })
    }

    /// The same relayer, also sending the escrow routes to the `Escrow` at `escrow` (whose operator it must be).
    #[must_use]
    pub const fn with_escrow(mut self, escrow: Address) -> Self {
        self.escrow = Some(escrow);
        self
    }

    /// The same relayer, also sending the vault routes (deposits, debits) to the `BalanceVault` at `vault` (whose
    /// operator it must be).
    #[must_use]
    pub const fn with_vault(mut self, vault: Address) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The same relayer, also sending the subscription routes (charges, the operator's operations) to the
    /// `Subscriptions` contract at `subscriptions` (whose operator, the vault's, it must be).
    #[must_use]
    pub const fn with_subscriptions(mut self, subscriptions: Address) -> Self {
        self.subscriptions = Some(subscriptions);
        self
    }

    /// The subscription contract the subscription routes call, if configured.
    pub const fn subscriptions(&self) -> Option<Address> {
        self.subscriptions
    }

    /// The balance vault the vault routes call, if configured.
    pub const fn vault(&self) -> Option<Address> {
        self.vault
    }

    /// The escrow the escrow routes call, if configured.
    pub const fn escrow(&self) -> Option<Address> {
        self.escrow
    }

    /// The relayer account.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// The chain it sends on.
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The `BatchSettler` it calls.
    pub const fn settler(&self) -> Address {
        self.settler
    }

    /// The provider it reads through.
    pub const fn provider(&self) -> &ChainProvider {
        &self.provider
    }

    /// The account's nonce counting transactions in the node's pool (the next nonce to use).
    pub async fn pending_nonce(&self) -> Result<u64> {
        Ok(self.provider.get_transaction_count(self.address).pending().await?)
    }

    /// The account's nonce at the latest block: every nonce below it is consumed by a mined transaction.
    pub async fn mined_nonce(&self) -> Result<u64> {
        Ok(self.provider.get_transaction_count(self.address).latest().await?)
    }

    /// The number of the node's latest block.
    pub async fn block_number(&self) -> Result<u64> {
        Ok(self.provider.get_block_number().await?)
    }

    /// Whether the node knows `tx` (in its pool or mined).
    pub async fn is_known(&self, tx: TxHash) -> Result<bool> {
        Ok(self.provider.get_transaction_by_hash(tx).await?.is_some())
    }

    /// The node's current EIP-1559 fee estimate.
    pub async fn current_fees(&self) -> Result<Fees> {
        let estimate = self.provider.estimate_eip1559_fees().await?;
        Ok(Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        })
    }

    /// A gas limit for the batch from one simulated execution: half again the gas it used, plus
    /// [`ITEM_GAS_REQUIRED`], which `BatchSettler` must find left before each item, plus a whole item's stipend for
    /// each item whose signer has code (see [`batch_gas_limit`]).
    ///
    /// The gas used understates what the batch consumes on the way by the refunds (EIP-3529 caps them at a fifth
    /// of the consumption, so at most a quarter of the gas used) and by what the simulation's access list saved
    /// (at most 200 of the 2,100 or more each listed slot or account costs cold, so under a tenth); half the gas
    /// used covers both. `BatchSettler`'s NatSpec asks for `eth_estimateGas` plus [`ITEM_GAS_REQUIRED`], and this
    /// bound meets the same requirement: at least the gas consumed plus [`ITEM_GAS_REQUIRED`]. `eth_estimateGas`
    /// itself costs too much here: a node searches for the lowest limit that works, running the whole batch at
    /// every guess (and a batch given less than its gas plus [`ITEM_GAS_REQUIRED`] reverts, so guesses near the
    /// gas used fail), where `eth_createAccessList` reports the gas used of one run (two on some nodes). Gas
    /// beyond what the batch uses is never charged.
    pub async fn estimate_gas(&self, call: &BatchCall) -> Result<u64> {
        let (contract, request) = self.request(call)?;
        let signers = call.signers();
        let simulate = async { Ok::<_, Error>(self.provider.create_access_list(&request).await?) };
        let (simulated, with_code) = tokio::try_join!(simulate, self.signers_with_code(&signers))?;
        if let Some(reason) = simulated.error {
            return Err(Error::Simulation { contract, reason });
        }
        let used = u64::try_from(simulated.gas_used).unwrap_or(u64::MAX);
        let per_item =
            if matches!(call, BatchCall::Settle { .. }) { ITEM_GAS_REQUIRED } else { CONTRACT_ITEM_GAS_REQUIRED };
        batch_gas_limit(used, with_code, per_item)
            .ok_or(Error::TooHeavy { gas: plain_gas_limit(used), max: MAX_BATCH_GAS })
    }

    /// How many of `signers` (one per signed item, repeats kept) have code.
    async fn signers_with_code(&self, signers: &[Address]) -> Result<u64> {
        if signers.is_empty() {
            return Ok(0);
        }
        let mut distinct = signers.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let flags = read_code(&self.provider, &distinct).await?;
        let with_code: std::collections::HashSet<_> =
            distinct.iter().zip(flags).filter_map(|(signer, has)| has.then_some(*signer)).collect();
        Ok(signers.iter().filter(|signer| with_code.contains(*signer)).count() as u64)
    }

    /// Signs `call` at `nonce` with the given gas limit and fees; sends nothing.
    pub async fn sign(&self, call: &BatchCall, nonce: u64, gas_limit: u64, fees: Fees) -> Result<SignedBatch> {
        let request = self
            .request(call)?
            .1
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = request.build(&self.wallet).await.map_err(|e| Error::Sign(Box::new(e)))?;
        Ok(SignedBatch { tx_hash: *envelope.tx_hash(), raw: envelope.encoded_2718().into(), nonce, gas_limit, fees })
    }

    /// Estimates gas and fees (at least `min_fees`, for a replacement) and signs at `nonce`; sends nothing.
    pub async fn prepare(&self, call: &BatchCall, nonce: u64, min_fees: Option<Fees>) -> Result<SignedBatch> {
        let (gas_limit, current) = tokio::try_join!(self.estimate_gas(call), self.current_fees())?;
        let mut fees = min_fees.map_or(current, |min| min.max(current));
        fees.max_fee_per_gas = fees.max_fee_per_gas.max(fees.max_priority_fee_per_gas);
        self.sign(call, nonce, gas_limit, fees).await
    }

    /// Sends signed bytes. Sending the same bytes again is harmless: the node answers "already known" or, once
    /// mined, "nonce too low", both of which are errors here that a caller re-sending may ignore.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<()> {
        let pending = self.provider.send_raw_transaction(raw).await?;
        debug!(tx = %pending.tx_hash(), "broadcast");
        Ok(())
    }

    /// The receipt of `tx`, if mined.
    pub async fn receipt(&self, tx: TxHash) -> Result<Option<TransactionReceipt>> {
        Ok(self.provider.get_transaction_receipt(tx).await?)
    }

    /// Polls every `poll` for the receipt of any of `txs` (a transaction and its replacements) until `timeout`.
    pub async fn wait_for_any_receipt(
        &self,
        txs: &[TxHash],
        timeout: Duration,
        poll: Duration,
    ) -> Result<Option<TransactionReceipt>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            for tx in txs {
                if let Some(receipt) = self.receipt(*tx).await? {
                    return Ok(Some(receipt));
                }
            }
            if std::time::Instant::now() + poll > deadline {
                return Ok(None);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Decodes a mined receipt of `call` into per-item outcomes (see [`crate::batch`]).
    pub fn decode_receipt(&self, receipt: &TransactionReceipt, call: &BatchCall) -> Result<(MinedTx, BatchOutcome)> {
        let (contract, _) = self.request(call)?;
        let escrow = self.escrow.unwrap_or(Address::ZERO);
        decode_receipt(receipt, call, contract, &call.item_keys(self.chain_id, escrow))
    }

    /// The contract `call` goes to and the transaction request calling it.
    fn request(&self, call: &BatchCall) -> Result<(Address, TransactionRequest)> {
        let contract = match call {
            BatchCall::Settle { .. } => self.settler,
            BatchCall::FundJobs { .. }
            | BatchCall::PayCredits { .. }
            | BatchCall::Returns { .. }
            | BatchCall::Steps { .. }
            | BatchCall::Claims { .. } => self.escrow.ok_or(Error::NoEscrow)?,
            BatchCall::Deposits { .. }
            | BatchCall::Bookings { .. }
            | BatchCall::Debits { .. }
            | BatchCall::VaultClaims { .. } => self.vault.ok_or(Error::NoVault)?,
            BatchCall::Charges { .. } | BatchCall::Operations { .. } => {
                self.subscriptions.ok_or(Error::NoSubscriptions)?
            }
        };
        let request =
            TransactionRequest::default().with_from(self.address).with_to(contract).with_input(call.calldata());
        Ok((contract, request))
    }
}

/// The gas limit a batch that used `used` gas in one simulated run needs at least: half again that (refunds and the
/// access list's savings, see [`Relayer::estimate_gas`]) plus [`ITEM_GAS_REQUIRED`].
fn plain_gas_limit(used: u64) -> u64 {
    used.saturating_add(used.div_ceil(2)).saturating_add(ITEM_GAS_REQUIRED)
}

/// A batch's gas limit: [`plain_gas_limit`], plus `per_item` (the contract's gas required before an item, its
/// stipend with the 63/64 rule's share) for each of the `with_code` items whose signer has code. Such a signer's
/// wallet runs inside the item (`isValidSignature`) and may spend its whole stipend on chain where the simulation, at
/// gas price 0, saw it spend little; the contract's per-item cap bounds what it can spend and this headroom covers
/// it, so the batch cannot run out of gas and revert whole.
///
/// When the headroom would take the limit past [`MAX_BATCH_GAS`] it is left out: the batch is sent with the plain
/// limit (honest contract wallets spend on chain what they spent simulated), and if wallets burn their stipends it
/// reverts whole at that limit, not at the cap, and its items are then retried alone. `None` when even the plain
/// limit is past the cap: no transaction can carry the batch.
pub fn batch_gas_limit(used: u64, with_code: u64, per_item: u64) -> Option<u64> {
    let plain = plain_gas_limit(used);
    if plain > MAX_BATCH_GAS {
        return None;
    }
    let limit = plain.saturating_add(with_code.saturating_mul(per_item));
    Some(if limit <= MAX_BATCH_GAS { limit } else { plain })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_eoas_gets_half_again_its_gas_plus_one_item() {
        assert_eq!(batch_gas_limit(100_000, 0, ITEM_GAS_REQUIRED), Some(150_000 + ITEM_GAS_REQUIRED));
        assert_eq!(batch_gas_limit(3, 0, ITEM_GAS_REQUIRED), Some(5 + ITEM_GAS_REQUIRED), "the half rounds up");
    }

    #[test]
    fn each_item_signed_by_code_adds_a_whole_stipend() {
        let plain = batch_gas_limit(200_000, 0, CONTRACT_ITEM_GAS_REQUIRED).unwrap();
        let four = Some(plain + 4 * CONTRACT_ITEM_GAS_REQUIRED);
        assert_eq!(batch_gas_limit(200_000, 4, CONTRACT_ITEM_GAS_REQUIRED), four);
        assert_eq!(batch_gas_limit(200_000, 4, ITEM_GAS_REQUIRED), Some(plain + 4 * ITEM_GAS_REQUIRED));
    }

    #[test]
    fn headroom_past_the_cap_is_left_out_and_a_plain_limit_past_it_fits_no_transaction() {
        let plain = batch_gas_limit(1_000_000, 0, ITEM_GAS_REQUIRED).unwrap();
        assert_eq!(batch_gas_limit(1_000_000, 40, ITEM_GAS_REQUIRED), Some(plain), "40 stipends do not fit");
        let at_cap = (MAX_BATCH_GAS - ITEM_GAS_REQUIRED) / 3 * 2;
        assert!(batch_gas_limit(at_cap, 0, ITEM_GAS_REQUIRED).unwrap() <= MAX_BATCH_GAS);
        assert_eq!(batch_gas_limit(at_cap + 10, 0, ITEM_GAS_REQUIRED), None);
        assert_eq!(batch_gas_limit(u64::MAX, 0, 0), None, "saturates");
    }
}
