//! The worker's state and its tunables: one [`State`] per worker instance, behind [`Shared`].
//!
//! Each concern's data is a type that owns its fields ([`Sessions`], [`NegotiationCache`],
//! [`BodyStore`], [`Failures`], the encrypted [`Registry`], the upstream [`Slots`] and flights);
//! the handlers borrow only what they need, and never across an `await`.

use std::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{NegotiationCache, RetryPolicy};
use js_sys::Promise;
use wasm_bindgen::JsValue;

use crate::failures::Failures;
use crate::flight::{Flight, Joinable, Slots};
use crate::js;
use crate::registry::Registry;
use crate::sessions::Sessions;
use crate::stats::{Lineage, Stats};
use crate::store::BodyStore;

/// Tunables, all optional in the object given to the constructor.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// How long to wait for a tab's answer to `need-session` (`need-token` waits up to
    /// `fetch_timeout_ms`: the tab is then running a token refresh).
    pub(crate) ask_timeout_ms: i32,
    /// How long a `/versions` decision is trusted.
    pub(crate) negotiation_ttl_ms: u64,
    /// Bytes of media bodies kept in memory.
    pub(crate) store_budget: u64,
    /// Largest single body kept.
    pub(crate) store_entry_max: u64,
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
    pub(crate) fn from_js(options: &JsValue) -> Self {
        let number = |name: &str, default: f64| {
            js::get(options, name)
                .as_f64()
                .filter(|v| *v >= 0.0)
                .unwrap_or(default)
        };
        // Finite and > 0, else the default; then clamped to the documented range.
        let positive = |name: &str| {
            js::get(options, name)
                .as_f64()
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
        let max_total_wait_ms = js::get(options, "retryMaxWaitMs")
            .as_f64()
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

/// Everything one worker instance knows.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) sessions: Sessions,
    pub(crate) negotiation: NegotiationCache,
    pub(crate) store: BodyStore<web_sys::Blob>,
    pub(crate) stats: Stats,
    /// Questions in flight, so concurrent requests share one (`session:`, `token:`, `versions:`).
    pub(crate) pending: Vec<(String, Promise)>,
    /// Upstream media fetches in flight, joined by identical requests (single-flight).
    pub(crate) flights: Vec<Joinable>,
    /// Requests waiting for a tab's `need-session` answer, per client.
    pub(crate) session_waiters: Vec<(String, u32)>,
    /// Every upstream flight not yet finished, by user (logout aborts them).
    pub(crate) running: Vec<(String, std::rc::Weak<Flight>)>,
    /// Upstream attempts in progress and the queue for more.
    pub(crate) slots: Rc<RefCell<Slots>>,
    /// Encrypted attachments registered by tabs (keys, in memory only).
    pub(crate) encrypted: Registry,
    /// The entry script's `decrypt(fileJson, ciphertext)`, which loads the decryption module on
    /// demand (`encrypted/mod.rs`; called by `media.rs` once a ciphertext is in); `None` when the
    /// wasm runs without the entry script.
    pub(crate) decrypt: Option<js_sys::Function>,
    /// Why recent media answers failed, for the tabs' `authmedia:why`.
    pub(crate) failures: Failures,
    /// Which instance of which worker start this is (reported with the counters).
    pub(crate) lineage: Lineage,
}

/// The `lineage` option the entry script passes each instance (`{startedAt, replaced, lastTrap}`);
/// without it (the wasm used directly) this is the first instance of a worker started now.
pub(crate) fn lineage_from_js(options: &JsValue, now_ms: f64) -> Lineage {
    let lineage = js::get(options, "lineage");
    let number = |name: &str| {
        js::get(&lineage, name)
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    Lineage {
        worker_started_ms: number("startedAt").unwrap_or(now_ms),
        instance_started_ms: now_ms,
        replacements: number("replaced").map_or(0, |v| v.min(f64::from(u32::MAX)) as u32),
        last_trap: js::string(&lineage, "lastTrap"),
    }
}

/// The state as the handlers hold it.
pub(crate) type Shared = Rc<StateCell>;

/// The one [`RefCell`] around a [`State`]. Its `borrow`/`borrow_mut` are the only places the
/// state is borrowed, not inlined: a `RefCell` borrowed at a hundred call sites would carry a
/// hundred inlined flag checks, each with its own panic location (a borrow across an `await`
/// would be a bug in this crate, never an input).
pub(crate) struct StateCell(RefCell<State>);

impl StateCell {
    pub(crate) fn new(state: State) -> Shared {
        Rc::new(Self(RefCell::new(state)))
    }

    #[inline(never)]
    pub(crate) fn borrow(&self) -> std::cell::Ref<'_, State> {
        self.0.borrow()
    }

    #[inline(never)]
    pub(crate) fn borrow_mut(&self) -> std::cell::RefMut<'_, State> {
        self.0.borrow_mut()
    }

    pub(crate) fn try_borrow_mut(
        &self,
    ) -> Result<std::cell::RefMut<'_, State>, std::cell::BorrowMutError> {
        self.0.try_borrow_mut()
    }
}
