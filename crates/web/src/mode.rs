//! Which mechanism serves media — the worker or the fallback — and why the fallback is used.
//!
//! Worker mode needs a worker that controls the page and holds this instance's session, no
//! `setForceFallback(true)` and no `fallback: 'force'`; everything else is the fallback, with a
//! reason (`diagnose.rs` keeps its facts).

use std::cell::Cell;

use crate::cell::RefCell;

use wasm_bindgen::JsValue;

use crate::diagnose::FALLBACK_REASONS;
use crate::events::Events;
use crate::options::FallbackPref;
use crate::util::{get_string, object, set};

/// Which mechanism serves media right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A service worker controls the page and adds the token.
    Worker,
    /// No worker: fetch with the token → blob → object URL.
    Fallback,
}

impl Mode {
    /// `"worker"` or `"fallback"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Worker => "worker",
            Mode::Fallback => "fallback",
        }
    }
}

/// The mode of one instance and what it is computed from.
pub struct ModeState {
    current: Cell<Mode>,
    /// Whether a worker controls this page and holds our session.
    worker_ready: Cell<bool>,
    /// `setForceFallback(true)` in effect.
    forced: Cell<bool>,
    /// The `fallback` option.
    pref: FallbackPref,
    /// Why the fallback is used (for diagnostics).
    reason: RefCell<Option<String>>,
    /// Its cause, as the `fallbackDetail` object (`diagnose.rs`).
    detail: RefCell<Option<JsValue>>,
}

impl ModeState {
    /// The fallback, until a worker is ready.
    pub fn new(pref: FallbackPref) -> Self {
        Self {
            current: Cell::new(Mode::Fallback),
            worker_ready: Cell::new(false),
            forced: Cell::new(false),
            pref,
            reason: RefCell::new(None),
            detail: RefCell::new(None),
        }
    }

    /// The current mode.
    pub fn get(&self) -> Mode {
        self.current.get()
    }

    /// Whether a worker controls this page and holds our session.
    pub fn worker_ready(&self) -> bool {
        self.worker_ready.get()
    }

    /// Records whether a worker controls this page and holds our session ([`ModeState::update`]
    /// applies it).
    pub fn set_worker_ready(&self, ready: bool) {
        self.worker_ready.set(ready);
    }

    /// `setForceFallback`.
    pub fn set_forced(&self, forced: bool) {
        self.forced.set(forced);
    }

    /// Recomputes the mode and emits `modechange` on `events` when it changed.
    pub fn update(&self, events: &Events) {
        let next =
            if self.worker_ready.get() && !self.forced.get() && self.pref != FallbackPref::Force {
                Mode::Worker
            } else {
                Mode::Fallback
            };
        let prev = self.current.replace(next);
        if prev != next {
            let detail = object();
            set(&detail, "mode", &JsValue::from_str(next.as_str()));
            set(&detail, "previous", &JsValue::from_str(prev.as_str()));
            events.emit("modechange", &detail);
        }
    }

    /// Records why the fallback is used.
    pub fn set_reason(&self, reason: impl Into<String>) {
        self.reason.replace(Some(reason.into()));
    }

    /// Records why the fallback is used, with its facts.
    pub fn fall_back(&self, reason: &str, detail: &JsValue) {
        debug_assert!(FALLBACK_REASONS.contains(&reason), "{reason}");
        self.reason.replace(Some(reason.to_owned()));
        self.detail.replace(Some(detail.clone()));
    }

    /// `fallbackReason`: why the fallback is in use (`None` in worker mode).
    pub fn reason(&self) -> Option<String> {
        if self.current.get() == Mode::Worker {
            return None;
        }
        if self.forced.get() || self.pref == FallbackPref::Force {
            return Some("forced".to_owned());
        }
        self.reason.borrow().clone()
    }

    /// `fallbackDetail`: the facts behind [`ModeState::reason`], or `null` in worker mode.
    pub fn detail(&self) -> JsValue {
        let Some(reason) = self.reason() else {
            return JsValue::NULL;
        };
        let stored = self.detail.borrow().clone();
        match stored {
            Some(d) if get_string(&d, "reason").as_deref() == Some(reason.as_str()) => d,
            _ => {
                let d = object();
                set(&d, "reason", &JsValue::from_str(&reason));
                d
            }
        }
    }
}
