//! Encrypted attachments (`EncryptedFile` v2): parse, verify SHA-256, AES-256-CTR.
//!
//! Spec v1.11, "Sending encrypted attachments"
//! (<https://spec.matrix.org/v1.11/client-server-api/#sending-encrypted-attachments>):
//! the ciphertext is downloaded from `url` (authenticated `/download`), its SHA-256 is
//! compared with `hashes.sha256`, and **only then** is it decrypted with AES-256-CTR
//! (key `k`, initial counter block `iv`). Clients MUST verify before using the contents.
//!
//! | item | use |
//! |---|---|
//! | [`EncryptedFile`] | validated JSON object ([`EncryptedFile::from_wire`], `from_json`) |
//! | [`decrypt`], [`decrypt_in_place`] | one shot: verify the whole ciphertext, then decrypt |
//! | [`AttachmentDecryptor`] | streaming: push ciphertext chunks as they arrive; [`AttachmentDecryptor::finish`] hands out the plaintext only if the hash matches |
//! | [`Verifier`], [`Decryptor`] | the two halves on their own |
//! | [`encrypt`], [`encrypt_in_place`] | for uploads and tests; randomness (key, iv) is an argument |
//!
//! Crypto: RustCrypto `aes` (constant-time fixslice software AES, AES-NI when the CPU has
//! it natively), `ctr` (`Ctr128BE`), `sha2`; the hash comparison is constant time
//! (`subtle::ConstantTimeEq`). This module has no RNG and no clock.
//!
//! The counter is the whole 128-bit block, big-endian, wrapping at 2^128 (as
//! matrix-rust-sdk and the Python reference do). Element Web's WebCrypto call uses
//! `length: 64`, which differs only if the low 64 bits of `iv` overflow inside one file;
//! ivs made as the spec's clients make them (8 random bytes, 8 zero bytes, see
//! [`iv_from_nonce`]) never get there.

mod base64;
mod file;

use aes::cipher::{KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use file::{AttachmentSecrets, EncryptedFile, EncryptedFileWire, HashesWire, JwkWire};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Why an `EncryptedFile` cannot be used, or its ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The text is not JSON.
    #[error("EncryptedFile is not valid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but not an object, or a field of the wrong JSON type.
    #[error("EncryptedFile is malformed: {0}")]
    Malformed(String),
    /// A required field is absent (the dotted path names it, e.g. `key.k`).
    #[error("EncryptedFile is missing the field {0}")]
    MissingField(&'static str),
    /// `v` is not `"v2"`.
    #[error("EncryptedFile version must be \"v2\"")]
    UnsupportedVersion,
    /// `url` is not a valid mxc URI.
    #[error("EncryptedFile url is not a valid mxc URI: {0}")]
    InvalidUrl(crate::MxcError),
    /// `key.kty` is not `"oct"`.
    #[error("EncryptedFile key.kty must be \"oct\"")]
    InvalidKeyType,
    /// `key.alg` is not `"A256CTR"`.
    #[error("EncryptedFile key.alg must be \"A256CTR\"")]
    InvalidAlgorithm,
    /// `key.key_ops` lacks `"encrypt"` or `"decrypt"`.
    #[error("EncryptedFile key.key_ops must contain \"encrypt\" and \"decrypt\"")]
    MissingKeyOps,
    /// `key.ext` is not `true`.
    #[error("EncryptedFile key.ext must be true")]
    NotExtractable,
    /// A field is not base64 of its flavour (`key.k`: base64url unpadded; `iv`,
    /// `hashes.sha256`: standard base64).
    #[error("EncryptedFile {0} is not valid base64")]
    InvalidBase64(&'static str),
    /// A field decodes to the wrong number of bytes.
    #[error("EncryptedFile {field} must be {expected} bytes, got {got}")]
    InvalidLength {
        /// The field (`key.k`, `iv`, `hashes.sha256`).
        field: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
    /// The ciphertext's SHA-256 differs from `hashes.sha256`: tampered, truncated or
    /// the wrong file. Nothing was decrypted or handed out.
    #[error("ciphertext SHA-256 does not match hashes.sha256 (tampered, truncated or wrong file)")]
    HashMismatch,
    /// The ciphertext exceeds the byte limit given to [`AttachmentDecryptor::with_limit`].
    #[error("ciphertext is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The AES-CTR keystream is exhausted (after 2^128 blocks: unreachable in practice).
    #[error("AES-CTR keystream exhausted")]
    KeystreamExhausted,
    /// The browser's WebCrypto could not hash or decrypt, and this build has no software
    /// implementation to fall back to (the service worker: every worker has WebCrypto).
    #[error("WebCrypto could not verify or decrypt the attachment in this context")]
    CryptoUnavailable,
}

impl AttachmentError {
    /// A stable snake_case code for scripts and JavaScript callers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::Malformed(_) => "malformed_encrypted_file",
            Self::MissingField(_) => "missing_field",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidUrl(_) => "invalid_url",
            Self::InvalidKeyType => "invalid_key_type",
            Self::InvalidAlgorithm => "invalid_algorithm",
            Self::MissingKeyOps => "missing_key_ops",
            Self::NotExtractable => "key_not_extractable",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::InvalidLength { .. } => "invalid_length",
            Self::HashMismatch => "hash_mismatch",
            Self::TooLarge { .. } => "too_large",
            Self::KeystreamExhausted => "keystream_exhausted",
            Self::CryptoUnavailable => "crypto_unavailable",
        }
    }

    /// [`AttachmentError::Malformed`] from a deserializer's message (serde_json,
    /// serde-wasm-bindgen), with every quoted string in it replaced by `"…"`: serde quotes
    /// the offending value, which could be a key.
    pub fn malformed(message: impl core::fmt::Display) -> Self {
        let mut out = String::new();
        let mut quoted = false;
        for c in message.to_string().chars() {
            match (c, quoted) {
                ('"', false) => {
                    out.push_str("\"…");
                    quoted = true;
                }
                ('"', true) => {
                    out.push('"');
                    quoted = false;
                }
                (c, false) => out.push(c),
                (_, true) => {}
            }
        }
        Self::Malformed(out)
    }

    /// The field at fault, as a dotted path (`key.k`, `iv`, `hashes.sha256`, …), when the
    /// error is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingField(f) | Self::InvalidBase64(f) => Some(f),
            Self::InvalidLength { field, .. } => Some(field),
            Self::UnsupportedVersion => Some("v"),
            Self::InvalidUrl(_) => Some("url"),
            Self::InvalidKeyType => Some("key.kty"),
            Self::InvalidAlgorithm => Some("key.alg"),
            Self::MissingKeyOps => Some("key.key_ops"),
            Self::NotExtractable => Some("key.ext"),
            _ => None,
        }
    }
}

/// The iv a sender should use: 8 random bytes, then 8 zero bytes (the low 64 bits are the
/// block counter; starting them at zero keeps 64-bit-counter implementations compatible).
pub fn iv_from_nonce(nonce: [u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(nonce) {
        *d = s;
    }
    iv
}

/// Hashes ciphertext chunk by chunk; [`Verifier::finish`] compares in constant time.
#[derive(Clone, Debug)]
pub struct Verifier {
    hasher: Sha256,
    expected: [u8; 32],
    len: u64,
}

impl Verifier {
    /// Starts verifying against `secrets.sha256`.
    pub fn new(secrets: &AttachmentSecrets) -> Self {
        Self {
            hasher: Sha256::new(),
            expected: secrets.sha256,
            len: 0,
        }
    }

    /// Feeds the next ciphertext chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.len = self.len.saturating_add(chunk.len() as u64);
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `Ok` only if the SHA-256 of everything fed equals `hashes.sha256`.
    pub fn finish(self) -> Result<(), AttachmentError> {
        let got: [u8; 32] = self.hasher.finalize().into();
        digest_matches(&self.expected, &got)
    }
}

/// Constant-time comparison of a computed digest with the expected one.
fn digest_matches(expected: &[u8; 32], got: &[u8]) -> Result<(), AttachmentError> {
    if bool::from(got.ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(AttachmentError::HashMismatch)
    }
}

impl AttachmentSecrets {
    /// `Ok` only if `digest` — the SHA-256 of the whole ciphertext, computed elsewhere (the
    /// browser's WebCrypto) — equals `hashes.sha256`; compared in constant time, any other
    /// length is a mismatch. Decrypt nothing before this returned `Ok`.
    pub fn check_sha256(&self, digest: &[u8]) -> Result<(), AttachmentError> {
        digest_matches(&self.sha256, digest)
    }
}

/// AES-256-CTR over consecutive chunks (the same call encrypts and decrypts).
///
/// It does not verify anything: use it on ciphertext that already passed a [`Verifier`],
/// or through [`AttachmentDecryptor`]. `Debug` does not print the key.
pub struct Decryptor {
    cipher: Aes256Ctr,
}

impl core::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Decryptor { .. }")
    }
}

impl Decryptor {
    /// Starts at byte 0 of the file with `secrets.key` and `secrets.iv`.
    pub fn new(secrets: &AttachmentSecrets) -> Self {
        Self::from_key_iv(&secrets.key, &secrets.iv)
    }

    fn from_key_iv(key: &[u8; 32], iv: &[u8; 16]) -> Self {
        Self {
            cipher: Aes256Ctr::new(key.into(), iv.into()),
        }
    }

    /// XORs the keystream into `buf` in place, continuing where the last call stopped.
    pub fn apply(&mut self, buf: &mut [u8]) -> Result<(), AttachmentError> {
        self.cipher
            .try_apply_keystream(buf)
            .map_err(|_| AttachmentError::KeystreamExhausted)
    }
}

/// Streaming verify-and-decrypt that releases nothing before the hash matches.
///
/// Each [`push`](Self::push) hashes the chunk, appends it to one internal buffer and
/// decrypts it there in place; [`finish`](Self::finish) compares the hash and only then
/// hands the buffer out. Hashing and AES run as bytes arrive, so `finish` costs one
/// 32-byte comparison.
///
/// Memory: one buffer of the file's size (the plaintext replaces the ciphertext in
/// place; no second full copy). Pass the expected size (`Content-Length`, `info.size`) to
/// [`Self::with_capacity`] to avoid the growth reallocations of a `Vec` (which may briefly
/// hold old and new buffer, and leave up to 2× capacity). On a mismatch or an error the
/// buffer is dropped, never returned. `Debug` prints neither key nor bytes.
pub struct AttachmentDecryptor {
    verifier: Verifier,
    decryptor: Decryptor,
    buf: Vec<u8>,
    limit: Option<u64>,
    failed: Option<AttachmentError>,
}

impl core::fmt::Debug for AttachmentDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentDecryptor")
            .field("len", &self.verifier.len())
            .field("limit", &self.limit)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl AttachmentDecryptor {
    /// Starts a streaming decryption of the file described by `secrets`.
    pub fn new(secrets: &AttachmentSecrets) -> Self {
        Self {
            verifier: Verifier::new(secrets),
            decryptor: Decryptor::new(secrets),
            buf: Vec::new(),
            limit: None,
            failed: None,
        }
    }

    /// Like [`Self::new`], reserving `bytes` up front (a size hint, not a limit).
    pub fn with_capacity(secrets: &AttachmentSecrets, bytes: usize) -> Self {
        let mut d = Self::new(secrets);
        d.buf.reserve_exact(bytes);
        d
    }

    /// Refuses ciphertexts longer than `limit` bytes ([`AttachmentError::TooLarge`]).
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Feeds the next ciphertext chunk. After an error every later call returns it
    /// again and the buffer is already freed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), AttachmentError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let total = self.verifier.len().saturating_add(chunk.len() as u64);
        if let Some(limit) = self.limit.filter(|&l| total > l) {
            return Err(self.fail(AttachmentError::TooLarge { limit }));
        }
        self.verifier.update(chunk);
        let start = self.buf.len();
        self.buf.extend_from_slice(chunk);
        let Some(fresh) = self.buf.get_mut(start..) else {
            return Err(self.fail(AttachmentError::KeystreamExhausted));
        };
        if let Err(e) = self.decryptor.apply(fresh) {
            return Err(self.fail(e));
        }
        Ok(())
    }

    fn fail(&mut self, e: AttachmentError) -> AttachmentError {
        self.buf = Vec::new();
        self.failed = Some(e.clone());
        e
    }

    /// Ciphertext bytes received so far.
    pub fn len(&self) -> u64 {
        self.verifier.len()
    }

    /// Whether no byte was received yet.
    pub fn is_empty(&self) -> bool {
        self.verifier.is_empty()
    }

    /// The plaintext, if and only if the SHA-256 of all pushed ciphertext matches.
    pub fn finish(self) -> Result<Vec<u8>, AttachmentError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.verifier.finish()?;
        Ok(self.buf)
    }
}

/// Verifies the whole `ciphertext`, then returns its decryption (one new buffer).
pub fn decrypt(secrets: &AttachmentSecrets, ciphertext: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    let mut v = Verifier::new(secrets);
    v.update(ciphertext);
    v.finish()?;
    let mut out = ciphertext.to_vec();
    Decryptor::new(secrets).apply(&mut out)?;
    Ok(out)
}

/// Verifies `buf`, then decrypts it in place (no copy). On any error `buf` is unchanged.
pub fn decrypt_in_place(
    secrets: &AttachmentSecrets,
    buf: &mut [u8],
) -> Result<(), AttachmentError> {
    let mut v = Verifier::new(secrets);
    v.update(buf);
    v.finish()?;
    Decryptor::new(secrets).apply(buf)
}

/// Encrypts `plaintext` with the caller's random `key` and `iv` (see [`iv_from_nonce`]):
/// the secrets (key, iv, SHA-256 of the ciphertext) and the ciphertext to upload.
pub fn encrypt(
    plaintext: &[u8],
    key: [u8; 32],
    iv: [u8; 16],
) -> Result<(AttachmentSecrets, Vec<u8>), AttachmentError> {
    let mut buf = plaintext.to_vec();
    let secrets = encrypt_in_place(&mut buf, key, iv)?;
    Ok((secrets, buf))
}

/// Encrypts `buf` in place; returns the secrets. On an error `buf` is unchanged.
pub fn encrypt_in_place(
    buf: &mut [u8],
    key: [u8; 32],
    iv: [u8; 16],
) -> Result<AttachmentSecrets, AttachmentError> {
    Decryptor::from_key_iv(&key, &iv).apply(buf)?;
    let sha256: [u8; 32] = Sha256::digest(&*buf).into();
    Ok(AttachmentSecrets { key, iv, sha256 })
}

impl EncryptedFile {
    /// [`decrypt`] with this file's secrets.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        decrypt(&self.secrets, ciphertext)
    }

    /// An [`AttachmentDecryptor`] for this file.
    pub fn decryptor(&self) -> AttachmentDecryptor {
        AttachmentDecryptor::new(&self.secrets)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    fn secrets() -> AttachmentSecrets {
        AttachmentSecrets {
            key: [7; 32],
            iv: iv_from_nonce([1, 2, 3, 4, 5, 6, 7, 8]),
            sha256: [0; 32],
        }
    }

    #[test]
    fn an_external_digest_is_checked_whole_and_exactly() {
        let s = secrets();
        let (s, ct) = encrypt(b"abc", s.key, s.iv).unwrap();
        let digest: [u8; 32] = Sha256::digest(&ct).into();
        assert_eq!(s.check_sha256(&digest), Ok(()));
        let mut flipped = digest;
        flipped[31] ^= 1;
        assert_eq!(s.check_sha256(&flipped), Err(AttachmentError::HashMismatch));
        assert_eq!(
            s.check_sha256(&digest[..31]),
            Err(AttachmentError::HashMismatch)
        );
        assert_eq!(s.check_sha256(&[]), Err(AttachmentError::HashMismatch));
    }

    #[test]
    fn iv_from_nonce_zeroes_the_counter() {
        assert_eq!(
            iv_from_nonce([9; 8]),
            [9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn streaming_matches_one_shot_and_refuses_tampering() {
        let s = secrets();
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (s, ct) = encrypt(&plain, s.key, s.iv).unwrap();
        for chunk in [1, 15, 16, 17, 999, 1000] {
            let mut d = AttachmentDecryptor::new(&s);
            for c in ct.chunks(chunk) {
                d.push(c).unwrap();
            }
            assert_eq!(d.len(), 1000);
            assert_eq!(d.finish().unwrap(), plain, "chunk {chunk}");
        }
        let mut bad = ct.clone();
        bad[500] ^= 1;
        let mut d = AttachmentDecryptor::new(&s);
        d.push(&bad).unwrap();
        assert_eq!(d.finish(), Err(AttachmentError::HashMismatch));
        let before = bad.clone();
        assert_eq!(
            decrypt_in_place(&s, &mut bad),
            Err(AttachmentError::HashMismatch)
        );
        assert_eq!(bad, before, "buffer untouched on mismatch");
    }

    #[test]
    fn limit_poisons_the_stream() {
        let (s, ct) = encrypt(&[1; 100], [3; 32], [0; 16]).unwrap();
        let mut d = AttachmentDecryptor::new(&s).with_limit(99);
        d.push(&ct[..99]).unwrap();
        assert_eq!(
            d.push(&ct[99..]),
            Err(AttachmentError::TooLarge { limit: 99 })
        );
        assert_eq!(d.push(&[]), Err(AttachmentError::TooLarge { limit: 99 }));
        assert_eq!(d.finish(), Err(AttachmentError::TooLarge { limit: 99 }));
        let mut ok = AttachmentDecryptor::new(&s).with_limit(100);
        ok.push(&ct).unwrap();
        assert_eq!(ok.finish().unwrap(), vec![1; 100]);
    }

    #[test]
    fn counter_wraps_at_2_pow_128_without_panicking() {
        // iv = all ones: the second block's counter wraps to zero.
        let (s, ct) = encrypt(&[0; 48], [5; 32], [0xff; 16]).unwrap();
        let (_, from_zero) = encrypt(&[0; 32], [5; 32], [0; 16]).unwrap();
        assert_eq!(&ct[16..], &from_zero[..]);
        assert_eq!(decrypt(&s, &ct).unwrap(), vec![0; 48]);
    }
}
