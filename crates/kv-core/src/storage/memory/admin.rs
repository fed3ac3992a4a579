//! Namespace administration in memory: the registry is a map beside the
//! namespaces' maps; bulk writes happen under one lock, so readers see all of
//! a batch or none of it.

use std::sync::MutexGuard;

use super::super::admin::{NamespaceAdmin, NamespaceInfo, RegistryTable};
use super::MemoryStorage;
use crate::entry::Entry;
use crate::error::Result;

impl MemoryStorage {
    fn registry(&self) -> MutexGuard<'_, RegistryTable> {
        // Every change is one map operation: nothing half-done to recover.
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl NamespaceAdmin for MemoryStorage {
    fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        Ok(self.registry().namespaces())
    }

    fn create_namespace(&self, info: &NamespaceInfo) -> Result<()> {
        self.registry().create(info)
    }

    fn rename_namespace(&self, id: &str, title: &str) -> Result<()> {
        self.registry().rename(id, title)
    }

    fn delete_namespace(&self, id: &str) -> Result<bool> {
        self.lock().remove(id);
        Ok(self.registry().remove(id))
    }

    fn stored_namespaces(&self) -> Result<Vec<String>> {
        Ok(self.lock().iter().filter(|(_, map)| !map.is_empty()).map(|(id, _)| id.clone()).collect())
    }

    fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut namespaces = self.lock();
        let map = namespaces.entry(namespace.to_owned()).or_default();
        for (key, entry) in entries {
            map.insert(key.clone(), entry.clone());
        }
        Ok(())
    }

    fn delete_many(&self, namespace: &str, keys: &[String]) -> Result<()> {
        if let Some(map) = self.lock().get_mut(namespace) {
            for key in keys {
                map.remove(key);
            }
        }
        Ok(())
    }
}
