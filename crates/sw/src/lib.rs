//! authmedia-sw: the wasm half of a drop-in service worker that puts the Matrix access token on
//! authenticated media requests (MSC3916, spec v1.11) — and only there.
//!
//! A thin adapter over [`authmedia_core`]: the core decides (is this URL media of this tab's
//! homeserver? which endpoint flavour? what does this error mean?), this crate performs the
//! `fetch`es, keeps per-tab sessions, the negotiation cache, the media store and counters, and
//! talks to tabs. The hand-written entry script `sw/authmedia-sw.js` registers the event
//! listeners and owns the wasm instance (re-instantiating it after a trap).
//!
//! Pure logic lives in [`range`], [`store`], [`sessions`] and [`failures`] and is unit-tested natively; the
//! browser-facing parts are tested inside a real service worker (`wasm-pack test`).
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod asks;
#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
pub mod encrypted;
mod ending;
pub mod failures;
mod flight;
mod js;
mod media;
mod messages;
mod net;
pub mod range;
pub mod registry;
pub mod sessions;
mod settle;
mod state;
pub mod stats;
pub mod store;
mod tab;
mod upstream;
pub mod worker;

pub use worker::AuthMediaWorker;
