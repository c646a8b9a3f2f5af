//! One authenticated request of the page, start to end: the core's [`Lifecycle`] decides the
//! sends, waits, the token refresh and the fall-back to the legacy API; [`send`] executes it —
//! the gate ([`Session::pass`]) before every attempt, the one function that puts the token on a
//! request ([`fetch_once`]), the stall deadline ([`Deadline`]). The fallback's media, its
//! encrypted attachments, `/versions` and `download()` (of an authenticated API) go through here.

use std::rc::Rc;

use authmedia_core::{
    negotiate, Action, Api, CanonicalUrl, Ending, ErrorBody, ErrorKind, Lifecycle, MatrixError,
    MediaRequest, MxcUri, Pass, RetryPolicy,
};
use js_sys::{Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, AbortSignal, Headers, ReadableStreamDefaultReader, RequestInit, Response,
};

use crate::error::{describe, WebError};
use crate::events::Events;
use crate::session::Session;
use crate::util::{get, sleep, window};

/// The abort reason of a stalled fetch.
const TIMEOUT: &str = "authmedia:timeout";

/// The stall deadline of one fetch: its `AbortController` is aborted with [`TIMEOUT`] when the
/// timer fires — armed until the response headers arrive, then re-armed before every body chunk
/// by [`for_each_chunk`]. The timer calls the controller's own `abort`, bound (no Rust closure).
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
    pub fn new(ms: i32, logout: &AbortSignal) -> Result<Deadline, WebError> {
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

    pub fn signal(&self) -> AbortSignal {
        self.controller.signal()
    }

    pub fn rearm(&mut self) {
        self.clear();
        if let Ok(w) = window() {
            self.handle = w
                .set_timeout_with_callback_and_timeout_and_arguments_0(&self.abort, self.ms)
                .ok();
        }
    }

    pub fn clear(&mut self) {
        if let (Some(handle), Ok(w)) = (self.handle.take(), window()) {
            w.clear_timeout_with_handle(handle);
        }
    }

    pub fn timed_out(&self) -> bool {
        self.signal().reason().as_string().as_deref() == Some(TIMEOUT)
    }

    pub fn error(&self) -> WebError {
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

/// What a request fetches: the URL is built per attempt, for the API the lifecycle chose.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// `GET /_matrix/client/versions`: never falls back.
    Versions,
    /// Media of the homeserver, built for the negotiated API: a server that turns out not to know
    /// it (404/405 `M_UNRECOGNIZED`) gets the legacy URL once, as in the worker.
    Media(&'a MxcUri, &'a MediaRequest),
}

impl Target<'_> {
    fn url(&self, session: &Session, api: Api) -> CanonicalUrl {
        match self {
            Target::Versions => CanonicalUrl::versions(&session.hs),
            Target::Media(mxc, req) => session.url_in(api, mxc, req),
        }
    }
}

/// One fetch to the URL of a [`Pass`] of the gate, with `token` when the pass says the endpoint
/// takes it ([`Pass::bearer`]): `mode: cors`, no cookies, no HTTP cache (Synapse sends
/// `Cache-Control: public` without `Vary: Authorization`), abortable by `signal`. The only place
/// the page puts a token on a request.
async fn fetch_once(pass: &Pass, token: &str, signal: &AbortSignal) -> Result<Response, WebError> {
    let init = RequestInit::new();
    if pass.bearer() {
        let headers = Headers::new().map_err(WebError::network)?;
        headers
            .append("Authorization", &format!("Bearer {token}"))
            .map_err(|e| {
                WebError::invalid_argument("the access token is not a valid header value")
                    .with_cause(e)
            })?;
        init.set_headers(&headers);
    }
    init.set_method("GET");
    init.set_mode(web_sys::RequestMode::Cors);
    init.set_credentials(web_sys::RequestCredentials::Omit);
    init.set_cache(web_sys::RequestCache::NoStore);
    init.set_signal(Some(signal));
    let promise = window()?.fetch_with_str_and_init(pass.url(), &init);
    let resp = JsFuture::from(promise).await.map_err(WebError::network)?;
    resp.dyn_into::<Response>().map_err(WebError::network)
}

/// Fetches `target` with the token: refreshes once on 401 `M_UNKNOWN_TOKEN`, retries per the
/// core's [`RetryPolicy`] (429, 504 `M_NOT_YET_UPLOADED`, network and gateway errors), falls back
/// once to the legacy API (tokenless: its endpoints are unauthenticated) when the server does
/// not know the authenticated one, gives up with `timeout` when the server stalls, and turns any
/// other error status into a `WebError`. Returns the deadline to hand to [`for_each_chunk`]
/// (cleared: it is re-armed for every body chunk). An executor of the core's [`Lifecycle`]: the
/// sequence is the core's; this function does the I/O.
pub async fn send(
    session: &Rc<Session>,
    events: &Events,
    target: Target<'_>,
) -> Result<(Response, Deadline), WebError> {
    // Media URLs were built for the negotiated API: a server that turns out not to know it gets
    // the legacy URL once (the core allows it only for an authenticated API).
    let may_fall_back = matches!(target, Target::Media(..));
    let mut lc = Lifecycle::new(
        RetryPolicy::default(),
        session.api(),
        may_fall_back,
        session.can_refresh(),
    );
    let now = || js_sys::Date::now() as u64;
    let mut token = String::new();
    let mut last_error: Option<MatrixError> = None;
    let mut last_network: Option<WebError> = None;
    loop {
        match lc.poll(now()) {
            Action::Send { api, .. } => {
                let url = target.url(session, api);
                // After `M_UNRECOGNIZED` the homeserver has no authenticated media: later URLs
                // are legacy ones too (the worker records the same).
                if lc.fell_back() {
                    session.set_api(Api::Legacy);
                }
                // The gate, before every attempt, tokenless ones too (nothing after logout). It
                // also says whether the token goes: not to the unauthenticated legacy endpoints.
                let pass = session.pass(&url)?;
                if pass.bearer() {
                    token = session.token()?;
                }
                let mut deadline =
                    Deadline::new(session.fetch_timeout_ms, &session.abort_signal())?;
                let sent = fetch_once(&pass, &token, &deadline.signal()).await;
                match sent {
                    Ok(resp) if resp.ok() => {
                        deadline.clear();
                        return Ok((resp, deadline));
                    }
                    Ok(resp) => {
                        if resp.type_() == web_sys::ResponseType::Opaqueredirect {
                            return Err(WebError::new("network", "unexpected redirect"));
                        }
                        // Still under the deadline: an error body that never ends is a stall too.
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
                if session.is_current(&token) {
                    session.refresh_token().await?;
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
                    events.emit_error(&e.to_js(), None);
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

/// Authenticated `GET /_matrix/client/versions` → the API flavour to use.
pub async fn negotiate_api(session: &Rc<Session>, events: &Events) -> Result<Api, JsValue> {
    let (resp, _) = send(session, events, Target::Versions).await?;
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

/// The `Content-Length` of `resp`, when it has a valid one (a CORS-safelisted header: readable
/// cross-origin).
pub fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|s| s.trim().parse::<u64>().ok())
}

/// Reads `resp`'s body chunk by chunk, the stall `deadline` (if any) re-armed before every
/// chunk and cleared at the end; `on_chunk` may stop the read with an error (the stream is then
/// cancelled). `on_chunk` is a trait object, not a generic: one copy of this loop's state
/// machine serves the fallback's body reads and its decryption.
pub async fn for_each_chunk(
    resp: &Response,
    mut deadline: Option<&mut Deadline>,
    on_chunk: &mut dyn FnMut(Uint8Array) -> Result<(), WebError>,
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
