//! `authmedia`: the authmedia core on the command line, JSON out.
//!
//! Exit status: 0 success (also `--help`, `--version`), 1 invalid input (`{"error": code,
//! "message": …}` on stdout; on stderr for `encrypt`/`decrypt`, whose stdout carries raw
//! bytes), 2 usage error (message and usage on stderr). An argument that is not UTF-8 is
//! invalid input (`invalid_utf8`, exit 1), not a usage error: it is the value that is wrong.

// The argument docs are the CLI's `--help` text (clap derive), read in a terminal: URLs there
// stay plain text rather than rustdoc links.
#![allow(rustdoc::bare_urls)]
mod args;
mod attachment;
mod probe;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

use authmedia_core::{
    classify, media_url, negotiate, thumbnail_size, Classification, Homeserver, MediaRequest,
    MxcUri, Thumbnail, Versions,
};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use serde_json::{json, Value};

use args::{Cli, Command, ThumbnailSizeArgs, UrlArgs};

/// The outcome of a command.
enum Outcome {
    /// Print on stdout, exit 0.
    Ok(String),
    /// Print `{"error", "message"}` on stdout, exit 1.
    Invalid { code: &'static str, message: String },
    /// Raw bytes on stdout (encrypt/decrypt), or their error on stderr.
    Binary(attachment::Binary),
    /// A probe report on stdout; exit 0 when ready, 1 when a check failed.
    Report { text: String, ready: bool },
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&argv) {
        Ok(cli) => report(run(cli.command)),
        Err(e) => parse_error(&e, &argv),
    }
}

/// Help and version go to stdout with exit 0; a non-UTF-8 argument is the JSON error of
/// exit 1 (on stderr for the commands whose stdout is raw bytes); anything else is a usage
/// error, exit 2.
fn parse_error(e: &clap::Error, argv: &[OsString]) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{}", e.render());
            ExitCode::SUCCESS
        }
        ErrorKind::InvalidUtf8 => {
            let binary = matches!(
                argv.get(1).and_then(|a| a.to_str()),
                Some("encrypt" | "decrypt")
            );
            let error = json!({ "error": "invalid_utf8", "message": non_utf8_message(argv) });
            if binary {
                eprintln!("{error}");
            } else {
                println!("{error}");
            }
            ExitCode::from(1)
        }
        _ => {
            // Usage errors have said "usage:" since the first version of the tool; scripts and
            // tests look for it, and clap capitalises its heading.
            let mut text = e.render().to_string().replace("Usage: ", "usage: ");
            // clap leaves the usage out of some errors (a value its parser refused).
            if !text.contains("usage: ") {
                let usage = usage_of(argv.get(1).and_then(|a| a.to_str()));
                let at = text.find("For more information").unwrap_or(text.len());
                text.insert_str(at, &format!("{usage}\n\n"));
            }
            eprint!("{text}");
            ExitCode::from(2)
        }
    }
}

/// `usage: …` of a subcommand, or of the tool when `name` is none of them.
fn usage_of(name: Option<&str>) -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let usage = match name.and_then(|n| cmd.find_subcommand_mut(n)) {
        Some(sub) => sub.render_usage(),
        None => cmd.render_usage(),
    };
    usage.to_string().replace("Usage: ", "usage: ")
}

/// Names the first argument that is not UTF-8 (shown with U+FFFD for the bad bytes) and the
/// option it is the value of, if any.
fn non_utf8_message(argv: &[OsString]) -> String {
    let args = argv.get(1..).unwrap_or_default();
    let Some(i) = args.iter().position(|a| a.to_str().is_none()) else {
        return "an argument is not valid UTF-8".to_owned();
    };
    let bad = args.get(i).map(|a| a.to_string_lossy()).unwrap_or_default();
    if let Some((flag, _)) = bad.split_once('=').filter(|(f, _)| f.starts_with("--")) {
        return format!("the value of {flag} is not valid UTF-8: {bad:?}");
    }
    match i
        .checked_sub(1)
        .and_then(|p| args.get(p))
        .and_then(|a| a.to_str())
    {
        Some(flag) if flag.starts_with("--") && flag.len() > 2 && !flag.contains('=') => {
            format!("the value of {flag} is not valid UTF-8: {bad:?}")
        }
        _ => format!("argument {} is not valid UTF-8: {bad:?}", i + 1),
    }
}

fn report(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Outcome::Invalid { code, message } => {
            println!("{}", json!({ "error": code, "message": message }));
            ExitCode::from(1)
        }
        Outcome::Binary(attachment::Binary::Ok { stdout, stderr }) => {
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
        Outcome::Report { text, ready } => {
            println!("{}", text.trim_end());
            ExitCode::from(if ready { 0 } else { 1 })
        }
        Outcome::Binary(attachment::Binary::Failed { code, message }) => {
            eprintln!("{}", json!({ "error": code, "message": message }));
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> Outcome {
    match command {
        Command::Parse { mxc } => cmd_parse(&mxc),
        Command::Url(a) => cmd_url(&a),
        Command::Negotiate => cmd_negotiate(),
        Command::Classify { homeserver, url } => cmd_classify(&homeserver, &url),
        Command::ThumbnailSize(a) => cmd_thumbnail_size(&a),
        Command::Encrypt(a) => Outcome::Binary(attachment::cmd_encrypt(
            &a,
            &mut std::io::stdin().lock(),
            |buf| getrandom::fill(buf).map_err(|e| e.to_string()),
        )),
        Command::Decrypt(a) => {
            Outcome::Binary(attachment::cmd_decrypt(&a, &mut std::io::stdin().lock()))
        }
        Command::Probe(a) => match probe::run(&a) {
            probe::ProbeOutcome::Report { text, ready } => Outcome::Report { text, ready },
            probe::ProbeOutcome::Invalid { code, message } => Outcome::Invalid { code, message },
        },
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

fn cmd_parse(mxc: &str) -> Outcome {
    match MxcUri::parse(mxc) {
        Ok(m) => json_out(&json!({
            "server_name": m.server_name().as_str(),
            "media_id": m.media_id().as_str(),
        })),
        Err(e) => invalid(e.code(), e),
    }
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

fn cmd_url(a: &UrlArgs) -> Outcome {
    let request = match a.thumbnail {
        Some((width, height)) => MediaRequest::Thumbnail(Thumbnail {
            width,
            height,
            method: a.method.map(Into::into),
            animated: a.animated,
        }),
        None => MediaRequest::Download {
            filename: a.filename.clone(),
        },
    };
    let hs = match homeserver(&a.homeserver) {
        Ok(hs) => hs,
        Err(out) => return out,
    };
    match MxcUri::parse(&a.mxc) {
        Ok(m) => Outcome::Ok(media_url(&hs, a.api.into(), &m, &request, a.timeout_ms)),
        Err(e) => invalid(e.code(), e),
    }
}

fn cmd_negotiate() -> Outcome {
    let mut body = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut body) {
        return invalid("invalid_input", format!("cannot read stdin: {e}"));
    }
    match Versions::from_json(&body) {
        Ok(v) => json_out(&json!({ "api": negotiate(&v).as_str() })),
        Err(e) => invalid(e.code(), e),
    }
}

fn cmd_classify(base: &str, url: &str) -> Outcome {
    let hs = match homeserver(base) {
        Ok(hs) => hs,
        Err(out) => return out,
    };
    let url = match normalise_url(url) {
        Ok(u) => u,
        Err(out) => return out,
    };
    json_out(&match classify(&url, std::slice::from_ref(&hs)) {
        Classification::Media(m) => json!({ "route": m.route.as_str(), "upgraded": m.upgraded }),
        Classification::Other => json!({ "route": "other", "upgraded": null }),
    })
}

fn cmd_thumbnail_size(a: &ThumbnailSizeArgs) -> Outcome {
    let method = a.method.into();
    match thumbnail_size(a.width, a.height, a.dpr, method) {
        Ok(t) => {
            json_out(&json!({ "width": t.width, "height": t.height, "method": method.as_str() }))
        }
        Err(e) => invalid(e.code(), e),
    }
}
