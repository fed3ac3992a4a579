//! Node binding for `kv-core`: a thin layer that converts arguments, calls the
//! core and turns core errors into JavaScript errors. All KV rules live in
//! `crates/kv-core`; JavaScript-only concerns (coercions, result types,
//! streams) live in `index.js`.

/// Every Rust allocation of the addon (not Node's) goes through mimalloc: a
/// Redis call allocates a dozen small buffers (command, reply values, the
/// task), and glibc's malloc was a sixth of the CPU time with 64 calls in flight.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
