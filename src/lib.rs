//! Node binding for `kv-core`: a thin layer that converts arguments, calls the
//! core and turns core errors into JavaScript errors. All KV rules live in
//! `crates/kv-core`; JavaScript-only concerns (coercions, result types,
//! streams) live in `index.js`.

mod admin;
mod error;
mod fastpath;
mod namespace;
mod remote;
mod store;

pub use namespace::NativeNamespace;
pub use remote::NativeRemoteNamespace;
pub use store::NativeStore;
