//! Argument rules shared by every backend: key names, put options, list
//! options and bulk requests. Type coercion (JavaScript's ToString and the
//! WebIDL int32 conversion) happens before these, in the JavaScript layer.

use crate::entry::{Now, UnixSeconds};
use crate::error::{KvError, Op, Result};
use crate::limits::*;

/// Rules for one key passed to `get`, `getWithMetadata`, `put` or `delete`.
pub fn check_key(op: Op, key: &str) -> Result<()> {
    match key {
        "" => Err(KvError::EmptyKey),
        "." | ".." => Err(KvError::DotKey(key.to_owned())),
        _ if key.len() > MAX_KEY_BYTES => Err(KvError::KeyTooLong { op, len: key.len() }),
        _ => Ok(()),
    }
}

/// Rules for one key inside a bulk `get` array (the service's own wording).
pub fn check_bulk_key(key: &str) -> Result<()> {
    match key {
        "" => Err(KvError::BulkEmptyKey),
        "." | ".." => Err(KvError::BulkIllegalKey(key.to_owned())),
        _ if key.len() > MAX_KEY_BYTES => Err(KvError::KeyTooLong { op: Op::GetBulk, len: key.len() }),
        _ => Ok(()),
    }
}

/// `cacheTtl` is validated and otherwise ignored: there is one edge location.
pub fn check_cache_ttl(op: Op, cache_ttl: Option<i32>) -> Result<()> {
    match cache_ttl {
        Some(ttl) if i64::from(ttl) < MIN_CACHE_TTL_SECS => Err(KvError::CacheTtlTooSmall { op, ttl: ttl.into() }),
        _ => Ok(()),
    }
}

/// Bulk reads accept between 1 and 100 keys and only the text and json types.
pub fn check_bulk_request(keys: &[String], value_type: &str) -> Result<()> {
    if value_type != "text" && value_type != "json" {
        return Err(KvError::BulkInvalidType(value_type.to_owned()));
    }
    if keys.is_empty() {
        return Err(KvError::BulkTooFewKeys);
    }
    if keys.len() > MAX_BULK_KEYS {
        return Err(KvError::BulkTooManyKeys);
    }
    keys.iter().try_for_each(|k| check_bulk_key(k))
}

/// Options of `put`, already converted to int32 where numeric.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub expiration: Option<i32>,
    pub expiration_ttl: Option<i32>,
    /// `JSON.stringify(metadata)`; `None` when metadata is absent or null.
    pub metadata_json: Option<String>,
    /// Metadata was given but serialises to nothing (a function, a symbol).
    pub metadata_unserialisable: bool,
}

/// Checks a put in the service's order (key, expiration, metadata, value size)
/// and resolves the absolute expiration. `expirationTtl` wins over `expiration`.
pub fn check_put(key: &str, value_len: usize, options: &PutOptions, now: Now) -> Result<Option<UnixSeconds>> {
    check_key(Op::Put, key)?;
    let now_s = now.seconds();
    let expiration = if let Some(ttl) = options.expiration_ttl {
        let ttl = i64::from(ttl);
        if ttl <= 0 {
            return Err(KvError::TtlNotPositive(ttl));
        }
        if ttl < MIN_EXPIRATION_TTL_SECS {
            return Err(KvError::TtlTooSmall(ttl));
        }
        Some(now_s.saturating_add(ttl))
    } else if let Some(exp) = options.expiration {
        let exp = i64::from(exp);
        if exp <= now_s {
            return Err(KvError::ExpirationInPast(exp));
        }
        if exp < now_s.saturating_add(MIN_EXPIRATION_TTL_SECS) {
            return Err(KvError::ExpirationTooSoon(exp));
        }
        Some(exp)
    } else {
        None
    };
    // Metadata before the value's size: production answers a too-large
    // value with too-large metadata with the metadata error.
    if options.metadata_unserialisable {
        return Err(KvError::MetadataNotSerialisable);
    }
    if let Some(json) = &options.metadata_json {
        if json.len() > MAX_METADATA_BYTES {
            return Err(KvError::MetadataTooLarge(json.len()));
        }
    }
    if value_len > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge(value_len));
    }
    Ok(expiration)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Now = Now(1_000_000_000.0 * 1000.0);

    #[test]
    fn key_rules() {
        assert_eq!(check_key(Op::Get, ""), Err(KvError::EmptyKey));
        assert_eq!(check_key(Op::Get, ".").unwrap_err().to_string(), "\".\" is not allowed as a key name.");
        assert_eq!(check_key(Op::Get, "..").unwrap_err().to_string(), "\"..\" is not allowed as a key name.");
        assert!(check_key(Op::Get, "...").is_ok());
        assert!(check_key(Op::Put, &"x".repeat(512)).is_ok());
        assert_eq!(
            check_key(Op::Delete, &"x".repeat(513)).unwrap_err().to_string(),
            "KV DELETE failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
        );
        assert_eq!(
            check_key(Op::Get, &"é".repeat(257)).unwrap_err().to_string(),
            "KV GET failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512."
        );
    }

    #[test]
    fn bulk_rules() {
        let keys = |n: usize| (0..n).map(|i| format!("k{i}")).collect::<Vec<_>>();
        assert_eq!(check_bulk_request(&[], "text"), Err(KvError::BulkTooFewKeys));
        assert!(check_bulk_request(&keys(100), "json").is_ok());
        assert_eq!(check_bulk_request(&keys(101), "text"), Err(KvError::BulkTooManyKeys));
        assert_eq!(
            check_bulk_request(&keys(1), "arrayBuffer").unwrap_err().to_string(),
            "KV GET_BULK failed: 400 \"arrayBuffer\" is not a valid type. Use \"json\" or \"text\""
        );
        assert_eq!(
            check_bulk_request(&["a".into(), ".".into()], "text").unwrap_err().to_string(),
            "KV GET_BULK failed: 400 Illegal key name \".\". Please use a different name."
        );
        assert_eq!(check_bulk_request(&["".into()], "text"), Err(KvError::BulkEmptyKey));
    }

    #[test]
    fn cache_ttl() {
        assert!(check_cache_ttl(Op::Get, Some(30)).is_ok());
        assert!(check_cache_ttl(Op::Get, None).is_ok());
        assert_eq!(
            check_cache_ttl(Op::Get, Some(29)).unwrap_err().to_string(),
            "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30."
        );
    }

    #[test]
    fn put_expiration_rules() {
        let now_s = NOW.seconds();
        let opts = |expiration, expiration_ttl| PutOptions { expiration, expiration_ttl, ..Default::default() };
        assert_eq!(check_put("k", 1, &opts(None, Some(60)), NOW), Ok(Some(now_s + 60)));
        assert_eq!(
            check_put("k", 1, &opts(None, Some(0)), NOW).unwrap_err().to_string(),
            "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0."
        );
        assert_eq!(
            check_put("k", 1, &opts(None, Some(59)), NOW).unwrap_err().to_string(),
            "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60."
        );
        // expirationTtl wins, and expiration is then not validated.
        assert_eq!(check_put("k", 1, &opts(Some(1), Some(60)), NOW), Ok(Some(now_s + 60)));
        let exp = now_s as i32;
        assert_eq!(check_put("k", 1, &opts(Some(exp), None), NOW), Err(KvError::ExpirationInPast(exp.into())));
        assert_eq!(
            check_put("k", 1, &opts(Some(exp + 59), None), NOW),
            Err(KvError::ExpirationTooSoon((exp + 59).into()))
        );
        assert_eq!(check_put("k", 1, &opts(Some(exp + 60), None), NOW), Ok(Some(now_s + 60)));
    }

    #[test]
    fn put_size_rules() {
        assert!(check_put("k", MAX_VALUE_BYTES, &PutOptions::default(), NOW).is_ok());
        assert_eq!(
            check_put("k", MAX_VALUE_BYTES + 1, &PutOptions::default(), NOW).unwrap_err().to_string(),
            "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400."
        );
        let meta = |n: usize| PutOptions { metadata_json: Some("x".repeat(n)), ..Default::default() };
        assert!(check_put("k", 0, &meta(1024), NOW).is_ok());
        assert_eq!(
            check_put("k", 0, &meta(1025), NOW).unwrap_err().to_string(),
            "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024."
        );
        let both = PutOptions { metadata_json: Some("x".repeat(2000)), ..Default::default() };
        assert_eq!(check_put("k", MAX_VALUE_BYTES + 1, &both, NOW), Err(KvError::MetadataTooLarge(2000)));
    }
}
