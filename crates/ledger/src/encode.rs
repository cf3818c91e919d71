//! Domain values to query parameters, where the SQL type is narrower than the Rust one.

/// A `u64` as `BIGINT`. Block numbers, sequence numbers, indexes, nonces and chain ids are far below 2^63 on any
/// real chain (EIP-2294 bounds chain ids at 2^53 - 1); saturate rather than wrap to a negative value.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
