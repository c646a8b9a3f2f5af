//! The exported worker: the `#[wasm_bindgen]` facade the entry script calls, and the router.
//!
//! JavaScript (the entry script `sw/authmedia-sw.js`) calls [`AuthMediaWorker::route`]
//! synchronously for every fetch to decide whether to call `respondWith`, then
//! [`AuthMediaWorker::handle_fetch`] (the media handler, `media.rs`) or
//! [`AuthMediaWorker::handle_encrypted`] (`encrypted/mod.rs`) for the requests it took, and
//! [`AuthMediaWorker::handle_message`] (`messages.rs`) for `authmedia:*` messages. The returned
//! promises never reject for request failures: every failure becomes a JSON error `Response` (and
//! never a tokenless retry).

use std::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{
    admit_request, classify, Classification, Homeserver, MatrixError, MediaMatch, NegotiationCache,
};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_sys::{Client, ExtendableMessageEvent, FetchEvent, MessagePort, Request, Response};

use crate::failures::Failures;
use crate::flight::Slots;
use crate::messages::{on_message, stats_object};
use crate::net;
use crate::registry::Registry;
use crate::sessions::{ClientState, Session, Sessions};
use crate::settle::promise;
use crate::state::{lineage_from_js, Config, Shared, State, StateCell};
use crate::stats::{bump, Stats};
use crate::store::BodyStore;
use crate::{js, media};

pub use crate::state::{
    DEFAULT_FETCH_TIMEOUT_MS, MAX_FETCH_TIMEOUT_MS, MAX_RETRY_ATTEMPTS, MAX_RETRY_WAIT_MS,
    MIN_FETCH_TIMEOUT_MS,
};

/// The route codes of [`AuthMediaWorker::route`], shared with the entry script through the
/// protocol module (`authmedia_js::protocol`).
pub use authmedia_js::protocol::{ROUTE_MEDIA, ROUTE_NO_SESSION, ROUTE_OTHER, ROUTE_UNKNOWN};

/// The service worker's state: sessions per client, negotiation cache, media store, counters.
#[wasm_bindgen(js_name = AuthMediaWorker)]
pub struct AuthMediaWorker {
    shared: Shared,
    /// The match [`AuthMediaWorker::route`] found last, for the handler of the same fetch: the
    /// entry script calls `route` and then `handleFetch` for one event, so the URL is classified
    /// once. Taken only when the client, the URL and the session's homeserver are the same.
    routed: RefCell<Option<Routed>>,
}

/// One routing decision of [`AuthMediaWorker::route`] that found media.
struct Routed {
    client_id: String,
    url: String,
    homeserver: Homeserver,
    found: MediaMatch,
}

#[wasm_bindgen(js_class = AuthMediaWorker)]
impl AuthMediaWorker {
    /// Creates the worker state. `options` may set `askTimeoutMs` (≤ 1000), `negotiationTtlMs`,
    /// `storeBudgetBytes`, `storeEntryMaxBytes`, `fetchTimeoutMs` (default 30 000, clamped to
    /// 1 000–600 000), `retryMaxAttempts` (attempts in all, default 4, 1–10) and `retryMaxWaitMs`
    /// (total wait between attempts, default 20 000, 0–120 000). A missing, non-numeric,
    /// non-finite or negative value (for `fetchTimeoutMs`/`retryMaxAttempts` also 0) is the
    /// default. `decrypt` is the entry script's loader of the decryption module (see
    /// `encrypted/mod.rs`); without it encrypted attachments are refused `crypto_unavailable`.
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
            slots: Rc::new(RefCell::new(Slots::default())),
            encrypted: Registry::default(),
            decrypt: js::get(&options, "decrypt").dyn_into().ok(),
            failures: Failures::default(),
            lineage: lineage_from_js(&options, js_sys::Date::now()),
        };
        AuthMediaWorker {
            shared: StateCell::new(state),
            routed: RefCell::new(None),
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
                    Classification::Media(found) => {
                        *self.routed.borrow_mut() = Some(Routed {
                            client_id: client_id.to_owned(),
                            url: url.to_owned(),
                            homeserver: session.homeserver.clone(),
                            found,
                        });
                        ROUTE_MEDIA
                    }
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
        let url = request.url();
        let routed = self
            .routed
            .borrow_mut()
            .take()
            .filter(|r| r.client_id == client_id && r.url == url);
        promise(Box::pin(async move {
            if !admitted(&request) {
                // The entry script leaves navigations and non-media destinations alone; if one
                // arrives anyway it goes to the network as the page made it, without the token.
                bump(&mut shared.borrow_mut().stats.passthrough);
                return Ok(media::passthrough(&request).await.into());
            }
            let routed = routed.map(|r| (r.homeserver, r.found));
            let response = media::respond(&shared, &request, &url, &client_id, routed).await;
            note_answer(&shared, &client_id, &url, &response);
            Ok(response.into())
        }))
    }

    /// Answers a request for `<scope>authmedia/encrypted/<id>` (the entry script takes every GET
    /// under that prefix): a promise of a `Response` that never rejects.
    #[wasm_bindgen(js_name = handleEncrypted)]
    pub fn handle_encrypted(&self, event: &FetchEvent) -> Promise {
        let shared = self.shared.clone();
        let request = event.request();
        let client_id = event.client_id().unwrap_or_default();
        promise(Box::pin(async move {
            if !admitted(&request) {
                return Ok(crate::encrypted::not_media_request().into());
            }
            let response = crate::encrypted::respond(&shared, &request, &client_id).await;
            note_answer(&shared, &client_id, &request.url(), &response);
            Ok(response.into())
        }))
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
        promise(Box::pin(async move {
            let reply = on_message(&shared, &data, client_id.as_deref()).await;
            if let Some(port) = port {
                let _ = port.post_message(&reply);
            }
            Ok(reply)
        }))
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
        crate::messages::client_message(&self.shared, &kind, data, client_id)
    }
}

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
            kind.client_code().as_str().to_owned()
        });
    if code != "cancelled" {
        state.failures.record(&user_id, url, &code);
    }
}
