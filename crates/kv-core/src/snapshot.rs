//! Snapshots of storage, for per-test isolation: save the data of some
//! namespaces, let a test change it, then put it back exactly as it was
//! (keys added since are gone, deleted ones are back, overwritten ones have
//! their old value, metadata and expiration).
//!
//! [`SnapshotStack`] is what a Miniflare instance holds: push before a test,
//! pop after, nesting as deep as needed. How a snapshot is taken depends on
//! the backend ([`Storage::snapshot`] / [`Storage::restore`]):
//!
//! - memory overrides both: a snapshot clones each namespace's
//!   `imbl::OrdMap` (structural sharing: O(1) per namespace, whatever the
//!   data size) and a restore swaps the saved maps back in (O(1));
//! - every other backend uses the generic implementation here, written with
//!   the trait's own operations: a snapshot reads every live entry of the
//!   namespaces into memory (O(data)); a restore lists the current keys,
//!   deletes those the snapshot does not have and writes back the saved
//!   entries that differ from what is stored (O(keys) reads, plus one write
//!   per key the test changed).

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::try_join_all;
use imbl::OrdMap;

use crate::entry::{Entry, Now};
use crate::error::{KvError, Result};
use crate::limits::MAX_LIST_LIMIT;
use crate::list::ListRequest;
use crate::storage::{AsyncStorage, Storage};

/// Every entry of one namespace, by key.
pub type NamespaceData = OrdMap<String, Entry>;

/// The saved data of some namespaces. May hold entries that have expired
/// since it was taken: they stay invisible after a restore.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    namespaces: Vec<(String, NamespaceData)>,
}

impl Snapshot {
    pub fn new(namespaces: Vec<(String, NamespaceData)>) -> Self {
        Snapshot { namespaces }
    }

    /// The namespaces it covers, each with its saved entries.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &NamespaceData)> {
        self.namespaces.iter().map(|(name, data)| (name.as_str(), data))
    }
}

/// Reads every live entry of `namespace`: list pages, then the values.
pub fn read_namespace<S: Storage + ?Sized>(storage: &S, namespace: &str, now: Now) -> Result<NamespaceData> {
    let mut data = NamespaceData::new();
    let mut request = whole_namespace();
    loop {
        let rows = storage.list_range(namespace, &request, now)?;
        let more = rows.len() == request.fetch_count();
        for row in &rows {
            // A key gone between the list and the get is simply not saved.
            if let Some(entry) = storage.get(namespace, &row.name, now)? {
                data.insert(row.name.clone(), entry);
            }
        }
        match rows.last() {
            Some(last) if more => request.start_after = Some(last.name.clone()),
            _ => return Ok(data),
        }
    }
}

/// Makes `namespace` hold exactly the live entries of `saved`.
pub fn write_namespace<S: Storage + ?Sized>(
    storage: &S,
    namespace: &str,
    saved: &NamespaceData,
    now: Now,
) -> Result<()> {
    for key in live_keys(storage, namespace, now)? {
        if !is_live_in(saved, &key, now) {
            storage.delete(namespace, &key)?;
        }
    }
    for (key, entry) in saved.iter().filter(|(_, entry)| !entry.is_expired(now)) {
        if storage.get(namespace, key, now)?.as_ref() != Some(entry) {
            storage.put(namespace, key, entry.clone())?;
        }
    }
    Ok(())
}

/// The generic [`Storage::snapshot`]: every live entry, read into memory.
pub fn read_all<S: Storage + ?Sized>(storage: &S, namespaces: &[String], now: Now) -> Result<Snapshot> {
    let saved = namespaces
        .iter()
        .map(|namespace| Ok((namespace.clone(), read_namespace(storage, namespace, now)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Snapshot::new(saved))
}

/// The generic [`Storage::restore`].
pub fn write_all<S: Storage + ?Sized>(storage: &S, snapshot: &Snapshot, now: Now) -> Result<()> {
    for (namespace, saved) in snapshot.namespaces() {
        write_namespace(storage, namespace, saved, now)?;
    }
    Ok(())
}

/// [`read_namespace`] for an asynchronous backend; the values of one list
/// page are read concurrently (Redis pipelines them).
pub async fn read_namespace_async<S: AsyncStorage + ?Sized>(
    storage: &S,
    namespace: &str,
    now: Now,
) -> Result<NamespaceData> {
    let mut data = NamespaceData::new();
    let mut request = whole_namespace();
    loop {
        let rows = storage.list_range(namespace, &request, now).await?;
        let more = rows.len() == request.fetch_count();
        let entries = try_join_all(rows.iter().map(|row| storage.get(namespace, &row.name, now))).await?;
        for (row, entry) in rows.iter().zip(entries) {
            if let Some(entry) = entry {
                data.insert(row.name.clone(), entry);
            }
        }
        match rows.last() {
            Some(last) if more => request.start_after = Some(last.name.clone()),
            _ => return Ok(data),
        }
    }
}

/// [`write_namespace`] for an asynchronous backend.
pub async fn write_namespace_async<S: AsyncStorage + ?Sized>(
    storage: &S,
    namespace: &str,
    saved: &NamespaceData,
    now: Now,
) -> Result<()> {
    let current = live_keys_async(storage, namespace, now).await?;
    let stale: Vec<&String> = current.iter().filter(|key| !is_live_in(saved, key, now)).collect();
    for chunk in stale.chunks(MAX_LIST_LIMIT) {
        try_join_all(chunk.iter().map(|key| storage.delete(namespace, key))).await?;
    }
    let live: Vec<(&String, &Entry)> = saved.iter().filter(|(_, entry)| !entry.is_expired(now)).collect();
    for chunk in live.chunks(MAX_LIST_LIMIT) {
        let stored = try_join_all(chunk.iter().map(|(key, _)| storage.get(namespace, key, now))).await?;
        let changed = chunk.iter().zip(stored).filter(|((_, entry), stored)| stored.as_ref() != Some(*entry));
        try_join_all(changed.map(|((key, entry), _)| storage.put(namespace, key, (*entry).clone()))).await?;
    }
    Ok(())
}

/// The generic [`AsyncStorage::snapshot`].
pub async fn read_all_async<S: AsyncStorage + ?Sized>(
    storage: &S,
    namespaces: &[String],
    now: Now,
) -> Result<Snapshot> {
    let mut saved = Vec::with_capacity(namespaces.len());
    for namespace in namespaces {
        saved.push((namespace.clone(), read_namespace_async(storage, namespace, now).await?));
    }
    Ok(Snapshot::new(saved))
}

/// The generic [`AsyncStorage::restore`].
pub async fn write_all_async<S: AsyncStorage + ?Sized>(storage: &S, snapshot: &Snapshot, now: Now) -> Result<()> {
    for (namespace, saved) in snapshot.namespaces() {
        write_namespace_async(storage, namespace, saved, now).await?;
    }
    Ok(())
}

/// A list request for every key, from the start, in pages of the maximum size.
fn whole_namespace() -> ListRequest {
    ListRequest { prefix: String::new(), start_after: None, limit: MAX_LIST_LIMIT }
}

fn is_live_in(saved: &NamespaceData, key: &str, now: Now) -> bool {
    saved.get(key).is_some_and(|entry| !entry.is_expired(now))
}

fn live_keys<S: Storage + ?Sized>(storage: &S, namespace: &str, now: Now) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut request = whole_namespace();
    loop {
        let rows = storage.list_range(namespace, &request, now)?;
        let more = rows.len() == request.fetch_count();
        keys.extend(rows.into_iter().map(|row| row.name));
        match keys.last() {
            Some(last) if more => request.start_after = Some(last.clone()),
            _ => return Ok(keys),
        }
    }
}

async fn live_keys_async<S: AsyncStorage + ?Sized>(storage: &S, namespace: &str, now: Now) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut request = whole_namespace();
    loop {
        let rows = storage.list_range(namespace, &request, now).await?;
        let more = rows.len() == request.fetch_count();
        keys.extend(rows.into_iter().map(|row| row.name));
        match keys.last() {
            Some(last) if more => request.start_after = Some(last.clone()),
            _ => return Ok(keys),
        }
    }
}

/// Snapshots taken by one Miniflare instance, newest last.
///
/// Push and pop are serialised (one at a time): a pop always restores the
/// newest snapshot. A pop that fails (a backend error part-way through)
/// leaves its snapshot on the stack, so calling pop again retries it.
#[derive(Default)]
pub struct SnapshotStack {
    frames: tokio::sync::Mutex<Vec<Snapshot>>,
    depth: AtomicUsize,
}

impl SnapshotStack {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many snapshots are waiting to be popped.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Acquire)
    }

    /// Saves `namespaces` of a synchronous backend; returns the new depth.
    pub fn push<S: Storage + ?Sized>(&self, storage: &S, namespaces: &[String], now: Now) -> Result<usize> {
        let mut frames = self.frames.try_lock().map_err(|_| busy())?;
        frames.push(storage.snapshot(namespaces, now)?);
        Ok(self.set_depth(&frames))
    }

    /// Restores the newest snapshot and drops it; returns the new depth.
    pub fn pop<S: Storage + ?Sized>(&self, storage: &S, now: Now) -> Result<usize> {
        let mut frames = self.frames.try_lock().map_err(|_| busy())?;
        storage.restore(frames.last().ok_or_else(nothing_to_pop)?, now)?;
        frames.pop();
        Ok(self.set_depth(&frames))
    }

    /// [`Self::push`] for an asynchronous backend.
    pub async fn push_async<S: AsyncStorage + ?Sized>(
        &self,
        storage: &S,
        namespaces: &[String],
        now: Now,
    ) -> Result<usize> {
        let mut frames = self.frames.lock().await;
        frames.push(storage.snapshot(namespaces, now).await?);
        Ok(self.set_depth(&frames))
    }

    /// [`Self::pop`] for an asynchronous backend.
    pub async fn pop_async<S: AsyncStorage + ?Sized>(&self, storage: &S, now: Now) -> Result<usize> {
        let mut frames = self.frames.lock().await;
        storage.restore(frames.last().ok_or_else(nothing_to_pop)?, now).await?;
        frames.pop();
        Ok(self.set_depth(&frames))
    }

    /// Forgets every snapshot (the backend is being closed). Returns false,
    /// forgetting nothing, while a push or pop is running.
    pub fn clear(&self) -> bool {
        match self.frames.try_lock() {
            Ok(mut frames) => {
                frames.clear();
                self.set_depth(&frames);
                true
            }
            Err(_) => false,
        }
    }

    fn set_depth(&self, frames: &[Snapshot]) -> usize {
        self.depth.store(frames.len(), Ordering::Release);
        frames.len()
    }
}

fn nothing_to_pop() -> KvError {
    KvError::storage("popStorage(): there is no storage snapshot to restore (every pushStorage() has been popped).")
}

fn busy() -> KvError {
    KvError::storage(
        "pushStorage()/popStorage(): another push or pop of this instance is still running; await it first.",
    )
}

#[cfg(test)]
mod tests;
