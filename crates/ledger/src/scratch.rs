//! Scratch databases: a database that lives as long as the process that created it (`clearing dev` makes one per
//! run, because each run starts a new chain and a ledger from another chain must never be reused).
//!
//! Ownership is a session-level advisory lock, held in the server's maintenance database by a connection the owner
//! keeps open: the server releases it when that session ends, however the owner ends (a clean exit, a crash, a
//! `kill -9` that closes its socket). A database whose lock nobody holds is abandoned, and any later caller may drop
//! it. All owners take their lock in the same maintenance database (the one `admin_url` names, `postgres` by
//! convention), since advisory locks are per database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{ConnectOptions, Connection, PgConnection, postgres::PgConnectOptions};
use tracing::{info, warn};

use crate::{Error, Result};

/// The advisory-lock class of scratch-database owners (ASCII "CLDV"): the two-key lock form keeps these apart from
/// any one-key advisory lock another tool takes in the maintenance database.
const OWNER_LOCK_CLASS: i32 = 0x434C_4456;

/// Names tried before giving up when a generated name is taken.
const NAME_ATTEMPTS: usize = 5;

/// PostgreSQL's limit on an identifier, in bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A database this process created and owns until [`ScratchDatabase::drop_database`] (or until its session ends,
/// after which anyone may drop it as abandoned).
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The session holding the owner lock, in the maintenance database.
    owner: PgConnection,
    name: String,
}

impl ScratchDatabase {
    /// The comment every scratch database carries (`COMMENT ON DATABASE`): only a database marked so is ever dropped
    /// as abandoned, so a database of the same prefix that was not made here is left alone.
    pub const MARKER: &'static str = "clearing scratch database: dropped once its owner session ends";

    /// Creates a database named `prefix` followed by a unique suffix on the server of `admin_url` (a URL of the
    /// server's maintenance database) and takes its owner lock. `prefix` is lowercase letters, digits and
    /// underscores.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        check_prefix(prefix)?;
        let mut owner = connect(admin_url).await?;
        for attempt in 0..NAME_ATTEMPTS {
            let name = unique_name(prefix, attempt);
            if !try_lock(&mut owner, &name).await? {
                continue;
            }
            match sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut owner).await {
                Ok(_) => {
                    let mark = format!("COMMENT ON DATABASE \"{name}\" IS '{}'", Self::MARKER);
                    sqlx::query(sqlx::AssertSqlSafe(mark)).execute(&mut owner).await?;
                    info!(database = %name, "created scratch database");
                    return Ok(Self { owner, name });
                }
                // 42P04 duplicate_database: an abandoned database of that name; try another name.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {
                    unlock(&mut owner, &name).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::NoScratchName { prefix: prefix.to_owned(), attempts: NAME_ATTEMPTS })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database (closing any session still connected to it), then releases the owner lock.
    pub async fn drop_database(mut self) -> Result<()> {
        drop_unchecked(&mut self.owner, &self.name).await?;
        unlock(&mut self.owner, &self.name).await?;
        info!(database = %self.name, "dropped scratch database");
        self.owner.close().await?;
        Ok(())
    }

    /// Drops every scratch database (one carrying [`Self::MARKER`]) named `prefix…` whose owner is gone (its lock is
    /// free); returns their names. Databases with a live owner, or without the marker, are left alone.
    pub async fn drop_abandoned(admin_url: &str, prefix: &str) -> Result<Vec<String>> {
        check_prefix(prefix)?;
        let mut admin = connect(admin_url).await?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database
             WHERE starts_with(datname, $1) AND shobj_description(oid, 'pg_database') = $2 ORDER BY 1",
        )
        .bind(prefix)
        .bind(Self::MARKER)
        .fetch_all(&mut admin)
        .await?;
        let mut dropped = Vec::new();
        // A name that is not a plain identifier was not made here.
        for name in names.into_iter().filter(|name| is_identifier(name)) {
            if try_lock(&mut admin, &name).await? {
                drop_unchecked(&mut admin, &name).await?;
                unlock(&mut admin, &name).await?;
                info!(database = %name, "dropped abandoned scratch database");
                dropped.push(name);
            }
        }
        admin.close().await?;
        Ok(dropped)
    }

    /// Waits up to `wait` for the owner of database `name` to be gone (its session ending), then drops the database
    /// if it still exists. Returns false, dropping nothing, if the owner still holds its lock after `wait`. For
    /// cleaning up after an owner known to have died, whose session the server may not have closed yet.
    pub async fn drop_once_released(admin_url: &str, name: &str, wait: Duration) -> Result<bool> {
        check_name(name)?;
        let mut admin = connect(admin_url).await?;
        // The lock wait is bounded by the server's lock_timeout, not by a client-side poll.
        sqlx::query(sqlx::AssertSqlSafe(format!("SET lock_timeout = {}", wait.as_millis().max(1))))
            .execute(&mut admin)
            .await?;
        let locked = sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
            .bind(OWNER_LOCK_CLASS)
            .bind(name)
            .execute(&mut admin)
            .await;
        match locked {
            Ok(_) => {}
            // 55P03 lock_not_available: the owner is still there.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                warn!(database = %name, ?wait, "scratch database still owned; not dropped");
                admin.close().await?;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        drop_unchecked(&mut admin, name).await?;
        unlock(&mut admin, name).await?;
        admin.close().await?;
        Ok(true)
    }
}

async fn connect(admin_url: &str) -> Result<PgConnection> {
    let options: PgConnectOptions =
        admin_url.parse().map_err(|source| Error::InvalidUrl { source: Box::new(source) })?;
    // DROP DATABASE waits for a checkpoint: seconds on a busy server, which is not worth a slow-statement warning.
    let options = options.disable_statement_logging();
    PgConnection::connect_with(&options).await.map_err(|source| Error::Unreachable { source: Box::new(source) })
}

async fn try_lock(conn: &mut PgConnection, name: &str) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(OWNER_LOCK_CLASS)
        .bind(name)
        .fetch_one(conn)
        .await?)
}

async fn unlock(conn: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))").bind(OWNER_LOCK_CLASS).bind(name).execute(conn).await?;
    Ok(())
}

/// Drops `name` if it exists; the caller holds its owner lock and has checked the name.
async fn drop_unchecked(conn: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).execute(conn).await?;
    Ok(())
}

/// `prefix` plus the time in microseconds, this process's id and the attempt: unique on one machine, and apart from
/// other machines' names on a shared server unless their clocks and process ids agree to the microsecond.
fn unique_name(prefix: &str, attempt: usize) -> String {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or_default();
    let name = format!("{prefix}{micros:x}_{:x}_{attempt}", std::process::id());
    name.chars().take(MAX_IDENTIFIER_BYTES).collect()
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IDENTIFIER_BYTES
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_prefix(prefix: &str) -> Result<()> {
    // Room for a unique suffix.
    if is_identifier(prefix) && prefix.len() <= MAX_IDENTIFIER_BYTES - 32 {
        Ok(())
    } else {
        Err(Error::InvalidScratchName(prefix.to_owned()))
    }
}

fn check_name(name: &str) -> Result<()> {
    if is_identifier(name) { Ok(()) } else { Err(Error::InvalidScratchName(name.to_owned())) }
}
