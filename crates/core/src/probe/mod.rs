//! Rollout readiness: is a homeserver ready for authenticated media in web clients?
//!
//! The caller (the `authmedia probe` CLI) sends the requests and hands over what it saw as
//! plain data, [`Observations`]; [`assess`] turns them into one [`Verdict`] per check, each
//! `ok` / `warn` / `fail` (or `skip` when the check could not run) with its evidence and
//! what to do. No I/O here, so every decision is tested from recorded answers.
//!
//! The checks and the rules they apply
//! (<https://spec.matrix.org/v1.12/client-server-api/#content-repository>):
//!
//! | check | asked | ok when |
//! |---|---|---|
//! | `versions` | `GET /_matrix/client/versions` | v1.11+ or `org.matrix.msc3916.stable` |
//! | `media_config` | `GET …/media/config` with the token | 200 |
//! | `upload` | `POST /_matrix/media/v3/upload` (opt-in) | 200 with a `content_uri` |
//! | `download` | `GET …/media/download/…` with the token | 200 |
//! | `thumbnail` | `GET …/media/thumbnail/…?width=32&height=32&method=crop` | 200 `image/*` |
//! | `tokenless` | the download (or config) without the token | 401/403 |
//! | `freeze` | `GET /_matrix/media/v3/download/…` without a token | 404 (frozen) |
//! | `cors` | `OPTIONS` naming `authorization, range` from the app's origin | `authorization` allowed for the origin |
//! | `range` | the download with `Range: bytes=0-0` | 206 |
//! | `caching` | `Cache-Control`, `Vary` of the download | not storable by shared caches, or varies on `Authorization` |
//! | `redirects` | the download's redirects, followed as a browser does | none, same-origin, or a cross-origin target that serves without the token |
//! | `headers` | the download's protective headers | `Content-Disposition`, CSP `sandbox`, `nosniff` |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::endpoint::Api;
use crate::error::MatrixError;
use crate::versions::{negotiate, Versions};

mod delivery;
mod endpoints;

use delivery::{caching, cors, headers, range, redirects};
use endpoints::{download, freeze, media_config, thumbnail, tokenless, upload, versions};

/// One request and what came back, as the caller saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// What was sent, for the evidence: `"GET https://hs/_matrix/client/versions"`.
    #[serde(default)]
    pub request: String,
    /// The final status; `None` when no answer came (`error` says why).
    #[serde(default)]
    pub status: Option<u16>,
    /// The final answer's headers, names in lower case; a repeated header joined with `", "`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body when it is text (JSON errors, `/versions`), possibly cut short by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Why no answer came (connection refused, TLS, timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Redirects followed before the final answer, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<Redirect>,
}

/// One redirect followed: its status and the absolute, normalised URL it pointed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
    /// Where to (absolute).
    pub to: String,
}

impl Exchange {
    /// A header of the final answer, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The comma-separated tokens of a header, trimmed and in lower case.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.header(name)
            .map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The Matrix `errcode` of the body, if it has one.
    pub fn errcode(&self) -> Option<String> {
        let body = self.body.as_deref()?;
        MatrixError::from_json(self.status.unwrap_or(0), body, None).errcode
    }

    /// `"GET url → 404 M_NOT_FOUND"` (or the error).
    fn line(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => match self.errcode() {
                Some(code) => format!("{} → {s} {code}", self.request),
                None => format!("{} → {s}", self.request),
            },
            (None, Some(e)) => format!("{} → no answer: {e}", self.request),
            (None, None) => format!("{} → no answer", self.request),
        }
    }

    /// `"name: value"` for each header present, `"name: (none)"` otherwise.
    fn show(&self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|n| format!("  {n}: {}", self.header(n).unwrap_or("(none)")))
            .collect()
    }
}

/// Everything the caller observed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observations {
    /// The homeserver's base URL, normalised (`https://hs.example`, a path prefix kept).
    pub homeserver: String,
    /// The web app's origin the CORS requests came from.
    #[serde(default)]
    pub origin: String,
    /// Whether that origin was the user's (`--origin`) or a stand-in.
    #[serde(default)]
    pub origin_given: bool,
    /// Whether an access token was given.
    #[serde(default)]
    pub token_given: bool,
    /// The mxc URI probed, if any (given, or the upload's).
    #[serde(default)]
    pub media: Option<String>,
    /// `GET /_matrix/client/versions` (with the token when there is one).
    #[serde(default)]
    pub versions: Option<Exchange>,
    /// `GET …/media/config` with the token.
    #[serde(default)]
    pub media_config: Option<Exchange>,
    /// `POST /_matrix/media/v3/upload` with the token.
    #[serde(default)]
    pub upload: Option<Exchange>,
    /// The download with the token and `Origin`, redirects followed as a browser would.
    #[serde(default)]
    pub download: Option<Exchange>,
    /// A 32×32 crop thumbnail with the token.
    #[serde(default)]
    pub thumbnail: Option<Exchange>,
    /// The download (or, without media, the config) without the token.
    #[serde(default)]
    pub tokenless: Option<Exchange>,
    /// `GET /_matrix/media/v3/download/…` without a token.
    #[serde(default)]
    pub legacy: Option<Exchange>,
    /// The same with `allow_redirect=true`, redirects not followed.
    #[serde(default)]
    pub legacy_redirect: Option<Exchange>,
    /// `OPTIONS` on the download (or config) URL from `origin`, naming `authorization, range`.
    #[serde(default)]
    pub preflight: Option<Exchange>,
    /// The download with the token and `Range: bytes=0-0`.
    #[serde(default)]
    pub range: Option<Exchange>,
    /// `OPTIONS` at the first cross-origin redirect target of the download.
    #[serde(default)]
    pub redirect_preflight: Option<Exchange>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Ready.
    Ok,
    /// Not run: something it needs is missing (a token, media).
    Skip,
    /// Works, with a cost or a risk worth knowing.
    Warn,
    /// Web clients break (or the server does not protect media).
    Fail,
}

impl Level {
    /// `"ok"`, `"skip"`, `"warn"` or `"fail"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Skip => "skip",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The check's stable name (`versions`, `cors`, …).
    pub check: &'static str,
    /// How it came out.
    pub level: Level,
    /// One sentence: what was found.
    pub summary: String,
    /// The requests and the headers it was decided on.
    pub evidence: Vec<String>,
    /// What to do, when anything.
    pub advice: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The homeserver probed.
    pub homeserver: String,
    /// The API the SDK would choose from `/versions` (`None` when it was not readable).
    pub api: Option<&'static str>,
    /// One verdict per check, in the order of the table above.
    pub checks: Vec<Verdict>,
    /// No check failed.
    pub ready: bool,
}

/// The flavour to probe the authenticated endpoints with: the one `/versions` advertises,
/// else v1 (so a server that does not advertise it is still tried).
pub fn api_to_probe(versions: Option<&Exchange>) -> Api {
    match versions.and_then(read_versions).map(|v| negotiate(&v)) {
        Some(Api::Unstable) => Api::Unstable,
        _ => Api::V1,
    }
}

fn read_versions(e: &Exchange) -> Option<Versions> {
    if e.status != Some(200) {
        return None;
    }
    Versions::from_json(e.body.as_deref()?).ok()
}

/// `scheme://host[:port]` of an absolute URL (already normalised by the caller).
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    url.get(..scheme.len() + 3 + end)
}

/// Decides every check.
pub fn assess(o: &Observations) -> Report {
    let api = o
        .versions
        .as_ref()
        .and_then(read_versions)
        .map(|v| negotiate(&v).as_str());
    let checks = vec![
        versions(o),
        media_config(o),
        upload(o),
        download(o),
        thumbnail(o),
        tokenless(o),
        freeze(o),
        cors(o),
        range(o),
        caching(o),
        redirects(o),
        headers(o),
    ];
    let ready = checks.iter().all(|c| c.level != Level::Fail);
    Report {
        homeserver: o.homeserver.clone(),
        api,
        checks,
        ready,
    }
}

fn verdict(
    check: &'static str,
    level: Level,
    summary: impl Into<String>,
    evidence: Vec<String>,
    advice: Option<&str>,
) -> Verdict {
    Verdict {
        check,
        level,
        summary: summary.into(),
        evidence,
        advice: advice.map(str::to_owned),
    }
}

/// A skipped check, saying what it needs.
fn skip(check: &'static str, why: &str) -> Verdict {
    verdict(check, Level::Skip, why, Vec::new(), None)
}

/// Why the media checks could not run.
fn no_media(o: &Observations) -> &'static str {
    if !o.token_given {
        "not run: needs --token"
    } else {
        "not run: needs media (--mxc mxc://… or --upload)"
    }
}

/// The download when it was served (200), for the checks that read its headers.
fn served(o: &Observations) -> Option<&Exchange> {
    o.download.as_ref().filter(|d| d.status == Some(200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://a.example/x?y"),
            Some("https://a.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8008"),
            Some("http://127.0.0.1:8008")
        );
        assert_eq!(origin_of("http://h?x"), Some("http://h"));
        assert_eq!(origin_of("no scheme"), None);
    }

    #[test]
    fn nothing_observed_is_all_skipped() {
        let r = assess(&Observations::default());
        assert!(r.checks.iter().all(|c| c.level == Level::Skip), "{r:?}");
        assert!(r.ready);
    }
}
