//! `GET /audit/records/{seq}`: a record, its proof and its anchor, exactly what `clearing audit verify` reads.
//!
//! 404 `{error: "not_found"}` for a sequence number not yet given; 409 `{error: "not_anchored", record}` for a
//! record no anchor covers yet; 400 for a path that is not a number; opaque 500 otherwise.

use axum::{
    Json, Router,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use clearing_ledger::Ledger;
use serde::Serialize;
use tracing::error;

use crate::{Record, RecordStatus, record_proof};

/// What the audit routes read.
#[derive(Debug, Clone)]
pub struct AuditState {
    ledger: Ledger,
    chain_id: u64,
}

impl AuditState {
    /// The records of `chain_id` in `ledger`.
    pub const fn new(ledger: Ledger, chain_id: u64) -> Self {
        Self { ledger, chain_id }
    }
}

/// The audit routes: `GET /audit/records/{seq}`.
pub fn router(state: AuditState) -> Router {
    Router::new().route("/audit/records/{seq}", get(record)).with_state(state)
}

async fn record(
    State(state): State<AuditState>,
    seq: Result<Path<u64>, PathRejection>,
) -> Result<Response, AuditApiError> {
    let Path(seq) = seq.map_err(|e| AuditApiError::InvalidSeq(e.body_text()))?;
    match record_proof(&state.ledger, state.chain_id, seq).await {
        Ok(RecordStatus::Anchored(proof)) => Ok(Json(proof).into_response()),
        Ok(RecordStatus::NotAnchored(record)) => Err(AuditApiError::NotAnchored(record)),
        Ok(RecordStatus::Unknown) => Err(AuditApiError::NotFound(seq)),
        Err(e) => {
            error!(seq, error = %e, "audit record lookup failed");
            Err(AuditApiError::Internal)
        }
    }
}

/// Every non-200 answer of the audit routes, as JSON `{error, message}`.
#[derive(Debug, thiserror::Error)]
pub enum AuditApiError {
    /// The path's sequence number is not a number.
    #[error("invalid sequence number: {0}")]
    InvalidSeq(String),
    /// No record has the sequence number.
    #[error("no audit record {0}")]
    NotFound(u64),
    /// The record exists but no anchor covers it yet.
    #[error("audit record {} is sequenced but not anchored yet; retry after the next anchor", .0.seq)]
    NotAnchored(Box<Record>),
    /// Anything else; details go to the log, never to the client.
    #[error("internal error")]
    Internal,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Record>,
}

impl IntoResponse for AuditApiError {
    fn into_response(self) -> Response {
        let (status, code, record) = match &self {
            Self::InvalidSeq(_) => (StatusCode::BAD_REQUEST, "invalid_request", None),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            Self::NotAnchored(record) => (StatusCode::CONFLICT, "not_anchored", Some(record.as_ref())),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        (status, Json(ErrorBody { error: code, message: self.to_string(), record })).into_response()
    }
}
