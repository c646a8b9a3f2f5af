//! The two base64 flavours of `EncryptedFile` (RFC 4648), in a few dozen lines.
//!
//! * [`decode_url_unpadded`]: the JWK `k` — base64url (`-` `_`), no padding, as JWK
//!   (RFC 7517/7518 § 6.4.1) and the Matrix spec require. Strict: `+`, `/` and `=` are errors.
//! * [`decode_std`]: `iv` and `hashes.sha256` — the standard alphabet (`+` `/`). The spec
//!   says "unpadded"; correct `=` padding is also accepted because some clients send it
//!   (the length must then be a multiple of 4, and padding only at the very end).
//!
//! Both reject non-canonical encodings (non-zero unused bits in the last character, a
//! length of 1 mod 4), so every byte string has exactly one accepted text per flavour.
//! Written here rather than taken from the `base64` crate: four small functions keep the
//! wasm binaries lean and the accepted set explicit.

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Not valid base64 of the expected flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBase64;

fn value(alphabet: &[u8; 64], c: u8) -> Option<u32> {
    alphabet
        .iter()
        .position(|&a| a == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// Decodes unpadded base64 in `alphabet`; `None` on any defect.
fn decode_unpadded(alphabet: &[u8; 64], s: &str) -> Result<Vec<u8>, InvalidBase64> {
    let bytes = s.as_bytes();
    if bytes.len() % 4 == 1 {
        return Err(InvalidBase64);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    for chunk in bytes.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | value(alphabet, c).ok_or(InvalidBase64)?;
        }
        // acc holds 6 * chunk.len() bits; emit whole bytes, the rest must be zero bits.
        let bits = 6 * chunk.len();
        let whole = bits / 8;
        let spare = bits % 8;
        if acc & ((1 << spare) - 1) != 0 {
            return Err(InvalidBase64);
        }
        let acc = acc >> spare;
        for i in (0..whole).rev() {
            out.push(((acc >> (8 * i)) & 0xff) as u8);
        }
    }
    Ok(out)
}

/// base64url without padding (the JWK `k`).
pub fn decode_url_unpadded(s: &str) -> Result<Vec<u8>, InvalidBase64> {
    decode_unpadded(URL, s)
}

/// Standard base64, unpadded or correctly padded (`iv`, `hashes.sha256`).
pub fn decode_std(s: &str) -> Result<Vec<u8>, InvalidBase64> {
    let trimmed = s.trim_end_matches('=');
    let pad = s.len() - trimmed.len();
    if pad > 0 && (s.len() % 4 != 0 || pad > 2 || trimmed.len() % 4 + pad != 4) {
        return Err(InvalidBase64);
    }
    decode_unpadded(STD, trimmed)
}

fn encode(alphabet: &[u8; 64], data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut acc: u32 = 0;
        for &b in chunk {
            acc = (acc << 8) | u32::from(b);
        }
        // Left-align to 24 bits, then emit one character per started 6-bit group.
        acc <<= 8 * (3 - chunk.len());
        for i in 0..=chunk.len() {
            let idx = (acc >> (18 - 6 * i)) & 0x3f;
            if let Some(&c) = alphabet.get(idx as usize) {
                out.push(char::from(c));
            }
        }
    }
    out
}

/// Unpadded standard base64 (what the spec says to send for `iv` and `hashes`).
pub fn encode_std_unpadded(data: &[u8]) -> String {
    encode(STD, data)
}

/// Unpadded base64url (the JWK `k`).
pub fn encode_url_unpadded(data: &[u8]) -> String {
    encode(URL, data)
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

    #[test]
    fn rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(encode_std_unpadded(plain.as_bytes()), enc);
            assert_eq!(decode_std(enc).unwrap(), plain.as_bytes());
            assert_eq!(decode_url_unpadded(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode_std("Zg==").unwrap(), b"f");
        assert_eq!(decode_std("Zm8=").unwrap(), b"fo");
    }

    #[test]
    fn alphabets_and_defects() {
        assert_eq!(encode_std_unpadded(&[0xfb, 0xff]), "+/8");
        assert_eq!(encode_url_unpadded(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode_url_unpadded("-_8").unwrap(), [0xfb, 0xff]);
        for bad in ["+/8", "Zg==", "Zg=", "Z", "Zh", "Zm9vY", "a b", "Zm9v\n"] {
            assert!(decode_url_unpadded(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "-_8", "Zg=", "Zg===", "Z===", "Zh", "Zm8==", "=Zm8", "Zm=8", "Z", "é",
        ] {
            assert!(decode_std(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let d = &data[..n];
            assert_eq!(decode_std(&encode_std_unpadded(d)).unwrap(), d);
            assert_eq!(decode_url_unpadded(&encode_url_unpadded(d)).unwrap(), d);
        }
    }
}
