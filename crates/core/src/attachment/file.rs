//! `EncryptedFile`: parse the JSON object of an encrypted attachment into checked bytes.
//!
//! Spec v1.11, "Sending encrypted attachments"
//! (<https://spec.matrix.org/v1.11/client-server-api/#sending-encrypted-attachments>):
//!
//! ```json
//! { "url": "mxc://example.org/abc", "v": "v2", "iv": "<16 bytes, base64>",
//!   "hashes": { "sha256": "<32 bytes, base64>" },
//!   "key": { "kty": "oct", "alg": "A256CTR", "key_ops": ["encrypt", "decrypt"],
//!            "k": "<32 bytes, base64url>", "ext": true } }
//! ```
//!
//! Parsing goes through [`EncryptedFileWire`] (every field optional, plain strings), so a
//! missing field or a wrong value is a typed [`AttachmentError`] with a stable code rather
//! than a serde message; a field of the wrong JSON *type* is [`AttachmentError::Malformed`].
//! Decisions beyond the spec text:
//! * unknown fields are ignored (forward compatibility; some clients add `mimetype`);
//! * `key_ops` may list more operations than `encrypt` and `decrypt`, in any order;
//! * `hashes` may hold other algorithms; only `sha256` is used and it is required;
//! * `iv` and `hashes.sha256` are standard base64 and may carry correct `=` padding;
//!   `k` must be base64url without padding (JWK). See [`super::base64`].
//! * only `v: "v2"` is accepted (v1's 64-bit counter is not implemented).

use core::marker::PhantomData;

use serde::de::{value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::base64;
use super::AttachmentError;
use crate::MxcUri;

/// The secrets of an encrypted attachment: everything of an [`EncryptedFile`] but its URL.
///
/// What [`super::encrypt`] returns before the ciphertext is uploaded; [`Self::with_url`]
/// completes it. `Debug` does not print the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentSecrets {
    /// The AES-256 key (JWK `k`).
    pub key: [u8; 32],
    /// The initial 128-bit counter block (`iv`).
    pub iv: [u8; 16],
    /// SHA-256 of the ciphertext (`hashes.sha256`).
    pub sha256: [u8; 32],
}

impl core::fmt::Debug for AttachmentSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentSecrets")
            .field("key", &"<redacted>")
            .field("iv", &base64::encode_std_unpadded(&self.iv))
            .field("sha256", &base64::encode_std_unpadded(&self.sha256))
            .finish()
    }
}

impl AttachmentSecrets {
    /// The complete `EncryptedFile` once the ciphertext has an mxc URI.
    pub fn with_url(self, url: MxcUri) -> EncryptedFile {
        EncryptedFile { url, secrets: self }
    }
}

/// A validated `EncryptedFile` (v2): where the ciphertext is, and how to check and decrypt it.
///
/// Deserialises from the spec's JSON shape with any serde format (serde_json,
/// serde-wasm-bindgen), failing with the [`AttachmentError`]'s message; use
/// [`EncryptedFile::from_wire`] (or `from_json`) to keep the typed error. Serialises to the
/// canonical spec shape (unpadded base64, `key_ops: ["encrypt", "decrypt"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "EncryptedFileWire")]
pub struct EncryptedFile {
    /// The mxc URI of the ciphertext.
    pub url: MxcUri,
    /// Key, iv and expected hash.
    pub secrets: AttachmentSecrets,
}

/// The JSON shape of an `EncryptedFile` before validation: every field optional.
///
/// Deserialises only from a map/object (a JSON array is [`AttachmentError::Malformed`],
/// not a struct filled by position); `null` counts as absent; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct EncryptedFileWire {
    /// `url`.
    #[serde(default)]
    pub url: Option<String>,
    /// `key`.
    #[serde(default)]
    pub key: Option<JwkWire>,
    /// `iv`.
    #[serde(default)]
    pub iv: Option<String>,
    /// `hashes`.
    #[serde(default)]
    pub hashes: Option<HashesWire>,
    /// `v`.
    #[serde(default)]
    pub v: Option<String>,
}

/// The JSON shape of the JWK in `key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct JwkWire {
    /// `kty`, must be `"oct"`.
    #[serde(default)]
    pub kty: Option<String>,
    /// `key_ops`, must contain `"encrypt"` and `"decrypt"`.
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    /// `alg`, must be `"A256CTR"`.
    #[serde(default)]
    pub alg: Option<String>,
    /// `k`, the key: 32 bytes, base64url, unpadded.
    #[serde(default)]
    pub k: Option<String>,
    /// `ext`, must be `true`.
    #[serde(default)]
    pub ext: Option<bool>,
}

/// The JSON shape of `hashes` (other algorithms are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct HashesWire {
    /// `sha256` of the ciphertext, base64.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Deserialises a `#[serde(remote = "Self")]` struct only from a map.
struct MapOnly<T>(PhantomData<T>, &'static str);

macro_rules! map_only_serde {
    ($($ty:ident),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(MapOnly(PhantomData::<$ty>, stringify!($ty)))
            }
        }
        impl<'de> Visitor<'de> for MapOnly<$ty> {
            type Value = $ty;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "an object ({})", self.1)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                // The inherent (derived, remote = "Self") deserialize, fed the map.
                $ty::deserialize(MapAccessDeserializer::new(map))
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, s)
            }
        }
    )*};
}
map_only_serde!(EncryptedFileWire, JwkWire, HashesWire);

fn required<T>(v: Option<T>, field: &'static str) -> Result<T, AttachmentError> {
    v.ok_or(AttachmentError::MissingField(field))
}

fn fixed<const N: usize>(
    decoded: Result<Vec<u8>, base64::InvalidBase64>,
    field: &'static str,
) -> Result<[u8; N], AttachmentError> {
    let bytes = decoded.map_err(|_| AttachmentError::InvalidBase64(field))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| AttachmentError::InvalidLength {
        field,
        expected: N,
        got: bytes.len(),
    })
}

impl EncryptedFile {
    /// Validates the wire shape, field by field in a fixed order: `v`, `url`, `key`
    /// (`kty`, `alg`, `key_ops`, `ext`, `k`), `iv`, `hashes.sha256`.
    pub fn from_wire(w: EncryptedFileWire) -> Result<Self, AttachmentError> {
        let v = required(w.v, "v")?;
        if v != "v2" {
            return Err(AttachmentError::UnsupportedVersion);
        }
        let url = MxcUri::parse(&required(w.url, "url")?).map_err(AttachmentError::InvalidUrl)?;
        let key = required(w.key, "key")?;
        if required(key.kty, "key.kty")? != "oct" {
            return Err(AttachmentError::InvalidKeyType);
        }
        if required(key.alg, "key.alg")? != "A256CTR" {
            return Err(AttachmentError::InvalidAlgorithm);
        }
        let ops = required(key.key_ops, "key.key_ops")?;
        if !["encrypt", "decrypt"]
            .iter()
            .all(|op| ops.iter().any(|o| o == op))
        {
            return Err(AttachmentError::MissingKeyOps);
        }
        if !required(key.ext, "key.ext")? {
            return Err(AttachmentError::NotExtractable);
        }
        let k = required(key.k, "key.k")?;
        let key = fixed::<32>(base64::decode_url_unpadded(&k), "key.k")?;
        let iv = fixed::<16>(base64::decode_std(&required(w.iv, "iv")?), "iv")?;
        let hashes = required(w.hashes, "hashes")?;
        let sha256 = fixed::<32>(
            base64::decode_std(&required(hashes.sha256, "hashes.sha256")?),
            "hashes.sha256",
        )?;
        Ok(Self {
            url,
            secrets: AttachmentSecrets { key, iv, sha256 },
        })
    }

    /// Parses an `EncryptedFile` JSON text.
    #[cfg(feature = "json")]
    pub fn from_json(text: &str) -> Result<Self, AttachmentError> {
        let wire: EncryptedFileWire = serde_json::from_str(text).map_err(|e| {
            if e.is_syntax() || e.is_eof() || e.is_io() {
                AttachmentError::InvalidJson(e.to_string())
            } else {
                AttachmentError::malformed(e)
            }
        })?;
        Self::from_wire(wire)
    }

    /// The canonical wire shape (unpadded base64, both key ops, `ext: true`).
    pub fn to_wire(&self) -> EncryptedFileWire {
        let s = &self.secrets;
        EncryptedFileWire {
            url: Some(self.url.to_string()),
            key: Some(JwkWire {
                kty: Some("oct".into()),
                key_ops: Some(vec!["encrypt".into(), "decrypt".into()]),
                alg: Some("A256CTR".into()),
                k: Some(base64::encode_url_unpadded(&s.key)),
                ext: Some(true),
            }),
            iv: Some(base64::encode_std_unpadded(&s.iv)),
            hashes: Some(HashesWire {
                sha256: Some(base64::encode_std_unpadded(&s.sha256)),
            }),
            v: Some("v2".into()),
        }
    }
}

impl TryFrom<EncryptedFileWire> for EncryptedFile {
    type Error = AttachmentError;
    fn try_from(w: EncryptedFileWire) -> Result<Self, Self::Error> {
        Self::from_wire(w)
    }
}

impl Serialize for EncryptedFile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(serializer)
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

    fn wire() -> EncryptedFileWire {
        EncryptedFileWire {
            url: Some("mxc://example.org/abc".into()),
            key: Some(JwkWire {
                kty: Some("oct".into()),
                key_ops: Some(vec!["decrypt".into(), "wrapKey".into(), "encrypt".into()]),
                alg: Some("A256CTR".into()),
                k: Some("Voq2nkPme_x8no5-Tjq_laDAdxE6iDbxnlQXxwFPgE4".into()),
                ext: Some(true),
            }),
            iv: Some("i0DovxYdJEcAAAAAAAAAAA".into()),
            hashes: Some(HashesWire {
                sha256: Some("ANdt819a8bZl4jKy3Z+jcqtiNICa2y0AW4BBJ/iQRAU".into()),
            }),
            v: Some("v2".into()),
        }
    }

    #[test]
    fn parses_and_round_trips() {
        let f = EncryptedFile::from_wire(wire()).unwrap();
        assert_eq!(f.url.to_string(), "mxc://example.org/abc");
        assert_eq!(f.secrets.iv[..8], [139, 64, 232, 191, 22, 29, 36, 71]);
        let back = f.to_wire();
        assert_eq!(
            back.key.as_ref().unwrap().key_ops.as_ref().unwrap().len(),
            2
        );
        assert_eq!(EncryptedFile::from_wire(back).unwrap(), f);
    }

    #[test]
    fn debug_hides_the_key() {
        let f = EncryptedFile::from_wire(wire()).unwrap();
        let dbg = format!("{f:?}");
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains("86, 138")); // first key bytes
    }

    type Edit = fn(&mut EncryptedFileWire);

    #[test]
    fn each_missing_field_is_named() {
        let cases: [(Edit, &str); 9] = [
            (|w| w.v = None, "v"),
            (|w| w.url = None, "url"),
            (|w| w.key = None, "key"),
            (|w| w.key.as_mut().unwrap().kty = None, "key.kty"),
            (|w| w.key.as_mut().unwrap().alg = None, "key.alg"),
            (|w| w.key.as_mut().unwrap().key_ops = None, "key.key_ops"),
            (|w| w.key.as_mut().unwrap().ext = None, "key.ext"),
            (|w| w.iv = None, "iv"),
            (
                |w| w.hashes.as_mut().unwrap().sha256 = None,
                "hashes.sha256",
            ),
        ];
        for (edit, field) in cases {
            let mut w = wire();
            edit(&mut w);
            assert_eq!(
                EncryptedFile::from_wire(w),
                Err(AttachmentError::MissingField(field))
            );
        }
    }
}
