//! The upstream bookkeeping types, free of the worker's state: a [`Flight`] (one logical upstream
//! request that several page requests may wait for), the upstream [`Slots`], a [`Deadline`], the
//! [`Outcome`] waiters answer from, and the [`Fail`] endings. `upstream.rs` runs them.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use authmedia_core::{push_decimal, ClientCode};
use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, AbortSignal, Blob, Headers, Response};

use crate::js;
use crate::net::{self, scope};
use crate::settle::settled;

/// The abort reason of a stalled fetch.
pub(crate) const TIMEOUT: &str = "authmedia:timeout";
/// The abort reason once every waiting page request was aborted.
pub(crate) const CANCELLED: &str = "authmedia:cancelled";

/// Upstream attempts sent at once (see the module docs).
pub(crate) const MAX_UPSTREAM: u32 = 16;

/// What a finished upstream fetch left for the page requests that waited for it.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// A whole 200 body (also in the store when it fits): each waiter answers its range from it.
    Body {
        body: Blob,
        content_type: Option<String>,
    },
    /// An error answer of the homeserver (after retries), replayed for each waiter.
    Answer {
        status: u16,
        status_text: String,
        headers: Headers,
        body: Blob,
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
    /// The session's key and the target URL, and their [`key_hash`](crate::store::key_hash)
    /// (compared first).
    pub(crate) key: String,
    pub(crate) hash: u64,
    pub(crate) flight: Rc<Flight>,
    /// A promise resolved once `outcome` is set, and its resolving function: made by the first
    /// request that joins (most flights have none).
    pub(crate) done: Rc<RefCell<Option<(Promise, Function)>>>,
    pub(crate) outcome: Rc<RefCell<Option<Outcome>>>,
}

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
pub(crate) struct Slot(Rc<RefCell<Slots>>);

impl Slot {
    /// Takes a slot, waiting for one when all [`MAX_UPSTREAM`] are taken.
    pub(crate) async fn take(all: &Rc<RefCell<Slots>>) -> Slot {
        let wait = {
            let slots = &mut all.borrow_mut();
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
            let _ = settled(&wait).await;
        }
        Slot(all.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let next = match self.0.try_borrow_mut() {
            Ok(mut slots) => {
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
    /// An encrypted attachment refused after its download (its decryption module's verdict, a
    /// ciphertext over the limit): answered with its own status, `errcode` and code.
    Refused(Rc<Refusal>),
}

/// What [`Fail::Refused`] answers (shared, not copied, by the requests waiting for it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: u16,
    errcode: String,
    code: String,
    message: String,
}

impl Fail {
    /// `(status, errcode, authmedia_code, error text)` of its JSON answer: 502 `network`, 504
    /// `timeout`, 502 `cancelled` (`errcode: "M_UNKNOWN"`), or a refusal's own.
    fn parts(&self) -> (u16, &str, &str, String) {
        match self {
            Fail::Network { attempts, message } => {
                let mut text = String::from(
                    "authmedia service worker: the homeserver could not be reached after ",
                );
                push_decimal(&mut text, (*attempts).into());
                text.push_str(if *attempts == 1 { " attempt: " } else { " attempts: " });
                text.push_str(message);
                (502, "M_UNKNOWN", "network", text)
            }
            Fail::TimedOut { ms } => {
                let mut text =
                    String::from("authmedia service worker: the homeserver did not answer within ");
                push_decimal(&mut text, u64::try_from(*ms).unwrap_or(0));
                text.push_str(" ms");
                (504, "M_UNKNOWN", "timeout", text)
            }
            Fail::Cancelled => (
                502,
                "M_UNKNOWN",
                "cancelled",
                "authmedia service worker: the request was cancelled (aborted by the page, or logout)"
                    .to_owned(),
            ),
            Fail::Refused(r) => (r.status, &r.errcode, &r.code, r.message.clone()),
        }
    }

    /// The JSON error answer.
    pub(crate) fn response(&self) -> Response {
        let (status, errcode, code, message) = self.parts();
        net::error_response(status, errcode, code, &message)
    }

    /// A refusal of the encrypted-attachment path.
    pub(crate) fn refused(status: u16, errcode: &str, code: &str, message: String) -> Self {
        Fail::Refused(Rc::new(Refusal {
            status,
            errcode: errcode.to_owned(),
            code: code.to_owned(),
            message,
        }))
    }

    /// [`authmedia_core::AttachmentError::TooLarge`] as `refusal` answers it, the text written
    /// out: the two refusals this wasm makes itself are spelled here so that it links neither the
    /// core's `AttachmentError` texts nor their formatting (the decryption module answers the
    /// others). The unit test below holds both to `refusal`. A ciphertext over the store's budget
    /// is `over_budget`, as the fallback says of one over `budgetBytes` ([`client_code`]).
    pub(crate) fn too_large(limit: u64) -> Self {
        let mut message = String::from(
            "authmedia service worker: encrypted attachment refused: ciphertext is larger than the limit of ",
        );
        push_decimal(&mut message, limit);
        message.push_str(" bytes");
        Self::refused(
            413,
            "AUTHMEDIA_TOO_LARGE",
            ClientCode::OverBudget.as_str(),
            message,
        )
    }

    /// [`authmedia_core::AttachmentError::CryptoUnavailable`] as `refusal` answers it (see
    /// [`Self::too_large`]), with its client code ([`client_code`]).
    pub(crate) fn crypto_unavailable() -> Self {
        Self::refused(
            502,
            "AUTHMEDIA_CRYPTO_UNAVAILABLE",
            ClientCode::WasmLoadFailed.as_str(),
            "authmedia service worker: encrypted attachment refused: WebCrypto could not verify or decrypt the attachment in this context".to_owned(),
        )
    }

    /// The decryption module's rejection (`{status, errcode, authmedia_code, error}`, or a value
    /// of another shape: 500 `internal`).
    pub(crate) fn from_js(v: &JsValue) -> Self {
        let status = js::get(v, "status")
            .as_f64()
            .and_then(|s| u16::try_from(s as u32).ok())
            .filter(|s| (400..600).contains(s))
            .unwrap_or(500);
        Self::refused(
            status,
            &js::string(v, "errcode").unwrap_or_else(|| "M_UNKNOWN".to_owned()),
            client_code(&js::string(v, "authmedia_code").unwrap_or_default()),
            js::string(v, "error").unwrap_or_else(|| "authmedia service worker: failed".to_owned()),
        )
    }
}

/// The client code for the code of a decryption refusal (`AttachmentError::code`, or the entry
/// script's own), so that the page can tell what failed, with the fallback's code for the same
/// failure: a ciphertext over the budget (`too_large`) → `over_budget`; a [`ClientCode`] as it
/// is; WebCrypto unusable, or the decryption module not loaded (the entry script's
/// `wasm_load_failed`, and its earlier `decryptor_unavailable`) → `wasm_load_failed`; any other
/// code is a file the module refused (`invalid_length`, `missing_field`…) → `invalid_argument`.
pub(crate) fn client_code(code: &str) -> &str {
    // Not the homeserver's `too_large` (its 413/502 `M_TOO_LARGE`, coded elsewhere): the
    // attachment's limit, which is the budget.
    if code == "too_large" {
        return ClientCode::OverBudget.as_str();
    }
    if let Ok(known) = code.parse::<ClientCode>() {
        return known.as_str();
    }
    match code {
        "" => ClientCode::Internal.as_str(),
        "crypto_unavailable" | "decryptor_unavailable" => ClientCode::WasmLoadFailed.as_str(),
        _ => ClientCode::InvalidArgument.as_str(),
    }
}

thread_local! {
    /// Every flight alive, by number: what [`ON_ABORT`] looks a flight up in.
    static FLIGHTS: RefCell<Vec<(u32, Weak<Flight>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_FLIGHT: Cell<u32> = const { Cell::new(0) };
    /// `(flightId) => …`: the `abort` listener of every waiting page request's signal, bound to
    /// its flight's number (one function per instance, not a closure per flight).
    static ON_ABORT: Function = Closure::<dyn Fn(u32)>::new(|id: u32| {
        let flight = FLIGHTS.with(|all| {
            all.borrow()
                .iter()
                .find(|(i, _)| *i == id)
                .and_then(|(_, f)| f.upgrade())
        });
        if let Some(flight) = flight {
            flight.check_cancelled();
        }
    })
    .into_js_value()
    .unchecked_into();
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
    /// Its number in [`FLIGHTS`].
    id: u32,
    /// [`ON_ABORT`] bound to `id`, once a waiter with a signal joined; `None` once ended.
    listener: RefCell<Option<Function>>,
    ended: Cell<bool>,
    /// The upstream slot of the attempt whose response is being read.
    pub(crate) slot: RefCell<Option<Slot>>,
}

impl Flight {
    /// A flight nobody waits for yet.
    pub(crate) fn new() -> Rc<Flight> {
        let id = NEXT_FLIGHT.with(|next| {
            let id = next.get();
            next.set(id.wrapping_add(1));
            id
        });
        let flight = Rc::new(Flight {
            signals: RefCell::new(Vec::new()),
            keep: Cell::new(false),
            cancelled: Cell::new(false),
            controller: RefCell::new(None),
            id,
            listener: RefCell::new(None),
            ended: Cell::new(false),
            slot: RefCell::new(None),
        });
        FLIGHTS.with(|all| all.borrow_mut().push((id, Rc::downgrade(&flight))));
        flight
    }

    /// A page request waits for this flight. `cancel_with` is its signal, or `None` when its
    /// abort must not stop the fetch (range requests).
    pub(crate) fn join(&self, cancel_with: Option<AbortSignal>) {
        let Some(signal) = cancel_with else {
            self.keep.set(true);
            return;
        };
        if !self.ended.get() {
            let mut listener = self.listener.borrow_mut();
            let listener = listener.get_or_insert_with(|| {
                ON_ABORT.with(|on_abort| {
                    on_abort
                        .bind1(&JsValue::NULL, &JsValue::from(self.id))
                        .unchecked_into()
                })
            });
            let _ = signal.add_event_listener_with_callback("abort", listener);
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

    /// Forgets the waiters' signals and frees the upstream slot. The `abort` listeners stay on
    /// the signals (removing them costs more than the event they may still see): bound to this
    /// flight's number, they find nothing once it is gone.
    pub(crate) fn end(&self) {
        self.slot.replace(None);
        self.ended.set(true);
        self.listener.replace(None);
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

/// Test hook: how many flights [`FLIGHTS`] holds.
#[cfg(all(test, target_arch = "wasm32"))]
pub(crate) fn flights_listed() -> usize {
    FLIGHTS.with(|all| all.borrow().len())
}

impl Drop for Flight {
    fn drop(&mut self) {
        // Its entry in `FLIGHTS` goes with it: the list holds only the flights alive (`try_with`:
        // the list may already be gone when the instance is torn down).
        let id = self.id;
        let _ = FLIGHTS.try_with(|all| {
            if let Ok(mut all) = all.try_borrow_mut() {
                all.retain(|(i, _)| *i != id);
            }
        });
    }
}

/// A running [`Deadline`]: when it ends.
struct Armed {
    id: u32,
    controller: AbortController,
    /// `Date.now()` at which the controller is aborted; infinite while paused.
    until: f64,
}

/// Every running deadline, and the one timer that serves them all.
struct Deadlines {
    armed: Vec<Armed>,
    next: u32,
    /// The pending timer and the `Date.now()` it fires at (it may fire before any deadline is
    /// due: a deadline pushed back, or dropped, leaves it in place).
    timer: Option<(i32, f64)>,
}

thread_local! {
    static DEADLINES: RefCell<Deadlines> =
        const { RefCell::new(Deadlines { armed: Vec::new(), next: 0, timer: None }) };
    /// `() => …`: the callback of the deadlines' timer.
    static ON_DEADLINE: Function = Closure::<dyn Fn()>::new(expired)
        .into_js_value()
        .unchecked_into();
}

impl Deadlines {
    /// Makes sure the timer fires by `until`: a timer set for a later time is replaced, an
    /// earlier one is kept (it re-arms for the rest when it fires).
    fn wake_by(&mut self, until: f64, now: f64) {
        if !until.is_finite() || self.timer.is_some_and(|(_, at)| at <= until) {
            return;
        }
        if let Some((handle, _)) = self.timer.take() {
            scope().clear_timeout_with_handle(handle);
        }
        let ms = (until - now).ceil().clamp(0.0, f64::from(i32::MAX)) as i32;
        self.timer = ON_DEADLINE.with(|f| {
            scope()
                .set_timeout_with_callback_and_timeout_and_arguments_0(f, ms)
                .ok()
                .map(|handle| (handle, now + f64::from(ms)))
        });
    }
}

/// The deadlines' timer fired: aborts with [`TIMEOUT`] the controller of every deadline that
/// has passed, and sets the timer again for the earliest of the others.
fn expired() {
    let now = js_sys::Date::now();
    DEADLINES.with(|all| all.borrow_mut().timer = None);
    loop {
        // One at a time, outside the borrow: aborting runs the signal's listeners.
        let doomed = DEADLINES.with(|all| {
            let mut all = all.borrow_mut();
            let entry = all.armed.iter_mut().find(|a| a.until <= now)?;
            // Fired once: a deadline that is re-armed later starts over.
            entry.until = f64::INFINITY;
            Some(entry.controller.clone())
        });
        let Some(controller) = doomed else { break };
        controller.abort_with_reason(&TIMEOUT.into());
    }
    DEADLINES.with(|all| {
        let mut all = all.borrow_mut();
        let next = all
            .armed
            .iter()
            .map(|a| a.until)
            .fold(f64::INFINITY, f64::min);
        all.wake_by(next, now);
    });
}

/// A deadline that aborts `controller` with [`TIMEOUT`] `ms` after it was armed or last re-armed,
/// unless dropped first. Arming, re-arming and dropping only move numbers: one timer serves every
/// deadline of the worker (they mostly end in the order they were armed), so a request costs no
/// timer call of its own while an earlier deadline keeps the timer set.
pub(crate) struct Deadline {
    id: u32,
    ms: i32,
}

impl Deadline {
    pub(crate) fn new(controller: &AbortController, ms: i32) -> Deadline {
        let now = js_sys::Date::now();
        let until = now + f64::from(ms);
        let id = DEADLINES.with(|all| {
            let mut all = all.borrow_mut();
            let id = all.next;
            all.next = id.wrapping_add(1);
            all.armed.push(Armed {
                id,
                controller: controller.clone(),
                until,
            });
            all.wake_by(until, now);
            id
        });
        Deadline { id, ms }
    }

    /// Gives it `ms` again from now.
    pub(crate) fn rearm(&mut self) {
        let now = js_sys::Date::now();
        self.set_until(now + f64::from(self.ms), now);
    }

    /// Stops it until the next [`Deadline::rearm`] (between the headers and the body read).
    pub(crate) fn pause(&mut self) {
        self.set_until(f64::INFINITY, 0.0);
    }

    fn set_until(&mut self, until: f64, now: f64) {
        let id = self.id;
        DEADLINES.with(|all| {
            let mut all = all.borrow_mut();
            if let Some(entry) = all.armed.iter_mut().find(|a| a.id == id) {
                entry.until = until;
                all.wake_by(until, now);
            }
        });
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        let id = self.id;
        // `try_with`: the deadlines may already be gone when the instance is torn down.
        let _ = DEADLINES.try_with(|all| {
            let Ok(mut all) = all.try_borrow_mut() else {
                return;
            };
            if let Some(index) = all.armed.iter().position(|a| a.id == id) {
                all.armed.swap_remove(index);
            }
            // The last one gone: nothing left to check.
            if all.armed.is_empty() {
                if let Some((handle, _)) = all.timer.take() {
                    scope().clear_timeout_with_handle(handle);
                }
            }
        });
    }
}

/// Whether `controller` was aborted because of its deadline.
pub(crate) fn timed_out(controller: &AbortController) -> bool {
    controller.signal().reason().as_string().as_deref() == Some(TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::{client_code, Fail};
    use authmedia_core::AttachmentError;
    use authmedia_js::webcrypto::refusal;

    fn same(fail: &Fail, e: &AttachmentError) {
        let (status, errcode, message) = refusal(e);
        assert_eq!(
            fail,
            &Fail::refused(status, &errcode, client_code(e.code()), message)
        );
    }

    #[test]
    fn refusals_carry_client_codes() {
        for (code, client) in [
            ("hash_mismatch", "hash_mismatch"),
            ("too_large", "over_budget"),
            ("over_budget", "over_budget"),
            ("internal", "internal"),
            ("crypto_unavailable", "wasm_load_failed"),
            ("invalid_length", "invalid_argument"),
            ("malformed_encrypted_file", "invalid_argument"),
            ("decryptor_unavailable", "wasm_load_failed"),
            ("wasm_load_failed", "wasm_load_failed"),
            ("", "internal"),
        ] {
            assert_eq!(client_code(code), client, "{code}");
        }
    }

    #[test]
    fn the_worker_s_own_refusals_are_the_shared_rule_s() {
        for limit in [0, 7, 52_428_800, u64::MAX] {
            same(
                &Fail::too_large(limit),
                &AttachmentError::TooLarge { limit },
            );
        }
        same(
            &Fail::crypto_unavailable(),
            &AttachmentError::CryptoUnavailable,
        );
    }
}
