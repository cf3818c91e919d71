//! The relayer: signs, sends and follows `BatchSettler.settle` transactions from one key.
//!
//! Signing and sending are separate so the caller can record a transaction's hash and bytes durably before it
//! exists anywhere else: [`Relayer::sign`] returns the raw EIP-2718 bytes and hash without sending, and
//! [`Relayer::broadcast`] sends exactly those bytes (again, after a restart). Nonces are explicit: the caller
//! owns nonce allocation, and a replacement reuses the nonce with fees bumped by [`Fees::bumped`].

use std::time::Duration;

use alloy::{
    eips::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, Bytes, TxHash},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use tracing::debug;

use crate::{ChainProvider, Error, Result, contracts::BatchSettler, reason};

/// The gas `BatchSettler` requires left before each item (`BatchSettler.ITEM_GAS_REQUIRED`, pinned by a test):
/// its NatSpec says to set the gas limit to the estimate plus this.
pub const ITEM_GAS_REQUIRED: u64 = 517_937;

/// One payment as `BatchSettler.settle` takes it.
pub type SettlePayment = BatchSettler::Payment;

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

/// Where a transaction was mined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinedTx {
    /// The transaction.
    pub tx_hash: TxHash,
    /// Its block.
    pub block_number: u64,
    /// Its block's hash.
    pub block_hash: B256,
}

/// What one item of a mined batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// `PaymentSettled`: the token moved the value.
    Settled,
    /// `PaymentFailed`: the token refused it.
    Failed {
        /// The x402 reason code ([`reason::from_revert`]).
        reason: clearing_x402::Reason,
        /// The token's revert data, as logged.
        revert: Bytes,
    },
}

/// A mined batch transaction, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The whole transaction reverted: no item moved and no nonce was used at the token.
    Reverted,
    /// Each item's outcome, in item order.
    Items(Vec<ItemOutcome>),
}

/// Sends `BatchSettler` batches from one local key.
#[derive(Debug, Clone)]
pub struct Relayer {
    provider: ChainProvider,
    wallet: EthereumWallet,
    address: Address,
    settler: Address,
    chain_id: u64,
}

impl Relayer {
    /// A relayer sending from `signer` to the `BatchSettler` at `settler`, through a (read-only) `provider`.
    pub async fn new(provider: ChainProvider, signer: PrivateKeySigner, settler: Address) -> Result<Self> {
        let chain_id = provider.get_chain_id().await?;
        let address = signer.address();
        Ok(Self { provider, wallet: EthereumWallet::from(signer), address, settler, chain_id })
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
    /// [`ITEM_GAS_REQUIRED`], which `BatchSettler` must find left before each item.
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
    pub async fn estimate_gas(&self, token: Address, payments: &[SettlePayment]) -> Result<u64> {
        let request = self.request(token, payments);
        let simulated = self.provider.create_access_list(&request).await?;
        if let Some(reason) = simulated.error {
            return Err(Error::Simulation { settler: self.settler, reason });
        }
        let used = u64::try_from(simulated.gas_used).unwrap_or(u64::MAX);
        Ok(used.saturating_add(used.div_ceil(2)).saturating_add(ITEM_GAS_REQUIRED))
    }

    /// Signs `settle(token, payments)` at `nonce` with the given gas limit and fees; sends nothing.
    pub async fn sign(
        &self,
        token: Address,
        payments: &[SettlePayment],
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<SignedBatch> {
        let request = self
            .request(token, payments)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = request.build(&self.wallet).await.map_err(|e| Error::Sign(Box::new(e)))?;
        Ok(SignedBatch { tx_hash: *envelope.tx_hash(), raw: envelope.encoded_2718().into(), nonce, gas_limit, fees })
    }

    /// Estimates gas and fees (at least `min_fees`, for a replacement) and signs at `nonce`; sends nothing.
    pub async fn prepare(
        &self,
        token: Address,
        payments: &[SettlePayment],
        nonce: u64,
        min_fees: Option<Fees>,
    ) -> Result<SignedBatch> {
        let (gas_limit, current) = tokio::try_join!(self.estimate_gas(token, payments), self.current_fees())?;
        let mut fees = min_fees.map_or(current, |min| min.max(current));
        fees.max_fee_per_gas = fees.max_fee_per_gas.max(fees.max_priority_fee_per_gas);
        self.sign(token, payments, nonce, gas_limit, fees).await
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

    /// Decodes a mined batch receipt into per-item outcomes. `items` are the (payer, nonce) of each item in the
    /// order sent; each item's event must name the same payer and nonce at the same position.
    pub fn decode_receipt(
        &self,
        receipt: &TransactionReceipt,
        token: Address,
        items: &[(Address, B256)],
    ) -> Result<(MinedTx, BatchOutcome)> {
        decode_receipt(receipt, self.settler, token, items)
    }

    fn request(&self, token: Address, payments: &[SettlePayment]) -> TransactionRequest {
        let call = BatchSettler::settleCall { token, payments: payments.to_vec() };
        TransactionRequest::default().with_from(self.address).with_to(self.settler).with_input(call.abi_encode())
    }
}

/// Decodes a mined `settle` receipt from the `BatchSettler` at `settler`; see [`Relayer::decode_receipt`].
pub fn decode_receipt(
    receipt: &TransactionReceipt,
    settler: Address,
    token: Address,
    items: &[(Address, B256)],
) -> Result<(MinedTx, BatchOutcome)> {
    let tx = receipt.transaction_hash;
    let (Some(block_number), Some(block_hash)) = (receipt.block_number, receipt.block_hash) else {
        return Err(Error::MalformedReceipt { tx, what: "no block number or hash" });
    };
    let mined = MinedTx { tx_hash: tx, block_number, block_hash };
    if !receipt.status() {
        return Ok((mined, BatchOutcome::Reverted));
    }
    let mut outcomes = Vec::with_capacity(items.len());
    let mut closed = None;
    for log in receipt.inner.logs().iter().filter(|log| log.address() == settler) {
        let data = &log.inner.data;
        let (index, payer, nonce, outcome) = match log.topic0() {
            Some(&BatchSettler::PaymentSettled::SIGNATURE_HASH) => {
                let event = BatchSettler::PaymentSettled::decode_log_data(data)
                    .map_err(|_| Error::MalformedReceipt { tx, what: "undecodable PaymentSettled" })?;
                (outcomes.len(), event.payer, event.nonce, ItemOutcome::Settled)
            }
            Some(&BatchSettler::PaymentFailed::SIGNATURE_HASH) => {
                let event = BatchSettler::PaymentFailed::decode_log_data(data)
                    .map_err(|_| Error::MalformedReceipt { tx, what: "undecodable PaymentFailed" })?;
                let outcome = ItemOutcome::Failed { reason: reason::from_revert(&event.reason), revert: event.reason };
                (outcomes.len(), event.payer, event.nonce, outcome)
            }
            Some(&BatchSettler::BatchSettled::SIGNATURE_HASH) => {
                let event = BatchSettler::BatchSettled::decode_log_data(data)
                    .map_err(|_| Error::MalformedReceipt { tx, what: "undecodable BatchSettled" })?;
                closed = Some(event);
                continue;
            }
            _ => continue,
        };
        let Some(&(expected_payer, expected_nonce)) = items.get(index) else {
            return Err(Error::ItemCountMismatch { tx, expected: items.len(), got: index + 1 });
        };
        if (payer, nonce) != (expected_payer, expected_nonce) {
            let (expected, got) = (Box::new((expected_payer, expected_nonce)), Box::new((payer, nonce)));
            return Err(Error::ItemMismatch { tx, index, expected, got });
        }
        outcomes.push(outcome);
    }
    let Some(closed) = closed else {
        return Err(Error::MalformedReceipt { tx, what: "no BatchSettled event" });
    };
    if closed.token != token {
        return Err(Error::TokenMismatch { tx, expected: token, got: closed.token });
    }
    if outcomes.len() != items.len() || closed.payments != alloy::primitives::U256::from(items.len()) {
        return Err(Error::ItemCountMismatch { tx, expected: items.len(), got: outcomes.len() });
    }
    Ok((mined, BatchOutcome::Items(outcomes)))
}
