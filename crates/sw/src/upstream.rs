//! One upstream media fetch, robust to faults: retries per the core's [`RetryPolicy`], a stall
//! timeout, and cancellation once every page request waiting for it was aborted.
//!
//! A [`Flight`] is one logical upstream fetch (its attempts, token refresh and legacy retry
//! included) that several page requests may wait for (single-flight, see `worker.rs`). Each
//! attempt gets its own `AbortController`:
//!
//! * a [`Deadline`] aborts it with [`TIMEOUT`] when the response headers do not arrive within
//!   `fetchTimeoutMs`; it is paused once they do, and while the worker reads a body it keeps,
//!   re-armed at the start and before every chunk (a body that stops progressing is aborted the
//!   same way) — a small body of announced length has one deadline for all of it
//!   (`read_body_under`). One timer serves every deadline of the worker: arming, re-arming and
//!   dropping one only move its end;
//! * the `abort` events of the waiting page requests' signals abort it with [`CANCELLED`] once
//!   *all* of them are aborted — never while a range request (a `<video>`, which cancels and
//!   re-requests on every seek) is among the waiters.
//!
//! No function is created per timer, per listener or per awaited promise: the deadlines' timer
//! callback and the flights' `abort` listener are one function each per instance, bound to a
//! number (`flight.rs`), and promises are awaited through `settle.rs`.
//!
//! At most [`MAX_UPSTREAM`] attempts are sent at once; the others wait in the worker for a
//! [`Slot`], and their deadline starts only once they have one. Without this a burst of thousands
//! of requests sat in the browser's own connection queue (6 per host over HTTP/1.1) with their
//! deadline running, and timed out before they were even sent. A slot is held until the
//! response headers arrive and, for bodies the worker reads, until the body is read.
//!
//! Logout aborts every flight of the user ([`abort_user`]): a request the worker handed to the
//! browser before logout and still queued there never goes out with the token afterwards.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use authmedia_core::{Action, Api, Ending, Lifecycle, MatrixError};
use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, AbortSignal, Blob, Request, Response};

use crate::flight::{timed_out, Deadline, Fail, Flight, Slot, CANCELLED};
use crate::js;
use crate::net::{self, scope};
use crate::settle::settled;
use crate::state::Shared;
use crate::stats::bump;

/// A flight of the session `user` (its principal key) that nobody waits for yet, registered
/// for [`abort_user`].
pub(crate) fn start_flight(shared: &Shared, user: &str) -> Rc<Flight> {
    let flight = Flight::new();
    let running = &mut shared.borrow_mut().running;
    running.retain(|(_, f)| f.strong_count() > 0);
    running.push((user.to_owned(), Rc::downgrade(&flight)));
    flight
}

/// Aborts every running flight of `user` (logout).
pub(crate) fn abort_user(shared: &Shared, user: &str) {
    let doomed: Vec<Rc<Flight>> = shared
        .borrow()
        .running
        .iter()
        .filter(|(u, _)| u == user)
        .filter_map(|(_, f)| f.upgrade())
        .collect();
    // Outside the borrow: aborting dispatches `abort` events (JS listeners only).
    for flight in doomed {
        flight.abort();
    }
}

/// Resolves after `ms` milliseconds: the wait between two attempts (never a synchronisation).
async fn sleep(ms: u64) {
    let ms = i32::try_from(ms).unwrap_or(i32::MAX);
    let (promise, resolve) = authmedia_js::deferred();
    if scope()
        .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
        .is_err()
    {
        let _ = resolve.call0(&JsValue::UNDEFINED);
    }
    let _ = settled(&promise).await;
}

/// Counts an upstream fetch in progress for as long as it lives.
pub(crate) struct InFlight(Shared);

impl InFlight {
    pub(crate) fn start(shared: &Shared) -> InFlight {
        let stats = &mut shared.borrow_mut().stats;
        stats.inflight = stats.inflight.saturating_add(1);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.try_borrow_mut() {
            state.stats.inflight = state.stats.inflight.saturating_sub(1);
        }
    }
}

/// Asks for a fresh token after the one given (`authmedia:need-token`); `None` when there is none.
pub(crate) type Refresh<'a> =
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Option<String>> + 'a>> + 'a;

/// What one upstream request ended with: the final answer (a success, or an error answer to hand
/// on as it is) with its controller, which stays in `flight` (its body can still be aborted). The
/// lifecycle given to [`run`] tells the rest ([`Lifecycle::fell_back`], [`Lifecycle::token_rejected`]).
pub(crate) struct Answered {
    pub(crate) response: Response,
    pub(crate) controller: AbortController,
    /// What an error answer (status ≥ 400) said, read from its body.
    pub(crate) error: Option<MatrixError>,
    /// That body, when it was read whole within [`ERROR_BODY_MAX`] (the response's own body is
    /// consumed); `None` for a longer one, whose `errcode` is then unknown.
    pub(crate) error_body: Option<Blob>,
    /// The attempt's stall deadline, paused since the headers arrived: re-armed for the body.
    pub(crate) deadline: Deadline,
}

/// Executes the core's request [`Lifecycle`] for one upstream request: every `Send` takes an
/// upstream [`Slot`], arms the stall deadline and calls `build(signal, api, token)` — which asks
/// the gate before the token goes on the request; `Wait` sleeps, `NeedToken` calls `refresh`.
/// Error answers are read (at most [`ERROR_BODY_MAX`], under the send's deadline) into the
/// [`MatrixError`] the lifecycle decides on, their body kept in [`Answered::error_body`]. The
/// returned [`Fail`] is the lifecycle's ending.
pub(crate) async fn run(
    shared: &Shared,
    flight: &Flight,
    lc: &mut Lifecycle,
    token: String,
    build: &dyn Fn(&AbortSignal, Api, &str) -> Result<Request, Fail>,
    refresh: &Refresh<'_>,
) -> Result<Answered, Fail> {
    let timeout_ms = shared.borrow().config.fetch_timeout_ms;
    let now = || js_sys::Date::now() as u64;
    let mut token = token;
    let mut last: Option<(Answered, Slot)> = None;
    let mut last_network = String::new();
    let mut gate_refused = false;
    // A back-off happened since the last send: the next send is a retry.
    let mut retrying = false;
    loop {
        match lc.poll(now()) {
            Action::Send { api, .. } => {
                if std::mem::take(&mut retrying) {
                    bump(&mut shared.borrow_mut().stats.retries);
                }
                // The slot of a previous attempt first: holding it while waiting for another
                // could deadlock a full worker.
                flight.slot.replace(None);
                last = None;
                if flight.cancelled() {
                    lc.on_end();
                    continue;
                }
                let slots = shared.borrow().slots.clone();
                let slot = Slot::take(&slots).await;
                if flight.cancelled() {
                    lc.on_end();
                    continue;
                }
                let controller = match flight.arm() {
                    Ok(c) => c,
                    Err(e) => {
                        last_network = net::describe(&e);
                        lc.on_network_error(now());
                        continue;
                    }
                };
                let request = match build(&controller.signal(), api, &token) {
                    Ok(request) => request,
                    Err(Fail::Cancelled) => {
                        // The gate refused: the session ended while this request waited.
                        gate_refused = true;
                        flight.abort();
                        lc.on_end();
                        continue;
                    }
                    Err(fail) => return Err(fail),
                };
                bump(&mut shared.borrow_mut().stats.upstream);
                let mut deadline = Deadline::new(&controller, timeout_ms);
                match net::fetch(&request).await {
                    Ok(response) if response.status() < 400 => {
                        deadline.pause();
                        lc.on_answer(now(), response.status(), None);
                        let answered = Answered {
                            response,
                            controller,
                            error: None,
                            error_body: None,
                            deadline,
                        };
                        last = Some((answered, slot));
                    }
                    Ok(response) => {
                        // Still under the send's deadline (not re-armed per chunk): an error
                        // body that never ends is a stall.
                        let (error, error_body) = read_error(&response, &controller).await;
                        deadline.pause();
                        if timed_out(&controller) {
                            bump(&mut shared.borrow_mut().stats.timeouts);
                            lc.on_stall();
                        } else {
                            lc.on_answer(now(), response.status(), Some(&error));
                            let answered = Answered {
                                response,
                                controller,
                                error: Some(error),
                                error_body,
                                deadline,
                            };
                            last = Some((answered, slot));
                        }
                    }
                    Err(error) => {
                        drop(deadline);
                        if timed_out(&controller) {
                            bump(&mut shared.borrow_mut().stats.timeouts);
                            lc.on_stall();
                        } else if flight.cancelled() {
                            lc.on_end();
                        } else {
                            last_network = net::describe(&error);
                            lc.on_network_error(now());
                        }
                    }
                }
            }
            Action::Wait { until_ms } => {
                if let Some((Answered { response, .. }, _)) = last.take() {
                    // An error body was read (and its rest cancelled) already: cancelling its
                    // locked stream would only leave a rejected promise behind.
                    if let Some(body) = response.body().filter(|b| !b.locked()) {
                        let _ = body.cancel();
                    }
                }
                // A timer may fire a little early: the lifecycle then says `Wait` again for the
                // rest of the same back-off, which is not another retry.
                retrying = true;
                sleep(until_ms.saturating_sub(now())).await;
            }
            Action::NeedToken { .. } => {
                let fresh = refresh(token.clone()).await;
                if flight.cancelled() {
                    lc.on_end();
                }
                match fresh {
                    Some(fresh) => {
                        token = fresh;
                        lc.on_token(true);
                    }
                    None => lc.on_token(false),
                }
            }
            Action::Deliver => {
                let Some((answered, slot)) = last.take() else {
                    return Err(Fail::Network {
                        attempts: lc.sends(),
                        message: "no answer to deliver".to_owned(),
                    });
                };
                flight.slot.replace(Some(slot));
                return Ok(answered);
            }
            Action::Fail(Ending::Network { attempts }) => {
                return Err(Fail::Network {
                    attempts,
                    message: last_network,
                })
            }
            Action::Fail(Ending::TimedOut) => return Err(Fail::TimedOut { ms: timeout_ms }),
            Action::Fail(Ending::Cancelled) => {
                if !gate_refused {
                    flight.abort();
                }
                return Err(Fail::Cancelled);
            }
            Action::Idle => {
                return Err(Fail::Network {
                    attempts: lc.sends(),
                    message: "request lifecycle idle without a pending input".to_owned(),
                })
            }
        }
    }
}

/// An error answer's body is read no further than this: a Matrix JSON error is a few hundred
/// bytes, and a longer body (an HTML error page, or one that never ends) is not held in memory
/// for its `errcode` — its status says what it is.
pub(crate) const ERROR_BODY_MAX: u64 = 64 * 1024;

/// Reads an error answer's body, at most [`ERROR_BODY_MAX`] of it (the rest is cancelled), into
/// the [`MatrixError`] it says and the body itself; a longer body, or one that fails, is a
/// [`MatrixError`] of the status alone and no body. Under the send's deadline, which aborts
/// `controller` (and so the read) when the body does not end in time.
async fn read_error(
    response: &Response,
    controller: &AbortController,
) -> (MatrixError, Option<Blob>) {
    let chunks = Array::new();
    let mut read = 0u64;
    let mut over = false;
    let done = read_chunks(response, controller, None, &mut |chunk| {
        read = read.saturating_add(chunk.length().into());
        over = read > ERROR_BODY_MAX;
        if !over {
            chunks.push(chunk);
        }
        !over
    })
    .await;
    let body = match done {
        Ok(()) if !over => Blob::new_with_buffer_source_sequence(&chunks).ok(),
        _ => None,
    };
    let parsed = match &body {
        Some(body) => match settled(&body.text()).await {
            Ok(text) => text
                .as_string()
                .and_then(|text| js_sys::JSON::parse(&text).ok())
                .and_then(|v| js::error_body(&v)),
            Err(_) => None,
        },
        None => None,
    };
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let error = MatrixError::from_body(response.status(), parsed, retry_after.as_deref());
    (error, body)
}

/// Bodies of at most this announced length are read by the browser in one `blob()` under one
/// deadline for the whole body, instead of chunk by chunk with the deadline re-armed per chunk:
/// no `ReadableStream`, reader or promise per chunk for a thumbnail or an error body, and the
/// bytes never pass through the worker's thread. At this size a body still arriving after
/// `fetchTimeoutMs` (30 s by default, 2 KB/s) is stalled.
const WHOLE_READ_MAX: u64 = 64 * 1024;

/// Reads a body whole into a `Blob` (outside wasm memory, and — for a body read by `blob()` —
/// never copied through the worker), aborting `controller` with [`TIMEOUT`] when no chunk
/// arrives within `fetchTimeoutMs` — or, for a body whose `length` (its `Content-Length`) is at
/// most [`WHOLE_READ_MAX`], when it is not all there by then.
#[cfg(all(test, target_arch = "wasm32"))]
pub(crate) async fn read_body(
    shared: &Shared,
    response: &Response,
    controller: &AbortController,
    length: Option<u64>,
) -> Result<Blob, Fail> {
    let timeout_ms = shared.borrow().config.fetch_timeout_ms;
    let deadline = Deadline::new(controller, timeout_ms);
    read_body_under(shared, response, controller, length, deadline, None).await
}

/// [`read_body`] under an attempt's own `deadline` (re-armed here: the body has the whole
/// timeout from now, and for a body read in chunks from each chunk). With `max` (an encrypted
/// attachment's ciphertext, which is held whole to be verified) the bytes are counted as they
/// arrive and the read stops past `max` with [`Fail::too_large`]: the announced length does not
/// bound what arrives (none is announced for a chunked body, and a compressed one decodes to more).
pub(crate) async fn read_body_under(
    shared: &Shared,
    response: &Response,
    controller: &AbortController,
    length: Option<u64>,
    mut deadline: Deadline,
    max: Option<u64>,
) -> Result<Blob, Fail> {
    let timeout_ms = shared.borrow().config.fetch_timeout_ms;
    deadline.rearm();
    let mut over = false;
    let read = if max.is_none() && length.is_some_and(|len| len <= WHOLE_READ_MAX) {
        match response.blob() {
            Ok(promise) => settled(&promise).await,
            Err(e) => Err(e),
        }
    } else {
        let chunks = Array::new();
        let mut read = 0u64;
        match read_chunks(response, controller, Some(&mut deadline), &mut |chunk| {
            read = read.saturating_add(chunk.length().into());
            over = max.is_some_and(|max| read > max);
            if !over {
                chunks.push(chunk);
            }
            !over
        })
        .await
        {
            Ok(()) => Blob::new_with_buffer_source_sequence(&chunks).map(JsValue::from),
            Err(e) => Err(e),
        }
    };
    drop(deadline);
    if let Some(max) = max.filter(|_| over) {
        return Err(Fail::too_large(max));
    }
    match read {
        Ok(blob) => Ok(blob.unchecked_into()),
        Err(e) => Err(if timed_out(controller) {
            bump(&mut shared.borrow_mut().stats.timeouts);
            Fail::TimedOut { ms: timeout_ms }
        } else if controller.signal().reason().as_string().as_deref() == Some(CANCELLED) {
            Fail::Cancelled
        } else {
            Fail::Network {
                attempts: 1,
                message: net::describe(&e),
            }
        }),
    }
}

/// Hands the body to `take` chunk by chunk as it arrives; `take` returning `false` stops the
/// read (the rest is cancelled; the caller knows why). No chunk within `deadline`'s time aborts
/// `controller` with [`TIMEOUT`] (without one, the caller's deadline runs for the whole read). An abort of `controller` (stall, cancellation) ends the read
/// with its reason as the error: aborting a fetch errors its body stream, and any other body
/// (or a browser that does not) is cancelled on abort, which ends the read — checked after it.
pub(crate) async fn read_chunks(
    response: &Response,
    controller: &AbortController,
    mut deadline: Option<&mut Deadline>,
    take: &mut dyn FnMut(&Uint8Array) -> bool,
) -> Result<(), JsValue> {
    let Some(body) = response.body() else {
        return Ok(());
    };
    let reader: JsValue = body.get_reader().into();
    let read: Function = js::get(&reader, "read").dyn_into()?;
    let cancel = js::get(&reader, "cancel")
        .dyn_into::<Function>()
        .ok()
        .map(|cancel| -> Function { cancel.bind0(&reader).unchecked_into() });
    let signal = controller.signal();
    if let Some(cancel) = &cancel {
        let _ = signal.add_event_listener_with_callback("abort", cancel);
    }
    if let Some(deadline) = deadline.as_deref_mut() {
        deadline.rearm();
    }
    loop {
        let step = settled(&read.call0(&reader)?.dyn_into::<Promise>()?).await?;
        if js::get(&step, "done").as_bool().unwrap_or(true) {
            break;
        }
        if let Some(deadline) = deadline.as_deref_mut() {
            deadline.rearm();
        }
        let chunk: Uint8Array = js::get(&step, "value").dyn_into()?;
        if !take(&chunk) {
            if let Some(deadline) = deadline.as_deref_mut() {
                deadline.pause();
            }
            if let Some(cancel) = &cancel {
                let _ = cancel.call0(&JsValue::UNDEFINED);
            }
            return Ok(());
        }
    }
    if let Some(deadline) = deadline {
        deadline.pause();
    }
    if signal.aborted() {
        return Err(signal.reason());
    }
    Ok(())
}
