//! `NativeStore`: one opened storage backend, shared by every namespace of a
//! `Miniflare` instance. `dispose()` drops the backend, which closes files,
//! database handles and connections; later calls fail with a clear error.

use std::sync::{Arc, RwLock};

use kv_core::storage::{DirStorage, NamespaceAdmin, RedisStorage, SledStorage, WranglerStorage};
use kv_core::{AsyncKv, Kv, MemoryStorage, Now, SnapshotStack, Storage};
use napi::bindgen_prelude::Either;
use napi::{Error, Status};
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::namespace::NativeNamespace;
use crate::remote::NativeRemoteNamespace;

pub(crate) type LocalKv = Kv<Box<dyn NamespaceAdmin>>;
pub(crate) type RemoteKv = AsyncKv<RedisStorage>;

/// Local backends answer on the JavaScript thread; Redis is awaited on
/// napi's tokio runtime.
pub(crate) enum Backend {
    Local(Arc<LocalKv>),
    Remote(Arc<RemoteKv>),
}

/// The open backend, or `None` after `dispose()`.
pub(crate) type SharedBackend = Arc<RwLock<Option<Backend>>>;

#[napi]
pub struct NativeStore {
    pub(crate) backend: SharedBackend,
    location: String,
    /// `pushSnapshot`/`popSnapshot` frames (see kv_core::snapshot).
    snapshots: Arc<SnapshotStack>,
}

fn open_local(location: &str) -> napi::Result<Box<dyn NamespaceAdmin>> {
    if location == "memory:" {
        return Ok(Box::new(MemoryStorage::new()));
    }
    if let Some(path) = location.strip_prefix("dir:") {
        return Ok(Box::new(DirStorage::open(path).napi()?));
    }
    if let Some(path) = location.strip_prefix("sled:") {
        return Ok(Box::new(SledStorage::open(path).napi()?));
    }
    // wrangler 4 / Miniflare 4's own store (kv_core::storage::wrangler).
    if let Some(path) = location.strip_prefix("wrangler:") {
        return Ok(Box::new(WranglerStorage::open(path).napi()?));
    }
    Err(Error::new(
        Status::InvalidArg,
        format!(
            "kvPersist {location:?} is not supported: expected memory:, dir:<path>, sled:<path>, wrangler:<path> or a redis:// URL."
        ),
    ))
}

impl NativeStore {
    fn from_backend(backend: Backend, location: String) -> Self {
        NativeStore { backend: Arc::new(RwLock::new(Some(backend))), location, snapshots: Arc::default() }
    }

    fn local_kv(&self) -> napi::Result<Arc<LocalKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Local(kv))) => Ok(kv.clone()),
            Ok(Some(Backend::Remote(_))) => Err(Error::new(
                Status::GenericFailure,
                "This store is asynchronous (Redis): use pushSnapshotAsync/popSnapshotAsync.",
            )),
            _ => Err(disposed()),
        }
    }

    fn remote_kv(&self) -> napi::Result<Arc<RemoteKv>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Remote(kv))) => Ok(kv.clone()),
            Ok(Some(Backend::Local(_))) => Err(Error::new(
                Status::GenericFailure,
                "This store is synchronous (memory, directory, sled): use pushSnapshot/popSnapshot.",
            )),
            _ => Err(disposed()),
        }
    }
}

#[napi]
impl NativeStore {
    /// Opens a local backend: `memory:`, `dir:<abs path>` or `sled:<abs path>`.
    #[napi(constructor, catch_unwind)]
    pub fn new(location: String) -> napi::Result<Self> {
        let storage = open_local(&location)?;
        let description = storage.location();
        Ok(Self::from_backend(Backend::Local(Arc::new(Kv::new(storage))), description))
    }

    /// Connects to Redis (`redis://…`), or joins this process's connection.
    #[napi(factory, catch_unwind)]
    pub async fn connect(url: String) -> napi::Result<NativeStore> {
        let storage = RedisStorage::connect(&url).await.napi()?;
        let description = kv_core::AsyncStorage::location(&storage);
        Ok(Self::from_backend(Backend::Remote(Arc::new(AsyncKv::new(storage))), description))
    }

    /// Where the data lives ("memory", a directory, a URL without password).
    #[napi(getter)]
    pub fn location(&self) -> String {
        self.location.clone()
    }

    /// A handle on namespace `id`: synchronous for local backends,
    /// promise-returning for Redis (same method names).
    #[napi(catch_unwind)]
    pub fn namespace(&self, id: String) -> napi::Result<Either<NativeNamespace, NativeRemoteNamespace>> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Local(_))) => Ok(Either::A(NativeNamespace::new(self.backend.clone(), id))),
            Ok(Some(Backend::Remote(_))) => Ok(Either::B(NativeRemoteNamespace::new(self.backend.clone(), id))),
            _ => Err(disposed()),
        }
    }

    /// Saves the data of `namespaceIds` on the snapshot stack (local
    /// backends); returns the new depth.
    #[napi(catch_unwind)]
    pub fn push_snapshot(&self, namespace_ids: Vec<String>, now: f64) -> napi::Result<u32> {
        let kv = self.local_kv()?;
        Ok(self.snapshots.push(kv.storage(), &namespace_ids, Now(now)).napi()? as u32)
    }

    /// Restores the newest snapshot and drops it; returns the new depth.
    #[napi(catch_unwind)]
    pub fn pop_snapshot(&self, now: f64) -> napi::Result<u32> {
        let kv = self.local_kv()?;
        Ok(self.snapshots.pop(kv.storage(), Now(now)).napi()? as u32)
    }

    /// `pushSnapshot` for Redis.
    #[napi(catch_unwind)]
    pub async fn push_snapshot_async(&self, namespace_ids: Vec<String>, now: f64) -> napi::Result<u32> {
        let kv = self.remote_kv()?;
        let snapshots = self.snapshots.clone();
        Ok(snapshots.push_async(kv.storage(), &namespace_ids, Now(now)).await.napi()? as u32)
    }

    /// `popSnapshot` for Redis.
    #[napi(catch_unwind)]
    pub async fn pop_snapshot_async(&self, now: f64) -> napi::Result<u32> {
        let kv = self.remote_kv()?;
        let snapshots = self.snapshots.clone();
        Ok(snapshots.pop_async(kv.storage(), Now(now)).await.napi()? as u32)
    }

    /// How many snapshots are waiting to be popped.
    #[napi(getter)]
    pub fn snapshot_depth(&self) -> u32 {
        self.snapshots.depth() as u32
    }

    /// Releases the backend (and any snapshots). Idempotent.
    #[napi]
    pub fn dispose(&self) {
        if let Ok(mut backend) = self.backend.write() {
            backend.take();
        }
        self.snapshots.clear();
    }
}
