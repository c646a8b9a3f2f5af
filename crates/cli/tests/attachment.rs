//! Runs `authmedia encrypt` / `authmedia decrypt`: raw bytes on stdin/stdout,
//! JSON on stderr or in a file, nothing on stdout unless the hash matched.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authmedia"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn authmedia");
    let mut pipe = child.stdin.take().unwrap();
    // A failing command may exit before reading everything: ignore the broken pipe.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// A fresh path in the temp dir, removed when dropped.
struct Temp(PathBuf);
impl Temp {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        Self(std::env::temp_dir().join(format!("authmedia-cli-{}-{n}-{name}", std::process::id())))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
    fn write(name: &str, text: &str) -> Self {
        let t = Self::new(name);
        std::fs::write(&t.0, text).unwrap();
        t
    }
}
impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Exit 1, empty stdout, one `{"error", "message"}` line on stderr; returns the code.
fn failed(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stdout.is_empty(),
        "stdout must stay empty, got {} bytes",
        o.stdout.len()
    );
    let v: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    assert!(!v["message"].as_str().unwrap().is_empty());
    v["error"].as_str().unwrap().to_owned()
}

fn usage(o: &Output) {
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage:"));
}

/// `encrypt` with `--info-out`: (ciphertext, info JSON, info file).
fn encrypt(plain: &[u8], extra: &[&str]) -> (Vec<u8>, Value, Temp) {
    let info = Temp::new("info.json");
    let mut args = vec![
        "encrypt",
        "--mimetype",
        "image/png",
        "--info-out",
        info.path(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args, plain);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stderr.is_empty(), "info went to the file, not stderr");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&info.0).unwrap()).unwrap();
    (o.stdout, v, info)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 % 251) as u8).collect()
}

const SPEC_FILE: &str = r#"{"v":"v2","url":"mxc://example.org/abc",
 "key":{"kty":"oct","key_ops":["encrypt","decrypt"],"alg":"A256CTR",
        "k":"Voq2nkPme_x8no5-Tjq_laDAdxE6iDbxnlQXxwFPgE4","ext":true},
 "iv":"i0DovxYdJEcAAAAAAAAAAA","hashes":{"sha256":"ANdt819a8bZl4jKy3Z+jcqtiNICa2y0AW4BBJ/iQRAU"}}"#;
const SPEC_CT: [u8; 26] = [
    179, 154, 118, 127, 186, 127, 110, 33, 203, 33, 33, 134, 67, 100, 173, 46, 235, 27, 215, 172,
    36, 26, 75, 47, 33, 160,
];

#[test]
fn decrypts_the_spec_vector() {
    let f = Temp::write("spec.json", SPEC_FILE);
    let o = run(&["decrypt", "--file", f.path()], &SPEC_CT);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, b"It's a secret to everybody");
    assert!(o.stderr.is_empty());
}

#[test]
fn round_trips_and_uses_fresh_randomness() {
    for n in [0, 1, 15, 16, 17, 200_000] {
        let plain = pattern(n);
        let (ct, info, file) = encrypt(&plain, &[]);
        assert_eq!(ct.len(), n);
        if n > 16 {
            assert_ne!(ct, plain);
        }
        assert_eq!(info["mimetype"], "image/png");
        assert_eq!(info["url"], "mxc://upload.invalid/replace-with-content-uri");
        assert_eq!(info["v"], "v2");
        assert_eq!(info["key"]["key_ops"], json!(["encrypt", "decrypt"]));
        assert!(
            info["iv"].as_str().unwrap().ends_with("AAAAAAAAAAA"),
            "{info}"
        );
        let o = run(&["decrypt", "--file", file.path()], &ct);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout == plain, "{n} bytes differ after the round trip");
    }
    let (a, ia, _fa) = encrypt(b"same input", &[]);
    let (b, ib, _fb) = encrypt(b"same input", &[]);
    assert_ne!(ia["key"]["k"], ib["key"]["k"]);
    assert_ne!(ia["iv"], ib["iv"]);
    assert_ne!(a, b);
}

#[cfg(unix)]
#[test]
fn info_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_, _, file) = encrypt(b"x", &[]);
    let mode = std::fs::metadata(&file.0).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn info_on_stderr_and_explicit_url() {
    let o = run(
        &[
            "encrypt",
            "--mimetype",
            "video/webm",
            "--url",
            "mxc://example.org:8448/Abc_-1",
        ],
        b"0123456789abcdefXYZ",
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout.len(), 19);
    let text = String::from_utf8(o.stderr).unwrap();
    assert_eq!(text.lines().count(), 1);
    let info: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(info["url"], "mxc://example.org:8448/Abc_-1");
    assert_eq!(info["mimetype"], "video/webm");
    // The stderr JSON is itself a usable --file.
    let f = Temp::write("stderr.json", &text);
    let back = run(&["decrypt", "--file", f.path()], &o.stdout);
    assert_eq!(back.stdout, b"0123456789abcdefXYZ");
}

#[test]
fn tampered_or_truncated_ciphertext_writes_nothing() {
    let plain = pattern(100_000);
    let (ct, _, file) = encrypt(&plain, &[]);
    for i in [0, 1, 50_000, 99_999] {
        let mut bad = ct.clone();
        bad[i] ^= 0x20;
        assert_eq!(
            failed(&run(&["decrypt", "--file", file.path()], &bad)),
            "hash_mismatch"
        );
    }
    for len in [0, 1, 65_536, 99_999] {
        let o = run(&["decrypt", "--file", file.path()], &ct[..len]);
        assert_eq!(failed(&o), "hash_mismatch", "truncated to {len}");
    }
    let mut longer = ct.clone();
    longer.push(0);
    assert_eq!(
        failed(&run(&["decrypt", "--file", file.path()], &longer)),
        "hash_mismatch"
    );
    // A byte limit below the size refuses too; at the size it passes.
    let o = run(
        &["decrypt", "--file", file.path(), "--max-bytes", "99999"],
        &ct,
    );
    assert_eq!(failed(&o), "too_large");
    let o = run(
        &["decrypt", "--file", file.path(), "--max-bytes", "100000"],
        &ct,
    );
    assert!(o.status.success() && o.stdout == plain);
}

#[test]
fn bad_encrypted_files() {
    let spec: Value = serde_json::from_str(SPEC_FILE).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = spec.clone();
        f(&mut v);
        v.to_string()
    };
    let cases = [
        ("{".to_owned(), "invalid_json"),
        ("[]".to_owned(), "malformed_encrypted_file"),
        (edit(&|v| v["v"] = json!("v1")), "unsupported_version"),
        (
            edit(&|v| v["key"]["alg"] = json!("A128CTR")),
            "invalid_algorithm",
        ),
        (
            edit(&|v| v["key"]["kty"] = json!("RSA")),
            "invalid_key_type",
        ),
        (
            edit(&|v| v["key"]["key_ops"] = json!(["decrypt"])),
            "missing_key_ops",
        ),
        (
            edit(&|v| v["key"]["k"] = json!("Voq2nkPme_x8no5-Tjq_lQ")),
            "invalid_length",
        ),
        (
            edit(&|v| v["key"]["k"] = json!("not base64!")),
            "invalid_base64",
        ),
        (edit(&|v| v["iv"] = json!("i0DovxYdJEc")), "invalid_length"),
        (
            edit(&|v| v["url"] = json!("mxc://../config")),
            "invalid_url",
        ),
        (
            edit(&|v| {
                v.as_object_mut().unwrap().remove("hashes");
            }),
            "missing_field",
        ),
    ];
    for (text, code) in cases {
        let f = Temp::write("bad.json", &text);
        let o = run(&["decrypt", "--file", f.path()], &SPEC_CT);
        assert_eq!(failed(&o), code, "{text}");
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("Voq2nkPme"),
            "error leaks the key"
        );
    }
    let missing = Temp::new("does-not-exist.json");
    assert_eq!(
        failed(&run(&["decrypt", "--file", missing.path()], &SPEC_CT)),
        "cannot_read_file"
    );
}

#[test]
fn usage_errors() {
    usage(&run(&["decrypt"], b""));
    usage(&run(&["decrypt", "--file", "a.json", "extra"], b""));
    usage(&run(
        &["decrypt", "--file", "a.json", "--max-bytes", "-1"],
        b"",
    ));
    usage(&run(&["encrypt"], b""));
    usage(&run(&["encrypt", "--mimetype", "png"], b""));
    usage(&run(&["encrypt", "--mimetype", "image/png\n"], b""));
    usage(&run(
        &["encrypt", "--mimetype", "image/png", "--bogus", "1"],
        b"",
    ));
    let o = run(
        &["encrypt", "--mimetype", "image/png", "--url", "https://x/y"],
        b"abc",
    );
    assert_eq!(failed(&o), "invalid_scheme");
}
