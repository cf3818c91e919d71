//! The escrow's own primitive that more than one domain's tables name: the job id. It lives outside `index` so
//! the marketplace's tables can name a job without reaching into the indexer's.

use std::fmt;

use alloy::primitives::B256;

/// An escrow job's id: the hash of its terms (`Escrow.jobIdOf`), topic1 of every job event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub B256);

impl From<B256> for JobId {
    fn from(id: B256) -> Self {
        Self(id)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
