//! `NativeNamespace`: one namespace id of a local store (memory, directory,
//! sled), answered synchronously on the JavaScript thread (in-memory work
//! costs well under a microsecond; a hop to another thread would cost ~20 µs).
//! `get` (text), `getWithMetadata`, `put`, `delete` and `list` are the free
//! functions in `fastpath.rs`, reached through `handle()`; the rarer byte and
//! bulk reads stay methods here.

use std::sync::Arc;

use kv_core::{Bytes, Entry, ListPage, Now};
use napi::bindgen_prelude::{ArrayBuffer, Either};
use napi::Env;
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::store::{Backend, LocalKv, SharedBackend};

#[napi]
pub struct NativeNamespace {
    backend: SharedBackend,
    id: String,
    /// This namespace's slot in `fastpath.rs`, once `handle()` was called.
    fast_handle: std::cell::Cell<Option<u32>>,
}

impl Drop for NativeNamespace {
    fn drop(&mut self) {
        if let Some(handle) = self.fast_handle.get() {
            crate::fastpath::release(handle);
        }
    }
}

/// Bulk read results, index-aligned with the requested keys.
#[napi(object)]
pub struct NativeBulk {
    /// `null` for a missing key.
    pub values: Vec<Option<String>>,
    /// Metadata JSON text (`null` when none); only filled when asked for.
    pub metadata: Vec<Option<String>>,
}

impl NativeBulk {
    pub(crate) fn new(entries: Vec<Option<Entry>>, with_metadata: bool) -> Self {
        let mut values = Vec::with_capacity(entries.len());
        let mut metadata = Vec::with_capacity(if with_metadata { entries.len() } else { 0 });
        for entry in entries {
            if with_metadata {
                metadata.push(entry.as_ref().and_then(|e| e.metadata.as_ref().map(|m| m.to_string())));
            }
            values.push(entry.map(|e| text(&e.value)));
        }
        NativeBulk { values, metadata }
    }
}

/// One page of `list`. Names are concatenated into one string and cut apart
/// in JavaScript by their UTF-16 lengths: one string crossing instead of a
/// thousand.
#[napi(object)]
pub struct NativeListPage {
    pub names: String,
    pub name_lengths: Vec<u32>,
    /// Per key; `null` when the key has none. Omitted when no key has one.
    pub expirations: Option<Vec<Option<f64>>>,
    pub metadata: Option<Vec<Option<String>>>,
    pub cursor: Option<String>,
}

pub(crate) fn value_bytes(value: Either<String, &[u8]>) -> Bytes {
    match value {
        Either::A(s) => Bytes::from(s.into_bytes()),
        Either::B(b) => Bytes::copy_from_slice(b),
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl NativeNamespace {
    pub(crate) fn new(backend: SharedBackend, id: String) -> Self {
        NativeNamespace { backend, id, fast_handle: std::cell::Cell::new(None) }
    }

    fn kv(&self) -> napi::Result<Arc<LocalKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Local(kv))) => Ok(kv.clone()),
            _ => Err(disposed()),
        }
    }

    fn entry(&self, key: &str, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<Entry>> {
        self.kv()?.get(&self.id, key, cache_ttl, Now(now)).napi()
    }
}

#[napi]
impl NativeNamespace {
    /// A handle for the free functions in `fastpath.rs` (local backends).
    #[napi]
    pub fn handle(&self) -> u32 {
        if let Some(handle) = self.fast_handle.get() {
            return handle;
        }
        let handle = crate::fastpath::register(self.backend.clone(), self.id.clone());
        self.fast_handle.set(Some(handle));
        handle
    }

    /// The value as a fresh ArrayBuffer, or `null`.
    #[napi(catch_unwind)]
    pub fn get_bytes<'env>(
        &self,
        env: &'env Env,
        key: String,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<Option<ArrayBuffer<'env>>> {
        match self.entry(&key, cache_ttl, now)? {
            Some(e) => Ok(Some(ArrayBuffer::copy_from(env, &e.value)?)),
            None => Ok(None),
        }
    }

    /// Bulk read of 1–100 keys as `text` or `json` (validated here, parsed in JS).
    #[napi(catch_unwind)]
    pub fn get_bulk(
        &self,
        keys: Vec<String>,
        value_type: String,
        with_metadata: bool,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<NativeBulk> {
        let entries = self.kv()?.get_bulk(&self.id, &keys, &value_type, cache_ttl, Now(now)).napi()?;
        Ok(NativeBulk::new(entries, with_metadata))
    }
}

impl From<ListPage> for NativeListPage {
    fn from(page: ListPage) -> Self {
        let mut names = String::new();
        let mut name_lengths = Vec::with_capacity(page.keys.len());
        let any_expiration = page.keys.iter().any(|k| k.expiration.is_some());
        let any_metadata = page.keys.iter().any(|k| k.metadata.is_some());
        let mut expirations = Vec::new();
        let mut metadata = Vec::new();
        for key in &page.keys {
            names.push_str(&key.name);
            name_lengths.push(key.name.encode_utf16().count() as u32);
            if any_expiration {
                expirations.push(key.expiration.map(|e| e as f64));
            }
            if any_metadata {
                metadata.push(key.metadata.as_ref().map(|m| m.to_string()));
            }
        }
        NativeListPage {
            names,
            name_lengths,
            expirations: any_expiration.then_some(expirations),
            metadata: any_metadata.then_some(metadata),
            cursor: page.cursor,
        }
    }
}
