//! Providers' subscription plans (`migrations/0014_subscriptions.sql`): a price per period for a bundle of the
//! provider's services, with an optional cap on requests per period. Deleting a plan hides it from new subscribers;
//! the subscriptions already made keep the terms they were made with.

use alloy::primitives::U256;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{ParticipantId, ServiceId};
use crate::{Ledger, Result, decode::Fields};

/// A plan's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanId(pub Uuid);

impl PlanId {
    /// A fresh random id (UUID v4).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

/// How long one period of a plan lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanInterval {
    /// 30 days.
    Monthly,
    /// 365 days.
    Annual,
}

impl PlanInterval {
    /// Its wire and SQL name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Annual => "annual",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "monthly" => Some(Self::Monthly),
            "annual" => Some(Self::Annual),
            _ => None,
        }
    }

    /// Seconds per period: the chain counts fixed lengths, so a "month" is 30 days and a year 365.
    pub const fn seconds(self) -> u64 {
        match self {
            Self::Monthly => 30 * 86_400,
            Self::Annual => 365 * 86_400,
        }
    }
}

/// A plan to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    /// Its id.
    pub id: PlanId,
    /// The provider selling it.
    pub provider_id: ParticipantId,
    /// Its name.
    pub name: String,
    /// What it offers.
    pub description: String,
    /// The period.
    pub interval: PlanInterval,
    /// What the provider receives per period, atomic units (the subscriber pays it plus the fee).
    pub price: U256,
    /// The provider's services it covers.
    pub service_ids: Vec<ServiceId>,
    /// Requests per period without paying; `None` for no limit.
    pub max_requests: Option<u32>,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What was stored.
    pub new: NewPlan,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds it was deleted (hidden from new subscribers).
    pub deleted_at: Option<i64>,
}

/// A provider's edit of its plan; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new price per period, for subscriptions made from now on.
    pub price: Option<U256>,
    /// New services, for subscriptions made from now on.
    pub service_ids: Option<Vec<ServiceId>>,
    /// A new cap (`Some(None)`: no limit), for subscriptions made from now on.
    pub max_requests: Option<Option<u32>>,
}

const PLAN_COLUMNS: &str = "id, provider_id, name, description, \"interval\", price::text AS price, service_ids,
    max_requests, extract(epoch FROM created_at)::bigint AS created, extract(epoch FROM updated_at)::bigint AS updated,
    extract(epoch FROM deleted_at)::bigint AS deleted";

fn plan_from_row(row: &PgRow) -> Result<Plan> {
    let f = Fields::of("market_plans", row);
    let service_ids: Vec<Uuid> = f.get("service_ids")?;
    let max_requests: Option<i32> = f.get("max_requests")?;
    Ok(Plan {
        new: NewPlan {
            id: PlanId(f.get("id")?),
            provider_id: ParticipantId(f.get("provider_id")?),
            name: f.get("name")?,
            description: f.get("description")?,
            interval: f.parsed("interval", "monthly or annual", |s: &String| PlanInterval::parse(s))?,
            price: f.number("price")?,
            service_ids: service_ids.into_iter().map(ServiceId).collect(),
            max_requests: max_requests.and_then(|m| u32::try_from(m).ok()),
        },
        created_at: f.get("created")?,
        updated_at: f.get("updated")?,
        deleted_at: f.get("deleted")?,
    })
}

fn cap(max_requests: Option<u32>) -> Option<i32> {
    max_requests.map(|m| i32::try_from(m).unwrap_or(i32::MAX))
}

impl Ledger {
    /// Stores `plan` (its services were checked to be the provider's by the caller).
    pub async fn create_plan(&self, plan: &NewPlan) -> Result<Plan> {
        let ids: Vec<Uuid> = plan.service_ids.iter().map(|s| s.0).collect();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO market_plans (id, provider_id, name, description, \"interval\", price, service_ids,
                                       max_requests)
             VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8) RETURNING {PLAN_COLUMNS}"
        )))
        .bind(plan.id.0)
        .bind(plan.provider_id.0)
        .bind(&plan.name)
        .bind(&plan.description)
        .bind(plan.interval.as_str())
        .bind(plan.price.to_string())
        .bind(&ids)
        .bind(cap(plan.max_requests))
        .fetch_one(&self.pool)
        .await?;
        plan_from_row(&row)
    }

    /// The plan `id`, deleted or not.
    pub async fn plan(&self, id: PlanId) -> Result<Option<Plan>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PLAN_COLUMNS} FROM market_plans WHERE id = $1")))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    /// Plans not deleted, newest first: all of them, or one provider's.
    pub async fn plans(&self, provider: Option<ParticipantId>, limit: u32, offset: u32) -> Result<Vec<Plan>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM market_plans
             WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR provider_id = $1)
             ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        )))
        .bind(provider.map(|p| p.0))
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    /// Applies `update` to `provider`'s plan `id` if it is not deleted; `None` when there is no such plan.
    pub async fn update_plan(&self, id: PlanId, provider: ParticipantId, update: &PlanUpdate) -> Result<Option<Plan>> {
        let ids: Option<Vec<Uuid>> = update.service_ids.as_ref().map(|s| s.iter().map(|s| s.0).collect());
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE market_plans SET
                 name = coalesce($3, name),
                 description = coalesce($4, description),
                 price = coalesce($5::numeric, price),
                 service_ids = coalesce($6, service_ids),
                 max_requests = CASE WHEN $7 THEN $8 ELSE max_requests END,
                 updated_at = now()
             WHERE id = $1 AND provider_id = $2 AND deleted_at IS NULL
             RETURNING {PLAN_COLUMNS}"
        )))
        .bind(id.0)
        .bind(provider.0)
        .bind(&update.name)
        .bind(&update.description)
        .bind(update.price.map(|p| p.to_string()))
        .bind(&ids)
        .bind(update.max_requests.is_some())
        .bind(update.max_requests.and_then(cap))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    /// Hides `provider`'s plan `id` from new subscribers; whether it was live.
    pub async fn delete_plan(&self, id: PlanId, provider: ParticipantId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE market_plans SET deleted_at = now(), updated_at = now()
             WHERE id = $1 AND provider_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .bind(provider.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
