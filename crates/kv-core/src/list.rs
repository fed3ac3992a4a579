//! `list` options, pagination and cursors.
//!
//! A cursor is the standard base64 of the UTF-8 bytes of the last key on the
//! previous page, and a page resumes strictly after that key, whether or not it
//! still exists. Backends only answer "up to N live keys with this prefix,
//! after this key, in UTF-8 byte order" ([`crate::Storage::list_range`]).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

use crate::entry::ListedKey;
use crate::error::{KvError, Op, Result};
use crate::limits::MAX_LIST_LIMIT;
use crate::validate::check_key;

/// A validated `list` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub prefix: String,
    /// Resume strictly after this key (decoded from the cursor).
    pub start_after: Option<String>,
    pub limit: usize,
}

impl ListRequest {
    /// `limit` is the int32-converted option: absent or `<= 0` means 1000.
    pub fn new(prefix: Option<String>, limit: Option<i32>, cursor: Option<&str>) -> Result<Self> {
        // The limit is checked first: production answers a bad limit with a
        // too-long prefix with the 400 limit error, not the 414.
        let limit = match limit {
            Some(n) if n > MAX_LIST_LIMIT as i32 => return Err(KvError::ListLimitTooLarge(n.into())),
            Some(n) if n > 0 => n as usize,
            _ => MAX_LIST_LIMIT,
        };
        let prefix = prefix.unwrap_or_default();
        if !prefix.is_empty() {
            // A prefix obeys the key length rule (414), but may be "." or "".
            if let Err(e @ KvError::KeyTooLong { .. }) = check_key(Op::Get, &prefix) {
                return Err(e);
            }
        }
        let start_after = cursor.map(decode_cursor).filter(|k| !k.is_empty());
        Ok(ListRequest { prefix, start_after, limit })
    }

    /// Turns up to `limit + 1` rows from a backend into a page: the extra row
    /// only tells whether there is more.
    pub fn page(&self, mut rows: Vec<ListedKey>) -> ListPage {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let cursor = if more { rows.last().map(|k| encode_cursor(&k.name)) } else { None };
        ListPage { keys: rows, cursor }
    }

    /// How many rows to ask a backend for.
    pub fn fetch_count(&self) -> usize {
        self.limit + 1
    }

    /// Whether `key` is within this request (prefix, strictly after cursor).
    pub fn admits(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && self.start_after.as_deref().is_none_or(|after| key > after)
    }

    /// The first key a range scan should look at.
    pub fn range_start(&self) -> &str {
        match &self.start_after {
            Some(after) if after.as_str() > self.prefix.as_str() => after,
            _ => &self.prefix,
        }
    }
}

/// One page of `list`: `cursor` is present exactly when the list is incomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub keys: Vec<ListedKey>,
    pub cursor: Option<String>,
}

impl ListPage {
    pub fn list_complete(&self) -> bool {
        self.cursor.is_none()
    }
}

pub fn encode_cursor(key: &str) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Decodes a cursor as leniently as Node's `Buffer.from(s, "base64")`: both
/// alphabets, optional padding, whitespace and junk ignored, stop at `=`.
pub fn decode_cursor(cursor: &str) -> String {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let mut clean: Vec<u8> = Vec::with_capacity(cursor.len());
    for b in cursor.bytes() {
        match b {
            b'=' => break,
            b'-' => clean.push(b'+'),
            b'_' => clean.push(b'/'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => clean.push(b),
            _ => {}
        }
    }
    if clean.len() % 4 == 1 {
        clean.pop(); // a lone trailing sextet carries no whole byte
    }
    let bytes = LENIENT.decode(&clean).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ListedKey {
        ListedKey { name: name.into(), expiration: None, metadata: None }
    }

    #[test]
    fn cursors_round_trip_and_decode_leniently() {
        assert_eq!(encode_cursor("a b"), "YSBi");
        assert_eq!(encode_cursor("\u{80}"), "woA=");
        assert_eq!(encode_cursor("\u{ffff}"), "77+/");
        assert_eq!(encode_cursor("p2"), "cDI=");
        assert_eq!(decode_cursor("cDI="), "p2");
        assert_eq!(decode_cursor("cDI"), "p2");
        assert_eq!(decode_cursor("77-_"), "\u{ffff}");
        assert_eq!(decode_cursor(" Y S\nBi "), "a b");
        assert_eq!(decode_cursor("!!!"), "");
    }

    #[test]
    fn limits() {
        assert_eq!(ListRequest::new(None, None, None).unwrap().limit, 1000);
        assert_eq!(ListRequest::new(None, Some(0), None).unwrap().limit, 1000);
        assert_eq!(ListRequest::new(None, Some(-5), None).unwrap().limit, 1000);
        assert_eq!(ListRequest::new(None, Some(1000), None).unwrap().limit, 1000);
        assert_eq!(
            ListRequest::new(None, Some(1001), None).unwrap_err().to_string(),
            "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."
        );
        assert!(ListRequest::new(Some("x".repeat(512)), None, None).is_ok());
        assert_eq!(
            ListRequest::new(Some("x".repeat(513)), None, None).unwrap_err().to_string(),
            "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
        );
        assert_eq!(
            ListRequest::new(Some("x".repeat(513)), Some(1001), None).unwrap_err(),
            KvError::ListLimitTooLarge(1001),
            "the limit error wins over the prefix's"
        );
    }

    #[test]
    fn paging_has_no_trailing_empty_page() {
        let req = ListRequest::new(None, Some(2), None).unwrap();
        let page = req.page(vec![key("a"), key("b")]);
        assert!(page.list_complete());
        let page = req.page(vec![key("a"), key("b"), key("c")]);
        assert_eq!(page.keys.len(), 2);
        assert_eq!(page.cursor.as_deref(), Some("Yg=="));
    }

    #[test]
    fn admits_strictly_after_cursor() {
        let req = ListRequest::new(Some("p".into()), None, Some(&encode_cursor("p15"))).unwrap();
        assert!(!req.admits("p1"));
        assert!(!req.admits("p15"));
        assert!(req.admits("p2"));
        assert!(!req.admits("q"));
        assert_eq!(req.range_start(), "p15");
    }
}
