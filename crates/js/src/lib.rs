//! authmedia-js: the JavaScript ↔ [`authmedia_core`] conversions both wasm adapters need — the
//! service worker (`authmedia-sw`) and the page SDK (`authmedia-web`).
//!
//! Hand-written with `Reflect` instead of serde-wasm-bindgen: the shapes are tiny and fixed, and
//! serde's error formatting (floats, escaped strings) cost about a quarter of the worker's wasm
//! (measured: 167 KB → 124 KB of raw wasm). Every reader is as lenient as the core's serde impls,
//! no more: unknown fields are ignored, `null` is absent, and where the core accepts a field of
//! the wrong type as absent so do these.
//!
//! | item | concern |
//! |---|---|
//! | [`get`], [`get_string`], [`set`], [`object`], [`object_of`], [`deferred`] | small `Reflect` / `Promise` helpers |
//! | [`versions`], [`error_body`] | `/versions` and Matrix error bodies (`JSON.parse` output) |
//! | [`wire_from_js`], [`file_from_js`], [`wire_to_js`] | an `EncryptedFile` (spec v1.11) and back |
//! | [`protocol`] | the page ↔ worker message types, route codes, error header |
//! | [`webcrypto`] | attachments verified and decrypted by `crypto.subtle`, ciphertext kept in JS memory |
//!
//! No `web-sys`: only `js-sys` built-ins, so both the worker and the page can use it.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

// Every wasm binary that links this crate (the worker, the page, their decryption modules)
// allocates through talc instead of std's default dlmalloc: an allocator made for single-threaded
// wasm, with the same `GlobalAlloc` contract, that links several KB less code. Memory comes from
// `memory.grow` as with dlmalloc.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

mod body;
mod encrypted;
pub mod protocol;
pub mod webcrypto;

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;

pub use body::{error_body, versions};
pub use encrypted::{file_from_js, wire_from_js, wire_to_js};

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::JsValue;

/// `object[name]`; `undefined` when it cannot be read (`object` is not an object, or a getter
/// or Proxy trap threw).
pub fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `object[name]` if it is a string.
pub fn get_string(object: &JsValue, name: &str) -> Option<String> {
    get(object, name).as_string()
}

/// `object[name] = value`; a failure is ignored (only used on plain objects the caller made).
pub fn set(object: &JsValue, name: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(name), value);
}

/// A fresh plain object.
pub fn object() -> JsValue {
    Object::new().into()
}

/// A fresh plain object with these properties.
pub fn object_of(fields: &[(&str, JsValue)]) -> JsValue {
    let out = object();
    for (name, value) in fields {
        // Defining a data property on a fresh ordinary object cannot fail.
        set(&out, name, value);
    }
    out
}

/// A promise and the function resolving it.
pub fn deferred() -> (Promise, Function) {
    let mut slot = None;
    let promise = Promise::new(&mut |resolve: Function, _reject: Function| slot = Some(resolve));
    // `Promise::new` runs the executor synchronously: `slot` is always filled.
    let resolve = slot.unwrap_or_else(|| Function::new_no_args(""));
    (promise, resolve)
}
