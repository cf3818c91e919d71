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
        after = part.listed.last().map(|l| l.service.id);
        let n = part.listed.len();
        read.extend(part.listed.into_iter().map(|l| (l.service.id, l.search, l.version)));
        if n < 2 {
            break;
        }
    }
    let mut listed = ids[..4].to_vec();
    listed.sort();
    assert_eq!(read.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(), listed);
    assert!(read.iter().all(|(_, search, _)| search.contains("'seo':")), "{read:?}");
    let horizon = horizon.expect("every read has a horizon");

    // Since then: one renamed, one hidden, one deleted.
    let renamed = ServiceUpdate { name: Some("weather".into()), ..ServiceUpdate::default() };
    ledger.update_service(ids[0], owner, &renamed).await.unwrap();
    let hidden = ServiceUpdate { status: Some(ServiceStatus::Inactive), ..ServiceUpdate::default() };
    ledger.update_service(ids[1], owner, &hidden).await.unwrap();
    ledger.delete_service(ids[2], owner).await.unwrap();
    // Other tests' transactions elsewhere in the cluster can hold a horizon back, so a listing may be read again:
    // then at the version read before. What was written is read at a new version.
    let changes = ledger.catalog_changes(horizon).await.unwrap();
    let version_read = |id| read.iter().find(|(at, _, _)| *at == id).map(|(_, _, version)| *version);
    let renamed = changes.listed.iter().find(|l| l.service.id == ids[0]).expect("the renamed listing is read");
    assert!(renamed.search.contains("'weather':1A"), "{}", renamed.search);
    assert_ne!(Some(renamed.version), version_read(ids[0]));
    for other in changes.listed.iter().filter(|l| l.service.id != ids[0]) {
        assert_eq!(Some(other.version), version_read(other.service.id), "only the renamed listing changed");
        assert!(!ids[1..3].contains(&other.service.id));
    }
    let again = ledger.catalog_changes(horizon).await.unwrap();
    let renamed_again = again.listed.iter().find(|l| l.service.id == ids[0]).unwrap();
    assert_eq!(renamed_again.version, renamed.version);
    // The hidden and the deleted one are read as no longer listed (and, read again, the one hidden from the start).
    let expected = [ids[1], ids[2], ids[4]];
    assert!(changes.unlisted.contains(&ids[1]) && changes.unlisted.contains(&ids[2]), "{:?}", changes.unlisted);
    assert!(changes.unlisted.iter().all(|id| expected.contains(id)), "{:?}", changes.unlisted);

    // Nothing written since the next horizon: nothing new read.
    let next = changes.horizon.unwrap();
    assert!(next >= horizon);
    let quiet = ledger.catalog_changes(next).await.unwrap();
    for listing in &quiet.listed {
        let seen = if listing.service.id == ids[0] { Some(renamed.version) } else { version_read(listing.service.id) };
        assert_eq!(Some(listing.version), seen);
    }
    assert!(quiet.unlisted.iter().all(|id| expected.contains(id)));
}
