//! How a settlement row is read: the columns every read selects and their decoding, with the route's columns.

use alloy::primitives::{Address, Bytes, U256};
use sqlx::{Postgres, Transaction, postgres::PgRow};

use super::{BatchId, NewSettlement, PaymentKey, Settlement, SettlementId, SettlementStatus};
use crate::{Error, JobBooking, Result, Route, RouteKind, decode::Fields};

pub(super) const SETTLEMENT_COLUMNS: &str =
    "s.id, s.chain_id, s.asset, s.payer, s.nonce, s.pay_to, s.value::text AS value,
    s.valid_after::text AS valid_after, s.valid_before::text AS valid_before, s.signature, s.x402_version,
    s.network, s.status::text AS status, s.batch_id, b.tx_hash, s.failure_reason, s.revert_reason,
    s.success_reported_at IS NOT NULL AS success_reported, s.route::text AS route, s.provider, s.fee::text AS fee,
    s.arbiter, s.funding_deadline::text AS funding_deadline, s.completion_deadline::text AS completion_deadline,
    s.review_window::text AS review_window";

/// The settlement select with a constant `filter` (never caller data, hence safe to splice).
pub(super) fn select_settlements(filter: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {SETTLEMENT_COLUMNS} FROM settlements s LEFT JOIN settlement_batches b ON b.id = s.batch_id {filter}"
    ))
}

pub(super) async fn fetch_by_ids(tx: &mut Transaction<'static, Postgres>, ids: &[i64]) -> Result<Vec<Settlement>> {
    let rows =
        sqlx::query(select_settlements("WHERE s.id = ANY($1) ORDER BY s.id")).bind(ids).fetch_all(&mut **tx).await?;
    rows.iter().map(settlement_from_row).collect()
}

pub(super) fn settlement_from_row(row: &PgRow) -> Result<Settlement> {
    let f = Fields::of("settlements", row);
    Ok(Settlement {
        id: SettlementId(f.get("id")?),
        payment: NewSettlement {
            key: PaymentKey {
                chain_id: f.u64("chain_id")?,
                asset: f.address("asset")?,
                payer: f.address("payer")?,
                nonce: f.b256("nonce")?,
            },
            pay_to: f.address("pay_to")?,
            value: f.number("value")?,
            valid_after: f.number("valid_after")?,
            valid_before: f.number("valid_before")?,
            signature: f.get::<Vec<u8>>("signature")?.into(),
            x402_version: f.x402_version("x402_version")?,
            network: f.network("network")?,
            route: route_from_row(&f)?,
        },
        status: f.parsed("status", "a settlement status", |s: &String| SettlementStatus::from_sql(s))?,
        batch_id: f.get::<Option<i64>>("batch_id")?.map(BatchId),
        tx_hash: f.opt_b256("tx_hash")?,
        failure_reason: f.opt_reason("failure_reason")?,
        revert_reason: f.get::<Option<Vec<u8>>>("revert_reason")?.map(Bytes::from),
        success_reported: f.get("success_reported")?,
    })
}

/// The provider a route names, if any.
pub(super) const fn route_provider(route: &Route) -> Option<Address> {
    match route {
        Route::Transfer | Route::VaultDeposit => None,
        Route::EscrowJob(booking) => Some(booking.provider),
        Route::EscrowCredit { provider, .. } => Some(*provider),
    }
}

/// The fee a route names, if any.
pub(super) const fn route_fee(route: &Route) -> Option<U256> {
    match route {
        Route::Transfer | Route::VaultDeposit => None,
        Route::EscrowJob(booking) => Some(booking.fee),
        Route::EscrowCredit { fee, .. } => Some(*fee),
    }
}

/// The job terms of an escrow job route.
pub(super) const fn booking(route: &Route) -> Option<&JobBooking> {
    match route {
        Route::EscrowJob(booking) => Some(booking),
        _ => None,
    }
}

pub(super) fn route_from_row(f: &Fields<'_>) -> Result<Route> {
    let kind = f.parsed("route", "a settlement route", |s: &String| RouteKind::from_sql(s))?;
    Ok(match kind {
        RouteKind::Transfer => Route::Transfer,
        RouteKind::VaultDeposit => Route::VaultDeposit,
        RouteKind::EscrowCredit => Route::EscrowCredit { provider: f.address("provider")?, fee: f.number("fee")? },
        RouteKind::EscrowJob => Route::EscrowJob(JobBooking {
            provider: f.address("provider")?,
            fee: f.number("fee")?,
            arbiter: f.address("arbiter")?,
            funding_deadline: f.number("funding_deadline")?,
            completion_deadline: f.number("completion_deadline")?,
            review_window: f.number("review_window")?,
        }),
        RouteKind::EscrowStep
        | RouteKind::EscrowClaim
        | RouteKind::VaultDebit
        | RouteKind::VaultClaim
        | RouteKind::VaultBook
        | RouteKind::EscrowReturn
        | RouteKind::SubscriptionCharge
        | RouteKind::SubscriptionOperation => {
            return Err(Error::Corrupt {
                table: "settlements",
                column: "route",
                value: kind.to_string(),
                expected: "a payment route (the schema allows no other)",
            });
        }
    })
}
