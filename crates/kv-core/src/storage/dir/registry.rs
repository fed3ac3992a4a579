//! Namespace administration for directory storage.
//!
//! # Registry
//!
//! `<root>/.^kv-namespaces.json` holds `{"version":1,"namespaces":[{"id":…,
//! "title":…},…]}`. Namespace directories are named by
//! [`super::names::file_name`], which escapes `^`, and Miniflare 2's
//! sanitiser replaces `^`, so no namespace directory can ever be called
//! `.^kv-namespaces.json` (or `.^kv-namespaces.lock`).
//!
//! A change takes an exclusive `flock` on `<root>/.^kv-namespaces.lock` (so
//! processes take turns), reads the file, changes it, writes a temporary file
//! and renames it into place: readers, who take no lock, see the old registry
//! or the new one.
//!
//! # Deleting a namespace
//!
//! Takes the namespace's write lock (so no write is half-done and other
//! writers wait), removes its directory, then drops the registry entry. A
//! writer that was waiting finds its lock file deleted and starts afresh.
//!
//! # Bulk writes
//!
//! Key by key (each key atomically, see the write protocol in `dir.rs`),
//! after the whole batch was validated: a crash or an I/O error part-way
//! leaves the keys before it written. Best effort, unlike sled and Redis.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use super::super::admin::{NamespaceAdmin, NamespaceInfo, RegistryTable};
use super::names::{decode_file_name, is_internal};
use super::{io_error, is_absent, lock, DirStorage};
use crate::error::{KvError, Result};

const REGISTRY_FILE: &str = ".^kv-namespaces.json";
const REGISTRY_LOCK_FILE: &str = ".^kv-namespaces.lock";

/// `flock` excludes other processes; this excludes threads of this one
/// (the lock belongs to an open file, and each change opens its own).
static REGISTRY_CHANGE: Mutex<()> = Mutex::new(());

impl DirStorage {
    fn registry_path(&self) -> PathBuf {
        self.root().join(REGISTRY_FILE)
    }

    fn load_registry(&self) -> Result<RegistryTable> {
        let path = self.registry_path();
        match fs::read_to_string(&path) {
            Ok(text) => RegistryTable::from_json(&text).map_err(|why| {
                KvError::Storage(format!(
                    "KV directory storage: the namespace registry {} is damaged ({why}): fix or delete it",
                    path.display()
                ))
            }),
            Err(e) if is_absent(&e) => Ok(RegistryTable::default()),
            Err(e) => Err(io_error("read", &path, e)),
        }
    }

    /// Runs `change` on the registry under the registry lock and stores the
    /// result if `change` succeeded.
    fn change_registry<T>(&self, change: impl FnOnce(&mut RegistryTable) -> Result<T>) -> Result<T> {
        let _threads = lock(&REGISTRY_CHANGE);
        let lock_path = self.root().join(REGISTRY_LOCK_FILE);
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| io_error("open", &lock_path, e))?;
        lock_file.lock().map_err(|e| io_error("lock", &lock_path, e))?;
        let mut table = self.load_registry()?;
        let before = table.clone();
        let result = change(&mut table)?;
        if table != before {
            let path = self.registry_path();
            // Unique among lock holders: one process at a time gets here.
            let temp = self.root().join(format!("{REGISTRY_FILE}.tmp-{}", std::process::id()));
            fs::write(&temp, table.to_json()).map_err(|e| io_error("write", &temp, e))?;
            fs::rename(&temp, &path).map_err(|e| io_error("replace", &path, e))?;
        }
        Ok(result)
        // `lock_file` closes here, releasing the flock.
    }
}

impl NamespaceAdmin for DirStorage {
    fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        Ok(self.load_registry()?.namespaces())
    }

    fn create_namespace(&self, info: &NamespaceInfo) -> Result<()> {
        self.change_registry(|table| table.create(info))
    }

    fn rename_namespace(&self, id: &str, title: &str) -> Result<()> {
        self.change_registry(|table| table.rename(id, title))
    }

    fn delete_namespace(&self, id: &str) -> Result<bool> {
        let ns = self.namespace(id)?;
        let exists = match fs::symlink_metadata(&ns.dir) {
            Ok(_) => true,
            Err(e) if is_absent(&e) => false,
            Err(e) => return Err(io_error("read", &ns.dir, e)),
        };
        if exists {
            let writer = self.writer_waiting(&ns)?;
            match fs::remove_dir_all(&ns.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove directory", &ns.dir, e)),
            }
            drop(writer);
        }
        // The next use of this name starts from nothing (and re-resolves
        // a Miniflare 2 directory, if one remains).
        *lock(&ns.index) = None;
        lock(&self.namespaces).remove(id);
        self.change_registry(|table| Ok(table.remove(id)))
    }

    /// The directories under the root whose names decode to a namespace id
    /// (ours, and Miniflare 2's for ids it did not have to change). A name
    /// shortened with a hash cannot be decoded and is not found.
    fn stored_namespaces(&self) -> Result<Vec<String>> {
        let root = self.root();
        let entries = match fs::read_dir(root) {
            Ok(entries) => entries,
            Err(e) if is_absent(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io_error("read", root, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("read", root, e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if is_internal(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(id) = decode_file_name(&name) {
                found.push(id);
            }
        }
        Ok(found)
    }
}
