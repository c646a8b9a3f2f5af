//! Small browser helpers: property access (from `authmedia-js`), timers, promise races, the window.

use std::future::Future;
use std::pin::Pin;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use crate::error::WebError;

// Property access, fresh objects and deferred promises are shared with the worker.
pub use authmedia_js::{deferred, get, get_string, object, set};

/// `obj[key]` for an argument the caller gave: a getter (or Proxy trap) that throws is an
/// `invalid_argument` error carrying the thrown value, not a silently missing field.
pub fn try_get(obj: &JsValue, key: &str) -> Result<JsValue, WebError> {
    Reflect::get(obj, &JsValue::from_str(key)).map_err(|e| {
        WebError::invalid_argument(format!("could not read the option {key}")).with_cause(e)
    })
}

/// Longest access token accepted: OAuth/OIDC tokens (JWTs) reach a few KB; anything far beyond
/// is not a token and would only make the homeserver refuse the headers.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Checks an access token before it is stored: it goes into an `Authorization: Bearer` header,
/// so it must be non-empty printable ASCII without spaces or control characters (a CR/LF would
/// make every later request fail to build, a NUL or non-ASCII byte likewise).
pub fn check_token(token: &str) -> Result<(), WebError> {
    if token.is_empty() {
        return Err(WebError::invalid_argument(
            "the access token must not be empty",
        ));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(WebError::invalid_argument(format!(
            "the access token is longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    if !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(WebError::invalid_argument(
            "the access token must be printable ASCII without spaces (it goes into an Authorization header)",
        ));
    }
    Ok(())
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = mark, catch)]
    fn performance_mark(name: &str) -> Result<JsValue, JsValue>;
}

/// A User Timing mark named `name` when `on` (the `performanceMarks` option): the steps of
/// `init` that a page cannot see from outside, on the clock of the browser's own trace events.
pub fn mark(on: bool, name: &str) {
    if on {
        // A page without User Timing (or a replaced `performance`) just gets no mark.
        let _ = performance_mark(name);
    }
}

/// The page's `window`.
pub fn window() -> Result<web_sys::Window, WebError> {
    web_sys::window()
        .ok_or_else(|| WebError::new("unsupported", "authmedia's page SDK needs a window"))
}

/// Resolves after `ms` milliseconds (a backoff delay, never used to wait for a condition).
pub async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve: Function, _reject| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        } else {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Awaits `promise`, or gives `None` after `ms` milliseconds.
pub async fn with_timeout(promise: Promise, ms: i32) -> Option<Result<JsValue, JsValue>> {
    let marker = Object::new();
    let marker_v: JsValue = marker.clone().into();
    let timer = Promise::new(&mut |resolve: Function, _reject| {
        if let Some(w) = web_sys::window() {
            let _ =
                w.set_timeout_with_callback_and_timeout_and_arguments_1(&resolve, ms, &marker_v);
        }
    });
    let race = Promise::race(&js_sys::Array::of2(&promise, &timer));
    match JsFuture::from(race).await {
        Ok(v) if v == JsValue::from(marker) => None,
        other => Some(other),
    }
}

/// `future_to_promise` of a boxed future: one instance of its machinery serves every caller
/// (generic, it would be compiled again around each async body).
pub fn promise(f: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    future_to_promise(f)
}

/// `spawn_local` of a boxed future, for the same reason as [`promise`].
pub fn spawn(f: Pin<Box<dyn Future<Output = ()>>>) {
    spawn_local(f)
}

/// Whether `v` is a function.
pub fn as_function(v: JsValue) -> Option<Function> {
    v.dyn_into::<Function>().ok()
}
