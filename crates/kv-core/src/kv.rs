//! The KV operations as a Worker sees them, over any synchronous [`Storage`]:
//! validation in the service's order, expiry resolved against the caller's
//! "now", and list pagination.

use bytes::Bytes;
use futures_util::future::try_join_all;

use crate::entry::{Entry, Now};
use crate::error::{KvError, Op, Result};
use crate::list::{ListPage, ListRequest};
use crate::storage::{AsyncStorage, Storage};
use crate::validate::{check_bulk_request, check_cache_ttl, check_key, check_put, PutOptions};

/// Options of `list`, after JavaScript coercion.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub prefix: Option<String>,
    pub limit: Option<i32>,
    pub cursor: Option<String>,
}

pub struct Kv<S: ?Sized> {
    storage: S,
}

impl<S: Storage> Kv<S> {
    pub fn new(storage: S) -> Self {
        Kv { storage }
    }
}

impl<S: Storage + ?Sized> Kv<S> {
    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub fn get(&self, ns: &str, key: &str, cache_ttl: Option<i32>, now: Now) -> Result<Option<Entry>> {
        check_key(Op::Get, key)?;
        check_cache_ttl(Op::Get, cache_ttl)?;
        self.storage.get(ns, key, now)
    }

    /// The value only, copied into `out`; see [`Storage::read_value`].
    pub fn read_value(&self, ns: &str, key: &str, cache_ttl: Option<i32>, now: Now, out: &mut Vec<u8>) -> Result<bool> {
        check_key(Op::Get, key)?;
        check_cache_ttl(Op::Get, cache_ttl)?;
        self.storage.read_value(ns, key, now, out)
    }

    /// Bulk read: entries in input order; `value_type` is "text" or "json".
    pub fn get_bulk(
        &self,
        ns: &str,
        keys: &[String],
        value_type: &str,
        cache_ttl: Option<i32>,
        now: Now,
    ) -> Result<Vec<Option<Entry>>> {
        check_bulk_request(keys, value_type)?;
        check_cache_ttl(Op::GetBulk, cache_ttl)?;
        let entries = keys.iter().map(|key| self.storage.get(ns, key, now)).collect::<Result<Vec<_>>>()?;
        check_bulk_result(&entries, value_type)?;
        Ok(entries)
    }

    pub fn put(&self, ns: &str, key: &str, value: Bytes, options: PutOptions, now: Now) -> Result<()> {
        let entry = prepare_put(key, value, options, now)?;
        self.storage.put(ns, key, entry)
    }

    pub fn delete(&self, ns: &str, key: &str) -> Result<()> {
        check_key(Op::Delete, key)?;
        self.storage.delete(ns, key)
    }

    pub fn list(&self, ns: &str, options: ListOptions, now: Now) -> Result<ListPage> {
        let request = ListRequest::new(options.prefix, options.limit, options.cursor.as_deref())?;
        let rows = self.storage.list_range(ns, &request, now)?;
        Ok(request.page(rows))
    }
}

/// Validates a put and builds the entry to store.
pub fn prepare_put(key: &str, value: Bytes, options: PutOptions, now: Now) -> Result<Entry> {
    let expiration = check_put(key, value.len(), &options, now)?;
    Ok(Entry { value, expiration, metadata: options.metadata_json.map(Into::into) })
}

/// After a bulk read: json values must parse, and the result must fit 25 MiB
/// (counted in JavaScript string length, i.e. UTF-16 units).
pub fn check_bulk_result(entries: &[Option<Entry>], value_type: &str) -> Result<()> {
    let mut units = 0usize;
    for entry in entries.iter().flatten() {
        let text = String::from_utf8_lossy(&entry.value);
        if value_type == "json" && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
            return Err(KvError::BulkNonJsonValue);
        }
        units += text.encode_utf16().count();
    }
    if units > crate::limits::MAX_BULK_RESULT_UNITS {
        return Err(KvError::BulkTooLarge);
    }
    Ok(())
}

/// The same operations over an [`AsyncStorage`] backend (Redis). Validation
/// and paging are shared with [`Kv`]; only the storage calls are awaited.
pub struct AsyncKv<S> {
    storage: S,
}

impl<S: AsyncStorage> AsyncKv<S> {
    pub fn new(storage: S) -> Self {
        AsyncKv { storage }
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub async fn get(&self, ns: &str, key: &str, cache_ttl: Option<i32>, now: Now) -> Result<Option<Entry>> {
        check_key(Op::Get, key)?;
        check_cache_ttl(Op::Get, cache_ttl)?;
        self.storage.get(ns, key, now).await
    }

    pub async fn get_bulk(
        &self,
        ns: &str,
        keys: &[String],
        value_type: &str,
        cache_ttl: Option<i32>,
        now: Now,
    ) -> Result<Vec<Option<Entry>>> {
        check_bulk_request(keys, value_type)?;
        check_cache_ttl(Op::GetBulk, cache_ttl)?;
        // Concurrent reads: on a multiplexed connection they share round trips.
        let entries = try_join_all(keys.iter().map(|key| self.storage.get(ns, key, now))).await?;
        check_bulk_result(&entries, value_type)?;
        Ok(entries)
    }

    pub async fn put(&self, ns: &str, key: &str, value: Bytes, options: PutOptions, now: Now) -> Result<()> {
        let entry = prepare_put(key, value, options, now)?;
        self.storage.put(ns, key, entry).await
    }

    pub async fn delete(&self, ns: &str, key: &str) -> Result<()> {
        check_key(Op::Delete, key)?;
        self.storage.delete(ns, key).await
    }

    pub async fn list(&self, ns: &str, options: ListOptions, now: Now) -> Result<ListPage> {
        let request = ListRequest::new(options.prefix, options.limit, options.cursor.as_deref())?;
        let rows = self.storage.list_range(ns, &request, now).await?;
        Ok(request.page(rows))
    }
}
