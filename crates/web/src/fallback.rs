//! The fallback: `fetch` with `Authorization` → `Blob` (safe type) → object URL, with
//! shared in-flight fetches, a concurrency bound, progress events and the byte-budget LRU.
//! Also the other authenticated requests the page makes itself: `/versions`, file saving.

use std::rc::Rc;

use authmedia_core::{
    authorize, negotiate, Action, Api, CanonicalUrl, Ending, ErrorBody, ErrorKind, Lifecycle,
    MatrixError, MediaRequest, MxcUri, Pass, Refusal, RetryPolicy,
};
use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{
    AbortController, AbortSignal, Blob, BlobPropertyBag, Headers, ReadableStreamDefaultReader,
    RequestInit, Response, Url,
};

use crate::budget::Refused;
use crate::error::{code_of, describe, WebError};
use crate::sdk::Inner;
use crate::util::{get, object, set, sleep, window};
use authmedia_core::safe_content_type as safe_blob_type;

/// Progress events are emitted at most once per this many bytes (and at the end).
const PROGRESS_STEP: f64 = 256.0 * 1024.0;
/// The abort reason of a stalled fetch.
const TIMEOUT: &str = "authmedia:timeout";

/// The stall deadline of one fetch: its `AbortController` is aborted with [`TIMEOUT`] when the
/// timer fires — armed until the response headers arrive, then re-armed before every body chunk
/// by [`read_body`]. The timer calls the controller's own `abort`, bound (no Rust closure).
pub struct Deadline {
    controller: AbortController,
    abort: Function,
    handle: Option<i32>,
    ms: i32,
    /// The session's logout signal and this fetch's listener on it.
    logout: (AbortSignal, Function),
}

impl Deadline {
    /// `logout`: the session's signal, aborted by `logout()`: it aborts this fetch too, so that a
    /// request still waiting in the browser's connection queue (token attached) never goes out.
    fn new(ms: i32, logout: &AbortSignal) -> Result<Deadline, WebError> {
        let controller = AbortController::new().map_err(WebError::network)?;
        let abort: Function = get(&controller, "abort").unchecked_into();
        let on_logout: Function = abort
            .bind1(&controller, &JsValue::from_str("authmedia:logged_out"))
            .unchecked_into();
        let abort: Function = abort
            .bind1(&controller, &JsValue::from_str(TIMEOUT))
            .unchecked_into();
        if logout.aborted() {
            let _ = on_logout.call0(&JsValue::UNDEFINED);
        }
        let _ = logout.add_event_listener_with_callback("abort", &on_logout);
        let mut deadline = Deadline {
            controller,
            abort,
            handle: None,
            ms,
            logout: (logout.clone(), on_logout),
        };
        deadline.rearm();
        Ok(deadline)
    }

    fn signal(&self) -> AbortSignal {
        self.controller.signal()
    }

    fn rearm(&mut self) {
        self.clear();
        if let Ok(w) = window() {
            self.handle = w
                .set_timeout_with_callback_and_timeout_and_arguments_0(&self.abort, self.ms)
                .ok();
        }
    }

    fn clear(&mut self) {
        if let (Some(handle), Ok(w)) = (self.handle.take(), window()) {
            w.clear_timeout_with_handle(handle);
        }
    }

    fn timed_out(&self) -> bool {
        self.signal().reason().as_string().as_deref() == Some(TIMEOUT)
    }

    fn error(&self) -> WebError {
        WebError::new(
            "timeout",
            format!("the homeserver did not answer within {} ms", self.ms),
        )
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.clear();
        let (signal, listener) = &self.logout;
        let _ = signal.remove_event_listener_with_callback("abort", listener);
    }
}

/// Maps a Matrix error to the SDK's error.
pub fn matrix_to_web(e: &MatrixError) -> WebError {
    let kind = e.kind();
    let mut w = WebError::new(kind.client_code().as_str(), e.to_string()).with_reason(kind.code());
    w.status = Some(e.status);
    w.errcode = e.errcode.clone();
    w
}

impl Inner {
    /// Authenticated `GET /_matrix/client/versions` → the API flavour to use.
    pub async fn negotiate(self: &Rc<Self>) -> Result<Api, JsValue> {
        let url = CanonicalUrl::versions(&self.hs);
        let resp = self.authed_fetch(&url).await?;
        let json = JsFuture::from(resp.json().map_err(WebError::network)?)
            .await
            .map_err(|e| {
                WebError::new(
                    "server_error",
                    format!("/versions is not JSON: {}", describe(&e)),
                )
            })?;
        let versions = authmedia_js::versions(&json).ok_or_else(|| {
            WebError::new(
                "server_error",
                "/versions has no \"versions\" array of strings",
            )
        })?;
        Ok(negotiate(&versions))
    }

    /// **The page's one gate** (the core's [`authorize`]): a request may carry the token only
    /// while the session is alive (not logged out) and only to a canonical URL of the session's
    /// homeserver. Asked before every attempt, after every wait.
    fn pass(&self, url: &CanonicalUrl) -> Result<Pass, WebError> {
        authorize(&self.hs, !self.logged_out.get(), url).map_err(|refusal| {
            WebError::new(
                if refusal == Refusal::SessionEnded {
                    "logged_out"
                } else {
                    refusal.code()
                },
                refusal.to_string(),
            )
        })
    }

    /// One fetch with the current token, to the URL of a [`Pass`] of the gate: `mode: cors`, no
    /// cookies, no HTTP cache (Synapse sends `Cache-Control: public` without
    /// `Vary: Authorization`), abortable by `signal`. The only place the page puts a token on a
    /// request.
    async fn fetch_once(
        &self,
        pass: &Pass,
        token: &str,
        signal: &AbortSignal,
    ) -> Result<Response, WebError> {
        let headers = Headers::new().map_err(WebError::network)?;
        headers
            .append("Authorization", &format!("Bearer {token}"))
            .map_err(|e| {
                WebError::invalid_argument("the access token is not a valid header value")
                    .with_cause(e)
            })?;
        let init = RequestInit::new();
        init.set_method("GET");
        init.set_mode(web_sys::RequestMode::Cors);
        init.set_credentials(web_sys::RequestCredentials::Omit);
        init.set_cache(web_sys::RequestCache::NoStore);
        init.set_headers(&headers);
        init.set_signal(Some(signal));
        let promise = window()?.fetch_with_str_and_init(pass.url(), &init);
        let resp = JsFuture::from(promise).await.map_err(WebError::network)?;
        resp.dyn_into::<Response>().map_err(WebError::network)
    }

    /// Fetches `url` with the token: refreshes once on 401 `M_UNKNOWN_TOKEN`, retries per the
    /// core's [`RetryPolicy`] (429, 504 `M_NOT_YET_UPLOADED`, network and gateway errors), gives
    /// up with `timeout` when the server stalls, and turns any other error status into a
    /// `WebError`. Only the response headers are under the stall deadline here; see
    /// [`Inner::authed_fetch_timed`] for the body too.
    pub async fn authed_fetch(self: &Rc<Self>, url: &CanonicalUrl) -> Result<Response, WebError> {
        self.authed_fetch_timed(url).await.map(|(resp, _)| resp)
    }

    /// [`Inner::authed_fetch`], and the deadline to hand to `read_body` (cleared: it is
    /// re-armed for every body chunk). An executor of the core's [`Lifecycle`]: the sequence of
    /// sends, waits and the token refresh is the core's; this function does the I/O.
    pub async fn authed_fetch_timed(
        self: &Rc<Self>,
        url: &CanonicalUrl,
    ) -> Result<(Response, Deadline), WebError> {
        let can_refresh = self.opts.on_token_refresh.is_some();
        let mut lc = Lifecycle::new(RetryPolicy::default(), self.api.get(), false, can_refresh);
        let now = || js_sys::Date::now() as u64;
        let mut token = String::new();
        let mut last_error: Option<MatrixError> = None;
        let mut last_network: Option<WebError> = None;
        loop {
            match lc.poll(now()) {
                Action::Send { .. } => {
                    token = self.token()?;
                    let pass = self.pass(url)?;
                    let mut deadline =
                        Deadline::new(self.opts.fetch_timeout_ms, &self.session_abort.signal())?;
                    match self.fetch_once(&pass, &token, &deadline.signal()).await {
                        Ok(resp) if resp.ok() => {
                            deadline.clear();
                            return Ok((resp, deadline));
                        }
                        Ok(resp) => {
                            if resp.type_() == web_sys::ResponseType::Opaqueredirect {
                                return Err(WebError::new("network", "unexpected redirect"));
                            }
                            // Still under the deadline: an error body that never ends is a
                            // stall too.
                            let err = read_error(&resp).await;
                            if deadline.timed_out() {
                                return Err(deadline.error());
                            }
                            lc.on_answer(now(), err.status, Some(&err));
                            last_error = Some(err);
                        }
                        Err(_) if deadline.timed_out() => return Err(deadline.error()),
                        Err(e) if e.code == "network" => {
                            lc.on_network_error(now());
                            last_network = Some(e);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Action::Wait { until_ms } => {
                    let ms = until_ms.saturating_sub(now());
                    sleep(i32::try_from(ms).unwrap_or(i32::MAX)).await;
                }
                Action::NeedToken { .. } => {
                    // The token may already have been replaced by a concurrent refresh.
                    if self.token.borrow().as_deref() == Some(token.as_str()) {
                        self.refresh_token().await?;
                    }
                    lc.on_token(true);
                }
                Action::Deliver => {
                    let err = last_error
                        .take()
                        .unwrap_or_else(|| MatrixError::from_body(500, None, None));
                    let e = matrix_to_web(&err);
                    if matches!(
                        err.kind(),
                        ErrorKind::UnknownToken { .. } | ErrorKind::MissingToken
                    ) {
                        self.emit_error(&e.to_js(), None);
                    }
                    return Err(e);
                }
                Action::Fail(Ending::Network { attempts }) => {
                    let network = last_network.take();
                    let mut e = WebError::new(
                        "network",
                        format!(
                            "the homeserver could not be reached after {attempts} attempt{}: {}",
                            if attempts == 1 { "" } else { "s" },
                            network.as_ref().map_or("", |n| n.message.as_str())
                        ),
                    );
                    e.cause = network.and_then(|n| n.cause);
                    return Err(e);
                }
                Action::Fail(ending) => {
                    return Err(WebError::new(
                        ending.client_code().as_str(),
                        "the request ended",
                    ))
                }
                Action::Idle => {
                    return Err(WebError::new(
                        "internal",
                        "request lifecycle idle without a pending input",
                    ))
                }
            }
        }
    }

    /// Calls `onTokenRefresh` (one call shared by concurrent 401s) and installs the result.
    pub async fn refresh_token(self: &Rc<Self>) -> Result<String, WebError> {
        let existing = self.refreshing.borrow().clone();
        let promise = match existing {
            Some(p) => p,
            None => {
                let Some(f) = self.opts.on_token_refresh.clone() else {
                    return Err(WebError::new(
                        "unauthorized",
                        "the token was rejected and no onTokenRefresh is set",
                    ));
                };
                let me = Rc::clone(self);
                let p = future_to_promise(async move {
                    let out = f.call0(&JsValue::UNDEFINED);
                    let res = match out {
                        Ok(v) => JsFuture::from(Promise::resolve(&v)).await,
                        Err(e) => Err(e),
                    };
                    me.refreshing.replace(None);
                    let v = res.map_err(|e| {
                        WebError::new(
                            "unauthorized",
                            format!("onTokenRefresh failed: {}", describe(&e)),
                        )
                        .with_cause(e)
                    })?;
                    let Some(t) = v
                        .as_string()
                        .filter(|t| crate::util::check_token(t).is_ok())
                    else {
                        return Err(WebError::new(
                            "unauthorized",
                            "onTokenRefresh did not return a token",
                        )
                        .into());
                    };
                    if !me.logged_out.get() {
                        me.token.replace(Some(t.clone()));
                        me.post_token(&t);
                    }
                    Ok(JsValue::from_str(&t))
                });
                self.refreshing.replace(Some(p.clone()));
                p
            }
        };
        let v = JsFuture::from(promise).await.map_err(js_to_web)?;
        Ok(v.as_string().unwrap_or_default())
    }

    /// An object URL for `url`, cached under `key`; concurrent callers share one fetch.
    pub async fn blob_url(
        self: &Rc<Self>,
        key: String,
        url: CanonicalUrl,
        pin: bool,
        mxc: &str,
    ) -> Result<String, JsValue> {
        for attempt in 0..3 {
            if let Some(u) = self.blobs.borrow_mut().get(&key, pin) {
                if attempt == 0 {
                    let mut c = self.counters.borrow_mut();
                    c.cache_hits = c.cache_hits.saturating_add(1);
                }
                return Ok(u);
            }
            let existing = self.inflight.borrow().get(&key).cloned();
            let promise = match existing {
                Some(p) => {
                    if attempt == 0 {
                        let mut c = self.counters.borrow_mut();
                        c.cache_hits = c.cache_hits.saturating_add(1);
                    }
                    p
                }
                None => {
                    let p = future_to_promise(load(
                        Rc::clone(self),
                        key.clone(),
                        url.clone(),
                        mxc.to_owned(),
                    ));
                    self.inflight.borrow_mut().insert(key.clone(), p.clone());
                    p
                }
            };
            JsFuture::from(promise).await?;
            // Loop: take the URL from the cache (pinning it) in this same task.
        }
        Err(WebError::new(
            "over_budget",
            "the media was evicted before it could be shown (budget too small for the page)",
        )
        .into())
    }

    /// Fetches `mxc` fully and saves it under `filename` through a temporary `<a download>`.
    pub async fn save_file(
        self: &Rc<Self>,
        mxc: &MxcUri,
        filename: Option<String>,
    ) -> Result<(), JsValue> {
        let req = MediaRequest::Download {
            filename: filename.clone(),
        };
        let url = self.url(mxc, &req);
        let (resp, mut deadline) = if self.api.get().is_authenticated() {
            let (resp, deadline) = self.authed_fetch_timed(&url).await?;
            (resp, Some(deadline))
        } else {
            let p = window()?.fetch_with_str(url.as_str());
            let resp = JsFuture::from(p)
                .await
                .map_err(WebError::network)?
                .dyn_into::<Response>()?;
            (resp, None)
        };
        let blob = read_body(self, resp, &mxc.to_string(), None, deadline.as_mut()).await?;
        let object_url = Url::create_object_url_with_blob(&blob)?;
        let doc = window()?
            .document()
            .ok_or_else(|| WebError::new("unsupported", "no document"))?;
        let a: web_sys::HtmlAnchorElement = doc.create_element("a")?.dyn_into()?;
        a.set_href(&object_url);
        a.set_download(filename.as_deref().unwrap_or(mxc.media_id().as_str()));
        a.click();
        // Give the browser time to start the download before the URL goes away; `logout()`
        // revokes it earlier.
        self.download_urls.borrow_mut().push(object_url.clone());
        let u = object_url.clone();
        let me = Rc::downgrade(self);
        let revoke = Closure::once_into_js(move || {
            let _ = Url::revoke_object_url(&u);
            if let Some(me) = me.upgrade() {
                me.download_urls.borrow_mut().retain(|d| *d != u);
            }
        });
        let _ = window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
        Ok(())
    }
}

/// Turns a rejected SDK promise value back into a `WebError` (keeping the original).
pub fn js_to_web(v: JsValue) -> WebError {
    let code = match code_of(&v).as_deref() {
        Some("unauthorized") => "unauthorized",
        Some("not_found") => "not_found",
        Some("too_large") => "too_large",
        Some("over_budget") => "over_budget",
        Some("logged_out") => "logged_out",
        Some("invalid_argument") => "invalid_argument",
        Some("forbidden") => "forbidden",
        Some("rate_limited") => "rate_limited",
        Some("server_error") => "server_error",
        Some("timeout") => "timeout",
        Some("not_yet_uploaded") => "not_yet_uploaded",
        _ => "network",
    };
    WebError::new(code, describe(&v)).with_cause(v)
}

/// Reads an error response into a `MatrixError`.
async fn read_error(resp: &Response) -> MatrixError {
    let status = resp.status();
    let retry_after = resp.headers().get("Retry-After").ok().flatten();
    let body: Option<ErrorBody> = match resp.json() {
        Ok(p) => match JsFuture::from(p).await {
            Ok(v) => authmedia_js::error_body(&v),
            Err(_) => None,
        },
        Err(_) => None,
    };
    MatrixError::from_body(status, body, retry_after.as_deref())
}

/// Reads a response body into a safe-typed `Blob`, emitting progress; stops early when
/// `limit` is given and exceeded, and with `timeout` when `deadline` is given and no chunk
/// arrives in time.
async fn read_body(
    inner: &Rc<Inner>,
    resp: Response,
    mxc: &str,
    limit: Option<u64>,
    deadline: Option<&mut Deadline>,
) -> Result<Blob, WebError> {
    let ct = resp.headers().get("Content-Type").ok().flatten();
    let safe = safe_blob_type(ct.as_deref());
    let total = content_length(&resp);
    let too_large = |n: u64| {
        WebError::new(
            "over_budget",
            format!("the media ({n} bytes) is larger than the fallback budget ({} bytes); use download()", inner.opts.budget_bytes),
        )
        .with_reason("exceeds_budget")
    };
    if let (Some(l), Some(t)) = (limit, total) {
        if t > l {
            if let Some(body) = resp.body() {
                let _ = body.cancel();
            }
            return Err(too_large(t));
        }
    }
    if let Some(t) = total.filter(|&t| (t as f64) < PROGRESS_STEP) {
        return read_small_body(inner, resp, mxc, limit, deadline, safe, t).await;
    }
    let chunks = Array::new();
    let mut loaded: f64 = 0.0;
    let mut next_report = PROGRESS_STEP;
    for_each_chunk(&resp, deadline, |chunk| {
        loaded += f64::from(chunk.byte_length());
        chunks.push(&chunk);
        if let Some(l) = limit {
            if loaded > l as f64 {
                return Err(too_large(loaded as u64));
            }
        }
        if loaded >= next_report {
            next_report = loaded + PROGRESS_STEP;
            progress(inner, mxc, loaded, total);
        }
        Ok(())
    })
    .await?;
    progress(inner, mxc, loaded, total);
    let bag = BlobPropertyBag::new();
    bag.set_type(safe);
    Blob::new_with_u8_array_sequence_and_options(&chunks, &bag).map_err(WebError::network)
}

/// A body announced (`Content-Length`) below one progress step — thumbnails, most images: the
/// browser assembles it (`Response::blob`), which costs far less than passing every chunk through
/// wasm and rebuilding it with `new Blob(chunks)`; the progress events are the same (only the
/// final one). The stall deadline is armed once for the whole body, which the browser then holds
/// in one piece. The announced size was checked against the budget; a body that is larger once
/// decoded (a `Content-Encoding`, which is not readable cross-origin) is refused after the fact.
async fn read_small_body(
    inner: &Rc<Inner>,
    resp: Response,
    mxc: &str,
    limit: Option<u64>,
    mut deadline: Option<&mut Deadline>,
    safe: &str,
    total: u64,
) -> Result<Blob, WebError> {
    if let Some(d) = deadline.as_deref_mut() {
        d.rearm();
    }
    let body = match resp.blob() {
        Ok(p) => JsFuture::from(p).await,
        Err(e) => Err(e),
    };
    let body: Blob = match (body, deadline.as_deref()) {
        (Ok(b), _) => b.unchecked_into(),
        (Err(_), Some(d)) if d.timed_out() => return Err(d.error()),
        (Err(e), _) => return Err(WebError::network(e)),
    };
    if let Some(d) = deadline {
        d.clear();
    }
    let size = body.size();
    if limit.is_some_and(|l| size > l as f64) {
        return Err(WebError::new(
            "over_budget",
            format!(
                "the media ({} bytes) is larger than the fallback budget ({} bytes); use download()",
                size as u64, inner.opts.budget_bytes
            ),
        )
        .with_reason("exceeds_budget"));
    }
    progress(inner, mxc, size, Some(total));
    // The blob's type is the server's; the page shows only the safe type.
    body.slice_with_f64_and_f64_and_content_type(0.0, size, safe)
        .map_err(WebError::network)
}

/// The `Content-Length` of `resp`, when it has a valid one (a CORS-safelisted header: readable
/// cross-origin).
pub(crate) fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|s| s.trim().parse::<u64>().ok())
}

/// Reads `resp`'s body chunk by chunk, the stall `deadline` (if any) re-armed before every
/// chunk and cleared at the end; `on_chunk` may stop the read with an error (the stream is then
/// cancelled).
pub(crate) async fn for_each_chunk(
    resp: &Response,
    mut deadline: Option<&mut Deadline>,
    mut on_chunk: impl FnMut(Uint8Array) -> Result<(), WebError>,
) -> Result<(), WebError> {
    if let Some(body) = resp.body() {
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        loop {
            if let Some(d) = deadline.as_deref_mut() {
                d.rearm();
            }
            let r = JsFuture::from(reader.read()).await;
            let r = match (r, deadline.as_deref()) {
                (Ok(r), _) => r,
                (Err(_), Some(d)) if d.timed_out() => return Err(d.error()),
                (Err(e), _) => return Err(WebError::network(e)),
            };
            if get(&r, "done").as_bool().unwrap_or(true) {
                break;
            }
            if let Err(e) = on_chunk(get(&r, "value").unchecked_into()) {
                let _ = reader.cancel();
                return Err(e);
            }
        }
    }
    if let Some(d) = deadline {
        d.clear();
    }
    Ok(())
}

/// Puts `blob` into the byte-budget LRU under `key` as an object URL: revokes (and marks the
/// mounted elements of) what it evicts; refused (too large, or the budget is held by media in
/// view) → the URL is revoked and `over_budget`.
pub(crate) fn admit_blob(inner: &Inner, key: &str, blob: &Blob) -> Result<String, WebError> {
    let size = blob.size() as u64;
    let object_url = Url::create_object_url_with_blob(blob).map_err(WebError::network)?;
    let admitted = inner
        .blobs
        .borrow_mut()
        .insert(key.to_owned(), object_url.clone(), size, false);
    match admitted {
        Ok(evicted) => {
            for (k, u) in evicted {
                let _ = Url::revoke_object_url(&u);
                crate::mount::evicted(inner, &k, &u);
            }
            Ok(object_url)
        }
        Err(r) => {
            let _ = Url::revoke_object_url(&object_url);
            Err(match r {
                Refused::TooLarge => WebError::new(
                    "over_budget",
                    "the media is larger than the fallback budget; use download()",
                )
                .with_reason("exceeds_budget"),
                Refused::OverBudget => WebError::new(
                    "over_budget",
                    "the fallback budget is filled by media in view; raise budgetBytes",
                )
                .with_reason("budget_full"),
            })
        }
    }
}

fn progress(inner: &Inner, mxc: &str, loaded: f64, total: Option<u64>) {
    let d = object();
    set(&d, "mxc", &JsValue::from_str(mxc));
    set(&d, "loaded", &JsValue::from(loaded));
    set(
        &d,
        "total",
        &total.map_or(JsValue::NULL, |t| JsValue::from(t as f64)),
    );
    inner.emit("progress", &d);
}

/// The shared fetch behind [`Inner::blob_url`]: fetch, read, admit into the LRU.
async fn load(
    inner: Rc<Inner>,
    key: String,
    url: CanonicalUrl,
    mxc: String,
) -> Result<JsValue, JsValue> {
    let result = load_inner(&inner, &key, &url, &mxc).await;
    inner.inflight.borrow_mut().remove(&key);
    result.map_err(JsValue::from)
}

async fn load_inner(
    inner: &Rc<Inner>,
    key: &str,
    url: &CanonicalUrl,
    mxc: &str,
) -> Result<JsValue, WebError> {
    let _permit = inner.limiter.acquire().await;
    {
        let mut c = inner.counters.borrow_mut();
        c.fetches = c.fetches.saturating_add(1);
    }
    let (resp, mut deadline) = inner.authed_fetch_timed(url).await?;
    let blob = read_body(
        inner,
        resp,
        mxc,
        Some(inner.opts.budget_bytes),
        Some(&mut deadline),
    )
    .await?;
    if inner.logged_out.get() {
        return Err(WebError::new("logged_out", "logged out while loading"));
    }
    admit_blob(inner, key, &blob)?;
    Ok(JsValue::TRUE)
}
