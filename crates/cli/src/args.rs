//! The command line of `authmedia`, declared for `clap`: every subcommand, its options and
//! their checks, so `--help`, `--version` and errors naming the option come from one place.
//!
//! Values are checked here only for their *form* (a number, `WxH`, a media type): a
//! malformed form is a usage error (exit 2). Whether a well-formed value is valid Matrix
//! input (an mxc URI, a homeserver URL, a positive size) is the core's decision and ends as
//! the JSON error of exit 1.

use std::path::PathBuf;

use authmedia_core::{Api, Method};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The synopsis shown by `authmedia --help` and with usage errors of the tool itself.
const SYNOPSIS: &str = "\
authmedia parse <mxc>
       authmedia url --homeserver <base> [--api v1|unstable|legacy] [--filename NAME]
                     [--thumbnail WxH [--method crop|scale] [--animated true|false]]
                     [--timeout-ms N] <mxc>
       authmedia negotiate < versions.json
       authmedia classify --homeserver <base> <url>
       authmedia thumbnail-size --width W --height H --dpr D --method crop|scale
       authmedia encrypt --mimetype TYPE [--url MXC] [--info-out FILE] < plaintext > ciphertext
       authmedia decrypt --file ENCRYPTED_FILE.json [--max-bytes N] < ciphertext > plaintext
       authmedia probe <homeserver> [--token T] [--origin ORIGIN] [--mxc MXC | --upload] [--json]";

const EXIT_STATUS: &str = "\
Exit status: 0 ok, 1 invalid input ({\"error\": code, \"message\": ...} on stdout; on stderr for
encrypt/decrypt, which then write nothing to stdout; probe: a check failed), 2 usage error.";

/// `authmedia`: the authmedia core on the command line, JSON out.
#[derive(Debug, Parser)]
#[command(
    name = "authmedia",
    version,
    about = "Matrix authenticated media (MSC3916) on the command line: mxc URIs, media URLs, \
             /versions negotiation, encrypted attachments, and a homeserver readiness probe.",
    override_usage = SYNOPSIS,
    after_help = EXIT_STATUS,
    arg_required_else_help = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse an mxc:// URI: {"server_name", "media_id"}.
    Parse {
        /// The mxc:// URI.
        mxc: String,
    },
    /// Build the media URL of an mxc:// URI on a homeserver.
    Url(UrlArgs),
    /// Read a /_matrix/client/versions body on stdin: {"api": "v1"|"unstable"|"legacy"}.
    Negotiate,
    /// Classify a request URL against a homeserver: {"route", "upgraded"}.
    Classify {
        /// The homeserver's base URL, e.g. https://matrix.example.org.
        #[arg(long, value_name = "BASE")]
        homeserver: String,
        /// The URL a page or worker would request.
        url: String,
    },
    /// The thumbnail size to request for a CSS box at a device pixel ratio.
    ThumbnailSize(ThumbnailSizeArgs),
    /// Encrypt stdin as a Matrix attachment.
    ///
    /// The ciphertext goes to stdout, the EncryptedFile JSON (plus "mimetype") to stderr or to
    /// --info-out.
    #[command(after_help = "\
Without --url, \"url\" is mxc://upload.invalid/replace-with-content-uri: upload the ciphertext
(POST /_matrix/media/v3/upload) and put the returned content_uri there.")]
    Encrypt(EncryptArgs),
    /// Verify and decrypt an attachment read on stdin.
    ///
    /// The plaintext goes to stdout only after the SHA-256 of the whole ciphertext matched.
    Decrypt(DecryptArgs),
    /// Check whether a homeserver serves authenticated media the way web clients need.
    #[command(after_help = PROBE_AFTER_HELP)]
    Probe(ProbeArgs),
}

/// `authmedia url`.
#[derive(Debug, Args)]
pub struct UrlArgs {
    /// The homeserver's base URL (a path prefix is kept).
    #[arg(long, value_name = "BASE")]
    pub homeserver: String,
    /// Which media API to address.
    #[arg(long, value_enum, default_value_t = ApiArg::V1)]
    pub api: ApiArg,
    /// A file name for the download URL.
    #[arg(long, value_name = "NAME", conflicts_with = "thumbnail")]
    pub filename: Option<String>,
    /// A thumbnail of WIDTHxHEIGHT (positive integers) instead of a download.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub thumbnail: Option<(u32, u32)>,
    /// The thumbnail method.
    #[arg(long, value_enum, requires = "thumbnail")]
    pub method: Option<MethodArg>,
    /// Ask for an animated thumbnail (true or false).
    #[arg(long, value_name = "BOOL", requires = "thumbnail", action = clap::ArgAction::Set)]
    pub animated: Option<bool>,
    /// The timeout_ms query parameter.
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// The mxc:// URI.
    pub mxc: String,
}

/// `authmedia thumbnail-size`. Sizes are numbers; whether they are usable is the core's call
/// (a negative or NaN width is `invalid_dimension`, exit 1), so `-5` is taken as a value.
#[derive(Debug, Args)]
pub struct ThumbnailSizeArgs {
    /// CSS width of the box.
    #[arg(long, allow_negative_numbers = true)]
    pub width: f64,
    /// CSS height of the box.
    #[arg(long, allow_negative_numbers = true)]
    pub height: f64,
    /// Device pixel ratio.
    #[arg(long, allow_negative_numbers = true)]
    pub dpr: f64,
    /// The thumbnail method.
    #[arg(long, value_enum)]
    pub method: MethodArg,
}

/// `authmedia encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext's media type (for the event's info.mimetype), e.g. image/png.
    #[arg(long, value_name = "TYPE", value_parser = parse_mimetype)]
    pub mimetype: String,
    /// The mxc:// URI the ciphertext was (or will be) uploaded to.
    #[arg(long, value_name = "MXC")]
    pub url: Option<String>,
    /// Write the EncryptedFile JSON to FILE (mode 0600: it holds the key) instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub info_out: Option<PathBuf>,
}

/// `authmedia decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The EncryptedFile JSON (from the event's content.file).
    #[arg(long, value_name = "ENCRYPTED_FILE.json")]
    pub file: PathBuf,
    /// Refuse ciphertexts longer than N bytes.
    #[arg(long, value_name = "N")]
    pub max_bytes: Option<u64>,
}

/// `authmedia probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The homeserver's base URL, e.g. https://matrix.example.org.
    pub homeserver: String,
    /// An access token (or set AUTHMEDIA_TOKEN): needed for the authenticated checks.
    #[arg(
        long,
        value_name = "T",
        env = "AUTHMEDIA_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The web app's origin for the CORS checks, e.g. https://app.example.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Existing media to probe with.
    #[arg(long, value_name = "MXC", conflicts_with = "upload")]
    pub mxc: Option<String>,
    /// Upload a small PNG (with the token) and probe with it.
    #[arg(long, requires = "token")]
    pub upload: bool,
    /// One JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each answer.
    #[arg(long, value_name = "S", default_value_t = 15)]
    pub timeout: u64,
}

/// `--api`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApiArg {
    /// /_matrix/client/v1/media
    V1,
    /// /_matrix/client/unstable/org.matrix.msc3916/media
    Unstable,
    /// /_matrix/media/v3 (unauthenticated, frozen)
    Legacy,
}

impl From<ApiArg> for Api {
    fn from(a: ApiArg) -> Self {
        match a {
            ApiArg::V1 => Api::V1,
            ApiArg::Unstable => Api::Unstable,
            ApiArg::Legacy => Api::Legacy,
        }
    }
}

/// `--method`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// Fill the box, cropping.
    Crop,
    /// Fit inside the box, keeping the aspect ratio.
    Scale,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Crop => Method::Crop,
            MethodArg::Scale => Method::Scale,
        }
    }
}

/// `WxH` with positive decimal integers (`x` or `X`).
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let dim = |d: &str| -> Option<u32> {
        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        d.parse().ok().filter(|&n| n > 0)
    };
    s.split_once(['x', 'X'])
        .and_then(|(w, h)| Some((dim(w)?, dim(h)?)))
        .ok_or_else(|| "expected WxH with positive integers, e.g. 96x96".to_owned())
}

/// A `type/subtype` media type: RFC 6838 restricted names, parameters allowed after `;`.
fn parse_mimetype(m: &str) -> Result<String, String> {
    let essence = m.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if matches!(essence.split_once('/'), Some((t, s)) if token(t) && token(s))
        && !m.bytes().any(|b| b.is_ascii_control())
    {
        Ok(m.to_owned())
    } else {
        Err("expected a media type such as image/png".to_owned())
    }
}

/// The checks `authmedia probe --help` lists after its options.
pub const PROBE_AFTER_HELP: &str = "\
Checks (each ok / warn / fail, or skip when it needs a token or media):
  versions      /versions advertises authenticated media (v1.11+ or the MSC3916 flags)
  media_config  GET /_matrix/client/v1/media/config with the token
  upload        POST /_matrix/media/v3/upload of a small PNG (--upload only)
  download      the media (--mxc or the upload) on the authenticated endpoint
  thumbnail     a 32x32 crop thumbnail of it
  tokenless     the same without the token: must be refused (401)
  freeze        the same media on the legacy /_matrix/media/v3 endpoint: 404 when frozen
  cors          a preflight from --origin naming authorization and range
  range         Range: bytes=0-0 answered 206, or ignored
  caching       Cache-Control and Vary: Authorization on the media
  redirects     where the media redirects to (and allow_redirect on the legacy endpoint)
  headers       Content-Disposition, CSP sandbox, X-Content-Type-Options on the media

Exit status: 0 no check failed, 1 a check failed (or an argument is invalid: JSON error),
2 usage error.";

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_types() {
        assert_eq!(parse_size("96x48"), Ok((96, 48)));
        assert_eq!(parse_size("1X1"), Ok((1, 1)));
        for bad in ["96", "0x96", "x", "+1x1", "1x-1", "99999999999x1", ""] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_mimetype("image/png; charset=x").is_ok());
        for bad in ["png", "image/png\n", "/png", "image/"] {
            assert!(parse_mimetype(bad).is_err(), "{bad}");
        }
    }
}
