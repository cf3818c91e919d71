//! The marketplace's tables: one participant per wallet, keys found by hash and replaced at once, owner-only service
//! writes, and the catalog's kept counts equal to counting.

use alloy::primitives::{Address, B256, U256};
use clearing_ledger::{
    Ledger, MIGRATOR, NewWebhookEvent, WebhookStatus,
    market::{
        CarriedFee, CatalogQuery, CatalogSort, FulfillmentType, NewParticipant, NewService, OwnedWrite, ParticipantId,
        ParticipantKind, PricingModel, ProfileUpdate, ProviderFilter, Registration, ServiceId, ServiceStatus,
        ServiceType, ServiceUpdate,
    },
};
use clearing_x402::Usdc;
use sqlx::PgPool;

fn participant(wallet: Address, kind: ParticipantKind, key: u8) -> NewParticipant {
    NewParticipant {
        id: ParticipantId::random(),
        wallet,
        kind,
        name: format!("participant {key}"),
        description: String::new(),
        webhook_url: None,
        capabilities: vec!["seo".into()],
        api_key_hash: [key; 32],
        api_key_prefix: format!("clr_{key:08}"),
        webhook_secret: "whsec_c2VjcmV0".into(),
        registration_nonce: B256::repeat_byte(key),
    }
}

pub(crate) fn service(provider: ParticipantId, category: &str, service_type: ServiceType, price: u128) -> NewService {
    NewService {
        id: ServiceId::random(),
        provider_id: provider,
        name: format!("{category} service"),
        description: "d".into(),
        category: category.into(),
        tags: vec![],
        price: Usdc::from_atomic(price),
        pricing_model: PricingModel::Fixed,
        service_type,
        fulfillment_type: service_type.fulfillment(),
        input_schema: Some(serde_json::json!({"type": "object"})),
        deliverable_schema: None,
        estimated_delivery: None,
        status: ServiceStatus::Active,
    }
}

pub(crate) fn query() -> CatalogQuery {
    CatalogQuery {
        text: None,
        category: None,
        service_type: None,
        max_price: None,
        provider: None,
        sort: CatalogSort::Newest,
        limit: 100,
        offset: 0,
    }
}

pub(crate) async fn provider(ledger: &Ledger, key: u8) -> ParticipantId {
    let new = participant(Address::repeat_byte(key), ParticipantKind::Provider, key);
    match ledger.register_participant(&new).await.unwrap() {
        Registration::Created(p) => p.id,
        Registration::Existing(_) => panic!("fresh wallet"),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_wallet_registers_once_and_keys_are_found_by_hash_until_rotated(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let wallet = Address::repeat_byte(7);
    let first = participant(wallet, ParticipantKind::Agent, 1);
    let Registration::Created(created) = ledger.register_participant(&first).await.unwrap() else { panic!() };
    assert_eq!(
        (created.wallet, created.kind, created.api_key_prefix.as_str()),
        (wallet, ParticipantKind::Agent, "clr_00000001")
    );

    let second = participant(wallet, ParticipantKind::Provider, 2);
    let Registration::Existing(existing) = ledger.register_participant(&second).await.unwrap() else {
        panic!("a second registration of the wallet")
    };
    assert_eq!(existing, created, "untouched by the second registration");
    assert!(ledger.participant_by_key_hash(&[2; 32]).await.unwrap().is_none(), "the second key was not stored");
    assert_eq!(ledger.participant_by_key_hash(&[1; 32]).await.unwrap().map(|p| p.id), Some(created.id));

    let rotated = ledger.rotate_api_key(created.id, &[3; 32], "clr_00000003").await.unwrap().unwrap();
    assert!(rotated.key_rotated_at.is_some());
    assert!(ledger.participant_by_key_hash(&[1; 32]).await.unwrap().is_none(), "the old key is gone");
    assert_eq!(ledger.participant_by_key_hash(&[3; 32]).await.unwrap().map(|p| p.id), Some(created.id));
    assert!(ledger.rotate_api_key(ParticipantId::random(), &[4; 32], "clr_x").await.unwrap().is_none());

    let update = ProfileUpdate { webhook_url: Some(Some("https://h.example".into())), ..ProfileUpdate::default() };
    let updated = ledger.update_participant(created.id, &update).await.unwrap().unwrap();
    assert_eq!((updated.webhook_url.as_deref(), updated.name.as_str()), (Some("https://h.example"), "participant 1"));
    // Webhooks turned off by the owner: the events waiting for the old URL are skipped, as a 410 skips them, and
    // never sent to a URL set later.
    let waiting = NewWebhookEvent {
        participant: created.id,
        event_type: "job_dispatch".into(),
        ordering_key: None,
        payload: serde_json::json!({"type": "job_dispatch"}),
    };
    let waiting = ledger.enqueue_webhook(&waiting).await.unwrap().unwrap().id;
    let cleared = ProfileUpdate { webhook_url: Some(None), ..ProfileUpdate::default() };
    assert_eq!(ledger.update_participant(created.id, &cleared).await.unwrap().unwrap().webhook_url, None);
    assert_eq!(ledger.webhook_event(waiting).await.unwrap().unwrap().status, WebhookStatus::Skipped);
    assert!(ledger.update_participant(ParticipantId::random(), &cleared).await.unwrap().is_none());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn only_the_owner_writes_a_service_and_a_delete_keeps_the_row(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (owner, rival) = (provider(&ledger, 1).await, provider(&ledger, 2).await);
    let created = ledger.create_service(&service(owner, "seo", ServiceType::DataApi, 500_000)).await.unwrap();
    assert_eq!(created.input_schema.as_ref().map(|s| s.get()), Some(r#"{"type": "object"}"#));

    let reprice = ServiceUpdate { price: Some(Usdc::from_atomic(7)), ..ServiceUpdate::default() };
    assert!(matches!(ledger.update_service(created.id, rival, &reprice).await.unwrap(), OwnedWrite::NotOwner));
    let OwnedWrite::Done(updated) = ledger.update_service(created.id, owner, &reprice).await.unwrap() else { panic!() };
    assert_eq!((updated.price, updated.name.as_str()), (Usdc::from_atomic(7), "seo service"));
    let retier = ServiceUpdate {
        tier: Some((ServiceType::HumanService, FulfillmentType::Human)),
        input_schema: Some(None),
        ..ServiceUpdate::default()
    };
    let OwnedWrite::Done(updated) = ledger.update_service(created.id, owner, &retier).await.unwrap() else { panic!() };
    assert_eq!((updated.service_type, updated.input_schema.is_none()), (ServiceType::HumanService, true));

    assert!(matches!(ledger.delete_service(created.id, rival).await.unwrap(), OwnedWrite::NotOwner));
    assert!(matches!(ledger.delete_service(created.id, owner).await.unwrap(), OwnedWrite::Done(())));
    assert!(ledger.service(created.id).await.unwrap().is_none());
    assert!(matches!(ledger.delete_service(created.id, owner).await.unwrap(), OwnedWrite::NotFound));
    assert!(matches!(ledger.update_service(created.id, owner, &reprice).await.unwrap(), OwnedWrite::NotFound));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM market_services").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 1);

    // The schema's tier check stands behind the API's.
    let mut mismatched = service(owner, "seo", ServiceType::DataApi, 1);
    mismatched.fulfillment_type = FulfillmentType::Human;
    let err = ledger.create_service(&mismatched).await.unwrap_err().to_string();
    assert!(err.contains("market_services_tier"), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_kept_counts_equal_counting_after_every_kind_of_write(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (a, b) = (provider(&ledger, 1).await, provider(&ledger, 2).await);
    let mut ids = Vec::new();
    for (i, category) in ["seo", "data", "seo", "design", "data", "seo", "legal", "seo"].iter().enumerate() {
        let kind = [ServiceType::DataApi, ServiceType::AutomatedService, ServiceType::HumanService][i % 3];
        let owner = if i % 2 == 0 { a } else { b };
        ids.push((
            ledger.create_service(&service(owner, category, kind, 1_000 * (i as u128 + 1))).await.unwrap().id,
            owner,
        ));
    }
    let change = |update: ServiceUpdate| update;
    let writes = [
        (0, change(ServiceUpdate { status: Some(ServiceStatus::Inactive), ..ServiceUpdate::default() })),
        (1, change(ServiceUpdate { category: Some("seo".into()), ..ServiceUpdate::default() })),
        (
            2,
            change(ServiceUpdate {
                tier: Some((ServiceType::DataApi, FulfillmentType::Instant)),
                ..ServiceUpdate::default()
            }),
        ),
        (
            0,
            change(ServiceUpdate {
                status: Some(ServiceStatus::Active),
                category: Some("new".into()),
                ..ServiceUpdate::default()
            }),
        ),
        (3, change(ServiceUpdate { price: Some(Usdc::from_atomic(1)), ..ServiceUpdate::default() })),
        (
            4,
            change(ServiceUpdate {
                status: Some(ServiceStatus::Inactive),
                category: Some("x".into()),
                ..ServiceUpdate::default()
            }),
        ),
    ];
    for (index, update) in writes {
        let (id, owner) = ids[index];
        assert!(matches!(ledger.update_service(id, owner, &update).await.unwrap(), OwnedWrite::Done(_)));
    }
    for index in [5, 4] {
        let (id, owner) = ids[index];
        assert!(matches!(ledger.delete_service(id, owner).await.unwrap(), OwnedWrite::Done(())));
    }

    // Every filter the kept counts answer, against counting the page itself (limit 100 holds them all): prices are
    // 1 and 2,000 to 8,000, so the ceilings fall on bucket bounds (1,000, 2,000, 5,000), between them, below and above.
    let ceilings = [None, Some(0), Some(1), Some(999), Some(1_000), Some(2_000), Some(2_500), Some(5_000), Some(7_999)];
    for category in [None, Some("seo"), Some("data"), Some("new"), Some("x"), Some("none")] {
        for service_type in [None, Some(ServiceType::DataApi), Some(ServiceType::HumanService)] {
            for ceiling in ceilings.into_iter().chain([Some(1_000_000_000_000_000)]) {
                let max_price = ceiling.map(Usdc::from_atomic);
                let q = CatalogQuery { category: category.map(String::from), service_type, max_price, ..query() };
                let case = format!("{category:?} {service_type:?} {ceiling:?}");
                let listed = ledger.catalog_page(&q).await.unwrap().len() as u64;
                assert_eq!(ledger.catalog_count(&q).await.unwrap(), listed, "{case}");
                let page = ledger.catalog(&q).await.unwrap();
                assert_eq!((page.total, page.entries.len() as u64), (listed, listed), "{case}");
                // Past the end the page is empty and still counts.
                let past = ledger.catalog(&CatalogQuery { offset: 50, ..q.clone() }).await.unwrap();
                assert_eq!((past.total, past.entries.len()), (listed, 0), "{case}");
            }
        }
    }
    // The kept price buckets equal recounting them.
    let differ: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT service_type, category, price_bucket, listed FROM market_catalog_price_counts WHERE listed > 0
             EXCEPT
             SELECT service_type, category, market_price_bucket(price), count(*) FROM market_services
             WHERE status = 'active' AND deleted_at IS NULL GROUP BY 1, 2, 3) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(differ, 0, "kept price buckets differ from the listings");
    // And the ones it does not, counted.
    let q = CatalogQuery { provider: Some(ProviderFilter::Wallet(Address::repeat_byte(1))), ..query() };
    assert_eq!(ledger.catalog_count(&q).await.unwrap(), ledger.catalog_page(&q).await.unwrap().len() as u64);
    let q = CatalogQuery { text: Some("seo".into()), max_price: Some(Usdc::from_atomic(3_000)), ..query() };
    assert_eq!(ledger.catalog_count(&q).await.unwrap(), ledger.catalog_page(&q).await.unwrap().len() as u64);
    assert_eq!(ledger.catalog(&q).await.unwrap().total, ledger.catalog_count(&q).await.unwrap());
    assert_eq!(ledger.catalog_count(&query()).await.unwrap(), 6, "8 listed, 2 deleted (one hidden before)");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_carried_fee_is_counted_once_and_never_while_the_queue_holds_its_payment(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (token, payer) = (Address::repeat_byte(0x11), Address::repeat_byte(0x22));
    let fee = |nonce: u8| CarriedFee {
        chain_id: 31337,
        token,
        payer,
        nonce: B256::repeat_byte(nonce),
        pay_to: Address::repeat_byte(0xfe),
        amount: U256::from(10_000),
        tx_hash: B256::repeat_byte(0xaa),
        block_number: 7,
        resource: "http://127.0.0.1/v1/register".to_owned(),
    };
    assert!(ledger.count_carried_fee(&fee(1)).await.unwrap());
    assert!(!ledger.count_carried_fee(&fee(1)).await.unwrap(), "once per authorization");

    // A payment the queue holds (pending here; submitted or settled alike) is the queue's to answer.
    let queue = |nonce: u8| {
        sqlx::query(
            "INSERT INTO settlements (chain_id, asset, payer, nonce, pay_to, value, valid_after, valid_before,
                                      signature, x402_version, network)
             VALUES (31337, $1, $2, $3, $4, 10000, 0, 99999999999, '\\x00', 2, 'eip155:31337')",
        )
        .bind(token.to_vec())
        .bind(payer.to_vec())
        .bind(B256::repeat_byte(nonce).to_vec())
        .bind(Address::repeat_byte(0xfe).to_vec())
    };
    queue(2).execute(&pool).await.unwrap();
    assert!(!ledger.count_carried_fee(&fee(2)).await.unwrap());
    // Refused by the token in the queue's batch (its nonce used elsewhere): countable.
    queue(3).execute(&pool).await.unwrap();
    sqlx::query(
        "UPDATE settlements SET status = 'failed', failure_reason = 'invalid_exact_evm_nonce_already_used'
         WHERE nonce = $1",
    )
    .bind(B256::repeat_byte(3).to_vec())
    .execute(&pool)
    .await
    .unwrap();
    assert!(ledger.count_carried_fee(&fee(3)).await.unwrap());
}
