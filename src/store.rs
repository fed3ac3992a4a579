//! `NativeStore`: one opened storage backend, shared by every namespace of a
//! `Miniflare` instance. `dispose()` drops the backend, which closes files,
//! database handles and connections; later calls fail with a clear error.

use std::sync::{Arc, RwLock};

use kv_core::{Kv, MemoryStorage, Storage};
use napi::{Error, Status};
use napi_derive::napi;

use crate::error::disposed;
use crate::namespace::NativeNamespace;

pub(crate) type LocalKv = Kv<Box<dyn Storage>>;

/// The open backend, or `None` after `dispose()`.
pub(crate) type SharedBackend = Arc<RwLock<Option<Arc<LocalKv>>>>;

#[napi]
pub struct NativeStore {
    backend: SharedBackend,
    location: String,
}

#[napi]
impl NativeStore {
    /// `location` is a normalised persistence target: `memory:` for now.
    #[napi(constructor, catch_unwind)]
    pub fn new(location: String) -> napi::Result<Self> {
        let storage: Box<dyn Storage> = match location.as_str() {
            "memory:" => Box::new(MemoryStorage::new()),
            other => {
                return Err(Error::new(
                    Status::InvalidArg,
                    format!("kvPersist {other:?} is not supported yet: only in-memory storage is available."),
                ))
            }
        };
        let description = storage.location();
        Ok(NativeStore {
            backend: Arc::new(RwLock::new(Some(Arc::new(Kv::new(storage))))),
            location: description,
        })
    }

    /// Where the data lives ("memory", a directory, a URL).
    #[napi(getter)]
    pub fn location(&self) -> String {
        self.location.clone()
    }

    /// A handle on namespace `id` of this store.
    #[napi(catch_unwind)]
    pub fn namespace(&self, id: String) -> napi::Result<NativeNamespace> {
        if self.backend.read().map(|b| b.is_none()).unwrap_or(true) {
            return Err(disposed());
        }
        Ok(NativeNamespace::new(self.backend.clone(), id))
    }

    /// Releases the backend. Idempotent.
    #[napi]
    pub fn dispose(&self) {
        if let Ok(mut backend) = self.backend.write() {
            backend.take();
        }
    }
}
