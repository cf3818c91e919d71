//! The one `success` answer of a settled payment: claimed by the first caller told, given back when that caller
//! left before it could be told.

use sqlx::Row;

use super::{
    Settlement, SettlementId,
    rows::{SETTLEMENT_COLUMNS, settlement_from_row},
};
use crate::{Ledger, Result};

impl Ledger {
    /// The settlement with row id `id`, claiming the one `success` answer if it is settled and nobody was told yet:
    /// the bool is true for that first caller only (what [`Ledger::claim_success_report`] does, in the same
    /// statement as the read).
    pub async fn settlement_answer(&self, id: SettlementId) -> Result<Option<(Settlement, bool)>> {
        Ok(self.settlement_answers(&[id]).await?.into_iter().next())
    }

    /// [`Ledger::settlement_answer`] of several settlements in one statement and one commit, in ascending id
    /// order (ids not found are left out). Each id is claimed at most once, however often it is named.
    pub async fn settlement_answers(&self, ids: &[SettlementId]) -> Result<Vec<(Settlement, bool)>> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        // The rows to claim are locked in id order, so concurrent callers never deadlock on each other.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH claimed AS (
                UPDATE settlements SET success_reported_at = now()
                WHERE id IN (
                    SELECT id FROM settlements
                    WHERE id = ANY($1) AND status IN ('settled', 'confirmed') AND success_reported_at IS NULL
                    ORDER BY id FOR UPDATE)
                  AND success_reported_at IS NULL
                RETURNING id)
             SELECT {SETTLEMENT_COLUMNS}, s.id IN (SELECT id FROM claimed) AS claimed_now
             FROM settlements s LEFT JOIN settlement_batches b ON b.id = s.batch_id
             WHERE s.id = ANY($1) ORDER BY s.id"
        )))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((settlement_from_row(row)?, row.try_get("claimed_now")?))).collect()
    }

    /// Gives back the `success` answers of `ids` claimed by callers that left before they could be told (their
    /// request was dropped): a later caller of the same payment is told `success` instead. Only a claim whose answer
    /// never reached a caller may be released, or a payment could be answered `success` twice.
    pub async fn release_success_reports(&self, ids: &[SettlementId]) -> Result<()> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        sqlx::query("UPDATE settlements SET success_reported_at = NULL WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims the one `success` answer of a settled payment: true for the first caller only.
    pub async fn claim_success_report(&self, id: SettlementId) -> Result<bool> {
        let claimed = sqlx::query(
            "UPDATE settlements SET success_reported_at = now()
             WHERE id = $1 AND status IN ('settled', 'confirmed') AND success_reported_at IS NULL
             RETURNING id",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.is_some())
    }
}
