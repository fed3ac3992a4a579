//! `NativeRemoteNamespace`: the KV operations on a Redis-backed namespace.
//! Same method names as `NativeNamespace`, but each returns a promise: the
//! network round trip runs on napi's tokio runtime, off the JavaScript thread.

use std::sync::Arc;

use kv_core::{Entry, ListOptions, Now, PutOptions};
use napi::bindgen_prelude::{Either, Uint8Array};
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::namespace::{text, value_bytes, NativeBulk, NativeListPage};
use crate::store::{Backend, RemoteKv, SharedBackend};

#[napi]
pub struct NativeRemoteNamespace {
    backend: SharedBackend,
    id: String,
}

/// A value read back for `getWithMetadata` (bytes as a Uint8Array).
#[napi(object, object_from_js = false)]
pub struct NativeRemoteEntry {
    pub value: Either<String, Uint8Array>,
    pub metadata: Option<String>,
}

impl NativeRemoteNamespace {
    pub(crate) fn new(backend: SharedBackend, id: String) -> Self {
        NativeRemoteNamespace { backend, id }
    }

    fn kv(&self) -> napi::Result<Arc<RemoteKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Remote(kv))) => Ok(kv.clone()),
            _ => Err(disposed()),
        }
    }

    async fn entry(&self, key: &str, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<Entry>> {
        let kv = self.kv()?;
        kv.get(&self.id, key, cache_ttl, Now(now)).await.napi()
    }
}

#[napi]
impl NativeRemoteNamespace {
    #[napi(catch_unwind)]
    pub async fn get_text(&self, key: String, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<String>> {
        Ok(self.entry(&key, cache_ttl, now).await?.map(|e| text(&e.value)))
    }

    #[napi(catch_unwind)]
    pub async fn get_bytes(&self, key: String, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<Uint8Array>> {
        Ok(self.entry(&key, cache_ttl, now).await?.map(|e| Uint8Array::from(e.value.to_vec())))
    }

    #[napi(catch_unwind)]
    pub async fn get_with_metadata(
        &self,
        key: String,
        as_text: bool,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<Option<NativeRemoteEntry>> {
        let Some(entry) = self.entry(&key, cache_ttl, now).await? else { return Ok(None) };
        let value =
            if as_text { Either::A(text(&entry.value)) } else { Either::B(Uint8Array::from(entry.value.to_vec())) };
        Ok(Some(NativeRemoteEntry { value, metadata: entry.metadata.map(|m| m.to_string()) }))
    }

    #[napi(catch_unwind)]
    pub async fn get_bulk(
        &self,
        keys: Vec<String>,
        value_type: String,
        with_metadata: bool,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<NativeBulk> {
        let kv = self.kv()?;
        let entries = kv.get_bulk(&self.id, &keys, &value_type, cache_ttl, Now(now)).await.napi()?;
        Ok(NativeBulk::new(entries, with_metadata))
    }

    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        key: String,
        value: Either<String, Uint8Array>,
        expiration: Option<i32>,
        expiration_ttl: Option<i32>,
        metadata_json: Option<String>,
        metadata_unserialisable: bool,
        now: f64,
    ) -> napi::Result<()> {
        let bytes = match &value {
            Either::A(s) => value_bytes(Either::A(s.clone())),
            Either::B(b) => value_bytes(Either::B(b)),
        };
        let options = PutOptions { expiration, expiration_ttl, metadata_json, metadata_unserialisable };
        let kv = self.kv()?;
        kv.put(&self.id, &key, bytes, options, Now(now)).await.napi()
    }

    #[napi(catch_unwind)]
    pub async fn delete(&self, key: String) -> napi::Result<()> {
        let kv = self.kv()?;
        kv.delete(&self.id, &key).await.napi()
    }

    #[napi(catch_unwind)]
    pub async fn list(
        &self,
        prefix: Option<String>,
        limit: Option<i32>,
        cursor: Option<String>,
        now: f64,
    ) -> napi::Result<NativeListPage> {
        let kv = self.kv()?;
        let page = kv.list(&self.id, ListOptions { prefix, limit, cursor }, Now(now)).await.napi()?;
        Ok(NativeListPage::from(page))
    }
}
