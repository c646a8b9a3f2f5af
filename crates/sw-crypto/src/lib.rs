//! The service worker's verification and decryption of encrypted attachments, as its own small
//! wasm module: `decryptFile` in JavaScript.
//!
//! Only a worker that serves an encrypted attachment needs any of this, so it is kept out of the
//! worker's always-loaded wasm: the entry script fetches and instantiates this module on the
//! first request under `<scope>authmedia/encrypted/` (a service worker cannot `import()`, but it
//! can `fetch` and instantiate a module at any time), and the worker's wasm hands it the
//! registered `EncryptedFile` and the downloaded ciphertext. The download, with the token, stays
//! in the worker's wasm: the token never enters this module.
//!
//! Here the file is read and validated ([`authmedia_js::file_from_js`]), the SHA-256 of the
//! whole ciphertext compared in constant time with `hashes.sha256`, and only then the ciphertext
//! decrypted, all with WebCrypto ([`authmedia_js::webcrypto`]): every service worker has it, so
//! this module carries no software AES/SHA-256 (an engine failing at the crypto is refused
//! `crypto_unavailable`). A refusal is thrown as the worker's JSON error shape
//! (`{status, errcode, authmedia_code, error}`), which the worker's wasm answers with.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

use authmedia_core::AttachmentError;
use authmedia_js::webcrypto::{self, Ciphertext};
use authmedia_js::{file_from_js, object_of};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::prelude::*;

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;

/// A refusal as the worker's JSON error shape (see [`webcrypto::refusal`]).
fn thrown(e: &AttachmentError) -> JsValue {
    let (status, errcode, message) = webcrypto::refusal(e);
    object_of(&[
        ("status", status.into()),
        ("errcode", errcode.into()),
        ("authmedia_code", e.code().into()),
        ("error", message.into()),
    ])
}

/// Verifies and decrypts `ciphertext`, the whole downloaded body of the attachment `file` (an
/// `EncryptedFile`, a plain object or its JSON text): resolves to the plaintext only if the file
/// is valid and the SHA-256 of the ciphertext matches its `hashes.sha256`; otherwise rejects with
/// `{status, errcode, authmedia_code, error}` (`hash_mismatch`, `invalid_length`, …) and nothing
/// decrypted.
#[wasm_bindgen(js_name = decryptFile)]
pub async fn decrypt_file(file: JsValue, ciphertext: Uint8Array) -> Result<ArrayBuffer, JsValue> {
    let file = file_from_js(&file).map_err(|e| thrown(&e))?;
    let subtle = webcrypto::subtle().ok_or_else(|| thrown(&AttachmentError::CryptoUnavailable))?;
    let (plain, _) =
        webcrypto::verify_and_decrypt(&subtle, &file.secrets, Ciphertext::whole(ciphertext))
            .await
            .map_err(|e| thrown(&e))?;
    Ok(plain)
}
