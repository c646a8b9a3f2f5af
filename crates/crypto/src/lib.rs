//! The core's streaming [`AttachmentDecryptor`] (AES-256-CTR + SHA-256, RustCrypto) as its own
//! small wasm module, `SoftwareDecryptor` in JavaScript.
//!
//! The page SDK needs software crypto only where `crypto.subtle` is missing (an insecure
//! context: plain http) or fails at the crypto; everywhere else WebCrypto verifies and decrypts.
//! Kept out of the page's wasm, it costs nothing to the pages that never need it: the npm loader
//! fetches this module on the first encrypted attachment that needs it.
//!
//! The rules are the core's: the byte limit while receiving, nothing handed out before the
//! SHA-256 of the whole ciphertext matched. Errors are thrown as the core's
//! [`AttachmentError::code`] strings (`hash_mismatch`, `too_large`, …), which the page maps back.
#![deny(missing_docs)]

use authmedia_core::{AttachmentDecryptor, AttachmentError, AttachmentSecrets};
use wasm_bindgen::prelude::*;

/// One attachment being verified and decrypted, chunk by chunk.
#[wasm_bindgen(js_name = SoftwareDecryptor)]
pub struct SoftwareDecryptor {
    /// `None` once [`Self::finish`] handed the plaintext out (or after an error there).
    inner: Option<AttachmentDecryptor>,
}

/// `bytes` as an array of exactly `N`, else the core's [`AttachmentError::InvalidLength`].
fn exact<const N: usize>(bytes: &[u8], field: &'static str) -> Result<[u8; N], AttachmentError> {
    bytes
        .try_into()
        .map_err(|_| AttachmentError::InvalidLength {
            field,
            expected: N,
            got: bytes.len(),
        })
}

fn thrown(e: &AttachmentError) -> JsValue {
    JsValue::from_str(e.code())
}

impl SoftwareDecryptor {
    /// [`Self::new`] with the core's error (testable off wasm, where `JsValue` cannot exist).
    fn with_secrets(
        key: &[u8],
        iv: &[u8],
        sha256: &[u8],
        limit: f64,
    ) -> Result<Self, AttachmentError> {
        let secrets = AttachmentSecrets {
            key: exact(key, "key.k")?,
            iv: exact(iv, "iv")?,
            sha256: exact(sha256, "hashes.sha256")?,
        };
        // A limit JS cannot express as a byte count (NaN, negative) admits nothing.
        let limit = if limit >= 0.0 { limit as u64 } else { 0 };
        Ok(Self {
            inner: Some(AttachmentDecryptor::new(&secrets).with_limit(limit)),
        })
    }

    fn push_chunk(&mut self, chunk: &[u8]) -> Result<(), Option<AttachmentError>> {
        self.inner.as_mut().ok_or(None)?.push(chunk).map_err(Some)
    }

    fn take_plaintext(&mut self) -> Result<Vec<u8>, Option<AttachmentError>> {
        self.inner.take().ok_or(None)?.finish().map_err(Some)
    }
}

/// `finished` for a call after [`SoftwareDecryptor::finish`], else the core's code.
fn thrown_or_finished(e: Option<AttachmentError>) -> JsValue {
    e.map_or_else(|| JsValue::from_str("finished"), |e| thrown(&e))
}

#[wasm_bindgen(js_class = SoftwareDecryptor)]
impl SoftwareDecryptor {
    /// A decryptor for the file whose AES-256 `key` (32 bytes), counter block `iv` (16) and
    /// ciphertext `sha256` (32) are given; more than `limit` bytes of ciphertext are refused
    /// (`too_large`). Wrong lengths throw `invalid_length`.
    #[wasm_bindgen(constructor)]
    pub fn new(key: &[u8], iv: &[u8], sha256: &[u8], limit: f64) -> Result<Self, JsValue> {
        Self::with_secrets(key, iv, sha256, limit).map_err(|e| thrown(&e))
    }

    /// Feeds the next ciphertext chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        self.push_chunk(chunk).map_err(thrown_or_finished)
    }

    /// The plaintext, only if the SHA-256 of everything pushed matches (else `hash_mismatch`);
    /// once only (then `finished`).
    pub fn finish(&mut self) -> Result<Vec<u8>, JsValue> {
        self.take_plaintext().map_err(thrown_or_finished)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use authmedia_core::encrypt;

    fn decryptor(s: &AttachmentSecrets, limit: f64) -> SoftwareDecryptor {
        SoftwareDecryptor::with_secrets(&s.key, &s.iv, &s.sha256, limit).unwrap()
    }

    #[test]
    fn decrypts_what_the_core_encrypted_in_chunks() {
        let plain = b"the quick brown fox".repeat(100);
        let (secrets, cipher) = encrypt(&plain, [7; 32], [1; 16]).unwrap();
        let mut d = decryptor(&secrets, 1e9);
        for chunk in cipher.chunks(77) {
            d.push_chunk(chunk).unwrap();
        }
        assert_eq!(d.take_plaintext().unwrap(), plain);
        assert!(
            matches!(d.take_plaintext(), Err(None)),
            "a second finish is refused"
        );
    }

    #[test]
    fn refuses_a_flipped_byte_a_file_over_the_limit_and_wrong_lengths() {
        let plain = vec![42u8; 1000];
        let (secrets, mut cipher) = encrypt(&plain, [7; 32], [1; 16]).unwrap();
        let mut over = decryptor(&secrets, 999.0);
        assert!(matches!(
            over.push_chunk(&cipher),
            Err(Some(AttachmentError::TooLarge { limit: 999 }))
        ));
        assert!(matches!(
            decryptor(&secrets, f64::NAN).push_chunk(&cipher[..1]),
            Err(Some(AttachmentError::TooLarge { limit: 0 }))
        ));
        cipher[500] ^= 1;
        let mut d = decryptor(&secrets, 1e9);
        d.push_chunk(&cipher).unwrap();
        assert!(matches!(
            d.take_plaintext(),
            Err(Some(AttachmentError::HashMismatch))
        ));
        assert!(
            SoftwareDecryptor::with_secrets(&[0; 31], &secrets.iv, &secrets.sha256, 1e9).is_err()
        );
    }
}
