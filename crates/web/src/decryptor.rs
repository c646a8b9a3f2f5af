//! The fallback's verification and decryption of encrypted attachments, loaded on demand.
//!
//! In worker mode the worker serves attachments; only the fallback verifies and decrypts them in
//! the page. That code — WebCrypto's digest and AES-CTR with the ciphertext in JS memory, and the
//! core's software AES-256-CTR / SHA-256 where `crypto.subtle` is missing (an insecure context:
//! plain http) or fails — lives in a second, small wasm (crate `authmedia-crypto`,
//! `dist/authmedia_crypto.js` + `dist/authmedia_crypto_bg.wasm`) that the npm loader imports on
//! the first attachment the fallback decrypts, so every other page never downloads it. This
//! module downloads the ciphertext itself (the token stays here) and hands the other one only
//! the bytes.

use crate::cell::RefCell;

use authmedia_core::{AttachmentError, AttachmentSecrets};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::{attachment_error, describe, WebError};

thread_local! {
    /// Set by the npm loader ([`set_decryptor_module`]).
    static LOADER: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Called once by the npm loader with a function that loads the decryption module
/// (`dist/authmedia_crypto.js` and its wasm) and resolves to its `Decryptor` class. The module is
/// fetched only when the fallback decrypts an attachment, so worker-mode pages never download it.
#[wasm_bindgen(js_name = setDecryptorModule)]
pub fn set_decryptor_module(loader: Function) {
    LOADER.with(|l| *l.borrow_mut() = Some(loader));
}

/// The module's `Decryptor` class.
pub(crate) struct DecryptorClass(Function);

impl DecryptorClass {
    /// Loads the module (once per page: the loader keeps its promise; a failed load is tried
    /// again by the next attachment).
    pub(crate) async fn load() -> Result<Self, WebError> {
        let unavailable = |detail: String, cause: Option<JsValue>| {
            let e = WebError::new(
                "wasm_load_failed",
                format!(
                    "could not load the attachment decryption module (dist/authmedia_crypto.js and \
                     dist/authmedia_crypto_bg.wasm, shipped next to the page wasm), which verifies \
                     and decrypts attachments when no service worker serves them (with \
                     crypto.subtle where the page has it, in wasm where it does not): {detail}"
                ),
            )
            .with_reason(AttachmentError::CryptoUnavailable.code());
            match cause {
                Some(c) => e.with_cause(c),
                None => e,
            }
        };
        let loader = LOADER.with(|l| l.borrow().clone()).ok_or_else(|| {
            unavailable(
                "this build was loaded without the npm loader (matrix-authmedia's index.js)".into(),
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
        class
            .dyn_into()
            .map(Self)
            .map_err(|_| unavailable("the module has no Decryptor class".into(), None))
    }

    /// A decryptor for one file: at most `limit` bytes of ciphertext; `expected` is the announced
    /// size (preallocated when it fits).
    pub(crate) fn start(
        &self,
        secrets: &AttachmentSecrets,
        limit: u64,
        expected: Option<u64>,
    ) -> Result<Decryptor, WebError> {
        // Budgets and sizes are far below 2^53: exact as JS numbers.
        let args = Array::of5(
            &Uint8Array::from(secrets.key.as_slice()),
            &Uint8Array::from(secrets.iv.as_slice()),
            &Uint8Array::from(secrets.sha256.as_slice()),
            &JsValue::from_f64(limit as f64),
            &JsValue::from_f64(expected.map_or(f64::NAN, |n| n as f64)),
        );
        Reflect::construct(&self.0, &args)
            .map(|d| Decryptor {
                js: Some(d.unchecked_into()),
                limit,
            })
            .map_err(|e| module_error(&e, limit))
    }
}

#[wasm_bindgen]
extern "C" {
    /// An instance of the module's `Decryptor` class.
    type JsDecryptor;
    #[wasm_bindgen(method, catch)]
    fn push(this: &JsDecryptor, chunk: &Uint8Array) -> Result<(), JsValue>;
    /// Consumes the module's object (its wasm memory is freed).
    #[wasm_bindgen(method, catch)]
    fn finish(this: &JsDecryptor) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method)]
    fn free(this: &JsDecryptor);
}

/// One attachment in the module's decryptor: the byte limit as chunks arrive, the plaintext only
/// after the SHA-256 matched. Its wasm object is freed when this is dropped unfinished.
pub(crate) struct Decryptor {
    /// `None` once [`Decryptor::finish`] handed it over (`finish` consumes the module's object).
    js: Option<JsDecryptor>,
    limit: u64,
}

impl Decryptor {
    /// Feeds the next ciphertext chunk.
    pub(crate) fn push(&self, chunk: &Uint8Array) -> Result<(), WebError> {
        let thrown = match &self.js {
            Some(js) => js.push(chunk).err(),
            None => Some(JsValue::from_str("finished")),
        };
        thrown.map_or(Ok(()), |e| Err(module_error(&e, self.limit)))
    }

    /// The plaintext, and whether wasm (not WebCrypto) decrypted it.
    pub(crate) async fn finish(mut self) -> Result<(Uint8Array, bool), WebError> {
        let limit = self.limit;
        let error = |e: JsValue| module_error(&e, limit);
        let js = self
            .js
            .take()
            .ok_or_else(|| error(JsValue::from_str("finished")))?;
        let out: Array = JsFuture::from(js.finish().map_err(error)?)
            .await
            .and_then(JsCast::dyn_into)
            .map_err(error)?;
        let plain = out.get(0).dyn_into().map_err(error)?;
        Ok((plain, out.get(1).as_bool() == Some(true)))
    }
}

impl Drop for Decryptor {
    fn drop(&mut self) {
        if let Some(js) = &self.js {
            js.free();
        }
    }
}

/// The SDK error for what the module threw: the core's code as a string.
fn module_error(thrown: &JsValue, limit: u64) -> WebError {
    match thrown.as_string().as_deref() {
        Some("hash_mismatch") => attachment_error(&AttachmentError::HashMismatch),
        Some("too_large") => attachment_error(&AttachmentError::TooLarge { limit }),
        _ => WebError::new(
            "internal",
            format!("attachment decryption failed: {}", describe(thrown)),
        )
        .with_cause(thrown.clone()),
    }
}
