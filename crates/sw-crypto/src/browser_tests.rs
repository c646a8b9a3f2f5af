//! Browser tests inside a real service worker (`wasm-pack test --headless --chrome --firefox
//! crates/sw-crypto`): `decryptFile` as the worker's entry script calls it, with the spec's
//! public test vector (from matrix-sdk-crypto's tests).

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test as test, wasm_bindgen_test_configure};

use crate::decrypt_file;

wasm_bindgen_test_configure!(run_in_service_worker);

const CIPHERTEXT: [u8; 26] = [
    179, 154, 118, 127, 186, 127, 110, 33, 203, 33, 33, 134, 67, 100, 173, 46, 235, 27, 215, 172,
    36, 26, 75, 47, 33, 160,
];

fn file(iv: &str) -> JsValue {
    JsValue::from_str(&format!(
        r#"{{"url":"mxc://example.org/abc","v":"v2","iv":"{iv}",
            "key":{{"kty":"oct","alg":"A256CTR","ext":true,"key_ops":["encrypt","decrypt"],
                    "k":"Voq2nkPme_x8no5-Tjq_laDAdxE6iDbxnlQXxwFPgE4"}},
            "hashes":{{"sha256":"ANdt819a8bZl4jKy3Z+jcqtiNICa2y0AW4BBJ/iQRAU"}}}}"#
    ))
}

fn field(v: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(v, &name.into()).unwrap()
}

#[test]
async fn decrypts_the_spec_vector() {
    let plain: ArrayBuffer = decrypt_file(
        file("i0DovxYdJEcAAAAAAAAAAA"),
        Uint8Array::from(&CIPHERTEXT[..]),
    )
    .await
    .unwrap();
    assert_eq!(
        Uint8Array::new(&plain).to_vec(),
        b"It's a secret to everybody"
    );
}

#[test]
async fn refuses_a_flipped_byte_and_a_bad_file_in_the_answer_shape() {
    let mut flipped = CIPHERTEXT;
    flipped[3] ^= 1;
    let refused = decrypt_file(
        file("i0DovxYdJEcAAAAAAAAAAA"),
        Uint8Array::from(&flipped[..]),
    )
    .await
    .unwrap_err();
    assert_eq!(field(&refused, "status").as_f64(), Some(502.0));
    assert_eq!(
        field(&refused, "errcode").as_string().as_deref(),
        Some("AUTHMEDIA_HASH_MISMATCH")
    );
    assert_eq!(
        field(&refused, "authmedia_code").as_string().as_deref(),
        Some("hash_mismatch")
    );
    assert!(field(&refused, "error").as_string().is_some());

    let bad = decrypt_file(file("AAAA"), Uint8Array::from(&CIPHERTEXT[..]))
        .await
        .unwrap_err();
    assert_eq!(
        field(&bad, "authmedia_code").as_string().as_deref(),
        Some("invalid_length")
    );
    let not_json = decrypt_file(JsValue::from_str("{"), Uint8Array::from(&CIPHERTEXT[..]))
        .await
        .unwrap_err();
    assert_eq!(
        field(&not_json, "authmedia_code").as_string().as_deref(),
        Some("invalid_json")
    );
}
