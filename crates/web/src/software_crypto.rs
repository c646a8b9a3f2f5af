//! The software AES-256-CTR / SHA-256 of encrypted attachments, loaded on demand.
//!
//! Only a page without `crypto.subtle` (an insecure context: plain http), or one whose engine
//! fails at the crypto, needs them. They live in a second, small wasm (crate `authmedia-crypto`,
//! `dist/authmedia_crypto.js` + `dist/authmedia_crypto_bg.wasm`) that the npm loader imports on
//! the first attachment that needs it, so every other page never downloads them.

use std::cell::RefCell;

use authmedia_core::{AttachmentError, AttachmentSecrets};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::{attachment_error, describe, WebError};
use crate::util::get;

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
    pub(crate) async fn start(secrets: &AttachmentSecrets, limit: u64) -> Result<Self, WebError> {
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

    pub(crate) fn push(&self, chunk: &Uint8Array, limit: u64) -> Result<(), WebError> {
        self.call("push", &Array::of1(chunk), limit).map(drop)
    }

    pub(crate) fn finish(&self, limit: u64) -> Result<Uint8Array, WebError> {
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
