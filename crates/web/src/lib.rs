//! authmedia page SDK (`authmedia-web`): shows Matrix authenticated media (MSC3916, spec
//! v1.11) in a web page.
//!
//! When the authmedia service worker controls the page, URLs are the authenticated ones and
//! the worker adds `Authorization`. When no worker can (no service workers, insecure
//! context, first load, hard reload, disabled by policy), the fallback fetches with the
//! token and hands out `blob:` URLs under a byte budget. See `FALLBACK.md`.
//!
//! | module | concern |
//! |---|---|
//! | `sdk` | the `AuthMedia` class (JS `AuthMediaCore`, wrapped by the npm loader) |
//! | `worker` | registration, session handoff, mode detection, the page↔worker protocol |
//! | `diagnose` | why the fallback is used: `fallbackDetail`, the console warning |
//! | `fallback` | authenticated fetch → safe-typed blob → object URL; token refresh |
//! | `encrypted` | `srcEncrypted`: encrypted attachments via the worker or a verified blob |
//! | `mount` | hydrating `[data-mxc]` elements |
//! | `hs_urls` | the homeserver's own media URLs as input (`src()`, `mount(root, {homeserverUrls})`) |
//! | [`budget`] | the byte-budget LRU (pure) |
#![deny(missing_docs)]

pub mod budget;

#[cfg(target_arch = "wasm32")]
mod diagnose;
#[cfg(target_arch = "wasm32")]
mod encrypted;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod fallback;
#[cfg(target_arch = "wasm32")]
mod hs_urls;
#[cfg(target_arch = "wasm32")]
mod limiter;
#[cfg(target_arch = "wasm32")]
mod mount;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
pub mod sdk;
#[cfg(target_arch = "wasm32")]
mod util;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
