//! Browser tests (`wasm-pack test --headless --chrome --firefox crates/crypto`): the `Decryptor`
//! the page drives, through WebCrypto (the test page is a secure context) and in wasm.

use authmedia_core::{encrypt, AttachmentSecrets};
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test as test, wasm_bindgen_test_configure};

use crate::Decryptor;

wasm_bindgen_test_configure!(run_in_browser);

/// Both ways: `new` (which picks `crypto.subtle`: the test page is a secure context), and in
/// wasm; each with whether wasm decrypts.
fn both(s: &AttachmentSecrets, limit: f64, expected: f64) -> [(Decryptor, bool); 2] {
    assert!(
        authmedia_js::webcrypto::subtle().is_some(),
        "loopback is a secure context"
    );
    let web = Decryptor::new(&s.key, &s.iv, &s.sha256, limit, expected).unwrap();
    let soft = Decryptor::with_secrets(&s.key, &s.iv, &s.sha256, limit, expected, None).unwrap();
    [(web, false), (soft, true)]
}

async fn finish(d: Decryptor) -> Result<(Vec<u8>, bool), JsValue> {
    let out = d.finish().await?;
    let plain: Uint8Array = out.get(0).into();
    Ok((plain.to_vec(), out.get(1).as_bool().unwrap()))
}

fn push_all(d: &mut Decryptor, bytes: &[u8], chunk: usize) -> Result<(), JsValue> {
    bytes
        .chunks(chunk)
        .try_for_each(|c| d.push(&Uint8Array::from(c)))
}

#[test]
async fn decrypts_in_chunks_with_webcrypto_and_in_wasm() {
    let plain: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (s, ct) = encrypt(&plain, [3; 32], [5; 16]).unwrap();
    for (expected, chunk) in [(ct.len() as f64, 4096), (f64::NAN, 999)] {
        for (mut d, in_wasm) in both(&s, 1e9, expected) {
            push_all(&mut d, &ct, chunk).unwrap();
            let (got, by_wasm) = finish(d).await.unwrap();
            assert!(got == plain, "in wasm: {in_wasm}");
            assert_eq!(by_wasm, in_wasm);
        }
    }
}

#[test]
async fn a_flipped_byte_is_hash_mismatch_and_nothing_is_handed_out() {
    let (s, mut ct) = encrypt(b"It's a secret to everybody", [1; 32], [2; 16]).unwrap();
    ct[4] ^= 1;
    for (mut d, _) in both(&s, 1e9, f64::NAN) {
        push_all(&mut d, &ct, 5).unwrap();
        assert_eq!(
            finish(d).await.unwrap_err().as_string().as_deref(),
            Some("hash_mismatch")
        );
    }
}

#[test]
fn more_than_the_limit_is_too_large_and_wrong_lengths_are_refused() {
    let (s, ct) = encrypt(&[9u8; 100], [1; 32], [2; 16]).unwrap();
    for (mut d, _) in both(&s, 99.0, 100.0) {
        assert_eq!(
            push_all(&mut d, &ct, 60)
                .unwrap_err()
                .as_string()
                .as_deref(),
            Some("too_large")
        );
    }
    let short = Decryptor::new(&s.key[..31], &s.iv, &s.sha256, 1e9, f64::NAN);
    assert_eq!(
        short.err().and_then(|e| e.as_string()).as_deref(),
        Some("invalid_length")
    );
}
