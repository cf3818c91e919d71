//! Real contract activity on a [`Chain`]: BatchSettler batches, escrow jobs and anchors, and the audit trail's
//! services over them.

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
};
use clearing_audit::{AnchorPolicy, Anchorer, RecordSources, Sequencer};
use clearing_chain::{
    ChainProvider, SettlePayment,
    contracts::{AnchorRegistry, BalanceVault, BatchSettler, Escrow, MockUSDC},
};
use clearing_ledger::{Ledger, MAIN_INDEXER};
use clearing_x402::ExactEvmAuthorization;

use crate::{
    ANCHORER, Chain, DEPLOYER,
    sign::{now, sign_receive, transfer, unique},
};

/// Anvil account 3: the payer of [`Chain::escrow_release`], [`Chain::escrow_refund`] and [`Chain::escrow_resolve`].
pub const ESCROW_PAYER: usize = 3;
/// Anvil account 4: their provider.
pub const ESCROW_PROVIDER: usize = 4;

/// The gas limit of a test batch: far above what a handful of items uses, so nothing has to search for the limit
/// at which BatchSettler stops refusing an item for lack of `ITEM_GAS_REQUIRED`.
const BATCH_GAS: u64 = 5_000_000;

/// An escrow job and its id.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its terms, as every escrow call takes them.
    pub terms: Escrow::JobTerms,
    /// `jobIdOf(terms)`.
    pub id: B256,
}

impl Chain {
    /// `payer`'s signed transfer of `value` to `to`, valid from the epoch for an hour, under a fresh nonce.
    pub fn transfer(&self, payer: &PrivateKeySigner, to: Address, value: u64) -> SettlePayment {
        transfer(payer, &self.domain(), to, U256::from(value), now() + 3_600, unique())
    }

    /// For each of `values`, a fresh payer minted exactly that much and its signed transfer of it to `to`.
    pub async fn funded_transfers(&self, values: &[u64], to: Address) -> Vec<SettlePayment> {
        let mut payments = Vec::with_capacity(values.len());
        for &value in values {
            let payer = self.payer(value).await;
            payments.push(self.transfer(&payer, to, value));
        }
        payments
    }

    /// One `BatchSettler.settle` of `payments` in MockUSDC, sent by account 0; its receipt, whatever its status.
    pub async fn settle_batch(&self, payments: Vec<SettlePayment>) -> TransactionReceipt {
        let settler = BatchSettler::new(self.deployment.batch_settler, self.as_account(DEPLOYER));
        let sent = settler.settle(self.token, payments).gas(BATCH_GAS).send().await.unwrap();
        sent.get_receipt().await.unwrap()
    }

    /// Settles one batch (asserted mined without revert) of a transfer of each of `values` to `to`, each from a
    /// fresh payer minted that much first; its transaction.
    pub async fn settle(&self, values: &[u64], to: Address) -> B256 {
        let receipt = self.settle_batch(self.funded_transfers(values, to).await).await;
        assert!(receipt.status(), "batch {} reverted", receipt.transaction_hash);
        receipt.transaction_hash
    }

    /// The escrow, called as anvil account `index`.
    pub fn escrow_as(&self, index: usize) -> Escrow::EscrowInstance<ChainProvider> {
        Escrow::new(self.deployment.escrow, self.as_account(index))
    }

    /// Funds a job of `amount` (fee `fee`) from anvil account `payer` (which must hold it) for account
    /// `provider`, arbitrated by account 0, which sends the payer's signed `receiveWithAuthorization`. Funding is
    /// open for an hour, completion for two, the review window is ten minutes.
    pub async fn fund_job(&self, payer: usize, provider: usize, amount: u64, fee: u64) -> Job {
        let deadline = now() + 3_600;
        let terms = Escrow::JobTerms {
            payer: self.address(payer),
            provider: self.address(provider),
            token: self.token,
            amount: U256::from(amount),
            fee: U256::from(fee),
            arbiter: self.address(DEPLOYER),
            fundingDeadline: deadline,
            completionDeadline: deadline + 3_600,
            reviewWindow: 600,
            salt: unique(),
        };
        let escrow = self.escrow_as(DEPLOYER);
        let id = escrow.jobIdOf(terms.clone()).call().await.unwrap();
        let authorization = ExactEvmAuthorization {
            from: terms.payer,
            to: self.deployment.escrow,
            value: terms.amount,
            valid_after: U256::ZERO,
            valid_before: U256::from(deadline),
            nonce: id,
        };
        let signature = sign_receive(&self.key(payer), &self.domain(), &authorization);
        let receipt = escrow.fund(terms.clone(), signature).send().await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "funding job {id} reverted");
        Job { terms, id }
    }

    /// Funds a job of `amount` (fee `fee`) from [`ESCROW_PAYER`] (minted `amount` first) for [`ESCROW_PROVIDER`],
    /// and has the payer release it; returns the job id.
    pub async fn escrow_release(&self, amount: u64, fee: u64) -> B256 {
        let job = self.funded_escrow_job(amount, fee).await;
        let released = self.escrow_as(ESCROW_PAYER).release(job.terms).send().await.unwrap();
        assert!(released.get_receipt().await.unwrap().status(), "release of job {} reverted", job.id);
        job.id
    }

    /// Funds a job as [`Chain::escrow_release`] does (no fee) and has the provider refund it; returns the job id.
    pub async fn escrow_refund(&self, amount: u64) -> B256 {
        let job = self.funded_escrow_job(amount, 0).await;
        let refunded = self.escrow_as(ESCROW_PROVIDER).refund(job.terms).send().await.unwrap();
        assert!(refunded.get_receipt().await.unwrap().status(), "refund of job {} reverted", job.id);
        job.id
    }

    /// Funds a job as [`Chain::escrow_release`] does, has the payer dispute it and the arbiter (account 0) give the
    /// provider `provider_bps` of it; returns the job id.
    pub async fn escrow_resolve(&self, amount: u64, fee: u64, provider_bps: u16) -> B256 {
        let job = self.funded_escrow_job(amount, fee).await;
        let disputed = self.escrow_as(ESCROW_PAYER).dispute(job.terms.clone()).send().await.unwrap();
        assert!(disputed.get_receipt().await.unwrap().status(), "dispute of job {} reverted", job.id);
        let resolved = self.escrow_as(DEPLOYER).resolve(job.terms, provider_bps).send().await.unwrap();
        assert!(resolved.get_receipt().await.unwrap().status(), "resolution of job {} reverted", job.id);
        job.id
    }

    /// A data_api purchase: [`ESCROW_PAYER`] (minted `amount` first) signs a transfer of `amount` to the escrow and
    /// the operator (account 0) credits it through `payMany`, `amount - fee` to [`ESCROW_PROVIDER`]; returns the
    /// authorization's nonce.
    pub async fn escrow_credit(&self, amount: u64, fee: u64) -> B256 {
        self.mint(self.address(ESCROW_PAYER), amount).await;
        let payer = self.key(ESCROW_PAYER);
        let p = transfer(&payer, &self.domain(), self.deployment.escrow, U256::from(amount), now() + 3_600, unique());
        let payment = Escrow::DirectPayment {
            payer: p.from,
            provider: self.address(ESCROW_PROVIDER),
            amount: p.value,
            fee: U256::from(fee),
            validAfter: p.validAfter,
            validBefore: p.validBefore,
            nonce: p.nonce,
            signature: p.signature,
        };
        let sent = self.escrow_as(DEPLOYER).payMany(self.token, vec![payment]).gas(BATCH_GAS).send().await.unwrap();
        let receipt = sent.get_receipt().await.unwrap();
        assert!(receipt.status(), "payMany reverted");
        p.nonce
    }

    /// A balance debit: [`ESCROW_PAYER`] (minted `amount` first) deposits `amount` into the balance vault, and the
    /// operator (account 0) debits all of it through `debitMany`, `amount - fee` to [`ESCROW_PROVIDER`]; returns
    /// the debit's id.
    pub async fn vault_debit(&self, amount: u64, fee: u64) -> B256 {
        let vault_address = self.deployment.balance_vault.expect("the suite deploys a balance vault");
        let payer = self.address(ESCROW_PAYER);
        self.mint(payer, amount).await;
        let token = MockUSDC::new(self.token, self.as_account(ESCROW_PAYER));
        let approved = token.approve(vault_address, U256::from(amount)).send().await.unwrap();
        assert!(approved.get_receipt().await.unwrap().status(), "approve reverted");
        let vault = BalanceVault::new(vault_address, self.as_account(ESCROW_PAYER));
        let deposited = vault.deposit(self.token, U256::from(amount)).send().await.unwrap();
        assert!(deposited.get_receipt().await.unwrap().status(), "deposit reverted");
        let debit = BalanceVault::Debit {
            id: unique(),
            payer,
            provider: self.address(ESCROW_PROVIDER),
            amount: U256::from(amount),
            fee: U256::from(fee),
        };
        let operator = BalanceVault::new(vault_address, self.as_account(DEPLOYER));
        let sent = operator.debitMany(self.token, vec![debit.clone()]).gas(BATCH_GAS).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status(), "debitMany reverted");
        debit.id
    }

    async fn funded_escrow_job(&self, amount: u64, fee: u64) -> Job {
        self.mint(self.address(ESCROW_PAYER), amount).await;
        self.fund_job(ESCROW_PAYER, ESCROW_PROVIDER, amount, fee).await
    }

    /// Anchors `root` over records `first..=last`, sent by [`ANCHORER`]; the receipt, whatever its status.
    pub async fn anchor(&self, first: u64, last: u64, root: B256) -> TransactionReceipt {
        let registry = AnchorRegistry::new(self.deployment.anchor_registry, self.as_account(ANCHORER));
        registry.anchor(first, last, root).send().await.unwrap().get_receipt().await.unwrap()
    }

    /// Where the audit trail's records come from on this chain.
    pub fn record_sources(&self) -> RecordSources {
        RecordSources {
            chain_id: self.chain_id,
            batch_settler: self.deployment.batch_settler,
            escrow: self.deployment.escrow,
            balance_vault: self.deployment.balance_vault,
            token: self.token,
        }
    }

    /// The audit sequencer of this chain's confirmed logs in `ledger` (the main indexer's).
    pub fn sequencer(&self, ledger: &Ledger) -> Sequencer {
        Sequencer::new(ledger.clone(), self.record_sources(), MAIN_INDEXER)
    }

    /// The audit anchorer of `ledger`'s records, anchoring as [`ANCHORER`] under `policy`.
    pub fn anchorer(&self, ledger: &Ledger, policy: AnchorPolicy) -> Anchorer {
        let registry = self.deployment.anchor_registry;
        Anchorer::new(ledger.clone(), self.as_account(ANCHORER), registry, self.chain_id, policy)
    }
}
