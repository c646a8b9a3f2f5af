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

use authmedia_core::attachment::iv_from_nonce;
use authmedia_core::{encrypt_in_place, AttachmentDecryptor, EncryptedFile, MxcUri};
use serde_json::Value;

use crate::args::{Args, Usage};

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
pub fn cmd_decrypt(a: &Args, stdin: &mut dyn Read) -> Result<Binary, Usage> {
    a.positionals(&[])?;
    let path = a.require("file")?;
    let limit: Option<u64> = a.parsed("max-bytes", "a non-negative integer")?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Ok(failed(
                "cannot_read_file",
                format!("cannot read {path}: {e}"),
            ))
        }
    };
    let file = match EncryptedFile::from_json(&text) {
        Ok(f) => f,
        Err(e) => return Ok(failed(e.code(), e)),
    };
    let mut d = AttachmentDecryptor::new(&file.secrets);
    if let Some(limit) = limit {
        d = d.with_limit(limit);
    }
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match stdin.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Ok(failed(
                    "cannot_read_input",
                    format!("cannot read stdin: {e}"),
                ))
            }
        };
        let Some(bytes) = chunk.get(..n) else {
            return Ok(failed("cannot_read_input", "read past the buffer"));
        };
        if let Err(e) = d.push(bytes) {
            return Ok(failed(e.code(), e));
        }
    }
    Ok(match d.finish() {
        Ok(plaintext) => Binary::Ok {
            stdout: plaintext,
            stderr: None,
        },
        Err(e) => failed(e.code(), e),
    })
}

/// A `type/subtype` media type: RFC 6838 restricted names, parameters allowed after `;`.
fn valid_mimetype(m: &str) -> bool {
    let essence = m.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(essence.split_once('/'), Some((t, s)) if token(t) && token(s))
        && !m.bytes().any(|b| b.is_ascii_control())
}

/// Creates (or truncates) a file only the owner can read: it holds the key.
fn create_private(path: &str) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// `authmedia encrypt --mimetype T [--url MXC] [--info-out F] < plaintext > ciphertext`.
pub fn cmd_encrypt(
    a: &Args,
    stdin: &mut dyn Read,
    random: impl FnOnce(&mut [u8]) -> Result<(), String>,
) -> Result<Binary, Usage> {
    a.positionals(&[])?;
    let mimetype = a.require("mimetype")?;
    if !valid_mimetype(mimetype) {
        return Err(Usage(format!(
            "--mimetype must be a media type such as image/png, got {mimetype:?}"
        )));
    }
    let url = match a.get("url") {
        None => PLACEHOLDER_URL,
        Some(u) => u,
    };
    let url = match MxcUri::parse(url) {
        Ok(u) => u,
        Err(e) => return Ok(failed(e.code(), format!("--url: {e}"))),
    };
    let mut buf = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut buf) {
        return Ok(failed(
            "cannot_read_input",
            format!("cannot read stdin: {e}"),
        ));
    }
    // 32 key bytes, then 8 nonce bytes (the iv's low 64 bits start at zero).
    let mut rnd = [0u8; 40];
    if let Err(e) = random(&mut rnd) {
        return Ok(failed(
            "no_randomness",
            format!("OS random source failed: {e}"),
        ));
    }
    let (key, nonce) = rnd.split_at(32);
    let (Ok(key), Ok(nonce)) = (<[u8; 32]>::try_from(key), <[u8; 8]>::try_from(nonce)) else {
        return Ok(failed("no_randomness", "random buffer of the wrong size"));
    };
    let secrets = match encrypt_in_place(&mut buf, key, iv_from_nonce(nonce)) {
        Ok(s) => s,
        Err(e) => return Ok(failed(e.code(), e)),
    };
    let file = secrets.with_url(url);
    let mut info = match serde_json::to_value(&file) {
        Ok(v) => v,
        Err(e) => return Ok(failed("internal", e)),
    };
    if let Value::Object(map) = &mut info {
        map.insert("mimetype".into(), Value::String(mimetype.to_owned()));
    }
    let text = info.to_string();
    let stderr = match a.get("info-out") {
        None => Some(text),
        Some(path) => {
            let written =
                create_private(path).and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()));
            if let Err(e) = written {
                return Ok(failed(
                    "cannot_write_file",
                    format!("cannot write {path}: {e}"),
                ));
            }
            None
        }
    };
    Ok(Binary::Ok {
        stdout: buf,
        stderr,
    })
}
