//! Scratch databases: created owned, dropped by their owner, and dropped by anyone once their owner is gone.

use std::time::Duration;

use clearing_ledger::{Error, ScratchDatabase};
use sqlx::{Connection, PgConnection};

/// The test server's maintenance database (`postgres`), from `DATABASE_URL`.
fn admin_url() -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL points at the test server");
    let (base, _database) = server.rsplit_once('/').expect("a URL with a database path");
    format!("{base}/postgres")
}

async fn exists(name: &str) -> bool {
    let mut conn = PgConnection::connect(&admin_url()).await.unwrap();
    let found: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    found
}

/// A prefix of this test's own, so concurrent tests never see each other's databases.
fn prefix(test: &str) -> String {
    format!("scratch_{test}_{}_", std::process::id())
}

#[tokio::test]
async fn an_owner_creates_a_database_of_its_own_and_drops_it() {
    let prefix = prefix("own");
    let first = ScratchDatabase::create(&admin_url(), &prefix).await.unwrap();
    let second = ScratchDatabase::create(&admin_url(), &prefix).await.unwrap();
    assert_ne!(first.name(), second.name());
    assert!(first.name().starts_with(&prefix), "{}", first.name());
    assert!(exists(first.name()).await && exists(second.name()).await);

    // Both owners are alive: nothing is abandoned.
    assert_eq!(ScratchDatabase::drop_abandoned(&admin_url(), &prefix).await.unwrap(), Vec::<String>::new());
    let (first_name, second_name) = (first.name().to_owned(), second.name().to_owned());
    first.drop_database().await.unwrap();
    assert!(!exists(&first_name).await);
    assert!(exists(&second_name).await, "dropping one scratch database left the other alone");
    second.drop_database().await.unwrap();
    assert!(!exists(&second_name).await);
}

#[tokio::test]
async fn a_database_whose_owner_is_gone_is_dropped_and_a_live_one_is_kept() {
    let prefix = prefix("abandoned");
    let live = ScratchDatabase::create(&admin_url(), &prefix).await.unwrap();
    // What a killed owner leaves behind: a marked database nobody holds the lock of. And a database of the same
    // prefix that was never a scratch database.
    let orphan = format!("{prefix}orphan");
    let foreign = format!("{prefix}foreign");
    let mut conn = PgConnection::connect(&admin_url()).await.unwrap();
    for statement in [
        format!("CREATE DATABASE \"{orphan}\""),
        format!("COMMENT ON DATABASE \"{orphan}\" IS '{}'", ScratchDatabase::MARKER),
        format!("CREATE DATABASE \"{foreign}\""),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut conn).await.unwrap();
    }

    let dropped = ScratchDatabase::drop_abandoned(&admin_url(), &prefix).await.unwrap();
    assert_eq!(dropped, vec![orphan.clone()]);
    assert!(!exists(&orphan).await);
    assert!(exists(live.name()).await, "a database with a live owner was dropped");
    assert!(exists(&foreign).await, "a database that was not a scratch database was dropped");
    live.drop_database().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{foreign}\""))).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_dead_owners_database_is_dropped_once_its_session_ends() {
    let prefix = prefix("dead");
    let owned = ScratchDatabase::create(&admin_url(), &prefix).await.unwrap();
    let name = owned.name().to_owned();

    // While the owner lives, waiting gives up and drops nothing.
    assert!(!ScratchDatabase::drop_once_released(&admin_url(), &name, Duration::from_millis(200)).await.unwrap());
    assert!(exists(&name).await);

    // The owner dies without cleaning up: its socket closes and the server ends its session in its own time.
    drop(owned);
    assert!(ScratchDatabase::drop_once_released(&admin_url(), &name, Duration::from_secs(30)).await.unwrap());
    assert!(!exists(&name).await);
}

#[tokio::test]
async fn names_that_are_not_plain_identifiers_are_refused() {
    for bad in ["", "Clearing_", "x\"; DROP DATABASE postgres; --", &"a".repeat(40)] {
        let err = ScratchDatabase::create(&admin_url(), bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidScratchName(_)), "{bad:?}: {err}");
    }
}
