//! `market_services`: what providers list. Writes name the provider, so a service changes only at its owner's
//! request; a delete only sets `deleted_at` (jobs keep referring to the row), after which no read here returns it.

use alloy::primitives::Address;
use clearing_x402::Usdc;
use serde_json::value::RawValue;
use sqlx::{Row as _, postgres::PgRow, types::Json};
use time::OffsetDateTime;

use super::{FulfillmentType, ParticipantId, PricingModel, ServiceId, ServiceStatus, ServiceType};
use crate::{Ledger, Result, decode::Fields};

/// A service to list.
#[derive(Debug, Clone, PartialEq)]
pub struct NewService {
    /// Its id.
    pub id: ServiceId,
    /// The provider listing it.
    pub provider_id: ParticipantId,
    /// 1 to 100 characters.
    pub name: String,
    /// Up to 5,000 characters.
    pub description: String,
    /// Lower case, 1 to 50 characters.
    pub category: String,
    /// Up to 20.
    pub tags: Vec<String>,
    /// The listed price.
    pub price: Usdc,
    /// Fixed or quoted.
    pub pricing_model: PricingModel,
    /// The tier.
    pub service_type: ServiceType,
    /// The delivery (the tier's one: [`ServiceType::fulfillment`]).
    pub fulfillment_type: FulfillmentType,
    /// A JSON Schema of what a buyer sends.
    pub input_schema: Option<serde_json::Value>,
    /// A JSON Schema of what the provider delivers.
    pub deliverable_schema: Option<serde_json::Value>,
    /// Free text such as "1-5 minutes".
    pub estimated_delivery: Option<String>,
    /// Listed or hidden.
    pub status: ServiceStatus,
}

/// A change to a service: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new category.
    pub category: Option<String>,
    /// New tags (replacing the old ones).
    pub tags: Option<Vec<String>>,
    /// A new price.
    pub price: Option<Usdc>,
    /// A new pricing model.
    pub pricing_model: Option<PricingModel>,
    /// A new tier; always given with its fulfilment.
    pub tier: Option<(ServiceType, FulfillmentType)>,
    /// A new input schema (`Some(None)` removes it).
    pub input_schema: Option<Option<serde_json::Value>>,
    /// A new deliverable schema (`Some(None)` removes it).
    pub deliverable_schema: Option<Option<serde_json::Value>>,
    /// A new estimate (`Some(None)` removes it).
    pub estimated_delivery: Option<Option<String>>,
    /// Listed or hidden.
    pub status: Option<ServiceStatus>,
}

/// A listed (not deleted) service, with its provider's name and wallet.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its id.
    pub id: ServiceId,
    /// The provider.
    pub provider_id: ParticipantId,
    /// The provider's display name.
    pub provider_name: String,
    /// The provider's wallet.
    pub provider_wallet: Address,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The listed price.
    pub price: Usdc,
    /// Fixed or quoted.
    pub pricing_model: PricingModel,
    /// The tier.
    pub service_type: ServiceType,
    /// The delivery.
    pub fulfillment_type: FulfillmentType,
    /// The input schema, as stored (JSON text, passed through).
    pub input_schema: Option<Box<RawValue>>,
    /// The deliverable schema, as stored.
    pub deliverable_schema: Option<Box<RawValue>>,
    /// Free-text estimate.
    pub estimated_delivery: Option<String>,
    /// Listed or hidden.
    pub status: ServiceStatus,
    /// When it was listed.
    pub listed_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// What an owner-only write found.
#[derive(Debug, Clone)]
pub enum OwnedWrite<T> {
    /// Done.
    Done(T),
    /// The service exists but another provider owns it; nothing changed.
    NotOwner,
    /// No such service (or it was deleted).
    NotFound,
}

pub(super) const SERVICE_COLUMNS: &str = "s.id, s.provider_id, p.name AS provider_name, p.wallet AS provider_wallet,
    s.name, s.description, s.category, s.tags, s.price, s.pricing_model, s.service_type, s.fulfillment_type,
    s.input_schema, s.deliverable_schema, s.estimated_delivery, s.status, s.listed_at, s.updated_at";

impl Ledger {
    /// Lists `new`.
    pub async fn create_service(&self, new: &NewService) -> Result<Service> {
        sqlx::query(
            "INSERT INTO market_services (id, provider_id, name, description, category, tags, price, pricing_model,
                service_type, fulfillment_type, input_schema, deliverable_schema, estimated_delivery, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(new.id.0)
        .bind(new.provider_id.0)
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.category)
        .bind(&new.tags)
        .bind(price(new.price))
        .bind(new.pricing_model.as_str())
        .bind(new.service_type.as_str())
        .bind(new.fulfillment_type.as_str())
        .bind(new.input_schema.as_ref().map(Json))
        .bind(new.deliverable_schema.as_ref().map(Json))
        .bind(new.estimated_delivery.as_deref())
        .bind(new.status.as_str())
        .execute(&self.pool)
        .await?;
        self.service(new.id).await?.ok_or_else(|| sqlx::Error::RowNotFound.into())
    }

    /// The service `id` unless it was deleted.
    pub async fn service(&self, id: ServiceId) -> Result<Option<Service>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVICE_COLUMNS} FROM market_services s JOIN market_participants p ON p.id = s.provider_id
             WHERE s.id = $1 AND s.deleted_at IS NULL"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(service_from_row).transpose()
    }

    /// Applies `update` to service `id` if `provider` owns it.
    pub async fn update_service(
        &self,
        id: ServiceId,
        provider: ParticipantId,
        update: &ServiceUpdate,
    ) -> Result<OwnedWrite<Service>> {
        let (service_type, fulfillment_type) = update.tier.unzip();
        let updated = sqlx::query(
            "UPDATE market_services SET
                name = coalesce($3, name),
                description = coalesce($4, description),
                category = coalesce($5, category),
                tags = coalesce($6, tags),
                price = coalesce($7, price),
                pricing_model = coalesce($8, pricing_model),
                service_type = coalesce($9, service_type),
                fulfillment_type = coalesce($10, fulfillment_type),
                input_schema = CASE WHEN $11 THEN $12 ELSE input_schema END,
                deliverable_schema = CASE WHEN $13 THEN $14 ELSE deliverable_schema END,
                estimated_delivery = CASE WHEN $15 THEN $16 ELSE estimated_delivery END,
                status = coalesce($17, status),
                updated_at = now()
             WHERE id = $1 AND provider_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .bind(provider.0)
        .bind(update.name.as_deref())
        .bind(update.description.as_deref())
        .bind(update.category.as_deref())
        .bind(update.tags.as_deref())
        .bind(update.price.map(price))
        .bind(update.pricing_model.map(PricingModel::as_str))
        .bind(service_type.map(ServiceType::as_str))
        .bind(fulfillment_type.map(FulfillmentType::as_str))
        .bind(update.input_schema.is_some())
        .bind(update.input_schema.as_ref().and_then(Option::as_ref).map(Json))
        .bind(update.deliverable_schema.is_some())
        .bind(update.deliverable_schema.as_ref().and_then(Option::as_ref).map(Json))
        .bind(update.estimated_delivery.is_some())
        .bind(update.estimated_delivery.clone().flatten())
        .bind(update.status.map(ServiceStatus::as_str))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return self.why_not_owned(id).await;
        }
        Ok(match self.service(id).await? {
            Some(service) => OwnedWrite::Done(service),
            // Deleted between the update and the read: as if the delete came first.
            None => OwnedWrite::NotFound,
        })
    }

    /// Deletes service `id` if `provider` owns it: it leaves every answer, and its row stays for the jobs that name
    /// it.
    pub async fn delete_service(&self, id: ServiceId, provider: ParticipantId) -> Result<OwnedWrite<()>> {
        let deleted = sqlx::query(
            "UPDATE market_services SET deleted_at = now(), updated_at = now()
             WHERE id = $1 AND provider_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .bind(provider.0)
        .execute(&self.pool)
        .await?;
        if deleted.rows_affected() == 0 {
            return self.why_not_owned(id).await;
        }
        Ok(OwnedWrite::Done(()))
    }

    /// Why an owner-only write of `id` changed nothing: another provider's service, or none.
    async fn why_not_owned<T>(&self, id: ServiceId) -> Result<OwnedWrite<T>> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM market_services WHERE id = $1 AND deleted_at IS NULL)")
                .bind(id.0)
                .fetch_one(&self.pool)
                .await?;
        Ok(if exists { OwnedWrite::NotOwner } else { OwnedWrite::NotFound })
    }
}

/// A price as stored: the schema bounds it far below `i64::MAX` (10^15), and the API checks that bound first.
fn price(price: Usdc) -> i64 {
    i64::try_from(price.atomic()).unwrap_or(i64::MAX)
}

const TABLE: &str = "market_services";

pub(super) fn service_from_row(row: &PgRow) -> Result<Service> {
    let f = Fields::of(TABLE, row);
    Ok(Service {
        id: ServiceId(row.try_get("id")?),
        provider_id: ParticipantId(row.try_get("provider_id")?),
        provider_name: f.get("provider_name")?,
        provider_wallet: f.address("provider_wallet")?,
        name: f.get("name")?,
        description: f.get("description")?,
        category: f.get("category")?,
        tags: f.get("tags")?,
        price: f.parsed("price", "a positive amount of atomic USDC", |p: &i64| {
            u128::try_from(*p).ok().filter(|p| *p > 0).map(Usdc::from_atomic)
        })?,
        pricing_model: f.parsed("pricing_model", "a pricing model", |s: &String| PricingModel::parse(s))?,
        service_type: f.parsed("service_type", "a service type", |s: &String| ServiceType::parse(s))?,
        fulfillment_type: f.parsed("fulfillment_type", "a fulfillment type", |s: &String| FulfillmentType::parse(s))?,
        input_schema: f.get::<Option<Json<Box<RawValue>>>>("input_schema")?.map(|j| j.0),
        deliverable_schema: f.get::<Option<Json<Box<RawValue>>>>("deliverable_schema")?.map(|j| j.0),
        estimated_delivery: f.get("estimated_delivery")?,
        status: f.parsed("status", "active or inactive", |s: &String| ServiceStatus::parse(s))?,
        listed_at: f.get("listed_at")?,
        updated_at: f.get("updated_at")?,
    })
}
