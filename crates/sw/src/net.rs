//! `fetch` and `Response` plumbing: the authenticated request, re-wrapped answers, error answers.
//!
//! Every answer the worker gives is a `Response` it builds itself, marked
//! `Cache-Control: no-store`, so that neither the browser's HTTP cache nor its image cache keeps a
//! logged-in user's media beyond logout (Synapse sends `public, max-age=86400` without
//! `Vary: Authorization`). The worker's own fetches use `cache: 'no-store'`
//! for the same reason: a later tokenless request for the same URL must not be answered from a
//! copy that was fetched with a token.

use js_sys::{JsString, Object};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    AbortSignal, Blob, Headers, Request, RequestCache, RequestCredentials, RequestInit,
    RequestMode, RequestRedirect, Response, ResponseInit, ServiceWorkerGlobalScope,
};

use authmedia_core::Pass;

use crate::js;
use crate::range::RangeAnswer;
use crate::settle::settled;

/// The service worker's global scope.
pub(crate) fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// The page's request headers the authenticated request carries besides `Range`. Anything else
/// would make the browser preflight a header the homeserver does not allow (Synapse allows
/// `Authorization`, `Content-Type`, `X-Requested-With`…), and the fetch would fail CORS:
/// WebKitGTK's media elements send `Icy-MetaData: 1` on every `<video>`/`<audio>` request, which
/// made every video answer 502 in WebKit (tests/e2e/webkit.test.mjs).
const FORWARDED_HEADERS: [&str; 2] = ["accept", "accept-language"];

/// Builds `GET target` from `original`: of its headers only [`FORWARDED_HEADERS`] are kept, plus
/// `range` (the page's `Range` when the worker forwards it rather than answering it itself), and
/// `Authorization: Bearer` is added. `signal` is the worker's own (per attempt: stall timeout,
/// cancellation once every page request waiting for the fetch was aborted — see `upstream.rs`),
/// never the page's.
///
/// `mode: 'cors'` because the homeserver is another origin; `credentials: 'same-origin'` because
/// `include` (inherited from `<img>` requests) fails CORS against Synapse's
/// `Access-Control-Allow-Origin: *`; `redirect: 'follow'` because media endpoints may redirect
/// (CDNs) and browsers drop `Authorization` when a redirect crosses origins; `cache: 'no-store'`
/// (see the module docs).
pub(crate) fn authenticated_request(
    original: &Request,
    target: &Pass,
    token: &str,
    range: Option<&str>,
    signal: &AbortSignal,
) -> Result<Request, JsValue> {
    let headers = Headers::new()?;
    let from = original.headers();
    for name in FORWARDED_HEADERS {
        if let Some(value) = from.get(name)? {
            headers.set(name, &value)?;
        }
    }
    if let Some(range) = range {
        headers.set("range", range)?;
    }
    token_request(target, &headers, token, Some(signal))
}

/// `GET url` with a token and nothing else (`/versions`, encrypted attachments), optionally
/// abortable.
pub(crate) fn plain_authenticated_request(
    url: &Pass,
    token: &str,
    signal: Option<&AbortSignal>,
) -> Result<Request, JsValue> {
    token_request(url, &Headers::new()?, token, signal)
}

/// The one place a token goes onto a request: `GET url` with `headers` plus
/// `Authorization: Bearer` when [`Pass::bearer`] allows it, CORS mode, cookies only same-origin, `cache: 'no-store'`, redirects
/// followed (the browser drops `Authorization` when a redirect crosses origins). The URL comes
/// only from a [`Pass`] of the gate (`Sessions::pass`): canonical, of the session's homeserver,
/// for a session still alive.
fn token_request(
    url: &Pass,
    headers: &Headers,
    token: &str,
    signal: Option<&AbortSignal>,
) -> Result<Request, JsValue> {
    // Not to the legacy endpoints (unauthenticated by definition; a server without
    // authenticated media, or the one fall-back after `M_UNRECOGNIZED`): the gate says.
    if url.bearer() {
        headers.set("authorization", &["Bearer ", token].concat())?;
    }
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_headers(headers);
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::SameOrigin);
    init.set_cache(RequestCache::NoStore);
    init.set_redirect(RequestRedirect::Follow);
    init.set_signal(signal);
    Request::new_with_str_and_init(url.url(), &init)
}

/// Runs `fetch(request)` from the worker (which does not go through its own fetch listener).
pub(crate) async fn fetch(request: &Request) -> Result<Response, JsValue> {
    let response = settled(&scope().fetch_with_request(request)).await?;
    response.dyn_into::<Response>()
}

/// Reads a response body whole.
#[cfg(all(test, target_arch = "wasm32"))]
pub(crate) async fn array_buffer(response: &Response) -> Result<js_sys::ArrayBuffer, JsValue> {
    settled(&response.array_buffer()?)
        .await?
        .dyn_into::<js_sys::ArrayBuffer>()
}

/// The response's `Content-Length`, when it has a readable, valid one.
pub(crate) fn content_length(response: &Response) -> Option<u64> {
    let value = response.headers().get("content-length").ok().flatten()?;
    value.trim().parse::<u64>().ok()
}

/// Reads a JSON body (`None` when it is not JSON).
pub(crate) async fn json(response: &Response) -> Option<JsValue> {
    settled(&response.json().ok()?).await.ok()
}

/// Headers on every media answer the worker builds: not kept by the HTTP cache, never sniffed
/// into another type, and inert if opened as a document. The homeserver sends its own
/// `Content-Security-Policy: sandbox…` and `Content-Disposition: attachment`, but not as
/// CORS-readable headers, so a rebuilt answer would otherwise lose them (an HTML or SVG upload
/// served by the worker would run as a page of this origin if opened).
pub(crate) fn protect(headers: &Headers) -> Result<(), JsValue> {
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("content-security-policy", "sandbox")
}

/// The upstream response with the same status and body, and its readable headers plus
/// [`protect`]'s.
pub(crate) fn rewrap(upstream: &Response) -> Result<Response, JsValue> {
    let headers = Headers::new_with_headers(&upstream.headers())?;
    protect(&headers)?;
    let init = ResponseInit::new();
    init.set_status(upstream.status());
    init.set_status_text(&upstream.status_text());
    init.set_headers(&headers);
    let body = upstream.body();
    Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init)
}

/// An answer cut from a whole body the worker holds: 200, 206 or 416. The body is a `Blob`: the
/// browser answers from it (and slices it) without the bytes passing through the worker again.
pub(crate) fn from_body(
    body: &Blob,
    content_type: Option<&str>,
    answer: RangeAnswer,
) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    protect(&headers)?;
    headers.set("accept-ranges", "bytes")?;
    if let Some(content_type) = content_type {
        headers.set("content-type", content_type)?;
    }
    if let Some(content_range) = answer.content_range() {
        headers.set("content-range", &content_range)?;
    }
    let init = ResponseInit::new();
    init.set_headers(&headers);
    let (status, slice) = match answer {
        RangeAnswer::Whole => (200, Some(body.clone())),
        RangeAnswer::Partial { start, end, .. } => (
            206,
            Some(body.slice_with_f64_and_f64(start as f64, end.saturating_add(1) as f64)?),
        ),
        RangeAnswer::NotSatisfiable { .. } => (416, None),
    };
    if let Some(slice) = &slice {
        let mut length = String::new();
        authmedia_core::push_decimal(&mut length, slice.size() as u64);
        headers.set("content-length", &length)?;
    }
    init.set_status(status);
    Response::new_with_opt_blob_and_init(slice.as_ref(), &init)
}

/// The response header that carries the client code of an error answer of the worker (its own
/// `authmedia_code`, or the one it derived from the homeserver's error): what
/// [`crate::failures`] notes for the tab's `authmedia:why`.
pub(crate) use authmedia_js::protocol::CODE_HEADER;

/// A Matrix-style JSON error answer the page can read: `{errcode, error, authmedia_code}`, where
/// `authmedia_code` is the worker's own machine code (`network`, `timeout`, `no_session`…), also
/// in the [`CODE_HEADER`] header.
pub(crate) fn error_response(status: u16, errcode: &str, code: &str, message: &str) -> Response {
    let text = error_json(errcode, code, message);
    let init = ResponseInit::new();
    init.set_status(status);
    if let Ok(headers) = Headers::new() {
        let _ = headers.set("content-type", "application/json");
        let _ = headers.set("cache-control", "no-store");
        let _ = headers.set(CODE_HEADER, code);
        init.set_headers(&headers);
    }
    let text: String = text.into();
    Response::new_with_opt_str_and_init(Some(&text), &init).unwrap_or_else(|_| {
        // Only reachable with an invalid status; 500 is always valid.
        Response::new().unwrap_or_else(|_| JsValue::UNDEFINED.unchecked_into())
    })
}

/// The body of [`error_response`]: `{errcode, error, authmedia_code}` as JSON text.
pub(crate) fn error_json(errcode: &str, code: &str, message: &str) -> JsString {
    let body = Object::new();
    // Setting plain data properties on a fresh object cannot fail.
    js::set(&body, "errcode", &errcode.into());
    js::set(&body, "error", &message.into());
    js::set(&body, "authmedia_code", &code.into());
    js_sys::JSON::stringify(&body).unwrap_or_else(|_| JsString::from("{}"))
}

/// Describes a JavaScript error value for an error body (`TypeError: Failed to fetch`).
pub(crate) fn describe(error: &JsValue) -> String {
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        let text: String = error.to_string().into();
        return text;
    }
    error
        .as_string()
        .unwrap_or_else(|| "unknown error".to_owned())
}
