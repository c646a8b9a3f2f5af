//! `authmedia encrypt` and `authmedia decrypt`: encrypted attachments on the command line.
//!
//! Both move raw bytes through stdin/stdout, so their JSON (the `EncryptedFile`, or an
//! error) goes to stderr or to a file, never mixed into the data:
//!
//! * `decrypt --file F.json < ciphertext > plaintext`: reads all of stdin through the
//!   streaming [`AttachmentDecryptor`], and writes the plaintext only after the SHA-256
//!   matched. On a bad file, an unreadable input or a mismatch: exit 1, nothing on stdout,
//!   `{"error": code, "message": …}` on stderr.
//! * `encrypt --mimetype T [--url MXC] [--info-out F] < plaintext > ciphertext`: a fresh
//!   key and iv from the OS (`getrandom`), the ciphertext on stdout, the `EncryptedFile`
//!   (plus `"mimetype"`, which parsers ignore, for the event's `info.mimetype`) on stderr or
//!   in F. Without `--url` the `url` is the placeholder [`PLACEHOLDER_URL`]: upload the
//!   ciphertext (`POST /_matrix/media/v3/upload`) and put the returned `content_uri` there.

use std::io::{Read, Write};
use std::path::Path;

use authmedia_core::attachment::iv_from_nonce;
use authmedia_core::{encrypt_in_place, AttachmentDecryptor, EncryptedFile, MxcUri};
use serde_json::Value;

use crate::args::{DecryptArgs, EncryptArgs};

/// The `url` of `encrypt`'s output when no `--url` is given: a valid mxc URI on a
/// reserved `.invalid` name, so the output parses (and `decrypt --file` accepts it) but
/// can never be fetched by mistake.
pub const PLACEHOLDER_URL: &str = "mxc://upload.invalid/replace-with-content-uri";

/// What an encrypt/decrypt run produced.
pub enum Binary {
    /// Bytes for stdout and, maybe, a JSON text for stderr; exit 0.
    Ok {
        /// Raw bytes for stdout.
        stdout: Vec<u8>,
        /// A line for stderr.
        stderr: Option<String>,
    },
    /// `{"error", "message"}` on stderr, nothing on stdout, exit 1.
    Failed {
        /// Stable error code.
        code: &'static str,
        /// Human-readable message.
        message: String,
    },
}

fn failed(code: &'static str, message: impl ToString) -> Binary {
    Binary::Failed {
        code,
        message: message.to_string(),
    }
}

/// `authmedia decrypt --file F.json [--max-bytes N] < ciphertext > plaintext`.
pub fn cmd_decrypt(a: &DecryptArgs, stdin: &mut dyn Read) -> Binary {
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            return failed(
                "cannot_read_file",
                format!("cannot read {}: {e}", a.file.display()),
            )
        }
    };
    let file = match EncryptedFile::from_json(&text) {
        Ok(f) => f,
        Err(e) => return failed(e.code(), e),
    };
    let mut d = AttachmentDecryptor::new(&file.secrets);
    if let Some(limit) = a.max_bytes {
        d = d.with_limit(limit);
    }
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match stdin.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return failed("cannot_read_input", format!("cannot read stdin: {e}")),
        };
        let Some(bytes) = chunk.get(..n) else {
            return failed("cannot_read_input", "read past the buffer");
        };
        if let Err(e) = d.push(bytes) {
            return failed(e.code(), e);
        }
    }
    match d.finish() {
        Ok(plaintext) => Binary::Ok {
            stdout: plaintext,
            stderr: None,
        },
        Err(e) => failed(e.code(), e),
    }
}

/// Creates (or truncates) a file only the owner can read: it holds the key.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// `authmedia encrypt --mimetype T [--url MXC] [--info-out F] < plaintext > ciphertext`.
pub fn cmd_encrypt(
    a: &EncryptArgs,
    stdin: &mut dyn Read,
    random: impl FnOnce(&mut [u8]) -> Result<(), String>,
) -> Binary {
    let url = a.url.as_deref().unwrap_or(PLACEHOLDER_URL);
    let url = match MxcUri::parse(url) {
        Ok(u) => u,
        Err(e) => return failed(e.code(), format!("--url: {e}")),
    };
    let mut buf = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut buf) {
        return failed("cannot_read_input", format!("cannot read stdin: {e}"));
    }
    // 32 key bytes, then 8 nonce bytes (the iv's low 64 bits start at zero).
    let mut rnd = [0u8; 40];
    if let Err(e) = random(&mut rnd) {
        return failed("no_randomness", format!("OS random source failed: {e}"));
    }
    let (key, nonce) = rnd.split_at(32);
    let (Ok(key), Ok(nonce)) = (<[u8; 32]>::try_from(key), <[u8; 8]>::try_from(nonce)) else {
        return failed("no_randomness", "random buffer of the wrong size");
    };
    let secrets = match encrypt_in_place(&mut buf, key, iv_from_nonce(nonce)) {
        Ok(s) => s,
        Err(e) => return failed(e.code(), e),
    };
    let file = secrets.with_url(url);
    let mut info = match serde_json::to_value(&file) {
        Ok(v) => v,
        Err(e) => return failed("internal", e),
    };
    if let Value::Object(map) = &mut info {
        map.insert("mimetype".into(), Value::String(a.mimetype.clone()));
    }
    let text = info.to_string();
    let stderr = match &a.info_out {
        None => Some(text),
        Some(path) => {
            let written =
                create_private(path).and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()));
            if let Err(e) = written {
                return failed(
                    "cannot_write_file",
                    format!("cannot write {}: {e}", path.display()),
                );
            }
            None
        }
    };
    Binary::Ok {
        stdout: buf,
        stderr,
    }
}
