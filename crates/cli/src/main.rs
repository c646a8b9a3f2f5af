//! `authmedia`: the authmedia core on the command line, JSON out.
//!
//! Exit status: 0 success, 1 invalid input (`{"error": code, "message": …}` on stdout;
//! on stderr for `encrypt`/`decrypt`, whose stdout carries raw bytes), 2 usage error
//! (message and usage on stderr).

mod args;
mod attachment;

use std::io::{Read, Write};
use std::process::ExitCode;

use authmedia_core::{
    classify, media_url, negotiate, thumbnail_size, Api, Classification, Homeserver, MediaRequest,
    Method, MxcUri, Thumbnail, Versions,
};
use serde_json::{json, Value};

use args::{Args, Usage};

const USAGE: &str = "\
usage:
  authmedia parse <mxc>
  authmedia url --homeserver <base> [--api v1|unstable|legacy] [--filename NAME]
                [--thumbnail WxH [--method crop|scale] [--animated true|false]]
                [--timeout-ms N] <mxc>
  authmedia negotiate < versions.json
  authmedia classify --homeserver <base> <url>
  authmedia thumbnail-size --width W --height H --dpr D --method crop|scale
  authmedia encrypt --mimetype TYPE [--url MXC] [--info-out FILE] < plaintext > ciphertext
                (EncryptedFile JSON + \"mimetype\" on stderr, or in FILE; without --url,
                 url is mxc://upload.invalid/replace-with-content-uri)
  authmedia decrypt --file ENCRYPTED_FILE.json [--max-bytes N] < ciphertext > plaintext
                (plaintext written only after the SHA-256 matched)

exit status: 0 ok, 1 invalid input ({\"error\": code, \"message\": ...} on stdout;
on stderr for encrypt/decrypt, which then write nothing to stdout), 2 usage error";

/// The outcome of a command.
enum Outcome {
    /// Print on stdout, exit 0.
    Ok(String),
    /// Print `{"error", "message"}` on stdout, exit 1.
    Invalid { code: &'static str, message: String },
    /// Raw bytes on stdout (encrypt/decrypt), or their error on stderr.
    Binary(attachment::Binary),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(Outcome::Ok(out)) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Invalid { code, message }) => {
            println!("{}", json!({ "error": code, "message": message }));
            ExitCode::from(1)
        }
        Ok(Outcome::Binary(attachment::Binary::Ok { stdout, stderr })) => {
            if let Some(text) = stderr {
                eprintln!("{text}");
            }
            let mut out = std::io::stdout().lock();
            match out.write_all(&stdout).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let message = format!("cannot write stdout: {e}");
                    eprintln!(
                        "{}",
                        json!({ "error": "cannot_write_output", "message": message })
                    );
                    ExitCode::from(1)
                }
            }
        }
        Ok(Outcome::Binary(attachment::Binary::Failed { code, message })) => {
            eprintln!("{}", json!({ "error": code, "message": message }));
            ExitCode::from(1)
        }
        Err(Usage(msg)) if msg.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(Usage(msg)) => {
            eprintln!("authmedia: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(argv: &[String]) -> Result<Outcome, Usage> {
    let Some((cmd, rest)) = argv.split_first() else {
        return Err(Usage("missing command".into()));
    };
    match cmd.as_str() {
        "parse" => cmd_parse(&Args::parse(rest, &[])?),
        "url" => cmd_url(&Args::parse(
            rest,
            &[
                "homeserver",
                "api",
                "filename",
                "thumbnail",
                "method",
                "animated",
                "timeout-ms",
            ],
        )?),
        "negotiate" => cmd_negotiate(&Args::parse(rest, &[])?),
        "classify" => cmd_classify(&Args::parse(rest, &["homeserver"])?),
        "thumbnail-size" => {
            cmd_thumbnail_size(&Args::parse(rest, &["width", "height", "dpr", "method"])?)
        }
        "encrypt" => attachment::cmd_encrypt(
            &Args::parse(rest, &["mimetype", "url", "info-out"])?,
            &mut std::io::stdin().lock(),
            |buf| getrandom::fill(buf).map_err(|e| e.to_string()),
        )
        .map(Outcome::Binary),
        "decrypt" => attachment::cmd_decrypt(
            &Args::parse(rest, &["file", "max-bytes"])?,
            &mut std::io::stdin().lock(),
        )
        .map(Outcome::Binary),
        "help" | "--help" | "-h" => Err(Usage(String::new())),
        other => Err(Usage(format!("unknown command {other:?}"))),
    }
}

fn invalid(code: &'static str, message: impl ToString) -> Outcome {
    Outcome::Invalid {
        code,
        message: message.to_string(),
    }
}

fn json_out(v: &Value) -> Outcome {
    Outcome::Ok(v.to_string())
}

fn cmd_parse(a: &Args) -> Result<Outcome, Usage> {
    let [mxc] = a.positionals(&["mxc"])? else {
        return Err(Usage("expected one mxc URI".into()));
    };
    Ok(match MxcUri::parse(mxc) {
        Ok(m) => json_out(&json!({
            "server_name": m.server_name().as_str(),
            "media_id": m.media_id().as_str(),
        })),
        Err(e) => invalid(e.code(), e),
    })
}

/// Normalises a user-typed URL as a browser would (scheme/host case, default port,
/// IDNA, dot segments, escaping), or explains why it is not a URL.
fn normalise_url(input: &str) -> Result<String, Outcome> {
    url::Url::parse(input)
        .map(String::from)
        .map_err(|e| invalid("invalid_url", format!("not an absolute URL: {e}")))
}

fn homeserver(input: &str) -> Result<Homeserver, Outcome> {
    let normalised = normalise_url(input)?;
    Homeserver::parse(&normalised).map_err(|e| invalid(e.code(), e))
}

fn cmd_url(a: &Args) -> Result<Outcome, Usage> {
    let [mxc] = a.positionals(&["mxc"])? else {
        return Err(Usage("expected one mxc URI".into()));
    };
    let base = a.require("homeserver")?;
    let api: Api = a
        .parsed("api", "v1, unstable or legacy")?
        .unwrap_or(Api::V1);
    let timeout_ms: Option<u64> = a.parsed("timeout-ms", "a non-negative integer")?;
    let method: Option<Method> = a.parsed("method", "crop or scale")?;
    let animated: Option<bool> = a.parsed("animated", "true or false")?;
    let request = match a.get("thumbnail") {
        Some(size) => {
            if a.get("filename").is_some() {
                return Err(Usage(
                    "--filename applies to downloads, not --thumbnail".into(),
                ));
            }
            let parsed = size
                .split_once(['x', 'X'])
                .and_then(|(w, h)| Some((parse_dim(w)?, parse_dim(h)?)));
            let Some((width, height)) = parsed else {
                return Err(Usage(format!(
                    "--thumbnail must be WxH with positive integers, got {size:?}"
                )));
            };
            MediaRequest::Thumbnail(Thumbnail {
                width,
                height,
                method,
                animated,
            })
        }
        None => {
            if method.is_some() || animated.is_some() {
                return Err(Usage("--method and --animated need --thumbnail".into()));
            }
            MediaRequest::Download {
                filename: a.get("filename").map(str::to_owned),
            }
        }
    };
    let hs = match homeserver(base) {
        Ok(hs) => hs,
        Err(out) => return Ok(out),
    };
    Ok(match MxcUri::parse(mxc) {
        Ok(m) => Outcome::Ok(media_url(&hs, api, &m, &request, timeout_ms)),
        Err(e) => invalid(e.code(), e),
    })
}

fn parse_dim(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n > 0)
}

fn cmd_negotiate(a: &Args) -> Result<Outcome, Usage> {
    a.positionals(&[])?;
    let mut body = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut body) {
        return Ok(invalid("invalid_input", format!("cannot read stdin: {e}")));
    }
    Ok(match Versions::from_json(&body) {
        Ok(v) => json_out(&json!({ "api": negotiate(&v).as_str() })),
        Err(e) => invalid(e.code(), e),
    })
}

fn cmd_classify(a: &Args) -> Result<Outcome, Usage> {
    let [url] = a.positionals(&["url"])? else {
        return Err(Usage("expected one URL".into()));
    };
    let base = a.require("homeserver")?;
    let hs = match homeserver(base) {
        Ok(hs) => hs,
        Err(out) => return Ok(out),
    };
    let url = match normalise_url(url) {
        Ok(u) => u,
        Err(out) => return Ok(out),
    };
    Ok(json_out(&match classify(&url, std::slice::from_ref(&hs)) {
        Classification::Media(m) => json!({ "route": m.route.as_str(), "upgraded": m.upgraded }),
        Classification::Other => json!({ "route": "other", "upgraded": null }),
    }))
}

fn cmd_thumbnail_size(a: &Args) -> Result<Outcome, Usage> {
    a.positionals(&[])?;
    let num = |flag: &str| -> Result<f64, Usage> {
        a.parsed::<f64>(flag, "a number")?
            .ok_or_else(|| Usage(format!("--{flag} is required")))
    };
    let (w, h, dpr) = (num("width")?, num("height")?, num("dpr")?);
    let method: Method = a
        .parsed("method", "crop or scale")?
        .ok_or_else(|| Usage("--method is required".into()))?;
    Ok(match thumbnail_size(w, h, dpr, method) {
        Ok(t) => {
            json_out(&json!({ "width": t.width, "height": t.height, "method": method.as_str() }))
        }
        Err(e) => invalid(e.code(), e),
    })
}
