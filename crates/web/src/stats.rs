//! The page side's counters and the `stats()` object (the worker's part as last reported).

use std::cell::Cell;

use wasm_bindgen::JsValue;

use crate::cache::BlobCache;
use crate::mode::Mode;
use crate::util::{object, set};

/// Counters of the page side.
#[derive(Debug, Default)]
pub struct Counters {
    /// Fallback fetches sent.
    pub fetches: Cell<u64>,
    /// Fallback answers from the object-URL cache (or a shared in-flight fetch).
    pub cache_hits: Cell<u64>,
    /// URLs handed out for downloads.
    pub downloads: Cell<u64>,
    /// URLs handed out for thumbnails.
    pub thumbnails: Cell<u64>,
    /// URLs handed out for the worker (authenticated http URLs).
    pub worker_urls: Cell<u64>,
    /// URLs handed out by the fallback (`blob:` URLs).
    pub fallback_urls: Cell<u64>,
    /// Legacy URLs handed out (server without authenticated media).
    pub legacy_urls: Cell<u64>,
    /// Encrypted attachments the fallback verified and decrypted with WebCrypto.
    pub decrypted_webcrypto: Cell<u64>,
    /// Encrypted attachments the fallback verified and decrypted in wasm.
    pub decrypted_wasm: Cell<u64>,
}

/// Adds one to a counter.
pub fn bump(counter: &Cell<u64>) {
    counter.set(counter.get().saturating_add(1));
}

/// The `stats()` object: `{worker, fallback, byKind, byMode, mode}`.
pub fn stats_object(c: &Counters, cache: &BlobCache, worker: &JsValue, mode: Mode) -> JsValue {
    let out = object();
    set(&out, "worker", worker);
    let fb = object();
    set(&fb, "fetches", &JsValue::from(c.fetches.get() as f64));
    set(&fb, "cacheHits", &JsValue::from(c.cache_hits.get() as f64));
    set(
        &fb,
        "decryptedWebCrypto",
        &JsValue::from(c.decrypted_webcrypto.get() as f64),
    );
    set(
        &fb,
        "decryptedWasm",
        &JsValue::from(c.decrypted_wasm.get() as f64),
    );
    let blobs = cache.budget();
    set(&fb, "evictions", &JsValue::from(blobs.evictions() as f64));
    set(&fb, "bytes", &JsValue::from(blobs.bytes() as f64));
    set(&fb, "objectUrls", &JsValue::from(blobs.len() as f64));
    set(&fb, "budgetBytes", &JsValue::from(blobs.budget() as f64));
    set(&fb, "pinned", &JsValue::from(blobs.pinned() as f64));
    set(
        &fb,
        "inFlight",
        &JsValue::from(cache.limiter().active() as f64),
    );
    set(&out, "fallback", &fb);
    let by = object();
    set(&by, "download", &JsValue::from(c.downloads.get() as f64));
    set(&by, "thumbnail", &JsValue::from(c.thumbnails.get() as f64));
    set(&out, "byKind", &by);
    let bm = object();
    set(&bm, "worker", &JsValue::from(c.worker_urls.get() as f64));
    set(
        &bm,
        "fallback",
        &JsValue::from(c.fallback_urls.get() as f64),
    );
    set(&bm, "legacy", &JsValue::from(c.legacy_urls.get() as f64));
    set(&out, "byMode", &bm);
    set(&out, "mode", &JsValue::from_str(mode.as_str()));
    out
}
