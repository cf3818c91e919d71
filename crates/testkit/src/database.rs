//! Throwaway ledger databases beside the one `DATABASE_URL` names.

use clearing_ledger::Ledger;
use sqlx::{PgPool, postgres::PgPoolOptions};

/// PostgreSQL's longest identifier, bytes.
const MAX_NAME: usize = 63;

/// The URL of the database `clearing_test_<name>_<pid>` on the server `DATABASE_URL` names (which must be set):
/// one of the test's own, apart from other tests and from other test processes. Nothing is created.
pub fn database_url(name: &str) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a PostgreSQL server");
    let mut url = url::Url::parse(&server).expect("DATABASE_URL is a URL");
    let suffix = format!("_{}", std::process::id());
    let mut database: String = format!("clearing_test_{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    database.truncate(MAX_NAME - suffix.len());
    url.set_path(&format!("/{database}{suffix}"));
    url.to_string()
}

/// A migrated database of a test's own, outside `sqlx::test`'s shared pool of connections (a test that leaves
/// tasks running to the runtime's end would keep some of that pool's permits, and starve the tests after it).
/// Dropping it drops the database, closing whatever connections are left.
pub struct TestDatabase {
    url: String,
    name: String,
    pool: PgPool,
}

impl std::fmt::Debug for TestDatabase {
    // The name only: the URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase").field("name", &self.name()).finish()
    }
}

impl TestDatabase {
    /// The database [`database_url`]`(name)`, made anew (dropped first if a killed run left it) and migrated.
    pub async fn create(name: &str) -> Self {
        let url = database_url(name);
        Ledger::drop_database_if_exists(&url).await.unwrap();
        Ledger::create_database_if_missing(&url).await.unwrap();
        let pool = PgPoolOptions::new().max_connections(5).connect(&url).await.unwrap();
        Ledger::from_pool(pool.clone()).migrate().await.unwrap();
        let name = url::Url::parse(&url).expect("a URL").path().trim_start_matches('/').to_owned();
        Self { url, name, pool }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool of up to five connections to it.
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    /// The ledger on [`TestDatabase::pool`].
    pub fn ledger(&self) -> Ledger {
        Ledger::from_pool(self.pool.clone())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await: a runtime of its own, on a thread of its own (the test's runtime may be the caller).
        let url = self.url.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(Ledger::drop_database_if_exists(&url)).map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("dropping the test database {} failed: {dropped:?}", self.name());
        }
    }
}
