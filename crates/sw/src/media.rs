//! The media handler: a request the router matched as media of the tab's homeserver, answered
//! from the store, by joining an identical upstream flight, or by a new one executing the core's
//! request lifecycle (`upstream::run`); every answer is delivered only to a tab that still holds
//! the session it was fetched for. Encrypted attachments (`encrypted/`) are served by the same
//! code with one more step, a [`Decrypt`]: one copy of the store, single-flight and answers.

use authmedia_js::protocol;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use authmedia_core::{
    classify, Api, CanonicalUrl, Classification, Homeserver, Lifecycle, MatrixError, MediaMatch,
    Route,
};
use js_sys::{Array, ArrayBuffer, Promise};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, AbortSignal, Blob, Headers, Request, Response, ResponseInit};

use crate::asks::{api_for, refreshed_token, session_of};
use crate::ending::lifecycle_side_effects;
use crate::flight::{timed_out, Deadline, Fail, Flight, Joinable, Outcome};
use crate::net::{self, error_response};
use crate::range::{RangeAnswer, RangeRequest};
use crate::sessions::Session;
use crate::settle::settled;
use crate::state::Shared;
use crate::stats::bump;
use crate::store::Stored;
use crate::tab;
use crate::upstream::{self, Answered, InFlight};

/// Answers a media fetch. `routed` is what the router matched for this request (under that
/// homeserver), used instead of classifying the URL again while the session is still on it.
pub(crate) async fn respond(
    shared: &Shared,
    request: &Request,
    url: &str,
    client_id: &str,
    routed: Option<(Homeserver, MediaMatch)>,
) -> Response {
    let session = session_of(shared, client_id).await;
    let matched = session.and_then(|session| match routed {
        Some((hs, m)) if hs == session.homeserver => Some((session, m)),
        _ => match classify(url, std::slice::from_ref(&session.homeserver)) {
            Classification::Media(m) => Some((session, m)),
            Classification::Other => None,
        },
    });
    let Some((session, m)) = matched else {
        bump(&mut shared.borrow_mut().stats.passthrough);
        return passthrough(request).await;
    };
    let range = request.headers().get("range").ok().flatten();
    serve(shared, request, client_id, &session, m, range, None).await
}

/// The original request, untouched (a tab without a session, or not media after all).
pub(crate) async fn passthrough(request: &Request) -> Response {
    match net::fetch(request).await {
        Ok(response) => response,
        Err(error) => error_response(
            502,
            "M_UNKNOWN",
            "network",
            &["authmedia service worker: ", &net::describe(&error)].concat(),
        ),
    }
}

/// A 500 JSON answer for a `Response` the worker could not build (not expected to happen).
fn internal(error: &JsValue) -> Response {
    error_response(
        500,
        "M_UNKNOWN",
        "internal",
        &["authmedia service worker: ", &net::describe(error)].concat(),
    )
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
            let total = body.size() as u64;
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
    body: &Blob,
) -> Result<Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_status_text(status_text);
    let headers = Headers::new_with_headers(headers)?;
    init.set_headers(&headers);
    Response::new_with_opt_blob_and_init(Some(body), &init)
}

/// An encrypted attachment served through [`serve`] (`encrypted/`): its ciphertext is downloaded
/// as any media, then verified and decrypted by the decryption module before it is kept and
/// answered. The page cancelling does not stop its download (concurrent requests share it), the
/// page's `Range` is never sent upstream (it is a range of the plaintext), and the store and
/// flights know it under `key`, never under the ciphertext's URL.
pub(crate) struct Decrypt {
    /// The store and flight key of the plaintext (`authmedia/encrypted/<id>#<generation>`: which
    /// file was registered under the id).
    pub(crate) key: String,
    /// The registered `EncryptedFile`, as JSON text, for the decryption module.
    pub(crate) file: String,
    /// The safe type the plaintext is answered with.
    pub(crate) content_type: &'static str,
}

/// The answer to `m` for `session`, from the store, a flight it joins or one it starts. `range` is
/// the `Range` asked for; `decrypt` makes it an encrypted attachment's answer. Delivered only to
/// a tab that still has the session it was fetched for: a tab that logged out (or switched
/// account) while it waited gets nothing of it.
pub(crate) async fn serve(
    shared: &Shared,
    request: &Request,
    client_id: &str,
    session: &Session,
    m: MediaMatch,
    range_header: Option<String>,
    decrypt: Option<&Decrypt>,
) -> Response {
    let response = undelivered(
        shared,
        request,
        client_id,
        session,
        m,
        range_header,
        decrypt,
    )
    .await;
    if shared.borrow().sessions.holds(client_id, session.principal) {
        response
    } else {
        Fail::Cancelled.response()
    }
}

/// [`serve`]'s answer, before the delivery check.
async fn undelivered(
    shared: &Shared,
    request: &Request,
    client_id: &str,
    session: &Session,
    m: MediaMatch,
    range_header: Option<String>,
    decrypt: Option<&Decrypt>,
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
    let range = range_header.as_deref().map(RangeRequest::parse);
    // The page cancelling an image may cancel its download. Not so for range requests: the
    // worker keeps their whole body for the next seek, and a `<video>` cancels and re-requests on
    // every seek — tied to the page's signal, a large video would never finish downloading.
    let cancel_with = (range.is_none() && decrypt.is_none()).then(|| request.signal());
    let store_key = decrypt.map_or(target.as_str(), |d| d.key.as_str());
    let from_store = |shared: &Shared| {
        let hit = shared.borrow_mut().store.get(&key_of_session, store_key)?;
        bump(&mut shared.borrow_mut().stats.cache_hits);
        let answer = range.map_or(RangeAnswer::Whole, |r| r.apply(hit.len));
        let content_type = decrypt.map_or(hit.content_type.as_deref(), |d| Some(d.content_type));
        Some(net::from_body(&hit.body, content_type, answer).unwrap_or_else(|e| internal(&e)))
    };
    if let Some(response) = from_store(shared) {
        return response;
    }

    // Single-flight: the same media for the same session is fetched once, however many requests
    // (an image repeated on a page, a `<video>`'s concurrent range requests) ask for it meanwhile.
    let key = [&key_of_session, "\n", store_key].concat();
    let hash = crate::store::key_hash(&key_of_session, store_key);
    let joinable = shared
        .borrow()
        .flights
        .iter()
        .find(|j| j.hash == hash && j.key == key && !j.flight.was_cancelled())
        .cloned();
    let fetch = Fetch {
        shared,
        request,
        client_id,
        session,
        matched: &m,
        api,
        upgraded,
        // The page's range is of the plaintext: the ciphertext is downloaded whole.
        range: range.filter(|_| decrypt.is_none()),
        range_header: range_header.as_deref().filter(|_| decrypt.is_none()),
        decrypt,
    };
    if let Some(joinable) = joinable {
        bump(&mut shared.borrow_mut().stats.deduped);
        joinable.flight.join(cancel_with.clone());
        let done = joinable
            .done
            .borrow_mut()
            .get_or_insert_with(crate::flight::deferred)
            .0
            .clone();
        let _ = settled(&done).await;
        let outcome = joinable.outcome.borrow().clone();
        if let Some(outcome) = outcome.filter(|o| !matches!(o, Outcome::NotShared)) {
            return answer(shared, &outcome, range);
        }
        if let Some(response) = from_store(shared) {
            return response;
        }
        // Not shareable: a fetch of its own, not joinable.
        let flight = upstream::start_flight(shared, &key_of_session);
        flight.join(cancel_with);
        let (outcome, own) = fetch.run(&flight).await;
        flight.end();
        return own.unwrap_or_else(|| answer(shared, &outcome, range));
    }

    let flight = upstream::start_flight(shared, &key_of_session);
    flight.join(cancel_with);
    let done = Rc::new(RefCell::new(None));
    let slot = Rc::new(RefCell::new(None));
    shared.borrow_mut().flights.push(Joinable {
        key,
        hash,
        flight: flight.clone(),
        done: done.clone(),
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
    if let Some((_, resolve)) = done.take() {
        let _ = resolve.call0(&JsValue::UNDEFINED);
    }
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
    /// The page's `Range` header, as it came.
    range_header: Option<&'a str>,
    /// An encrypted attachment's download.
    decrypt: Option<&'a Decrypt>,
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
            // An attachment's download takes the legacy route only to be sent to the negotiated
            // endpoint: no legacy URL of the page was upgraded.
            if self.upgraded && self.decrypt.is_none() {
                bump(&mut stats.upgraded);
            }
        }
        // A `Range` the browser would preflight (Synapse does not allow it) is answered from the
        // whole body instead of being forwarded.
        let range = self
            .range_header
            .filter(|_| self.range.is_some_and(|r| r.is_cors_safelisted()));
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
            net::authenticated_request(self.request, &pass, token, range, signal)
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
            error,
            error_body,
            deadline,
        } = answered?;
        let error = error.unwrap_or_else(|| MatrixError::from_body(response.status(), None, None));
        let target = self.target_for(lc.api());
        let status = response.status();
        if status == 401 {
            let errcode = error.errcode.clone().unwrap_or_default();
            let note = tab::message(
                protocol::UNAUTHORIZED,
                &[
                    ("userId", &session.user_id.as_str().into()),
                    ("errcode", &errcode.into()),
                ],
            );
            tab::notify(self.client_id, &note).await;
        }
        if status >= 400 {
            // Error answers are small: kept whole (read by `upstream::run`) and replayed for
            // every waiter. One over the bound is answered by its status alone.
            drop((controller, deadline));
            let code = error.kind().client_code().as_str();
            // The homeserver's own body and headers, or (a body over the bound) the worker's JSON
            // error of the status alone; the protective headers and the code on either.
            let (headers, body) = match error_body {
                Some(body) => (
                    Headers::new_with_headers(&response.headers()).map_err(|e| self.broken(&e))?,
                    body,
                ),
                None => {
                    let mut message = String::from(
                        "authmedia service worker: the homeserver's error answer was too long to read: HTTP ",
                    );
                    authmedia_core::push_decimal(&mut message, status.into());
                    let text = net::error_json("M_UNKNOWN", code, &message);
                    let body = Blob::new_with_str_sequence(&Array::of1(&text))
                        .map_err(|e| self.broken(&e))?;
                    let headers = Headers::new().map_err(|e| self.broken(&e))?;
                    let _ = headers.set("content-type", "application/json");
                    (headers, body)
                }
            };
            let _ = net::protect(&headers);
            let _ = headers.set(net::CODE_HEADER, code);
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
        if status != 200 && self.decrypt.is_some() {
            // Only a whole ciphertext can be verified: a partial or empty success is the
            // server's fault, and its body (not read) is not left open holding the connection.
            if let Some(body) = response.body() {
                let _ = body.cancel();
            }
            let mut message = String::from(
                "authmedia service worker: downloading the encrypted attachment failed: HTTP ",
            );
            authmedia_core::push_decimal(&mut message, status.into());
            let code = authmedia_core::ClientCode::ServerError.as_str();
            return Err(Fail::refused(502, "M_UNKNOWN", code, message));
        }
        if status != 200 {
            // A real 206 of a server that honours `Range`, or another success: this request's.
            let own = net::rewrap(&response).unwrap_or_else(|e| internal(&e));
            return Ok((Outcome::NotShared, Some(own)));
        }

        let length = net::content_length(&response);
        // A ciphertext is read whole (at most the store's budget) to be verified.
        let limit = self.decrypt.map(|_| shared.borrow().config.store_budget);
        if let Some(limit) = limit.filter(|limit| length.is_some_and(|n| n > *limit)) {
            // Not read, so not left open either: an unread body holds its connection until the
            // response is collected.
            if let Some(body) = response.body() {
                let _ = body.cancel();
            }
            return Err(Fail::too_large(limit));
        }
        let storable = length.map_or(true, |len| shared.borrow().store.accepts(len));
        if self.range.is_none() && !storable && limit.is_none() {
            // Too big to hold: streamed through (only the headers had a deadline).
            let own = net::rewrap(&response).unwrap_or_else(|e| internal(&e));
            return Ok((Outcome::NotShared, Some(own)));
        }
        let content_type = response.headers().get("content-type").ok().flatten();
        let body =
            upstream::read_body_under(shared, &response, &controller, length, deadline, limit)
                .await?;
        let (body, content_type) = match (self.decrypt, limit) {
            (Some(decrypt), Some(limit)) => {
                // Not holding an upstream slot while the module loads and decrypts.
                flight.slot.replace(None);
                // Its own future, not inlined into every media fetch's.
                let plain: Pin<Box<dyn Future<Output = Result<Blob, Fail>> + '_>> =
                    Box::pin(decrypted(shared, decrypt, &body, limit));
                let plain = plain.await?;
                (plain, Some(decrypt.content_type.to_owned()))
            }
            _ => (body, content_type),
        };
        let store_key = self.decrypt.map_or(target.as_str(), |d| d.key.as_str());
        // Only while a tab still has this session: a logout during the download wins.
        if shared.borrow().sessions.principal_in_use(session.principal) {
            let stored = Stored {
                body: body.clone(),
                len: body.size() as u64,
                content_type: content_type.clone(),
            };
            shared
                .borrow_mut()
                .store
                .insert(&session.key(), store_key, stored);
        }
        Ok((Outcome::Body { body, content_type }, None))
    }

    fn broken(&self, error: &JsValue) -> Fail {
        Fail::Network {
            attempts: 1,
            message: net::describe(error),
        }
    }
}

/// The verified plaintext of the ciphertext `body` (through the entry script's `decrypt`, which
/// loads the decryption module on demand), or the refusal to answer with. Under a deadline of
/// `fetchTimeoutMs`: a module load or a decryption that never ends would otherwise hold the
/// flight, and every later request for the attachment that joins it, for ever. It ends as a stall
/// does (504 `timeout`), nothing kept: the next request tries again.
async fn decrypted(shared: &Shared, d: &Decrypt, body: &Blob, limit: u64) -> Result<Blob, Fail> {
    if body.size() as u64 > limit {
        return Err(Fail::too_large(limit));
    }
    // Without the entry script's loader (the wasm driven on its own) there is nothing to decrypt
    // with: the same refusal as an engine without WebCrypto.
    let decrypt = shared.borrow().decrypt.clone();
    let decrypt = decrypt.ok_or_else(Fail::crypto_unavailable)?;
    let called = decrypt
        .call2(&JsValue::UNDEFINED, &JsValue::from_str(&d.file), body)
        .and_then(|p| p.dyn_into::<Promise>());
    let promise = called.map_err(|e| Fail::from_js(&e))?;
    let timeout_ms = shared.borrow().config.fetch_timeout_ms;
    let controller = AbortController::new().map_err(|e| Fail::from_js(&e))?;
    let deadline = Deadline::new(&controller, timeout_ms);
    // Settles with the abort event once the deadline aborts `controller`: no function of its
    // own, the deferred's resolver is the listener.
    let (stop, stopped) = crate::flight::deferred();
    let _ = controller
        .signal()
        .add_event_listener_with_callback("abort", &stopped);
    let plain = settled(&Promise::race(&Array::of2(&promise, &stop))).await;
    drop(deadline);
    if timed_out(&controller) {
        bump(&mut shared.borrow_mut().stats.timeouts);
        return Err(Fail::TimedOut { ms: timeout_ms });
    }
    let plain = plain
        .and_then(|p| p.dyn_into::<ArrayBuffer>())
        .map_err(|e| Fail::from_js(&e))?;
    bump(&mut shared.borrow_mut().stats.decrypted_webcrypto);
    Blob::new_with_buffer_source_sequence(&Array::of1(&plain))
        .map_err(|e| Fail::refused(500, "M_UNKNOWN", "internal", net::describe(&e)))
}
