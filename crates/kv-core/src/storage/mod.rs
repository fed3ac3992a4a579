//! The storage interface every backend implements, and the backends.
//!
//! Backends store bytes, expirations and metadata per namespace and answer
//! range scans; they know nothing of KV's validation rules or cursors
//! (see [`crate::Kv`] and [`crate::list`]). Local backends answer
//! synchronously on the caller's thread; Redis is asynchronous.

pub mod admin;
pub mod dir;
pub mod memory;
pub mod redis;
pub mod sled;
pub mod wrangler;

use std::future::Future;

use crate::entry::{Entry, ListedKey, Now};
use crate::error::Result;
use crate::list::ListRequest;
use crate::snapshot::{self, Snapshot};

pub use self::redis::RedisStorage;
pub use self::sled::SledStorage;
pub use admin::{AsyncNamespaceAdmin, NamespaceAdmin, NamespaceInfo};
pub use dir::DirStorage;
pub use memory::MemoryStorage;
pub use wrangler::WranglerStorage;

/// A synchronous KV store (memory, directory, sled).
pub trait Storage: Send + Sync {
    /// The live entry for `key`, or `None` if missing or expired. Backends
    /// may reclaim an expired entry here.
    fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>>;

    /// Copies the live value for `key` into `out` (cleared first) without
    /// cloning the entry; `false` when missing or expired. Saves the shared
    /// buffer's reference-count round trip (a cache miss in big maps).
    fn read_value(&self, namespace: &str, key: &str, now: Now, out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        match self.get(namespace, key, now)? {
            Some(entry) => {
                out.extend_from_slice(&entry.value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Replaces `key` atomically: readers see the old entry or the new one.
    fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()>;

    /// Removes `key` if present.
    fn delete(&self, namespace: &str, key: &str) -> Result<()>;

    /// Up to `request.fetch_count()` live keys admitted by `request`, in UTF-8
    /// byte order.
    fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>>;

    /// Where the data lives, for messages ("memory", a path, a URL).
    fn location(&self) -> String;

    /// Saves the data of `namespaces` for [`Storage::restore`]. The default
    /// reads every live entry into memory (O(data)); memory overrides it
    /// with an O(1) copy-on-write clone. See [`crate::snapshot`].
    fn snapshot(&self, namespaces: &[String], now: Now) -> Result<Snapshot> {
        snapshot::read_all(self, namespaces, now)
    }

    /// Makes the snapshot's namespaces hold exactly what they held when it
    /// was taken. The default lists the current keys, deletes the extra ones
    /// and writes back the saved entries that differ.
    fn restore(&self, snapshot: &Snapshot, now: Now) -> Result<()> {
        snapshot::write_all(self, snapshot, now)
    }
}

/// An asynchronous KV store (Redis): the same contract as [`Storage`].
pub trait AsyncStorage: Send + Sync {
    fn get(&self, namespace: &str, key: &str, now: Now) -> impl Future<Output = Result<Option<Entry>>> + Send;
    fn put(&self, namespace: &str, key: &str, entry: Entry) -> impl Future<Output = Result<()>> + Send;
    fn delete(&self, namespace: &str, key: &str) -> impl Future<Output = Result<()>> + Send;
    fn list_range(
        &self,
        namespace: &str,
        request: &ListRequest,
        now: Now,
    ) -> impl Future<Output = Result<Vec<ListedKey>>> + Send;
    fn location(&self) -> String;

    /// As [`Storage::snapshot`] (the default reads every live entry).
    fn snapshot(&self, namespaces: &[String], now: Now) -> impl Future<Output = Result<Snapshot>> + Send {
        snapshot::read_all_async(self, namespaces, now)
    }

    /// As [`Storage::restore`].
    fn restore(&self, snapshot: &Snapshot, now: Now) -> impl Future<Output = Result<()>> + Send {
        snapshot::write_all_async(self, snapshot, now)
    }
}

/// Lets callers hold any backend as `Box<dyn Storage>`.
impl<S: Storage + ?Sized> Storage for Box<S> {
    fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        (**self).get(namespace, key, now)
    }
    fn read_value(&self, namespace: &str, key: &str, now: Now, out: &mut Vec<u8>) -> Result<bool> {
        (**self).read_value(namespace, key, now, out)
    }
    fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        (**self).put(namespace, key, entry)
    }
    fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        (**self).delete(namespace, key)
    }
    fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        (**self).list_range(namespace, request, now)
    }
    fn location(&self) -> String {
        (**self).location()
    }
    fn snapshot(&self, namespaces: &[String], now: Now) -> Result<Snapshot> {
        (**self).snapshot(namespaces, now)
    }
    fn restore(&self, snapshot: &Snapshot, now: Now) -> Result<()> {
        (**self).restore(snapshot, now)
    }
}
