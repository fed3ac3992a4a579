//! In-memory storage: one persistent ordered map per namespace.
//!
//! `imbl::OrdMap` is a B-tree with structural sharing, so lookups and range
//! scans are O(log n) and a snapshot of all data is a cheap clone.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use imbl::OrdMap;

use super::Storage;
use crate::entry::{Entry, ListedKey, Now};
use crate::error::Result;
use crate::list::ListRequest;
use crate::snapshot::Snapshot;

mod admin;

type NamespaceMap = OrdMap<String, Entry>;

#[derive(Default)]
pub struct MemoryStorage {
    namespaces: Mutex<HashMap<String, NamespaceMap>>,
    /// Namespace ids → titles (see `memory/admin.rs`).
    registry: Mutex<super::admin::RegistryTable>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, NamespaceMap>> {
        // A panic while holding the lock cannot leave a map half-updated
        // (every update is a single insert/remove), so poisoning is ignored.
        self.namespaces.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `read` on `key`'s entry under the lock; an entry expired by `now`
    /// is removed instead and reads as missing.
    fn with_live_entry<T>(&self, namespace: &str, key: &str, now: Now, read: impl FnOnce(&Entry) -> T) -> Option<T> {
        let mut namespaces = self.lock();
        let map = namespaces.get_mut(namespace)?;
        match map.get(key) {
            Some(entry) if entry.is_expired(now) => {
                map.remove(key);
                None
            }
            found => found.map(read),
        }
    }
}

impl Storage for MemoryStorage {
    fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        Ok(self.with_live_entry(namespace, key, now, Entry::clone))
    }

    fn read_value(&self, namespace: &str, key: &str, now: Now, out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        Ok(self.with_live_entry(namespace, key, now, |entry| out.extend_from_slice(&entry.value)).is_some())
    }

    fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        let mut namespaces = self.lock();
        match namespaces.get_mut(namespace) {
            Some(map) => {
                map.insert(key.to_owned(), entry);
            }
            None => {
                namespaces.insert(namespace.to_owned(), OrdMap::unit(key.to_owned(), entry));
            }
        }
        Ok(())
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        if let Some(map) = self.lock().get_mut(namespace) {
            map.remove(key);
        }
        Ok(())
    }

    fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        let mut namespaces = self.lock();
        let Some(map) = namespaces.get_mut(namespace) else { return Ok(Vec::new()) };
        let mut rows = Vec::with_capacity(request.fetch_count().min(map.len()));
        let mut expired = Vec::new();
        let start = request.range_start();
        for (name, entry) in map.range::<_, str>((Bound::Included(start), Bound::Unbounded)) {
            if !name.starts_with(&request.prefix) || rows.len() == request.fetch_count() {
                break;
            }
            if !request.admits(name) {
                continue;
            }
            if entry.is_expired(now) {
                expired.push(name.clone());
                continue;
            }
            rows.push(entry.listed(name));
        }
        for name in expired {
            map.remove(&name);
        }
        Ok(rows)
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }

    /// O(1) per namespace: the saved maps share every node with the live ones
    /// until either side changes.
    fn snapshot(&self, namespaces: &[String], _now: Now) -> Result<Snapshot> {
        let maps = self.lock();
        let saved = namespaces.iter().map(|ns| (ns.clone(), maps.get(ns).cloned().unwrap_or_default()));
        Ok(Snapshot::new(saved.collect()))
    }

    /// O(1) per namespace: the saved maps replace the live ones.
    fn restore(&self, snapshot: &Snapshot, _now: Now) -> Result<()> {
        let mut maps = self.lock();
        for (ns, saved) in snapshot.namespaces() {
            if saved.is_empty() {
                maps.remove(ns);
            } else {
                maps.insert(ns.to_owned(), saved.clone());
            }
        }
        Ok(())
    }
}
