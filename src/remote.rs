//! `NativeRemoteNamespace`: the KV operations on a Redis-backed namespace.
//! Same method names as `NativeNamespace`, but each returns a promise. On one
//! plain-TCP server the round trip runs on the JavaScript thread's own event
//! loop (`redis_uv`); TLS and Redis Cluster run on napi's tokio runtime.

use std::future::Future;
use std::sync::Arc;

use kv_core::{Entry, ListOptions, Now, PutOptions};
use napi::bindgen_prelude::{Either, PromiseRaw, ToNapiValue, Uint8Array};
use napi::Env;
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::namespace::{text, value_bytes, NativeBulk, NativeListPage};
use crate::redis_uv;
use crate::store::{Backend, RemoteKv, SharedBackend};

#[napi]
pub struct NativeRemoteNamespace {
    backend: SharedBackend,
    /// Shared with each call's future (a clone per call was an allocation).
    id: Arc<str>,
}

/// A value read back for `getWithMetadata` (bytes as a Uint8Array).
#[napi(object, object_from_js = false)]
pub struct NativeRemoteEntry {
    pub value: Either<String, Uint8Array>,
    pub metadata: Option<String>,
}

impl NativeRemoteNamespace {
    pub(crate) fn new(backend: SharedBackend, id: String) -> Self {
        NativeRemoteNamespace { backend, id: Arc::from(id) }
    }

    fn kv(&self) -> napi::Result<Arc<RemoteKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Remote(kv))) => Ok(kv.clone()),
            _ => Err(disposed()),
        }
    }

    /// Runs `call` with the namespace's store and id, on this thread's event
    /// loop when the server allows (see `redis_uv`); a disposed store gives a
    /// rejected promise, as before.
    fn call<'env, T, F, Fut>(&self, env: &'env Env, call: F) -> napi::Result<PromiseRaw<'env, T>>
    where
        T: ToNapiValue + Send + 'static,
        F: FnOnce(Arc<RemoteKv>, Arc<str>) -> Fut,
        Fut: Future<Output = napi::Result<T>> + Send + 'static,
    {
        let kv = match self.kv() {
            Ok(kv) => kv,
            Err(error) => return redis_uv::rejected(env, error),
        };
        redis_uv::attach(env, kv.storage())?;
        let storage_kv = kv.clone();
        redis_uv::run(env, storage_kv.storage(), call(kv, self.id.clone()))
    }
}

async fn entry(kv: &RemoteKv, id: &str, key: &str, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<Entry>> {
    kv.get(id, key, cache_ttl, Now(now)).await.napi()
}

#[napi]
impl NativeRemoteNamespace {
    #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
    pub fn get_text<'env>(
        &self,
        env: &'env Env,
        key: String,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<PromiseRaw<'env, Option<String>>> {
        self.call(env, move |kv, id| async move {
            Ok(entry(&kv, &id, &key, cache_ttl, now).await?.map(|e| text(&e.value)))
        })
    }

    #[napi(catch_unwind, ts_return_type = "Promise<Uint8Array | null>")]
    pub fn get_bytes<'env>(
        &self,
        env: &'env Env,
        key: String,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<PromiseRaw<'env, Option<Uint8Array>>> {
        self.call(env, move |kv, id| async move {
            Ok(entry(&kv, &id, &key, cache_ttl, now).await?.map(|e| Uint8Array::from(e.value.to_vec())))
        })
    }

    #[napi(catch_unwind, ts_return_type = "Promise<NativeRemoteEntry | null>")]
    pub fn get_with_metadata<'env>(
        &self,
        env: &'env Env,
        key: String,
        as_text: bool,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<PromiseRaw<'env, Option<NativeRemoteEntry>>> {
        self.call(env, move |kv, id| async move {
            let Some(entry) = entry(&kv, &id, &key, cache_ttl, now).await? else { return Ok(None) };
            let value = if as_text {
                Either::A(text(&entry.value))
            } else {
                Either::B(Uint8Array::from(entry.value.to_vec()))
            };
            Ok(Some(NativeRemoteEntry { value, metadata: entry.metadata.map(|m| m.to_string()) }))
        })
    }

    #[napi(catch_unwind)]
    pub fn get_bulk<'env>(
        &self,
        env: &'env Env,
        keys: Vec<String>,
        value_type: String,
        with_metadata: bool,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<PromiseRaw<'env, NativeBulk>> {
        self.call(env, move |kv, id| async move {
            let entries = kv.get_bulk(&id, &keys, &value_type, cache_ttl, Now(now)).await.napi()?;
            Ok(NativeBulk::new(entries, with_metadata))
        })
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    #[allow(clippy::too_many_arguments)]
    pub fn put<'env>(
        &self,
        env: &'env Env,
        key: String,
        value: Either<String, Uint8Array>,
        expiration: Option<i32>,
        expiration_ttl: Option<i32>,
        metadata_json: Option<String>,
        metadata_unserialisable: bool,
        now: f64,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let bytes = match value {
            Either::A(s) => value_bytes(Either::A(s)),
            Either::B(b) => value_bytes(Either::B(&b)),
        };
        let options = PutOptions { expiration, expiration_ttl, metadata_json, metadata_unserialisable };
        self.call(env, move |kv, id| async move { kv.put(&id, &key, bytes, options, Now(now)).await.napi() })
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn delete<'env>(&self, env: &'env Env, key: String) -> napi::Result<PromiseRaw<'env, ()>> {
        self.call(env, move |kv, id| async move { kv.delete(&id, &key).await.napi() })
    }

    #[napi(catch_unwind)]
    pub fn list<'env>(
        &self,
        env: &'env Env,
        prefix: Option<String>,
        limit: Option<i32>,
        cursor: Option<String>,
        now: f64,
    ) -> napi::Result<PromiseRaw<'env, NativeListPage>> {
        self.call(env, move |kv, id| async move {
            let page = kv.list(&id, ListOptions { prefix, limit, cursor }, Now(now)).await.napi()?;
            Ok(NativeListPage::from(page))
        })
    }
}
