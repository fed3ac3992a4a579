//! Snapshot push/pop on memory (its O(1) override), on directory and sled
//! storage in temporary directories (the generic implementation), and on the
//! generic asynchronous implementation (a memory store driven through
//! `AsyncStorage`, as Redis is).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::entry::ListedKey;
use crate::storage::{DirStorage, MemoryStorage, SledStorage};

const NOW: Now = Now(1_700_000_000_000.0);
/// Seconds: an hour after NOW.
const LATER: i64 = 1_700_003_600;

fn entry(value: &str) -> Entry {
    Entry::new(value.as_bytes().to_vec())
}

fn with_meta(value: &str, metadata: &str, expiration: Option<i64>) -> Entry {
    Entry { value: value.as_bytes().to_vec().into(), expiration, metadata: Some(Arc::from(metadata)) }
}

fn names(ns: &[&str]) -> Vec<String> {
    ns.iter().map(|s| s.to_string()).collect()
}

/// Every live entry of `namespace`, through the trait's own list and get.
fn contents(storage: &impl Storage, namespace: &str, now: Now) -> Vec<(String, Entry)> {
    read_namespace(storage, namespace, now).unwrap().into_iter().collect()
}

fn seed(storage: &impl Storage) {
    storage.put("a", "plain", entry("one")).unwrap();
    storage.put("a", "meta", with_meta("two", r#"{"n":2}"#, Some(LATER))).unwrap();
    storage.put("a", "doomed", entry("deleted by the test")).unwrap();
    storage.put("b", "x", entry("in b")).unwrap();
    storage.put("outside", "o", entry("not in the snapshot")).unwrap();
}

/// A test's changes: add, delete, overwrite (value, metadata, expiration).
fn scribble(storage: &impl Storage) {
    storage.put("a", "added", entry("new")).unwrap();
    storage.delete("a", "doomed").unwrap();
    storage.put("a", "plain", with_meta("changed", r#""m""#, Some(LATER + 60))).unwrap();
    storage.put("a", "meta", entry("no metadata now")).unwrap();
    storage.delete("b", "x").unwrap();
    storage.put("b", "y", entry("added to b")).unwrap();
    storage.put("fresh", "k", entry("a namespace that was empty")).unwrap();
}

fn restores_exactly(storage: impl Storage) {
    seed(&storage);
    let stack = SnapshotStack::new();
    let scope = names(&["a", "b", "fresh"]);
    let before: Vec<_> = scope.iter().map(|ns| contents(&storage, ns, NOW)).collect();
    assert_eq!(before[0].len(), 3);

    assert_eq!(stack.push(&storage, &scope, NOW).unwrap(), 1);
    scribble(&storage);
    storage.put("outside", "o2", entry("written during the test")).unwrap();
    assert_ne!(contents(&storage, "a", NOW), before[0]);

    assert_eq!(stack.pop(&storage, NOW).unwrap(), 0);
    let after: Vec<_> = scope.iter().map(|ns| contents(&storage, ns, NOW)).collect();
    assert_eq!(after, before);
    assert!(storage.get("fresh", "k", NOW).unwrap().is_none());
    // Namespaces outside the snapshot keep what the test wrote.
    assert_eq!(contents(&storage, "outside", NOW).len(), 2);
}

fn nests(storage: impl Storage) {
    seed(&storage);
    let stack = SnapshotStack::new();
    let scope = names(&["a", "b"]);
    let original = contents(&storage, "a", NOW);

    stack.push(&storage, &scope, NOW).unwrap();
    storage.put("a", "level1", entry("1")).unwrap();
    storage.delete("a", "plain").unwrap();
    let level1 = contents(&storage, "a", NOW);

    assert_eq!(stack.push(&storage, &scope, NOW).unwrap(), 2);
    storage.put("a", "level2", entry("2")).unwrap();
    storage.put("a", "level1", entry("1, overwritten")).unwrap();
    storage.put("a", "plain", entry("back, but different")).unwrap();
    assert_eq!(stack.depth(), 2);

    assert_eq!(stack.pop(&storage, NOW).unwrap(), 1);
    assert_eq!(contents(&storage, "a", NOW), level1);
    assert_eq!(stack.pop(&storage, NOW).unwrap(), 0);
    assert_eq!(contents(&storage, "a", NOW), original);

    let empty = stack.pop(&storage, NOW).unwrap_err();
    assert!(empty.to_string().contains("no storage snapshot to restore"), "{empty}");
    assert_eq!(stack.depth(), 0);
}

/// A key saved while live that has expired by the time of the pop is not
/// brought back to life; keys written after the push are removed even if
/// the namespace needs more than one list page.
fn follows_the_clock_and_pages(storage: impl Storage) {
    let stack = SnapshotStack::new();
    let scope = names(&["a"]);
    storage.put("a", "short", with_meta("v", "1", Some(NOW.seconds() + 120))).unwrap();
    storage.put("a", "kept", entry("v")).unwrap();
    stack.push(&storage, &scope, NOW).unwrap();
    storage.delete("a", "short").unwrap();
    for i in 0..2_500 {
        storage.put("a", &format!("bulk-{i:05}"), entry("x")).unwrap();
    }
    let two_minutes_later = Now(NOW.0 + 121_000.0);
    stack.pop(&storage, two_minutes_later).unwrap();
    assert!(storage.get("a", "short", two_minutes_later).unwrap().is_none());
    let keys: Vec<String> = contents(&storage, "a", two_minutes_later).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["kept"]);
}

fn run_all(make: impl Fn() -> Box<dyn Storage>) {
    restores_exactly(make());
    nests(make());
    follows_the_clock_and_pages(make());
}

#[test]
fn memory() {
    run_all(|| Box::new(MemoryStorage::new()));
}

/// A fresh directory under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kv-snapshot-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn directory() {
    let dir = TempDir::new("dir");
    let counter = AtomicUsize::new(0);
    run_all(|| {
        let root = dir.0.join(counter.fetch_add(1, Ordering::Relaxed).to_string());
        Box::new(DirStorage::open(root).unwrap())
    });
}

#[test]
fn sled() {
    let dir = TempDir::new("sled");
    let counter = AtomicUsize::new(0);
    run_all(|| {
        let path = dir.0.join(counter.fetch_add(1, Ordering::Relaxed).to_string());
        Box::new(SledStorage::open(path).unwrap())
    });
}

/// A synchronous store driven through `AsyncStorage` without overriding
/// `snapshot`/`restore`, so the generic asynchronous code (Redis's) runs.
struct AsAsync<S>(S);

impl<S: Storage> AsyncStorage for AsAsync<S> {
    async fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        self.0.get(namespace, key, now)
    }
    async fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        self.0.put(namespace, key, entry)
    }
    async fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        self.0.delete(namespace, key)
    }
    async fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        self.0.list_range(namespace, request, now)
    }
    fn location(&self) -> String {
        self.0.location()
    }
}

#[tokio::test]
async fn generic_async_push_pop_nests_and_restores_exactly() {
    let dir = TempDir::new("async");
    let storage = AsAsync(DirStorage::open(&dir.0).unwrap());
    seed(&storage.0);
    let stack = SnapshotStack::new();
    let scope = names(&["a", "b", "fresh"]);
    let original: Vec<_> = scope.iter().map(|ns| contents(&storage.0, ns, NOW)).collect();

    assert_eq!(stack.push_async(&storage, &scope, NOW).await.unwrap(), 1);
    scribble(&storage.0);
    for i in 0..1_500 {
        storage.0.put("a", &format!("bulk-{i:05}"), entry("x")).unwrap();
    }
    let level1: Vec<_> = scope.iter().map(|ns| contents(&storage.0, ns, NOW)).collect();
    assert_eq!(stack.push_async(&storage, &scope, NOW).await.unwrap(), 2);
    storage.0.put("a", "plain", entry("level 2")).unwrap();
    storage.0.delete("a", "bulk-00007").unwrap();

    assert_eq!(stack.pop_async(&storage, NOW).await.unwrap(), 1);
    assert_eq!(scope.iter().map(|ns| contents(&storage.0, ns, NOW)).collect::<Vec<_>>(), level1);
    assert_eq!(stack.pop_async(&storage, NOW).await.unwrap(), 0);
    assert_eq!(scope.iter().map(|ns| contents(&storage.0, ns, NOW)).collect::<Vec<_>>(), original);
    assert!(stack.pop_async(&storage, NOW).await.is_err());
}

#[test]
fn clear_forgets_every_snapshot() {
    let storage = MemoryStorage::new();
    let stack = SnapshotStack::new();
    stack.push(&storage, &names(&["a"]), NOW).unwrap();
    stack.push(&storage, &names(&["a"]), NOW).unwrap();
    assert!(stack.clear());
    assert_eq!(stack.depth(), 0);
    assert!(stack.pop(&storage, NOW).is_err());
}
