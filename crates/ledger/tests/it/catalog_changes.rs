//! What changed in the catalog (`migrations/0030_market_catalog_changes.sql`): every listing read in parts, and the
//! writes since a horizon, hidden and deleted ones named as no longer listed.

use clearing_ledger::{
    Ledger, MIGRATOR,
    market::{ServiceStatus, ServiceType, ServiceUpdate},
};
use sqlx::PgPool;

use crate::market::{provider, service};

#[sqlx::test(migrator = "MIGRATOR")]
async fn listings_in_parts_then_the_writes_since(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let owner = provider(&ledger, 1).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut new = service(owner, "seo", ServiceType::DataApi, 1_000);
        if n == 4 {
            new.status = ServiceStatus::Inactive;
        }
        ids.push(ledger.create_service(&new).await.unwrap().id);
    }

    // Four listed, read two at a time in id order; the hidden one never.
    let mut read = Vec::new();
    let mut after = None;
    let mut horizon = None;
    loop {
        let part = ledger.catalog_listings(after, 2).await.unwrap();
        horizon = horizon.or(part.horizon);
        assert!(part.unlisted.is_empty());
        after = part.listed.last().map(|(s, _)| s.id);
        let n = part.listed.len();
        read.extend(part.listed.into_iter().map(|(s, search)| (s.id, search)));
        if n < 2 {
            break;
        }
    }
    let mut listed = ids[..4].to_vec();
    listed.sort();
    assert_eq!(read.iter().map(|(id, _)| *id).collect::<Vec<_>>(), listed);
    assert!(read.iter().all(|(_, search)| search.contains("'seo':")), "{read:?}");
    let horizon = horizon.expect("every read has a horizon");

    // Since then: one renamed, one hidden, one deleted.
    let renamed = ServiceUpdate { name: Some("weather".into()), ..ServiceUpdate::default() };
    ledger.update_service(ids[0], owner, &renamed).await.unwrap();
    let hidden = ServiceUpdate { status: Some(ServiceStatus::Inactive), ..ServiceUpdate::default() };
    ledger.update_service(ids[1], owner, &hidden).await.unwrap();
    ledger.delete_service(ids[2], owner).await.unwrap();
    let changes = ledger.catalog_changes(horizon).await.unwrap();
    let listed: Vec<_> = changes.listed.iter().map(|(s, _)| s.id).collect();
    assert_eq!(listed, [ids[0]]);
    assert!(changes.listed[0].1.contains("'weather':1A"), "{}", changes.listed[0].1);
    let mut unlisted = changes.unlisted.clone();
    unlisted.sort();
    let mut expected = vec![ids[1], ids[2]];
    expected.sort();
    assert_eq!(unlisted, expected);

    // Nothing written since the next horizon: nothing read.
    let next = changes.horizon.unwrap();
    assert!(next >= horizon);
    let quiet = ledger.catalog_changes(next).await.unwrap();
    assert!(quiet.listed.is_empty() && quiet.unlisted.is_empty());
}
