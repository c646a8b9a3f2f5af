//! The exported worker: routing, the authenticated fetch path and the page messages.
//!
//! JavaScript (the entry script `sw/authmedia-sw.js`) calls [`AuthMediaWorker::route`]
//! synchronously for every fetch to decide whether to call `respondWith`, then
//! [`AuthMediaWorker::handle_fetch`] for the requests it took. The returned promises never reject
//! for request failures: every failure becomes a JSON error `Response` (and never a tokenless
//! retry). Shared state sits in one `RefCell` that is never borrowed across an `await`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use authmedia_core::{
    admit_request, classify, negotiate, Api, CanonicalUrl, Classification, Homeserver, Lifecycle,
    MatrixError, MediaMatch, NegotiationCache, RetryPolicy, Route,
};
use js_sys::{ArrayBuffer, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{
    AbortController, AbortSignal, Client, ExtendableMessageEvent, FetchEvent, Headers, MessagePort,
    Request, Response, ResponseInit,
};

use crate::failures::Failures;
use crate::net::{self, error_response};
use crate::range::{RangeAnswer, RangeRequest};
use crate::sessions::{ClientState, Principal, Session, Sessions};
use crate::stats::{bump, Stats};
use crate::store::{BodyStore, Stored};
use crate::upstream::{self, Answered, Fail, Flight, InFlight};
use crate::{js, tab};

/// [`AuthMediaWorker::route`]: not ours, leave it to the network.
pub const ROUTE_OTHER: u8 = 0;
/// [`AuthMediaWorker::route`]: media of this client's homeserver, take it.
pub const ROUTE_MEDIA: u8 = 1;
/// [`AuthMediaWorker::route`]: nothing known about this client (new tab, restarted worker).
pub const ROUTE_UNKNOWN: u8 = 2;
/// [`AuthMediaWorker::route`]: this client has no session; media-looking requests pass through.
pub const ROUTE_NO_SESSION: u8 = 3;

/// Tunables, all optional in the object given to the constructor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// How long to wait for a tab's answer (`need-session`, `need-token`).
    pub(crate) ask_timeout_ms: i32,
    /// How long a `/versions` decision is trusted.
    negotiation_ttl_ms: u64,
    /// Bytes of media bodies kept in memory.
    pub(crate) store_budget: u64,
    /// Largest single body kept.
    store_entry_max: u64,
    /// How long an upstream fetch may go without response headers, or (for bodies the worker
    /// keeps) without a body chunk, before it is aborted and answered 504 `timeout`.
    pub(crate) fetch_timeout_ms: i32,
    /// Retries of failed upstream fetches (`retryMaxAttempts`, `retryMaxWaitMs`).
    pub(crate) retry: RetryPolicy,
}

/// Default `fetchTimeoutMs`.
pub const DEFAULT_FETCH_TIMEOUT_MS: i32 = 30_000;
/// Smallest `fetchTimeoutMs` (smaller values are raised to it): below a second, a busy but
/// healthy homeserver would be cut off.
pub const MIN_FETCH_TIMEOUT_MS: i32 = 1_000;
/// Largest `fetchTimeoutMs` (larger values are lowered to it).
pub const MAX_FETCH_TIMEOUT_MS: i32 = 600_000;
/// Largest `retryMaxAttempts`.
pub const MAX_RETRY_ATTEMPTS: u32 = 10;
/// Largest `retryMaxWaitMs`.
pub const MAX_RETRY_WAIT_MS: u64 = 120_000;

impl Config {
    fn from_js(options: &JsValue) -> Self {
        let number = |name: &str, default: f64| {
            Reflect::get(options, &name.into())
                .ok()
                .and_then(|v| v.as_f64())
                .filter(|v| *v >= 0.0)
                .unwrap_or(default)
        };
        // Finite and > 0, else the default; then clamped to the documented range.
        let positive = |name: &str| {
            Reflect::get(options, &name.into())
                .ok()
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        let defaults = RetryPolicy::default();
        let fetch_timeout_ms = positive("fetchTimeoutMs").map_or(DEFAULT_FETCH_TIMEOUT_MS, |v| {
            v.clamp(
                f64::from(MIN_FETCH_TIMEOUT_MS),
                f64::from(MAX_FETCH_TIMEOUT_MS),
            ) as i32
        });
        let max_attempts = positive("retryMaxAttempts").map_or(defaults.max_attempts, |v| {
            (v as u32).clamp(1, MAX_RETRY_ATTEMPTS)
        });
        // 0 is meaningful here (retry only what needs no wait).
        let max_total_wait_ms = Reflect::get(options, &"retryMaxWaitMs".into())
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map_or(defaults.max_total_wait_ms, |v| {
                (v as u64).min(MAX_RETRY_WAIT_MS)
            });
        Self {
            fetch_timeout_ms,
            retry: RetryPolicy {
                max_attempts,
                max_total_wait_ms,
                max_delay_ms: defaults.max_delay_ms,
            },
            ask_timeout_ms: number("askTimeoutMs", 1000.0).min(1000.0) as i32,
            negotiation_ttl_ms: number("negotiationTtlMs", 4.0 * 3600.0 * 1000.0) as u64,
            store_budget: number("storeBudgetBytes", 64.0 * 1024.0 * 1024.0) as u64,
            store_entry_max: number("storeEntryMaxBytes", 32.0 * 1024.0 * 1024.0) as u64,
        }
    }
}

pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) sessions: Sessions,
    pub(crate) negotiation: NegotiationCache,
    pub(crate) store: BodyStore<ArrayBuffer>,
    pub(crate) stats: Stats,
    /// Questions in flight, so concurrent requests share one (`session:`, `token:`, `versions:`).
    pending: Vec<(String, Promise)>,
    /// Upstream media fetches in flight, joined by identical requests (single-flight).
    flights: Vec<Joinable>,
    /// Requests waiting for a tab's `need-session` answer, per client.
    session_waiters: Vec<(String, u32)>,
    /// Every upstream flight not yet finished, by user (logout aborts them).
    pub(crate) running: Vec<(String, std::rc::Weak<Flight>)>,
    /// Upstream attempts in progress and the queue for more.
    pub(crate) slots: upstream::Slots,
    /// Encrypted attachments registered by tabs (keys, in memory only).
    pub(crate) encrypted: crate::encrypted::Registry,
    /// Why recent media answers failed, for the tabs' `authmedia:why`.
    pub(crate) failures: Failures,
}

pub(crate) type Shared = Rc<RefCell<State>>;

/// The service worker's state: sessions per client, negotiation cache, media store, counters.
#[wasm_bindgen(js_name = AuthMediaWorker)]
pub struct AuthMediaWorker {
    shared: Shared,
}

#[wasm_bindgen(js_class = AuthMediaWorker)]
impl AuthMediaWorker {
    /// Creates the worker state. `options` may set `askTimeoutMs` (≤ 1000), `negotiationTtlMs`,
    /// `storeBudgetBytes`, `storeEntryMaxBytes`, `fetchTimeoutMs` (default 30 000, clamped to
    /// 1 000–600 000), `retryMaxAttempts` (attempts in all, default 4, 1–10) and `retryMaxWaitMs`
    /// (total wait between attempts, default 20 000, 0–120 000). A missing, non-numeric,
    /// non-finite or negative value (for `fetchTimeoutMs`/`retryMaxAttempts` also 0) is the
    /// default.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> AuthMediaWorker {
        let config = Config::from_js(&options);
        let state = State {
            config,
            sessions: Sessions::default(),
            negotiation: NegotiationCache::new(config.negotiation_ttl_ms),
            store: BodyStore::new(config.store_budget, config.store_entry_max),
            stats: Stats::default(),
            pending: Vec::new(),
            flights: Vec::new(),
            session_waiters: Vec::new(),
            running: Vec::new(),
            slots: upstream::Slots::default(),
            encrypted: crate::encrypted::Registry::default(),
            failures: Failures::default(),
        };
        AuthMediaWorker {
            shared: Rc::new(RefCell::new(state)),
        }
    }

    /// The synchronous decision for one fetch: [`ROUTE_OTHER`], [`ROUTE_MEDIA`],
    /// [`ROUTE_UNKNOWN`] or [`ROUTE_NO_SESSION`].
    #[wasm_bindgen(js_name = route)]
    pub fn route(&self, client_id: &str, url: &str) -> u8 {
        let state = self.shared.borrow();
        match state.sessions.get(client_id) {
            None => ROUTE_UNKNOWN,
            Some(ClientState::NoSession) => ROUTE_NO_SESSION,
            Some(ClientState::Session(session)) => {
                match classify(url, std::slice::from_ref(&session.homeserver)) {
                    Classification::Media(_) => ROUTE_MEDIA,
                    Classification::Other => ROUTE_OTHER,
                }
            }
        }
    }

    /// Counts a media-looking request that JavaScript left to the network (no session).
    #[wasm_bindgen(js_name = notePassthrough)]
    pub fn note_passthrough(&self) {
        bump(&mut self.shared.borrow_mut().stats.passthrough);
    }

    /// Answers a fetch the entry script took: a promise of a `Response` that never rejects.
    #[wasm_bindgen(js_name = handleFetch)]
    pub fn handle_fetch(&self, event: &FetchEvent) -> Promise {
        let shared = self.shared.clone();
        let request = event.request();
        let client_id = event.client_id().unwrap_or_default();
        future_to_promise(async move {
            if !admitted(&request) {
                // The entry script leaves navigations and non-media destinations alone; if one
                // arrives anyway it goes to the network as the page made it, without the token.
                bump(&mut shared.borrow_mut().stats.passthrough);
                return Ok(passthrough(&request).await.into());
            }
            let response = respond(&shared, &request, &client_id).await;
            note_answer(&shared, &client_id, &request.url(), &response);
            Ok(response.into())
        })
    }

    /// Answers a request for `<scope>authmedia/encrypted/<id>` (the entry script takes every GET
    /// under that prefix): a promise of a `Response` that never rejects.
    #[wasm_bindgen(js_name = handleEncrypted)]
    pub fn handle_encrypted(&self, event: &FetchEvent) -> Promise {
        let shared = self.shared.clone();
        let request = event.request();
        let client_id = event.client_id().unwrap_or_default();
        future_to_promise(async move {
            if !admitted(&request) {
                return Ok(crate::encrypted::not_media_request().into());
            }
            let response = crate::encrypted::respond(&shared, &request, &client_id).await;
            note_answer(&shared, &client_id, &request.url(), &response);
            Ok(response.into())
        })
    }

    /// Handles an `authmedia:*` message from a page; resolves once it is answered.
    #[wasm_bindgen(js_name = handleMessage)]
    pub fn handle_message(&self, event: &ExtendableMessageEvent) -> Promise {
        let shared = self.shared.clone();
        let data = event.data();
        let client_id = event
            .source()
            .and_then(|s| s.dyn_into::<Client>().ok())
            .map(|c| c.id());
        let port: Option<MessagePort> = event.ports().get(0).dyn_into().ok();
        future_to_promise(async move {
            let reply = on_message(&shared, &data, client_id.as_deref()).await;
            if let Some(port) = port {
                let _ = port.post_message(&reply);
            }
            Ok(reply)
        })
    }

    /// The counters and gauges: `{authenticated, upgraded, passthrough, refused, cacheHits,
    /// upstream, retries, deduped, timeouts, sessionAsks, storeBytes, storeEntries,
    /// storeBudgetBytes, inflight, wasmMemoryBytes, decryptedWebCrypto, decryptedWasm}` (see [`Stats`]).
    #[wasm_bindgen(js_name = stats)]
    pub fn stats(&self) -> JsValue {
        stats_object(&self.shared.borrow())
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
impl AuthMediaWorker {
    /// Test hook: the state.
    pub(crate) fn shared(&self) -> Shared {
        self.shared.clone()
    }

    /// Test hook: a page message from `client_id` (no `ExtendableMessageEvent` needed).
    pub(crate) fn test_message(&self, client_id: &str, data: &JsValue) -> JsValue {
        let kind = js::string(data, "type").unwrap_or_default();
        client_message(&self.shared, &kind, data, client_id)
    }
}

// ----- the fetch path -------------------------------------------------------------------------

/// The core's [`admit_request`] on the browser's request: not a navigation, a media element or
/// `fetch()`.
fn admitted(request: &Request) -> bool {
    let mode = js::string(request, "mode").unwrap_or_default();
    let destination = js::string(request, "destination").unwrap_or_default();
    admit_request(&mode, &destination).is_ok()
}

/// Notes the outcome of the answer to `url` for the tab's user in [`Failures`]: an error answer's
/// code ([`net::CODE_HEADER`], else what its status means), a success clears it. A request the
/// page cancelled, or of a tab without a session, leaves nothing.
fn note_answer(shared: &Shared, client_id: &str, url: &str, response: &Response) {
    let mut state = shared.borrow_mut();
    let Some(user_id) = state.sessions.session(client_id).map(Session::key) else {
        return;
    };
    let status = response.status();
    if status < 400 {
        if !state.failures.is_empty() {
            state.failures.clear(&user_id, url);
        }
        return;
    }
    let code = response
        .headers()
        .get(net::CODE_HEADER)
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            let kind = MatrixError::from_body(status, None, None).kind();
            kind.client_code().to_owned()
        });
    if code != "cancelled" {
        state.failures.record(&user_id, url, &code);
    }
}

/// The client code of a homeserver error answer whose body was read into `body`.
fn upstream_code(status: u16, body: &ArrayBuffer) -> &'static str {
    let bytes = js_sys::Uint8Array::new(body).to_vec();
    let parsed = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| js_sys::JSON::parse(text).ok())
        .and_then(|v| js::error_body(&v));
    MatrixError::from_body(status, parsed, None)
        .kind()
        .client_code()
}

async fn respond(shared: &Shared, request: &Request, client_id: &str) -> Response {
    let known = shared.borrow().sessions.get(client_id).cloned();
    let session = match known {
        Some(ClientState::Session(session)) => Some(session),
        Some(ClientState::NoSession) => None,
        None => recover_session(shared, client_id).await,
    };
    let url = request.url();
    let matched = session.and_then(|session| {
        match classify(&url, std::slice::from_ref(&session.homeserver)) {
            Classification::Media(m) => Some((session, m)),
            Classification::Other => None,
        }
    });
    let Some((session, m)) = matched else {
        bump(&mut shared.borrow_mut().stats.passthrough);
        return passthrough(request).await;
    };
    let response = serve(shared, request, client_id, &session, m).await;
    // An answer is delivered only to a tab that still has the session it was fetched for: a tab
    // that logged out (or switched account) while it waited gets nothing of it.
    if shared.borrow().sessions.holds(client_id, session.principal) {
        response
    } else {
        Fail::Cancelled.response()
    }
}

/// The original request, untouched (a tab without a session, or not media after all).
async fn passthrough(request: &Request) -> Response {
    match net::fetch(request).await {
        Ok(response) => response,
        Err(error) => error_response(
            502,
            "M_UNKNOWN",
            "network",
            &format!("authmedia service worker: {}", net::describe(&error)),
        ),
    }
}

/// A 500 JSON answer for a `Response` the worker could not build (not expected to happen).
fn internal(error: &JsValue) -> Response {
    error_response(
        500,
        "M_UNKNOWN",
        "internal",
        &format!("authmedia service worker: {}", net::describe(error)),
    )
}

/// What a finished upstream fetch left for the page requests that waited for it.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// A whole 200 body (also in the store when it fits): each waiter answers its range from it.
    Body {
        body: ArrayBuffer,
        content_type: Option<String>,
    },
    /// An error answer of the homeserver (after retries), replayed for each waiter.
    Answer {
        status: u16,
        status_text: String,
        headers: Headers,
        body: ArrayBuffer,
    },
    /// No answer: unreachable, stalled, cancelled.
    Failed(Fail),
    /// A response only the first request can use (a body streamed through because it is too big
    /// to keep, a real 206): the others fetch on their own.
    NotShared,
}

/// An upstream fetch identical requests can join: same user, same target URL.
#[derive(Clone)]
pub(crate) struct Joinable {
    key: String,
    flight: Rc<Flight>,
    /// Resolves once `outcome` is set.
    done: Promise,
    outcome: Rc<RefCell<Option<Outcome>>>,
}

/// Answers one waiting request from a shared outcome.
fn answer(shared: &Shared, outcome: &Outcome, range: Option<RangeRequest>) -> Response {
    let refused = match outcome {
        Outcome::Answer { status, .. } => matches!(status, 401 | 403),
        Outcome::Failed(_) | Outcome::NotShared => true,
        Outcome::Body { .. } => false,
    };
    if refused {
        bump(&mut shared.borrow_mut().stats.refused);
    }
    let built = match outcome {
        Outcome::Body { body, content_type } => {
            let total = u64::from(body.byte_length());
            let answer = range.map_or(RangeAnswer::Whole, |r| r.apply(total));
            net::from_body(body, content_type.as_deref(), answer)
        }
        Outcome::Answer {
            status,
            status_text,
            headers,
            body,
        } => replay(*status, status_text, headers, body),
        Outcome::Failed(fail) => Ok(fail.response()),
        Outcome::NotShared => Err(JsValue::from_str("no shareable answer")),
    };
    built.unwrap_or_else(|e| internal(&e))
}

/// A fresh `Response` from a kept error answer (a body can be read only once).
fn replay(
    status: u16,
    status_text: &str,
    headers: &Headers,
    body: &ArrayBuffer,
) -> Result<Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_status_text(status_text);
    let headers = Headers::new_with_headers(headers)?;
    init.set_headers(&headers);
    Response::new_with_opt_buffer_source_and_init(Some(body.as_ref()), &init)
}

async fn serve(
    shared: &Shared,
    request: &Request,
    client_id: &str,
    session: &Session,
    m: MediaMatch,
) -> Response {
    // What goes upstream is the core's canonical URL of the parsed request, never the page's
    // string: its own escaping of every segment, only the parameters the endpoint defines.
    let api = match m.route {
        Route::Legacy => api_for(shared, session).await,
        route => route.api(),
    };
    let upgraded = m.route == Route::Legacy && api != Api::Legacy;
    let target = CanonicalUrl::of_match(&session.homeserver, api, &m);
    let key_of_session = session.key();
    let range = request
        .headers()
        .get("range")
        .ok()
        .flatten()
        .map(|h| RangeRequest::parse(&h));
    // The page cancelling an image may cancel its download. Not so for range requests: the
    // worker keeps their whole body for the next seek, and a `<video>` cancels and re-requests on
    // every seek — tied to the page's signal, a large video would never finish downloading.
    let cancel_with = range.is_none().then(|| request.signal());
    let from_store = |shared: &Shared| {
        let hit = shared
            .borrow_mut()
            .store
            .get(&key_of_session, target.as_str())?;
        bump(&mut shared.borrow_mut().stats.cache_hits);
        let answer = range.map_or(RangeAnswer::Whole, |r| r.apply(hit.len));
        Some(
            net::from_body(&hit.body, hit.content_type.as_deref(), answer)
                .unwrap_or_else(|e| internal(&e)),
        )
    };
    if let Some(response) = from_store(shared) {
        return response;
    }

    // Single-flight: the same media for the same session is fetched once, however many requests
    // (an image repeated on a page, a `<video>`'s concurrent range requests) ask for it meanwhile.
    let key = format!("{key_of_session}\n{target}");
    let joinable = shared
        .borrow()
        .flights
        .iter()
        .find(|j| j.key == key && !j.flight.was_cancelled())
        .cloned();
    let fetch = Fetch {
        shared,
        request,
        client_id,
        session,
        matched: &m,
        api,
        upgraded,
        range,
    };
    if let Some(joinable) = joinable {
        bump(&mut shared.borrow_mut().stats.deduped);
        joinable.flight.join(cancel_with.clone());
        let _ = JsFuture::from(joinable.done.clone()).await;
        let outcome = joinable.outcome.borrow().clone();
        if let Some(outcome) = outcome.filter(|o| !matches!(o, Outcome::NotShared)) {
            return answer(shared, &outcome, range);
        }
        if let Some(response) = from_store(shared) {
            return response;
        }
        // Not shareable: a fetch of its own, not joinable.
        let flight = Flight::start(shared, &key_of_session);
        flight.join(cancel_with);
        let (outcome, own) = fetch.run(&flight).await;
        flight.end();
        return own.unwrap_or_else(|| answer(shared, &outcome, range));
    }

    let flight = Flight::start(shared, &key_of_session);
    flight.join(cancel_with);
    let (done, resolve) = upstream::deferred();
    let slot = Rc::new(RefCell::new(None));
    shared.borrow_mut().flights.push(Joinable {
        key,
        flight: flight.clone(),
        done,
        outcome: slot.clone(),
    });
    let (outcome, own) = fetch.run(&flight).await;
    flight.end();
    slot.replace(Some(if own.is_some() {
        Outcome::NotShared
    } else {
        outcome.clone()
    }));
    shared
        .borrow_mut()
        .flights
        .retain(|j| !Rc::ptr_eq(&j.flight, &flight));
    let _ = resolve.call0(&JsValue::UNDEFINED);
    own.unwrap_or_else(|| answer(shared, &outcome, range))
}

/// One upstream media fetch with everything around it: retries and timeouts (`upstream.rs`),
/// the `M_UNRECOGNIZED` → legacy retry, the token refresh after a 401, the store.
struct Fetch<'a> {
    shared: &'a Shared,
    request: &'a Request,
    client_id: &'a str,
    session: &'a Session,
    matched: &'a MediaMatch,
    /// The API flavour to send first (the page's route, or the negotiated one for legacy URLs).
    api: Api,
    upgraded: bool,
    range: Option<RangeRequest>,
}

impl Fetch<'_> {
    /// The outcome, and the response itself when it cannot be shared (then the outcome is
    /// [`Outcome::NotShared`]).
    async fn run(&self, flight: &Flight) -> (Outcome, Option<Response>) {
        match self.fetch(flight).await {
            Ok(done) => done,
            Err(fail) => (Outcome::Failed(fail), None),
        }
    }

    /// The canonical URL of this request in flavour `api`.
    fn target_for(&self, api: Api) -> CanonicalUrl {
        CanonicalUrl::of_match(&self.session.homeserver, api, self.matched)
    }

    async fn fetch(&self, flight: &Flight) -> Result<(Outcome, Option<Response>), Fail> {
        let shared = self.shared;
        let session = self.session;
        let _inflight = InFlight::start(shared);
        {
            let stats = &mut shared.borrow_mut().stats;
            bump(&mut stats.authenticated);
            if self.upgraded {
                bump(&mut stats.upgraded);
            }
        }
        // A `Range` the browser would preflight (Synapse does not allow it) is answered from the
        // whole body instead of being forwarded.
        let drop_range = self.range.is_some_and(|r| !r.is_cors_safelisted());
        let build = |signal: &AbortSignal, api: Api, token: &str| {
            // The gate, before every attempt: the session was read when the request arrived and
            // the request may have waited since (for `/versions`, the tab's refreshed token, a
            // back-off). After a logout nothing goes out with the old token. No await between
            // this check and the fetch call, so a later logout aborts the flight instead.
            let target = self.target_for(api);
            let pass = shared
                .borrow()
                .sessions
                .pass(session, token, &target)
                .map_err(|_| Fail::Cancelled)?;
            net::authenticated_request(self.request, &pass, token, drop_range, signal)
                .map_err(|e| self.broken(&e))
        };
        let refresh = |used: String| -> Pin<Box<dyn Future<Output = Option<String>> + '_>> {
            Box::pin(async move { refreshed_token(shared, self.client_id, session, &used).await })
        };
        let policy = shared.borrow().config.retry;
        let mut lc = Lifecycle::new(policy, self.api, self.upgraded, true);
        let answered = upstream::run(
            shared,
            flight,
            &mut lc,
            session.access_token.clone(),
            &build,
            &refresh,
        )
        .await;
        lifecycle_side_effects(shared, session, &lc);
        let Answered {
            response,
            controller,
        } = answered?;
        let target = self.target_for(lc.api());
        let status = response.status();
        if status == 401 {
            let errcode = self
                .error(&response, &controller)
                .await
                .errcode
                .unwrap_or_default();
            let note = tab::message(
                "authmedia:unauthorized",
                &[
                    ("userId", &session.user_id.as_str().into()),
                    ("errcode", &errcode.into()),
                ],
            );
            tab::notify(self.client_id, &note).await;
        }
        if status >= 400 {
            // Error answers are small: kept whole and replayed for every waiter.
            let headers =
                Headers::new_with_headers(&response.headers()).map_err(|e| self.broken(&e))?;
            let _ = net::protect(&headers);
            let body = upstream::read_body(shared, &response, &controller).await?;
            let _ = headers.set(net::CODE_HEADER, upstream_code(status, &body));
            return Ok((
                Outcome::Answer {
                    status,
                    status_text: response.status_text(),
                    headers,
                    body,
                },
                None,
            ));
        }
        if status != 200 {
            // A real 206 of a server that honours `Range`, or another success: this request's.
            let own = net::rewrap(&response).unwrap_or_else(|e| internal(&e));
            return Ok((Outcome::NotShared, Some(own)));
        }

        let length = net::content_length(&response);
        let storable = length.map_or(true, |len| shared.borrow().store.accepts(len));
        if self.range.is_none() && !storable {
            // Too big to hold: streamed through (only the headers had a deadline).
            let own = net::rewrap(&response).unwrap_or_else(|e| internal(&e));
            return Ok((Outcome::NotShared, Some(own)));
        }
        let content_type = response.headers().get("content-type").ok().flatten();
        let body = upstream::read_body(shared, &response, &controller).await?;
        // Only while a tab still has this session: a logout during the download wins.
        if shared.borrow().sessions.principal_in_use(session.principal) {
            let stored = Stored {
                body: body.clone(),
                len: u64::from(body.byte_length()),
                content_type: content_type.clone(),
            };
            shared
                .borrow_mut()
                .store
                .insert(&session.key(), target.as_str(), stored);
        }
        Ok((Outcome::Body { body, content_type }, None))
    }

    /// [`matrix_error`] under the stall deadline.
    async fn error(&self, response: &Response, controller: &AbortController) -> MatrixError {
        upstream::read_error(self.shared, response, controller).await
    }

    fn broken(&self, error: &JsValue) -> Fail {
        Fail::Network {
            attempts: 1,
            message: net::describe(error),
        }
    }
}

/// What a finished request lifecycle tells the worker beyond its answer: the homeserver has no
/// authenticated media endpoints after all (`M_UNRECOGNIZED` → remembered as legacy), or the
/// session's token is dead (purged, see [`token_rejected`]).
pub(crate) fn lifecycle_side_effects(shared: &Shared, session: &Session, lc: &Lifecycle) {
    if lc.fell_back() {
        let now = js_sys::Date::now() as u64;
        shared
            .borrow_mut()
            .negotiation
            .insert(session.homeserver.base(), Api::Legacy, now);
    }
    if lc.token_rejected() {
        token_rejected(shared, session.principal);
    }
}

/// Ends a session in the worker (the last tab of it logged out): its stored media, encrypted
/// keys and failure records go, and its fetches already handed to the browser (maybe still in its
/// connection queue) are aborted, so none goes out with the token afterwards.
pub(crate) fn end_session(shared: &Shared, principal: Principal) {
    purge(shared, principal);
    upstream::abort_user(shared, &principal.key());
}

fn purge(shared: &Shared, principal: Principal) {
    let key = principal.key();
    let mut state = shared.borrow_mut();
    state.store.purge_user(&key);
    state.encrypted.purge_user(&key);
    state.failures.forget_user(&key);
}

/// The homeserver said the session's token is unknown (logged out on another device, revoked,
/// expired) and the tab had no fresh one: what the worker holds of that session is unreadable
/// from now on — a client that never calls `logout()` must not leave media behind.
pub(crate) fn token_rejected(shared: &Shared, principal: Principal) {
    purge(shared, principal);
}

/// Reads an error answer (a copy of it: the body stays readable) into a [`MatrixError`]; the
/// `Retry-After` header counts when CORS lets the worker see it.
pub(crate) async fn matrix_error(response: &Response) -> MatrixError {
    let body = match response.clone() {
        Ok(copy) => net::json(&copy).await.and_then(|v| js::error_body(&v)),
        Err(_) => None,
    };
    let retry_after = response.headers().get("retry-after").ok().flatten();
    MatrixError::from_body(response.status(), body, retry_after.as_deref())
}

// ----- questions to the tab, shared between concurrent requests ------------------------------

/// Runs `start()` unless a task under `key` is already in flight, and waits for it.
pub(crate) async fn shared_task(
    shared: &Shared,
    key: String,
    start: impl FnOnce() -> Promise,
) -> JsValue {
    let existing = shared
        .borrow()
        .pending
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, p)| p.clone());
    let promise = match existing {
        Some(promise) => promise,
        None => {
            // `future_to_promise` only starts the task on the next microtask: no re-entrancy.
            let promise = start();
            shared
                .borrow_mut()
                .pending
                .push((key.clone(), promise.clone()));
            promise
        }
    };
    let result = JsFuture::from(promise.clone())
        .await
        .unwrap_or(JsValue::UNDEFINED);
    let this = JsValue::from(promise);
    shared
        .borrow_mut()
        .pending
        .retain(|(k, p)| !(*k == key && JsValue::from(p.clone()) == this));
    result
}

/// Parses `{session: {homeserver, accessToken, userId} | null, api?}`.
fn parse_session(value: &JsValue) -> Result<Option<(Session, Option<Api>)>, &'static str> {
    let fields = js::get(value, "session");
    if fields.is_null() || fields.is_undefined() {
        return Ok(None);
    }
    let (Some(homeserver), Some(access_token), Some(user_id)) = (
        js::string(&fields, "homeserver"),
        js::string(&fields, "accessToken"),
        js::string(&fields, "userId"),
    ) else {
        return Err("session needs string homeserver, accessToken and userId");
    };
    let homeserver = Homeserver::parse(&homeserver).map_err(|e| e.code())?;
    if access_token.is_empty() {
        return Err("empty accessToken");
    }
    let api = js::string(value, "api").and_then(|a| a.parse::<Api>().ok());
    Ok(Some((Session::new(homeserver, access_token, user_id), api)))
}

fn store_session(shared: &Shared, client_id: &str, session: Session, api: Option<Api>) {
    let mut state = shared.borrow_mut();
    if let Some(api) = api {
        state
            .negotiation
            .insert(session.homeserver.base(), api, js_sys::Date::now() as u64);
    }
    state.sessions.set(client_id, ClientState::Session(session));
}

/// This many requests waiting for one tab's session make its silence look like load (a gallery
/// whose page is busy) rather than a page without the SDK (a login page's few SSO icons): the
/// worker then waits longer than `askTimeoutMs` (see [`tab::ask_while`]).
const BUSY_SESSION_WAITERS: u32 = 16;

fn session_waiters(shared: &Shared, client_id: &str, delta: i32) -> u32 {
    let waiters = &mut shared.borrow_mut().session_waiters;
    let index = match waiters.iter().position(|(id, _)| id == client_id) {
        Some(index) => index,
        None => {
            waiters.push((client_id.to_owned(), 0));
            waiters.len() - 1
        }
    };
    let Some((_, count)) = waiters.get_mut(index) else {
        return 0;
    };
    *count = count.saturating_add_signed(delta);
    let now = *count;
    if now == 0 {
        waiters.swap_remove(index);
    }
    now
}

/// After a restart: asks the tab for its session (≤ 1 s, longer only under load, see
/// [`tab::ask_while`]). Silence or `null` means no session.
pub(crate) async fn recover_session(shared: &Shared, client_id: &str) -> Option<Session> {
    if client_id.is_empty() {
        return None;
    }
    session_waiters(shared, client_id, 1);
    let session = ask_session(shared, client_id).await;
    session_waiters(shared, client_id, -1);
    session
}

async fn ask_session(shared: &Shared, client_id: &str) -> Option<Session> {
    let owned = (shared.clone(), client_id.to_owned());
    shared_task(shared, format!("session:{client_id}"), move || {
        future_to_promise(async move {
            let (shared, client_id) = owned;
            let timeout = shared.borrow().config.ask_timeout_ms;
            bump(&mut shared.borrow_mut().stats.session_asks);
            let busy = || session_waiters(&shared, &client_id, 0) >= BUSY_SESSION_WAITERS;
            let answer = tab::ask_while(
                &client_id,
                &tab::message("authmedia:need-session", &[]),
                timeout,
                &busy,
            )
            .await;
            let parsed = answer.and_then(|a| parse_session(&a).ok().flatten());
            // A session the tab sent on its own meanwhile is not overwritten by "none".
            let known = shared.borrow().sessions.get(&client_id).is_some();
            match parsed {
                Some((session, api)) => store_session(&shared, &client_id, session, api),
                None if !known => shared
                    .borrow_mut()
                    .sessions
                    .set(&client_id, ClientState::NoSession),
                None => {}
            }
            Ok(JsValue::UNDEFINED)
        })
    })
    .await;
    shared.borrow().sessions.session(client_id).cloned()
}

/// After a 401 `M_UNKNOWN_TOKEN`: a token other than `used`, from the table (another request
/// already refreshed it) or from the tab (asked once, shared by concurrent requests).
pub(crate) async fn refreshed_token(
    shared: &Shared,
    client_id: &str,
    session: &Session,
    used: &str,
) -> Option<String> {
    let current = |shared: &Shared| {
        shared
            .borrow()
            .sessions
            .session(client_id)
            .filter(|s| s.principal == session.principal && s.access_token != used)
            .map(|s| s.access_token.clone())
    };
    if let Some(token) = current(shared) {
        return Some(token);
    }
    shared.borrow().sessions.session(client_id)?; // logged out meanwhile: no retry
    let owned = (
        shared.clone(),
        client_id.to_owned(),
        session.user_id.clone(),
    );
    shared_task(shared, format!("token:{client_id}"), move || {
        future_to_promise(async move {
            let (shared, client_id, user_id) = owned;
            let timeout = shared.borrow().config.ask_timeout_ms;
            let question = tab::message(
                "authmedia:need-token",
                &[("userId", &user_id.as_str().into())],
            );
            let answer = tab::ask(&client_id, &question, timeout).await;
            let token = answer
                .and_then(|a| Reflect::get(&a, &"accessToken".into()).ok())
                .and_then(|t| t.as_string())
                .filter(|t| !t.is_empty());
            if let Some(token) = token {
                shared.borrow_mut().sessions.set_token(&client_id, &token);
            }
            Ok(JsValue::UNDEFINED)
        })
    })
    .await;
    current(shared)
}

/// The API flavour of the session's homeserver: cached, else an authenticated `/versions`.
/// When `/versions` cannot be read the answer is [`Api::V1`], uncached: a server without it
/// answers `M_UNRECOGNIZED`, which [`serve`] handles.
pub(crate) async fn api_for(shared: &Shared, session: &Session) -> Api {
    let base = session.homeserver.base().to_owned();
    if let Some(api) = shared
        .borrow()
        .negotiation
        .get(&base, js_sys::Date::now() as u64)
    {
        return api;
    }
    let owned = (shared.clone(), base.clone(), session.clone());
    let answer = shared_task(shared, format!("versions:{base}"), move || {
        future_to_promise(async move {
            let (shared, base, session) = owned;
            let token = &session.access_token;
            // Logged out (or the token replaced) before this task ran: send nothing.
            let url = CanonicalUrl::versions(&session.homeserver);
            let Ok(pass) = shared.borrow().sessions.pass(&session, token, &url) else {
                return Ok(JsValue::UNDEFINED);
            };
            // Registered like a media flight, so that a logout of the session aborts it: a
            // request still queued in the browser must not leave with the token afterwards.
            let flight = upstream::Flight::start(&shared, &session.key());
            let controller = flight.arm()?;
            // A stalled server must not hold media requests forever: same deadline as media.
            let timeout = shared.borrow().config.fetch_timeout_ms;
            let _deadline = upstream::Deadline::new(&controller, timeout);
            let request =
                net::plain_authenticated_request(&pass, token, Some(&controller.signal()))?;
            let response = net::fetch(&request).await;
            flight.end();
            let response = response?;
            if !response.ok() {
                return Ok(JsValue::UNDEFINED);
            }
            let Some(body) = net::json(&response).await else {
                return Ok(JsValue::UNDEFINED);
            };
            let Some(versions) = js::versions(&body) else {
                return Ok(JsValue::UNDEFINED);
            };
            let api = negotiate(&versions);
            shared
                .borrow_mut()
                .negotiation
                .insert(&base, api, js_sys::Date::now() as u64);
            Ok(api.as_str().into())
        })
    })
    .await;
    answer
        .as_string()
        .and_then(|a| a.parse::<Api>().ok())
        .unwrap_or(Api::V1)
}

// ----- page → worker messages -----------------------------------------------------------------

fn stats_object(state: &State) -> JsValue {
    let stats: &Stats = &state.stats;
    // Byte counts as JS numbers (exact below 2^53).
    let bytes = |n: u64| JsValue::from(n as f64);
    let memory = wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<ArrayBuffer>()
        .byte_length();
    js::object(&[
        ("authenticated", stats.authenticated.into()),
        ("upgraded", stats.upgraded.into()),
        ("passthrough", stats.passthrough.into()),
        ("refused", stats.refused.into()),
        ("cacheHits", stats.cache_hits.into()),
        ("upstream", stats.upstream.into()),
        ("retries", stats.retries.into()),
        ("deduped", stats.deduped.into()),
        ("timeouts", stats.timeouts.into()),
        ("sessionAsks", stats.session_asks.into()),
        ("storeBytes", bytes(state.store.used())),
        ("storeEntries", (state.store.len() as u32).into()),
        ("storeBudgetBytes", bytes(state.store.budget())),
        ("inflight", stats.inflight.into()),
        ("wasmMemoryBytes", memory.into()),
        ("decryptedWebCrypto", stats.decrypted_webcrypto.into()),
        ("decryptedWasm", stats.decrypted_wasm.into()),
    ])
}

fn reply_ok(ok: bool, error: Option<&str>) -> JsValue {
    let reply = js_sys::Object::new();
    let _ = Reflect::set(&reply, &"ok".into(), &ok.into());
    if let Some(error) = error {
        let _ = Reflect::set(&reply, &"error".into(), &error.into());
    }
    reply.into()
}

async fn on_message(shared: &Shared, data: &JsValue, client_id: Option<&str>) -> JsValue {
    let kind = Reflect::get(data, &"type".into())
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    match kind.as_str() {
        "authmedia:stats" => stats_object(&shared.borrow()),
        "authmedia:claim" => match JsFuture::from(net::scope().clients().claim()).await {
            Ok(_) => reply_ok(true, None),
            Err(error) => reply_ok(false, Some(&net::describe(&error))),
        },
        _ => {
            let Some(client_id) = client_id else {
                return reply_ok(false, Some("message without a client source"));
            };
            if kind == "authmedia:encrypted" && shared.borrow().sessions.get(client_id).is_none() {
                // A restarted worker: learn the tab's session first, as for a media request.
                recover_session(shared, client_id).await;
            }
            client_message(shared, &kind, data, client_id)
        }
    }
}

fn client_message(shared: &Shared, kind: &str, data: &JsValue, client_id: &str) -> JsValue {
    match kind {
        "authmedia:session" => match parse_session(data) {
            Ok(Some((session, api))) => {
                store_session(shared, client_id, session, api);
                reply_ok(true, None)
            }
            Ok(None) => {
                shared
                    .borrow_mut()
                    .sessions
                    .set(client_id, ClientState::NoSession);
                reply_ok(true, None)
            }
            Err(error) => reply_ok(false, Some(error)),
        },
        "authmedia:token" => {
            let token = Reflect::get(data, &"accessToken".into())
                .ok()
                .and_then(|t| t.as_string());
            let ok = token
                .filter(|t| !t.is_empty())
                .is_some_and(|t| shared.borrow_mut().sessions.set_token(client_id, &t));
            reply_ok(ok, (!ok).then_some("no session or no accessToken"))
        }
        "authmedia:logout" => {
            let ended = {
                let mut state = shared.borrow_mut();
                let ended = match state.sessions.remove(client_id) {
                    Some(ClientState::Session(session)) => Some(session.principal),
                    _ => None,
                };
                state.sessions.set(client_id, ClientState::NoSession);
                // Another tab of the same session (same token) keeps it: its media, flights and
                // records stay. Only the last tab's logout ends the session in the worker.
                ended.filter(|p| !state.sessions.principal_in_use(*p))
            };
            if let Some(principal) = ended {
                end_session(shared, principal);
            }
            reply_ok(true, None)
        }
        "authmedia:why" => {
            // Only the asking tab's user's failures: another account's tab learns nothing.
            let state = shared.borrow();
            let code = js::string(data, "url").and_then(|url| {
                let key = state.sessions.session(client_id)?.key();
                state.failures.get(&key, &url).map(str::to_owned)
            });
            let reply = reply_ok(true, None);
            let _ = Reflect::set(
                &reply,
                &"code".into(),
                &code.map_or(JsValue::NULL, |c| c.as_str().into()),
            );
            reply
        }
        "authmedia:encrypted" => match crate::encrypted::register(shared, data, client_id) {
            Ok(url) => {
                let reply = reply_ok(true, None);
                let _ = Reflect::set(&reply, &"url".into(), &url.into());
                reply
            }
            Err(error) => reply_ok(false, Some(&error)),
        },
        _ => reply_ok(false, Some("unknown message type")),
    }
}
