//! The catalog's search, in memory: an index of documents' PostgreSQL search vectors that answers a conjunction of
//! lexemes (`'seo' & 'audit'`) with exactly what PostgreSQL answers for it: the documents `search @@ query` matches,
//! ordered by `ts_rank_cd(search, query)` (default weights, no normalisation) and then by the caller's tie-breaking
//! keys, and how many there are.
//!
//! PostgreSQL still does the language work: documents arrive as the text of their stored `tsvector` and queries as
//! the text of a parsed `tsquery` ([`text`]), so stemming, stop words and the parser are its own. What this crate
//! owns is what costs PostgreSQL a heap row and a rank per match: the intersection of posting lists and the cover
//! density ranking ([`rank`]), at a few nanoseconds a posting instead of microseconds a match.

pub mod index;
pub mod rank;
pub mod text;

pub use index::{Document, Filter, Order, Page, SearchIndex};
pub use rank::{Position, rank_cd};
pub use text::{TextError, conjunction, parse_tsvector};
