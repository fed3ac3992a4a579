//! The Redis layout: key names, the meta record, expiry and list bounds
//! (see the table in the parent module).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::entry::{Entry, Now, UnixSeconds};
use crate::list::ListRequest;

/// How far ahead the Redis expiry is put when the caller's clock is behind.
const EXPIRY_FLOOR_SECONDS: i64 = 60;
const EXPIRY_WHEN_CLOCK_BEHIND_SECONDS: i64 = 24 * 60 * 60;

/// What a meta key holds.
#[derive(Debug, PartialEq)]
pub(super) enum StoredMeta {
    /// Our record.
    Record { expiration: Option<UnixSeconds>, metadata: Option<Arc<str>> },
    /// Miniflare 2: metadata JSON or nothing; the expiry is the key's TTL.
    Miniflare2 { metadata: Option<Arc<str>> },
}

impl StoredMeta {
    pub(super) fn parse(key: &str, meta: Option<&[u8]>) -> StoredMeta {
        let Some(meta) = meta else { return StoredMeta::Miniflare2 { metadata: None } };
        let text = String::from_utf8_lossy(meta);
        parse_record(key, &text).unwrap_or_else(|| StoredMeta::Miniflare2 { metadata: Some(Arc::from(text.as_ref())) })
    }
}

/// Our meta record: `{"key":…,"expiration":…,"metadata":…}`, nothing else.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Record<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(default)]
    expiration: Option<UnixSeconds>,
    /// Present (even as `null`) or absent: `null` is kept, since metadata
    /// that serialised to null is listed as `metadata: null`.
    #[serde(default, borrow, deserialize_with = "present_raw")]
    metadata: Option<&'a RawValue>,
}

/// A field that is there, whatever its JSON value (`Option<&RawValue>`
/// alone would turn `null` into absent).
fn present_raw<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    serde::Deserialize::deserialize(deserializer).map(Some)
}

pub(super) fn parse_record(key: &str, text: &str) -> Option<StoredMeta> {
    let record: Record = serde_json::from_str(text).ok()?;
    if record.key != key {
        return None;
    }
    let metadata = record.metadata.map(|raw| Arc::from(raw.get()));
    Some(StoredMeta::Record { expiration: record.expiration, metadata })
}

pub(super) fn encode_record(key: &str, entry: &Entry) -> String {
    let mut record = String::with_capacity(key.len() + entry.metadata.as_deref().map_or(0, str::len) + 48);
    record.push_str(r#"{"key":"#);
    record.push_str(&serde_json::to_string(key).expect("a string always serialises"));
    if let Some(expiration) = entry.expiration {
        record.push_str(&format!(r#","expiration":{expiration}"#));
    }
    if let Some(metadata) = &entry.metadata {
        record.push_str(r#","metadata":"#);
        record.push_str(metadata);
    }
    record.push('}');
    record
}

/// When Redis should drop an entry expiring at `expiration` (caller's clock).
pub(super) fn redis_expiry(expiration: UnixSeconds) -> UnixSeconds {
    let real_now = Now::from_system_clock().seconds();
    if expiration >= real_now + EXPIRY_FLOOR_SECONDS {
        expiration
    } else {
        // Validation guarantees 60 s ahead by the caller's clock, so that
        // clock is behind: keep the entry for a day; reads hide it on time.
        real_now + EXPIRY_WHEN_CLOCK_BEHIND_SECONDS
    }
}

/// The namespace as it starts Redis key names. Miniflare 2 used the raw name,
/// which lets namespace "n" key "x:value:y" and namespace "n:value:x" key "y"
/// share one Redis key. Escaping `:` (and `%`) in the namespace makes the
/// first `:` the end of the namespace, so names never alias; plain names
/// (every Miniflare 2 binding name) are unchanged.
pub(super) fn namespace_part(namespace: &str) -> Cow<'_, str> {
    if !namespace.contains([':', '%']) {
        return Cow::Borrowed(namespace);
    }
    Cow::Owned(namespace.replace('%', "%25").replace(':', "%3A"))
}

/// The Redis key names of one namespace. On a Redis Cluster the namespace
/// part is wrapped in a hash tag (`{<part>}:value:<key>`), so that every key
/// of a namespace lives in one slot: `MULTI`, scripts and `ZRANGEBYLEX` over
/// its index keep working. Whatever `<part>` holds, the tag ends at the first
/// `}` after the leading `{`, which is the same position in all of the
/// namespace's keys, so they still share a slot.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct KeySpace {
    part: String,
}

impl KeySpace {
    pub(super) fn new(namespace: &str, cluster: bool) -> KeySpace {
        let part = namespace_part(namespace);
        KeySpace { part: if cluster { format!("{{{part}}}") } else { part.into_owned() } }
    }

    /// What starts every key of the namespace, before `:value:` and the like.
    pub(super) fn part(&self) -> &str {
        &self.part
    }

    pub(super) fn value(&self, key: &str) -> Vec<u8> {
        [self.part.as_bytes(), b":value:", key.as_bytes()].concat()
    }

    pub(super) fn meta(&self, key: &str) -> Vec<u8> {
        [self.part.as_bytes(), b":meta:", key.as_bytes()].concat()
    }

    pub(super) fn index(&self) -> Vec<u8> {
        [self.part.as_bytes(), b":index"].concat()
    }
}

/// The namespace id that a key's part (as [`KeySpace::part`] writes it) stands for.
pub(super) fn namespace_of_part(part: &str) -> String {
    let part = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(part);
    part.replace("%3A", ":").replace("%25", "%")
}

/// `ZRANGEBYLEX` bounds for the request: from the prefix (inclusive) or
/// strictly after the cursor key, to the end of the prefix. UTF-8 never
/// contains the byte 0xFF, so `prefix + 0xFF` is above every key with it.
pub(super) fn lex_bounds(request: &ListRequest) -> (Vec<u8>, Vec<u8>) {
    let prefix = request.prefix.as_bytes();
    let lower = match &request.start_after {
        Some(after) if after.as_str() >= request.prefix.as_str() => [b"(", after.as_bytes()].concat(),
        _ if prefix.is_empty() => b"-".to_vec(),
        _ => [b"[", prefix].concat(),
    };
    let upper = if prefix.is_empty() { b"+".to_vec() } else { [b"(", prefix, b"\xff"].concat() };
    (lower, upper)
}

/// Makes `text` match itself literally in a `SCAN MATCH` pattern.
pub(super) fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn records_round_trip_and_keep_metadata_text() {
        let entry = Entry {
            value: Bytes::new(),
            expiration: Some(1_700_000_060),
            metadata: Some(r#"{"b":1,"a":[0.5,false]}"#.into()),
        };
        let record = encode_record("k\"é", &entry);
        assert_eq!(record, r#"{"key":"k\"é","expiration":1700000060,"metadata":{"b":1,"a":[0.5,false]}}"#);
        assert_eq!(
            StoredMeta::parse("k\"é", Some(record.as_bytes())),
            StoredMeta::Record { expiration: entry.expiration, metadata: entry.metadata }
        );
        let plain = encode_record("k", &Entry::new(Bytes::new()));
        assert_eq!(plain, r#"{"key":"k"}"#);
        assert_eq!(
            StoredMeta::parse("k", Some(plain.as_bytes())),
            StoredMeta::Record { expiration: None, metadata: None }
        );
        for falsy in ["0", "false", r#""""#, "null"] {
            let entry = Entry { value: Bytes::new(), expiration: None, metadata: Some(falsy.into()) };
            let record = encode_record("k", &entry);
            assert_eq!(
                StoredMeta::parse("k", Some(record.as_bytes())),
                StoredMeta::Record { expiration: None, metadata: Some(falsy.into()) }
            );
        }
    }

    #[test]
    fn miniflare2_metadata_is_not_mistaken_for_a_record() {
        let mf2 = |text: &str| StoredMeta::Miniflare2 { metadata: Some(text.into()) };
        for text in [r#"{"a":1}"#, "1", r#""text""#, "[1,2]", r#"{"key":"other"}"#, r#"{"key":"k","x":1}"#, "not json"]
        {
            assert_eq!(StoredMeta::parse("k", Some(text.as_bytes())), mf2(text), "{text}");
        }
        assert_eq!(StoredMeta::parse("k", None), StoredMeta::Miniflare2 { metadata: None });
    }

    #[test]
    fn lex_bounds_cover_the_prefix_after_the_cursor() {
        let request = |prefix: &str, after: Option<&str>| ListRequest {
            prefix: prefix.into(),
            start_after: after.map(Into::into),
            limit: 10,
        };
        assert_eq!(lex_bounds(&request("", None)), (b"-".to_vec(), b"+".to_vec()));
        assert_eq!(lex_bounds(&request("p", None)), (b"[p".to_vec(), b"(p\xff".to_vec()));
        assert_eq!(lex_bounds(&request("p", Some("p1"))), (b"(p1".to_vec(), b"(p\xff".to_vec()));
        assert_eq!(lex_bounds(&request("p", Some("a"))), (b"[p".to_vec(), b"(p\xff".to_vec()));
        assert_eq!(lex_bounds(&request("", Some("a"))), (b"(a".to_vec(), b"+".to_vec()));
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d");
    }

    #[test]
    fn cluster_keys_share_one_hash_tag_and_plain_keys_stay_as_miniflare2_wrote_them() {
        let plain = KeySpace::new("NS", false);
        assert_eq!(plain.value("k"), b"NS:value:k");
        assert_eq!(plain.meta("k"), b"NS:meta:k");
        assert_eq!(plain.index(), b"NS:index");
        let tagged = KeySpace::new("a:b%", true);
        assert_eq!(tagged.value("k"), b"{a%3Ab%25}:value:k");
        assert_eq!(tagged.index(), b"{a%3Ab%25}:index");
        for part in [plain.part(), tagged.part()] {
            assert_eq!(namespace_of_part(part), if part == "NS" { "NS" } else { "a:b%" });
        }
    }
}
