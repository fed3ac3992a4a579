//! Cloudflare Workers KV semantics, independent of Node.
//!
//! - [`validate`] and [`list`]: the service's argument rules, limits, cursors.
//! - [`Kv`]: the five operations over any [`Storage`] backend.
//! - [`storage`]: the backends (memory; directory, sled and Redis follow).
//!
//! Time is always passed in ([`Now`]) so that callers control the clock.

pub mod admin;
pub mod bulk;
pub mod consistency;
pub mod entry;
pub mod error;
pub mod kv;
pub mod limits;
pub mod list;
pub mod snapshot;
pub mod storage;
pub mod validate;

pub use admin::BulkOutcome;
pub use bytes::Bytes;
pub use entry::{Entry, ListedKey, Now, UnixSeconds};
pub use error::{ErrorClass, KvError, Op, Result};
pub use kv::{AsyncKv, Kv, ListOptions};
pub use list::{ListPage, ListRequest};
pub use snapshot::{Snapshot, SnapshotStack};
pub use storage::{AsyncStorage, MemoryStorage, Storage};
pub use validate::PutOptions;
