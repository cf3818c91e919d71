//! The settlement queue's state changes.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_ledger::{
    AbandonReason, BatchClaim, BatchTransaction, Error, ItemResolution, Ledger, MIGRATOR, Mined, NewSettlement,
    PaymentKey, Route, RouteKind, SettlementStatus, TxFees,
};
use clearing_x402::{Network, Reason, X402Version};
use sqlx::PgPool;

const CHAIN: u64 = 31337;
const ASSET: Address = Address::repeat_byte(0xa5);
const RELAYER: Address = Address::repeat_byte(0x4e);
const NOW: u64 = 1_800_000_000;

fn payment(payer: u8, nonce: u8, valid_before: u64) -> NewSettlement {
    NewSettlement {
        key: PaymentKey {
            chain_id: CHAIN,
            asset: ASSET,
            payer: Address::repeat_byte(payer),
            nonce: B256::repeat_byte(nonce),
        },
        pay_to: Address::repeat_byte(0xbb),
        value: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(60u64)),
        valid_after: U256::ZERO,
        valid_before: U256::from(valid_before),
        signature: Bytes::from(vec![7u8; 65]),
        x402_version: X402Version::V2,
        network: Network::ANVIL,
        route: Route::Transfer,
    }
}

fn claim(tx_nonce: u64, limit: u32) -> BatchClaim {
    BatchClaim {
        chain_id: CHAIN,
        asset: ASSET,
        route: RouteKind::Transfer,
        relayer: RELAYER,
        tx_nonce,
        limit,
        cutoff: NOW,
        now: NOW,
    }
}

fn transaction(byte: u8) -> BatchTransaction {
    BatchTransaction {
        tx_hash: B256::repeat_byte(byte),
        raw_tx: Bytes::from(vec![byte; 100]),
        gas_limit: 1_000_000,
        fees: TxFees { max_fee_per_gas: 2_000_000_000, max_priority_fee_per_gas: 1_000_000 },
    }
}

fn mined(byte: u8) -> Mined {
    Mined { tx_hash: B256::repeat_byte(byte), block_number: 12, block_hash: B256::repeat_byte(0xcc) }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_duplicate_enqueue_returns_the_first_row_untouched(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut queued = ledger.listen_queued();
    let first = payment(1, 1, NOW + 600);
    let (row, inserted) = ledger.enqueue_settlement(&first).await.unwrap();
    assert!(inserted);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), queued.recv()).await.unwrap().unwrap(),
        (CHAIN, ASSET, RouteKind::Transfer)
    );
    assert_eq!(row.payment, first, "every field round-trips, including a value above 2^64");
    assert_eq!(row.status, SettlementStatus::Pending);

    // Same authorization key with different terms: still the first row.
    let mut again = first.clone();
    again.value = U256::from(1);
    let (dup, inserted) = ledger.enqueue_settlement(&again).await.unwrap();
    assert!(!inserted);
    assert_eq!(dup, row);

    // Another nonce is another payment.
    let (other, inserted) = ledger.enqueue_settlement(&payment(1, 2, NOW + 600)).await.unwrap();
    assert!(inserted);
    assert_ne!(other.id, row.id);
    assert_eq!(ledger.settlement_by_id(row.id).await.unwrap(), Some(row));
    // Only inserts announce themselves: the duplicate did not.
    assert_eq!(queued.recv().await.unwrap(), (CHAIN, ASSET, RouteKind::Transfer));
    assert!(tokio::time::timeout(Duration::from_millis(300), queued.recv()).await.is_err());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn claim_takes_the_oldest_ready_items_and_skips_expired_and_not_yet_valid(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let a = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    let _expiring = ledger.enqueue_settlement(&payment(1, 2, NOW)).await.unwrap().0;
    let mut early = payment(1, 3, NOW + 600);
    early.valid_after = U256::from(NOW);
    let early = ledger.enqueue_settlement(&early).await.unwrap().0;
    let b = ledger.enqueue_settlement(&payment(2, 1, NOW + 600)).await.unwrap().0;
    let c = ledger.enqueue_settlement(&payment(3, 1, NOW + 600)).await.unwrap().0;

    let (batch, items) = ledger.claim_batch(&claim(0, 2)).await.unwrap().unwrap();
    assert_eq!(items.iter().map(|s| s.id).collect::<Vec<_>>(), vec![a.id, b.id]);
    assert!(items.iter().all(|s| s.status == SettlementStatus::Submitted && s.batch_id == Some(batch)));

    let (_, rest) = ledger.claim_batch(&claim(1, 10)).await.unwrap().unwrap();
    assert_eq!(rest.iter().map(|s| s.id).collect::<Vec<_>>(), vec![c.id]);
    assert!(ledger.claim_batch(&claim(2, 10)).await.unwrap().is_none(), "nothing ready: no batch row");
    assert_eq!(ledger.settlement_by_id(early.id).await.unwrap().unwrap().status, SettlementStatus::Pending);

    // The nonce of a live batch cannot be reserved twice.
    ledger.enqueue_settlement(&payment(4, 1, NOW + 600)).await.unwrap();
    let err = ledger.claim_batch(&claim(1, 10)).await.unwrap_err();
    assert!(matches!(err, Error::NonceInUse { tx_nonce: 1, .. }), "{err}");
    assert_eq!(ledger.settlement(&payment(4, 1, 0).key).await.unwrap().unwrap().status, SettlementStatus::Pending);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_claimers_skip_each_others_locked_rows(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    for i in 0..40u8 {
        ledger.enqueue_settlement(&payment(i + 1, 1, NOW + 600)).await.unwrap();
    }
    // A first claimer holds locks on the oldest rows in an open transaction.
    let mut holder = pool.begin().await.unwrap();
    let held: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM settlements WHERE status = 'pending' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *holder)
    .await
    .unwrap();
    assert_eq!(held.len(), 10);

    // Two claimers run at once while those locks are held: neither waits, neither takes a held or shared row.
    let (one, two) = tokio::time::timeout(
        Duration::from_secs(10),
        futures_join(ledger.claim_batch(&claim(0, 15)), ledger.claim_batch(&claim(1, 15))),
    )
    .await
    .expect("a claimer waited on a locked row");
    let one = one.unwrap().unwrap().1;
    let two = two.unwrap().unwrap().1;
    let mut ids: Vec<i64> = one.iter().chain(&two).map(|s| s.id.0).collect();
    assert_eq!(ids.len(), 30);
    assert!(ids.iter().all(|id| !held.contains(id)));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 30, "a row was claimed twice");
    holder.rollback().await.unwrap();
}

async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn expiry_takes_only_pending_items_at_or_before_the_cutoff_and_notifies(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut listener = ledger.listen_resolutions().await.unwrap();
    let due = ledger.enqueue_settlement(&payment(1, 1, NOW)).await.unwrap().0;
    let later = ledger.enqueue_settlement(&payment(1, 2, NOW + 1)).await.unwrap().0;

    let expired = ledger.expire_pending(CHAIN, NOW, Reason::ValidBefore).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, due.id);
    assert_eq!(expired[0].status, SettlementStatus::Expired);
    assert_eq!(
        expired[0].failure_reason.map(Reason::as_str),
        Some("invalid_exact_evm_payload_authorization_valid_before")
    );
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), listener.recv()).await.unwrap().unwrap(), due.id);
    assert_eq!(ledger.settlement_by_id(later.id).await.unwrap().unwrap().status, SettlementStatus::Pending);
    assert!(ledger.expire_pending(CHAIN, NOW, Reason::ValidBefore).await.unwrap().is_empty(), "expiry is idempotent");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn resolve_sets_every_item_at_once_or_nothing(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let mut listener = ledger.listen_resolutions().await.unwrap();
    let a = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    let b = ledger.enqueue_settlement(&payment(2, 1, NOW + 600)).await.unwrap().0;
    let (batch, _) = ledger.claim_batch(&claim(5, 10)).await.unwrap().unwrap();

    // A hash never recorded for the batch is refused.
    let err = ledger.resolve_batch(batch, &mined(0x01), &[(a.id, ItemResolution::Settled)]).await.unwrap_err();
    assert!(matches!(err, Error::UnknownTransaction { .. }), "{err}");

    ledger.record_broadcast(batch, &transaction(0x01)).await.unwrap();
    assert_eq!(ledger.settlement_by_id(a.id).await.unwrap().unwrap().tx_hash, Some(B256::repeat_byte(0x01)));
    ledger.record_broadcast(batch, &transaction(0x02)).await.unwrap();
    let unresolved = ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0].tx_nonce, 5);
    assert_eq!(unresolved[0].transactions, vec![transaction(0x01), transaction(0x02)]);
    assert_eq!(unresolved[0].items.iter().map(|s| s.id).collect::<Vec<_>>(), vec![a.id, b.id]);

    // An outcome list missing an item changes nothing.
    let err = ledger.resolve_batch(batch, &mined(0x01), &[(a.id, ItemResolution::Settled)]).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeMismatch { expected: 2, got: 1, .. }), "{err}");
    assert_eq!(ledger.settlement_by_id(a.id).await.unwrap().unwrap().status, SettlementStatus::Submitted);

    let failure =
        ItemResolution::Failed { reason: Reason::NonceAlreadyUsed, revert: Bytes::from_static(b"\x08\xc3\x79\xa0") };
    ledger.resolve_batch(batch, &mined(0x01), &[(a.id, ItemResolution::Settled), (b.id, failure)]).await.unwrap();

    let a = ledger.settlement_by_id(a.id).await.unwrap().unwrap();
    let b = ledger.settlement_by_id(b.id).await.unwrap().unwrap();
    assert_eq!((a.status, a.tx_hash), (SettlementStatus::Settled, Some(B256::repeat_byte(0x01))));
    assert_eq!(b.status, SettlementStatus::Failed);
    assert_eq!(b.failure_reason.map(Reason::as_str), Some("invalid_exact_evm_nonce_already_used"));
    assert_eq!(b.revert_reason, Some(Bytes::from_static(b"\x08\xc3\x79\xa0")));
    let mut woken = vec![listener.recv().await.unwrap(), listener.recv().await.unwrap()];
    woken.sort();
    assert_eq!(woken, vec![a.id, b.id]);
    assert!(ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap().is_empty());

    // A mined batch never changes again.
    let err = ledger.resolve_batch(batch, &mined(0x01), &[]).await.unwrap_err();
    assert!(matches!(err, Error::BatchClosed(_)), "{err}");
    let err = ledger.requeue_batch(batch, AbandonReason::NonceConsumedElsewhere, None).await.unwrap_err();
    assert!(matches!(err, Error::BatchClosed(_)), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn requeue_returns_items_to_pending_and_frees_an_unsent_nonce(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let a = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    let (batch, _) = ledger.claim_batch(&claim(7, 10)).await.unwrap().unwrap();
    ledger.requeue_batch(batch, AbandonReason::NeverSent, None).await.unwrap();
    let a2 = ledger.settlement_by_id(a.id).await.unwrap().unwrap();
    assert_eq!((a2.status, a2.batch_id), (SettlementStatus::Pending, None));
    assert!(ledger.unresolved_batches(CHAIN, RELAYER).await.unwrap().is_empty());

    // The same nonce can be claimed again, into a new batch.
    let (again, items) = ledger.claim_batch(&claim(7, 10)).await.unwrap().unwrap();
    assert_ne!(again, batch);
    assert_eq!(items[0].id, a.id);

    // A reverted batch records where it landed and requeues too.
    ledger.record_broadcast(again, &transaction(0x09)).await.unwrap();
    ledger.requeue_batch(again, AbandonReason::Reverted, Some(&mined(0x09))).await.unwrap();
    assert_eq!(ledger.settlement_by_id(a.id).await.unwrap().unwrap().status, SettlementStatus::Pending);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_items_of_a_batch_that_reverted_whole_are_each_claimed_alone_and_the_others_without_them(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let a = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    let b = ledger.enqueue_settlement(&payment(2, 2, NOW + 600)).await.unwrap().0;
    let (batch, _) = ledger.claim_batch(&claim(3, 10)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(0x03)).await.unwrap();
    ledger.requeue_batch(batch, AbandonReason::Reverted, Some(&mined(0x03))).await.unwrap();
    let c = ledger.enqueue_settlement(&payment(3, 3, NOW + 600)).await.unwrap().0;
    let d = ledger.enqueue_settlement(&payment(4, 4, NOW + 600)).await.unwrap().0;

    let mut claimed = Vec::new();
    for nonce in 4..7 {
        let (_, items) = ledger.claim_batch(&claim(nonce, 10)).await.unwrap().unwrap();
        claimed.push(items.iter().map(|s| s.id).collect::<Vec<_>>());
    }
    assert_eq!(claimed, vec![vec![a.id], vec![b.id], vec![c.id, d.id]]);
    assert!(ledger.claim_batch(&claim(7, 10)).await.unwrap().is_none());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn success_is_reported_once_and_only_for_a_settled_payment(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let a = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    assert!(!ledger.claim_success_report(a.id).await.unwrap(), "pending is not success");
    let (batch, _) = ledger.claim_batch(&claim(0, 10)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(0x01)).await.unwrap();
    ledger.resolve_batch(batch, &mined(0x01), &[(a.id, ItemResolution::Settled)]).await.unwrap();

    let (one, two) = tokio::join!(ledger.claim_success_report(a.id), ledger.claim_success_report(a.id));
    assert!(one.unwrap() ^ two.unwrap(), "exactly one caller is told success");
    assert!(ledger.settlement_by_id(a.id).await.unwrap().unwrap().success_reported);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_released_success_claim_goes_to_the_next_caller_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let a = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    let (batch, _) = ledger.claim_batch(&claim(0, 10)).await.unwrap().unwrap();
    ledger.record_broadcast(batch, &transaction(0x01)).await.unwrap();
    ledger.resolve_batch(batch, &mined(0x01), &[(a.id, ItemResolution::Settled)]).await.unwrap();

    assert!(ledger.settlement_answer(a.id).await.unwrap().unwrap().1, "claimed for a caller that then left");
    ledger.release_success_reports(&[a.id]).await.unwrap();
    assert!(!ledger.settlement_by_id(a.id).await.unwrap().unwrap().success_reported);
    assert!(ledger.settlement_answer(a.id).await.unwrap().unwrap().1, "the next caller is told success");
    assert!(!ledger.settlement_answer(a.id).await.unwrap().unwrap().1, "and only that one");
}

#[test]
fn the_same_payment_is_the_same_key_terms_and_signature_bytes() {
    let genuine = payment(1, 1, NOW + 600);
    let mut presented = genuine.clone();
    presented.x402_version = X402Version::V1;
    presented.network = Network::BASE_SEPOLIA;
    assert!(genuine.is_same_payment(&presented), "the version and network name are presentation only");
    let changes: [fn(&mut NewSettlement); 6] = [
        |p| p.pay_to = Address::repeat_byte(0xf0),
        |p| p.value = U256::from(1),
        |p| p.valid_after = U256::from(1),
        |p| p.valid_before += U256::from(1),
        |p| p.signature = Bytes::from(vec![8u8; 65]),
        |p| p.key.asset = Address::repeat_byte(0xa6),
    ];
    for change in changes {
        let mut other = genuine.clone();
        change(&mut other);
        assert!(!genuine.is_same_payment(&other), "{other:?}");
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_shared_answer_claims_each_settled_payment_once_and_reads_the_rest(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let settled = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0;
    let refused = ledger.enqueue_settlement(&payment(2, 1, NOW + 600)).await.unwrap().0;
    let (batch, _) = ledger.claim_batch(&claim(0, 10)).await.unwrap().unwrap();
    let waiting = ledger.enqueue_settlement(&payment(3, 1, NOW + 600)).await.unwrap().0;
    ledger.record_broadcast(batch, &transaction(0x01)).await.unwrap();
    let refusal = ItemResolution::Failed { reason: Reason::InvalidSignature, revert: Bytes::new() };
    ledger
        .resolve_batch(batch, &mined(0x01), &[(settled.id, ItemResolution::Settled), (refused.id, refusal)])
        .await
        .unwrap();

    // The settled one named twice is still claimed once; the others are read, never claimed.
    let first = ledger.settlement_answers(&[waiting.id, settled.id, refused.id, settled.id]).await.unwrap();
    let seen: Vec<_> = first.iter().map(|(row, claimed)| (row.id, row.status, *claimed)).collect();
    assert_eq!(
        seen,
        vec![
            (settled.id, SettlementStatus::Settled, true),
            (refused.id, SettlementStatus::Failed, false),
            (waiting.id, SettlementStatus::Pending, false),
        ]
    );
    assert_eq!(first[0].0.tx_hash, Some(B256::repeat_byte(0x01)));
    let (again, claimed) = ledger.settlement_answer(settled.id).await.unwrap().unwrap();
    assert!(!claimed, "a later caller is not told success");
    assert!(again.success_reported);
    assert!(!ledger.claim_success_report(settled.id).await.unwrap());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_stored_protocol_value_that_does_not_parse_is_corrupt_not_a_fallback(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let id = ledger.enqueue_settlement(&payment(1, 1, NOW + 600)).await.unwrap().0.id;
    let set = |assignment: &'static str| {
        let pool = pool.clone();
        async move {
            let sql = format!("UPDATE settlements SET {assignment} WHERE id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).execute(&pool).await.unwrap();
        }
    };
    // A network stored by its x402 v1 name reads back as that network.
    set("network = 'base-sepolia'").await;
    assert_eq!(ledger.settlement_by_id(id).await.unwrap().unwrap().payment.network, Network::BASE_SEPOLIA);

    set("failure_reason = 'no_such_reason'").await;
    let err = ledger.settlement_by_id(id).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { table: "settlements", column: "failure_reason", .. }), "{err}");

    set("failure_reason = NULL, network = 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp'").await;
    let err = ledger.settlement_by_id(id).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { table: "settlements", column: "network", .. }), "{err}");
}
