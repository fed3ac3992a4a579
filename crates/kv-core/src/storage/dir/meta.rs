//! The `<file>.meta.json` side file.
//!
//! Miniflare 2 writes `{"key":…,"expiration":…,"metadata":…}` (fields left out
//! when absent). This backend writes the same fields, in the same order, and
//! adds two that Miniflare 2 ignores:
//! - `valueHash`: BLAKE3 (128 bits, hex) of the value bytes this metadata
//!   belongs to, so that a reader can tell whether the value file next to it is
//!   the one it was written with;
//! - `valueFrom`: the temporary file the value was renamed from. While that
//!   file exists the write is not finished and the temporary file holds the
//!   value (see the write protocol in `dir.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::entry::UnixSeconds;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaFile {
    pub key: Option<String>,
    pub expiration: Option<UnixSeconds>,
    /// JSON text, `null` included (metadata that serialised to null is
    /// listed as `metadata: null`); `None` when absent.
    pub metadata: Option<Arc<str>>,
    pub value_hash: Option<String>,
    pub value_from: Option<String>,
}

/// The fingerprint stored as `valueHash`.
pub fn value_hash(value: &[u8]) -> String {
    let hash = blake3::hash(value);
    let mut hex = String::with_capacity(32);
    for byte in &hash.as_bytes()[..16] {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

impl MetaFile {
    /// Parses a meta file; the error text explains what is wrong.
    pub fn parse(text: &[u8]) -> Result<MetaFile, String> {
        let fields: HashMap<String, Box<RawValue>> =
            serde_json::from_slice(text).map_err(|e| format!("not a JSON object ({e})"))?;
        let string = |name: &str| -> Result<Option<String>, String> {
            match fields.get(name).map(|raw| raw.get()) {
                None | Some("null") => Ok(None),
                Some(raw) => serde_json::from_str(raw).map(Some).map_err(|_| format!("\"{name}\" is not a string")),
            }
        };
        let expiration = match fields.get("expiration").map(|raw| raw.get()) {
            None | Some("null") => None,
            Some(raw) => {
                let number: f64 = serde_json::from_str(raw).map_err(|_| "\"expiration\" is not a number".to_owned())?;
                Some(number.trunc() as UnixSeconds)
            }
        };
        let metadata = fields.get("metadata").map(|raw| Arc::from(raw.get()));
        Ok(MetaFile {
            key: string("key")?,
            expiration,
            metadata,
            value_hash: string("valueHash")?,
            value_from: string("valueFrom")?,
        })
    }

    /// The file's text: compact JSON, `key` first, absent fields left out.
    /// `metadata` must be JSON text (checked by the caller).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push('{');
        let mut field = |name: &str, json: &str| {
            if out.len() > 1 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            out.push_str(json);
        };
        if let Some(key) = &self.key {
            field("key", &json_string(key));
        }
        if let Some(expiration) = self.expiration {
            field("expiration", &expiration.to_string());
        }
        if let Some(metadata) = &self.metadata {
            field("metadata", metadata);
        }
        if let Some(hash) = &self.value_hash {
            field("valueHash", &json_string(hash));
        }
        if let Some(from) = &self.value_from {
            field("valueFrom", &json_string(from));
        }
        out.push('}');
        out
    }
}

fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_miniflare2_and_parses_back() {
        let meta = MetaFile {
            key: Some("with-both".into()),
            expiration: Some(2000000000),
            metadata: Some(Arc::from("[1,2]")),
            ..Default::default()
        };
        assert_eq!(meta.render(), r#"{"key":"with-both","expiration":2000000000,"metadata":[1,2]}"#);
        assert_eq!(MetaFile::parse(meta.render().as_bytes()).unwrap(), meta);
        let ctl = MetaFile { key: Some("ctl\u{1}\u{85}".into()), ..Default::default() };
        assert_eq!(ctl.render(), "{\"key\":\"ctl\\u0001\u{85}\"}");
    }

    #[test]
    fn metadata_is_kept_verbatim_even_null() {
        let meta = MetaFile::parse(br#"{"key":"k","metadata":{"b":1.50,"a":"\u00fc"}}"#).unwrap();
        assert_eq!(meta.metadata.as_deref(), Some(r#"{"b":1.50,"a":"\u00fc"}"#));
        assert_eq!(MetaFile::parse(br#"{"key":"n","metadata":null}"#).unwrap().metadata.as_deref(), Some("null"));
        assert_eq!(MetaFile::parse(br#"{"key":"n"}"#).unwrap().metadata, None);
        assert_eq!(MetaFile::parse(br#"{"expiration":1.9e9}"#).unwrap().expiration, Some(1_900_000_000));
        assert!(MetaFile::parse(b"not json").is_err());
        assert!(MetaFile::parse(br#"{"key":5}"#).is_err());
    }
}
