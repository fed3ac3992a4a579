//! Bulk writes and deletes, as wrangler's `kv bulk` commands and Cloudflare's
//! REST API take them (never the binding): the JSON formats, the per-request
//! limits, splitting a large file into requests, and per-entry validation
//! that names the entry's index and field.
//!
//! Write format: a JSON array of `{"key": string, "value": string,
//! "expiration"?: int, "expiration_ttl"?: int, "metadata"?: any JSON,
//! "base64"?: bool}`; `base64: true` means `value` is base64 and the decoded
//! bytes are stored; if both expirations are given the TTL wins (as for a
//! put). Other properties are ignored with a warning, as wrangler does.
//!
//! Delete format: a JSON array of key strings, or of `{"name": string}`
//! objects (what `kv key list` prints), or of `{"key": string, …}` objects (so
//! a file written with bulk put can be deleted with bulk delete).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::entry::{Entry, Now};
use crate::error::{KvError, Op, Result};
use crate::kv::prepare_put;
use crate::validate::{check_key, PutOptions};

/// Pairs (or keys) in one bulk request.
pub const MAX_BULK_PAIRS: usize = 10_000;
/// Bytes of one bulk request's JSON ("100 MB", decimal as Cloudflare writes it).
pub const MAX_BULK_REQUEST_BYTES: usize = 100_000_000;

/// One request's worth of a bulk file: entries `first .. first + count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkBatch {
    pub first: usize,
    pub count: usize,
    /// The entries as a JSON array (their text as in the file).
    pub json: String,
}

/// A validated bulk write: entries ready to store, and warnings about
/// ignored properties.
#[derive(Debug, Clone, Default)]
pub struct PutBatch {
    pub entries: Vec<(String, Entry)>,
    pub warnings: Vec<String>,
}

fn entry_error(index: usize, field: Option<&str>, reason: impl Into<String>) -> KvError {
    KvError::BulkEntryInvalid { index, field: field.map(Into::into), reason: reason.into() }
}

/// The top-level array of a bulk file or request, element by element.
fn parse_array(text: &str) -> Result<Vec<&RawValue>> {
    serde_json::from_str::<Vec<&RawValue>>(text).map_err(|e| {
        let trimmed = text.trim_start();
        if e.is_syntax() || e.is_eof() || trimmed.is_empty() {
            KvError::BulkRequestInvalid(format!("not valid JSON ({e})"))
        } else {
            KvError::BulkRequestInvalid("the JSON must be an array of entries".to_owned())
        }
    })
}

/// Splits a bulk file into requests within the limits (at most
/// [`MAX_BULK_PAIRS`] entries and [`MAX_BULK_REQUEST_BYTES`] bytes each),
/// keeping the order. Only the array's syntax is checked here.
pub fn split_bulk(text: &str) -> Result<Vec<BulkBatch>> {
    split_bulk_with(text, MAX_BULK_PAIRS, MAX_BULK_REQUEST_BYTES)
}

/// [`split_bulk`] with other limits (for tests).
pub fn split_bulk_with(text: &str, max_pairs: usize, max_bytes: usize) -> Result<Vec<BulkBatch>> {
    let items = parse_array(text)?;
    let mut batches = Vec::new();
    let mut current = BulkBatch { first: 0, count: 0, json: String::from("[") };
    for (index, item) in items.iter().enumerate() {
        let raw = item.get();
        // "[" + "]" around one entry.
        if raw.len() + 2 > max_bytes {
            return Err(entry_error(
                index,
                None,
                format!("is {} bytes of JSON; a request may hold at most {max_bytes}", raw.len()),
            ));
        }
        let grown = current.json.len() + usize::from(current.count > 0) + raw.len() + 1;
        if current.count == max_pairs || (current.count > 0 && grown > max_bytes) {
            current.json.push(']');
            batches
                .push(std::mem::replace(&mut current, BulkBatch { first: index, count: 0, json: String::from("[") }));
        }
        if current.count > 0 {
            current.json.push(',');
        }
        current.json.push_str(raw);
        current.count += 1;
    }
    if current.count > 0 {
        current.json.push(']');
        batches.push(current);
    }
    Ok(batches)
}

/// Checks the request limits on one batch's JSON.
fn check_request(json: &str, items: usize, noun: &str) -> Result<()> {
    if items > MAX_BULK_PAIRS {
        return Err(KvError::BulkRequestInvalid(format!(
            "{items} {noun}; a request may hold at most {MAX_BULK_PAIRS}"
        )));
    }
    if json.len() > MAX_BULK_REQUEST_BYTES {
        return Err(KvError::BulkRequestInvalid(format!(
            "{} bytes; a request may hold at most {MAX_BULK_REQUEST_BYTES}",
            json.len()
        )));
    }
    Ok(())
}

/// JSON text without insignificant whitespace (`raw` must be valid JSON).
/// Numbers and strings are kept exactly as written.
pub fn compact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// The field a put validation error is about.
fn put_error_field(error: &KvError) -> &'static str {
    match error {
        KvError::EmptyKey | KvError::DotKey(_) | KvError::KeyTooLong { .. } | KvError::KeyNotWellFormed(_) => "key",
        KvError::TtlNotPositive(_) | KvError::TtlTooSmall(_) => "expiration_ttl",
        KvError::ExpirationInPast(_) | KvError::ExpirationTooSoon(_) => "expiration",
        KvError::ValueTooLarge(_) => "value",
        _ => "metadata",
    }
}

/// A validation message without the binding's `KV PUT failed: 400 ` prefix.
fn reason(error: &KvError) -> String {
    let text = error.to_string();
    match text.strip_prefix("KV ").and_then(|rest| rest.split_once(" failed: ")) {
        Some((_, rest)) => rest.split_once(' ').map_or(rest, |(_, message)| message).to_owned(),
        None => text,
    }
}

fn string_field(index: usize, field: &str, raw: Option<&&RawValue>) -> Result<Option<String>> {
    match raw {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<String>(raw.get()).map(Some).map_err(|e| {
            if raw.get().starts_with('"') {
                entry_error(index, Some(field), format!("is not a valid string ({e})"))
            } else {
                entry_error(index, Some(field), "must be a string")
            }
        }),
    }
}

/// An optional integer field (`null` = absent) as the binding's int32.
fn int_field(index: usize, field: &str, raw: Option<&&RawValue>) -> Result<Option<i32>> {
    let Some(raw) = raw.filter(|raw| raw.get() != "null") else { return Ok(None) };
    let number: serde_json::Number = serde_json::from_str(raw.get())
        .map_err(|_| entry_error(index, Some(field), format!("must be a number of seconds; got {}", raw.get())))?;
    let whole =
        number.as_i64().or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18).map(|f| f as i64));
    let Some(whole) = whole else {
        return Err(entry_error(index, Some(field), format!("must be a whole number of seconds; got {number}")));
    };
    i32::try_from(whole)
        .map(Some)
        .map_err(|_| entry_error(index, Some(field), format!("{whole} is out of range (-2147483648 to 2147483647)")))
}

const PUT_FIELDS: [&str; 6] = ["key", "value", "expiration", "expiration_ttl", "metadata", "base64"];

/// Parses and validates one bulk write request (entries numbered from
/// `first`): every entry is checked before the caller writes any.
pub fn parse_put_batch(json: &str, first: usize, now: Now) -> Result<PutBatch> {
    let items = parse_array(json)?;
    check_request(json, items.len(), "pairs")?;
    let mut batch = PutBatch { entries: Vec::with_capacity(items.len()), warnings: Vec::new() };
    for (offset, item) in items.iter().enumerate() {
        let index = first + offset;
        let fields: BTreeMap<String, &RawValue> = serde_json::from_str(item.get())
            .map_err(|_| entry_error(index, None, "must be an object {\"key\": string, \"value\": string, …}"))?;
        let unexpected: Vec<&str> =
            fields.keys().map(String::as_str).filter(|name| !PUT_FIELDS.contains(name)).collect();
        if !unexpected.is_empty() {
            batch.warnings.push(format!(
                "entry [{index}]: unexpected propert{} {} (ignored)",
                if unexpected.len() == 1 { "y" } else { "ies" },
                unexpected.iter().map(|name| format!("{name:?}")).collect::<Vec<_>>().join(", ")
            ));
        }
        let key = string_field(index, "key", fields.get("key"))?
            .ok_or_else(|| entry_error(index, Some("key"), "is missing"))?;
        let value = string_field(index, "value", fields.get("value"))?
            .ok_or_else(|| entry_error(index, Some("value"), "is missing"))?;
        let base64 = match fields.get("base64").map(|raw| raw.get()) {
            None | Some("null") | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(entry_error(index, Some("base64"), "must be true or false")),
        };
        let value = if base64 {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(value.as_bytes())
                .map(Bytes::from)
                .map_err(|e| entry_error(index, Some("value"), format!("is not valid base64 ({e})")))?
        } else {
            Bytes::from(value.into_bytes())
        };
        let metadata_json = fields.get("metadata").map(|raw| raw.get()).filter(|raw| *raw != "null").map(compact_json);
        let options = PutOptions {
            expiration: int_field(index, "expiration", fields.get("expiration"))?,
            expiration_ttl: int_field(index, "expiration_ttl", fields.get("expiration_ttl"))?,
            metadata_json,
            metadata_unserialisable: false,
        };
        let entry = prepare_put(&key, value, options, now)
            .map_err(|e| entry_error(index, Some(put_error_field(&e)), reason(&e)))?;
        batch.entries.push((key, entry));
    }
    Ok(batch)
}

/// Parses and validates one bulk delete request: key strings, or objects
/// with `name` (else `key`), numbered from `first`.
pub fn parse_key_batch(json: &str, first: usize) -> Result<Vec<String>> {
    let items = parse_array(json)?;
    check_request(json, items.len(), "keys")?;
    let mut keys = Vec::with_capacity(items.len());
    for (offset, item) in items.iter().enumerate() {
        let index = first + offset;
        let (key, field) = if item.get().starts_with('{') {
            let fields: BTreeMap<String, &RawValue> = serde_json::from_str(item.get())
                .map_err(|e| entry_error(index, None, format!("is not a valid object ({e})")))?;
            let field = if fields.contains_key("name") || !fields.contains_key("key") { "name" } else { "key" };
            let name = string_field(index, field, fields.get(field))?
                .ok_or_else(|| entry_error(index, Some("name"), "is missing"))?;
            (name, Some(field))
        } else {
            let key = serde_json::from_str::<String>(item.get()).map_err(|_| {
                entry_error(index, None, "must be a key name (a string) or an object {\"name\": string}")
            })?;
            (key, None)
        };
        check_key(Op::Delete, &key).map_err(|e| entry_error(index, field, reason(&e)))?;
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Now = Now(1_700_000_000_000.0);
    const NOW_S: i64 = 1_700_000_000;

    #[test]
    fn splits_by_pairs_and_bytes_in_order() {
        let text = r#"[ {"key":"a","value":"1"}, {"key":"b","value":"22"}, {"key":"c","value":"333"} ]"#;
        let batches = split_bulk_with(text, 2, 1000).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].first, batches[0].count), (0, 2));
        assert_eq!(batches[0].json, r#"[{"key":"a","value":"1"},{"key":"b","value":"22"}]"#);
        assert_eq!((batches[1].first, batches[1].count), (2, 1));
        // Every batch's JSON fits the byte limit: here, the first two entries exactly.
        let limit = "[".len()
            + r#"{"key":"a","value":"1"}"#.len()
            + ",".len()
            + r#"{"key":"b","value":"22"}"#.len()
            + "]".len();
        let batches = split_bulk_with(text, 100, limit).unwrap();
        assert_eq!(batches.iter().map(|b| b.count).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(batches[0].json.len(), limit);
        assert_eq!(
            split_bulk_with(text, 100, limit - 1).unwrap().iter().map(|b| b.count).collect::<Vec<_>>(),
            [1, 1, 1]
        );
        assert!(split_bulk("[]").unwrap().is_empty());
        // An entry that alone exceeds the limit is named.
        let err = split_bulk_with(text, 100, 10).unwrap_err().to_string();
        assert!(err.starts_with("Invalid bulk entry [0]: is 23 bytes of JSON"), "{err}");
    }

    #[test]
    fn request_level_errors() {
        let err = |text: &str| split_bulk(text).unwrap_err().to_string();
        assert!(
            err("[{\"key\":").starts_with("Invalid bulk request: not valid JSON (EOF while parsing"),
            "{}",
            err("[{\"key\":")
        );
        assert_eq!(err("{\"key\":\"a\"}"), "Invalid bulk request: the JSON must be an array of entries");
        assert!(err("").starts_with("Invalid bulk request: not valid JSON"));
        let many = format!("[{}]", vec![r#"{"key":"k","value":""}"#; MAX_BULK_PAIRS + 1].join(","));
        assert_eq!(
            parse_put_batch(&many, 0, NOW).unwrap_err().to_string(),
            "Invalid bulk request: 10001 pairs; a request may hold at most 10000"
        );
        assert_eq!(split_bulk(&many).unwrap().iter().map(|b| b.count).collect::<Vec<_>>(), [10_000, 1]);
    }

    #[test]
    fn put_entries_round_trip() {
        let text = format!(
            r#"[{{"key":"plain","value":"v"}},
               {{"key":"bin","value":"AP8=","base64":true,"expiration_ttl":60,"expiration":1}},
               {{"key":"meta","value":"","metadata":{{ "a" : [1, "x y"] }},"expiration":{}}},
               {{"key":"nullmeta","value":"n","metadata":null,"extra":1}}]"#,
            NOW_S + 100
        );
        let batch = parse_put_batch(&text, 0, NOW).unwrap();
        let entries = &batch.entries;
        assert_eq!(entries[0], ("plain".into(), Entry::new(Bytes::from_static(b"v"))));
        assert_eq!(entries[1].1.value, Bytes::from_static(&[0, 255]));
        assert_eq!(entries[1].1.expiration, Some(NOW_S + 60), "the TTL wins");
        assert_eq!(entries[2].1.metadata.as_deref(), Some(r#"{"a":[1,"x y"]}"#));
        assert_eq!(entries[2].1.expiration, Some(NOW_S + 100));
        assert_eq!(entries[3].1.metadata, None);
        assert_eq!(batch.warnings, ["entry [3]: unexpected property \"extra\" (ignored)"]);
    }

    #[test]
    fn bad_entries_are_named_by_index_and_field() {
        let err = |entry: &str| {
            parse_put_batch(&format!(r#"[{{"key":"ok","value":"v"}},{entry}]"#), 10, NOW).unwrap_err().to_string()
        };
        assert_eq!(err(r#"{"value":"v"}"#), r#"Invalid bulk entry [11], field "key": is missing"#);
        assert_eq!(err(r#"{"key":1,"value":"v"}"#), r#"Invalid bulk entry [11], field "key": must be a string"#);
        assert_eq!(err(r#"{"key":"k"}"#), r#"Invalid bulk entry [11], field "value": is missing"#);
        assert_eq!(err(r#"{"key":"k","value":{}}"#), r#"Invalid bulk entry [11], field "value": must be a string"#);
        assert_eq!(err(r#""k""#), r#"Invalid bulk entry [11]: must be an object {"key": string, "value": string, …}"#);
        assert_eq!(
            err(r#"{"key":"","value":"v"}"#),
            r#"Invalid bulk entry [11], field "key": Key name cannot be empty."#
        );
        assert_eq!(
            err(&format!(r#"{{"key":"{}","value":"v"}}"#, "k".repeat(513))),
            r#"Invalid bulk entry [11], field "key": UTF-8 encoded length of 513 exceeds key length limit of 512."#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"v","expiration_ttl":30}"#),
            r#"Invalid bulk entry [11], field "expiration_ttl": Invalid expiration_ttl of 30. Expiration TTL must be at least 60."#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"v","expiration":5}"#),
            r#"Invalid bulk entry [11], field "expiration": Invalid expiration of 5. Please specify integer greater than the current number of seconds since the UNIX epoch."#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"v","expiration":1.5}"#),
            r#"Invalid bulk entry [11], field "expiration": must be a whole number of seconds; got 1.5"#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"v","expiration_ttl":"60"}"#),
            r#"Invalid bulk entry [11], field "expiration_ttl": must be a number of seconds; got "60""#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"v","expiration":99999999999}"#),
            r#"Invalid bulk entry [11], field "expiration": 99999999999 is out of range (-2147483648 to 2147483647)"#
        );
        assert_eq!(
            err(&format!(r#"{{"key":"k","value":"v","metadata":"{}"}}"#, "m".repeat(1023))),
            r#"Invalid bulk entry [11], field "metadata": Metadata length of 1025 exceeds limit of 1024."#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"*","base64":true}"#),
            r#"Invalid bulk entry [11], field "value": is not valid base64 (Invalid symbol 42, offset 0.)"#
        );
        assert_eq!(
            err(r#"{"key":"k","value":"v","base64":1}"#),
            r#"Invalid bulk entry [11], field "base64": must be true or false"#
        );
        assert!(err(r#"{"key":"\ud800","value":"v"}"#)
            .starts_with(r#"Invalid bulk entry [11], field "key": is not a valid string ("#));
        let big = format!(r#"{{"key":"k","value":"{}"}}"#, "x".repeat(crate::limits::MAX_VALUE_BYTES + 1));
        assert_eq!(
            err(&big),
            r#"Invalid bulk entry [11], field "value": Value length of 26214401 exceeds limit of 26214400."#
        );
    }

    #[test]
    fn key_batches() {
        assert_eq!(
            parse_key_batch(r#"["a", {"name":"b","expiration":1}, {"key":"c","value":"v"}]"#, 0).unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(
            parse_key_batch(r#"["a", ""]"#, 5).unwrap_err().to_string(),
            "Invalid bulk entry [6]: Key name cannot be empty."
        );
        assert_eq!(
            parse_key_batch(r#"[{"value":"a"}]"#, 0).unwrap_err().to_string(),
            r#"Invalid bulk entry [0], field "name": is missing"#
        );
        assert_eq!(
            parse_key_batch("[1]", 0).unwrap_err().to_string(),
            r#"Invalid bulk entry [0]: must be a key name (a string) or an object {"name": string}"#
        );
    }

    #[test]
    fn compacting_keeps_strings() {
        assert_eq!(compact_json(" { \"a b\" : [ 1 , \"x\\\" y\" ] }\n"), r#"{"a b":[1,"x\" y"]}"#);
    }
}
