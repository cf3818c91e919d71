//! `market_participants`: one row per wallet that registered, with the hash of its API key.
//!
//! A registration inserts unless the wallet has a row already, in one statement: two concurrent registrations of
//! one wallet make one participant, and the second learns it found an existing one. The key is looked up by its
//! hash (the table's unique index), and a rotation replaces the hash in one update, so the old key stops working
//! with that commit.

use alloy::primitives::{Address, B256};
use sqlx::{Row as _, postgres::PgRow};
use time::OffsetDateTime;

use super::{ParticipantId, ParticipantKind};
use crate::{
    Ledger, Result,
    decode::Fields,
    webhooks::{DisabledReason, outbox},
};

/// A participant to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParticipant {
    /// Its id.
    pub id: ParticipantId,
    /// The wallet that paid the registration.
    pub wallet: Address,
    /// Agent or provider.
    pub kind: ParticipantKind,
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Up to 5,000 characters.
    pub description: String,
    /// Where its webhooks go.
    pub webhook_url: Option<String>,
    /// What it says it can do.
    pub capabilities: Vec<String>,
    /// SHA-256 of its API key.
    pub api_key_hash: [u8; 32],
    /// The key's visible start.
    pub api_key_prefix: String,
    /// Its webhook signing secret (`whsec_...`).
    pub webhook_secret: String,
    /// The EIP-3009 nonce of the registration payment.
    pub registration_nonce: B256,
}

/// A participant as stored, without its secrets (neither the key's hash nor the webhook secret leave the ledger
/// here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Its id.
    pub id: ParticipantId,
    /// The wallet that registered it.
    pub wallet: Address,
    /// Agent or provider.
    pub kind: ParticipantKind,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Where its webhooks go.
    pub webhook_url: Option<String>,
    /// What it says it can do.
    pub capabilities: Vec<String>,
    /// Its API key's visible start.
    pub api_key_prefix: String,
    /// When it registered.
    pub created_at: OffsetDateTime,
    /// When its profile or key last changed.
    pub updated_at: OffsetDateTime,
    /// When its key last changed, if ever.
    pub key_rotated_at: Option<OffsetDateTime>,
}

/// What a registration found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new participant, with the key and secret given.
    Created(Participant),
    /// The wallet's existing participant, untouched (its key and secret are not the ones given).
    Existing(Participant),
}

/// A change to a profile: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new webhook URL (`Some(None)` removes it).
    pub webhook_url: Option<Option<String>>,
    /// New capabilities (replacing the old ones).
    pub capabilities: Option<Vec<String>>,
}

const COLUMNS: &str = "id, wallet, kind, name, description, webhook_url, capabilities, api_key_prefix, created_at,
    updated_at, key_rotated_at";

fn select(filter: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM market_participants WHERE {filter}"))
}

impl Ledger {
    /// Creates `new` unless its wallet has a participant already, which is then returned untouched.
    pub async fn register_participant(&self, new: &NewParticipant) -> Result<Registration> {
        // The webhook endpoint (the outbox's `webhook_endpoints`) is written in the same statement: a participant
        // with a URL can always be sent its events, signed with the secret it was given.
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH inserted AS (
                 INSERT INTO market_participants (id, wallet, kind, name, description, webhook_url, capabilities,
                     api_key_hash, api_key_prefix, webhook_secret, registration_nonce)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT ON CONSTRAINT market_participants_wallet_key DO NOTHING
                 RETURNING *),
             endpoint AS (
                 INSERT INTO webhook_endpoints (participant_id, url, secret)
                 SELECT id, webhook_url, webhook_secret FROM inserted WHERE webhook_url IS NOT NULL)
             SELECT {COLUMNS} FROM inserted"
        )))
        .bind(new.id.0)
        .bind(new.wallet.as_slice())
        .bind(new.kind.as_str())
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.webhook_url.as_deref())
        .bind(&new.capabilities)
        .bind(new.api_key_hash.as_slice())
        .bind(&new.api_key_prefix)
        .bind(&new.webhook_secret)
        .bind(new.registration_nonce.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = inserted {
            return Ok(Registration::Created(participant_from_row(&row)?));
        }
        // The wallet's row exists (it conflicted), and rows are never deleted.
        let existing = self.participant_by_wallet(new.wallet).await?.ok_or(sqlx::Error::RowNotFound)?;
        Ok(Registration::Existing(existing))
    }

    /// The participant `id`, if any.
    pub async fn participant(&self, id: ParticipantId) -> Result<Option<Participant>> {
        let row = sqlx::query(select("id = $1")).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(participant_from_row).transpose()
    }

    /// The participant `wallet` registered, if any.
    pub async fn participant_by_wallet(&self, wallet: Address) -> Result<Option<Participant>> {
        let row = sqlx::query(select("wallet = $1")).bind(wallet.as_slice()).fetch_optional(&self.pool).await?;
        row.as_ref().map(participant_from_row).transpose()
    }

    /// The participant whose API key hashes to `hash`, if any.
    pub async fn participant_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<Participant>> {
        let row = sqlx::query(select("api_key_hash = $1")).bind(hash.as_slice()).fetch_optional(&self.pool).await?;
        row.as_ref().map(participant_from_row).transpose()
    }

    /// Applies `update` to participant `id`; `None` if there is no such participant.
    pub async fn update_participant(&self, id: ParticipantId, update: &ProfileUpdate) -> Result<Option<Participant>> {
        // The webhook endpoint follows the URL in the same transaction: a new URL is delivered to (and enabled
        // again, whatever disabled the old one), a removed one is disabled by its owner and its pending events are
        // skipped, as a 410 does: never sent later to a URL set again, with a fresh timestamp on old news.
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH updated AS (
                 UPDATE market_participants SET
                    name = coalesce($2, name),
                    description = coalesce($3, description),
                    webhook_url = CASE WHEN $4 THEN $5 ELSE webhook_url END,
                    capabilities = coalesce($6, capabilities),
                    updated_at = now()
                 WHERE id = $1
                 RETURNING *),
             upserted AS (
                 INSERT INTO webhook_endpoints (participant_id, url, secret)
                 SELECT id, webhook_url, webhook_secret FROM updated WHERE $4 AND webhook_url IS NOT NULL
                 ON CONFLICT (participant_id) DO UPDATE
                 SET url = EXCLUDED.url, disabled_at = NULL, disabled_reason = NULL, updated_at = now())
             SELECT {COLUMNS} FROM updated"
        )))
        .bind(id.0)
        .bind(update.name.as_deref())
        .bind(update.description.as_deref())
        .bind(update.webhook_url.is_some())
        .bind(update.webhook_url.clone().flatten())
        .bind(update.capabilities.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let participant = participant_from_row(&row)?;
        if matches!(update.webhook_url, Some(None)) {
            // A statement of its own, after the update: it sees events enqueued up to now.
            outbox::disable_endpoints(&mut tx, &[id.0], DisabledReason::Owner).await?;
        }
        tx.commit().await?;
        Ok(Some(participant))
    }

    /// Replaces participant `id`'s webhook signing secret with `secret`, on its profile and its endpoint in one
    /// transaction: every delivery claimed from this commit on is signed with the new one (one already claimed may
    /// still go out with the old). False if there is no such participant.
    pub async fn rotate_webhook_secret(&self, id: ParticipantId, secret: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let updated =
            sqlx::query("UPDATE market_participants SET webhook_secret = $2, updated_at = now() WHERE id = $1")
                .bind(id.0)
                .bind(secret)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("UPDATE webhook_endpoints SET secret = $2, updated_at = now() WHERE participant_id = $1")
            .bind(id.0)
            .bind(secret)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(updated == 1)
    }

    /// Replaces participant `id`'s API key with the one hashing to `hash`: from this commit on, only the new key
    /// authenticates. `None` if there is no such participant.
    pub async fn rotate_api_key(
        &self,
        id: ParticipantId,
        hash: &[u8; 32],
        prefix: &str,
    ) -> Result<Option<Participant>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE market_participants
             SET api_key_hash = $2, api_key_prefix = $3, key_rotated_at = now(), updated_at = now()
             WHERE id = $1
             RETURNING {COLUMNS}"
        )))
        .bind(id.0)
        .bind(hash.as_slice())
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(participant_from_row).transpose()
    }
}

const TABLE: &str = "market_participants";

fn participant_from_row(row: &PgRow) -> Result<Participant> {
    let f = Fields::of(TABLE, row);
    Ok(Participant {
        id: ParticipantId(row.try_get("id")?),
        wallet: f.address("wallet")?,
        kind: f.parsed("kind", "agent or provider", |s: &String| ParticipantKind::parse(s))?,
        name: f.get("name")?,
        description: f.get("description")?,
        webhook_url: f.get("webhook_url")?,
        capabilities: f.get("capabilities")?,
        api_key_prefix: f.get("api_key_prefix")?,
        created_at: f.get("created_at")?,
        updated_at: f.get("updated_at")?,
        key_rotated_at: f.get("key_rotated_at")?,
    })
}
