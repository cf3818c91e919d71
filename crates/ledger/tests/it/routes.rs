//! Routes of the settlement queue (a payment booked as an escrow job or credit) and escrow actions (the operator's
//! steps and claims), which share its batches.

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_ledger::{
    Action, BatchClaim, BlockRef, IndexerLease, ItemResolution, JobBooking, JobId, Ledger, MAIN_INDEXER, MIGRATOR,
    Mined, NewAction, NewSettlement, PaymentKey, Projections, Route, RouteKind, SettlementStatus, StepKind,
};
use clearing_x402::{Network, Reason, X402Version};
use sqlx::PgPool;

const CHAIN: u64 = 31337;
const ASSET: Address = Address::repeat_byte(0xaa);
const ESCROW: Address = Address::repeat_byte(0xee);
const RELAYER: Address = Address::repeat_byte(0x4e);
const NOW: u64 = 1_800_000_000;

fn booking() -> JobBooking {
    JobBooking {
        provider: Address::repeat_byte(0x0b),
        fee: U256::from(500u64),
        arbiter: Address::repeat_byte(0xab),
        funding_deadline: NOW + 600,
        completion_deadline: NOW + 86_400,
        review_window: 172_800,
    }
}

fn payment(payer: u8, nonce: u8, route: Route) -> NewSettlement {
    NewSettlement {
        key: PaymentKey {
            chain_id: CHAIN,
            asset: ASSET,
            payer: Address::repeat_byte(payer),
            nonce: B256::repeat_byte(nonce),
        },
        pay_to: ESCROW,
        value: U256::from(10_000u64),
        valid_after: U256::ZERO,
        valid_before: U256::from(NOW + 600),
        signature: Bytes::from(vec![7u8; 65]),
        x402_version: X402Version::V2,
        network: Network::ANVIL,
        route,
    }
}

fn claim(route: RouteKind, tx_nonce: u64) -> BatchClaim {
    BatchClaim { chain_id: CHAIN, asset: ASSET, route, relayer: RELAYER, tx_nonce, limit: 100, cutoff: NOW, now: NOW }
}

fn mined(byte: u8) -> Mined {
    Mined { tx_hash: B256::repeat_byte(byte), block_number: 12, block_hash: B256::repeat_byte(0xcc) }
}

fn step(kind: StepKind, job: u8) -> NewAction {
    NewAction {
        chain_id: CHAIN,
        escrow: ESCROW,
        asset: ASSET,
        action: Action::Step {
            kind,
            job_id: JobId(B256::repeat_byte(job)),
            terms: Bytes::from(vec![job; 320]),
            signed: None,
        },
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_route_round_trips_and_a_batch_holds_one_route(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let job = ledger.enqueue_settlement(&payment(1, 1, Route::EscrowJob(booking()))).await.unwrap().0;
    let credit = Route::EscrowCredit { provider: Address::repeat_byte(0x0c), fee: U256::from(3u64) };
    let credit = ledger.enqueue_settlement(&payment(2, 1, credit)).await.unwrap().0;
    let plain = ledger.enqueue_settlement(&payment(3, 1, Route::Transfer)).await.unwrap().0;
    assert_eq!(ledger.settlement_by_id(job.id).await.unwrap().unwrap().payment, job.payment, "terms round-trip");
    assert_eq!(ledger.settlement_by_id(credit.id).await.unwrap().unwrap().payment, credit.payment);

    let (_, items) = ledger.claim_batch(&claim(RouteKind::EscrowJob, 0)).await.unwrap().unwrap();
    assert_eq!(items.iter().map(|s| s.id).collect::<Vec<_>>(), [job.id]);
    let (_, items) = ledger.claim_batch(&claim(RouteKind::Transfer, 1)).await.unwrap().unwrap();
    assert_eq!(items.iter().map(|s| s.id).collect::<Vec<_>>(), [plain.id]);
    let (_, items) = ledger.claim_batch(&claim(RouteKind::EscrowCredit, 2)).await.unwrap().unwrap();
    assert_eq!(items.iter().map(|s| s.id).collect::<Vec<_>>(), [credit.id]);
    let unresolved = ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap();
    let routes: Vec<_> = unresolved.iter().map(|b| b.route).collect();
    assert_eq!(routes, [RouteKind::EscrowJob, RouteKind::Transfer, RouteKind::EscrowCredit]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_same_authorization_on_another_route_is_another_payment(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let booked = payment(1, 1, Route::EscrowJob(booking()));
    let (row, _) = ledger.enqueue_settlement(&booked).await.unwrap();
    // Someone replays the authorization as a plain transfer: it finds the booking, which it is not.
    let replay = payment(1, 1, Route::Transfer);
    let (found, inserted) = ledger.enqueue_settlement(&replay).await.unwrap();
    assert!(!inserted);
    assert_eq!(found.id, row.id);
    assert!(!replay.is_same_payment(&found.payment), "a replay on another route never shares the booking's outcome");
    let mut other_terms = booking();
    other_terms.provider = Address::repeat_byte(0x66);
    assert!(!payment(1, 1, Route::EscrowJob(other_terms)).is_same_payment(&found.payment));
    assert!(booked.is_same_payment(&found.payment));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_job_step_is_queued_once_and_again_only_after_it_failed(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let (first, inserted) = ledger.enqueue_action(&step(StepKind::Release, 1)).await.unwrap();
    assert!(inserted);
    let (again, inserted) = ledger.enqueue_action(&step(StepKind::Release, 1)).await.unwrap();
    assert!(!inserted, "a retried request never queues a second release");
    assert_eq!(again.id, first.id);
    let (complete, inserted) = ledger.enqueue_action(&step(StepKind::Complete, 1)).await.unwrap();
    assert!(inserted, "another kind of step of the job is its own action");

    // Steps ride step batches only; payments never join them.
    ledger.enqueue_settlement(&payment(1, 1, Route::Transfer)).await.unwrap();
    let (batch, actions) = ledger.claim_action_batch(&claim(RouteKind::EscrowStep, 0)).await.unwrap().unwrap();
    assert_eq!(actions.iter().map(|a| a.id).collect::<Vec<_>>(), [first.id, complete.id]);
    assert!(ledger.claim_action_batch(&claim(RouteKind::EscrowClaim, 1)).await.unwrap().is_none());
    let stored = ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap();
    assert_eq!(stored[0].actions.len(), 2);
    assert!(stored[0].items.is_empty());

    let refused = ItemResolution::Failed { reason: Reason::UnexpectedSettleError, revert: Bytes::from(vec![1, 2]) };
    ledger.record_broadcast(batch, &transaction(9)).await.unwrap();
    ledger
        .resolve_action_batch(batch, &mined(9), &[(first.id, refused), (complete.id, ItemResolution::Settled)])
        .await
        .unwrap();
    let failed = ledger.action(first.id).await.unwrap().unwrap();
    assert_eq!(failed.status, SettlementStatus::Failed);
    assert_eq!(failed.tx_hash, Some(B256::repeat_byte(9)));
    assert_eq!(ledger.action(complete.id).await.unwrap().unwrap().status, SettlementStatus::Settled);
    let (retry, inserted) = ledger.enqueue_action(&step(StepKind::Release, 1)).await.unwrap();
    assert!(inserted, "a failed step may be queued again");
    assert_ne!(retry.id, first.id);
    let (_, inserted) = ledger.enqueue_action(&step(StepKind::Complete, 1)).await.unwrap();
    assert!(!inserted, "an applied step is never queued again");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn one_claim_per_account_is_in_flight_and_a_requeued_batch_frees_its_actions(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let account = Address::repeat_byte(0x0d);
    let claim_of =
        |account| NewAction { chain_id: CHAIN, escrow: ESCROW, asset: ASSET, action: Action::Claim { account } };
    let (first, inserted) = ledger.enqueue_action(&claim_of(account)).await.unwrap();
    assert!(inserted);
    let (again, inserted) = ledger.enqueue_action(&claim_of(account)).await.unwrap();
    assert!(!inserted);
    assert_eq!(again.id, first.id);

    let (batch, actions) = ledger.claim_action_batch(&claim(RouteKind::EscrowClaim, 0)).await.unwrap().unwrap();
    assert_eq!(actions.len(), 1);
    ledger.requeue_batch(batch, clearing_ledger::AbandonReason::NeverSent, None).await.unwrap();
    assert_eq!(ledger.action(first.id).await.unwrap().unwrap().status, SettlementStatus::Pending);
    let (batch, _) = ledger.claim_action_batch(&claim(RouteKind::EscrowClaim, 0)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(7)).await.unwrap();
    ledger.resolve_action_batch(batch, &mined(7), &[(first.id, ItemResolution::Settled)]).await.unwrap();
    let (later, inserted) = ledger.enqueue_action(&claim_of(account)).await.unwrap();
    assert!(inserted, "once the claim is applied, a later one is a new claim");
    assert_ne!(later.id, first.id);
}

/// Block `number` of a made-up chain.
fn block(number: u64) -> BlockRef {
    BlockRef {
        number,
        hash: B256::from(U256::from(number + 1)),
        parent_hash: number.checked_sub(1).map_or(B256::ZERO, |n| B256::from(U256::from(n + 1))),
        timestamp: 1_700_000_000 + number,
    }
}

/// The indexer's lease, with blocks 1 and 2 written and confirmed.
async fn indexed_to_block_2(ledger: &Ledger) -> IndexerLease {
    let lease = ledger.acquire_indexer(CHAIN, MAIN_INDEXER, block(0)).await.unwrap();
    let mut tx = ledger.begin_index(&lease).await.unwrap();
    tx.write_data((0, block(0).hash), &[block(1), block(2)], &[], &Projections::default()).await.unwrap();
    tx.advance(block(2), Some(2), 64).await.unwrap();
    tx.commit().await.unwrap();
    lease
}

fn transaction(byte: u8) -> clearing_ledger::BatchTransaction {
    clearing_ledger::BatchTransaction {
        tx_hash: B256::repeat_byte(byte),
        raw_tx: Bytes::from(vec![byte; 100]),
        gas_limit: 1_000_000,
        fees: clearing_ledger::TxFees { max_fee_per_gas: 2_000_000_000, max_priority_fee_per_gas: 1_000_000 },
    }
}

/// A reorg that removes the block a step batch was mined in puts its steps back in flight (the batcher resolves only
/// submitted actions from the new receipt) and moves the market reactor's cursor back to the fork.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_reorg_puts_the_steps_of_a_removed_batch_back_in_flight(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let lease = indexed_to_block_2(&ledger).await;
    let reaction = ledger.begin_reaction(CHAIN).await.unwrap();
    reaction.commit((2, 7)).await.unwrap();

    let (release, _) = ledger.enqueue_action(&step(StepKind::Release, 1)).await.unwrap();
    let (batch, _) = ledger.claim_action_batch(&claim(RouteKind::EscrowStep, 0)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(9)).await.unwrap();
    let in_block_2 = Mined { tx_hash: B256::repeat_byte(9), block_number: 2, block_hash: block(2).hash };
    ledger.resolve_action_batch(batch, &in_block_2, &[(release.id, ItemResolution::Settled)]).await.unwrap();
    assert_eq!(ledger.action(release.id).await.unwrap().unwrap().status, SettlementStatus::Settled);

    let mut tx = ledger.begin_index(&lease).await.unwrap();
    tx.rollback_to(block(1)).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(ledger.action(release.id).await.unwrap().unwrap().status, SettlementStatus::Submitted);
    let reopened = ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].actions.iter().map(|a| a.id).collect::<Vec<_>>(), [release.id], "resolved again");
    let (again, inserted) = ledger.enqueue_action(&step(StepKind::Release, 1)).await.unwrap();
    assert!(!inserted, "still the one release in flight");
    assert_eq!(again.id, release.id);
    assert_eq!(ledger.begin_reaction(CHAIN).await.unwrap().cursor.0, 1, "the reactor reacts again above the fork");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_reorg_leaves_a_failed_vault_claim_failed_while_a_newer_one_is_in_flight(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let lease = indexed_to_block_2(&ledger).await;

    let vault_claim = || NewAction {
        chain_id: CHAIN,
        escrow: ESCROW,
        asset: ASSET,
        action: Action::VaultClaim { account: Address::repeat_byte(0x0c) },
    };
    let (first, _) = ledger.enqueue_action(&vault_claim()).await.unwrap();
    let (batch, _) = ledger.claim_action_batch(&claim(RouteKind::VaultClaim, 0)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(9)).await.unwrap();
    let in_block_2 = Mined { tx_hash: B256::repeat_byte(9), block_number: 2, block_hash: block(2).hash };
    let refused = ItemResolution::Failed { reason: Reason::UnexpectedSettleError, revert: Bytes::new() };
    ledger.resolve_action_batch(batch, &in_block_2, &[(first.id, refused)]).await.unwrap();
    let (second, inserted) = ledger.enqueue_action(&vault_claim()).await.unwrap();
    assert!(inserted, "a new claim once the first failed");

    // The block of the failed claim's batch goes: the batch reopens, but the account has a claim in flight.
    let mut tx = ledger.begin_index(&lease).await.unwrap();
    tx.rollback_to(block(1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ledger.action(first.id).await.unwrap().unwrap().status, SettlementStatus::Failed);
    assert_eq!(ledger.action(second.id).await.unwrap().unwrap().status, SettlementStatus::Pending);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_reorg_leaves_a_settled_claim_settled_while_a_newer_one_is_in_flight_and_its_batch_resolves_again(
    pool: PgPool,
) {
    let ledger = Ledger::from_pool(pool);
    let lease = indexed_to_block_2(&ledger).await;
    let claim_of = || NewAction {
        chain_id: CHAIN,
        escrow: ESCROW,
        asset: ASSET,
        action: Action::Claim { account: Address::repeat_byte(0x0d) },
    };
    let (first, _) = ledger.enqueue_action(&claim_of()).await.unwrap();
    let (batch, _) = ledger.claim_action_batch(&claim(RouteKind::EscrowClaim, 0)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(9)).await.unwrap();
    let in_block_2 = Mined { tx_hash: B256::repeat_byte(9), block_number: 2, block_hash: block(2).hash };
    ledger.resolve_action_batch(batch, &in_block_2, &[(first.id, ItemResolution::Settled)]).await.unwrap();
    let (second, inserted) = ledger.enqueue_action(&claim_of()).await.unwrap();
    assert!(inserted, "a new claim once the first settled");

    // The block of the settled claim goes: putting it back in flight beside the newer claim would break the
    // one-claim-in-flight rule, so it stays as it was, and the rollback goes through.
    let mut tx = ledger.begin_index(&lease).await.unwrap();
    tx.rollback_to(block(1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ledger.action(first.id).await.unwrap().unwrap().status, SettlementStatus::Settled);
    assert_eq!(ledger.action(second.id).await.unwrap().unwrap().status, SettlementStatus::Pending);

    // The reopened batch is recovered with the action its transaction carries, and resolves again from its receipt.
    let reopened = ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].actions.iter().map(|a| a.id).collect::<Vec<_>>(), [first.id]);
    let in_block_3 = Mined { tx_hash: B256::repeat_byte(9), block_number: 3, block_hash: B256::repeat_byte(3) };
    ledger.resolve_action_batch(batch, &in_block_3, &[(first.id, ItemResolution::Settled)]).await.unwrap();
    assert!(ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap().is_empty());
}
