//! wasm-bindgen glue for the browser half of the benchmark: the authmedia core's streaming
//! verify+decrypt ([`StreamDecrypt`]) and one-shot [`decrypt_one_shot`], as a worker or page
//! adapter would call them (ciphertext chunks copied in, plaintext copied out once).
#![allow(missing_docs)]

use authmedia_core::{AttachmentDecryptor, EncryptedFile};
use wasm_bindgen::prelude::*;

fn err(e: authmedia_core::AttachmentError) -> JsError {
    JsError::new(&format!("{}: {e}", e.code()))
}

/// Streaming verify+decrypt: `push` chunks as they arrive, `finish` returns the plaintext
/// only if the SHA-256 matched.
#[wasm_bindgen]
pub struct StreamDecrypt {
    inner: Option<AttachmentDecryptor>,
}

#[wasm_bindgen]
impl StreamDecrypt {
    /// `capacity`: expected ciphertext size (Content-Length), 0 if unknown.
    #[wasm_bindgen(constructor)]
    pub fn new(file_json: &str, capacity: usize) -> Result<StreamDecrypt, JsError> {
        let file = EncryptedFile::from_json(file_json).map_err(err)?;
        Ok(Self {
            inner: Some(AttachmentDecryptor::with_capacity(&file.secrets, capacity)),
        })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        let Some(d) = self.inner.as_mut() else {
            return Err(JsError::new("finished"));
        };
        d.push(chunk).map_err(err)
    }

    pub fn finish(&mut self) -> Result<Vec<u8>, JsError> {
        let Some(d) = self.inner.take() else {
            return Err(JsError::new("finished"));
        };
        d.finish().map_err(err)
    }
}

/// One shot: verify the whole ciphertext, then decrypt into a new buffer.
#[wasm_bindgen]
pub fn decrypt_one_shot(file_json: &str, ciphertext: &[u8]) -> Result<Vec<u8>, JsError> {
    let file = EncryptedFile::from_json(file_json).map_err(err)?;
    file.decrypt(ciphertext).map_err(err)
}

/// Breakdown: SHA-256 of the ciphertext only (true if it matches). Not a safe API: bench only.
#[wasm_bindgen]
pub fn sha256_only(file_json: &str, ciphertext: &[u8]) -> Result<bool, JsError> {
    let file = EncryptedFile::from_json(file_json).map_err(err)?;
    let mut v = authmedia_core::Verifier::new(&file.secrets);
    v.update(ciphertext);
    Ok(v.finish().is_ok())
}

/// Breakdown: AES-256-CTR in place only, no verification. Not a safe API: bench only.
#[wasm_bindgen]
pub fn aes_ctr_only(file_json: &str, buf: &mut [u8]) -> Result<(), JsError> {
    let file = EncryptedFile::from_json(file_json).map_err(err)?;
    authmedia_core::Decryptor::new(&file.secrets)
        .apply(buf)
        .map_err(err)
}

/// Size of this instance's linear memory in bytes (it never shrinks).
#[wasm_bindgen]
pub fn memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        (core::arch::wasm32::memory_size(0) as f64) * 65536.0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.0
    }
}
