//! Namespace administration and bulk operations on [`Kv`] and [`AsyncKv`],
//! for the command line and the local REST API: namespaces get random
//! 32-hex-digit ids and unique titles; bulk requests are validated entry by
//! entry before anything is written (see [`crate::bulk`]).
//!
//! A namespace "exists" when it is registered or holds at least one live key
//! (so data written under a wrangler.toml id without `namespace create` is
//! still a namespace).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bulk::{parse_key_batch, parse_put_batch};
use crate::entry::Now;
use crate::error::{KvError, Result};
use crate::kv::{AsyncKv, Kv};
use crate::list::ListRequest;
use crate::storage::admin::{AsyncNamespaceAdmin, NamespaceAdmin, NamespaceInfo};

/// Longest namespace title, in characters (Cloudflare's API limit).
pub const MAX_TITLE_CHARS: usize = 512;

/// What a bulk request did (or, when only checked, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Entries written or deleted (or that would be).
    pub count: usize,
    /// Properties that were ignored, per entry.
    pub warnings: Vec<String>,
}

/// A new namespace id: 32 lowercase hex digits, as Cloudflare's. 128 bits
/// from the operating system's hash keys (random per process), the clock,
/// the process id and a counter, mixed by BLAKE3.
pub fn new_namespace_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = blake3::Hasher::new();
    for salt in 0..2u64 {
        let mut random = RandomState::new().build_hasher();
        random.write_u64(count ^ salt);
        hasher.update(&random.finish().to_le_bytes());
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&count.to_le_bytes());
    hasher.finalize().as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Titles: 1 to 512 characters, not only spaces.
pub fn check_title(title: &str) -> Result<()> {
    let chars = title.chars().count();
    if title.trim().is_empty() {
        return Err(KvError::NamespaceTitleInvalid("a title cannot be empty.".to_owned()));
    }
    if chars > MAX_TITLE_CHARS {
        return Err(KvError::NamespaceTitleInvalid(format!("{chars} characters; the limit is {MAX_TITLE_CHARS}.")));
    }
    Ok(())
}

fn one_key() -> ListRequest {
    ListRequest::new(None, Some(1), None).expect("a limit of 1 is valid")
}

impl<S: NamespaceAdmin + ?Sized> Kv<S> {
    /// Registered namespaces, in id order.
    pub fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        self.storage().namespaces()
    }

    /// Registers a new namespace with a fresh id.
    pub fn create_namespace(&self, title: &str) -> Result<NamespaceInfo> {
        check_title(title)?;
        let info = NamespaceInfo { id: new_namespace_id(), title: title.to_owned() };
        self.storage().create_namespace(&info)?;
        Ok(info)
    }

    /// Gives `id` a new title. A namespace that only holds data (never
    /// registered) is registered with that title: naming it is what
    /// `namespace create` would have done.
    pub fn rename_namespace(&self, id: &str, title: &str) -> Result<NamespaceInfo> {
        check_title(title)?;
        let info = NamespaceInfo { id: id.to_owned(), title: title.to_owned() };
        let registered = self.namespaces()?.iter().any(|known| known.id == id);
        if !registered && self.storage().stored_namespaces()?.iter().any(|stored| stored == id) {
            self.storage().create_namespace(&info)?;
        } else {
            self.storage().rename_namespace(id, title)?;
        }
        Ok(info)
    }

    /// Namespaces that hold a live key but are not registered, in id order.
    pub fn data_namespaces(&self, now: Now) -> Result<Vec<String>> {
        let registered: std::collections::HashSet<String> =
            self.namespaces()?.into_iter().map(|info| info.id).collect();
        let mut found = Vec::new();
        for id in self.storage().stored_namespaces()? {
            if !registered.contains(&id) && self.holds_live_key(&id, now)? {
                found.push(id);
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    fn holds_live_key(&self, id: &str, now: Now) -> Result<bool> {
        Ok(!self.storage().list_range(id, &one_key(), now)?.is_empty())
    }

    /// Whether `id` is registered or holds a live key.
    pub fn namespace_exists(&self, id: &str, now: Now) -> Result<bool> {
        if self.namespaces()?.iter().any(|info| info.id == id) {
            return Ok(true);
        }
        Ok(!self.storage().list_range(id, &one_key(), now)?.is_empty())
    }

    /// Deletes every key of `id` and its registry entry;
    /// [`KvError::NamespaceNotFound`] if it does not exist.
    pub fn delete_namespace(&self, id: &str, now: Now) -> Result<()> {
        if !self.namespace_exists(id, now)? {
            return Err(KvError::NamespaceNotFound(id.to_owned()));
        }
        self.storage().delete_namespace(id).map(drop)
    }

    /// Validates one bulk write request (entries numbered from `first`);
    /// unless `check_only`, then writes all of it.
    pub fn put_bulk(&self, ns: &str, json: &str, first: usize, now: Now, check_only: bool) -> Result<BulkOutcome> {
        let batch = parse_put_batch(json, first, now)?;
        if !check_only {
            self.storage().put_many(ns, &batch.entries)?;
        }
        Ok(BulkOutcome { count: batch.entries.len(), warnings: batch.warnings })
    }

    /// Validates one bulk delete request; unless `check_only`, deletes the keys.
    pub fn delete_bulk(&self, ns: &str, json: &str, first: usize, check_only: bool) -> Result<BulkOutcome> {
        let keys = parse_key_batch(json, first)?;
        if !check_only {
            self.storage().delete_many(ns, &keys)?;
        }
        Ok(BulkOutcome { count: keys.len(), warnings: Vec::new() })
    }
}

impl<S: AsyncNamespaceAdmin> AsyncKv<S> {
    pub async fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        self.storage().namespaces().await
    }

    pub async fn create_namespace(&self, title: &str) -> Result<NamespaceInfo> {
        check_title(title)?;
        let info = NamespaceInfo { id: new_namespace_id(), title: title.to_owned() };
        self.storage().create_namespace(&info).await?;
        Ok(info)
    }

    pub async fn rename_namespace(&self, id: &str, title: &str) -> Result<NamespaceInfo> {
        check_title(title)?;
        let info = NamespaceInfo { id: id.to_owned(), title: title.to_owned() };
        let registered = self.namespaces().await?.iter().any(|known| known.id == id);
        if !registered && self.storage().stored_namespaces().await?.iter().any(|stored| stored == id) {
            self.storage().create_namespace(&info).await?;
        } else {
            self.storage().rename_namespace(id, title).await?;
        }
        Ok(info)
    }

    pub async fn data_namespaces(&self, now: Now) -> Result<Vec<String>> {
        let registered: std::collections::HashSet<String> =
            self.namespaces().await?.into_iter().map(|info| info.id).collect();
        let mut found = Vec::new();
        for id in self.storage().stored_namespaces().await? {
            if !registered.contains(&id) && self.holds_live_key(&id, now).await? {
                found.push(id);
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn holds_live_key(&self, id: &str, now: Now) -> Result<bool> {
        Ok(!self.storage().list_range(id, &one_key(), now).await?.is_empty())
    }

    pub async fn namespace_exists(&self, id: &str, now: Now) -> Result<bool> {
        if self.namespaces().await?.iter().any(|info| info.id == id) {
            return Ok(true);
        }
        Ok(!self.storage().list_range(id, &one_key(), now).await?.is_empty())
    }

    pub async fn delete_namespace(&self, id: &str, now: Now) -> Result<()> {
        if !self.namespace_exists(id, now).await? {
            return Err(KvError::NamespaceNotFound(id.to_owned()));
        }
        self.storage().delete_namespace(id).await.map(drop)
    }

    pub async fn put_bulk(
        &self,
        ns: &str,
        json: &str,
        first: usize,
        now: Now,
        check_only: bool,
    ) -> Result<BulkOutcome> {
        let batch = parse_put_batch(json, first, now)?;
        if !check_only {
            self.storage().put_many(ns, &batch.entries).await?;
        }
        Ok(BulkOutcome { count: batch.entries.len(), warnings: batch.warnings })
    }

    pub async fn delete_bulk(&self, ns: &str, json: &str, first: usize, check_only: bool) -> Result<BulkOutcome> {
        let keys = parse_key_batch(json, first)?;
        if !check_only {
            self.storage().delete_many(ns, &keys).await?;
        }
        Ok(BulkOutcome { count: keys.len(), warnings: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    const NOW: Now = Now(1_700_000_000_000.0);

    #[test]
    fn ids_are_32_hex_digits_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_namespace_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
    }

    #[test]
    fn titles() {
        assert!(check_title("w-NS").is_ok());
        assert!(check_title(&"é".repeat(512)).is_ok());
        assert_eq!(
            check_title(&"x".repeat(513)).unwrap_err().to_string(),
            "Invalid KV namespace title: 513 characters; the limit is 512."
        );
        assert!(check_title(" ").is_err());
    }

    #[test]
    fn namespaces_exist_when_registered_or_not_empty() {
        let kv = Kv::new(MemoryStorage::new());
        assert!(!kv.namespace_exists("bound", NOW).unwrap());
        assert_eq!(kv.delete_namespace("bound", NOW), Err(KvError::NamespaceNotFound("bound".into())));
        kv.put_bulk("bound", r#"[{"key":"k","value":"v"}]"#, 0, NOW, false).unwrap();
        assert!(kv.namespace_exists("bound", NOW).unwrap());
        kv.delete_namespace("bound", NOW).unwrap();
        assert!(!kv.namespace_exists("bound", NOW).unwrap());
        let info = kv.create_namespace("w-NS").unwrap();
        assert!(kv.namespace_exists(&info.id, NOW).unwrap());
        assert_eq!(kv.create_namespace("w-NS"), Err(KvError::NamespaceTitleExists("w-NS".into())));
    }

    #[test]
    fn namespaces_that_only_hold_data_are_found_and_renaming_registers_them() {
        let kv = Kv::new(MemoryStorage::new());
        let made = kv.create_namespace("made").unwrap();
        kv.put_bulk(&made.id, r#"[{"key":"k","value":"v"}]"#, 0, NOW, false).unwrap();
        kv.put_bulk("written", r#"[{"key":"k","value":"v"}]"#, 0, NOW, false).unwrap();
        kv.put_bulk("emptied", r#"[{"key":"k","value":"v"}]"#, 0, NOW, false).unwrap();
        kv.delete_bulk("emptied", r#"["k"]"#, 0, false).unwrap();
        assert_eq!(kv.data_namespaces(NOW).unwrap(), vec!["written".to_owned()]);
        kv.rename_namespace("written", "named").unwrap();
        assert!(kv.data_namespaces(NOW).unwrap().is_empty());
        assert!(kv.namespaces().unwrap().iter().any(|info| info.id == "written" && info.title == "named"));
        assert_eq!(kv.rename_namespace("nothing", "x"), Err(KvError::NamespaceNotFound("nothing".into())));
    }

    #[test]
    fn a_rejected_bulk_write_writes_nothing() {
        let kv = Kv::new(MemoryStorage::new());
        let json = r#"[{"key":"a","value":"1"},{"key":"b","value":"2","expiration_ttl":1}]"#;
        assert!(kv.put_bulk("ns", json, 0, NOW, false).is_err());
        assert!(!kv.namespace_exists("ns", NOW).unwrap());
        let checked = kv.put_bulk("ns", r#"[{"key":"a","value":"1"}]"#, 0, NOW, true).unwrap();
        assert_eq!(checked.count, 1);
        assert!(!kv.namespace_exists("ns", NOW).unwrap(), "check_only writes nothing");
    }
}
