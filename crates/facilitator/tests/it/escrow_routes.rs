//! The escrow routes through the one queue and batcher, on anvil with the relayer as the escrow's operator: a stock
//! client's `TransferWithAuthorization` to the escrow books a job (`fundManyWithTransfer`) or a direct credit
//! (`payMany`), and the operator's steps (`stepMany`) and claims (`claimMany`) ride the same key and nonces.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use clearing_chain::{JobTerms, Relayer, connect, contracts::Escrow, job_id};
use clearing_facilitator::{Batcher, PaymentToSettle, SettleResult, Settler};
use clearing_ledger::{Action, ActionId, JobBooking, JobId, Ledger, NewAction, Route, SettlementStatus, StepKind};
use clearing_testkit::{Chain, ChainOptions, DEPLOYER, now, sign::transfer};
use clearing_x402::X402Version;
use sqlx::PgPool;

use crate::support::{RELAYER, fast_config};

struct World {
    chain: Chain,
    ledger: Ledger,
    settler: Settler,
    _batcher: Batcher,
    escrow: Address,
}

async fn world(pool: PgPool) -> World {
    let chain = Chain::start_with(ChainOptions { escrow_operator: Some(RELAYER), ..ChainOptions::default() }).await;
    let escrow = chain.deployment.escrow;
    let relayer = Relayer::new(connect(&chain.endpoint()).unwrap(), chain.key(RELAYER), chain.deployment.batch_settler)
        .await
        .unwrap()
        .with_escrow(escrow);
    let ledger = Ledger::from_pool(pool);
    let batcher = Batcher::start(ledger.clone(), relayer, &[chain.token], fast_config()).await.unwrap();
    let settler = Settler::start(ledger.clone(), fast_config()).await.unwrap();
    World { chain, ledger, settler, _batcher: batcher, escrow }
}

impl World {
    /// `payer`'s authorization of `value` to the escrow on `route`.
    fn payment(
        &self,
        payer: &alloy::signers::local::PrivateKeySigner,
        value: u64,
        nonce: u8,
        route: Route,
    ) -> PaymentToSettle {
        let p = transfer(
            payer,
            &self.chain.domain(),
            self.escrow,
            U256::from(value),
            now() + 3_600,
            B256::repeat_byte(nonce),
        );
        PaymentToSettle {
            chain_id: self.chain.chain_id,
            asset: self.chain.token,
            payer: p.from,
            pay_to: p.to,
            value: p.value,
            valid_after: p.validAfter,
            valid_before: p.validBefore,
            nonce: p.nonce,
            signature: p.signature,
            x402_version: X402Version::V2,
            network: format!("eip155:{}", self.chain.chain_id),
            route,
        }
    }

    async fn claimable(&self, account: Address) -> U256 {
        Escrow::new(self.escrow, &self.chain.provider).claimable(self.chain.token, account).call().await.unwrap()
    }

    async fn act(&self, action: Action) -> ActionId {
        let new = NewAction { chain_id: self.chain.chain_id, escrow: self.escrow, asset: self.chain.token, action };
        self.ledger.enqueue_action(&new).await.unwrap().0.id
    }

    async fn wait_final(&self, id: ActionId) -> SettlementStatus {
        for _ in 0..300 {
            let action = self.ledger.action(id).await.unwrap().unwrap();
            if action.status.is_final() {
                return action.status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("action {id} never resolved");
    }
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn jobs_credits_steps_and_claims_share_one_batcher_and_key(pool: PgPool) {
    let w = world(pool).await;
    let payer = w.chain.payer(100_000).await;
    let provider = Address::repeat_byte(0x0b);
    let fee_recipient = w.chain.address(DEPLOYER);
    let deadline = now() + 3_600;

    // A job booked from a plain transfer authorization: payer, amount and salt are the authorization's.
    let booking = JobBooking {
        provider,
        fee: U256::from(500u64),
        arbiter: fee_recipient,
        funding_deadline: deadline,
        completion_deadline: deadline + 3_600,
        review_window: 0,
    };
    let job = w.payment(&payer, 10_000, 1, Route::EscrowJob(booking));
    let outcome = w.settler.settle(&job).await.unwrap();
    assert!(matches!(outcome.result, SettleResult::Settled { .. }), "{outcome:?}");
    let terms = JobTerms {
        payer: payer.address(),
        provider,
        token: w.chain.token,
        amount: U256::from(10_000u64),
        fee: U256::from(500u64),
        arbiter: fee_recipient,
        fundingDeadline: deadline,
        completionDeadline: deadline + 3_600,
        reviewWindow: 0,
        salt: B256::repeat_byte(1),
    };
    let id = job_id(w.chain.chain_id, w.escrow, &terms);
    let state = Escrow::new(w.escrow, &w.chain.provider).jobState(id).call().await.unwrap();
    assert_eq!(state.status, 1, "Funded: the job is booked with the terms we computed");
    assert_eq!(w.chain.balance(w.escrow).await, U256::from(10_000u64));

    // A direct credit, and one the escrow refuses (fee above its cap): each item stands alone.
    let credit = w.payment(&payer, 2_000, 2, Route::EscrowCredit { provider, fee: U256::from(100u64) });
    let greedy = w.payment(&payer, 2_000, 3, Route::EscrowCredit { provider, fee: U256::from(1_999u64) });
    let (credited, refused) = tokio::join!(w.settler.settle(&credit), w.settler.settle(&greedy));
    assert!(matches!(credited.unwrap().result, SettleResult::Settled { .. }));
    assert!(matches!(refused.unwrap().result, SettleResult::Failed { .. }), "a fee above the cap fails alone");
    assert_eq!(w.claimable(provider).await, U256::from(1_900u64));
    assert_eq!(w.claimable(fee_recipient).await, U256::from(100u64));

    // The operator completes the job and (review window 0) anyone's release follows in order.
    let terms_bytes = alloy::sol_types::SolValue::abi_encode(&terms).into();
    let step = |kind| Action::Step { kind, job_id: JobId(id), terms: Bytes::clone(&terms_bytes), signed: None };
    let complete = w.act(step(StepKind::Complete)).await;
    let release = w.act(step(StepKind::Release)).await;
    assert_eq!(w.wait_final(complete).await, SettlementStatus::Settled);
    assert_eq!(w.wait_final(release).await, SettlementStatus::Settled);
    assert_eq!(w.claimable(provider).await, U256::from(1_900u64 + 9_500));
    // A second release of the job is the same action, never a second payout.
    assert_eq!(w.act(step(StepKind::Release)).await, release);

    // The provider's claim, paid to itself by the operator's key.
    let claim = w.act(Action::Claim { account: provider }).await;
    assert_eq!(w.wait_final(claim).await, SettlementStatus::Settled);
    assert_eq!(w.chain.balance(provider).await, U256::from(11_400u64));
    assert_eq!(w.claimable(provider).await, U256::ZERO);
    // Nothing left to claim: the item fails on chain, alone.
    let empty = w.act(Action::Claim { account: provider }).await;
    assert_eq!(w.wait_final(empty).await, SettlementStatus::Failed);
}

use alloy::primitives::Bytes;
