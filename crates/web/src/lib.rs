//! authmedia page SDK (`authmedia-web`): shows Matrix authenticated media (MSC3916, spec
//! v1.11) in a web page.
//!
//! When the authmedia service worker controls the page, URLs are the authenticated ones and
//! the worker adds `Authorization`. When no worker can (no service workers, insecure
//! context, first load, hard reload, disabled by policy), the fallback fetches with the
//! token and hands out `blob:` URLs under a byte budget. See `FALLBACK.md`.
//!
//! Modules, one concern each, in a one-way graph (facade → instance → parts → helpers; `node
//! scripts/check-imports.mjs --print` shows it):
//!
//! | module | concern |
//! |---|---|
//! | `sdk` | the `AuthMedia` class (JS `AuthMediaCore`, wrapped by the npm loader): a thin facade |
//! | `worker` | registration, session handoff, logout and resume |
//! | `dispatch` | the tab's holders of the worker's session; the page's one listener of worker → page messages |
//! | `hs_urls` | the homeserver's own media URLs as input (`src()`, `mount(root, {homeserverUrls})`) |
//! | `inner` | one instance as owned parts; URLs in the current mode; the mount code's media source |
//! | `mount`, `hydrate`, `element`, `records` | hydrating `[data-mxc]`/`[data-encrypted]` elements: observers, loads, what an element shows, the records |
//! | `source` | the media-source interface the mount code talks to |
//! | `encrypted` | `srcEncrypted`: the registry of encrypted attachments, their registration with the worker |
//! | `decryptor` | the fallback's attachment decryptor, a second wasm loaded on first use (`dist/authmedia_crypto*`) |
//! | `fallback` | authenticated fetch → safe-typed blob → object URL (media and decrypted attachments); `download()` |
//! | `cache` | the object-URL LRU, shared loads, the concurrency bound; evictions returned |
//! | `request` | one authenticated request: the gate before every attempt, the core's lifecycle, the one token-setting fetch |
//! | `session` | homeserver, user, token, API, abort signal, token refresh; the gate |
//! | `channel` | the page's end of the page ↔ worker channel (ask, our workers, tokens, stats) |
//! | `mode` | worker or fallback, and why |
//! | `diagnose` | why the fallback is used: the facts behind `fallbackDetail` |
//! | `events`, `stats`, `args`, `options`, `error`, `util`, `limiter` | small leaves |
//! | [`budget`] | the byte-budget LRU (pure) |
//! | [`by_id`] | values by growing id in a sorted `Vec`: the mounted elements' records (pure) |
#![deny(missing_docs)]

pub mod budget;
pub mod by_id;

#[cfg(target_arch = "wasm32")]
mod args;
#[cfg(target_arch = "wasm32")]
mod cache;
#[cfg(target_arch = "wasm32")]
mod cell;
#[cfg(target_arch = "wasm32")]
mod channel;
#[cfg(target_arch = "wasm32")]
mod decryptor;
#[cfg(target_arch = "wasm32")]
mod diagnose;
#[cfg(target_arch = "wasm32")]
mod dispatch;
#[cfg(target_arch = "wasm32")]
mod element;
#[cfg(target_arch = "wasm32")]
mod encrypted;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod events;
#[cfg(target_arch = "wasm32")]
mod fallback;
#[cfg(target_arch = "wasm32")]
mod hs_urls;
#[cfg(target_arch = "wasm32")]
mod hydrate;
#[cfg(target_arch = "wasm32")]
mod inner;
#[cfg(target_arch = "wasm32")]
mod limiter;
#[cfg(target_arch = "wasm32")]
mod mode;
#[cfg(target_arch = "wasm32")]
mod mount;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
mod records;
#[cfg(target_arch = "wasm32")]
mod request;
#[cfg(target_arch = "wasm32")]
pub mod sdk;
#[cfg(target_arch = "wasm32")]
mod session;
#[cfg(target_arch = "wasm32")]
mod source;
#[cfg(target_arch = "wasm32")]
mod stats;
#[cfg(target_arch = "wasm32")]
mod util;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
