//! Production Workers KV limits (contract §5).

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
pub const MAX_METADATA_BYTES: usize = 1024;
pub const MAX_LIST_LIMIT: usize = 1000;
pub const MAX_BULK_KEYS: usize = 100;
/// Bulk get results are limited by the sum of JavaScript string lengths.
pub const MAX_BULK_RESULT_UNITS: usize = 25 * 1024 * 1024;
pub const MIN_EXPIRATION_TTL_SECS: i64 = 60;
pub const MIN_CACHE_TTL_SECS: i64 = 30;
