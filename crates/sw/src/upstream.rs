//! One upstream media fetch, robust to faults: retries per the core's [`RetryPolicy`], a stall
//! timeout, and cancellation once every page request waiting for it was aborted.
//!
//! A [`Flight`] is one logical upstream fetch (its attempts, token refresh and legacy retry
//! included) that several page requests may wait for (single-flight, see `worker.rs`). Each
//! attempt gets its own `AbortController`:
//!
//! * a timer aborts it with [`TIMEOUT`] when the response headers do not arrive within
//!   `fetchTimeoutMs`; while the worker reads a body it keeps, the timer is re-armed before every
//!   chunk (a body that stops progressing is aborted the same way);
//! * the `abort` events of the waiting page requests' signals abort it with [`CANCELLED`] once
//!   *all* of them are aborted — never while a range request (a `<video>`, which cancels and
//!   re-requests on every seek) is among the waiters.
//!
//! The timers are the controller's own `abort` bound to a reason (plain JS functions, no Rust
//! closure per timer); the only closure is the flight's `abort` listener, removed from every
//! signal and dropped when the flight ends.
//!
//! At most [`MAX_UPSTREAM`] attempts are sent at once; the others wait in the worker for a
//! [`Slot`], and their deadline starts only once they have one. Without this a burst of thousands
//! of requests sat in the browser's own connection queue (6 per host over HTTP/1.1) with their
//! deadline running, and timed out before they were even sent. A slot is held until the
//! response headers arrive and, for bodies the worker reads, until the body is read.
//!
//! Logout aborts every flight of the user ([`abort_user`]): a request the worker handed to the
//! browser before logout and still queued there never goes out with the token afterwards.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use authmedia_core::{Action, Api, Ending, Lifecycle};
use js_sys::{Array, Function, Promise, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Request, Response};

use crate::net::{self, scope};
use crate::stats::bump;
use crate::worker::Shared;
use crate::{js, worker};

/// The abort reason of a stalled fetch.
pub(crate) const TIMEOUT: &str = "authmedia:timeout";
/// The abort reason once every waiting page request was aborted.
pub(crate) const CANCELLED: &str = "authmedia:cancelled";

/// Upstream attempts sent at once (see the module docs).
pub(crate) const MAX_UPSTREAM: u32 = 16;

/// The worker's upstream slots: how many are taken, and who waits for one (oldest first).
#[derive(Default)]
pub(crate) struct Slots {
    used: u32,
    queue: Vec<Function>,
}

#[cfg(all(test, target_arch = "wasm32"))]
impl Slots {
    /// Taken slots.
    pub(crate) fn used(&self) -> u32 {
        self.used
    }

    /// Waiters.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.len()
    }
}

/// A taken upstream slot; dropping it hands it to the oldest waiter, or frees it.
pub(crate) struct Slot(Shared);

impl Slot {
    /// Takes a slot, waiting for one when all [`MAX_UPSTREAM`] are taken.
    pub(crate) async fn take(shared: &Shared) -> Slot {
        let wait = {
            let slots = &mut shared.borrow_mut().slots;
            if slots.used < MAX_UPSTREAM {
                slots.used += 1;
                None
            } else {
                let (promise, resolve) = deferred();
                slots.queue.push(resolve);
                Some(promise)
            }
        };
        if let Some(wait) = wait {
            // Resolved by a dropped `Slot`, which hands its place over (`used` unchanged).
            let _ = JsFuture::from(wait).await;
        }
        Slot(shared.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let next = match self.0.try_borrow_mut() {
            Ok(mut state) => {
                let slots = &mut state.slots;
                if slots.queue.is_empty() {
                    slots.used = slots.used.saturating_sub(1);
                    None
                } else {
                    Some(slots.queue.remove(0))
                }
            }
            Err(_) => None,
        };
        if let Some(next) = next {
            let _ = next.call0(&JsValue::UNDEFINED);
        }
    }
}

// A promise and the function resolving it (shared with the page SDK).
pub(crate) use authmedia_js::deferred;

/// Why an upstream fetch produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fail {
    /// The homeserver could not be reached (after `attempts` attempts).
    Network {
        /// Attempts made.
        attempts: u32,
        /// The browser's error text of the last one.
        message: String,
    },
    /// No headers, or no body progress, within `ms`.
    TimedOut {
        /// The timeout.
        ms: i32,
    },
    /// Every page request waiting for it was aborted, or the user logged out.
    Cancelled,
}

impl Fail {
    /// `(status, authmedia_code, error text)` of its JSON answer: 502 `network`, 504 `timeout`,
    /// 502 `cancelled`.
    pub(crate) fn parts(&self) -> (u16, &'static str, String) {
        match self {
            Fail::Network { attempts, message } => (
                502,
                "network",
                format!(
                    "authmedia service worker: the homeserver could not be reached after {attempts} attempt{}: {message}",
                    if *attempts == 1 { "" } else { "s" }
                ),
            ),
            Fail::TimedOut { ms } => (
                504,
                "timeout",
                format!("authmedia service worker: the homeserver did not answer within {ms} ms"),
            ),
            Fail::Cancelled => (
                502,
                "cancelled",
                "authmedia service worker: the request was cancelled (aborted by the page, or logout)"
                    .to_owned(),
            ),
        }
    }

    /// The JSON error answer (`errcode: "M_UNKNOWN"`).
    pub(crate) fn response(&self) -> Response {
        let (status, code, message) = self.parts();
        net::error_response(status, "M_UNKNOWN", code, &message)
    }
}

/// One logical upstream fetch and the page requests waiting for it.
pub(crate) struct Flight {
    /// Signals of the waiting page requests that may cancel it.
    signals: RefCell<Vec<AbortSignal>>,
    /// A waiter that must not cancel it joined (a range request).
    keep: Cell<bool>,
    cancelled: Cell<bool>,
    /// The controller of the attempt in progress.
    controller: RefCell<Option<AbortController>>,
    listener: RefCell<Option<Closure<dyn FnMut()>>>,
    /// The upstream slot of the attempt whose response is being read.
    slot: RefCell<Option<Slot>>,
}

impl Flight {
    /// A flight of `user`'s that nobody waits for yet (registered for [`abort_user`]).
    pub(crate) fn start(shared: &Shared, user: &str) -> Rc<Flight> {
        let flight = Flight::new();
        let running = &mut shared.borrow_mut().running;
        running.retain(|(_, f)| f.strong_count() > 0);
        running.push((user.to_owned(), Rc::downgrade(&flight)));
        flight
    }

    /// A flight nobody waits for yet.
    pub(crate) fn new() -> Rc<Flight> {
        let flight = Rc::new(Flight {
            signals: RefCell::new(Vec::new()),
            keep: Cell::new(false),
            cancelled: Cell::new(false),
            controller: RefCell::new(None),
            listener: RefCell::new(None),
            slot: RefCell::new(None),
        });
        let weak: Weak<Flight> = Rc::downgrade(&flight);
        let listener = Closure::<dyn FnMut()>::new(move || {
            if let Some(flight) = weak.upgrade() {
                flight.check_cancelled();
            }
        });
        flight.listener.replace(Some(listener));
        flight
    }

    /// A page request waits for this flight. `cancel_with` is its signal, or `None` when its
    /// abort must not stop the fetch (range requests).
    pub(crate) fn join(&self, cancel_with: Option<AbortSignal>) {
        let Some(signal) = cancel_with else {
            self.keep.set(true);
            return;
        };
        if let Some(listener) = self.listener.borrow().as_ref() {
            let _ =
                signal.add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
        }
        self.signals.borrow_mut().push(signal);
    }

    fn check_cancelled(&self) {
        if self.cancelled.get() || self.keep.get() {
            return;
        }
        let all = {
            let signals = self.signals.borrow();
            !signals.is_empty() && signals.iter().all(AbortSignal::aborted)
        };
        if all {
            self.cancelled.set(true);
            if let Some(controller) = self.controller.borrow().as_ref() {
                controller.abort_with_reason(&CANCELLED.into());
            }
        }
    }

    /// Whether every waiter gave up (checked before each attempt and after each wait).
    pub(crate) fn cancelled(&self) -> bool {
        self.check_cancelled();
        self.cancelled.get()
    }

    /// Whether it was cancelled, without looking at the signals again (a cancelled flight is
    /// not joined: its outcome would be an error for a request nobody cancelled).
    pub(crate) fn was_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Stops it whoever waits (logout): the attempt in progress is aborted, no other is sent.
    pub(crate) fn abort(&self) {
        self.cancelled.set(true);
        if let Some(controller) = self.controller.borrow().as_ref() {
            controller.abort_with_reason(&CANCELLED.into());
        }
    }

    /// Removes the `abort` listener from every signal and drops it; frees the upstream slot.
    pub(crate) fn end(&self) {
        self.slot.replace(None);
        if let Some(listener) = self.listener.borrow_mut().take() {
            for signal in self.signals.borrow().iter() {
                let _ = signal.remove_event_listener_with_callback(
                    "abort",
                    listener.as_ref().unchecked_ref(),
                );
            }
        }
        self.signals.borrow_mut().clear();
        self.controller.replace(None);
    }

    /// A fresh controller for the next attempt (already aborted when the flight was).
    pub(crate) fn arm(&self) -> Result<AbortController, JsValue> {
        let controller = AbortController::new()?;
        if self.cancelled.get() {
            controller.abort_with_reason(&CANCELLED.into());
        }
        self.controller.replace(Some(controller.clone()));
        Ok(controller)
    }
}

/// A timer that aborts `controller` with [`TIMEOUT`] after `ms`, unless cleared.
pub(crate) struct Deadline {
    abort: Function,
    handle: Option<i32>,
    ms: i32,
}

impl Deadline {
    pub(crate) fn new(controller: &AbortController, ms: i32) -> Deadline {
        let abort: Function = js::get(controller, "abort").unchecked_into();
        let abort: Function = abort
            .bind1(controller, &JsValue::from_str(TIMEOUT))
            .unchecked_into();
        let mut deadline = Deadline {
            abort,
            handle: None,
            ms,
        };
        deadline.rearm();
        deadline
    }

    pub(crate) fn rearm(&mut self) {
        self.clear();
        self.handle = scope()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&self.abort, self.ms)
            .ok();
    }

    fn clear(&mut self) {
        if let Some(handle) = self.handle.take() {
            scope().clear_timeout_with_handle(handle);
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.clear();
    }
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
    let promise = Promise::new(&mut |resolve: Function, _reject: Function| {
        if scope()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .is_err()
        {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Whether `controller` was aborted because of its deadline.
pub(crate) fn timed_out(controller: &AbortController) -> bool {
    controller.signal().reason().as_string().as_deref() == Some(TIMEOUT)
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
}

/// Executes the core's request [`Lifecycle`] for one upstream request: every `Send` takes an
/// upstream [`Slot`], arms the stall deadline and calls `build(signal, api, token)` — which asks
/// the gate before the token goes on the request; `Wait` sleeps, `NeedToken` calls `refresh`.
/// Error answers are read (a copy, under the deadline) into the [`MatrixError`] the lifecycle
/// decides on; the original stays readable for the caller. The returned [`Fail`] is the
/// lifecycle's ending.
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
    let mut last: Option<(Response, AbortController, Slot)> = None;
    let mut last_network = String::new();
    let mut gate_refused = false;
    loop {
        match lc.poll(now()) {
            Action::Send { api, .. } => {
                // The slot of a previous attempt first: holding it while waiting for another
                // could deadlock a full worker.
                flight.slot.replace(None);
                last = None;
                if flight.cancelled() {
                    lc.on_end();
                    continue;
                }
                let slot = Slot::take(shared).await;
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
                let deadline = Deadline::new(&controller, timeout_ms);
                match net::fetch(&request).await {
                    Ok(response) if response.status() < 400 => {
                        drop(deadline);
                        lc.on_answer(now(), response.status(), None);
                        last = Some((response, controller, slot));
                    }
                    Ok(response) => {
                        // Still under the deadline: an error body that never ends is a stall.
                        let error = worker::matrix_error(&response).await;
                        drop(deadline);
                        if timed_out(&controller) {
                            bump(&mut shared.borrow_mut().stats.timeouts);
                            lc.on_stall();
                        } else {
                            lc.on_answer(now(), response.status(), Some(&error));
                            last = Some((response, controller, slot));
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
                if let Some((response, _, _)) = last.take() {
                    if let Some(body) = response.body() {
                        let _ = body.cancel();
                    }
                }
                bump(&mut shared.borrow_mut().stats.retries);
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
                let Some((response, controller, slot)) = last.take() else {
                    return Err(Fail::Network {
                        attempts: lc.sends(),
                        message: "no answer to deliver".to_owned(),
                    });
                };
                flight.slot.replace(Some(slot));
                return Ok(Answered {
                    response,
                    controller,
                });
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

/// [`worker::matrix_error`] under the stall deadline of `controller`: an error body that never
/// ends aborts the fetch instead of holding the request.
pub(crate) async fn read_error(
    shared: &Shared,
    response: &Response,
    controller: &AbortController,
) -> authmedia_core::MatrixError {
    let timeout = shared.borrow().config.fetch_timeout_ms;
    let _deadline = Deadline::new(controller, timeout);
    worker::matrix_error(response).await
}

/// Reads a body whole into a JS `ArrayBuffer` (outside wasm memory), aborting `controller` with
/// [`TIMEOUT`] when no chunk arrives within `fetchTimeoutMs`.
pub(crate) async fn read_body(
    shared: &Shared,
    response: &Response,
    controller: &AbortController,
) -> Result<js_sys::ArrayBuffer, Fail> {
    let timeout_ms = shared.borrow().config.fetch_timeout_ms;
    let Some(body) = response.body() else {
        return Ok(js_sys::ArrayBuffer::new(0));
    };
    let failed = |e: &JsValue| {
        if timed_out(controller) {
            bump(&mut shared.borrow_mut().stats.timeouts);
            Fail::TimedOut { ms: timeout_ms }
        } else if controller.signal().reason().as_string().as_deref() == Some(CANCELLED) {
            Fail::Cancelled
        } else {
            Fail::Network {
                attempts: 1,
                message: net::describe(e),
            }
        }
    };
    let reader: JsValue = body.get_reader().into();
    let read: Function = js::get(&reader, "read")
        .dyn_into()
        .map_err(|e| failed(&e))?;
    // Aborting a fetch errors its body stream; a body that is not a fetch's (or a browser that
    // does not) is cancelled on abort too, which ends the read below — checked after the loop.
    if let Ok(cancel) = js::get(&reader, "cancel").dyn_into::<Function>() {
        let cancel: Function = cancel.bind0(&reader).unchecked_into();
        let _ = controller
            .signal()
            .add_event_listener_with_callback("abort", &cancel);
    }
    let chunks = Array::new();
    let mut total: u32 = 0;
    let mut deadline = Deadline::new(controller, timeout_ms);
    loop {
        let step = read
            .call0(&reader)
            .and_then(|p| p.dyn_into::<Promise>())
            .map_err(|e| failed(&e))?;
        let step = JsFuture::from(step).await.map_err(|e| failed(&e))?;
        if js::get(&step, "done").as_bool().unwrap_or(true) {
            break;
        }
        deadline.rearm();
        let chunk: Uint8Array = js::get(&step, "value").dyn_into().map_err(|e| failed(&e))?;
        total = total.saturating_add(chunk.byte_length());
        chunks.push(&chunk);
    }
    drop(deadline);
    if controller.signal().aborted() {
        return Err(failed(&controller.signal().reason()));
    }
    let whole = Uint8Array::new_with_length(total);
    let mut offset = 0u32;
    for chunk in chunks.iter() {
        let chunk: Uint8Array = chunk.unchecked_into();
        if offset.saturating_add(chunk.byte_length()) > total {
            break;
        }
        whole.set(&chunk, offset);
        offset = offset.saturating_add(chunk.byte_length());
    }
    Ok(whole.buffer())
}
