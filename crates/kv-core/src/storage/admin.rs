//! Namespace administration, implemented by every backend: a registry of
//! namespaces (id → title), deleting a namespace with all of its data, and
//! writing or deleting many keys at once. The `miniflare kv` commands and the
//! local REST API use it (through [`crate::Kv`] / [`crate::AsyncKv`], see
//! `crate::admin`); a Worker's binding never does.
//!
//! Where each backend keeps its registry (never where a namespace's own data
//! can be):
//!
//! | backend   | registry |
//! |-----------|----------|
//! | memory    | a map next to the namespaces' maps |
//! | directory | `<root>/.^kv-namespaces.json` (see `dir/registry.rs`) |
//! | sled      | the tree `registry/namespaces` (entries live in the tree `entries`, see `sled.rs`) |
//! | Redis     | the hash `miniflare-kv:namespaces` (see `redis/admin.rs`) |
//!
//! Bulk writes are validated as a whole before anything is written (see
//! `crate::admin`); how much of a batch a crash can leave depends on the
//! backend: memory and sled apply a batch atomically, Redis in one
//! `MULTI`/`EXEC`, the directory key by key (each key atomically).

use std::collections::BTreeMap;
use std::future::Future;

use super::{AsyncStorage, Storage};
use crate::entry::Entry;
use crate::error::{KvError, Result};

/// A registered namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub id: String,
    pub title: String,
}

/// Administration of a synchronous backend (memory, directory, sled).
pub trait NamespaceAdmin: Storage {
    /// Every registered namespace, in id order.
    fn namespaces(&self) -> Result<Vec<NamespaceInfo>>;

    /// Registers a namespace. Fails with [`KvError::NamespaceTitleExists`] if
    /// another namespace has this title (checked atomically with the insert).
    fn create_namespace(&self, info: &NamespaceInfo) -> Result<()>;

    /// Gives a registered namespace a new title; [`KvError::NamespaceNotFound`]
    /// if `id` is not registered, [`KvError::NamespaceTitleExists`] if another
    /// namespace has the title.
    fn rename_namespace(&self, id: &str, title: &str) -> Result<()>;

    /// Deletes every key of namespace `id` and its registry entry. Returns
    /// whether it was registered.
    fn delete_namespace(&self, id: &str) -> Result<bool>;

    /// Ids of the namespaces that may hold entries, registered or not, in any
    /// order: found by looking at the data itself, so namespaces written
    /// without `namespace create` (the Node API, Miniflare 2) are found too.
    /// A superset: the caller keeps those holding a live key (see
    /// `Kv::data_namespaces`). Default: none, for a backend whose
    /// [`NamespaceAdmin::namespaces`] already reports them.
    fn stored_namespaces(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Writes every entry (already validated). Default: one put after another.
    fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> Result<()> {
        entries.iter().try_for_each(|(key, entry)| self.put(namespace, key, entry.clone()))
    }

    /// Deletes every key (already validated). Default: one after another.
    fn delete_many(&self, namespace: &str, keys: &[String]) -> Result<()> {
        keys.iter().try_for_each(|key| self.delete(namespace, key))
    }
}

/// Administration of an asynchronous backend (Redis): as [`NamespaceAdmin`].
pub trait AsyncNamespaceAdmin: AsyncStorage {
    fn namespaces(&self) -> impl Future<Output = Result<Vec<NamespaceInfo>>> + Send;
    fn create_namespace(&self, info: &NamespaceInfo) -> impl Future<Output = Result<()>> + Send;
    fn rename_namespace(&self, id: &str, title: &str) -> impl Future<Output = Result<()>> + Send;
    fn delete_namespace(&self, id: &str) -> impl Future<Output = Result<bool>> + Send;
    fn stored_namespaces(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> impl Future<Output = Result<()>> + Send;
    fn delete_many(&self, namespace: &str, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
}

/// Lets callers hold any backend as `Box<dyn NamespaceAdmin>`.
impl<S: NamespaceAdmin + ?Sized> NamespaceAdmin for Box<S> {
    fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        (**self).namespaces()
    }
    fn create_namespace(&self, info: &NamespaceInfo) -> Result<()> {
        (**self).create_namespace(info)
    }
    fn rename_namespace(&self, id: &str, title: &str) -> Result<()> {
        (**self).rename_namespace(id, title)
    }
    fn delete_namespace(&self, id: &str) -> Result<bool> {
        (**self).delete_namespace(id)
    }
    fn stored_namespaces(&self) -> Result<Vec<String>> {
        (**self).stored_namespaces()
    }
    fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> Result<()> {
        (**self).put_many(namespace, entries)
    }
    fn delete_many(&self, namespace: &str, keys: &[String]) -> Result<()> {
        (**self).delete_many(namespace, keys)
    }
}

/// The registry as a map id → title, with the rules every backend applies
/// (titles unique, ids unique). Backends load it, change it and store it
/// under their own lock; Redis applies the same rules in a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryTable {
    titles: BTreeMap<String, String>,
}

impl RegistryTable {
    pub fn namespaces(&self) -> Vec<NamespaceInfo> {
        self.titles.iter().map(|(id, title)| NamespaceInfo { id: id.clone(), title: title.clone() }).collect()
    }

    fn check_title_free(&self, id: &str, title: &str) -> Result<()> {
        if self.titles.iter().any(|(other, existing)| other != id && existing == title) {
            return Err(KvError::NamespaceTitleExists(title.to_owned()));
        }
        Ok(())
    }

    pub fn create(&mut self, info: &NamespaceInfo) -> Result<()> {
        self.check_title_free(&info.id, &info.title)?;
        if self.titles.contains_key(&info.id) {
            // Ids are 128 random bits: only a caller choosing one gets here.
            return Err(KvError::Storage(format!("a KV namespace with the id {:?} is already registered", info.id)));
        }
        self.titles.insert(info.id.clone(), info.title.clone());
        Ok(())
    }

    pub fn rename(&mut self, id: &str, title: &str) -> Result<()> {
        if !self.titles.contains_key(id) {
            return Err(KvError::NamespaceNotFound(id.to_owned()));
        }
        self.check_title_free(id, title)?;
        self.titles.insert(id.to_owned(), title.to_owned());
        Ok(())
    }

    /// Whether `id` was registered.
    pub fn remove(&mut self, id: &str) -> bool {
        self.titles.remove(id).is_some()
    }

    /// `{"version":1,"namespaces":[{"id":…,"title":…},…]}`.
    pub fn to_json(&self) -> String {
        let namespaces: Vec<serde_json::Value> =
            self.titles.iter().map(|(id, title)| serde_json::json!({ "id": id, "title": title })).collect();
        serde_json::json!({ "version": 1, "namespaces": namespaces }).to_string()
    }

    /// Reads [`RegistryTable::to_json`]'s format; `Err` says what is wrong.
    pub fn from_json(text: &str) -> std::result::Result<RegistryTable, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if value.get("version").and_then(serde_json::Value::as_u64) != Some(1) {
            return Err("unknown format version (expected 1)".to_owned());
        }
        let list = value.get("namespaces").and_then(serde_json::Value::as_array).ok_or("no \"namespaces\" array")?;
        let mut table = RegistryTable::default();
        for item in list {
            let id = item.get("id").and_then(serde_json::Value::as_str);
            let title = item.get("title").and_then(serde_json::Value::as_str);
            let (Some(id), Some(title)) = (id, title) else {
                return Err(format!("not a {{\"id\", \"title\"}} record: {item}"));
            };
            table.titles.insert(id.to_owned(), title.to_owned());
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, title: &str) -> NamespaceInfo {
        NamespaceInfo { id: id.into(), title: title.into() }
    }

    #[test]
    fn titles_and_ids_are_unique() {
        let mut table = RegistryTable::default();
        table.create(&info("a", "one")).unwrap();
        assert_eq!(table.create(&info("b", "one")), Err(KvError::NamespaceTitleExists("one".into())));
        assert!(table.create(&info("a", "two")).is_err());
        table.create(&info("b", "two")).unwrap();
        assert_eq!(table.rename("b", "one"), Err(KvError::NamespaceTitleExists("one".into())));
        table.rename("b", "two").unwrap(); // its own title
        table.rename("b", "three").unwrap();
        assert_eq!(table.rename("c", "x"), Err(KvError::NamespaceNotFound("c".into())));
        assert!(table.remove("a"));
        assert!(!table.remove("a"));
        assert_eq!(table.namespaces(), vec![info("b", "three")]);
    }

    #[test]
    fn json_round_trip() {
        let mut table = RegistryTable::default();
        table.create(&info("0123", "w-\"q\"-é")).unwrap();
        table.create(&info("abcd", "w-B")).unwrap();
        assert_eq!(RegistryTable::from_json(&table.to_json()), Ok(table));
        assert!(RegistryTable::from_json("{}").is_err());
        assert!(RegistryTable::from_json(r#"{"version":1,"namespaces":[{"id":1}]}"#).is_err());
        assert!(RegistryTable::from_json("not json").is_err());
    }
}
