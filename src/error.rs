//! Core errors → napi errors. The napi status carries the JavaScript class:
//! `InvalidArg` becomes a `TypeError` in `index.js`, anything else an `Error`.

use kv_core::{ErrorClass, KvError};
use napi::{Error, Status};

pub fn to_napi(error: KvError) -> Error {
    let status = match error.class() {
        ErrorClass::TypeError => Status::InvalidArg,
        ErrorClass::Error => Status::GenericFailure,
    };
    Error::new(status, error.to_string())
}

pub trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, KvError> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}

pub fn disposed() -> Error {
    Error::new(
        Status::GenericFailure,
        "This Miniflare instance has been disposed: create a new Miniflare() to use KV again.",
    )
}
