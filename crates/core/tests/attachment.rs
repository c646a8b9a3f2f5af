//! Encrypted attachments: the JSON vectors of `tests/vectors/attachment_*.json`, tamper
//! cases and the 1 MiB / 10 MiB files, as one test binary.
//!
//! Runs natively (`cargo test -p authmedia-core --test attachment`) and in browsers
//! (`wasm-pack test --headless --chrome --firefox crates/core`). The crypto vectors other
//! than the spec's were made by `vectors/attachment_gen.py` with OpenSSL and Python's
//! hashlib, so this crate is checked against an independent implementation.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use authmedia_core::attachment::{iv_from_nonce, EncryptedFileWire};
use authmedia_core::{
    decrypt, decrypt_in_place, encrypt, encrypt_in_place, AttachmentDecryptor, AttachmentError,
    AttachmentSecrets, EncryptedFile, MxcUri, Verifier,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const FILES: &str = include_str!("vectors/attachment_files.json");
const CRYPTO: &str = include_str!("vectors/attachment_crypto.json");

fn list(file: &str, key: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(file).expect("vector file is JSON");
    v[key].as_array().expect("array").clone()
}

/// Runs `check` on every case, collecting failures so one run reports them all.
fn run(name: &str, cases: &[Value], check: impl Fn(&Value) -> Result<(), String>) {
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if let Err(e) = check(case) {
            let rule = case["rule"].as_str().unwrap_or("?");
            failures.push(format!("{name}[{i}] ({rule}): {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {name} vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(case: &Value) -> String {
    match (case.get("json"), case.get("raw")) {
        (Some(j), None) => j.to_string(),
        (None, Some(Value::String(raw))) => raw.clone(),
        _ => panic!("case needs exactly one of json / raw: {case}"),
    }
}

fn check_error(e: &AttachmentError, case: &Value) -> Result<(), String> {
    eq("error code", e.code(), case["error"].as_str().unwrap())?;
    if let Some(field) = case["field"].as_str() {
        eq("field", e.field(), Some(field))?;
    }
    // Messages stay short and never echo the key.
    let msg = e.to_string();
    if msg.len() > 300 || msg.contains("Voq2nkPme") {
        return Err(format!("message too long or leaks the key: {msg}"));
    }
    Ok(())
}

fn check_valid(f: &EncryptedFile, case: &Value) -> Result<(), String> {
    eq(
        "url",
        Some(f.url.to_string().as_str()),
        case["url"].as_str(),
    )?;
    eq(
        "key",
        to_hex(&f.secrets.key),
        case["k_hex"].as_str().unwrap().into(),
    )?;
    eq(
        "iv",
        to_hex(&f.secrets.iv),
        case["iv_hex"].as_str().unwrap().into(),
    )?;
    eq(
        "sha256",
        to_hex(&f.secrets.sha256),
        case["sha256_hex"].as_str().unwrap().into(),
    )
}

#[test]
fn file_vectors() {
    let cases = list(FILES, "cases");
    assert!(cases.len() >= 60, "only {} file vectors", cases.len());
    run("attachment_files", &cases, |case| {
        let got = EncryptedFile::from_json(&text(case));
        // The serde Deserialize impl agrees with from_json (its error is the message only).
        let via_serde = serde_json::from_str::<EncryptedFile>(&text(case));
        eq("serde agrees", via_serde.as_ref().ok(), got.as_ref().ok())?;
        if case.get("error").is_some() {
            return match got {
                Ok(f) => Err(format!("parsed as {f:?}, want an error")),
                Err(e) => check_error(&e, case),
            };
        }
        let f = got.map_err(|e| format!("want valid, got {} ({e})", e.code()))?;
        check_valid(&f, case)?;
        // Serialising gives the canonical spec shape, which parses back to the same value.
        let out = serde_json::to_value(&f).unwrap();
        eq(
            "key_ops",
            &out["key"]["key_ops"],
            &json!(["encrypt", "decrypt"]),
        )?;
        eq("ext", &out["key"]["ext"], &json!(true))?;
        eq("v", &out["v"], &json!("v2"))?;
        for field in [&out["iv"], &out["hashes"]["sha256"], &out["key"]["k"]] {
            if field.as_str().unwrap().contains('=') {
                return Err(format!("padding in canonical output: {field}"));
            }
        }
        eq(
            "round trip",
            EncryptedFile::from_json(&out.to_string()).ok().as_ref(),
            Some(&f),
        )
    });
}

/// In browsers: the objects through `JSON.parse` and serde-wasm-bindgen (the adapters' path).
#[cfg(target_arch = "wasm32")]
#[test]
fn file_vectors_via_serde_wasm_bindgen() {
    run(
        "attachment_files (serde-wasm-bindgen)",
        &list(FILES, "cases"),
        |case| {
            let Some(obj) = case.get("json") else {
                return Ok(()); // raw text JSON.parse may reject: covered natively
            };
            let js = js_sys::JSON::parse(&obj.to_string()).map_err(|e| format!("{e:?}"))?;
            let got = serde_wasm_bindgen::from_value::<EncryptedFileWire>(js)
                .map_err(AttachmentError::malformed)
                .and_then(EncryptedFile::from_wire);
            match (got, case.get("error").is_some()) {
                (Ok(f), false) => check_valid(&f, case),
                (Err(e), true) => check_error(&e, case),
                (Ok(f), true) => Err(format!("parsed as {f:?}, want an error")),
                (Err(e), false) => Err(format!("want valid, got {} ({e})", e.code())),
            }
        },
    );
}

/// A file from a crypto vector (the url does not matter to the crypto).
fn file_of(case: &Value) -> EncryptedFile {
    let wire = EncryptedFileWire {
        url: Some("mxc://example.org/vector".into()),
        key: Some(authmedia_core::attachment::JwkWire {
            kty: Some("oct".into()),
            key_ops: Some(vec!["encrypt".into(), "decrypt".into()]),
            alg: Some("A256CTR".into()),
            k: Some(case["k"].as_str().unwrap().into()),
            ext: Some(true),
        }),
        iv: Some(case["iv"].as_str().unwrap().into()),
        hashes: Some(authmedia_core::attachment::HashesWire {
            sha256: Some(case["sha256"].as_str().unwrap().into()),
        }),
        v: Some("v2".into()),
    };
    EncryptedFile::from_wire(wire).unwrap()
}

fn stream(
    secrets: &AttachmentSecrets,
    ct: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, AttachmentError> {
    let mut d = AttachmentDecryptor::with_capacity(secrets, ct.len());
    for c in ct.chunks(chunk.max(1)) {
        d.push(c)?;
    }
    d.finish()
}

#[test]
fn crypto_vectors() {
    let cases = list(CRYPTO, "cases");
    let sizes: Vec<u64> = cases.iter().filter_map(|c| c["size"].as_u64()).collect();
    for n in [0, 1, 15, 16, 17] {
        assert!(sizes.contains(&n), "no {n}-byte vector");
    }
    run("attachment_crypto", &cases, |case| {
        let f = file_of(case);
        let s = &f.secrets;
        let ct = hex(case["ciphertext_hex"].as_str().unwrap());
        let pt = hex(case["plaintext_hex"].as_str().unwrap());
        eq(
            "decrypt",
            decrypt(s, &ct).map_err(|e| e.code()),
            Ok(pt.clone()),
        )?;
        eq("file.decrypt", f.decrypt(&ct).ok().as_ref(), Some(&pt))?;
        let mut buf = ct.clone();
        decrypt_in_place(s, &mut buf).map_err(|e| e.to_string())?;
        eq("decrypt_in_place", &buf, &pt)?;
        for chunk in [1, 7, 16, 17, 4096] {
            eq(
                &format!("stream by {chunk}"),
                stream(s, &ct, chunk).map_err(|e| e.code()),
                Ok(pt.clone()),
            )?;
        }
        let (secrets, ct2) = encrypt(&pt, s.key, s.iv).map_err(|e| e.to_string())?;
        eq("encrypt ciphertext", &ct2, &ct)?;
        eq("encrypt secrets", &secrets, s)?;
        let mut buf = pt.clone();
        eq(
            "encrypt_in_place",
            encrypt_in_place(&mut buf, s.key, s.iv).ok().as_ref(),
            Some(s),
        )?;
        eq("encrypt_in_place bytes", &buf, &ct)
    });
}

#[test]
fn spec_vector_plaintext() {
    let case = &list(CRYPTO, "cases")[0];
    let f = file_of(case);
    let pt = f
        .decrypt(&hex(case["ciphertext_hex"].as_str().unwrap()))
        .unwrap();
    assert_eq!(pt, b"It's a secret to everybody");
}

/// Every way of damaging the ciphertext is refused by every entry point, before any
/// plaintext exists outside the decryptor.
fn assert_refused(s: &AttachmentSecrets, bad: &[u8], what: &str) {
    assert_eq!(
        decrypt(s, bad),
        Err(AttachmentError::HashMismatch),
        "{what}"
    );
    let mut buf = bad.to_vec();
    assert_eq!(
        decrypt_in_place(s, &mut buf),
        Err(AttachmentError::HashMismatch),
        "{what}"
    );
    assert_eq!(buf, bad, "{what}: buffer changed on mismatch");
    for chunk in [1, 16, 1 << 16] {
        assert_eq!(
            stream(s, bad, chunk),
            Err(AttachmentError::HashMismatch),
            "{what}"
        );
    }
    let mut v = Verifier::new(s);
    v.update(bad);
    assert_eq!(v.finish(), Err(AttachmentError::HashMismatch), "{what}");
}

#[test]
fn tampered_ciphertexts_are_refused() {
    let mut checked = 0;
    for case in list(CRYPTO, "cases") {
        let s = file_of(&case).secrets;
        let ct = hex(case["ciphertext_hex"].as_str().unwrap());
        for i in 0..ct.len() {
            for bit in [0x01, 0x80] {
                let mut bad = ct.clone();
                bad[i] ^= bit;
                assert_refused(&s, &bad, &format!("flip {bit:#x} at {i}"));
                checked += 1;
            }
        }
        if let Some((_, head)) = ct.split_last() {
            assert_refused(&s, head, "truncated by one byte");
            assert_refused(&s, &[], "truncated to nothing");
            checked += 2;
        }
        let mut longer = ct.clone();
        longer.push(0);
        assert_refused(&s, &longer, "one byte appended");
        // A wrong hash in the file refuses the genuine ciphertext.
        let mut wrong = s.clone();
        wrong.sha256[31] ^= 1;
        assert_refused(&wrong, &ct, "wrong hashes.sha256");
        checked += 2;
    }
    assert!(checked > 900, "{checked}");
}

#[test]
fn the_hash_covers_the_ciphertext_not_the_key() {
    // Documented limit of the format: a wrong key with the right hash verifies and yields
    // garbage. Only the sender's event binds key and hash together.
    let case = &list(CRYPTO, "cases")[0];
    let mut s = file_of(case).secrets;
    s.key[0] ^= 1;
    let pt = decrypt(&s, &hex(case["ciphertext_hex"].as_str().unwrap())).unwrap();
    assert_ne!(pt, b"It's a secret to everybody");
}

#[test]
fn streaming_limit_and_capacity() {
    let (s, ct) = encrypt(&[42; 1000], [9; 32], iv_from_nonce([1; 8])).unwrap();
    let mut d = AttachmentDecryptor::new(&s).with_limit(999);
    let r = ct.chunks(100).try_for_each(|c| d.push(c));
    assert_eq!(r, Err(AttachmentError::TooLarge { limit: 999 }));
    assert_eq!(d.finish().unwrap_err().code(), "too_large");
    // A wrong size hint is only a hint.
    let mut d = AttachmentDecryptor::with_capacity(&s, 10);
    d.push(&ct).unwrap();
    assert_eq!(d.finish().unwrap(), vec![42; 1000]);
}

#[test]
fn encrypt_then_upload_flow() {
    let plaintext = b"\x89PNG\r\n\x1a\n not really a png";
    let (secrets, ct) = encrypt(plaintext, [0xab; 32], iv_from_nonce([7; 8])).unwrap();
    assert_ne!(&ct[..], &plaintext[..]);
    let file = secrets.with_url(MxcUri::parse("mxc://example.org/uploaded").unwrap());
    let text = serde_json::to_string(&file).unwrap();
    let back = EncryptedFile::from_json(&text).unwrap();
    assert_eq!(back.decrypt(&ct).unwrap(), plaintext);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["url"], "mxc://example.org/uploaded");
    assert_eq!(v["iv"].as_str().unwrap().len(), 22);
    assert_eq!(v["key"]["k"].as_str().unwrap().len(), 43);
    assert_eq!(v["hashes"]["sha256"].as_str().unwrap().len(), 43);
}

/// byte[i] = (i*31 + (i>>8)*7) mod 256, as in attachment_gen.py.
fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 31 + (i >> 8) * 7) & 0xff) as u8)
        .collect()
}

fn b64_sha256(data: &[u8]) -> String {
    // Compare through the crate's own canonical output: serialise a file whose hash is this.
    let secrets = AttachmentSecrets {
        key: [0; 32],
        iv: [0; 16],
        sha256: Sha256::digest(data).into(),
    };
    let f = secrets.with_url(MxcUri::parse("mxc://x/y").unwrap());
    serde_json::to_value(&f).unwrap()["hashes"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Lets the browser's event loop run (WebDriver polls the page while tests run; a page
/// blocked for long fails the whole run). Natively a no-op.
#[cfg(target_arch = "wasm32")]
async fn breathe() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).unwrap();
        js_sys::Function::from(set_timeout)
            .call2(&global, &resolve, &0.into())
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[cfg(not(target_arch = "wasm32"))]
async fn breathe() {}

/// Natively: drives a future whose only await points ([`breathe`]) are always ready.
#[cfg(not(target_arch = "wasm32"))]
fn block_on<F: std::future::Future<Output = ()>>(f: F) {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(()) = f.as_mut().poll(&mut cx) {
            return;
        }
    }
}

/// A 1 MiB or 10 MiB file: the ciphertext's hash must equal OpenSSL's, streaming in 64 KiB
/// chunks (what a fetch body stream delivers) must give the plaintext back, and a flipped
/// last byte or a missing last byte must fail verification. Yields between passes.
async fn big_file(index: usize) {
    let case = &list(CRYPTO, "big")[index];
    let n = usize::try_from(case["size"].as_u64().unwrap()).unwrap();
    let plain = pattern(n);
    assert_eq!(
        b64_sha256(&plain),
        case["plaintext_sha256"].as_str().unwrap(),
        "generator differs from attachment_gen.py"
    );
    breathe().await;
    let s = file_of(case).secrets;
    let mut ct = plain.clone();
    let made = encrypt_in_place(&mut ct, s.key, s.iv).unwrap();
    assert_eq!(made, s, "{n}: ciphertext hash differs from OpenSSL's");
    breathe().await;
    let mut d = AttachmentDecryptor::with_capacity(&s, n);
    for (i, c) in ct.chunks(1 << 16).enumerate() {
        d.push(c).unwrap();
        if i % 16 == 15 {
            breathe().await;
        }
    }
    assert!(d.finish().unwrap() == plain, "{n}: stream");
    breathe().await;
    let last = ct.len() - 1;
    ct[last] ^= 0x40;
    let mut v = Verifier::new(&s);
    v.update(&ct);
    assert_eq!(v.finish(), Err(AttachmentError::HashMismatch), "flipped");
    breathe().await;
    let mut v = Verifier::new(&s);
    v.update(&ct[..last]);
    assert_eq!(v.finish(), Err(AttachmentError::HashMismatch), "truncated");
}

#[test]
fn two_big_vectors() {
    assert_eq!(list(CRYPTO, "big").len(), 2);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn big_file_1_mib() {
    block_on(big_file(0));
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn big_file_10_mib() {
    block_on(big_file(1));
}

#[cfg(target_arch = "wasm32")]
#[test]
async fn big_file_1_mib() {
    big_file(0).await;
}

#[cfg(target_arch = "wasm32")]
#[test]
async fn big_file_10_mib() {
    big_file(1).await;
}
