//! Namespace administration in sled.
//!
//! The registry is the tree `registry/namespaces` (id → title, UTF-8); a
//! namespace's data is the range of the tree `entries` under its prefix (see
//! the parent module), so the two can never meet. sled lets one process at a
//! time open a database, so a process-wide mutex is enough to make "title not
//! taken, then insert" atomic. Deleting a namespace removes its range in one
//! `Batch`. A bulk write or delete is one `Batch`, applied atomically to
//! `entries`, then flushed.

use std::sync::Mutex;

use super::super::admin::{NamespaceAdmin, NamespaceInfo, RegistryTable};
use super::{encode_record, entry_key, namespace_prefix, sled_error, SledStorage};
use crate::entry::Entry;
use crate::error::{KvError, Result};

const REGISTRY_TREE: &str = "registry/namespaces";

/// Serialises registry changes (read, check, write) within the process.
static REGISTRY_CHANGE: Mutex<()> = Mutex::new(());

impl SledStorage {
    fn registry_tree(&self) -> Result<::sled::Tree> {
        let shared = self.shared();
        shared.db.open_tree(REGISTRY_TREE.as_bytes()).map_err(|e| sled_error(&shared.path, e))
    }

    fn load_registry(&self, tree: &::sled::Tree) -> Result<RegistryTable> {
        let path = &self.shared().path;
        let mut table = RegistryTable::default();
        for item in tree.iter() {
            let (id, title) = item.map_err(|e| sled_error(path, e))?;
            let (Ok(id), Ok(title)) = (std::str::from_utf8(&id), std::str::from_utf8(&title)) else {
                return Err(KvError::Storage(format!(
                    "sled database at {} holds a namespace registry record that is not UTF-8",
                    path.display()
                )));
            };
            table.create(&NamespaceInfo { id: id.to_owned(), title: title.to_owned() })?;
        }
        Ok(table)
    }

    /// Runs `change` on the registry and writes the result for `id`.
    fn change_registry(&self, id: &str, change: impl FnOnce(&mut RegistryTable) -> Result<()>) -> Result<()> {
        let _one_at_a_time = REGISTRY_CHANGE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tree = self.registry_tree()?;
        let mut table = self.load_registry(&tree)?;
        change(&mut table)?;
        let path = &self.shared().path;
        match table.namespaces().into_iter().find(|info| info.id == id) {
            Some(info) => tree.insert(id.as_bytes(), info.title.as_bytes()).map(drop),
            None => tree.remove(id.as_bytes()).map(drop),
        }
        .map_err(|e| sled_error(path, e))?;
        self.flush()
    }
}

impl NamespaceAdmin for SledStorage {
    fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        let tree = self.registry_tree()?;
        Ok(self.load_registry(&tree)?.namespaces())
    }

    fn create_namespace(&self, info: &NamespaceInfo) -> Result<()> {
        self.change_registry(&info.id, |table| table.create(info))
    }

    fn rename_namespace(&self, id: &str, title: &str) -> Result<()> {
        self.change_registry(id, |table| table.rename(id, title))
    }

    fn delete_namespace(&self, id: &str) -> Result<bool> {
        let path = self.path();
        let mut batch = ::sled::Batch::default();
        for item in self.entries().scan_prefix(namespace_prefix(id.as_bytes())) {
            let (stored_key, _) = item.map_err(|e| sled_error(path, e))?;
            batch.remove(stored_key);
        }
        // Flushed with the registry change below.
        self.entries().apply_batch(batch).map_err(|e| sled_error(path, e))?;
        let mut registered = false;
        self.change_registry(id, |table| {
            registered = table.remove(id);
            Ok(())
        })?;
        Ok(registered)
    }

    /// One seek per namespace: after the first key of a namespace, jump past
    /// its whole prefix range.
    fn stored_namespaces(&self) -> Result<Vec<String>> {
        let path = self.path();
        let mut found = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some(item) = self.entries().range(from.as_slice()..).next() {
            let (stored_key, _) = item.map_err(|e| sled_error(path, e))?;
            let Some(len) = stored_key.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize) else {
                break; // not written by this backend
            };
            let Some(namespace) = stored_key.get(4..4 + len) else { break };
            if let Ok(id) = std::str::from_utf8(namespace) {
                found.push(id.to_owned());
            }
            match prefix_successor(namespace_prefix(namespace)) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(found)
    }

    fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> Result<()> {
        let mut batch = ::sled::Batch::default();
        for (key, entry) in entries {
            batch.insert(entry_key(namespace, key), encode_record(entry));
        }
        self.entries().apply_batch(batch).map_err(|e| sled_error(&self.shared().path, e))?;
        self.flush()
    }

    fn delete_many(&self, namespace: &str, keys: &[String]) -> Result<()> {
        let mut batch = ::sled::Batch::default();
        for key in keys {
            batch.remove(entry_key(namespace, key));
        }
        self.entries().apply_batch(batch).map_err(|e| sled_error(&self.shared().path, e))?;
        self.flush()
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_successor(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = prefix.pop() {
        if last < u8::MAX {
            prefix.push(last + 1);
            return Some(prefix);
        }
    }
    None
}
