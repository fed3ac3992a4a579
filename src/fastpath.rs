//! Hot path for local namespaces: free functions that take a numeric handle
//! instead of a `NativeNamespace` receiver.
//!
//! napi-rs 3 registers a "native borrow" for every `&self` method call (a
//! process-wide mutex-guarded map plus a thread-local scope, ~250 ns); a free
//! function with a `u32` argument skips it. Keys are read into a stack buffer
//! with one `napi_get_value_string_utf8` call instead of two plus a heap
//! allocation, and text values are created straight from the stored bytes.
use std::borrow::Cow;
use std::cell::RefCell;

use kv_core::{ListOptions, Now, PutOptions};
use napi::bindgen_prelude::*;
use napi::{sys, Env, JsString};
use napi_derive::napi;

use crate::error::{disposed, IntoNapi};
use crate::namespace::{value_bytes, NativeListPage};
use crate::store::{Backend, LocalKv, SharedBackend};

thread_local! {
    // One slot per NativeNamespace that asked for a handle. A slot is freed
    // (and may be reused) only when that NativeNamespace is finalized, and
    // the KVNamespace holding the number also holds the NativeNamespace, so
    // a live handle never points at someone else's namespace.
    static NAMESPACES: RefCell<Vec<Option<(SharedBackend, String)>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn register(backend: SharedBackend, id: String) -> u32 {
    NAMESPACES.with(|slots| {
        let mut slots = slots.borrow_mut();
        if let Some(free) = slots.iter().position(Option::is_none) {
            slots[free] = Some((backend, id));
            return free as u32;
        }
        slots.push(Some((backend, id)));
        (slots.len() - 1) as u32
    })
}

pub(crate) fn release(handle: u32) {
    // try_with: finalizers may run while the thread is shutting down
    // try_borrow_mut: if a fast-path call is running (a finalizer during a
    // JS allocation), leave the slot; it only costs a few bytes.
    let _ = NAMESPACES.try_with(|slots| {
        if let Ok(mut slots) = slots.try_borrow_mut() {
            if let Some(slot) = slots.get_mut(handle as usize) {
                *slot = None;
            }
        }
    });
}

fn with_local<T>(handle: u32, f: impl FnOnce(&LocalKv, &str) -> Result<T>) -> Result<T> {
    NAMESPACES.with(|slots| {
        let slots = slots.borrow();
        let Some(Some((backend, id))) = slots.get(handle as usize) else { return Err(disposed()) };
        let guard = backend.read();
        let result = match guard.as_deref() {
            Ok(Some(Backend::Local(kv))) => f(kv, id),
            _ => Err(disposed()),
        };
        result
    })
}

/// Keys are at most 512 UTF-8 bytes once valid, so 2 KiB covers every key
/// that can succeed; longer strings fall back to a heap copy (and then fail
/// validation with the usual 414 message, which reports the whole length).
/// Node writes whole characters only, so a string that did not fit can stop
/// up to 3 bytes short of the buffer's 2047 usable bytes: a length that close
/// to the end may be a cut, and only a shorter one is surely the whole key.
pub(crate) fn read_key<'a>(env: &Env, key: JsString, buf: &'a mut [u8; 2048]) -> Result<Cow<'a, str>> {
    let mut len = 0usize;
    let status =
        unsafe { sys::napi_get_value_string_utf8(env.raw(), key.raw(), buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(Status::StringExpected, "key must be a string"));
    }
    const LONGEST_UTF8_CHAR: usize = 4;
    if len < buf.len() - LONGEST_UTF8_CHAR {
        // Node writes well-formed UTF-8 (lone surrogates are rejected in JS first)
        Ok(Cow::Borrowed(std::str::from_utf8(&buf[..len]).map_err(|e| Error::from_reason(e.to_string()))?))
    } else {
        Ok(Cow::Owned(unsafe { String::from_napi_value(env.raw(), key.raw())? }))
    }
}

pub(crate) fn js_text<'env>(env: &'env Env, bytes: &[u8]) -> Result<JsString<'env>> {
    match std::str::from_utf8(bytes) {
        Ok(s) => env.create_string(s),
        Err(_) => env.create_string(String::from_utf8_lossy(bytes)),
    }
}

thread_local! {
    // Reused for every text read: the value is copied here under the storage
    // lock, then turned into a JS string after the lock is released.
    static VALUE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[napi(catch_unwind)]
pub fn ns_get_text<'env>(
    env: &'env Env,
    handle: u32,
    key: JsString,
    cache_ttl: Option<i32>,
    now: f64,
) -> Result<Option<JsString<'env>>> {
    let mut buf = [0u8; 2048];
    let key = read_key(env, key, &mut buf)?;
    VALUE_BUFFER.with(|value| {
        let mut value = value.borrow_mut();
        let found = with_local(handle, |kv, id| kv.read_value(id, &key, cache_ttl, Now(now), &mut value).napi())?;
        if !found {
            return Ok(None);
        }
        let text = js_text(env, &value);
        if value.capacity() > 1 << 20 {
            *value = Vec::new(); // do not keep a huge value's buffer alive
        }
        text.map(Some)
    })
}

/// A value read back for `getWithMetadata`: text or bytes, and metadata as JSON text.
#[napi(object, object_from_js = false)]
pub struct NativeEntry<'env> {
    pub value: Either<JsString<'env>, ArrayBuffer<'env>>,
    pub metadata: Option<JsString<'env>>,
}

#[napi(catch_unwind)]
pub fn ns_get_with_metadata<'env>(
    env: &'env Env,
    handle: u32,
    key: JsString,
    as_text: bool,
    cache_ttl: Option<i32>,
    now: f64,
) -> Result<Option<NativeEntry<'env>>> {
    let mut buf = [0u8; 2048];
    let key = read_key(env, key, &mut buf)?;
    let Some(entry) = with_local(handle, |kv, id| kv.get(id, &key, cache_ttl, Now(now)).napi())? else {
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

#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn ns_put(
    env: &Env,
    handle: u32,
    key: JsString,
    value: Either<String, &[u8]>,
    expiration: Option<i32>,
    expiration_ttl: Option<i32>,
    metadata_json: Option<String>,
    metadata_unserialisable: bool,
    now: f64,
) -> Result<()> {
    let mut buf = [0u8; 2048];
    let key = read_key(env, key, &mut buf)?;
    let bytes = value_bytes(value);
    let options = PutOptions { expiration, expiration_ttl, metadata_json, metadata_unserialisable };
    with_local(handle, |kv, id| kv.put(id, &key, bytes, options, Now(now)).napi())
}

#[napi(catch_unwind)]
pub fn ns_delete(env: &Env, handle: u32, key: JsString) -> Result<()> {
    let mut buf = [0u8; 2048];
    let key = read_key(env, key, &mut buf)?;
    with_local(handle, |kv, id| kv.delete(id, &key).napi())
}

#[napi(catch_unwind)]
pub fn ns_list(
    handle: u32,
    prefix: Option<String>,
    limit: Option<i32>,
    cursor: Option<String>,
    now: f64,
) -> Result<NativeListPage> {
    let page = with_local(handle, |kv, id| kv.list(id, ListOptions { prefix, limit, cursor }, Now(now)).napi())?;
    Ok(NativeListPage::from(page))
}
