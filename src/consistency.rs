//! Eventual consistency (issue 17) for JavaScript: `NativeLocations` holds
//! every location's caches for one store (`kv_core::consistency`), and
//! `view(store, id, location)` gives a namespace as seen from one location.
//! The views have the method names of `NativeNamespace`/`NativeRemoteNamespace`
//! (plus `now` on `delete`); all KV rules are in kv-core, this only converts.
//! Nothing here is on the strongly consistent path (src/fastpath.rs).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use kv_core::consistency::{LocationCache, Locations};
use kv_core::{Entry, ListOptions, Now, PutOptions};
use napi::bindgen_prelude::{ArrayBuffer, Either, Uint8Array};
use napi::{Env, JsString};
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::fastpath::{js_text, read_key, NativeEntry};
use crate::namespace::{text, value_bytes, NativeBulk, NativeListPage};
use crate::remote::NativeRemoteEntry;
use crate::store::{Backend, LocalKv, NativeStore, RemoteKv, SharedBackend};

#[napi]
pub struct NativeLocations {
    locations: Arc<Locations>,
}

impl Default for NativeLocations {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl NativeLocations {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeLocations { locations: Arc::new(Locations::new()) }
    }

    /// Namespace `id` of `store` as location `location` sees it: synchronous
    /// for local stores, promise-returning for Redis (as `store.namespace`).
    #[napi(catch_unwind)]
    pub fn view(
        &self,
        store: &NativeStore,
        id: String,
        location: String,
    ) -> napi::Result<Either<NativeLocationView, NativeRemoteLocationView>> {
        let cache = self.locations.cache(&location, &id);
        let backend = store.backend.clone();
        let remote = match backend.read().as_deref() {
            Ok(Some(Backend::Local(_))) => false,
            Ok(Some(Backend::Remote(_))) => true,
            _ => return Err(disposed()),
        };
        Ok(if remote {
            Either::B(NativeRemoteLocationView { backend, id, cache })
        } else {
            Either::A(NativeLocationView { backend, id, cache, fast_handle: Cell::new(None) })
        })
    }

    /// Drops every location's cached answers (`mf.settleKv()`).
    #[napi]
    pub fn settle(&self) {
        self.locations.settle();
    }
}

/// A local store's namespace seen from one location (answers synchronously).
#[napi]
pub struct NativeLocationView {
    backend: SharedBackend,
    id: String,
    cache: Arc<LocationCache>,
    /// This view's slot in `VIEWS`, once `fastHandle()` was called.
    fast_handle: Cell<Option<u32>>,
}

impl Drop for NativeLocationView {
    fn drop(&mut self) {
        if let Some(handle) = self.fast_handle.get() {
            // try_with/try_borrow_mut: see fastpath::release.
            let _ = VIEWS.try_with(|slots| {
                if let Ok(mut slots) = slots.try_borrow_mut() {
                    if let Some(slot) = slots.get_mut(handle as usize) {
                        *slot = None;
                    }
                }
            });
        }
    }
}

type ViewSlot = (SharedBackend, String, Arc<LocationCache>);

thread_local! {
    // The reads `get` (text) and `getWithMetadata` are free functions keyed
    // by a slot number, as in fastpath.rs (a `&self` call costs ~250 ns more,
    // and the key is read into a stack buffer). A slot lives as long as its
    // NativeLocationView, which the JavaScript LocationCalls holding the
    // number also holds.
    static VIEWS: RefCell<Vec<Option<ViewSlot>>> = const { RefCell::new(Vec::new()) };
}

fn with_view<T>(handle: u32, f: impl FnOnce(&LocalKv, &str, &LocationCache) -> napi::Result<T>) -> napi::Result<T> {
    VIEWS.with(|slots| {
        let slots = slots.borrow();
        let Some(Some((backend, id, cache))) = slots.get(handle as usize) else { return Err(disposed()) };
        let guard = backend.read();
        let result = match guard.as_deref() {
            Ok(Some(Backend::Local(kv))) => f(kv, id, cache),
            _ => Err(disposed()),
        };
        result
    })
}

#[napi(catch_unwind)]
pub fn view_get_text<'env>(
    env: &'env Env,
    handle: u32,
    key: JsString,
    cache_ttl: Option<i32>,
    now: f64,
) -> napi::Result<Option<JsString<'env>>> {
    let mut buf = [0u8; 2048];
    let key = read_key(env, key, &mut buf)?;
    let entry = with_view(handle, |kv, id, cache| cache.get(kv, id, &key, cache_ttl, Now(now)).napi())?;
    entry.map(|e| js_text(env, &e.value)).transpose()
}

#[napi(catch_unwind)]
pub fn view_get_with_metadata<'env>(
    env: &'env Env,
    handle: u32,
    key: JsString,
    as_text: bool,
    cache_ttl: Option<i32>,
    now: f64,
) -> napi::Result<Option<NativeEntry<'env>>> {
    let mut buf = [0u8; 2048];
    let key = read_key(env, key, &mut buf)?;
    let Some(entry) = with_view(handle, |kv, id, cache| cache.get(kv, id, &key, cache_ttl, Now(now)).napi())? else {
        return Ok(None);
    };
    let value = if as_text {
        Either::A(js_text(env, &entry.value)?)
    } else {
        Either::B(ArrayBuffer::copy_from(env, &entry.value)?)
    };
    let metadata = entry.metadata.as_deref().map(|m| env.create_string(m)).transpose()?;
    Ok(Some(NativeEntry { value, metadata }))
}

impl NativeLocationView {
    fn kv(&self) -> napi::Result<Arc<LocalKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Local(kv))) => Ok(kv.clone()),
            _ => Err(disposed()),
        }
    }

    fn entry(&self, key: &str, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<Entry>> {
        self.cache.get(&*self.kv()?, &self.id, key, cache_ttl, Now(now)).napi()
    }
}

#[napi]
impl NativeLocationView {
    /// A slot number for `viewGetText` / `viewGetWithMetadata`.
    #[napi]
    pub fn fast_handle(&self) -> u32 {
        if let Some(handle) = self.fast_handle.get() {
            return handle;
        }
        let slot = (self.backend.clone(), self.id.clone(), self.cache.clone());
        let handle = VIEWS.with(|slots| {
            let mut slots = slots.borrow_mut();
            if let Some(free) = slots.iter().position(Option::is_none) {
                slots[free] = Some(slot);
                return free as u32;
            }
            slots.push(Some(slot));
            (slots.len() - 1) as u32
        });
        self.fast_handle.set(Some(handle));
        handle
    }

    #[napi(catch_unwind)]
    pub fn get_bytes<'env>(
        &self,
        env: &'env Env,
        key: String,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<Option<ArrayBuffer<'env>>> {
        self.entry(&key, cache_ttl, now)?.map(|e| ArrayBuffer::copy_from(env, &e.value)).transpose()
    }

    #[napi(catch_unwind)]
    pub fn get_bulk(
        &self,
        keys: Vec<String>,
        value_type: String,
        with_metadata: bool,
        cache_ttl: Option<i32>,
        now: f64,
    ) -> napi::Result<NativeBulk> {
        let entries = self.cache.get_bulk(&*self.kv()?, &self.id, &keys, &value_type, cache_ttl, Now(now)).napi()?;
        Ok(NativeBulk::new(entries, with_metadata))
    }

    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &self,
        key: String,
        value: Either<String, &[u8]>,
        expiration: Option<i32>,
        expiration_ttl: Option<i32>,
        metadata_json: Option<String>,
        metadata_unserialisable: bool,
        now: f64,
    ) -> napi::Result<()> {
        let options = PutOptions { expiration, expiration_ttl, metadata_json, metadata_unserialisable };
        self.cache.put(&*self.kv()?, &self.id, &key, value_bytes(value), options, Now(now)).napi()
    }

    #[napi(catch_unwind)]
    pub fn delete(&self, key: String, now: f64) -> napi::Result<()> {
        self.cache.delete(&*self.kv()?, &self.id, &key, Now(now)).napi()
    }

    #[napi(catch_unwind)]
    pub fn list(
        &self,
        prefix: Option<String>,
        limit: Option<i32>,
        cursor: Option<String>,
        now: f64,
    ) -> napi::Result<NativeListPage> {
        let options = ListOptions { prefix, limit, cursor };
        Ok(NativeListPage::from(self.cache.list(&*self.kv()?, &self.id, options, Now(now)).napi()?))
    }
}

/// A Redis namespace seen from one location (every call returns a promise).
#[napi]
pub struct NativeRemoteLocationView {
    backend: SharedBackend,
    id: String,
    cache: Arc<LocationCache>,
}

impl NativeRemoteLocationView {
    fn kv(&self) -> napi::Result<Arc<RemoteKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Remote(kv))) => Ok(kv.clone()),
            _ => Err(disposed()),
        }
    }

    async fn entry(&self, key: &str, cache_ttl: Option<i32>, now: f64) -> napi::Result<Option<Entry>> {
        let kv = self.kv()?;
        self.cache.get_async(&*kv, &self.id, key, cache_ttl, Now(now)).await.napi()
    }
}

#[napi]
impl NativeRemoteLocationView {
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
        let entries = self.cache.get_bulk_async(&*kv, &self.id, &keys, &value_type, cache_ttl, Now(now)).await.napi()?;
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
        self.cache.put_async(&*kv, &self.id, &key, bytes, options, Now(now)).await.napi()
    }

    #[napi(catch_unwind)]
    pub async fn delete(&self, key: String, now: f64) -> napi::Result<()> {
        let kv = self.kv()?;
        self.cache.delete_async(&*kv, &self.id, &key, Now(now)).await.napi()
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
        let options = ListOptions { prefix, limit, cursor };
        Ok(NativeListPage::from(self.cache.list_async(&*kv, &self.id, options, Now(now)).await.napi()?))
    }
}
