//! Namespace administration and bulk operations on a `NativeStore`, for the
//! `miniflare kv` commands and the local REST API (`lib/kv-commands.js`,
//! `lib/rest-api.js`). Every rule lives in `kv_core::admin` and
//! `kv_core::bulk`; this file only converts. The methods return promises on
//! every backend: local work runs on a blocking thread (a bulk write or a
//! namespace deletion can take a while), Redis on napi's tokio runtime.

use std::sync::Arc;

use kv_core::storage::NamespaceInfo;
use kv_core::{BulkOutcome, Now};
use napi::{Error, Status};
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::store::{Backend, LocalKv, NativeStore, RemoteKv};

/// A registered namespace.
#[napi(object)]
pub struct NativeNamespaceInfo {
    pub id: String,
    pub title: String,
}

impl From<NamespaceInfo> for NativeNamespaceInfo {
    fn from(info: NamespaceInfo) -> Self {
        NativeNamespaceInfo { id: info.id, title: info.title }
    }
}

/// One request's worth of a bulk file: entries `first .. first + count`.
#[napi(object)]
pub struct NativeBulkBatch {
    pub first: u32,
    pub count: u32,
    /// The entries, as a JSON array.
    pub json: String,
}

/// What a bulk request did (or would do, when only checked).
#[napi(object)]
pub struct NativeBulkOutcome {
    pub count: u32,
    /// Ignored properties, one line per entry.
    pub warnings: Vec<String>,
}

impl From<BulkOutcome> for NativeBulkOutcome {
    fn from(outcome: BulkOutcome) -> Self {
        NativeBulkOutcome { count: outcome.count as u32, warnings: outcome.warnings }
    }
}

/// Splits a bulk file (a JSON array) into requests within the limits of one
/// bulk request (10,000 entries, 100 MB).
#[napi(catch_unwind)]
pub fn split_bulk_request(text: String) -> napi::Result<Vec<NativeBulkBatch>> {
    let batches = kv_core::bulk::split_bulk(&text).napi()?;
    Ok(batches
        .into_iter()
        .map(|b| NativeBulkBatch { first: b.first as u32, count: b.count as u32, json: b.json })
        .collect())
}

enum Handle {
    Local(Arc<LocalKv>),
    Remote(Arc<RemoteKv>),
}

impl NativeStore {
    fn handle(&self) -> napi::Result<Handle> {
        match self.backend.read().as_deref() {
            Ok(Some(Backend::Local(kv))) => Ok(Handle::Local(kv.clone())),
            Ok(Some(Backend::Remote(kv))) => Ok(Handle::Remote(kv.clone())),
            _ => Err(disposed()),
        }
    }
}

/// Runs `work` on a local backend off the JavaScript thread.
async fn blocking<T: Send + 'static>(
    kv: Arc<LocalKv>,
    work: impl FnOnce(&LocalKv) -> kv_core::Result<T> + Send + 'static,
) -> napi::Result<T> {
    tokio::task::spawn_blocking(move || work(&kv))
        .await
        .map_err(|e| Error::new(Status::GenericFailure, format!("KV storage task failed: {e}")))?
        .napi()
}

#[napi]
impl NativeStore {
    /// Registered namespaces, in id order.
    #[napi(catch_unwind)]
    pub async fn namespaces(&self) -> napi::Result<Vec<NativeNamespaceInfo>> {
        let list = match self.handle()? {
            Handle::Local(kv) => blocking(kv, |kv| kv.namespaces()).await?,
            Handle::Remote(kv) => kv.namespaces().await.napi()?,
        };
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Registers a namespace with a new 32-hex-digit id.
    #[napi(catch_unwind)]
    pub async fn create_namespace(&self, title: String) -> napi::Result<NativeNamespaceInfo> {
        let info = match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.create_namespace(&title)).await?,
            Handle::Remote(kv) => kv.create_namespace(&title).await.napi()?,
        };
        Ok(info.into())
    }

    #[napi(catch_unwind)]
    pub async fn rename_namespace(&self, id: String, title: String) -> napi::Result<NativeNamespaceInfo> {
        let info = match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.rename_namespace(&id, &title)).await?,
            Handle::Remote(kv) => kv.rename_namespace(&id, &title).await.napi()?,
        };
        Ok(info.into())
    }

    /// Namespaces that hold a live key but were never registered (written
    /// through the Node API, by Miniflare 2 or by hand), in id order.
    #[napi(catch_unwind)]
    pub async fn data_namespaces(&self, now: f64) -> napi::Result<Vec<String>> {
        match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.data_namespaces(Now(now))).await,
            Handle::Remote(kv) => kv.data_namespaces(Now(now)).await.napi(),
        }
    }

    /// Deletes a namespace's data and registry entry.
    #[napi(catch_unwind)]
    pub async fn delete_namespace(&self, id: String, now: f64) -> napi::Result<()> {
        match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.delete_namespace(&id, Now(now))).await,
            Handle::Remote(kv) => kv.delete_namespace(&id, Now(now)).await.napi(),
        }
    }

    /// Whether `id` is registered or holds a live key.
    #[napi(catch_unwind)]
    pub async fn namespace_exists(&self, id: String, now: f64) -> napi::Result<bool> {
        match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.namespace_exists(&id, Now(now))).await,
            Handle::Remote(kv) => kv.namespace_exists(&id, Now(now)).await.napi(),
        }
    }

    /// Validates one bulk write request (a JSON array, entries numbered from
    /// `first`) and, unless `checkOnly`, writes all of it.
    #[napi(catch_unwind)]
    pub async fn put_bulk(
        &self,
        id: String,
        json: String,
        first: u32,
        now: f64,
        check_only: bool,
    ) -> napi::Result<NativeBulkOutcome> {
        let first = first as usize;
        let outcome = match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.put_bulk(&id, &json, first, Now(now), check_only)).await?,
            Handle::Remote(kv) => kv.put_bulk(&id, &json, first, Now(now), check_only).await.napi()?,
        };
        Ok(outcome.into())
    }

    /// Validates one bulk delete request and, unless `checkOnly`, deletes.
    #[napi(catch_unwind)]
    pub async fn delete_bulk(
        &self,
        id: String,
        json: String,
        first: u32,
        check_only: bool,
    ) -> napi::Result<NativeBulkOutcome> {
        let first = first as usize;
        let outcome = match self.handle()? {
            Handle::Local(kv) => blocking(kv, move |kv| kv.delete_bulk(&id, &json, first, check_only)).await?,
            Handle::Remote(kv) => kv.delete_bulk(&id, &json, first, check_only).await.napi()?,
        };
        Ok(outcome.into())
    }
}
