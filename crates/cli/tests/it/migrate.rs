//! `clearing migrate`: creates the database, applies every migration, and is a no-op the second time.

use std::process::Command;

use clearing_ledger::Ledger;

fn migrate(database_url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_clearing"))
        .args(["--config", "/nonexistent/clearing.toml", "migrate"])
        .env("CLEARING_DATABASE_URL", database_url)
        .output()
        .expect("clearing runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent() {
    let url = clearing_testkit::database_url("migrate");
    Ledger::drop_database_if_exists(&url).await.unwrap();

    let first = migrate(&url);
    let latest = Ledger::latest_migration();
    assert!(first.contains("created the database"), "{first}");
    assert!(first.contains(&format!("migrated schema from version 0 to {latest}")), "{first}");

    let second = migrate(&url);
    assert!(second.contains(&format!("schema up to date (version {latest})")), "{second}");

    let ledger = Ledger::connect(&url, 1).await.unwrap();
    assert_eq!(ledger.schema_version().await.unwrap(), latest);
    ledger.close().await;
    Ledger::drop_database_if_exists(&url).await.unwrap();
}
