//! Namespace administration on the wrangler store.
//!
//! Titles given by `kv namespace create` live in `<kv>/.^kv-namespaces.sqlite`
//! (table `namespaces(id PRIMARY KEY, title UNIQUE)`; a rollback-journal
//! database, so processes take turns through SQLite's own locking). No
//! namespace's blob folder can have that name: Miniflare replaces `^` in
//! folder names. Namespaces that hold data are found on disk (see the parent
//! module's "Namespaces").
//!
//! Bulk writes and deletes are ONE transaction each (blobs written first), so
//! a batch is applied atomically, as in sled.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::super::admin::{NamespaceAdmin, NamespaceInfo};
use super::{io_error, sqlite_error, WranglerStorage, BUSY_TIMEOUT, OBJECT_DIR};
use crate::entry::Entry;
use crate::error::{KvError, Result};

const REGISTRY_FILE: &str = ".^kv-namespaces.sqlite";

impl WranglerStorage {
    fn registry_path(&self) -> PathBuf {
        self.root.join(REGISTRY_FILE)
    }

    /// The registry database; `None` if it does not exist and `create` is false.
    fn registry(&self, create: bool) -> Result<Option<Connection>> {
        let path = self.registry_path();
        if !create && !path.exists() {
            return Ok(None);
        }
        if create {
            fs::create_dir_all(&self.root).map_err(|e| io_error("create", &self.root, e))?;
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| sqlite_error(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sqlite_error(&path, e))?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS namespaces (id TEXT PRIMARY KEY, title TEXT NOT NULL UNIQUE)")
            .map_err(|e| sqlite_error(&path, e))?;
        Ok(Some(conn))
    }

    fn registered(&self) -> Result<BTreeMap<String, String>> {
        let Some(conn) = self.registry(false)? else { return Ok(BTreeMap::new()) };
        let path = self.registry_path();
        let mut statement = conn.prepare("SELECT id, title FROM namespaces").map_err(|e| sqlite_error(&path, e))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<BTreeMap<_, _>>>())
            .map_err(|e| sqlite_error(&path, e));
        rows
    }

    /// Namespace ids found on disk: blob folders whose name, as an id, names
    /// a database holding at least one row.
    pub fn namespaces_on_disk(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("read", &self.root, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("read", &self.root, e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if name == OBJECT_DIR || name.starts_with(".^") || !entry.path().join("blobs").is_dir() {
                continue;
            }
            if self.holds_rows(&name)? {
                found.push(name);
            }
        }
        found.sort();
        Ok(found)
    }

    fn holds_rows(&self, namespace: &str) -> Result<bool> {
        let any = self.with_table(namespace, |db| {
            db.conn
                .query_row("SELECT EXISTS (SELECT 1 FROM _mf_entries)", [], |row| row.get::<_, bool>(0))
                .map_err(|e| sqlite_error(&db.path, e))
        })?;
        Ok(any.unwrap_or(false))
    }

    /// Deletes every row of `namespace` in one transaction, then the blobs;
    /// whether there were any.
    fn delete_all_rows(&self, namespace: &str) -> Result<bool> {
        let blobs = self.with_table(namespace, |db| {
            let path = db.path.clone();
            let tx = db
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sqlite_error(&path, e))?;
            let blobs = {
                let mut statement =
                    tx.prepare("DELETE FROM _mf_entries RETURNING blob_id").map_err(|e| sqlite_error(&path, e))?;
                let rows = statement
                    .query_map([], |row| row.get::<_, String>(0))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(|e| sqlite_error(&path, e))?;
                rows
            };
            tx.commit().map_err(|e| sqlite_error(&path, e))?;
            Ok(blobs)
        })?;
        let blobs = blobs.unwrap_or_default();
        for id in &blobs {
            self.remove_blob(namespace, id);
        }
        Ok(!blobs.is_empty())
    }

    /// Runs `change` in an immediate transaction on the registry.
    fn change_registry<T>(&self, change: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.registry(true)?.expect("created on demand");
        let path = self.registry_path();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| sqlite_error(&path, e))?;
        let result = change(&tx)?;
        tx.commit().map_err(|e| sqlite_error(&path, e))?;
        Ok(result)
    }
}

fn title_taken(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

impl NamespaceAdmin for WranglerStorage {
    /// The namespaces made with `kv namespace create` (titles kept in the
    /// registry database), in id order. Those wrangler or workerd wrote are
    /// found by [`NamespaceAdmin::stored_namespaces`], as on every store.
    fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        Ok(self.registered()?.into_iter().map(|(id, title)| NamespaceInfo { id, title }).collect())
    }

    fn stored_namespaces(&self) -> Result<Vec<String>> {
        self.namespaces_on_disk()
    }

    fn create_namespace(&self, info: &NamespaceInfo) -> Result<()> {
        let path = self.registry_path();
        self.change_registry(|tx| {
            let id_taken = tx
                .query_row("SELECT 1 FROM namespaces WHERE id = ?1", [&info.id], |_| Ok(()))
                .optional()
                .map_err(|e| sqlite_error(&path, e))?
                .is_some();
            if id_taken {
                return Err(KvError::Storage(format!(
                    "a KV namespace with the id {:?} is already registered",
                    info.id
                )));
            }
            match tx.execute("INSERT INTO namespaces (id, title) VALUES (?1, ?2)", [&info.id, &info.title]) {
                Ok(_) => Ok(()),
                Err(e) if title_taken(&e) => Err(KvError::NamespaceTitleExists(info.title.clone())),
                Err(e) => Err(sqlite_error(&path, e)),
            }
        })
    }

    /// A namespace found on disk but never registered gets registered with the title.
    fn rename_namespace(&self, id: &str, title: &str) -> Result<()> {
        let on_disk = !self.registered()?.contains_key(id) && self.holds_rows(id)?;
        let path = self.registry_path();
        self.change_registry(|tx| {
            let statement = if on_disk {
                "INSERT INTO namespaces (id, title) VALUES (?1, ?2)"
            } else {
                "UPDATE namespaces SET title = ?2 WHERE id = ?1"
            };
            match tx.execute(statement, [id, title]) {
                Ok(0) if !on_disk => Err(KvError::NamespaceNotFound(id.to_owned())),
                Ok(_) => Ok(()),
                Err(e) if title_taken(&e) => Err(KvError::NamespaceTitleExists(title.to_owned())),
                Err(e) => Err(sqlite_error(&path, e)),
            }
        })
    }

    fn delete_namespace(&self, id: &str) -> Result<bool> {
        let had_rows = self.delete_all_rows(id)?;
        let registered = match self.registry(false)? {
            None => false,
            Some(conn) => {
                conn.execute("DELETE FROM namespaces WHERE id = ?1", [id])
                    .map_err(|e| sqlite_error(&self.registry_path(), e))?
                    > 0
            }
        };
        Ok(registered || had_rows)
    }

    fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> Result<()> {
        let entries: Vec<(&str, &Entry)> = entries.iter().map(|(key, entry)| (key.as_str(), entry)).collect();
        self.put_entries(namespace, &entries)
    }

    fn delete_many(&self, namespace: &str, keys: &[String]) -> Result<()> {
        self.delete_keys(namespace, keys.iter().map(String::as_str))
    }
}
