//! The page fallback's verification and decryption of encrypted attachments, as its own small
//! wasm module: `Decryptor` in JavaScript.
//!
//! Only a page that decrypts an attachment itself needs any of this: in worker mode the service
//! worker serves attachments, and the page only registers them with it. Kept out of the page's
//! wasm, it costs nothing to the pages that never need it: the npm loader fetches this module on
//! the first attachment the fallback must decrypt.
//!
//! Where the page has `crypto.subtle` (secure contexts), the ciphertext is collected in JavaScript
//! memory and verified and decrypted by WebCrypto ([`authmedia_js::webcrypto`]); should the engine
//! fail at the crypto, or where there is no `crypto.subtle` (an insecure context: plain http), the
//! core's streaming [`AttachmentDecryptor`] (RustCrypto AES-256-CTR, SHA-256) does it in wasm.
//!
//! The rules are the core's: the byte limit while receiving, nothing handed out before the
//! SHA-256 of the whole ciphertext matched. Errors are thrown as the core's
//! [`AttachmentError::code`] strings (`hash_mismatch`, `too_large`, …), which the page maps back.
//! The page downloads the ciphertext (with the token) and hands this module only its bytes: the
//! token never enters it.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

use authmedia_core::{AttachmentDecryptor, AttachmentError, AttachmentSecrets};
use authmedia_js::webcrypto::{self, Ciphertext, DecryptedBy};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;

/// How one attachment is being verified and decrypted.
enum Way {
    /// `crypto.subtle` (`subtle`) at the end; until then the ciphertext in JavaScript memory.
    WebCrypto {
        subtle: JsValue,
        ciphertext: Ciphertext,
    },
    /// The core in wasm, chunk by chunk (boxed: the cipher and hash states are large).
    Software(Box<AttachmentDecryptor>),
}

/// One attachment being verified and decrypted, chunk by chunk.
#[wasm_bindgen]
pub struct Decryptor {
    secrets: AttachmentSecrets,
    way: Way,
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

/// A byte count given by JavaScript; one it cannot express as a count (NaN, negative) is `None`.
fn count(n: f64) -> Option<u64> {
    (n >= 0.0).then_some(n as u64)
}

fn thrown(e: &AttachmentError) -> JsValue {
    JsValue::from_str(e.code())
}

impl Decryptor {
    /// [`Self::new`] with the core's error (testable off wasm, where `JsValue` cannot exist),
    /// through WebCrypto when `subtle` is given, else in wasm.
    fn with_secrets(
        key: &[u8],
        iv: &[u8],
        sha256: &[u8],
        limit: f64,
        expected: f64,
        subtle: Option<JsValue>,
    ) -> Result<Self, AttachmentError> {
        let secrets = AttachmentSecrets {
            key: exact(key, "key.k")?,
            iv: exact(iv, "iv")?,
            sha256: exact(sha256, "hashes.sha256")?,
        };
        // A limit JS cannot express as a byte count admits nothing.
        let limit = count(limit).unwrap_or(0);
        let way = match subtle {
            Some(subtle) => Way::WebCrypto {
                subtle,
                ciphertext: Ciphertext::new(count(expected), limit),
            },
            None => Way::Software(Box::new(
                AttachmentDecryptor::new(&secrets).with_limit(limit),
            )),
        };
        Ok(Self { secrets, way })
    }

    /// A chunk as Rust bytes (the tests', which run natively too).
    #[cfg(test)]
    fn push_bytes(&mut self, chunk: &[u8]) -> Result<(), AttachmentError> {
        match &mut self.way {
            Way::Software(d) => d.push(chunk),
            Way::WebCrypto { ciphertext, .. } => ciphertext.push(&Uint8Array::from(chunk)),
        }
    }

    /// The plaintext and whether wasm (not WebCrypto) decrypted it.
    async fn plaintext(self) -> Result<(Uint8Array, bool), AttachmentError> {
        match self.way {
            Way::WebCrypto { subtle, ciphertext } => {
                let (plain, by) =
                    webcrypto::verify_and_decrypt(&subtle, &self.secrets, ciphertext).await?;
                Ok((Uint8Array::new(&plain), by == DecryptedBy::Wasm))
            }
            Way::Software(d) => Ok((Uint8Array::from(d.finish()?.as_slice()), true)),
        }
    }
}

#[wasm_bindgen]
impl Decryptor {
    /// A decryptor for the file whose AES-256 `key` (32 bytes), counter block `iv` (16) and
    /// ciphertext `sha256` (32) are given; more than `limit` bytes of ciphertext are refused
    /// (`too_large`); `expected` is the announced size (`Content-Length`, NaN when unknown).
    /// Wrong lengths throw `invalid_length`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &[u8],
        iv: &[u8],
        sha256: &[u8],
        limit: f64,
        expected: f64,
    ) -> Result<Decryptor, JsValue> {
        Self::with_secrets(key, iv, sha256, limit, expected, webcrypto::subtle())
            .map_err(|e| thrown(&e))
    }

    /// Feeds the next ciphertext chunk (kept in JavaScript memory for WebCrypto, else hashed and
    /// decrypted in wasm as it comes).
    pub fn push(&mut self, chunk: &Uint8Array) -> Result<(), JsValue> {
        match &mut self.way {
            Way::WebCrypto { ciphertext, .. } => ciphertext.push(chunk),
            Way::Software(d) => d.push(&chunk.to_vec()),
        }
        .map_err(|e| thrown(&e))
    }

    /// Resolves to `[plaintext, inWasm]` only if the SHA-256 of everything pushed matches (else
    /// rejects with `hash_mismatch`); `inWasm` is false when WebCrypto decrypted it. Consumes
    /// the decryptor.
    pub async fn finish(self) -> Result<Array, JsValue> {
        let (plain, in_wasm) = self.plaintext().await.map_err(|e| thrown(&e))?;
        Ok(Array::of2(&plain, &JsValue::from_bool(in_wasm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authmedia_core::encrypt;

    fn software(s: &AttachmentSecrets, limit: f64) -> Decryptor {
        Decryptor::with_secrets(&s.key, &s.iv, &s.sha256, limit, f64::NAN, None).unwrap()
    }

    fn finish(d: Decryptor) -> Result<Vec<u8>, AttachmentError> {
        let Way::Software(d) = d.way else {
            panic!("not the software path")
        };
        d.finish()
    }

    #[test]
    fn decrypts_what_the_core_encrypted_in_chunks() {
        let plain = b"the quick brown fox".repeat(100);
        let (secrets, cipher) = encrypt(&plain, [7; 32], [1; 16]).unwrap();
        let mut d = software(&secrets, 1e9);
        for chunk in cipher.chunks(77) {
            d.push_bytes(chunk).unwrap();
        }
        assert_eq!(finish(d).unwrap(), plain);
    }

    #[test]
    fn refuses_a_flipped_byte_a_file_over_the_limit_and_wrong_lengths() {
        let plain = vec![42u8; 1000];
        let (secrets, mut cipher) = encrypt(&plain, [7; 32], [1; 16]).unwrap();
        assert!(matches!(
            software(&secrets, 999.0).push_bytes(&cipher),
            Err(AttachmentError::TooLarge { limit: 999 })
        ));
        assert!(matches!(
            software(&secrets, f64::NAN).push_bytes(&cipher[..1]),
            Err(AttachmentError::TooLarge { limit: 0 })
        ));
        cipher[500] ^= 1;
        let mut d = software(&secrets, 1e9);
        d.push_bytes(&cipher).unwrap();
        assert!(matches!(finish(d), Err(AttachmentError::HashMismatch)));
        assert!(Decryptor::with_secrets(
            &[0; 31],
            &secrets.iv,
            &secrets.sha256,
            1e9,
            f64::NAN,
            None
        )
        .is_err());
    }
}
