//! The KV error taxonomy. Every message is the exact text a deployed Worker
//! sees (see `shared/spec/kv-contract.md`, "Error catalogue"); the binding only
//! decides whether JavaScript gets a `TypeError` or a plain `Error`.

use std::fmt;

use crate::limits::{MAX_KEY_BYTES, MAX_METADATA_BYTES, MAX_VALUE_BYTES};

/// Which KV operation failed; it appears in messages as `KV <OP> failed: …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `get`, `getWithMetadata` and `list`.
    Get,
    /// The array forms of `get` and `getWithMetadata`.
    GetBulk,
    Put,
    Delete,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Get => "GET",
            Op::GetBulk => "GET_BULK",
            Op::Put => "PUT",
            Op::Delete => "DELETE",
        })
    }
}

/// JavaScript class an error surfaces as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    TypeError,
    Error,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    #[error("Key name cannot be empty.")]
    EmptyKey,
    /// `"."` or `".."` as a single key.
    #[error("\"{0}\" is not allowed as a key name.")]
    DotKey(String),
    #[error("KV {op} failed: 414 UTF-8 encoded length of {len} exceeds key length limit of {MAX_KEY_BYTES}.")]
    KeyTooLong { op: Op, len: usize },
    #[error("KV {0} failed: 400 Could not URL-decode key name")]
    KeyNotWellFormed(Op),

    #[error("KV GET_BULK failed: 400 Key names must not be empty")]
    BulkEmptyKey,
    #[error("KV GET_BULK failed: 400 Illegal key name \"{0}\". Please use a different name.")]
    BulkIllegalKey(String),
    #[error("KV GET_BULK failed: 400 You must request a minimum of 1 key")]
    BulkTooFewKeys,
    #[error("KV GET_BULK failed: 400 You can request a maximum of 100 keys")]
    BulkTooManyKeys,
    #[error("KV GET_BULK failed: 400 \"{0}\" is not a valid type. Use \"json\" or \"text\"")]
    BulkInvalidType(String),
    #[error("KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value")]
    BulkNonJsonValue,
    #[error("KV GET_BULK failed: 413 Total size of request exceeds the limit of 25MB")]
    BulkTooLarge,

    #[error("KV {op} failed: 400 Invalid cache_ttl of {ttl}. Cache TTL must be at least 30.")]
    CacheTtlTooSmall { op: Op, ttl: i64 },

    #[error("KV PUT failed: 413 Value length of {0} exceeds limit of {MAX_VALUE_BYTES}.")]
    ValueTooLarge(usize),
    #[error("KV PUT failed: 413 Metadata length of {0} exceeds limit of {MAX_METADATA_BYTES}.")]
    MetadataTooLarge(usize),
    /// Metadata whose JSON serialisation is `undefined` (a function, a symbol).
    #[error("KV PUT failed: 500 Internal Server Error")]
    MetadataNotSerialisable,
    #[error("KV PUT failed: 400 Invalid expiration_ttl of {0}. Please specify integer greater than 0.")]
    TtlNotPositive(i64),
    #[error("KV PUT failed: 400 Invalid expiration_ttl of {0}. Expiration TTL must be at least 60.")]
    TtlTooSmall(i64),
    #[error("KV PUT failed: 400 Invalid expiration of {0}. Please specify integer greater than the current number of seconds since the UNIX epoch.")]
    ExpirationInPast(i64),
    #[error(
        "KV PUT failed: 400 Invalid expiration of {0}. Expiration times must be at least 60 seconds in the future."
    )]
    ExpirationTooSoon(i64),

    #[error("KV GET failed: 400 Invalid key_count_limit of {0}. Please specify an integer less than 1000.")]
    ListLimitTooLarge(i64),

    /// A backend failed (I/O, Redis, sled). The message names the resource.
    #[error("{0}")]
    Storage(String),

    // Namespace administration and bulk writes (command line, REST API); see
    // `crate::admin`. Not reachable from a Worker's binding.
    #[error("KV namespace {0:?} not found.")]
    NamespaceNotFound(String),
    #[error("A KV namespace with the title {0:?} already exists.")]
    NamespaceTitleExists(String),
    #[error("Invalid KV namespace title: {0}")]
    NamespaceTitleInvalid(String),
    /// A bulk request that cannot be taken as a whole (not JSON, not an
    /// array, over the pair or size limit).
    #[error("Invalid bulk request: {0}")]
    BulkRequestInvalid(String),
    /// One entry of a bulk request; `index` is its position in the request
    /// (or file), `field` the property at fault, if one is.
    #[error("Invalid bulk entry [{index}]{}: {reason}", field.as_ref().map(|f| format!(", field \"{f}\"")).unwrap_or_default())]
    BulkEntryInvalid { index: usize, field: Option<String>, reason: String },
}

impl KvError {
    pub fn class(&self) -> ErrorClass {
        match self {
            KvError::EmptyKey | KvError::DotKey(_) => ErrorClass::TypeError,
            _ => ErrorClass::Error,
        }
    }

    pub fn storage(message: impl Into<String>) -> Self {
        KvError::Storage(message.into())
    }
}

pub type Result<T, E = KvError> = std::result::Result<T, E>;
