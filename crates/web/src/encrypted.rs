//! Encrypted attachments on the page: `srcEncrypted(encryptedFile, { mimetype })`.
//!
//! Spec v1.11, "Sending encrypted attachments"
//! (<https://spec.matrix.org/v1.11/client-server-api/#sending-encrypted-attachments>): the
//! ciphertext is downloaded from `file.url` with the token, its SHA-256 is checked over the whole
//! body, and only then is any plaintext handed out.
//!
//! * **Worker mode**: the file is registered with the worker under a random id
//!   (`authmedia:encrypted`, ARCHITECTURE.md); the worker answers with a same-origin URL under
//!   its scope (`<scope>authmedia/encrypted/<id>`) that it serves itself: download, verify,
//!   decrypt, safe type, ranges from the verified plaintext. The page keeps `{id → file}` in
//!   memory so a restarted worker can ask for it again (`authmedia:need-encrypted`).
//! * **Fallback**: the page downloads with `Authorization`, verifies and decrypts — with WebCrypto
//!   in secure contexts ([`authmedia_js::webcrypto`]: native SHA-256/AES-CTR, ciphertext in JS
//!   memory), else chunk by chunk in the software crypto module (`authmedia-crypto`, a second
//!   small wasm the npm loader fetches on first use, see [`SoftwareDecryptor`]); nothing released
//!   before the hash matched — and hands out a `blob:` URL of a safe type under the same
//!   byte-budget LRU as other media.
//!
//! Keys live only in memory: the registry is dropped at logout with every object URL.

use authmedia_js::protocol;
use std::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{AttachmentError, AttachmentSecrets, EncryptedFile, MediaRequest};
use authmedia_js::webcrypto::{self, Ciphertext};
use authmedia_js::{file_from_js, wire_to_js};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Blob, BlobPropertyBag, MessageEvent};

use crate::error::{describe, WebError};
use crate::fallback::{admit_blob, content_length, for_each_chunk};
use crate::sdk::{Inner, Mode};
use crate::util::{get, get_string, object, set, try_get, window};
use authmedia_core::safe_content_type as safe_blob_type;

/// At most this many files are remembered for the worker (the oldest is forgotten first; a
/// forgotten id answers 404 and the page can call `srcEncrypted` again).
const MAX_FILES: usize = 1024;
/// How long to wait for the worker to accept a registration.
const REGISTER_TIMEOUT_MS: i32 = 2_000;

/// One file handed to `srcEncrypted`.
struct Entry {
    id: String,
    file: EncryptedFile,
    /// The validated file in its canonical wire shape, as a fresh JS object: what the worker is
    /// sent (again after a restart). Never the caller's object, which may change after the check.
    js: JsValue,
    mimetype: Option<String>,
}

/// `{id → EncryptedFile}` of this session, in memory only.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
    listening: bool,
}

impl Registry {
    /// Forgets every key (logout).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn find(&self, file: &EncryptedFile, mimetype: Option<&str>) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.file == *file && e.mimetype.as_deref() == mimetype)
    }

    fn by_id(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

/// The SDK error for an attachment error: `hash_mismatch` for a tampered or truncated
/// ciphertext, `over_budget` for one too large, `invalid_argument` for a bad file.
pub fn attachment_error(e: &AttachmentError) -> WebError {
    let code = match e {
        AttachmentError::HashMismatch => "hash_mismatch",
        AttachmentError::TooLarge { .. } => "over_budget",
        _ => "invalid_argument",
    };
    WebError::new(code, format!("encrypted attachment: {e}")).with_reason(e.code())
}

/// A random registry id: 128 bits from `crypto.getRandomValues`, as 32 hex digits. Not
/// `crypto.randomUUID`: that exists only in secure contexts, and the fallback is for insecure
/// ones too (plain http), where `srcEncrypted` must work as well.
fn random_id() -> Result<String, WebError> {
    let crypto = get(&js_sys::global(), "crypto");
    let bytes = Uint8Array::new_with_length(16);
    let filled = get(&crypto, "getRandomValues")
        .dyn_into::<js_sys::Function>()
        .ok()
        .and_then(|f| f.call1(&crypto, &bytes).ok());
    if filled.is_none() {
        return Err(WebError::new(
            "unsupported",
            "crypto.getRandomValues is not available",
        ));
    }
    Ok(bytes
        .to_vec()
        .iter()
        .fold(String::with_capacity(32), |mut id, b| {
            for nibble in [b >> 4, b & 15] {
                id.extend(char::from_digit(u32::from(nibble), 16));
            }
            id
        }))
}

// ----- the software crypto, loaded on demand ---------------------------------------------------

thread_local! {
    /// Set by the npm loader ([`set_software_crypto`]).
    static SOFTWARE_CRYPTO: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Called once by the npm loader with a function that loads the software crypto module
/// (`dist/authmedia_crypto.js` and its wasm) and resolves to its `SoftwareDecryptor` class. The
/// module is fetched only when an attachment must be decrypted without WebCrypto, so the pages
/// that never need AES and SHA-256 in wasm (every secure context) never download them.
#[wasm_bindgen(js_name = setSoftwareCrypto)]
pub fn set_software_crypto(loader: Function) {
    SOFTWARE_CRYPTO.with(|l| *l.borrow_mut() = Some(loader));
}

/// One attachment in the on-demand module's streaming decryptor (the core's
/// `AttachmentDecryptor`): the byte limit as chunks arrive, the plaintext only after the SHA-256
/// matched. Its wasm object is freed when this is dropped, whatever happened.
pub(crate) struct SoftwareDecryptor(JsValue);

impl SoftwareDecryptor {
    /// Loads the module (once per page: the loader keeps its promise) and starts a decryption.
    async fn start(secrets: &AttachmentSecrets, limit: u64) -> Result<Self, WebError> {
        let unavailable = |detail: String, cause: Option<JsValue>| {
            let e = WebError::new(
                "wasm_load_failed",
                format!(
                    "could not load the software crypto module (dist/authmedia_crypto.js and \
                     dist/authmedia_crypto_bg.wasm, shipped next to the page wasm), which decrypts \
                     attachments where crypto.subtle is missing (an insecure context: plain http): {detail}"
                ),
            )
            .with_reason(AttachmentError::CryptoUnavailable.code());
            match cause {
                Some(c) => e.with_cause(c),
                None => e,
            }
        };
        let loader = SOFTWARE_CRYPTO
            .with(|l| l.borrow().clone())
            .ok_or_else(|| {
                unavailable(
                    "this build was loaded without the npm loader (matrix-authmedia's index.js)"
                        .into(),
                    None,
                )
            })?;
        let class = match loader
            .call0(&JsValue::UNDEFINED)
            .map(|p| Promise::resolve(&p))
        {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        }
        .map_err(|e| unavailable(describe(&e), Some(e)))?;
        let class: Function = class
            .dyn_into()
            .map_err(|_| unavailable("the module has no SoftwareDecryptor class".into(), None))?;
        let args = Array::of4(
            &Uint8Array::from(secrets.key.as_slice()),
            &Uint8Array::from(secrets.iv.as_slice()),
            &Uint8Array::from(secrets.sha256.as_slice()),
            // Budgets are far below 2^53: exact as a JS number.
            &JsValue::from_f64(limit as f64),
        );
        Reflect::construct(&class, &args)
            .map(Self)
            .map_err(|e| software_error(&e, limit))
    }

    fn call(&self, method: &str, args: &Array, limit: u64) -> Result<JsValue, WebError> {
        let f: Function = get(&self.0, method)
            .dyn_into()
            .map_err(|e| software_error(&e, limit))?;
        Reflect::apply(&f, &self.0, args).map_err(|e| software_error(&e, limit))
    }

    fn push(&self, chunk: &Uint8Array, limit: u64) -> Result<(), WebError> {
        self.call("push", &Array::of1(chunk), limit).map(drop)
    }

    fn finish(&self, limit: u64) -> Result<Uint8Array, WebError> {
        self.call("finish", &Array::new(), limit)?
            .dyn_into()
            .map_err(|e| software_error(&e, limit))
    }
}

impl Drop for SoftwareDecryptor {
    fn drop(&mut self) {
        if let Ok(free) = get(&self.0, "free").dyn_into::<Function>() {
            let _ = free.call0(&self.0);
        }
    }
}

/// The SDK error for what the software decryptor threw: the core's code as a string.
fn software_error(thrown: &JsValue, limit: u64) -> WebError {
    match thrown.as_string().as_deref() {
        Some("hash_mismatch") => attachment_error(&AttachmentError::HashMismatch),
        Some("too_large") => attachment_error(&AttachmentError::TooLarge { limit }),
        _ => WebError::new(
            "internal",
            format!("software crypto failed: {}", describe(thrown)),
        )
        .with_cause(thrown.clone()),
    }
}

// ----- the entry point ------------------------------------------------------------------------

impl Inner {
    /// `srcEncrypted`: a URL for `img`/`video` showing the decrypted attachment.
    pub async fn src_encrypted(
        self: &Rc<Self>,
        file: JsValue,
        options: JsValue,
    ) -> Result<String, JsValue> {
        let parsed = file_from_js(&file).map_err(|e| attachment_error(&e))?;
        let mimetype = if options.is_undefined() || options.is_null() {
            None
        } else if options.is_object() && !options.is_function() {
            let m = try_get(&options, "mimetype")?;
            match m.as_string() {
                None if m.is_undefined() || m.is_null() => None,
                None => {
                    return Err(
                        WebError::invalid_argument("options.mimetype must be a string").into(),
                    )
                }
                name => name,
            }
        } else {
            return Err(
                WebError::invalid_argument("srcEncrypted options must be an object").into(),
            );
        };
        self.encrypted_src(&parsed, mimetype.as_deref(), false)
            .await
            .map(|(url, _)| url)
    }

    /// The URL of a validated file (shared by `srcEncrypted` and `mount`'s `data-encrypted`):
    /// the worker's URL, or a `blob:` URL and its cache key, pinned when `pin`.
    pub(crate) async fn encrypted_src(
        self: &Rc<Self>,
        file: &EncryptedFile,
        mimetype: Option<&str>,
        pin: bool,
    ) -> Result<(String, Option<String>), JsValue> {
        self.token()?;
        let id = self.remember(file, mimetype)?;
        if self.mode.get() == Mode::Worker {
            if let Some(url) = self.register_encrypted(&id).await {
                let mut c = self.counters.borrow_mut();
                c.worker_urls = c.worker_urls.saturating_add(1);
                return Ok((url, None));
            }
        }
        let key = format!("encrypted:{id}");
        let url = self.encrypted_blob(&key, file, mimetype, pin).await?;
        let mut c = self.counters.borrow_mut();
        c.fallback_urls = c.fallback_urls.saturating_add(1);
        Ok((url, Some(key)))
    }

    /// The registry id of `file` (the same id for the same file and type).
    fn remember(
        self: &Rc<Self>,
        file: &EncryptedFile,
        mimetype: Option<&str>,
    ) -> Result<String, WebError> {
        let mut reg = self.encrypted.borrow_mut();
        if let Some(e) = reg.find(file, mimetype) {
            return Ok(e.id.clone());
        }
        let id = random_id()?;
        if reg.entries.len() >= MAX_FILES {
            reg.entries.remove(0);
        }
        reg.entries.push(Entry {
            id: id.clone(),
            file: file.clone(),
            js: wire_to_js(&file.to_wire()),
            mimetype: mimetype.map(str::to_owned),
        });
        Ok(id)
    }

    /// The `authmedia:encrypted` / `authmedia:need-encrypted` payload of an entry.
    fn encrypted_message(&self, id: &str) -> Option<JsValue> {
        let reg = self.encrypted.borrow();
        let e = reg.by_id(id)?;
        let m = object();
        set(&m, "type", &JsValue::from_str(protocol::ENCRYPTED));
        set(&m, "id", &JsValue::from_str(&e.id));
        set(&m, "file", &e.js);
        set(
            &m,
            "mimetype",
            &e.mimetype
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        );
        Some(m)
    }

    /// Registers `id` with the controlling worker; its URL, or `None` when the worker cannot
    /// serve it (no controller, an older worker, no answer): the caller falls back.
    async fn register_encrypted(self: &Rc<Self>, id: &str) -> Option<String> {
        let container = get(&window().ok()?.navigator(), "serviceWorker");
        let controller: web_sys::ServiceWorker = get(&container, "controller").dyn_into().ok()?;
        self.listen_need_encrypted(&container);
        let msg = self.encrypted_message(id)?;
        let answer = crate::worker::ask(&controller, &msg, REGISTER_TIMEOUT_MS).await?;
        if get(&answer, "ok").as_bool() != Some(true) {
            return None;
        }
        get_string(&answer, "url")
    }

    /// Answers `authmedia:need-encrypted {id}` from a restarted worker (once per session).
    fn listen_need_encrypted(self: &Rc<Self>, container: &JsValue) {
        let Ok(target) = container.clone().dyn_into::<web_sys::EventTarget>() else {
            return;
        };
        if std::mem::replace(&mut self.encrypted.borrow_mut().listening, true) {
            return;
        }
        let me = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else {
                return;
            };
            let data = ev.data();
            if get_string(&data, "type").as_deref() != Some(protocol::NEED_ENCRYPTED) {
                return;
            }
            // Keys go to this SDK's own worker only (see `is_our_worker`).
            let source = ev.source();
            if !me
                .upgrade()
                .is_some_and(|me| me.is_our_worker(source.as_ref()))
            {
                return;
            }
            let Ok(port) = ev.ports().get(0).dyn_into::<web_sys::MessagePort>() else {
                return;
            };
            // Only the instance that registered the id answers: several instances of a tab all
            // hear the question, and the worker takes the first answer.
            let answer = me
                .upgrade()
                .filter(|me| !me.logged_out.get())
                .and_then(|me| me.encrypted_message(&get_string(&data, "id")?));
            if let Some(reply) = answer {
                let _ = port.post_message(&reply);
            }
        });
        self.on(&target, "message", on_message);
    }

    /// The fallback: an object URL of the verified plaintext, cached under the byte budget;
    /// concurrent callers share one download.
    async fn encrypted_blob(
        self: &Rc<Self>,
        key: &str,
        file: &EncryptedFile,
        mimetype: Option<&str>,
        pin: bool,
    ) -> Result<String, JsValue> {
        for _ in 0..3 {
            if let Some(u) = self.blobs.borrow_mut().get(key, pin) {
                let mut c = self.counters.borrow_mut();
                c.cache_hits = c.cache_hits.saturating_add(1);
                return Ok(u);
            }
            let existing = self.inflight.borrow().get(key).cloned();
            let promise = match existing {
                Some(p) => p,
                None => {
                    let me = Rc::clone(self);
                    let (k, f, t) = (key.to_owned(), file.clone(), mimetype.map(str::to_owned));
                    let p: Promise = future_to_promise(async move {
                        let r = me.load_encrypted(&k, &f, t.as_deref()).await;
                        me.inflight.borrow_mut().remove(&k);
                        r.map(|()| JsValue::TRUE).map_err(JsValue::from)
                    });
                    self.inflight.borrow_mut().insert(key.to_owned(), p.clone());
                    p
                }
            };
            JsFuture::from(promise).await?;
        }
        Err(WebError::new(
            "over_budget",
            "the media was evicted before it could be shown (budget too small for the page)",
        )
        .into())
    }

    async fn load_encrypted(
        self: &Rc<Self>,
        key: &str,
        file: &EncryptedFile,
        mimetype: Option<&str>,
    ) -> Result<(), WebError> {
        let limit = self.opts.budget_bytes;
        // Insecure contexts have no `crypto.subtle`: the software module streams it, loaded
        // before the download so a module that cannot load costs no download.
        let software = match webcrypto::subtle() {
            Some(subtle) => Err(subtle),
            None => Ok(SoftwareDecryptor::start(&file.secrets, limit).await?),
        };
        let _permit = self.limiter.acquire().await;
        {
            let mut c = self.counters.borrow_mut();
            c.fetches = c.fetches.saturating_add(1);
        }
        let url = self.url(&file.url, &MediaRequest::Download { filename: None });
        let (resp, mut deadline) = self.authed_fetch_timed(&url).await?;
        let bytes = match software {
            Err(subtle) => {
                // Secure contexts: WebCrypto's native SHA-256/AES, ciphertext in JS memory.
                let mut ciphertext = Ciphertext::new(content_length(&resp), limit);
                for_each_chunk(&resp, Some(&mut deadline), |chunk| {
                    ciphertext.push(&chunk).map_err(|e| attachment_error(&e))
                })
                .await?;
                match webcrypto::with_webcrypto(&subtle, &file.secrets, ciphertext)
                    .await
                    .map_err(|e| attachment_error(&e))?
                {
                    Ok(plain) => {
                        self.counters.borrow_mut().decrypted_webcrypto += 1;
                        Uint8Array::new(&plain)
                    }
                    Err(ciphertext) => {
                        // The engine failed at the crypto: the software module verifies and
                        // decrypts the collected bytes instead.
                        let d = SoftwareDecryptor::start(&file.secrets, limit).await?;
                        d.push(&ciphertext, limit)?;
                        let plain = d.finish(limit)?;
                        self.counters.borrow_mut().decrypted_wasm += 1;
                        plain
                    }
                }
            }
            Ok(d) => {
                for_each_chunk(&resp, Some(&mut deadline), |chunk| d.push(&chunk, limit)).await?;
                let plain = d.finish(limit)?;
                self.counters.borrow_mut().decrypted_wasm += 1;
                plain
            }
        };
        if self.logged_out.get() {
            return Err(WebError::new("logged_out", "logged out while loading"));
        }
        let bag = BlobPropertyBag::new();
        bag.set_type(safe_blob_type(mimetype));
        let blob = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&bytes), &bag)
            .map_err(WebError::network)?;
        admit_blob(self, key, &blob).map(drop)
    }
}
