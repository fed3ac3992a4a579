//! Node binding for `kv-core`: a thin layer that converts arguments, calls the
//! core and turns core errors into JavaScript errors. All KV rules live in
//! `crates/kv-core`; JavaScript-only concerns (coercions, result types,
//! streams) live in `index.js`.

mod admin;
mod consistency;
mod error;
mod fastpath;
mod namespace;
mod redis_uv;
mod remote;
mod store;

pub use consistency::{NativeLocationView, NativeLocations, NativeRemoteLocationView};
pub use namespace::NativeNamespace;
pub use remote::NativeRemoteNamespace;
pub use store::NativeStore;
