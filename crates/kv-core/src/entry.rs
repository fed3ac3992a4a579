//! What is stored for one key, and what `list` reports about it.

use std::sync::Arc;

use bytes::Bytes;

/// Seconds since the UNIX epoch, as KV reports expirations.
pub type UnixSeconds = i64;

/// "Now" in milliseconds since the epoch. Passed in with every call (from
/// JavaScript's `Date.now()`) so fake timers in tests move KV time too.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Now(pub f64);

impl Now {
    pub fn seconds(self) -> UnixSeconds {
        (self.0 / 1000.0).floor() as UnixSeconds
    }
    pub fn from_system_clock() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as f64)
            .unwrap_or(0.0);
        Now(ms)
    }
}

/// A stored value with its optional expiration and metadata (JSON text).
/// Values are shared (`Bytes`) so snapshots and readers never copy them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Bytes,
    pub expiration: Option<UnixSeconds>,
    pub metadata: Option<Arc<str>>,
}

impl Entry {
    pub fn new(value: impl Into<Bytes>) -> Self {
        Entry { value: value.into(), expiration: None, metadata: None }
    }

    /// A key is expired from the first millisecond of its expiration second.
    pub fn is_expired(&self, now: Now) -> bool {
        is_expired(self.expiration, now)
    }

    pub fn listed(&self, name: &str) -> ListedKey {
        ListedKey { name: name.to_owned(), expiration: self.expiration, metadata: self.metadata.clone() }
    }
}

pub fn is_expired(expiration: Option<UnixSeconds>, now: Now) -> bool {
    matches!(expiration, Some(exp) if exp <= now.seconds())
}

/// One key of a `list` page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    pub name: String,
    pub expiration: Option<UnixSeconds>,
    pub metadata: Option<Arc<str>>,
}
