//! Embedded storage in a sled database (`kvPersist: "sled:<path>"`).
//!
//! Layout (format 2): one database at the path, shared by every instance in
//! the process; ONE tree, `entries`, holds the entries of every namespace,
//! keyed by
//!
//! ```text
//! [namespace length: u32, big-endian][namespace: UTF-8][key: UTF-8]
//! ```
//!
//! and value, expiration and metadata in ONE record so a write is atomic. The
//! length prefix makes the encoding unambiguous (namespaces `a` + key `bc`
//! and `ab` + key `c` differ in their first bytes), and all of a namespace's
//! keys share one prefix, after which sled's byte order is the keys' UTF-8
//! byte order, so `list` is still one range scan.
//!
//! Why not one tree per namespace (format 1, written by earlier versions):
//! sled 0.34 keeps its table of trees as ONE page that is rewritten whole into
//! the log each time a tree is created or dropped, and the old copies are
//! never reclaimed, so disk use grew with the square of the number of
//! namespaces (one 5-byte value in each of 4,000 namespaces: 105 MB; 8,000:
//! 460 MB; it does not shrink on reopening, and no `Config` setting changes
//! it: see sled issue #1484). Format 1 databases are converted when opened
//! (see `convert_format_1`); versions that only know format 1 refuse format 2
//! with a clear error instead of showing empty namespaces.
//!
//! Record encoding (all integers big-endian):
//!
//! ```text
//! [flags: u8]                   bit 0: has expiration, bit 1: has metadata;
//!                               other bits must be 0 (reserved for a new format)
//! [expiration: i64]             if bit 0: unix seconds
//! [metadata length: u32]        if bit 1
//! [metadata: that many bytes]   if bit 1: the JSON text, UTF-8
//! [value: the rest]             raw bytes, possibly empty
//! ```
//!
//! The default tree holds only a format marker (`"kv-core format"` → `"2"`),
//! written at creation; an existing database without it is reported as
//! damaged, because sled 0.34 answers a damaged log by opening it empty.
//!
//! Durability: every put and delete calls `flush()` before returning, so a
//! write the caller saw succeed survives the process being killed (sled on its
//! own only flushes every 500 ms). Measured cost: see `SledStorage::put`.
//! Reclaiming expired entries is not flushed: losing one to a crash only means
//! it is reclaimed again on the next read.
//!
//! Locking: sled locks its directory against every other open, even from the
//! same process. So every `SledStorage` for one canonical path shares one
//! `sled::Db` through a process-wide registry; the last one dropped flushes and
//! closes the database, releasing the lock, so the path can be opened again
//! (by this process or another).

use std::collections::HashMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Storage;
use crate::entry::{Entry, ListedKey, Now};
use crate::error::{KvError, Result};
use crate::list::ListRequest;

// Namespace registry (tree `registry/namespaces`), namespace deletion, bulk writes.
mod admin;

const HAS_EXPIRATION: u8 = 0b01;
const HAS_METADATA: u8 = 0b10;
/// The tree holding every namespace's entries (format 2).
const ENTRIES_TREE: &[u8] = b"entries";
/// Format 1 kept namespace `<ns>` in the tree `kv/<ns>`.
const FORMAT_1_TREE_PREFIX: &[u8] = b"kv/";
/// In sled's default tree: written when the database is created, checked on
/// every open (see `open_database`).
const FORMAT_MARKER_KEY: &[u8] = b"kv-core format";
const FORMAT_VERSION: &[u8] = b"2";
const FORMAT_1: &[u8] = b"1";

/// A sled database shared by every [`SledStorage`] of one path.
struct OpenDatabase {
    db: ::sled::Db,
    /// The tree `entries`.
    entries: ::sled::Tree,
    path: PathBuf,
}

impl Drop for OpenDatabase {
    fn drop(&mut self) {
        // Puts are already flushed; this catches reclaimed expired entries.
        let _ = self.db.flush();
    }
}

/// Canonical path → the open database. Only ever changed with this lock held,
/// and every `Arc<OpenDatabase>` is created and dropped with it held, so a
/// database is fully closed (lock released) before anyone can reopen it.
static OPEN_DATABASES: LazyLock<Mutex<HashMap<PathBuf, Weak<OpenDatabase>>>> = LazyLock::new(Default::default);

fn open_databases() -> MutexGuard<'static, HashMap<PathBuf, Weak<OpenDatabase>>> {
    // Nothing in the map can be left half-updated by a panic.
    OPEN_DATABASES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct SledStorage {
    /// Always `Some` until `drop`, which takes it so the database closes
    /// while the registry lock is held.
    shared: Option<Arc<OpenDatabase>>,
}

impl SledStorage {
    /// Opens (creating if needed) the database at `path`, or joins the one
    /// this process already has open there.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStorage> {
        let path = path.as_ref();
        std::fs::create_dir_all(path).map_err(|e| open_error(path, &e))?;
        let canonical = std::fs::canonicalize(path).map_err(|e| open_error(path, &e))?;

        let mut registry = open_databases();
        if let Some(shared) = registry.get(&canonical).and_then(Weak::upgrade) {
            return Ok(SledStorage { shared: Some(shared) });
        }
        let (db, entries) = open_database(&canonical)?;
        let shared = Arc::new(OpenDatabase { db, entries, path: canonical.clone() });
        registry.insert(canonical, Arc::downgrade(&shared));
        Ok(SledStorage { shared: Some(shared) })
    }

    /// The canonical path of the database.
    pub fn path(&self) -> &Path {
        &self.shared().path
    }

    fn shared(&self) -> &OpenDatabase {
        self.shared.as_ref().expect("SledStorage is only emptied by drop")
    }

    fn entries(&self) -> &::sled::Tree {
        &self.shared().entries
    }

    fn flush(&self) -> Result<()> {
        let shared = self.shared();
        shared.db.flush().map(drop).map_err(|e| sled_error(&shared.path, e))
    }

    fn decode(&self, key: &[u8], record: ::sled::IVec) -> Result<Entry> {
        decode_record(record).ok_or_else(|| {
            KvError::Storage(format!(
                "sled database at {} holds an unreadable record for key {:?}: it was not written by this \
                 version; delete the directory to start afresh",
                self.shared().path.display(),
                String::from_utf8_lossy(key)
            ))
        })
    }
}

impl Drop for SledStorage {
    fn drop(&mut self) {
        let mut registry = open_databases();
        if let Some(shared) = self.shared.take() {
            if Arc::strong_count(&shared) == 1 {
                registry.remove(&shared.path);
            }
            // If this was the last user, the database flushes and closes here,
            // before the registry lock is released.
            drop(shared);
        }
    }
}

impl Storage for SledStorage {
    fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        let entries = self.entries();
        let stored_key = entry_key(namespace, key);
        let Some(record) = entries.get(&stored_key).map_err(|e| sled_error(self.path(), e))? else {
            return Ok(None);
        };
        let entry = self.decode(key.as_bytes(), record.clone())?;
        if entry.is_expired(now) {
            // Only remove the record we read, never a newer one.
            let _ = entries.compare_and_swap(stored_key, Some(record), None::<&[u8]>);
            return Ok(None);
        }
        Ok(Some(entry))
    }

    /// Inserts then flushes. Measured (release build, 100 B values, one
    /// thread): about 0.1 ms per put with the flush, i.e. ~10k puts/s; gets
    /// take under 1 µs and listing 5,000 keys about 2.2 ms.
    fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        let record = encode_record(&entry);
        self.entries().insert(entry_key(namespace, key), record).map_err(|e| sled_error(self.path(), e))?;
        self.flush()
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        if self.entries().remove(entry_key(namespace, key)).map_err(|e| sled_error(self.path(), e))?.is_some() {
            self.flush()?;
        }
        Ok(())
    }

    fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        let entries = self.entries();
        let path = self.path();
        let prefix = namespace_prefix(namespace.as_bytes());
        let mut rows = Vec::new();
        let mut expired = Vec::new();
        for item in entries.range(entry_key(namespace, request.range_start())..) {
            let (stored_key, record) = item.map_err(|e| sled_error(path, e))?;
            // Past the namespace's last key.
            let Some(raw_key) = stored_key.strip_prefix(prefix.as_slice()) else { break };
            let name = std::str::from_utf8(raw_key).map_err(|_| {
                KvError::Storage(format!(
                    "sled database at {} holds a key that is not UTF-8: it was not written by this program",
                    path.display()
                ))
            })?;
            if !name.starts_with(&request.prefix) || rows.len() == request.fetch_count() {
                break;
            }
            if !request.admits(name) {
                continue;
            }
            let entry = self.decode(raw_key, record.clone())?;
            if entry.is_expired(now) {
                expired.push((stored_key, record));
                continue;
            }
            rows.push(entry.listed(name));
        }
        for (stored_key, record) in expired {
            let _ = entries.compare_and_swap(stored_key, Some(record), None::<&[u8]>);
        }
        Ok(rows)
    }

    fn location(&self) -> String {
        format!("sled:{}", self.shared().path.display())
    }
}

/// The bytes every stored key of `namespace` starts with (see the module doc).
fn namespace_prefix(namespace: &[u8]) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(4 + namespace.len());
    push_namespace(&mut prefix, namespace);
    prefix
}

fn push_namespace(stored_key: &mut Vec<u8>, namespace: &[u8]) {
    let len = u32::try_from(namespace.len()).expect("a namespace name is shorter than 4 GiB");
    stored_key.extend_from_slice(&len.to_be_bytes());
    stored_key.extend_from_slice(namespace);
}

/// The key under which `entries` stores `key` of `namespace`.
fn entry_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut stored_key = Vec::with_capacity(4 + namespace.len() + key.len());
    push_namespace(&mut stored_key, namespace.as_bytes());
    stored_key.extend_from_slice(key.as_bytes());
    stored_key
}

/// Opens the database and its `entries` tree, converting a format 1 database.
fn open_database(path: &Path) -> Result<(::sled::Db, ::sled::Tree)> {
    // sled writes `conf` when it creates a database.
    let existed = path.join("conf").exists();
    // sled 0.34 panics on some damaged files instead of returning an error;
    // a panic must not cross into Node.
    let db = match open_waiting_for_lock(path) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(sled_error(path, e)),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("sled panicked");
            return Err(corrupt_error(path, reason));
        }
    };
    // sled recovers a damaged log by silently dropping everything after the
    // damage; a database without our marker has lost its contents (or is not
    // ours). On error `db` is dropped here, releasing the lock.
    let marker = db.get(FORMAT_MARKER_KEY).map_err(|e| sled_error(path, e))?;
    match marker.as_deref() {
        Some(version) if version == FORMAT_VERSION || version == FORMAT_1 => {}
        Some(version) => {
            return Err(KvError::Storage(format!(
                "sled database at {} has format version {:?}, which this version cannot read: use a new path",
                path.display(),
                String::from_utf8_lossy(version)
            )))
        }
        None if existed => {
            return Err(corrupt_error(
                path,
                "its contents are missing: the log is damaged, or it was not created by this emulator",
            ))
        }
        None => {}
    }
    let entries = db.open_tree(ENTRIES_TREE).map_err(|e| sled_error(path, e))?;
    match marker.as_deref() {
        Some(version) if version == FORMAT_1 => convert_format_1(&db, &entries).map_err(|e| sled_error(path, e))?,
        Some(_) => {}
        None => {
            db.insert(FORMAT_MARKER_KEY, FORMAT_VERSION).map_err(|e| sled_error(path, e))?;
            db.flush().map_err(|e| sled_error(path, e))?;
        }
    }
    Ok((db, entries))
}

/// Copies every entry of the format 1 trees (`kv/<namespace>`) into
/// `entries` in ONE batch (records are unchanged), marks the database as
/// format 2, then empties the old trees. Each step is flushed before the
/// next, and a crash anywhere leaves a database that opens correctly: until
/// the marker says 2 the old trees are intact and the copy is simply made
/// again (it only writes the same records); after it, the old trees are never
/// read again.
///
/// The old trees are emptied, not dropped: dropping a tree rewrites sled's
/// table of trees like creating one does, so dropping thousands would take
/// as much disk again as creating them did (measured: 4,000 namespaces, 99 →
/// 199 MB). Empty trees cost a few bytes each in that table.
fn convert_format_1(db: &::sled::Db, entries: &::sled::Tree) -> ::sled::Result<()> {
    let old_trees = db
        .tree_names()
        .into_iter()
        .filter(|name| name.starts_with(FORMAT_1_TREE_PREFIX))
        .map(|name| db.open_tree(&name).map(|tree| (name, tree)))
        .collect::<::sled::Result<Vec<_>>>()?;
    let mut batch = ::sled::Batch::default();
    for (name, tree) in &old_trees {
        let prefix = namespace_prefix(&name[FORMAT_1_TREE_PREFIX.len()..]);
        for item in tree.iter() {
            let (key, record) = item?;
            let mut stored_key = Vec::with_capacity(prefix.len() + key.len());
            stored_key.extend_from_slice(&prefix);
            stored_key.extend_from_slice(&key);
            batch.insert(stored_key, record);
        }
    }
    entries.apply_batch(batch)?;
    db.flush()?;
    db.insert(FORMAT_MARKER_KEY, FORMAT_VERSION)?;
    db.flush()?;
    for (_, tree) in old_trees {
        tree.clear()?;
    }
    db.flush().map(drop)
}

/// How long an open waits for sled's file lock before saying the database is
/// in use. sled 0.34 releases the lock from background threads a moment after
/// the last handle is dropped, so closing and at once reopening a database in
/// one process (a test's `dispose()` then a new `Miniflare`) can find it still
/// held; a lock another process holds is still reported, only this much later.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the database, retrying while the file lock is busy (see `LOCK_WAIT`).
/// sled 0.34 panics on some damaged files; the panic is caught here.
fn open_waiting_for_lock(path: &Path) -> std::thread::Result<::sled::Result<::sled::Db>> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let opened = catch_unwind(AssertUnwindSafe(|| ::sled::Config::new().path(path).open()));
        match &opened {
            Ok(Err(e)) if is_lock_busy(e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => return opened,
        }
    }
}

fn is_lock_busy(e: &::sled::Error) -> bool {
    matches!(e, ::sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn open_error(path: &Path, e: &io::Error) -> KvError {
    KvError::Storage(format!(
        "Could not open sled database at {}: {e}. Check that the path is a writable directory.",
        path.display()
    ))
}

fn corrupt_error(path: &Path, reason: &str) -> KvError {
    KvError::Storage(format!(
        "sled database at {} is corrupt or unreadable ({reason}): delete the directory to start afresh, or \
         restore it from a backup",
        path.display()
    ))
}

fn sled_error(path: &Path, e: ::sled::Error) -> KvError {
    match e {
        ref busy if is_lock_busy(busy) => KvError::Storage(format!(
            "sled database at {} is in use by another process; sled allows one process at a time: close it \
             or use a directory/Redis for sharing",
            path.display()
        )),
        ::sled::Error::Io(io) => KvError::Storage(format!("sled database at {} failed: {io}", path.display())),
        ::sled::Error::Corruption { .. } | ::sled::Error::Unsupported(_) | ::sled::Error::ReportableBug(_) => {
            corrupt_error(path, &e.to_string())
        }
        other => KvError::Storage(format!("sled database at {} failed: {other}", path.display())),
    }
}

fn encode_record(entry: &Entry) -> Vec<u8> {
    let metadata = entry.metadata.as_deref().map(str::as_bytes);
    let mut flags = 0;
    let mut record = Vec::with_capacity(1 + 8 + 4 + metadata.map_or(0, <[u8]>::len) + entry.value.len());
    record.push(0); // flags, filled in below
    if let Some(expiration) = entry.expiration {
        flags |= HAS_EXPIRATION;
        record.extend_from_slice(&expiration.to_be_bytes());
    }
    if let Some(metadata) = metadata {
        flags |= HAS_METADATA;
        // Metadata is at most 1024 bytes (validated before storage).
        record.extend_from_slice(&(metadata.len() as u32).to_be_bytes());
        record.extend_from_slice(metadata);
    }
    record[0] = flags;
    record.extend_from_slice(&entry.value);
    record
}

/// `None` if the record is not in the format above.
fn decode_record(record: ::sled::IVec) -> Option<Entry> {
    let bytes: &[u8] = &record;
    let (&flags, mut rest) = bytes.split_first()?;
    if flags & !(HAS_EXPIRATION | HAS_METADATA) != 0 {
        return None;
    }
    let mut expiration = None;
    if flags & HAS_EXPIRATION != 0 {
        let (raw, tail) = rest.split_first_chunk::<8>()?;
        expiration = Some(i64::from_be_bytes(*raw));
        rest = tail;
    }
    let mut metadata = None;
    if flags & HAS_METADATA != 0 {
        let (raw_len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*raw_len) as usize;
        if tail.len() < len {
            return None;
        }
        let (text, tail) = tail.split_at(len);
        metadata = Some(Arc::from(std::str::from_utf8(text).ok()?));
        rest = tail;
    }
    let value_start = bytes.len() - rest.len();
    // The value shares sled's buffer instead of being copied.
    let value = Bytes::from_owner(record).slice(value_start..);
    Some(Entry { value, expiration, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(entry: Entry) {
        let encoded = encode_record(&entry);
        assert_eq!(decode_record(encoded.into()), Some(entry));
    }

    #[test]
    fn records_round_trip() {
        round_trip(Entry::new(Bytes::new()));
        round_trip(Entry::new(Bytes::from_static(b"\x00\xff\x80value")));
        round_trip(Entry { value: Bytes::from_static(b"v"), expiration: Some(-5), metadata: None });
        round_trip(Entry { value: Bytes::new(), expiration: None, metadata: Some("\"\"".into()) });
        round_trip(Entry {
            value: Bytes::from_static(b"v"),
            expiration: Some(1_700_000_060),
            metadata: Some(r#"{"a":"é"}"#.into()),
        });
    }

    #[test]
    fn stored_keys_are_unambiguous_and_keep_key_order() {
        assert_eq!(entry_key("ns", "k"), b"\0\0\0\x02nsk");
        assert_ne!(entry_key("a", "bc"), entry_key("ab", "c"));
        assert!(entry_key("ns", "k").starts_with(&namespace_prefix(b"ns")));
        assert!(!entry_key("nsx", "k").starts_with(&namespace_prefix(b"ns")));
        // UTF-8 byte order of keys within a namespace is kept.
        let keys = ["", "a", "a\u{0}", "ab", "b", "é", "\u{10000}"];
        let stored: Vec<_> = keys.iter().map(|key| entry_key("ns", key)).collect();
        assert!(stored.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn malformed_records_are_rejected() {
        assert_eq!(decode_record(Vec::new().into()), None);
        assert_eq!(decode_record(vec![0b100].into()), None);
        assert_eq!(decode_record(vec![HAS_EXPIRATION, 0, 0].into()), None);
        assert_eq!(decode_record(vec![HAS_METADATA, 0, 0, 0, 9, b'{'].into()), None);
        assert_eq!(decode_record(vec![HAS_METADATA, 0, 0, 0, 1, 0xff].into()), None);
    }
}
