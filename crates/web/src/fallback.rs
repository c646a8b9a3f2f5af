//! The fallback: `fetch` with `Authorization` (through `request.rs`) → `Blob` (safe type) →
//! object URL in the byte-budget LRU (`cache.rs`), with shared in-flight fetches, a concurrency
//! bound and progress events — for media and for encrypted attachments, whose ciphertext the
//! on-demand module (`decryptor.rs`) verifies and decrypts; and `download()`'s file saving. What the LRU evicts is returned
//! to the caller, never acted on here.

use crate::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{EncryptedFile, MediaRequest, MxcUri};
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, Response, Url};

use crate::cache::BlobCache;
use crate::decryptor::DecryptorClass;
use crate::error::WebError;
use crate::events::Events;
use crate::limiter::Permit;
use crate::request::{content_length, for_each_chunk, send, Deadline, Target};
use crate::session::Session;
use crate::stats::{bump, Counters};
use crate::util::{object, promise, set, window};
use authmedia_core::safe_content_type as safe_blob_type;

/// Progress events are emitted at most once per this many bytes (and at the end).
const PROGRESS_STEP: f64 = 256.0 * 1024.0;

/// The fallback of one instance: its object URLs, counters and downloads.
pub struct Fallback {
    /// The session whose token the fetches carry.
    pub session: Rc<Session>,
    /// The instance's events (`progress`, `error` and the others the instance emits).
    pub events: Events,
    /// Object URLs by request key, loads in flight, the concurrency bound.
    pub cache: BlobCache,
    /// Counters (also those of the URLs handed out in worker mode).
    pub counters: Counters,
    /// The byte budget (`budgetBytes`): no single body may exceed it.
    pub budget_bytes: u64,
    /// Object URLs `download()` handed to a temporary `<a download>`: revoked by their timer or,
    /// at the latest, by `logout()`.
    downloads: RefCell<Vec<String>>,
}

impl Fallback {
    /// An empty fallback for `session`.
    pub fn new(
        session: Rc<Session>,
        events: Events,
        budget_bytes: u64,
        concurrency: usize,
    ) -> Self {
        Self {
            session,
            events,
            cache: BlobCache::new(budget_bytes, concurrency),
            counters: Counters::default(),
            budget_bytes,
            downloads: RefCell::new(Vec::new()),
        }
    }

    /// Revokes every object URL this fallback handed out (logout, dispose).
    pub fn clear(&self) {
        self.cache.clear();
        for u in self.downloads.borrow_mut().drain(..) {
            let _ = Url::revoke_object_url(&u);
        }
    }

    /// An object URL for `media`, cached under `key` (pinned when `pin`); concurrent
    /// callers share one fetch. What the LRU evicted to make room is the caller's to take
    /// ([`BlobCache::take_evicted`]), also when this fails.
    pub async fn blob_url(
        self: &Rc<Self>,
        key: String,
        media: &Media,
        pin: bool,
    ) -> Result<String, JsValue> {
        for attempt in 0..3 {
            if let Some(u) = self.cache.get(&key, pin) {
                if attempt == 0 {
                    bump(&self.counters.cache_hits);
                }
                return Ok(u);
            }
            let promise = match self.cache.inflight(&key) {
                Some(p) => {
                    if attempt == 0 {
                        bump(&self.counters.cache_hits);
                    }
                    p
                }
                None => {
                    let p = promise(Box::pin(load(Rc::clone(self), key.clone(), media.clone())));
                    self.cache.started(&key, &p);
                    p
                }
            };
            JsFuture::from(promise).await?;
            // Loop: take the URL from the cache (pinning it) in this same task.
        }
        Err(WebError::new(
            "over_budget",
            "the media was evicted before it could be shown (budget too small for the page)",
        )
        .into())
    }

    /// Puts `blob` into the LRU under `key`; what a shared load resolves with.
    pub fn admit(&self, key: &str, blob: &Blob) -> Result<JsValue, WebError> {
        self.cache.admit(key, blob)?;
        Ok(JsValue::TRUE)
    }

    /// Fetches `mxc` fully and saves it under `filename` through a temporary `<a download>`.
    pub async fn save_file(
        self: &Rc<Self>,
        mxc: &MxcUri,
        filename: Option<String>,
    ) -> Result<(), JsValue> {
        let req = MediaRequest::Download {
            filename: filename.clone(),
        };
        let (resp, mut deadline) = if self.session.api().is_authenticated() {
            let (resp, deadline) =
                send(&self.session, &self.events, Target::Media(mxc, &req)).await?;
            (resp, Some(deadline))
        } else {
            let url = self.session.url(mxc, &req);
            let p = window()?.fetch_with_str(url.as_str());
            let resp = JsFuture::from(p)
                .await
                .map_err(WebError::network)?
                .dyn_into::<Response>()?;
            (resp, None)
        };
        let blob = read_body(self, resp, &mxc.to_string(), None, deadline.as_mut(), None).await?;
        // The anchor first: nothing that can fail lies between creating the object URL and
        // recording it for its revocation.
        let doc = window()?
            .document()
            .ok_or_else(|| WebError::new("unsupported", "no document"))?;
        let a: web_sys::HtmlAnchorElement = doc.create_element("a")?.dyn_into()?;
        let object_url = Url::create_object_url_with_blob(&blob)?;
        a.set_href(&object_url);
        a.set_download(filename.as_deref().unwrap_or(mxc.media_id().as_str()));
        a.click();
        // Give the browser time to start the download before the URL goes away; `logout()`
        // revokes it earlier.
        self.downloads.borrow_mut().push(object_url.clone());
        let u = object_url.clone();
        let me = Rc::clone(self);
        let revoke = Closure::once_into_js(move || {
            let _ = Url::revoke_object_url(&u);
            me.downloads.borrow_mut().retain(|d| *d != u);
        });
        let _ = window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
        Ok(())
    }
}

/// Reads a response body into a safe-typed `Blob`, emitting progress; stops early when
/// `limit` is given and exceeded, and with `timeout` when `deadline` is given and no chunk
/// arrives in time. `slot` (the fetch's place in the concurrency bound) is handed on as soon as
/// the last byte is in, before the `Blob` is built.
pub async fn read_body(
    fallback: &Fallback,
    resp: Response,
    mxc: &str,
    limit: Option<u64>,
    deadline: Option<&mut Deadline>,
    slot: Option<Permit>,
) -> Result<Blob, WebError> {
    let ct = resp.headers().get("Content-Type").ok().flatten();
    let safe = safe_blob_type(ct.as_deref());
    let total = content_length(&resp);
    let too_large = |n: u64| {
        WebError::new(
            "over_budget",
            format!("the media ({n} bytes) is larger than the fallback budget ({} bytes); use download()", fallback.budget_bytes),
        )
        .with_reason("exceeds_budget")
    };
    if let (Some(l), Some(t)) = (limit, total) {
        if t > l {
            if let Some(body) = resp.body() {
                let _ = body.cancel();
            }
            return Err(too_large(t));
        }
    }
    let chunks = Array::new();
    let mut loaded: f64 = 0.0;
    let mut next_report = PROGRESS_STEP;
    for_each_chunk(&resp, deadline, &mut |chunk| {
        loaded += f64::from(chunk.byte_length());
        chunks.push(&chunk);
        if let Some(l) = limit {
            if loaded > l as f64 {
                return Err(too_large(loaded as u64));
            }
        }
        if loaded >= next_report {
            next_report = loaded + PROGRESS_STEP;
            progress(&fallback.events, mxc, loaded, total);
        }
        Ok(())
    })
    .await?;
    hand_on(slot).await;
    progress(&fallback.events, mxc, loaded, total);
    let bag = BlobPropertyBag::new();
    bag.set_type(safe);
    Blob::new_with_u8_array_sequence_and_options(&chunks, &bag).map_err(WebError::network)
}

/// Releases `slot`, if any, and lets the fetch waiting for it start before this task goes on:
/// building the `Blob` and its object URL are synchronous calls into the browser that do not use
/// the network, and a waiting fetch would otherwise start only after them.
async fn hand_on(slot: Option<Permit>) {
    if let Some(slot) = slot {
        drop(slot);
        let _ = JsFuture::from(Promise::resolve(&JsValue::UNDEFINED)).await;
    }
}

fn progress(events: &Events, mxc: &str, loaded: f64, total: Option<u64>) {
    let d = object();
    set(&d, "mxc", &JsValue::from_str(mxc));
    set(&d, "loaded", &JsValue::from(loaded));
    set(
        &d,
        "total",
        &total.map_or(JsValue::NULL, |t| JsValue::from(t as f64)),
    );
    events.emit("progress", &d);
}

/// What [`Fallback::blob_url`] shows.
#[derive(Clone)]
pub enum Media {
    /// Media of the homeserver.
    Plain(MxcUri, MediaRequest),
    /// An encrypted attachment and its declared type (`info.mimetype`).
    Encrypted(EncryptedFile, Option<String>),
}

/// The shared fetch behind [`Fallback::blob_url`]: fetch, read (or verify and decrypt), admit
/// into the LRU.
async fn load(fallback: Rc<Fallback>, key: String, media: Media) -> Result<JsValue, JsValue> {
    let result = match fetch_blob(&fallback, &media).await {
        Ok(_) if fallback.session.ended() => {
            Err(WebError::new("logged_out", "logged out while loading"))
        }
        Ok(blob) => fallback.admit(&key, &blob),
        Err(e) => Err(e),
    };
    fallback.cache.finished(&key);
    result.map_err(JsValue::from)
}

/// One download, media and encrypted attachments alike (one slot of the concurrency bound, the
/// request through the gate), into a safe-typed blob: the body as it is, or the plaintext the
/// on-demand module ([`DecryptorClass`]) verified and decrypted.
async fn fetch_blob(fallback: &Fallback, media: &Media) -> Result<Blob, WebError> {
    let limit = fallback.budget_bytes;
    let download = MediaRequest::Download { filename: None };
    let (mxc, req, decrypt) = match media {
        Media::Plain(mxc, req) => (mxc, req, None),
        // The module is loaded before the download, so that one which cannot load costs none.
        Media::Encrypted(file, mimetype) => (
            &file.url,
            &download,
            Some((DecryptorClass::load().await?, file, mimetype)),
        ),
    };
    let slot = fallback.cache.limiter().acquire().await;
    bump(&fallback.counters.fetches);
    let (resp, mut deadline) =
        send(&fallback.session, &fallback.events, Target::Media(mxc, req)).await?;
    let Some((module, file, mimetype)) = decrypt else {
        return read_body(
            fallback,
            resp,
            &mxc.to_string(),
            Some(limit),
            Some(&mut deadline),
            Some(slot),
        )
        .await;
    };
    let decryptor = module.start(&file.secrets, limit, content_length(&resp))?;
    // The slot is kept through the decryption: it bounds the ciphertexts held at once.
    for_each_chunk(&resp, Some(&mut deadline), &mut |chunk| {
        decryptor.push(&chunk)
    })
    .await?;
    let (bytes, in_wasm) = decryptor.finish().await?;
    drop(slot);
    bump(if in_wasm {
        &fallback.counters.decrypted_wasm
    } else {
        &fallback.counters.decrypted_webcrypto
    });
    let bag = BlobPropertyBag::new();
    bag.set_type(safe_blob_type(mimetype.as_deref()));
    Blob::new_with_u8_array_sequence_and_options(&Array::of1(&bytes), &bag)
        .map_err(WebError::network)
}
