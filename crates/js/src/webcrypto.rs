//! Encrypted attachments verified and decrypted by the browser's WebCrypto (`crypto.subtle`:
//! secure contexts, and every service worker), used by the worker and the page fallback when it
//! exists; elsewhere (insecure contexts) they stream through the core's
//! [`AttachmentDecryptor`].
//!
//! Why (BENCHMARKS.md, "Encrypted attachments"): WebCrypto's SHA-256 and AES-CTR are native and
//! 3–10× faster than the core's constant-time software AES in wasm, and the ciphertext stays in
//! JavaScript memory ([`Ciphertext`]) — a wasm instance keeps its linear memory at the size of the
//! largest file it ever decrypted, for good.
//!
//! The rules stay the core's: the byte limit while collecting, the constant-time comparison of the
//! digest with `hashes.sha256` ([`AttachmentSecrets::check_sha256`]), nothing decrypted before it
//! matched, and AES-256-CTR with the whole 128-bit `iv` block as the counter (`length: 128`, the
//! core's `Ctr128BE`). Should the engine fail at the crypto itself (an engine without AES-CTR, a
//! counter that would wrap), the core decrypts the verified bytes instead, so the answer is always
//! the core's.

#[cfg(feature = "software-crypto")]
use authmedia_core::AttachmentDecryptor;
use authmedia_core::{AttachmentError, AttachmentSecrets};
use js_sys::{Array, ArrayBuffer, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::{get, object_of};

/// `globalThis.crypto.subtle`, when this context has it.
pub fn subtle() -> Option<JsValue> {
    let subtle = get(&get(&js_sys::global(), "crypto"), "subtle");
    subtle.is_object().then_some(subtle)
}

/// The ciphertext of one attachment, collected chunk by chunk in JavaScript memory, at most
/// `limit` bytes.
pub struct Ciphertext {
    /// One buffer of the announced size (`Content-Length`), filled in place.
    whole: Option<Uint8Array>,
    /// Chunks kept as they came (no announced size, or more bytes than announced).
    parts: Vec<Uint8Array>,
    len: u32,
    limit: u64,
}

impl Ciphertext {
    /// An empty collection; `expected` (a size hint, `Content-Length`) preallocates one buffer.
    pub fn new(expected: Option<u64>, limit: u64) -> Self {
        let whole = expected
            .filter(|&n| n > 0 && n <= limit)
            .and_then(|n| u32::try_from(n).ok())
            .map(Uint8Array::new_with_length);
        Self {
            whole,
            parts: Vec::new(),
            len: 0,
            limit,
        }
    }

    /// The whole ciphertext at once (another module collected it under its own limit).
    pub fn whole(bytes: Uint8Array) -> Self {
        Self {
            len: bytes.length(),
            whole: Some(bytes),
            parts: Vec::new(),
            limit: u64::MAX,
        }
    }

    /// Adds the next chunk; more than `limit` bytes in all is [`AttachmentError::TooLarge`] (and
    /// drops what was collected).
    pub fn push(&mut self, chunk: &Uint8Array) -> Result<(), AttachmentError> {
        let total = u64::from(self.len) + u64::from(chunk.length());
        let fits = u32::try_from(total).ok().filter(|_| total <= self.limit);
        let Some(total) = fits else {
            self.whole = None;
            self.parts.clear();
            return Err(AttachmentError::TooLarge { limit: self.limit });
        };
        match &self.whole {
            Some(buf) if total <= buf.length() => buf.set(chunk, self.len),
            _ => {
                if let Some(buf) = self.whole.take() {
                    self.parts.push(buf.subarray(0, self.len));
                }
                self.parts.push(chunk.clone());
            }
        }
        self.len = total;
        Ok(())
    }

    /// Bytes collected.
    pub fn len(&self) -> u64 {
        u64::from(self.len)
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Everything collected, as one contiguous array (also what a worker hands its on-demand
    /// decryption module, which takes it back with [`Ciphertext::whole`]).
    pub fn into_bytes(self) -> Uint8Array {
        if let Some(buf) = self.whole {
            return buf.subarray(0, self.len);
        }
        if let [only] = self.parts.as_slice() {
            return only.clone();
        }
        let out = Uint8Array::new_with_length(self.len);
        let mut at = 0;
        for part in &self.parts {
            out.set(part, at);
            at += part.length();
        }
        out
    }
}

/// How a service worker answers an attachment it refuses: the HTTP status (413 for a file over
/// the limit, else 502: the homeserver's bytes are not what the event promised), the `errcode`
/// (`AUTHMEDIA_<CODE>`) and the text. One rule for the worker's wasm and its on-demand
/// decryption module, which both answer refusals.
pub fn refusal(e: &AttachmentError) -> (u16, String, String) {
    let status = match e {
        AttachmentError::TooLarge { .. } => 413,
        _ => 502,
    };
    (
        status,
        format!("AUTHMEDIA_{}", e.code().to_ascii_uppercase()),
        format!("authmedia service worker: encrypted attachment refused: {e}"),
    )
}

/// Which implementation decrypted an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptedBy {
    /// The browser's `crypto.subtle`.
    WebCrypto,
    /// The core in wasm (WebCrypto failed at the crypto).
    Wasm,
}

/// Calls `subtle[method](...args)` and awaits the promise.
async fn call(subtle: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    let f: Function = get(subtle, method).dyn_into()?;
    let promise: Promise = Reflect::apply(&f, subtle, args)?.dyn_into()?;
    JsFuture::from(promise).await
}

/// Verifies `ciphertext` against `secrets` and decrypts it with WebCrypto (`subtle`, from
/// [`subtle`]): the plaintext, or [`AttachmentError::HashMismatch`] with nothing decrypted.
pub async fn verify_and_decrypt(
    subtle: &JsValue,
    secrets: &AttachmentSecrets,
    ciphertext: Ciphertext,
) -> Result<(ArrayBuffer, DecryptedBy), AttachmentError> {
    match with_webcrypto(subtle, secrets, ciphertext).await? {
        Ok(plain) => Ok((plain, DecryptedBy::WebCrypto)),
        Err(bytes) => software_fallback(secrets, &bytes),
    }
}

/// [`verify_and_decrypt`] by WebCrypto alone: `Ok(Err(bytes))` when the engine failed at the
/// crypto, with the collected ciphertext for a software decryptor (which must verify it itself:
/// the digest may be what failed). For a caller that loads its software crypto on demand.
pub async fn with_webcrypto(
    subtle: &JsValue,
    secrets: &AttachmentSecrets,
    ciphertext: Ciphertext,
) -> Result<Result<ArrayBuffer, Uint8Array>, AttachmentError> {
    let bytes = ciphertext.into_bytes();
    let digest = call(subtle, "digest", &Array::of2(&"SHA-256".into(), &bytes))
        .await
        .ok()
        .and_then(|d| d.dyn_into::<ArrayBuffer>().ok());
    if let Some(digest) = digest {
        secrets.check_sha256(&Uint8Array::new(&digest).to_vec())?;
        if let Some(plain) = webcrypto_decrypt(subtle, secrets, &bytes).await {
            return Ok(Ok(plain));
        }
    }
    Ok(Err(bytes))
}

/// WebCrypto failed at the crypto: the core verifies and decrypts (the bytes enter wasm memory),
/// through the same streaming decryptor as an engine without WebCrypto.
#[cfg(feature = "software-crypto")]
fn software_fallback(
    secrets: &AttachmentSecrets,
    bytes: &Uint8Array,
) -> Result<(ArrayBuffer, DecryptedBy), AttachmentError> {
    let mut decryptor = AttachmentDecryptor::new(secrets);
    decryptor.push(&bytes.to_vec())?;
    let plain = decryptor.finish()?;
    Ok((
        Uint8Array::from(plain.as_slice()).buffer(),
        DecryptedBy::Wasm,
    ))
}

/// Without the software crypto (the service worker's build) a WebCrypto failure is an error.
#[cfg(not(feature = "software-crypto"))]
fn software_fallback(
    _secrets: &AttachmentSecrets,
    _bytes: &Uint8Array,
) -> Result<(ArrayBuffer, DecryptedBy), AttachmentError> {
    Err(AttachmentError::CryptoUnavailable)
}

/// AES-256-CTR `decrypt` of verified bytes; `None` when the engine fails at it.
async fn webcrypto_decrypt(
    subtle: &JsValue,
    secrets: &AttachmentSecrets,
    bytes: &Uint8Array,
) -> Option<ArrayBuffer> {
    let algorithm = object_of(&[("name", "AES-CTR".into())]);
    let usages = Array::of1(&"decrypt".into());
    let key = call(
        subtle,
        "importKey",
        &Array::of5(
            &"raw".into(),
            &Uint8Array::from(secrets.key.as_slice()),
            &algorithm,
            &JsValue::FALSE,
            &usages,
        ),
    )
    .await
    .ok()?;
    let params = object_of(&[
        ("name", "AES-CTR".into()),
        ("counter", Uint8Array::from(secrets.iv.as_slice()).into()),
        ("length", 128.into()),
    ]);
    call(subtle, "decrypt", &Array::of3(&params, &key, bytes))
        .await
        .ok()?
        .dyn_into()
        .ok()
}
