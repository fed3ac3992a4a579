//! The local KV store of wrangler 4 and Miniflare 4 (`kvPersist:
//! "wrangler:<path>"`), read and written in place, so `wrangler dev`,
//! `wrangler kv … --local`, Miniflare 4 and this package share one store.
//!
//! # Layout (Miniflare 4's; `<kv>` is `<state>/v3/kv`)
//!
//! ```text
//! <kv>/miniflare-KVNamespaceObject/<object id>.sqlite   one database per namespace (WAL mode)
//! <kv>/miniflare-KVNamespaceObject/metadata.sqlite      workerd's own (alarms): never touched
//! <kv>/<blob folder>/blobs/<blob id>                    one file per value, the raw bytes
//! <kv>/.^kv-namespaces.sqlite                           ours: titles of `kv namespace create`
//! ```
//!
//! `<object id>` and `<blob folder>` come from the namespace id (see
//! [`names`]). Each database has one table,
//! `_mf_entries(key TEXT PRIMARY KEY, blob_id TEXT NOT NULL, expiration INTEGER, metadata TEXT)`
//! with an index on `expiration`; `expiration` is in milliseconds (the API's
//! seconds × 1000), `metadata` the JSON text or NULL. A blob id is 64 hex
//! digits of randomness and 16 of a millisecond timestamp.
//!
//! # Which path
//!
//! `wrangler:<path>` takes what `wrangler dev --persist-to` takes (default
//! `.wrangler/state`), its `v3` folder or its `v3/kv` folder: the first of
//! `<path>`, `<path>/kv`, `<path>/v3/kv` holding `miniflare-KVNamespaceObject`
//! is the store. Where none does yet, the store is made on the first write, at
//! the place the path's shape names (`…/v3/kv` itself, `…/v3` + `kv`, else
//! `+ v3/kv`), if the path is missing, empty, or already a wrangler state
//! folder (`v3` exists: wrangler has kept other data there). Any other path is
//! refused with an error naming it, so a typo never scatters files. Opening
//! writes nothing.
//!
//! # Writes (what Miniflare 4 does, in its order)
//!
//! A put writes the value to a new blob file, then replaces the row in one
//! `BEGIN IMMEDIATE` transaction, and deletes the old blob only after the
//! commit. So a crash at any point leaves the old row (with its blob) or the
//! new one (with its blob), at worst plus an orphaned blob file that no row
//! names; never a row without its blob. A delete removes the row, then the
//! blob. A failed commit deletes the blob it wrote.
//!
//! Durability: as the directory backend, safe against a process crash, not
//! fsync-durable (`synchronous = NORMAL` in WAL mode, blobs not fsynced).
//! Closing leaves a WAL under 1 MiB next to the database, as workerd does
//! (see `WAL_KEPT_AT_CLOSE`): recent writes are in that file until a
//! checkpoint, so copy a database together with its `-wal` (or the folder).
//!
//! # Other processes
//!
//! wrangler, workerd and other instances of this package may read and write
//! the same databases at the same time: SQLite's locks order the commits
//! (`busy_timeout` of 5 s, write transactions taken `IMMEDIATE` so they wait
//! instead of failing), and readers in WAL mode never wait. A read that finds
//! its blob gone because another process replaced the key meanwhile reads the
//! row again.
//!
//! # Refusals
//!
//! A `_mf_entries` table whose columns are not exactly the four above (a newer
//! Miniflare schema), a file that is not a SQLite database, a row naming a
//! blob that does not exist, or a blob id that is not hex: the call fails with
//! an error naming the file, and nothing is written (checks come before any
//! write).
//!
//! # Namespaces
//!
//! wrangler keeps no local list of namespaces (their titles live in the
//! account), and database names are one-way hashes of namespace ids. So
//! [`WranglerStorage::namespaces`] reports the namespaces registered here
//! (`kv namespace create`, with titles), plus every blob folder whose name,
//! taken as a namespace id, names an existing database holding at least one
//! row (titled by its id): that finds every namespace whose id is a safe file
//! name (wrangler's 32-hex-digit ids, binding names), not one whose id had
//! characters replaced (see [`names::blob_folder`]). Deleting a namespace
//! deletes its rows and their blobs; the database file stays (workerd may
//! have it open).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::Storage;
use crate::entry::{is_expired, Entry, ListedKey, Now, UnixSeconds};
use crate::error::{KvError, Result};
use crate::list::ListRequest;

mod admin;
pub mod names;

use names::{blob_folder, object_id, OBJECT_DIR};

/// How long a write waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Open namespace databases kept per storage (each holds three descriptors:
/// the database, its WAL and its shared-memory file).
const MAX_OPEN_DATABASES: usize = 64;
/// How often a read follows a key whose blob another process replaced.
const BLOB_RACE_RETRIES: usize = 8;

/// Miniflare 4's table: (name, declared type, NOT NULL, primary key position).
const ENTRIES_COLUMNS: [(&str, &str, bool, i64); 4] = [
    ("key", "TEXT", false, 1),
    ("blob_id", "TEXT", true, 0),
    ("expiration", "INTEGER", false, 0),
    ("metadata", "TEXT", false, 0),
];
const CREATE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS _mf_entries (
  key TEXT PRIMARY KEY,
  blob_id TEXT NOT NULL,
  expiration INTEGER,
  metadata TEXT
);
CREATE INDEX IF NOT EXISTS _mf_entries_expiration_idx ON _mf_entries(expiration);";

pub struct WranglerStorage {
    /// The `<state>/v3/kv` folder (it may not exist yet).
    root: PathBuf,
    /// Open namespace databases, by namespace id.
    open: RwLock<HashMap<String, Arc<Mutex<NamespaceDb>>>>,
}

/// One namespace's open database.
struct NamespaceDb {
    conn: Connection,
    path: PathBuf,
    /// Whether `_mf_entries` exists (checked to have the known columns).
    has_table: bool,
}

/// The WAL size above which closing the last connection checkpoints it into
/// the database (SQLite's default) instead of leaving it: the first open in
/// a process reads the whole WAL to rebuild its index (0.4–1.2 ms per MiB
/// measured here, bench/RESULTS.md), so a WAL kept below 1 MiB keeps open →
/// first get near 1 ms, while a checkpoint (two fsyncs) is paid at most once
/// per ~250 pages written.
const WAL_KEPT_AT_CLOSE: u64 = 1 << 20;

impl Drop for NamespaceDb {
    fn drop(&mut self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        if fs::metadata(&wal).is_ok_and(|wal| wal.len() > WAL_KEPT_AT_CLOSE) {
            // SQLite checkpoints at close only when no other connection (workerd,
            // wrangler) has the database open, so this never waits for them.
            let _ = self.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false);
        }
    }
}

/// A row of `_mf_entries`, without the key.
struct Row {
    blob_id: String,
    expiration: Option<UnixSeconds>,
    metadata: Option<Arc<str>>,
}

impl WranglerStorage {
    /// Finds the store at `path` (a state folder, its `v3` or its `v3/kv`;
    /// see the module doc). Writes nothing.
    pub fn open(path: impl AsRef<Path>) -> Result<WranglerStorage> {
        let root = find_root(path.as_ref())?;
        Ok(WranglerStorage { root, open: RwLock::default() })
    }

    /// The `v3/kv` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object_dir(&self) -> PathBuf {
        self.root.join(OBJECT_DIR)
    }

    /// Where namespace `namespace`'s database is.
    pub fn database_path(&self, namespace: &str) -> PathBuf {
        self.object_dir().join(format!("{}.sqlite", object_id(namespace)))
    }

    fn blob_dir(&self, namespace: &str) -> PathBuf {
        self.root.join(blob_folder(namespace)).join("blobs")
    }

    fn blob_path(&self, namespace: &str, blob_id: &str) -> Result<PathBuf> {
        // A row is data from another program: never let it name a path outside the folder.
        if blob_id.is_empty() || !blob_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KvError::Storage(format!(
                "wrangler KV store at {}: the database of namespace {namespace:?} names the blob {blob_id:?}, \
                 which is not a blob id (hex digits): the store is damaged or was not written by Miniflare",
                self.root.display()
            )));
        }
        Ok(self.blob_dir(namespace).join(blob_id))
    }

    /// The namespace's database, opened if needed. `None` when it does not
    /// exist and `create` is false (reads never create files).
    fn database(&self, namespace: &str, create: bool) -> Result<Option<Arc<Mutex<NamespaceDb>>>> {
        if let Some(db) = self.open.read().unwrap_or_else(|p| p.into_inner()).get(namespace) {
            return Ok(Some(db.clone()));
        }
        let path = self.database_path(namespace);
        if !create && !path.exists() {
            return Ok(None);
        }
        let db = Arc::new(Mutex::new(open_database(&path, create)?));
        let mut open = self.open.write().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_OPEN_DATABASES {
            // Close databases nobody is using right now.
            open.retain(|_, db| Arc::strong_count(db) > 1);
        }
        Ok(Some(open.entry(namespace.to_owned()).or_insert(db).clone()))
    }

    /// The database, locked, with its table checked: `None` when there is no
    /// database or no table yet (an empty namespace).
    fn with_table<T>(&self, namespace: &str, read: impl FnOnce(&mut NamespaceDb) -> Result<T>) -> Result<Option<T>> {
        let Some(db) = self.database(namespace, false)? else { return Ok(None) };
        let mut db = lock(&db);
        if !db.has_table {
            // Another process may have created it since.
            db.has_table = check_schema(&db.conn, &db.path)?;
            if !db.has_table {
                return Ok(None);
            }
        }
        read(&mut db).map(Some)
    }

    /// The database for a write, created with its table if needed.
    fn writable(&self, namespace: &str) -> Result<Arc<Mutex<NamespaceDb>>> {
        let db = self.database(namespace, true)?.expect("created on demand");
        {
            let mut guard = lock(&db);
            if !guard.has_table {
                guard.has_table = check_schema(&guard.conn, &guard.path)?;
            }
            if !guard.has_table {
                guard.conn.execute_batch(CREATE_SCHEMA).map_err(|e| sqlite_error(&guard.path, e))?;
                guard.has_table = true;
            }
        }
        Ok(db)
    }

    fn read_row(&self, db: &NamespaceDb, key: &str) -> Result<Option<Row>> {
        let mut statement = db
            .conn
            .prepare_cached("SELECT blob_id, expiration, metadata FROM _mf_entries WHERE key = ?1")
            .map_err(|e| sqlite_error(&db.path, e))?;
        statement
            .query_row([key], |row| Ok((row.get::<_, Value>(0)?, row.get::<_, Value>(1)?, row.get::<_, Value>(2)?)))
            .optional()
            .map_err(|e| sqlite_error(&db.path, e))?
            .map(|(blob_id, expiration, metadata)| decode_row(&db.path, key, blob_id, expiration, metadata))
            .transpose()
    }

    /// The live row of `key` with its value read into `out`; reclaims an
    /// expired row (and its blob).
    fn read_live(&self, namespace: &str, key: &str, now: Now, out: &mut Vec<u8>) -> Result<Option<Row>> {
        out.clear();
        let found = self.with_table(namespace, |db| {
            for _ in 0..BLOB_RACE_RETRIES {
                let Some(row) = self.read_row(db, key)? else { return Ok(None) };
                if is_expired(row.expiration, now) {
                    self.reclaim(namespace, db, key, &row.blob_id);
                    return Ok(None);
                }
                let path = self.blob_path(namespace, &row.blob_id)?;
                match fs::File::open(&path).and_then(|mut file| file.read_to_end(out)) {
                    Ok(_) => return Ok(Some(row)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // Replaced or deleted by another process since we read the row?
                        let again = self.read_row(db, key)?;
                        if again.as_ref().is_some_and(|again| again.blob_id == row.blob_id) {
                            return Err(missing_blob(&self.root, namespace, key, &path));
                        }
                        out.clear();
                    }
                    Err(e) => return Err(io_error("read", &path, e)),
                }
            }
            Err(KvError::Storage(format!(
                "wrangler KV store at {}: key {key:?} of namespace {namespace:?} kept changing while it was read",
                self.root.display()
            )))
        })?;
        Ok(found.flatten())
    }

    /// Deletes an expired row if it is still the one we read, then its blob.
    /// Best effort: a failure only means it is reclaimed later.
    fn reclaim(&self, namespace: &str, db: &NamespaceDb, key: &str, blob_id: &str) {
        let deleted = db.conn.execute("DELETE FROM _mf_entries WHERE key = ?1 AND blob_id = ?2", [key, blob_id]);
        if matches!(deleted, Ok(1)) {
            self.remove_blob(namespace, blob_id);
        }
    }

    /// Removes a blob no committed row names any more (best effort).
    fn remove_blob(&self, namespace: &str, blob_id: &str) {
        if let Ok(path) = self.blob_path(namespace, blob_id) {
            let _ = fs::remove_file(path);
        }
    }

    /// Writes `value` as a new blob of `namespace`; returns its id.
    fn write_blob(&self, namespace: &str, value: &[u8]) -> Result<String> {
        let dir = self.blob_dir(namespace);
        fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let id = new_blob_id();
        let path = dir.join(&id);
        let written = fs::File::create_new(&path).and_then(|mut file| io::Write::write_all(&mut file, value));
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(io_error("write", &path, e));
        }
        Ok(id)
    }

    /// Writes every entry in ONE transaction (blobs first, old blobs removed
    /// after the commit). Used by `put` and bulk writes.
    fn put_entries(&self, namespace: &str, entries: &[(&str, &Entry)]) -> Result<()> {
        let db = self.writable(namespace)?;
        let mut db = lock(&db);
        let mut new_blobs = Vec::with_capacity(entries.len());
        for (_, entry) in entries {
            match self.write_blob(namespace, &entry.value) {
                Ok(id) => new_blobs.push(id),
                Err(e) => {
                    new_blobs.iter().for_each(|id| self.remove_blob(namespace, id));
                    return Err(e);
                }
            }
        }
        let committed = commit_puts(&mut db, entries, &new_blobs);
        match committed {
            Ok(old_blobs) => {
                old_blobs.iter().for_each(|id| self.remove_blob(namespace, id));
                Ok(())
            }
            Err(e) => {
                new_blobs.iter().for_each(|id| self.remove_blob(namespace, id));
                Err(e)
            }
        }
    }

    /// Deletes the rows of `keys` in one transaction, then their blobs.
    fn delete_keys<'k>(&self, namespace: &str, keys: impl IntoIterator<Item = &'k str>) -> Result<()> {
        let blobs = self.with_table(namespace, |db| {
            let path = db.path.clone();
            let tx = db
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sqlite_error(&path, e))?;
            let mut blobs = Vec::new();
            {
                let mut statement = tx
                    .prepare_cached("DELETE FROM _mf_entries WHERE key = ?1 RETURNING blob_id")
                    .map_err(|e| sqlite_error(&path, e))?;
                for key in keys {
                    let blob: Option<Value> =
                        statement.query_row([key], |row| row.get(0)).optional().map_err(|e| sqlite_error(&path, e))?;
                    if let Some(Value::Text(id)) = blob {
                        blobs.push(id);
                    }
                }
            }
            tx.commit().map_err(|e| sqlite_error(&path, e))?;
            Ok(blobs)
        })?;
        for id in blobs.unwrap_or_default() {
            self.remove_blob(namespace, &id);
        }
        Ok(())
    }
}

/// Replaces the rows in one immediate transaction; returns the blobs the old
/// rows named (to delete once committed).
fn commit_puts(db: &mut NamespaceDb, entries: &[(&str, &Entry)], new_blobs: &[String]) -> Result<Vec<String>> {
    let path = db.path.clone();
    let tx = db.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| sqlite_error(&path, e))?;
    let mut old_blobs = Vec::new();
    {
        let mut previous =
            tx.prepare_cached("SELECT blob_id FROM _mf_entries WHERE key = ?1").map_err(|e| sqlite_error(&path, e))?;
        let mut replace = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO _mf_entries (key, blob_id, expiration, metadata) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| sqlite_error(&path, e))?;
        for ((key, entry), blob_id) in entries.iter().zip(new_blobs) {
            let old: Option<Value> =
                previous.query_row([key], |row| row.get(0)).optional().map_err(|e| sqlite_error(&path, e))?;
            if let Some(Value::Text(old)) = old {
                old_blobs.push(old);
            }
            let expiration_ms = entry.expiration.map(|seconds| seconds.saturating_mul(1000));
            replace
                .execute(params![key, blob_id, expiration_ms, entry.metadata.as_deref()])
                .map_err(|e| sqlite_error(&path, e))?;
        }
    }
    tx.commit().map_err(|e| sqlite_error(&path, e))?;
    // A key written twice in one batch names the first new blob as "old".
    old_blobs.retain(|old| !new_blobs.contains(old));
    Ok(old_blobs)
}

impl Storage for WranglerStorage {
    fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        let mut value = Vec::new();
        Ok(self.read_live(namespace, key, now, &mut value)?.map(|row| Entry {
            value: Bytes::from(value),
            expiration: row.expiration,
            metadata: row.metadata,
        }))
    }

    fn read_value(&self, namespace: &str, key: &str, now: Now, out: &mut Vec<u8>) -> Result<bool> {
        Ok(self.read_live(namespace, key, now, out)?.is_some())
    }

    fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        self.put_entries(namespace, &[(key, &entry)])
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        self.delete_keys(namespace, [key])
    }

    fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        let listed = self.with_table(namespace, |db| {
            let mut rows = Vec::new();
            let mut expired = Vec::new();
            {
                // TEXT compares with the BINARY collation: memcmp of the UTF-8
                // bytes, which is KV's order.
                let mut statement = db
                    .conn
                    .prepare_cached(
                        "SELECT key, blob_id, expiration, metadata FROM _mf_entries WHERE key >= ?1 ORDER BY key",
                    )
                    .map_err(|e| sqlite_error(&db.path, e))?;
                let mut cursor = statement.query([request.range_start()]).map_err(|e| sqlite_error(&db.path, e))?;
                while rows.len() < request.fetch_count() {
                    let Some(sql_row) = cursor.next().map_err(|e| sqlite_error(&db.path, e))? else { break };
                    let name: String = match sql_row.get::<_, Value>(0).map_err(|e| sqlite_error(&db.path, e))? {
                        Value::Text(name) => name,
                        other => return Err(unreadable_row(&db.path, &format!("{other:?}"), "the key is not text")),
                    };
                    if !name.starts_with(&request.prefix) {
                        break;
                    }
                    if !request.admits(&name) {
                        continue;
                    }
                    let field = |i| sql_row.get::<_, Value>(i).map_err(|e| sqlite_error(&db.path, e));
                    let row = decode_row(&db.path, &name, field(1)?, field(2)?, field(3)?)?;
                    if is_expired(row.expiration, now) {
                        expired.push((name, row.blob_id));
                        continue;
                    }
                    rows.push(ListedKey { name, expiration: row.expiration, metadata: row.metadata });
                }
            }
            for (key, blob_id) in expired {
                self.reclaim(namespace, db, &key, &blob_id);
            }
            Ok(rows)
        })?;
        Ok(listed.unwrap_or_default())
    }

    fn location(&self) -> String {
        format!("wrangler:{}", self.root.display())
    }
}

/// Which folder `path` names (see "Which path" in the module doc).
fn find_root(path: &Path) -> Result<PathBuf> {
    for candidate in [path.to_path_buf(), path.join("kv"), path.join("v3").join("kv")] {
        if candidate.join(OBJECT_DIR).is_dir() {
            return Ok(candidate);
        }
    }
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let root = match name(path).as_deref() {
        Some("kv") if path.parent().and_then(name).as_deref() == Some("v3") => path.to_path_buf(),
        Some("v3") => path.join("kv"),
        _ => path.join("v3").join("kv"),
    };
    let state_folder = root.parent().expect("the root is always below the path");
    let usable = match fs::read_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => false,
        Err(e) => return Err(io_error("read", path, e)),
        Ok(mut entries) => entries.next().is_none() || state_folder.is_dir(),
    };
    if !usable {
        return Err(KvError::Storage(format!(
            "{} holds no wrangler KV store: expected {} (the folder `wrangler dev --persist-to` uses, default \
             .wrangler/state), its v3 folder or its v3/kv folder. Give wrangler: the state folder.",
            path.display(),
            path.join("v3").join("kv").join(OBJECT_DIR).display()
        )));
    }
    Ok(root)
}

fn open_database(path: &Path, create: bool) -> Result<NamespaceDb> {
    let existed = path.exists();
    if create && !existed {
        let dir = path.parent().expect("a database path has a folder");
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sqlite_error(path, e))?;
    // Leave a small WAL in place at close, as workerd does, instead of folding
    // it into the database: that checkpoint costs two fsyncs per close, and the
    // next process's first write would then start a new WAL (two more). Each
    // `miniflare kv` command and each short-lived test opens and closes a
    // store, so this was most of their time (bench/RESULTS.md, wrangler
    // section). Nothing is at risk: the WAL is part of the database for every
    // SQLite that opens it. A large WAL is still checkpointed at close (see
    // `Drop for NamespaceDb`).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(|e| sqlite_error(path, e))?;
    // Connection-local: commits need no fsync in WAL mode.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| sqlite_error(path, e))?;
    // Reading the schema is the first access: a file that is not a database fails here.
    let has_table = check_schema(&conn, path)?;
    if !existed {
        // As Miniflare 4's databases (a journal mode is kept in the file).
        // Switching to WAL takes an exclusive lock, and SQLite answers BUSY at
        // once (no busy handler) while another process's connection, also
        // just created, reads the schema: wait for it as for any writer.
        retry_while_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(|e| sqlite_error(path, e))?;
    }
    Ok(NamespaceDb { conn, path: path.to_owned(), has_table })
}

/// Whether `_mf_entries` exists; an error if it has columns this code does not know.
fn check_schema(conn: &Connection, path: &Path) -> Result<bool> {
    let mut statement = conn
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('_mf_entries') ORDER BY cid")
        .map_err(|e| sqlite_error(path, e))?;
    let columns = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, bool>(2)?, row.get::<_, i64>(3)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| sqlite_error(path, e))?;
    if columns.is_empty() {
        return Ok(false);
    }
    let known = columns.len() == ENTRIES_COLUMNS.len()
        && columns.iter().zip(ENTRIES_COLUMNS).all(|((name, kind, not_null, pk), expected)| {
            (name.as_str(), kind.to_ascii_uppercase().as_str(), *not_null, *pk) == expected
        });
    if !known {
        let found: Vec<String> = columns.iter().map(|(name, kind, _, _)| format!("{name} {kind}")).collect();
        return Err(KvError::Storage(format!(
            "wrangler KV store: {} has a table _mf_entries with the columns ({}), not the schema this version \
             knows (key TEXT PRIMARY KEY, blob_id TEXT NOT NULL, expiration INTEGER, metadata TEXT): it was \
             written by a newer Miniflare. Nothing was read or changed; update miniflare-kv.",
            path.display(),
            found.join(", ")
        )));
    }
    Ok(true)
}

fn decode_row(path: &Path, key: &str, blob_id: Value, expiration: Value, metadata: Value) -> Result<Row> {
    let blob_id = match blob_id {
        Value::Text(id) => id,
        other => return Err(unreadable_row(path, key, &format!("blob_id is {other:?}"))),
    };
    let expiration = match expiration {
        Value::Null => None,
        Value::Integer(ms) => Some(ms.div_euclid(1000)),
        Value::Real(ms) if ms.is_finite() => Some((ms / 1000.0).floor() as UnixSeconds),
        other => return Err(unreadable_row(path, key, &format!("expiration is {other:?}"))),
    };
    let metadata = match metadata {
        Value::Null => None,
        Value::Text(json) => Some(Arc::from(json)),
        other => return Err(unreadable_row(path, key, &format!("metadata is {other:?}"))),
    };
    Ok(Row { blob_id, expiration, metadata })
}

/// 32 random bytes and the time in milliseconds as 8 big-endian bytes, in hex
/// (Miniflare's form). Randomness: two fresh namespace ids (OS-seeded hash
/// keys, clock, process id and a counter, through BLAKE3).
fn new_blob_id() -> String {
    let millis = Now::from_system_clock().0 as u64;
    format!("{}{}{millis:016x}", crate::admin::new_namespace_id(), crate::admin::new_namespace_id())
}

fn lock(db: &Mutex<NamespaceDb>) -> MutexGuard<'_, NamespaceDb> {
    // A panic cannot leave a connection half-changed: SQLite rolls back.
    db.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `attempt` again while SQLite answers BUSY without waiting, for up to
/// `BUSY_TIMEOUT` (what `busy_timeout` gives the statements that do wait).
fn retry_while_busy<T>(mut attempt: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match attempt() {
            Err(e)
                if matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

fn sqlite_error(path: &Path, e: rusqlite::Error) -> KvError {
    use rusqlite::ErrorCode;
    let why = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "it is not a SQLite database (damaged, or not written by Miniflare)".to_owned()
        }
        Some(ErrorCode::DatabaseCorrupt) => "the database is damaged".to_owned(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            format!("another process held the database locked for more than {} s", BUSY_TIMEOUT.as_secs())
        }
        _ => e.to_string(),
    };
    KvError::Storage(format!("wrangler KV store: {}: {why}", path.display()))
}

fn io_error(action: &str, path: &Path, e: io::Error) -> KvError {
    KvError::Storage(format!("wrangler KV store: could not {action} {}: {e}", path.display()))
}

fn unreadable_row(path: &Path, key: &str, why: &str) -> KvError {
    KvError::Storage(format!(
        "wrangler KV store: {} holds an unreadable row for key {key:?} ({why}): not written by Miniflare",
        path.display()
    ))
}

fn missing_blob(root: &Path, namespace: &str, key: &str, blob: &Path) -> KvError {
    KvError::Storage(format!(
        "wrangler KV store at {}: the value of key {key:?} in namespace {namespace:?} is missing ({} does not \
         exist): the store is damaged",
        root.display(),
        blob.display()
    ))
}
