//! Browser tests (`wasm-pack test --headless --chrome --firefox crates/js`): real `JSON.parse`
//! output and plain objects.

use authmedia_core::{negotiate, Api, AttachmentError};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test as test, wasm_bindgen_test_configure};

use crate::{
    deferred, error_body, file_from_js, get, get_string, object_of, set, versions, wire_from_js,
    wire_to_js,
};

wasm_bindgen_test_configure!(run_in_browser);

fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).expect("test JSON")
}

#[test]
fn reflect_helpers_read_and_write_plain_objects() {
    let o = object_of(&[("a", JsValue::from_str("x")), ("n", JsValue::from(2))]);
    assert_eq!(get_string(&o, "a").as_deref(), Some("x"));
    assert_eq!(get_string(&o, "n"), None);
    assert_eq!(get(&o, "n").as_f64(), Some(2.0));
    set(&o, "b", &JsValue::TRUE);
    assert_eq!(get(&o, "b").as_bool(), Some(true));
    // Not an object: nothing to read, no exception.
    assert!(get(&JsValue::NULL, "a").is_undefined());
    assert!(get(&JsValue::from_str("text"), "length").is_undefined());
}

#[test]
async fn deferred_resolves_with_the_value_given() {
    let (promise, resolve) = deferred();
    resolve.call1(&JsValue::NULL, &JsValue::from(7)).unwrap();
    let v = wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    assert_eq!(v.as_f64(), Some(7.0));
}

#[test]
fn versions_bodies_are_read_like_the_core_reads_them() {
    let v = versions(&json(
        r#"{"versions":["r0.6.1","v1.11"],"unstable_features":{"x":true,"y":"yes"}}"#,
    ))
    .expect("valid");
    assert_eq!(v.versions, vec!["r0.6.1".to_owned(), "v1.11".to_owned()]);
    assert_eq!(
        v.features().collect::<Vec<_>>(),
        [("x", true), ("y", false)]
    );
    assert_eq!(negotiate(&v), Api::V1);
    let v = versions(&json(
        r#"{"versions":["v1.10"],"unstable_features":{"org.matrix.msc3916":true}}"#,
    ))
    .expect("valid");
    assert_eq!(negotiate(&v), Api::Unstable);
    let v = versions(&json(
        r#"{"versions":["v1.10"],"unstable_features":[true]}"#,
    ))
    .expect("valid");
    assert_eq!(v.features().count(), 0);
    assert_eq!(negotiate(&v), Api::Legacy);
    assert!(versions(&json(r#"{"versions":"v1.11"}"#)).is_none());
    assert!(versions(&json(r#"{"versions":["v1.11", 2]}"#)).is_none());
    assert!(versions(&json("null")).is_none());
    assert!(versions(&JsValue::NULL).is_none());
}

#[test]
fn versions_agree_with_the_core_serde_impl() {
    for body in [
        r#"{"versions":["r0.6.1","v1.11","v1.15"],"unstable_features":{"org.matrix.msc3916":false,"x":"yes"}}"#,
        r#"{"versions":["v1.5"],"unstable_features":{"org.matrix.msc3916":true}}"#,
        r#"{"versions":[],"unstable_features":null}"#,
        r#"{"versions":["v1.11", null]}"#,
        r#"{"versions":"v1.11"}"#,
        r#"{"unstable_features":{}}"#,
    ] {
        assert_eq!(
            versions(&json(body)),
            authmedia_core::Versions::from_json(body).ok(),
            "{body}"
        );
    }
}

#[test]
fn error_bodies_are_read_leniently() {
    let b = error_body(&json(
        r#"{"errcode":"M_LIMIT_EXCEEDED","error":"slow","retry_after_ms":1500}"#,
    ))
    .expect("object");
    assert_eq!(b.errcode.as_deref(), Some("M_LIMIT_EXCEEDED"));
    assert_eq!(b.error.as_deref(), Some("slow"));
    assert_eq!(b.retry_after_ms, Some(1500));
    let b = error_body(&json(
        r#"{"errcode":"M_UNKNOWN_TOKEN","error":"x","soft_logout":true,"retry_after_ms":"soon"}"#,
    ))
    .expect("object");
    assert_eq!(b.errcode.as_deref(), Some("M_UNKNOWN_TOKEN"));
    assert_eq!(b.soft_logout, Some(true));
    assert_eq!(b.retry_after_ms, None);
    let b = error_body(&json(
        r#"{"errcode":7,"soft_logout":"true","retry_after_ms":-3}"#,
    ))
    .expect("object");
    assert_eq!(
        (b.errcode, b.soft_logout, b.retry_after_ms),
        (None, None, None)
    );
    assert!(error_body(&json("\"text\"")).is_none());
    assert!(error_body(&JsValue::from_str("oops")).is_none());
}

const FILE: &str = r#"{"url":"mxc://example.org/abc","v":"v2","iv":"AAAAAAAAAAAAAAAAAAAAAA",
    "key":{"kty":"oct","alg":"A256CTR","ext":true,"key_ops":["encrypt","decrypt"],
           "k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    "hashes":{"sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    "extra":"ignored"}"#;

#[test]
fn an_encrypted_file_round_trips_as_its_validated_copy() {
    let given = json(FILE);
    let file = file_from_js(&given).unwrap();
    assert_eq!(
        file,
        authmedia_core::EncryptedFile::from_json(FILE).unwrap()
    );
    // JSON text is accepted as well as the object.
    assert_eq!(file_from_js(&JsValue::from_str(FILE)).unwrap(), file);
    let copy = wire_to_js(&file.to_wire());
    // Changing the caller's object afterwards does not change the copy.
    set(&given, "url", &JsValue::from_str("mxc://evil.example/zzz"));
    assert_eq!(file_from_js(&copy).unwrap(), file);
    assert!(get(&copy, "extra").is_undefined());
    let key = get(&copy, "key");
    assert_eq!(js_sys::Array::from(&get(&key, "key_ops")).length(), 2);
    assert_eq!(get(&key, "ext").as_bool(), Some(true));
}

#[test]
fn encrypted_file_fields_of_the_wrong_type_are_named() {
    let with = |path: &[&str], value: JsValue| {
        let obj = json(FILE);
        let mut at = obj.clone();
        for name in &path[..path.len() - 1] {
            at = get(&at, name);
        }
        set(&at, path[path.len() - 1], &value);
        obj
    };
    let message = |v: &JsValue| match wire_from_js(v) {
        Err(AttachmentError::Malformed(m)) => m,
        other => panic!("expected Malformed, got {other:?}"),
    };
    let n = JsValue::from(1);
    assert_eq!(message(&with(&["url"], n.clone())), "url must be a string");
    assert_eq!(
        message(&with(&["key", "kty"], n.clone())),
        "key.kty must be a string"
    );
    assert_eq!(
        message(&with(&["key", "k"], n.clone())),
        "key.k must be a string"
    );
    assert_eq!(
        message(&with(&["hashes", "sha256"], n.clone())),
        "hashes.sha256 must be a string"
    );
    assert_eq!(
        message(&with(&["key", "ext"], n.clone())),
        "key.ext must be a boolean"
    );
    assert_eq!(
        message(&with(&["key", "key_ops"], JsValue::from_str("encrypt"))),
        "key.key_ops must be an array of strings"
    );
    assert_eq!(
        message(&with(&["key", "key_ops"], json(r#"["encrypt", 1]"#))),
        "key.key_ops must be an array of strings"
    );
    assert_eq!(
        message(&with(&["key"], json("[]"))),
        "key must be an object"
    );
    assert_eq!(message(&with(&["hashes"], n)), "hashes must be an object");
    assert_eq!(message(&json("[]")), "the EncryptedFile must be an object");
    // `null` is absent, not malformed (validation then says what is missing).
    assert!(wire_from_js(&with(&["key", "ext"], JsValue::NULL)).is_ok());
    assert!(matches!(
        wire_from_js(&JsValue::from_str("{not json")),
        Err(AttachmentError::InvalidJson(_))
    ));
}

// ----- WebCrypto (`webcrypto`) ----------------------------------------------------------------

mod webcrypto_tests {
    use authmedia_core::{encrypt, AttachmentError, AttachmentSecrets, EncryptedFile};
    use js_sys::Uint8Array;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::webcrypto::{subtle, verify_and_decrypt, Ciphertext, DecryptedBy};

    /// The spec's public vector (matrix-sdk-crypto's tests), through the JS reader.
    fn spec_vector() -> (AttachmentSecrets, Vec<u8>) {
        let js = super::json(
            r#"{"v":"v2","url":"mxc://example.org/abc",
                "key":{"kty":"oct","alg":"A256CTR","ext":true,"key_ops":["encrypt","decrypt"],
                       "k":"Voq2nkPme_x8no5-Tjq_laDAdxE6iDbxnlQXxwFPgE4"},
                "iv":"i0DovxYdJEcAAAAAAAAAAA",
                "hashes":{"sha256":"ANdt819a8bZl4jKy3Z+jcqtiNICa2y0AW4BBJ/iQRAU"}}"#,
        );
        let file: EncryptedFile = crate::file_from_js(&js).unwrap();
        let ct = vec![
            179, 154, 118, 127, 186, 127, 110, 33, 203, 33, 33, 134, 67, 100, 173, 46, 235, 27,
            215, 172, 36, 26, 75, 47, 33, 160,
        ];
        (file.secrets, ct)
    }

    fn collected(bytes: &[u8], chunk: usize, hint: Option<u64>) -> Ciphertext {
        let mut c = Ciphertext::new(hint, 1 << 30);
        for part in bytes.chunks(chunk.max(1)) {
            c.push(&Uint8Array::from(part)).unwrap();
        }
        assert_eq!(c.len(), bytes.len() as u64);
        c
    }

    async fn plain_of(s: &AttachmentSecrets, c: Ciphertext) -> Result<Vec<u8>, AttachmentError> {
        let subtle = subtle().expect("crypto.subtle on the test page (loopback is secure)");
        let (buf, by) = verify_and_decrypt(&subtle, s, c).await?;
        assert_eq!(
            by,
            DecryptedBy::WebCrypto,
            "this engine decrypts AES-CTR with length 128"
        );
        Ok(Uint8Array::new(&buf).to_vec())
    }

    #[test]
    async fn the_spec_vector_decrypts_with_webcrypto() {
        let (s, ct) = spec_vector();
        assert_eq!(
            plain_of(&s, collected(&ct, 7, None)).await.unwrap(),
            b"It's a secret to everybody"
        );
    }

    #[test]
    async fn webcrypto_matches_the_core_for_every_way_of_collecting() {
        // 1 MiB + 5 bytes, a counter that starts near a 64-bit boundary: the 128-bit counter
        // carries into the upper half, as the core's Ctr128BE does.
        let plain: Vec<u8> = (0..(1 << 20) + 5)
            .map(|i: u32| (i * 31 % 251) as u8)
            .collect();
        let mut iv = [0u8; 16];
        iv[8..].copy_from_slice(&(u64::MAX - 3).to_be_bytes());
        let (s, ct) = encrypt(&plain, [9; 32], iv).unwrap();
        let n = ct.len() as u64;
        for (chunk, hint) in [
            (65_536, Some(n)),
            (65_536, None),
            (4_000, Some(n - 100)),
            (ct.len(), Some(n + 100)),
        ] {
            let got = plain_of(&s, collected(&ct, chunk, hint)).await.unwrap();
            assert!(got == plain, "chunk {chunk}, hint {hint:?}");
        }
    }

    #[test]
    async fn a_flipped_byte_or_a_truncation_is_refused() {
        let (s, ct) = spec_vector();
        let mut bad = ct.clone();
        bad[3] ^= 1;
        assert_eq!(
            plain_of(&s, collected(&bad, 5, None)).await,
            Err(AttachmentError::HashMismatch)
        );
        assert_eq!(
            plain_of(&s, collected(&ct[..ct.len() - 1], 5, None)).await,
            Err(AttachmentError::HashMismatch)
        );
    }

    #[test]
    fn collecting_stops_at_the_limit() {
        let mut c = Ciphertext::new(Some(10), 10);
        c.push(&Uint8Array::from(&[1u8; 6][..])).unwrap();
        assert_eq!(
            c.push(&Uint8Array::from(&[1u8; 5][..])),
            Err(AttachmentError::TooLarge { limit: 10 })
        );
        // What was collected is dropped; the count stays for the caller's message.
        assert_eq!(c.len(), 6);
    }
}
