//! `EncryptedFile` (encrypted attachments, spec v1.11 "Sending encrypted attachments"):
//! parsing any JSON text, then verifying/decrypting any ciphertext with what was parsed, and an
//! encrypt → decrypt round trip with any key, iv, data and chunking.
//!
//! Input framing (readable seeds): `<EncryptedFile JSON> NUL <ciphertext bytes>`; without a
//! NUL the whole input is the JSON and the ciphertext is empty.
//!
//! Invariants: no panic; every error has a stable code; an accepted file re-serialises to a
//! canonical object that parses back to the same file (also through serde's own path);
//! `decrypt` succeeds exactly when the ciphertext's SHA-256 matches (checked by re-encrypting
//! the plaintext: same ciphertext, same secrets); the streaming `AttachmentDecryptor`, fed
//! any chunking, gives the same result as one-shot `decrypt`, and never yields plaintext of a
//! ciphertext whose hash does not match; a size limit is enforced and sticks.
#![no_main]

use authmedia_core::{decrypt, encrypt, AttachmentError, AttachmentSecrets, EncryptedFile};
use libfuzzer_sys::fuzz_target;

/// Chunk lengths taken from the data itself (1..=64 bytes each).
fn chunks<'a>(data: &'a [u8], seed: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = usize::from(seed.get(i % seed.len().max(1)).copied().unwrap_or(7) % 64) + 1;
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
        i += 1;
    }
    out
}

fn streamed(
    secrets: &AttachmentSecrets,
    data: &[u8],
    seed: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    let mut d = authmedia_core::AttachmentDecryptor::new(secrets);
    for c in chunks(data, seed) {
        d.push(c)?;
    }
    assert_eq!(d.len(), data.len() as u64);
    d.finish()
}

fn check_decrypt(secrets: &AttachmentSecrets, ciphertext: &[u8]) {
    let one_shot = decrypt(secrets, ciphertext);
    match &one_shot {
        Ok(plain) => {
            assert_eq!(plain.len(), ciphertext.len());
            // Decrypting is encrypting: the plaintext encrypts back to the very same file.
            let (again, ct) = encrypt(plain, secrets.key, secrets.iv).expect("re-encrypt");
            assert_eq!(ct, ciphertext);
            assert!(
                again == *secrets,
                "hash accepted for a different ciphertext"
            );
        }
        Err(e) => assert_eq!(e.code(), AttachmentError::HashMismatch.code(), "{e:?}"),
    }
    assert_eq!(streamed(secrets, ciphertext, ciphertext), one_shot);
    let mut buf = ciphertext.to_vec();
    let in_place = authmedia_core::decrypt_in_place(secrets, &mut buf);
    match (&one_shot, in_place) {
        (Ok(p), Ok(())) => assert_eq!(&buf, p),
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!("decrypt {a:?} vs decrypt_in_place {b:?}"),
    }
}

fn check_file(json: &str, ciphertext: &[u8]) {
    let parsed = EncryptedFile::from_json(json);
    let via_serde = serde_json::from_str::<EncryptedFile>(json);
    assert_eq!(
        parsed.is_ok(),
        via_serde.is_ok(),
        "{json}: {parsed:?} vs {via_serde:?}"
    );
    let f = match parsed {
        Ok(f) => f,
        Err(e) => {
            assert!(!e.code().is_empty() && !e.to_string().is_empty());
            return;
        }
    };
    assert_eq!(via_serde.ok().as_ref(), Some(&f));
    assert_eq!(EncryptedFile::from_wire(f.to_wire()).as_ref(), Ok(&f));
    let text = serde_json::to_string(&f).expect("serialise");
    assert_eq!(EncryptedFile::from_json(&text).as_ref(), Ok(&f), "{text}");
    assert!(
        !format!("{:?}", f.secrets).contains(&format!("{:?}", f.secrets.key)),
        "key in Debug"
    );
    check_decrypt(&f.secrets, ciphertext);
    assert_eq!(f.decrypt(ciphertext), decrypt(&f.secrets, ciphertext));
}

fn round_trip(data: &[u8]) {
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    for (i, b) in data.iter().take(48).enumerate() {
        match key.get_mut(i) {
            Some(k) => *k = *b,
            None => iv[i - 32] = *b,
        }
    }
    let plain = data.get(48..).unwrap_or(&[]);
    let (secrets, ct) = encrypt(plain, key, iv).expect("encrypt");
    assert_eq!(ct.len(), plain.len());
    assert_eq!(decrypt(&secrets, &ct).as_deref(), Ok(plain));
    assert_eq!(streamed(&secrets, &ct, data).as_deref(), Ok(plain));
    if let Some((first, rest)) = ct.split_first() {
        // One flipped bit anywhere: refused, and no plaintext handed out.
        let mut bad = ct.clone();
        let at = usize::from(*first) % bad.len();
        bad[at] ^= 1;
        assert_eq!(decrypt(&secrets, &bad), Err(AttachmentError::HashMismatch));
        assert_eq!(
            streamed(&secrets, &bad, data),
            Err(AttachmentError::HashMismatch)
        );
        // A limit below the size stops the stream, and the failure sticks.
        let limit = rest.len() as u64;
        let mut d = authmedia_core::AttachmentDecryptor::new(&secrets).with_limit(limit);
        let err = chunks(&ct, data).into_iter().find_map(|c| d.push(c).err());
        assert_eq!(err, Some(AttachmentError::TooLarge { limit }));
        assert_eq!(d.push(&[]), Err(AttachmentError::TooLarge { limit }));
        assert_eq!(d.finish(), Err(AttachmentError::TooLarge { limit }));
    }
}

fuzz_target!(|data: &[u8]| {
    let (json, ciphertext) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    check_file(&String::from_utf8_lossy(json), ciphertext);
    round_trip(data);
});
