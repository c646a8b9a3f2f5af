//! Encrypted attachments on the page: `srcEncrypted(encryptedFile, { mimetype })`.
//!
//! Spec v1.11, "Sending encrypted attachments"
//! (<https://spec.matrix.org/v1.11/client-server-api/#sending-encrypted-attachments>): the
//! ciphertext is downloaded from `file.url` with the token, its SHA-256 is checked over the whole
//! body, and only then is any plaintext handed out.
//!
//! * **Worker mode**: the file is registered with the worker under a random id
//!   (`authmedia:encrypted`, PROTOCOL.md); the worker answers with a same-origin URL under
//!   its scope (`<scope>authmedia/encrypted/<id>`) that it serves itself: download, verify,
//!   decrypt, safe type, ranges from the verified plaintext. The page keeps `{id → file}` in
//!   memory so a restarted worker can ask for it again (`authmedia:need-encrypted`, answered by
//!   the page's dispatcher in `dispatch.rs` from [`Encrypted::message`]).
//! * **Fallback** (`fallback.rs`, `Media::Encrypted`): the page downloads with `Authorization`
//!   and hands the ciphertext, chunk by chunk, to the decryption module loaded on first use
//!   (`decryptor.rs`: WebCrypto's native SHA-256/AES-CTR with the ciphertext in JS memory in
//!   secure contexts, else the core's software crypto); nothing released before the hash matched
//!   — and hands out a `blob:` URL of a safe type under the same byte-budget LRU as other media,
//!   keyed by the registry id.
//!
//! Keys live only in memory: the registry is dropped at logout with every object URL.

use crate::cell::RefCell;
use authmedia_js::protocol;

use authmedia_core::EncryptedFile;
use authmedia_js::wire_to_js;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::channel::{ask, container};
use crate::error::WebError;
use crate::util::{get, get_string, object, set, try_get};

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
pub struct Encrypted {
    entries: RefCell<Vec<Entry>>,
}

impl Encrypted {
    /// Forgets every key (logout).
    pub fn clear(&self) {
        self.entries.borrow_mut().clear();
    }

    /// The registry id of `file` (the same id for the same file and type).
    pub fn remember(
        &self,
        file: &EncryptedFile,
        mimetype: Option<&str>,
    ) -> Result<String, WebError> {
        let mut entries = self.entries.borrow_mut();
        if let Some(e) = entries
            .iter()
            .find(|e| e.file == *file && e.mimetype.as_deref() == mimetype)
        {
            return Ok(e.id.clone());
        }
        let id = random_id()?;
        if entries.len() >= MAX_FILES {
            entries.remove(0);
        }
        entries.push(Entry {
            id: id.clone(),
            file: file.clone(),
            js: wire_to_js(&file.to_wire()),
            mimetype: mimetype.map(str::to_owned),
        });
        Ok(id)
    }

    /// The `authmedia:encrypted` message of an entry: what registers it with the worker, and the
    /// answer to the worker's `authmedia:need-encrypted {id}`.
    pub fn message(&self, id: &str) -> Option<JsValue> {
        let entries = self.entries.borrow();
        let e = entries.iter().find(|e| e.id == id)?;
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
    pub async fn register(&self, id: &str) -> Option<String> {
        let controller = container().ok()?.controller()?;
        let msg = self.message(id)?;
        let answer = ask(&controller, &msg, REGISTER_TIMEOUT_MS).await?;
        if get(&answer, "ok").as_bool() != Some(true) {
            return None;
        }
        get_string(&answer, "url")
    }
}

/// `srcEncrypted`'s options: `{ mimetype? }`.
pub fn mimetype_option(options: &JsValue) -> Result<Option<String>, WebError> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() || options.is_function() {
        return Err(WebError::invalid_argument(
            "srcEncrypted options must be an object",
        ));
    }
    let m = try_get(options, "mimetype")?;
    match m.as_string() {
        None if m.is_undefined() || m.is_null() => Ok(None),
        None => Err(WebError::invalid_argument(
            "options.mimetype must be a string",
        )),
        name => Ok(name),
    }
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
