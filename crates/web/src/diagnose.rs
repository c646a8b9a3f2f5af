//! The facts behind a `fallbackReason`, kept for `fallbackDetail` and for the `no_worker`
//! rejection with `fallback: 'never'`: the worker URL tried, the browser's own words, the
//! registration's scope. The npm loader turns them into advice (it fetches the script once more
//! for its HTTP status and `Content-Type`, and warns once on the console): the wording lives in
//! JavaScript, outside the page wasm's size budget.

use wasm_bindgen::JsValue;

use crate::error::describe;
use crate::util::{get, get_string, object, set, window};

/// Every `fallbackReason` (the closed union `FallbackReason` of `index.d.ts` lists the same;
/// `tests/e2e/deploy-mistakes.test.mjs` compares them).
pub const FALLBACK_REASONS: [&str; 12] = [
    "forced",
    "no_worker_url",
    "insecure_context",
    "no_service_worker",
    "registration_failed",
    "out_of_scope",
    "worker_not_ready",
    "worker_silent",
    "worker_refused_session",
    "worker_outdated",
    "uncontrolled",
    "session_ended",
];

/// The page's own URL (`location.href`).
fn page_url() -> String {
    window()
        .ok()
        .and_then(|w| get_string(&get(&w, "location"), "href"))
        .unwrap_or_default()
}

/// `url` resolved against the page (what `register(url)` fetched).
fn absolute(url: &str) -> String {
    web_sys::Url::new_with_base(url, &page_url()).map_or_else(|_| url.to_owned(), |u| u.href())
}

/// `{reason, url?}`: the worker URL (absolute) when one was tried.
pub fn facts(reason: &str, worker_url: Option<&str>) -> JsValue {
    let d = object();
    set(&d, "reason", &JsValue::from_str(reason));
    if let Some(u) = worker_url {
        set(&d, "url", &JsValue::from_str(&absolute(u)));
    }
    d
}

/// `register(worker_url)` rejected with `error`.
pub fn registration_failed(worker_url: &str, error: &JsValue) -> JsValue {
    let d = facts("registration_failed", Some(worker_url));
    set(&d, "error", &JsValue::from_str(&describe(error)));
    d
}

/// The registration's `scope` does not cover this page: its worker will never control it.
pub fn out_of_scope(worker_url: &str, scope: &str) -> Option<JsValue> {
    let page = page_url();
    if page.is_empty() || page.starts_with(scope) {
        return None;
    }
    let d = facts("out_of_scope", Some(worker_url));
    set(&d, "scope", &JsValue::from_str(scope));
    Some(d)
}
