//! Directory storage: one directory per namespace, one file per key, readable
//! by a person and compatible with what Miniflare 2 wrote.
//!
//! # Layout
//!
//! ```text
//! <root>/<namespace>/<name>              the value's raw bytes
//! <root>/<namespace>/<name>.meta.json    {"key":…,"expiration":…,"metadata":…,"valueHash":…,"valueFrom":…}
//! <root>/<namespace>/.^kv-lock           lock + generation counter (internal)
//! <root>/<namespace>/.^kv-tmp-*          a write in progress (internal)
//! <root>/<namespace>/.^kv-index          parsed meta files, a cache (internal)
//! ```
//!
//! `<name>` comes from [`names::file_name`]: plain names (`user-123`,
//! `user:123`, `hello world`, `ü`) stay as they are, unsafe characters become
//! `%XX`, over-long names are shortened with a hash. The mapping is injective,
//! never yields `/`, `.`, `..` or a `.meta.json` ending, so every valid key has
//! its own file inside its namespace directory. Namespace names get the same
//! encoding. A meta file is written when the entry has an expiration or
//! metadata, or when `<name>` differs from the key (so `key` names it); readers
//! take the key from the meta file's `key`, else from the file's relative path,
//! exactly as Miniflare 2 did, so the two layouts can share a directory.
//!
//! # Write protocol
//!
//! Every change to a namespace happens under its lock (an in-process mutex
//! plus an exclusive `flock` on `.^kv-lock`, released by the kernel if the
//! process dies). The lock file's first 8 bytes are a generation counter: odd
//! while a change is under way, so an odd value seen by the next lock holder
//! means a writer died, and it runs recovery (below) first.
//!
//! Lock files stay open between operations, but only the 32 most recently
//! used of the whole storage (`OPEN_LOCK_FILES`, kept by `OpenLockFiles`);
//! another namespace reopens its own on its next write or `list` (a few µs),
//! so a process can use any number of namespaces (keeping one open per
//! namespace used to exhaust the descriptor limit). A file evicted while a
//! writer holds its `flock` stays open until that writer is done: closing it
//! would release the lock.
//!
//! A `put`:
//!
//! 1. writes the value to a new temporary file `T` (`.^kv-tmp-*.value`);
//! 2. if a meta file is needed, or one is in place: writes the new meta file,
//!    carrying `valueHash` (hash of the new value) and `valueFrom` (= `T`), to
//!    a temporary file and renames it over `<name>.meta.json`. **This is the
//!    commit point**;
//! 3. renames `T` over `<name>`;
//! 4. if the new entry needs no meta file, removes the one of step 2.
//!
//! Without a meta file before or after, step 3 alone is the commit. A `delete`
//! removes `<name>`, then `<name>.meta.json`.
//!
//! Reading a key opens `<name>`, reads the meta file, then checks that
//! `<name>` is still the file it opened (else reads again), and decides:
//! - meta `valueHash` matches the value: the entry is value + meta;
//! - it does not, and the meta's `valueFrom` file exists with that hash: a
//!   write is between steps 2 and 3 (running, or interrupted by a crash): the
//!   entry is the new one, its value read from `valueFrom`;
//! - it does not, and `valueFrom` is gone: the meta file belongs to another
//!   value (only possible if something outside this protocol changed the
//!   files): the value is returned without metadata;
//! - no `valueHash` (a Miniflare 2 meta file): trusted as it is;
//! - no value file, but a meta file whose `valueFrom` exists: a new key
//!   between steps 2 and 3, read from `valueFrom`.
//!
//! So after a crash between any two system calls a reader sees the old entry
//! or the new one, never a torn value (values only ever appear by rename) and
//! never a value paired with another write's metadata. Recovery, run by the
//! next lock holder when the counter is odd (the next write, or a `get` or
//! `list` that finds the lock free), finishes committed writes by renaming
//! their `valueFrom` file into place and deletes every other temporary file
//! and every meta file of ours that has no value file (an interrupted delete).
//! Temporary and lock files start with `.^kv-` and are never listed: `^` never
//! occurs in key file names, nor in Miniflare 2's.
//!
//! Durability: rename-atomic, not fsync-durable. Nothing is fsynced, which
//! keeps a put at a few tens of microseconds; a process crash loses nothing
//! that was acknowledged, a power loss may lose the last writes (each key
//! still reads as some complete version, given a file system that orders data
//! before renames, as ext4, XFS, btrfs and APFS do).
//!
//! # Miniflare 2 directories
//!
//! Miniflare 2 nested keys containing `/ \ : |` into subdirectories and
//! replaced other characters (see [`names::legacy_path`]). Such files are
//! found by `list` (which walks subdirectories) and by `get` (which looks at
//! the key's own file, then where Miniflare 2 would have put it, then where an
//! earlier `list` found it). Writing or deleting a key removes its Miniflare 2
//! file and the directories left empty. If a key's own file name is taken by a
//! Miniflare 2 file of another key, or by a Miniflare 2 directory, those
//! entries are moved to their own file names first.
//!
//! # Listing and other processes
//!
//! `list` answers from an in-memory index per namespace ([`index::Index`]):
//! sorted keys with expiration and metadata, built by walking the directory
//! and reading only the meta files. Before use it is validated with a read of
//! the generation counter (bumped by every write of every process) and a
//! `stat` of each directory (for changes made by hand or by Miniflare 2). When
//! stale, it is rescanned, re-reading only meta files whose inode, size or
//! mtime changed. Our own writes update it in place. `get` never uses cached
//! data, so another process's writes are seen by the next call either way.
//!
//! The parsed meta files are also saved to `.^kv-index` when the storage is
//! dropped (and after a scan that had to read many), so that the next process
//! checks each meta file with a `stat` instead of reading it. That saved index
//! is only a cache: an entry is used only while its file's inode, size and
//! mtime are unchanged (and, unless the generation counter is still the one
//! it was saved at, only if the file was already old when it was read).
//!
//! Expired entries are invisible; `get` and `list` delete those they meet
//! when the lock is free.
//!
//! Limits: the layout assumes a case-sensitive file system that does not
//! normalise Unicode (Linux's); on macOS's default file system two keys that
//! differ only in letter case share a file. Files whose names are not UTF-8
//! are ignored. A Miniflare 2 key stored at `<name>.meta.json` is read by
//! nobody, as in Miniflare 2.

mod index;
mod meta;
mod names;
// Namespace registry (`.^kv-namespaces.json`), namespace deletion.
mod registry;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::SystemTime;

use bytes::Bytes;

use self::index::{CachedMeta, FileStamp, Index, Indexed};
use self::meta::{value_hash, MetaFile};
use self::names::{file_name, legacy_path, META_SUFFIX};
use super::Storage;
use crate::entry::{is_expired, Entry, ListedKey, Now};
use crate::error::{KvError, Result};
use crate::list::ListRequest;

pub use self::names::{decode_file_name, file_name as encode_file_name};

const LOCK_FILE: &str = ".^kv-lock";
const SAVED_INDEX_FILE: &str = ".^kv-index";
/// A scan that had to read this many meta files saves the index at once.
const SAVE_INDEX_AFTER_READS: usize = 1000;
const TEMP_PREFIX: &str = ".^kv-tmp-";
/// Reads of a key that keeps changing under the reader before giving up.
const READ_ATTEMPTS: usize = 16;
/// Chains of Miniflare 2 files, each in the way of the next one's own file.
const MAX_RELOCATION_DEPTH: usize = 32;
/// Lock files kept open between operations, for all namespaces together:
/// more than a process uses at once (a dev server's few namespaces, a test
/// run's one per worker), far below any descriptor limit. Beyond it, the
/// next write or `list` of a namespace reopens its lock file (a few µs).
const OPEN_LOCK_FILES: usize = 32;

/// Workers KV over a directory tree. See the module documentation.
pub struct DirStorage {
    root: PathBuf,
    namespaces: Mutex<HashMap<String, Arc<Namespace>>>,
    lock_files: Arc<OpenLockFiles>,
    #[cfg(test)]
    crash: tests::CrashSwitch,
}

struct Namespace {
    /// Unique in the process: names this namespace in [`OpenLockFiles`].
    id: u64,
    dir: PathBuf,
    /// The storage's open lock files, this namespace's among them or not.
    lock_files: Arc<OpenLockFiles>,
    /// Serialises this process's writers; `flock` serialises processes.
    writer: Mutex<()>,
    index: Mutex<Option<Index>>,
    own: Mutex<OwnWrites>,
}

/// Meta files this instance wrote, kept even before any `list` builds the
/// index, so that the index saved on drop spares the next process from
/// reading them.
#[derive(Default)]
struct OwnWrites {
    metas: HashMap<String, CachedMeta>,
    /// Generation after our last write. An entry is `exact` while no other
    /// process wrote after it.
    gen: Option<u64>,
    /// Something a saved index would gain: own writes, or meta files read.
    unsaved: bool,
}

struct LockFile {
    file: File,
    writable: bool,
}

/// A storage's most recently used lock files, at most [`OPEN_LOCK_FILES`],
/// least recently used first, with their namespace's id. A file that leaves
/// the list is closed when its last `Arc` goes; a [`Writer`] holds one, so an
/// eviction never releases a writer's `flock`. A short list searched from the
/// end (where the namespace just used is) rather than the `lru` crate: a few
/// lines, and at this size as fast as a hash map.
#[derive(Default)]
struct OpenLockFiles {
    files: Mutex<Vec<(u64, Arc<LockFile>)>>,
}

impl OpenLockFiles {
    /// Namespace `id`'s open lock file, now the most recently used.
    fn get(&self, id: u64) -> Option<Arc<LockFile>> {
        let mut files = lock(&self.files);
        let at = files.iter().rposition(|(owner, _)| *owner == id)?;
        let file = files[at].1.clone();
        if at + 1 != files.len() {
            let used = files.remove(at);
            files.push(used);
        }
        Some(file)
    }

    /// Keeps `file` open for namespace `id` (in place of any other), closing
    /// the least recently used file beyond the bound, preferably one that no
    /// writer holds (a held one stays open until its writer is done).
    fn insert(&self, id: u64, file: Arc<LockFile>) {
        let dropped = {
            let mut files = lock(&self.files);
            let replaced = files.iter().position(|(owner, _)| *owner == id).map(|at| files.remove(at));
            files.push((id, file));
            let evicted = (files.len() > OPEN_LOCK_FILES).then(|| {
                let at = files.iter().position(|(_, file)| Arc::strong_count(file) == 1).unwrap_or(0);
                files.remove(at)
            });
            (replaced, evicted)
        };
        drop(dropped); // closed outside the lock
    }

    /// Drops namespace `id`'s file, or only `stale` if given and still kept.
    fn forget(&self, id: u64, stale: Option<&Arc<LockFile>>) {
        let forgotten = {
            let mut files = lock(&self.files);
            let at = files
                .iter()
                .position(|(owner, file)| *owner == id && stale.is_none_or(|stale| Arc::ptr_eq(file, stale)));
            at.map(|at| files.remove(at))
        };
        drop(forgotten);
    }
}

/// What reading one value file (and its meta file) found.
enum Slot {
    Missing,
    /// A file of another key (a Miniflare 2 file at this name).
    Other,
    Found(Found),
}

struct Found {
    entry: Entry,
    /// An interrupted write was read through its temporary file.
    pending: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is applied whole or not at all (the
    // index is rebuilt when unsure), so a panic elsewhere cannot leave them
    // inconsistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn io_error(action: &str, path: &Path, err: io::Error) -> KvError {
    KvError::Storage(format!("KV directory storage: cannot {action} {}: {err}", path.display()))
}

/// `root` joined with a `/`-separated relative path ("" is `root` itself).
pub(crate) fn join_rel(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

fn meta_rel(rel: &str) -> String {
    format!("{rel}{META_SUFFIX}")
}

/// Errors that mean "there is no such file here".
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::InvalidFilename
    )
}

fn key_file_name(key: &str) -> Result<String> {
    file_name(key).ok_or_else(|| KvError::storage("KV directory storage: a key name cannot be empty"))
}

/// Which file an open handle and a path refer to.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(md: &fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (md.dev(), md.ino())
}

#[cfg(not(unix))]
fn file_id(md: &fs::Metadata) -> FileId {
    let nanos = md.modified().ok().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
    (md.len(), nanos.map_or(0, |d| d.as_nanos() as u64))
}

#[cfg(unix)]
fn read_counter(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 8];
    let n = file.read_at(&mut buf, 0)?;
    Ok(if n == buf.len() { u64::from_le_bytes(buf) } else { 0 })
}

#[cfg(unix)]
fn write_counter(file: &File, value: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(&value.to_le_bytes(), 0)
}

#[cfg(windows)]
fn read_counter(file: &File) -> io::Result<u64> {
    use std::os::windows::fs::FileExt;
    let mut buf = [0u8; 8];
    let n = file.seek_read(&mut buf, 0)?;
    Ok(if n == buf.len() { u64::from_le_bytes(buf) } else { 0 })
}

#[cfg(windows)]
fn write_counter(file: &File, value: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let bytes = value.to_le_bytes();
    let n = file.seek_write(&bytes, 0)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::WriteZero, "short write"))
    }
}

/// True when the lock file was deleted (e.g. the directory was removed)
/// while we held it open: it no longer locks anything.
#[cfg(unix)]
fn is_unlinked(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().map(|md| md.nlink() == 0).unwrap_or(true)
}

#[cfg(not(unix))]
fn is_unlinked(_file: &File) -> bool {
    false
}

impl Namespace {
    fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    /// The open lock file (kept open for the next call, see
    /// [`OpenLockFiles`]); `create` makes the directory and file if needed
    /// (writers), otherwise a missing file gives `None` (readers).
    fn lock_file(&self, create: bool) -> Result<Option<Arc<LockFile>>> {
        if let Some(current) = self.lock_files.get(self.id) {
            // Writers check for a deleted lock file after locking it.
            if (current.writable || !create) && (create || !is_unlinked(&current.file)) {
                return Ok(Some(current));
            }
            self.lock_files.forget(self.id, Some(&current));
        }
        let path = self.lock_path();
        let opened = if create {
            fs::create_dir_all(&self.dir).map_err(|e| io_error("create directory", &self.dir, e))?;
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map(|f| (f, true))
        } else {
            match OpenOptions::new().read(true).write(true).open(&path) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(&path).map(|f| (f, false)),
                other => other.map(|f| (f, true)),
            }
        };
        match opened {
            Ok((file, writable)) => {
                // Two threads may both open it; the file kept is the last.
                let opened = Arc::new(LockFile { file, writable });
                self.lock_files.insert(self.id, opened.clone());
                Ok(Some(opened))
            }
            Err(e) if !create && is_absent(&e) => Ok(None),
            Err(e) => Err(io_error("open", &path, e)),
        }
    }

    /// Drops `stale` from the cache (if still cached) so the next call reopens.
    fn forget_lock_file(&self, stale: &Arc<LockFile>) {
        self.lock_files.forget(self.id, Some(stale));
    }

    fn writable_lock_file(&self) -> Result<Arc<LockFile>> {
        // `lock_file(true)` creates the file, so `None` cannot happen.
        self.lock_file(true)?.ok_or_else(|| io_error("open", &self.lock_path(), io::ErrorKind::NotFound.into()))
    }

    /// The generation counter (0 before the first write).
    fn current_gen(&self) -> Result<u64> {
        match self.lock_file(false)? {
            Some(lock_file) => read_counter(&lock_file.file).map_err(|e| io_error("read", &self.lock_path(), e)),
            None => Ok(0),
        }
    }

    /// Applies a finished write of ours to the index, if one is built, and
    /// to the record of own meta files. It stays trusted only if nothing else
    /// changed the namespace meanwhile.
    fn note_write(
        &self,
        gen_before: u64,
        gen_after: u64,
        layout_changed: bool,
        metas: &[(String, Option<CachedMeta>)],
        apply: impl FnOnce(&mut Index),
    ) {
        {
            let mut own = lock(&self.own);
            if own.gen != Some(gen_before) {
                // Another process wrote since our last write.
                own.metas.values_mut().for_each(|cached| cached.exact = false);
            }
            own.gen = Some(gen_after);
            own.unsaved = true;
            for (rel, cached) in metas {
                match cached {
                    Some(cached) => own.metas.insert(rel.clone(), CachedMeta { exact: true, ..cached.clone() }),
                    None => own.metas.remove(rel),
                };
            }
        }
        let mut slot = lock(&self.index);
        let Some(index) = slot.as_mut() else { return };
        for (rel, cached) in metas {
            match cached {
                Some(cached) => index.metas.insert(rel.clone(), cached.clone()),
                None => index.metas.remove(rel),
            };
        }
        apply(index);
        if index.stable && index.gen == gen_before && !layout_changed {
            index.gen = gen_after;
            if index.restamp_top(&self.dir).is_err() {
                index.stable = false;
            }
        } else {
            index.stable = false;
        }
    }

    /// Where an earlier scan found `key`, if not at `canonical`.
    fn indexed_misplaced(&self, key: &str, canonical: &str) -> Option<String> {
        lock(&self.index).as_ref()?.misplaced(key, canonical).map(str::to_owned)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // A deleted namespace's lock file need not wait to be evicted.
        self.lock_files.forget(self.id, None);
    }
}

/// The namespace lock, held while changing files. Dropping it releases the
/// lock; a write that does not reach [`Writer::finish`] leaves the counter
/// odd, so the next holder recovers.
struct Writer<'a> {
    storage: &'a DirStorage,
    ns: &'a Namespace,
    lock_file: Arc<LockFile>,
    /// Counter value when acquired (after any recovery): even.
    gen: u64,
    dirty: bool,
    /// Files other than the key's own changed (Miniflare 2 files moved or
    /// removed): the index must be rescanned.
    layout_changed: bool,
    _in_process: MutexGuard<'a, ()>,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // Closing is not needed to release: the file stays open for reuse
        // (until it leaves `OpenLockFiles` and this writer's `Arc` is gone).
        let _ = self.lock_file.file.unlock();
    }
}

impl Writer<'_> {
    fn write_gen(&self, value: u64) -> Result<()> {
        self.storage.checkpoint()?;
        write_counter(&self.lock_file.file, value).map_err(|e| io_error("write", &self.ns.lock_path(), e))
    }

    /// Marks the namespace as being changed (odd counter); idempotent.
    fn begin(&mut self) -> Result<()> {
        if !self.dirty {
            self.write_gen(self.gen + 1)?;
            self.dirty = true;
        }
        Ok(())
    }

    /// Marks the change complete and returns the new counter value.
    fn finish(self) -> Result<u64> {
        if !self.dirty {
            return Ok(self.gen);
        }
        self.write_gen(self.gen + 2)?;
        Ok(self.gen + 2)
    }

    fn dir(&self) -> &Path {
        &self.ns.dir
    }
}

impl DirStorage {
    /// Storage rooted at `root` (made if missing; relative paths resolve
    /// against the current directory).
    pub fn open(root: impl AsRef<Path>) -> Result<DirStorage> {
        let root = root.as_ref();
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            let cwd = std::env::current_dir().map_err(|e| io_error("resolve", root, e))?;
            cwd.join(root)
        };
        fs::create_dir_all(&root).map_err(|e| io_error("create directory", &root, e))?;
        if !root.is_dir() {
            return Err(KvError::Storage(format!("KV directory storage: {} is not a directory", root.display())));
        }
        Ok(DirStorage {
            root,
            namespaces: Mutex::default(),
            lock_files: Arc::default(),
            #[cfg(test)]
            crash: tests::CrashSwitch::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A point at which tests can make the process "die" (see `tests.rs`).
    #[inline]
    fn checkpoint(&self) -> Result<()> {
        #[cfg(test)]
        self.crash.checkpoint()?;
        Ok(())
    }

    fn namespace(&self, name: &str) -> Result<Arc<Namespace>> {
        let mut namespaces = lock(&self.namespaces);
        if let Some(ns) = namespaces.get(name) {
            return Ok(ns.clone());
        }
        let file = file_name(name)
            .ok_or_else(|| KvError::storage("KV directory storage: a namespace name cannot be empty"))?;
        let canonical = self.root.join(&file);
        // A namespace that only Miniflare 2 wrote lives at its sanitised path.
        let dir = match legacy_path(name) {
            Some(legacy) if legacy != file && !canonical.exists() && self.root.join(&legacy).is_dir() => {
                self.root.join(legacy)
            }
            _ => canonical,
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let ns = Arc::new(Namespace {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dir,
            lock_files: self.lock_files.clone(),
            writer: Mutex::new(()),
            index: Mutex::new(None),
            own: Mutex::default(),
        });
        namespaces.insert(name.to_owned(), ns.clone());
        Ok(ns)
    }

    /// Takes the namespace lock. With `wait: false`, `None` if another
    /// thread or process holds it.
    fn writer<'a>(&'a self, ns: &'a Namespace, wait: bool) -> Result<Option<Writer<'a>>> {
        let in_process = if wait {
            lock(&ns.writer)
        } else {
            match ns.writer.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return Ok(None),
            }
        };
        let lock_file = loop {
            let lock_file = ns.writable_lock_file()?;
            if wait {
                lock_file.file.lock().map_err(|e| io_error("lock", &ns.lock_path(), e))?;
            } else {
                match lock_file.file.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => return Err(io_error("lock", &ns.lock_path(), e)),
                }
            }
            // Deleted while we waited (the directory was removed): lock the
            // new one instead.
            if is_unlinked(&lock_file.file) {
                let _ = lock_file.file.unlock();
                ns.forget_lock_file(&lock_file);
                continue;
            }
            break lock_file;
        };
        let gen = read_counter(&lock_file.file).map_err(|e| io_error("read", &ns.lock_path(), e))?;
        let mut writer = Writer {
            storage: self,
            ns,
            lock_file,
            gen,
            dirty: gen % 2 == 1,
            layout_changed: false,
            _in_process: in_process,
        };
        if writer.dirty {
            // The last writer died mid-change.
            self.recover(&mut writer)?;
            writer.write_gen(gen + 1)?;
            writer.gen = gen + 1;
            writer.dirty = false;
            writer.layout_changed = true;
        }
        Ok(Some(writer))
    }

    fn writer_waiting<'a>(&'a self, ns: &'a Namespace) -> Result<Writer<'a>> {
        // Waiting never gives up, so `None` cannot happen.
        self.writer(ns, true)?.ok_or_else(|| io_error("lock", &ns.lock_path(), io::ErrorKind::WouldBlock.into()))
    }

    /// Finishes or undoes what dead writers left (see the module docs).
    fn recover(&self, w: &mut Writer) -> Result<()> {
        let dir = w.dir().to_path_buf();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(io_error("list", &dir, e)),
        };
        let mut temps = HashSet::new();
        let mut values = HashSet::new();
        let mut metas = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &dir, e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if is_temp_name(&name) {
                temps.insert(name);
            } else if names::is_internal(&name) {
                continue;
            } else if name.ends_with(META_SUFFIX) {
                metas.push(name);
            } else {
                values.insert(name);
            }
        }
        for meta_name in metas {
            let meta_path = dir.join(&meta_name);
            let Some(Ok(meta)) = read_meta_file(&meta_path)? else { continue };
            // Meta files without a hash are Miniflare 2's: not ours to judge.
            let Some(hash) = meta.value_hash.as_deref() else { continue };
            let rel = &meta_name[..meta_name.len() - META_SUFFIX.len()];
            match meta.value_from.as_deref().filter(|from| temps.contains(*from)) {
                Some(from) => {
                    let from_path = dir.join(from);
                    let pending = fs::read(&from_path).map_err(|e| io_error("read", &from_path, e))?;
                    if value_hash(&pending) != hash {
                        continue;
                    }
                    self.checkpoint()?;
                    rename(&from_path, &dir.join(rel))?;
                    temps.remove(from);
                    let plain =
                        meta.expiration.is_none() && meta.metadata.is_none() && meta.key.as_deref() == Some(rel);
                    if plain {
                        self.checkpoint()?;
                        remove_file(&meta_path)?;
                    }
                }
                None if !values.contains(rel) => {
                    self.checkpoint()?;
                    remove_file(&meta_path)?;
                }
                None => {}
            }
        }
        for temp in temps {
            self.checkpoint()?;
            remove_file(&dir.join(temp))?;
        }
        Ok(())
    }

    /// Writes `entry` as `key`'s own file `name`.
    fn store(&self, w: &mut Writer, key: &str, name: &str, entry: &Entry, depth: usize) -> Result<Option<CachedMeta>> {
        let meta_in_place = self.make_room(w, key, name, depth)?;
        self.write_files(w, key, name, entry, meta_in_place)
    }

    /// Moves Miniflare 2 entries that occupy `name` to their own names;
    /// returns whether a meta file is at `name`.
    fn make_room(&self, w: &mut Writer, key: &str, name: &str, depth: usize) -> Result<bool> {
        let value_path = w.dir().join(name);
        let meta_path = w.dir().join(meta_rel(name));
        let meta = read_meta_file(&meta_path)?;
        match fs::symlink_metadata(&value_path) {
            Ok(md) if md.is_dir() => {
                self.relocate_tree(w, name, depth)?;
                Ok(fs::symlink_metadata(&meta_path).is_ok())
            }
            Ok(_) => {
                // An unreadable meta file at our own name: overwritten.
                let owner = match &meta {
                    Some(Ok(meta)) => meta.key.as_deref().unwrap_or(name),
                    _ => key,
                };
                if owner == key {
                    return Ok(meta.is_some());
                }
                let owner = owner.to_owned();
                self.relocate(w, name, &owner, depth)?;
                Ok(false)
            }
            Err(e) if is_absent(&e) => Ok(meta.is_some()),
            Err(e) => Err(io_error("read", &value_path, e)),
        }
    }

    /// The write protocol proper (module docs, steps 1–4).
    fn write_files(
        &self,
        w: &mut Writer,
        key: &str,
        name: &str,
        entry: &Entry,
        meta_in_place: bool,
    ) -> Result<Option<CachedMeta>> {
        w.begin()?;
        let dir = w.dir().to_path_buf();
        let (value_temp, _) = self.create_temp(&dir, ".value", &entry.value)?;
        let needs_meta = entry.expiration.is_some() || entry.metadata.is_some() || name != key;
        if !needs_meta && !meta_in_place {
            self.checkpoint()?;
            rename(&dir.join(&value_temp), &dir.join(name))?;
            return Ok(None);
        }
        let meta = MetaFile {
            key: Some(key.to_owned()),
            expiration: entry.expiration.filter(|_| needs_meta),
            metadata: entry.metadata.clone().filter(|_| needs_meta),
            value_hash: Some(value_hash(&entry.value)),
            value_from: Some(value_temp.clone()),
        };
        let (meta_temp, meta_file) = self.create_temp(&dir, ".meta", meta.render().as_bytes())?;
        // Renaming keeps inode, size and mtime: this is the stamp the index
        // will see.
        let stamp = meta_file
            .metadata()
            .map(|md| FileStamp::of(&md))
            .map_err(|e| io_error("read", &dir.join(&meta_temp), e))?;
        drop(meta_file);
        let meta_path = dir.join(meta_rel(name));
        self.checkpoint()?;
        rename(&dir.join(&meta_temp), &meta_path)?;
        self.checkpoint()?;
        rename(&dir.join(&value_temp), &dir.join(name))?;
        if !needs_meta {
            self.checkpoint()?;
            remove_file(&meta_path)?;
            return Ok(None);
        }
        Ok(Some(CachedMeta::new(stamp, SystemTime::now(), Ok(meta))))
    }

    /// Creates a new temporary file holding `bytes`; returns its name and the
    /// open file.
    fn create_temp(&self, dir: &Path, suffix: &str, bytes: &[u8]) -> Result<(String, File)> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        loop {
            let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let name = format!("{TEMP_PREFIX}{}-{seq}{suffix}", std::process::id());
            let path = dir.join(&name);
            self.checkpoint()?;
            let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                // Left by a dead process with our pid; recovery removes it.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("create", &path, e)),
            };
            self.checkpoint()?;
            file.write_all(bytes).map_err(|e| io_error("write", &path, e))?;
            return Ok((name, file));
        }
    }

    /// Moves the Miniflare 2 entry at `rel` (of key `owner`) to its own name.
    fn relocate(&self, w: &mut Writer, rel: &str, owner: &str, depth: usize) -> Result<()> {
        if depth >= MAX_RELOCATION_DEPTH {
            return Err(KvError::Storage(format!(
                "KV directory storage: cannot move the entries in the way of {} (too many nested Miniflare 2 entries)",
                w.dir().join(rel).display()
            )));
        }
        w.layout_changed = true;
        let target = key_file_name(owner)?;
        if let Slot::Found(found) = read_slot(w.dir(), rel, owner)? {
            // Already there when an earlier move was interrupted.
            if !owns(w.dir(), &target, owner)? {
                self.store(w, owner, &target, &found.entry, depth + 1)?;
            }
        }
        self.remove_entry_files(w, rel)
    }

    /// Empties a Miniflare 2 directory that occupies a key's file name,
    /// moving its entries to their own names, then removes it.
    fn relocate_tree(&self, w: &mut Writer, rel_dir: &str, depth: usize) -> Result<()> {
        let mut values = Vec::new();
        let mut metas = Vec::new();
        let mut dirs = vec![rel_dir.to_owned()];
        let mut next = 0;
        while next < dirs.len() {
            let current = dirs[next].clone();
            next += 1;
            let path = w.dir().join(&current);
            let entries = fs::read_dir(&path).map_err(|e| io_error("list", &path, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io_error("list", &path, e))?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                let rel = format!("{current}/{name}");
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if is_dir {
                    dirs.push(rel);
                } else if name.ends_with(META_SUFFIX) {
                    metas.push(rel);
                } else if !names::is_internal(&name) {
                    values.push(rel);
                }
            }
        }
        for rel in values {
            let owner = match read_meta_file(&w.dir().join(meta_rel(&rel)))? {
                Some(Ok(MetaFile { key: Some(key), .. })) => key,
                _ => rel.clone(),
            };
            self.relocate(w, &rel, &owner, depth + 1)?;
        }
        w.begin()?;
        for rel in metas {
            self.checkpoint()?;
            remove_file(&w.dir().join(rel))?;
        }
        for rel in dirs.iter().rev() {
            let path = w.dir().join(rel);
            self.checkpoint()?;
            match fs::remove_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove directory (it holds files that are not KV entries)", &path, e)),
            }
        }
        Ok(())
    }

    /// Removes the value file `rel`, then its meta file, then parent
    /// directories left empty (Miniflare 2 layout).
    fn remove_entry_files(&self, w: &mut Writer, rel: &str) -> Result<()> {
        w.begin()?;
        self.checkpoint()?;
        remove_file(&w.dir().join(rel))?;
        self.checkpoint()?;
        remove_file(&w.dir().join(meta_rel(rel)))?;
        if rel.contains('/') {
            w.layout_changed = true;
            let mut parent = Path::new(rel).parent();
            while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
                self.checkpoint()?;
                if fs::remove_dir(w.dir().join(dir)).is_err() {
                    break; // not empty (or already gone): stop here
                }
                parent = dir.parent();
            }
        }
        Ok(())
    }

    /// Files of `key` other than its own name `name`: its Miniflare 2 path,
    /// and wherever an earlier scan found it.
    fn other_copies(&self, ns: &Namespace, key: &str, name: &str) -> Vec<String> {
        let mut rels = Vec::new();
        if let Some(legacy) = legacy_path(key).filter(|p| p != name) {
            rels.push(legacy);
        }
        if let Some(rel) = ns.indexed_misplaced(key, name).filter(|r| !rels.contains(r)) {
            rels.push(rel);
        }
        rels
    }

    fn find(&self, ns: &Namespace, key: &str, name: &str) -> Result<Option<(String, Found)>> {
        if let Slot::Found(found) = read_slot(&ns.dir, name, key)? {
            return Ok(Some((name.to_owned(), found)));
        }
        for rel in self.other_copies(ns, key, name) {
            if let Slot::Found(found) = read_slot(&ns.dir, &rel, key)? {
                return Ok(Some((rel, found)));
            }
        }
        Ok(None)
    }

    /// Deletes expired entries `(key, rel)` if the lock is free. Best effort:
    /// a busy lock or a failure leaves them for a later call, and they stay
    /// invisible meanwhile.
    fn reclaim(&self, ns: &Namespace, expired: &[(String, String)], now: Now) {
        let _ = (|| -> Result<()> {
            let Some(mut w) = self.writer(ns, false)? else { return Ok(()) };
            let mut removed = Vec::new();
            for (key, rel) in expired {
                // Under the lock no write is half-done, so the meta file
                // alone tells whether the entry is still the expired one.
                let (value, meta) = inspect(w.dir(), rel)?;
                let Some(Ok(meta)) = meta else { continue };
                if value && meta.key.as_deref().unwrap_or(rel) == key && is_expired(meta.expiration, now) {
                    self.remove_entry_files(&mut w, rel)?;
                    removed.push((key.clone(), rel.clone()));
                }
            }
            let (before, layout_changed) = (w.gen, w.layout_changed);
            let after = w.finish()?;
            let metas: Vec<_> = removed.iter().map(|(_, rel)| (meta_rel(rel), None)).collect();
            ns.note_write(before, after, layout_changed, &metas, |index| {
                for (key, _) in &removed {
                    index.entries.remove(key);
                }
            });
            Ok(())
        })();
    }

    /// Makes the namespace's index current (see the module docs).
    fn refresh_index(&self, ns: &Namespace, slot: &mut Option<Index>) -> Result<()> {
        let mut gen = ns.current_gen()?;
        if let Some(index) = slot.as_ref() {
            if index.stable && index.gen == gen && index.dirs_unchanged(&ns.dir)? {
                return Ok(());
            }
        }
        if gen % 2 == 1 {
            // A write is under way or its writer died; if the lock is free
            // it died, and taking the lock repairs what it left. Best effort:
            // a read-only directory is still listed as it is.
            if let Ok(Some(writer)) = self.writer(ns, false) {
                drop(writer);
                gen = ns.current_gen()?;
            }
        }
        let old_metas = match slot.take() {
            Some(previous) => previous.metas,
            // First scan in this process: start from the saved index.
            None => match fs::read_to_string(ns.dir.join(SAVED_INDEX_FILE)) {
                Ok(text) => index::parse_saved_index(&text, gen),
                Err(_) => HashMap::new(),
            },
        };
        let (mut index, reads) = Index::scan(&ns.dir, gen, old_metas)?;
        index.stable = gen % 2 == 0 && ns.current_gen()? == gen;
        *slot = Some(index);
        if reads > 0 {
            lock(&ns.own).unsaved = true;
        }
        if reads >= SAVE_INDEX_AFTER_READS {
            self.save_index(ns, slot.as_ref());
        }
        Ok(())
    }

    /// Saves the parsed meta files for the next process (best effort: it is
    /// only a cache, checked file by file when loaded).
    fn save_index(&self, ns: &Namespace, index: Option<&Index>) {
        let _ = (|| -> Result<()> {
            let gen = ns.current_gen()?;
            let text = {
                let mut own = lock(&ns.own);
                if !own.unsaved {
                    return Ok(());
                }
                own.unsaved = false;
                let own_exact = own.gen == Some(gen);
                let index_exact = match index {
                    Some(index) => index.stable && index.gen == gen && index.dirs_unchanged(&ns.dir)?,
                    None => false,
                };
                // Without an index, keep what the previous saved index knew
                // (never exact: our own writes moved the generation since).
                let previous = match index {
                    Some(_) => HashMap::new(),
                    None => fs::read_to_string(ns.dir.join(SAVED_INDEX_FILE))
                        .map(|text| index::parse_saved_index(&text, u64::MAX))
                        .unwrap_or_default(),
                };
                let from_index = index.into_iter().flat_map(|i| i.metas.iter()).map(|(rel, c)| (rel, c, index_exact));
                let from_own = own
                    .metas
                    .iter()
                    .filter(|(rel, _)| index.is_none_or(|i| !i.metas.contains_key(*rel)))
                    .map(|(rel, c)| (rel, c, own_exact && c.exact));
                let from_previous = previous
                    .iter()
                    .filter(|(rel, _)| index.is_none() && !own.metas.contains_key(*rel))
                    .map(|(rel, c)| (rel, c, false));
                index::render_saved_index(gen, from_index.chain(from_own).chain(from_previous))
            };
            let (temp, file) = self.create_temp(&ns.dir, ".index", text.as_bytes())?;
            drop(file);
            self.checkpoint()?;
            rename(&ns.dir.join(temp), &ns.dir.join(SAVED_INDEX_FILE))
        })();
    }
}

impl Drop for DirStorage {
    fn drop(&mut self) {
        let namespaces: Vec<Arc<Namespace>> = lock(&self.namespaces).values().cloned().collect();
        for ns in namespaces {
            let slot = lock(&ns.index);
            self.save_index(&ns, slot.as_ref());
        }
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| {
        KvError::Storage(format!("KV directory storage: cannot rename {} to {}: {e}", from.display(), to.display()))
    })
}

/// Removes a file; a missing one is fine.
fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if !is_absent(&e) => Err(io_error("remove", path, e)),
        _ => Ok(()),
    }
}

/// A meta file: `None` if absent, `Some(Err)` if it cannot be parsed.
fn read_meta_file(path: &Path) -> Result<Option<std::result::Result<MetaFile, String>>> {
    Ok(read_file(path)?.map(|(text, _)| MetaFile::parse(&text)))
}

fn read_meta(path: &Path) -> Result<Option<MetaFile>> {
    match read_meta_file(path)? {
        None => Ok(None),
        Some(Ok(meta)) => Ok(Some(meta)),
        Some(Err(why)) => {
            Err(KvError::Storage(format!("KV directory storage: corrupt metadata file {}: {why}", path.display())))
        }
    }
}

/// Whether `rel` can name a value file at all.
fn is_value_rel(rel: &str) -> bool {
    let last = rel.rsplit('/').next().unwrap_or(rel);
    !rel.ends_with(META_SUFFIX) && !names::is_internal(last)
}

/// Whether a value file exists at `rel`, and its meta file.
fn inspect(dir: &Path, rel: &str) -> Result<(bool, Option<std::result::Result<MetaFile, String>>)> {
    if !is_value_rel(rel) {
        return Ok((false, None));
    }
    let value_path = dir.join(rel);
    let value = match fs::metadata(&value_path) {
        Ok(md) => md.is_file(),
        Err(e) if is_absent(&e) => false,
        Err(e) => return Err(io_error("read", &value_path, e)),
    };
    Ok((value, read_meta_file(&dir.join(meta_rel(rel)))?))
}

/// Whether the value file at `rel` is `key`'s.
fn owns(dir: &Path, rel: &str, key: &str) -> Result<bool> {
    if !is_value_rel(rel) {
        return Ok(false);
    }
    match fs::symlink_metadata(dir.join(rel)) {
        Err(e) if is_absent(&e) => return Ok(false),
        _ => {}
    }
    Ok(match inspect(dir, rel)? {
        (true, Some(Ok(meta))) => meta.key.as_deref().unwrap_or(rel) == key,
        (true, None) => rel == key,
        _ => false,
    })
}

/// Reads a whole file, or `None` if there is none; with its identity.
/// Files of this layout never change once renamed into place, so the size
/// from `fstat` is the size to read (no extra read to find the end).
fn read_file(path: &Path) -> Result<Option<(Vec<u8>, FileId)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(io_error("read", path, e)),
    };
    let md = file.metadata().map_err(|e| io_error("read", path, e))?;
    if md.is_dir() {
        return Ok(None);
    }
    let len = md.len() as usize;
    let mut bytes = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break, // shrunk by someone outside this protocol
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("read", path, e)),
        }
    }
    bytes.truncate(filled);
    Ok(Some((bytes, file_id(&md))))
}

fn read_value(path: &Path) -> Result<Option<(Bytes, FileId)>> {
    Ok(read_file(path)?.map(|(bytes, id)| (Bytes::from(bytes), id)))
}

/// The value of an unfinished write, if `meta` names a temporary file that
/// still exists and holds the value it was written for.
fn pending_value(dir: &Path, meta: &MetaFile) -> Result<Option<Bytes>> {
    let (Some(from), Some(hash)) = (meta.value_from.as_deref(), meta.value_hash.as_deref()) else {
        return Ok(None);
    };
    if !is_temp_name(from) || from.contains('/') {
        return Ok(None);
    }
    Ok(read_value(&dir.join(from))?.map(|(bytes, _)| bytes).filter(|bytes| value_hash(bytes) == hash))
}

fn entry_from(value: Bytes, meta: Option<&MetaFile>) -> Entry {
    Entry { value, expiration: meta.and_then(|m| m.expiration), metadata: meta.and_then(|m| m.metadata.clone()) }
}

/// Reads `key`'s entry from the value file `rel` (see the read rules in the
/// module docs).
fn read_slot(dir: &Path, rel: &str, key: &str) -> Result<Slot> {
    if !is_value_rel(rel) {
        return Ok(Slot::Missing);
    }
    let value_path = dir.join(rel);
    let meta_path = dir.join(meta_rel(rel));
    for _ in 0..READ_ATTEMPTS {
        let value = read_value(&value_path)?;
        let owner_is_key = |meta: &MetaFile| meta.key.as_deref().unwrap_or(rel) == key;
        let Some((value, id)) = value else {
            // A new key whose write has not renamed its value yet. Without a
            // value file, a meta file that cannot be parsed is no entry's
            // (Miniflare 2 stored a key named `<name>.meta.json` there).
            return Ok(match read_meta_file(&meta_path)? {
                Some(Ok(meta)) if owner_is_key(&meta) => match pending_value(dir, &meta)? {
                    Some(pending) => Slot::Found(Found { entry: entry_from(pending, Some(&meta)), pending: true }),
                    None => Slot::Missing,
                },
                _ => Slot::Missing,
            });
        };
        let meta = read_meta(&meta_path)?;
        // The meta file must describe the value we read: if the value file
        // was replaced meanwhile, both reads are repeated.
        match fs::metadata(&value_path) {
            Ok(md) if file_id(&md) == id => {}
            Ok(_) => continue,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(io_error("read", &value_path, e)),
        }
        let Some(meta) = meta else {
            return Ok(if rel == key {
                Slot::Found(Found { entry: entry_from(value, None), pending: false })
            } else {
                Slot::Other
            });
        };
        if !owner_is_key(&meta) {
            return Ok(Slot::Other);
        }
        let found = match meta.value_hash.as_deref() {
            None => Found { entry: entry_from(value, Some(&meta)), pending: false },
            Some(hash) if value_hash(&value) == hash => Found { entry: entry_from(value, Some(&meta)), pending: false },
            Some(_) => match pending_value(dir, &meta)? {
                Some(pending) => Found { entry: entry_from(pending, Some(&meta)), pending: true },
                None => Found { entry: entry_from(value, None), pending: false },
            },
        };
        return Ok(Slot::Found(found));
    }
    Err(KvError::Storage(format!("KV directory storage: {} kept changing while being read", value_path.display())))
}

impl Storage for DirStorage {
    fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        let name = key_file_name(key)?;
        let ns = self.namespace(namespace)?;
        let Some((rel, found)) = self.find(&ns, key, &name)? else { return Ok(None) };
        if found.pending {
            // Read through an unfinished write; if its writer is gone, taking
            // the lock finishes it.
            let _ = self.writer(&ns, false);
        }
        if found.entry.is_expired(now) {
            self.reclaim(&ns, &[(key.to_owned(), rel)], now);
            return Ok(None);
        }
        Ok(Some(found.entry))
    }

    fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        let name = key_file_name(key)?;
        if let Some(metadata) = &entry.metadata {
            if serde_json::from_str::<serde::de::IgnoredAny>(metadata).is_err() {
                return Err(KvError::storage("KV directory storage: metadata must be JSON text"));
            }
        }
        let ns = self.namespace(namespace)?;
        let mut w = self.writer_waiting(&ns)?;
        let written_meta = self.store(&mut w, key, &name, &entry, 0)?;
        for rel in self.other_copies(&ns, key, &name) {
            if owns(w.dir(), &rel, key)? {
                self.remove_entry_files(&mut w, &rel)?;
                w.layout_changed = true;
            }
        }
        let (before, layout_changed) = (w.gen, w.layout_changed);
        let after = w.finish()?;
        ns.note_write(before, after, layout_changed, &[(meta_rel(&name), written_meta)], |index| {
            index.entries.insert(
                key.to_owned(),
                Indexed { rel: name.clone(), expiration: entry.expiration, metadata: entry.metadata.clone() },
            );
        });
        Ok(())
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        let name = key_file_name(key)?;
        let ns = self.namespace(namespace)?;
        match fs::symlink_metadata(&ns.dir) {
            Err(e) if is_absent(&e) => return Ok(()), // nothing stored: create nothing
            _ => {}
        }
        let mut w = self.writer_waiting(&ns)?;
        let mut rels = vec![name.clone()];
        rels.extend(self.other_copies(&ns, key, &name));
        let mut removed = Vec::new();
        for rel in rels {
            if owns(w.dir(), &rel, key)? {
                self.remove_entry_files(&mut w, &rel)?;
                removed.push(rel);
            }
        }
        let (before, layout_changed) = (w.gen, w.layout_changed);
        let after = w.finish()?;
        if !removed.is_empty() {
            let metas: Vec<_> = removed.iter().map(|rel| (meta_rel(rel), None)).collect();
            ns.note_write(before, after, layout_changed, &metas, |index| {
                index.entries.remove(key);
            });
        }
        Ok(())
    }

    fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        let ns = self.namespace(namespace)?;
        let mut rows = Vec::new();
        let mut expired = Vec::new();
        {
            let mut slot = lock(&ns.index);
            self.refresh_index(&ns, &mut slot)?;
            let Some(index) = slot.as_ref() else { return Ok(rows) };
            let start = request.range_start();
            for (name, entry) in
                index.entries.range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            {
                if !name.starts_with(&request.prefix) || rows.len() == request.fetch_count() {
                    break;
                }
                if !request.admits(name) {
                    continue;
                }
                if is_expired(entry.expiration, now) {
                    expired.push((name.clone(), entry.rel.clone()));
                    continue;
                }
                rows.push(ListedKey {
                    name: name.clone(),
                    expiration: entry.expiration,
                    metadata: entry.metadata.clone(),
                });
            }
        }
        if !expired.is_empty() {
            self.reclaim(&ns, &expired, now);
        }
        Ok(rows)
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}
