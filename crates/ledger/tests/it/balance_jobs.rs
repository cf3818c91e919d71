//! automated_service jobs paid from a balance (`migrations/0018_balance_jobs.sql`): the debit is held (the batcher
//! never claims it) until the provider delivers, which releases it, or fails, which gives the amount back exactly; a
//! delivery and a failure racing decide once; the deadline sweep refunds; a repeated key answers the same job.

use alloy::primitives::{Address, B256, U256};
use clearing_ledger::{
    BatchClaim, Ledger, MIGRATOR, RouteKind, SettlementStatus,
    market::{
        BalanceJobDecision, BalanceJobPurchase, CredentialId, DebitDecision, Job, NewCredential, NewJob, RefundCause,
        ServiceId, ServiceType,
    },
};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    balances::{CHAIN, TOKEN, VAULT, account, deposit, request},
    market::{provider, service},
};

/// A provider's automated_service at 100 and a credential spending the agent's balance.
async fn setup(ledger: &Ledger) -> (ServiceId, CredentialId) {
    let owner = provider(ledger, 0x32).await;
    let listed = ledger.create_service(&service(owner, "auto", ServiceType::AutomatedService, 100)).await.unwrap();
    let credential = NewCredential {
        id: CredentialId(Uuid::new_v4()),
        participant_id: owner,
        token_hash: [0x43; 32],
        name: "jobs".into(),
        max_per_request: None,
        max_per_day: None,
        services: None,
        expires_at: None,
    };
    (listed.id, ledger.insert_credential(&credential).await.unwrap().id)
}

async fn purchase(ledger: &Ledger, service: ServiceId, credential: CredentialId, key: &str) -> BalanceJobPurchase {
    let listed = ledger.service(service).await.unwrap().unwrap();
    let debit = request(service, credential, key, 100);
    BalanceJobPurchase {
        job: NewJob {
            id: Uuid::new_v4(),
            service_id: service,
            provider_id: listed.provider_id,
            service_type: ServiceType::AutomatedService,
            chain_id: CHAIN,
            asset: TOKEN,
            payer: debit.account.account,
            nonce: B256::ZERO,
            escrow: VAULT,
            escrow_job: None,
            amount: debit.amount,
            fee: debit.fee,
            brief: json!({"text": "x"}),
        },
        debit,
        hold_secs: 3_600,
        dispatch: Vec::new(),
    }
}

async fn buy(ledger: &Ledger, service: ServiceId, credential: CredentialId, key: &str) -> Job {
    match ledger.buy_job_from_balance(&purchase(ledger, service, credential, key).await).await.unwrap() {
        BalanceJobDecision::Bought(job) => job,
        other => panic!("not bought: {other:?}"),
    }
}

/// A claim of the vault debit route at relayer nonce `tx_nonce` (a nonce a batch took is not given again).
fn claim_at(tx_nonce: u64) -> BatchClaim {
    BatchClaim {
        chain_id: CHAIN,
        asset: TOKEN,
        route: RouteKind::VaultDebit,
        relayer: Address::repeat_byte(0x4e),
        tx_nonce,
        limit: 100,
        cutoff: 0,
        now: 0,
    }
}

/// Moves job `job`'s hold deadline into the past.
async fn past_deadline(pool: &PgPool, job: Uuid) {
    sqlx::query(
        "UPDATE escrow_actions SET held_until = now() - interval '1 second'
         WHERE id = (SELECT action_id FROM balance_debits WHERE job_id = $1)",
    )
    .bind(job)
    .execute(pool)
    .await
    .unwrap();
}

async fn available(ledger: &Ledger) -> U256 {
    ledger.balance(&account()).await.unwrap().available
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_held_debit_is_never_claimed_until_the_provider_delivers(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 300).await;
    let job = buy(&ledger, service, credential, "j1").await;
    let hold = job.balance.clone().expect("a balance-paid job");
    assert_eq!((hold.status, hold.refunded_because, hold.debited_tx), (SettlementStatus::Pending, None, None));
    assert!(hold.held_until.is_some(), "held");
    assert_eq!(available(&ledger).await, U256::from(200), "the held amount cannot be spent again");
    let debit = ledger.balance_debit(hold.debit).await.unwrap().unwrap();
    assert_eq!(job.new.nonce, debit.debit.id, "the job is keyed by the debit's on-chain id");
    let linked: Option<Uuid> = sqlx::query_scalar("SELECT job_id FROM balance_debits WHERE id = $1")
        .bind(hold.debit)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, Some(job.new.id));

    // A data_api debit queued behind it is claimed; the held one is not.
    let data = ledger.create_service(&service_of(&ledger, service).await).await.unwrap();
    let DebitDecision::Accepted(other) = ledger.debit_balance(&request(data.id, credential, "d1", 100)).await.unwrap()
    else {
        panic!("accepted")
    };
    let (_, claimed) = ledger.claim_action_batch(&claim_at(0)).await.unwrap().unwrap();
    assert_eq!(claimed.iter().map(|a| a.id).collect::<Vec<_>>(), [other.action_id]);
    assert!(ledger.claim_action_batch(&claim_at(1)).await.unwrap().is_none(), "the held debit waits");

    let done = ledger.complete_balance_job(job.new.id, &json!({"out": 1}), None).await.unwrap().unwrap();
    let released = done.balance.unwrap();
    assert_eq!((released.status, released.held_until), (SettlementStatus::Pending, None));
    let (_, claimed) = ledger.claim_action_batch(&claim_at(1)).await.unwrap().expect("released: claimable");
    assert_eq!(claimed.iter().map(|a| a.id).collect::<Vec<_>>(), [hold.action_id]);
    assert_eq!(available(&ledger).await, U256::from(100), "released is still spent");
    assert!(ledger.fail_balance_job(job.new.id, None, &[]).await.unwrap().is_none(), "no longer held: decided");
}

/// A data_api listing of the same provider.
async fn service_of(ledger: &Ledger, of: ServiceId) -> clearing_ledger::market::NewService {
    let listed = ledger.service(of).await.unwrap().unwrap();
    service(listed.provider_id, "data", ServiceType::DataApi, 100)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn failing_gives_the_amount_back_exactly(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 250).await;
    let job = buy(&ledger, service, credential, "j1").await;
    assert_eq!(available(&ledger).await, U256::from(150));
    let failed = ledger.fail_balance_job(job.new.id, Some("cannot"), &[]).await.unwrap().unwrap();
    let hold = failed.balance.unwrap();
    assert_eq!(
        (hold.status, hold.held_until, hold.refunded_because),
        (SettlementStatus::Failed, None, Some(RefundCause::ProviderFailed))
    );
    assert_eq!(failed.provider_note.as_deref(), Some("cannot"));
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!((balance.available, balance.spent), (U256::from(250), U256::ZERO), "back to the unit");
    assert!(ledger.claim_action_batch(&claim_at(0)).await.unwrap().is_none(), "a refunded debit is never posted");
    assert!(ledger.complete_balance_job(job.new.id, &json!({}), None).await.unwrap().is_none(), "decided once");
    assert_eq!(available(&ledger).await, U256::from(250));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_delivery_and_a_failure_racing_decide_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 1_000).await;
    let mut jobs = Vec::new();
    for i in 0..8 {
        jobs.push(buy(&ledger, service, credential, &format!("r{i}")).await.new.id);
    }
    let mut completed = 0u64;
    for id in &jobs {
        let (a, b) = (ledger.clone(), ledger.clone());
        let (id_a, id_b) = (*id, *id);
        let done = tokio::spawn(async move { a.complete_balance_job(id_a, &json!({"ok": true}), None).await });
        let failed = tokio::spawn(async move { b.fail_balance_job(id_b, None, &[]).await });
        let (done, failed) = (done.await.unwrap().unwrap(), failed.await.unwrap().unwrap());
        assert!(done.is_some() != failed.is_some(), "exactly one of them decides job {id}");
        let job = ledger.job(*id).await.unwrap().unwrap();
        let hold = job.balance.unwrap();
        if done.is_some() {
            completed += 1;
            assert_eq!((hold.status, hold.refunded_because), (SettlementStatus::Pending, None));
        } else {
            assert_eq!(
                (hold.status, hold.refunded_because),
                (SettlementStatus::Failed, Some(RefundCause::ProviderFailed))
            );
        }
        assert_eq!(hold.held_until, None);
    }
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!(balance.spent, U256::from(100 * completed), "only the delivered ones are spent");
    assert_eq!(balance.available, U256::from(1_000 - 100 * completed));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_deadline_sweep_refunds_a_hold_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 300).await;
    let late = buy(&ledger, service, credential, "late").await;
    let on_time = buy(&ledger, service, credential, "on-time").await;
    assert!(ledger.expire_balance_holds(100, |_| Vec::new()).await.unwrap().is_empty(), "nothing due yet");
    past_deadline(&pool, late.new.id).await;
    let (a, b) = (ledger.clone(), ledger.clone());
    let first = tokio::spawn(async move { a.expire_balance_holds(100, |_| Vec::new()).await });
    let second = tokio::spawn(async move { b.expire_balance_holds(100, |_| Vec::new()).await });
    let mut ended = first.await.unwrap().unwrap();
    ended.extend(second.await.unwrap().unwrap());
    assert_eq!(ended.len(), 1, "two sweeps end it once: {ended:?}");
    assert_eq!((ended[0].job, ended[0].amount), (late.new.id, U256::from(100)));
    let hold = ledger.job(late.new.id).await.unwrap().unwrap().balance.unwrap();
    assert_eq!((hold.status, hold.refunded_because), (SettlementStatus::Failed, Some(RefundCause::DeadlinePassed)));
    assert_eq!(available(&ledger).await, U256::from(200), "the late one's amount is back; the other still held");
    assert!(ledger.complete_balance_job(late.new.id, &json!({}), None).await.unwrap().is_none(), "too late");
    assert!(ledger.complete_balance_job(on_time.new.id, &json!({}), None).await.unwrap().is_some());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_repeated_key_answers_the_same_job_and_pays_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 300).await;
    let first = buy(&ledger, service, credential, "same").await;
    let again = purchase(&ledger, service, credential, "same").await;
    let BalanceJobDecision::Repeat(repeat) = ledger.buy_job_from_balance(&again).await.unwrap() else {
        panic!("a repeat")
    };
    assert_eq!(repeat.new.id, first.new.id);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM market_jobs").fetch_one(&pool).await.unwrap();
    assert_eq!(jobs, 1);
    assert_eq!(available(&ledger).await, U256::from(200));

    // The key of a data_api debit buys no job with it.
    let data = ledger.create_service(&service_of(&ledger, service).await).await.unwrap();
    assert!(matches!(
        ledger.debit_balance(&request(data.id, credential, "data-key", 100)).await.unwrap(),
        DebitDecision::Accepted(_)
    ));
    let reused = purchase(&ledger, service, credential, "data-key").await;
    assert!(matches!(ledger.buy_job_from_balance(&reused).await.unwrap(), BalanceJobDecision::KeyReused(_)));

    // A short balance is refused as a debit is, and records nothing.
    buy(&ledger, service, credential, "last").await;
    let short = purchase(&ledger, service, credential, "short").await;
    assert_eq!(
        ledger.buy_job_from_balance(&short).await.unwrap(),
        BalanceJobDecision::Refused(DebitDecision::Insufficient { available: U256::ZERO })
    );
    // A listing that is no longer an automated_service at this price is stale.
    let stale = BalanceJobPurchase {
        debit: clearing_ledger::market::DebitRequest {
            amount: U256::from(99),
            ..request(service, credential, "p", 99)
        },
        ..purchase(&ledger, service, credential, "p").await
    };
    assert_eq!(ledger.buy_job_from_balance(&stale).await.unwrap(), BalanceJobDecision::ServiceChanged);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM market_jobs").fetch_one(&pool).await.unwrap();
    assert_eq!(jobs, 2, "the first and the last");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_delivery_after_the_deadline_pays_nothing_even_before_the_sweep(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 300).await;
    let late = buy(&ledger, service, credential, "late").await;
    past_deadline(&pool, late.new.id).await;
    // The sweep has not run: the hold is still there, past its deadline. The provider's word comes too late.
    assert!(ledger.complete_balance_job(late.new.id, &json!({}), None).await.unwrap().is_none());
    assert!(ledger.claim_action_batch(&claim_at(0)).await.unwrap().is_none(), "nothing released to the batcher");
    // The sweep then refunds it.
    assert_eq!(ledger.expire_balance_holds(100, |_| Vec::new()).await.unwrap().len(), 1);
    assert_eq!(available(&ledger).await, U256::from(300));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_renewal_the_balance_cannot_cover_waits_for_a_hold(pool: PgPool) {
    use clearing_ledger::market::{ChargeQueued, DueCharge};
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger).await;
    deposit(&pool, 150).await;
    let job = buy(&ledger, service, credential, "held").await;
    assert_eq!(available(&ledger).await, U256::from(50));
    // A renewal of 80: 50 left here, but 150 in the vault, where a charge sent without a hold would take 80 and leave
    // the held job's 100 debit to be refused. It waits.
    let due = DueCharge {
        subscription: B256::repeat_byte(0x51),
        contract: Address::repeat_byte(0x5b),
        account: account(),
        period: 1,
        price: U256::from(80),
        attempts: 0,
        lapsed: false,
    };
    assert_eq!(ledger.queue_charge(&due).await.unwrap(), ChargeQueued::Deferred);
    // Once the provider fails the job its amount is back, and the renewal is held back from the balance as usual.
    assert!(ledger.fail_balance_job(job.new.id, None, &[]).await.unwrap().is_some());
    assert_eq!(ledger.queue_charge(&due).await.unwrap(), ChargeQueued::Reserved);
}
