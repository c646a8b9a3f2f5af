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
use crate::versions::{negotiate, parse_spec_version, Versions, MSC3916, MSC3916_STABLE};

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
    /// The homeserver's base URL, normalised (`https://hs.example/`).
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

fn versions(o: &Observations) -> Verdict {
    const C: &str = "versions";
    let Some(e) = &o.versions else {
        return skip(C, "not run");
    };
    let mut ev = vec![e.line()];
    let fix_url = Some(
        "Give the client-server API base URL (what clients use, e.g. https://matrix.example.org) \
         and check that it is reachable.",
    );
    if e.status != Some(200) {
        return verdict(C, Level::Fail, "/versions is not served", ev, fix_url);
    }
    let Some(v) = read_versions(e) else {
        return verdict(
            C,
            Level::Fail,
            "/versions is not a versions object",
            ev,
            fix_url,
        );
    };
    let newest = v
        .versions
        .iter()
        .filter_map(|s| parse_spec_version(s).map(|n| (n, s)))
        .max()
        .map(|(_, s)| s.as_str())
        .unwrap_or("none");
    ev.push(format!(
        "  newest spec version: {newest}; {MSC3916}: {}; {MSC3916_STABLE}: {}",
        v.feature(MSC3916),
        v.feature(MSC3916_STABLE)
    ));
    match negotiate(&v) {
        Api::V1 => verdict(
            C,
            Level::Ok,
            "authenticated media advertised: the SDK uses /_matrix/client/v1/media",
            ev,
            None,
        ),
        Api::Unstable => verdict(
            C,
            Level::Warn,
            "only MSC3916's unstable prefix is advertised: the SDK uses it",
            ev,
            Some(
                "Upgrade the homeserver to one that serves spec v1.11 (/_matrix/client/v1/media).",
            ),
        ),
        Api::Legacy => verdict(
            C,
            Level::Fail,
            "no authenticated media advertised: clients use the legacy endpoints, which stop \
             serving new media once servers freeze them",
            ev,
            Some(
                "Upgrade the homeserver to one that serves spec v1.11 (/_matrix/client/v1/media).",
            ),
        ),
    }
}

fn media_config(o: &Observations) -> Verdict {
    const C: &str = "media_config";
    let Some(e) = &o.media_config else {
        return skip(C, "not run: needs --token");
    };
    let ev = vec![e.line()];
    match e.status {
        Some(200) => {
            let size = e
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("m.upload.size").and_then(|s| s.as_u64()));
            let summary = match size {
                Some(n) => format!("served with the token (m.upload.size: {n} bytes)"),
                None => "served with the token".to_owned(),
            };
            verdict(C, Level::Ok, summary, ev, None)
        }
        Some(401) => verdict(
            C,
            Level::Fail,
            "the token was refused",
            ev,
            Some("Pass a valid access token of this homeserver (--token or AUTHMEDIA_TOKEN)."),
        ),
        Some(404 | 405) => verdict(
            C,
            Level::Fail,
            "the authenticated media endpoints are not served",
            ev,
            Some(
                "Upgrade the homeserver, and let the reverse proxy pass /_matrix/client/v1/media/.",
            ),
        ),
        _ => verdict(
            C,
            Level::Fail,
            "unexpected answer",
            ev,
            Some(
                "Check that the reverse proxy passes /_matrix/client/v1/media/ to the homeserver.",
            ),
        ),
    }
}

fn upload(o: &Observations) -> Verdict {
    const C: &str = "upload";
    let Some(e) = &o.upload else {
        return skip(C, "not run (opt-in: --upload)");
    };
    let ev = vec![e.line()];
    match (e.status, &o.media) {
        (Some(200), Some(mxc)) => verdict(C, Level::Ok, format!("uploaded {mxc}"), ev, None),
        _ => verdict(
            C,
            Level::Fail,
            "the upload failed",
            ev,
            Some("Check the token and the server's upload limits, or probe with --mxc."),
        ),
    }
}

fn download(o: &Observations) -> Verdict {
    const C: &str = "download";
    let Some(e) = &o.download else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![e.line()];
    ev.extend(e.show(&["content-type", "content-length"]));
    match e.status {
        Some(200) => verdict(C, Level::Ok, "served with the token", ev, None),
        Some(401) => verdict(
            C,
            Level::Fail,
            "the token was refused",
            ev,
            Some("Pass a valid access token of this homeserver."),
        ),
        Some(404) => verdict(
            C,
            Level::Fail,
            "not found",
            ev,
            Some("Check --mxc (local media of this homeserver), or probe with --upload."),
        ),
        _ => verdict(
            C,
            Level::Fail,
            "not served",
            ev,
            Some("Check the homeserver's media repository and the reverse proxy in front of it."),
        ),
    }
}

fn thumbnail(o: &Observations) -> Verdict {
    const C: &str = "thumbnail";
    let Some(e) = &o.thumbnail else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![e.line()];
    ev.extend(e.show(&["content-type"]));
    let image = e
        .header("content-type")
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("image/"));
    match e.status {
        Some(200) if image => verdict(C, Level::Ok, "served with the token", ev, None),
        Some(400 | 413) => verdict(
            C,
            Level::Warn,
            "no thumbnail for this media",
            ev,
            Some("Probe with an image (--upload sends a PNG) to check thumbnails."),
        ),
        _ => verdict(
            C,
            Level::Fail,
            "not served",
            ev,
            Some("Check that thumbnails are enabled (Synapse: dynamic_thumbnails or thumbnail_sizes)."),
        ),
    }
}

fn tokenless(o: &Observations) -> Verdict {
    const C: &str = "tokenless";
    let Some(e) = &o.tokenless else {
        return skip(C, "not run");
    };
    let ev = vec![e.line()];
    match e.status {
        Some(401 | 403) => verdict(C, Level::Ok, "refused without a token", ev, None),
        Some(200) => verdict(
            C,
            Level::Fail,
            "served without a token: authenticated media is not authenticated",
            ev,
            Some("Require an access token on /_matrix/client/v1/media (check the reverse proxy's caching)."),
        ),
        _ => verdict(
            C,
            Level::Warn,
            "unexpected answer without a token",
            ev,
            Some("Expect 401 M_MISSING_TOKEN here: check what answers in front of the homeserver."),
        ),
    }
}

fn freeze(o: &Observations) -> Verdict {
    const C: &str = "freeze";
    let Some(e) = &o.legacy else {
        return skip(C, no_media(o));
    };
    let ev = vec![e.line()];
    let on_v1 = served(o).is_some();
    match e.status {
        Some(404) if on_v1 => verdict(
            C,
            Level::Ok,
            "frozen: the legacy endpoints no longer serve this media (clients must use \
             authenticated media; the SDK's worker upgrades legacy URLs)",
            ev,
            None,
        ),
        Some(401 | 403) => verdict(
            C,
            Level::Ok,
            "the legacy endpoints refuse requests without a token",
            ev,
            None,
        ),
        Some(200) => verdict(
            C,
            Level::Warn,
            "not frozen: this media is served without a token on /_matrix/media/v3 (media \
             uploaded before a freeze stays there)",
            ev,
            Some(
                "Freeze the legacy endpoints once clients are ready (Synapse: \
                 enable_authenticated_media: true); probe with --upload to test new media.",
            ),
        ),
        _ => verdict(
            C,
            Level::Warn,
            "cannot tell: the media is not served on the authenticated endpoint either",
            ev,
            Some("Probe with media the homeserver serves (--upload)."),
        ),
    }
}

/// Whether `allow_origin` lets `origin` read the answer.
fn origin_allowed(allow_origin: Option<&str>, origin: &str) -> bool {
    allow_origin.is_some_and(|a| a.trim() == "*" || a.trim() == origin)
}

fn cors(o: &Observations) -> Verdict {
    const C: &str = "cors";
    let Some(e) = &o.preflight else {
        return skip(C, "not run");
    };
    let mut ev = vec![format!(
        "{} (Origin: {}{})",
        e.line(),
        o.origin,
        if o.origin_given {
            ""
        } else {
            ", a stand-in: pass --origin"
        }
    )];
    ev.extend(e.show(&[
        "access-control-allow-origin",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-max-age",
    ]));
    let advice = Some(
        "Answer OPTIONS on /_matrix/ with 2xx, Access-Control-Allow-Origin: * (or the app's \
         origin) and Access-Control-Allow-Headers listing Authorization (the spec's list: \
         X-Requested-With, Content-Type, Authorization).",
    );
    if !matches!(e.status, Some(200..=299)) {
        return verdict(
            C,
            Level::Fail,
            "the preflight was not answered with 2xx",
            ev,
            advice,
        );
    }
    let allow_origin = e.header("access-control-allow-origin");
    if !origin_allowed(allow_origin, &o.origin) {
        return verdict(
            C,
            Level::Fail,
            format!("the preflight does not allow the origin {}", o.origin),
            ev,
            advice,
        );
    }
    let allowed = e.tokens("access-control-allow-headers");
    if !allowed.iter().any(|h| h == "authorization") {
        let summary = if allowed.iter().any(|h| h == "*") {
            "the preflight allows \"*\", which does not cover Authorization"
        } else {
            "the preflight does not allow the Authorization header: every authenticated \
             request from the page or the worker fails"
        };
        return verdict(C, Level::Fail, summary, ev, advice);
    }
    // The real answer must carry CORS headers too, or the browser drops it after the preflight.
    if let Some(d) = served(o) {
        ev.push(format!("{} (with Origin)", d.line()));
        ev.extend(d.show(&[
            "access-control-allow-origin",
            "access-control-expose-headers",
        ]));
        if !origin_allowed(d.header("access-control-allow-origin"), &o.origin) {
            return verdict(
                C,
                Level::Fail,
                "the media answer lacks a matching Access-Control-Allow-Origin: browsers drop it",
                ev,
                advice,
            );
        }
        let exposed = d.tokens("access-control-expose-headers");
        ev.push(if exposed.iter().any(|h| h == "retry-after" || h == "*") {
            "  Retry-After is readable by the page".to_owned()
        } else {
            "  Retry-After is not exposed: the SDK reads retry_after_ms from the 429 body instead"
                .to_owned()
        });
    }
    ev.push(if allowed.iter().any(|h| h == "range") {
        "  Range is allowed".to_owned()
    } else {
        "  Range is not listed: the Fetch standard sends a simple range (bytes=N- or \
         bytes=N-M, what <video> asks) without a preflight; other ranges need it"
            .to_owned()
    });
    if e.header("access-control-max-age").is_none() {
        ev.push(
            "  no Access-Control-Max-Age: browsers keep a preflight for seconds only".to_owned(),
        );
    }
    if allow_origin.is_some_and(|a| a.trim() != "*")
        && !e.tokens("vary").iter().any(|v| v == "origin" || v == "*")
    {
        return verdict(
            C,
            Level::Warn,
            "allows this origin by name without Vary: Origin: a cache may give another origin \
             this answer",
            ev,
            Some("Add Vary: Origin to answers whose Access-Control-Allow-Origin names the origin."),
        );
    }
    verdict(
        C,
        Level::Ok,
        "Authorization allowed from this origin",
        ev,
        None,
    )
}

fn range(o: &Observations) -> Verdict {
    const C: &str = "range";
    let Some(e) = &o.range else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![format!("{} (Range: bytes=0-0)", e.line())];
    ev.extend(e.show(&["content-range", "accept-ranges", "content-length"]));
    match e.status {
        Some(206) if e.header("content-range").is_some() => {
            verdict(C, Level::Ok, "Range honoured (206)", ev, None)
        }
        Some(200) => verdict(
            C,
            Level::Warn,
            "Range ignored (200, the whole body): video relies on the SDK's worker, which answers \
             206 from the whole body (without it WebKit refuses such video, and large files are \
             downloaded whole)",
            ev,
            Some("Serve Range on media (most reverse proxies and CDNs can), or keep the worker."),
        ),
        _ => verdict(
            C,
            Level::Warn,
            "unexpected answer to a Range request",
            ev,
            Some("Answer Range with 206 (or ignore it with 200); the worker copes with both."),
        ),
    }
}

fn caching(o: &Observations) -> Verdict {
    const C: &str = "caching";
    let Some(d) = served(o) else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![d.line()];
    ev.extend(d.show(&["cache-control", "vary"]));
    let directives: Vec<String> = d
        .tokens("cache-control")
        .into_iter()
        .map(|t| t.split('=').next().unwrap_or("").trim().to_owned())
        .collect();
    let has = |name: &str| directives.iter().any(|t| t == name);
    let s_maxage_zero = d.tokens("cache-control").iter().any(|t| {
        t.split_once('=')
            .is_some_and(|(k, v)| k.trim() == "s-maxage" && v.trim().trim_matches('"') == "0")
    });
    let varies = d
        .tokens("vary")
        .iter()
        .any(|v| v == "authorization" || v == "*");
    if has("private") || has("no-store") {
        return verdict(
            C,
            Level::Ok,
            "private: shared caches do not keep it",
            ev,
            None,
        );
    }
    // A shared cache may store an answer to a request with Authorization only when it is
    // marked public, s-maxage or must-revalidate (RFC 9111, section 3.5).
    let shared = has("public") || has("s-maxage") || has("must-revalidate");
    // A shared cache that must revalidate every use asks the origin with the new request's
    // Authorization, so it never hands one user's copy to another.
    let revalidates =
        has("no-cache") || (s_maxage_zero && (has("proxy-revalidate") || has("must-revalidate")));
    if shared && revalidates && !varies {
        return verdict(
            C,
            Level::Ok,
            "shared caches may keep it but must revalidate every use with the homeserver",
            ev,
            None,
        );
    }
    if shared && !varies {
        return verdict(
            C,
            Level::Warn,
            "cacheable by shared caches without Vary: Authorization: a CDN or reverse proxy \
             may serve one user's media to another, or to a request without a token",
            ev,
            Some("Add Vary: Authorization to media answers, or send Cache-Control: private."),
        );
    }
    let summary = if shared {
        "cacheable, and varies on Authorization"
    } else {
        "shared caches do not keep answers to authenticated requests"
    };
    verdict(C, Level::Ok, summary, ev, None)
}

fn redirects(o: &Observations) -> Verdict {
    const C: &str = "redirects";
    let Some(d) = &o.download else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![d.line()];
    for r in &d.redirects {
        ev.push(format!("  {} → {}", r.status, r.to));
    }
    if let Some(l) = &o.legacy_redirect {
        ev.push(l.line());
        if let Some(to) = l.header("location") {
            ev.push(format!("  location: {to}"));
        }
    }
    let home = origin_of(&o.homeserver);
    let Some(away) = d.redirects.iter().find(|r| origin_of(&r.to) != home) else {
        let summary = if d.redirects.is_empty() {
            "served directly, no redirect"
        } else {
            "redirected within the homeserver's origin"
        };
        let level = if served(o).is_some() {
            Level::Ok
        } else {
            Level::Skip
        };
        return verdict(C, level, summary, ev, None);
    };
    let target = origin_of(&away.to).unwrap_or(&away.to);
    if d.status != Some(200) {
        return verdict(
            C,
            Level::Fail,
            format!(
                "redirected to {target}, which does not serve it: browsers drop Authorization \
                 on a cross-origin redirect"
            ),
            ev,
            Some("Make the redirect target serve the media without the token (a signed URL)."),
        );
    }
    if !origin_allowed(d.header("access-control-allow-origin"), &o.origin) {
        return verdict(
            C,
            Level::Fail,
            format!("the redirect target {target} sends no matching Access-Control-Allow-Origin"),
            ev,
            Some("Send Access-Control-Allow-Origin: * from the redirect target."),
        );
    }
    let preflight_ok = o.redirect_preflight.as_ref().is_some_and(|p| {
        matches!(p.status, Some(200..=299))
            && origin_allowed(p.header("access-control-allow-origin"), &o.origin)
            && p.tokens("access-control-allow-headers")
                .iter()
                .any(|h| h == "authorization")
    });
    if let Some(p) = &o.redirect_preflight {
        ev.push(p.line());
        ev.extend(p.show(&[
            "access-control-allow-origin",
            "access-control-allow-headers",
        ]));
    }
    if !preflight_ok {
        return verdict(
            C,
            Level::Warn,
            format!(
                "redirected to {target}, whose preflight does not allow Authorization: engines \
                 that preflight the redirected request (WebKit) fail"
            ),
            ev,
            Some("Let the redirect target answer OPTIONS allowing the Authorization header."),
        );
    }
    verdict(
        C,
        Level::Ok,
        format!(
            "redirected to {target}, which serves it without the token and allows the preflight"
        ),
        ev,
        None,
    )
}

fn headers(o: &Observations) -> Verdict {
    const C: &str = "headers";
    let Some(d) = served(o) else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![d.line()];
    ev.extend(d.show(&[
        "content-disposition",
        "content-security-policy",
        "x-content-type-options",
    ]));
    let mut missing = Vec::new();
    if d.header("content-disposition").is_none() {
        missing.push("Content-Disposition");
    }
    let csp = d
        .header("content-security-policy")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !csp.split(';').any(|p| p.trim().starts_with("sandbox")) {
        missing.push("Content-Security-Policy: sandbox");
    }
    let nosniff = d
        .header("x-content-type-options")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"));
    if missing.is_empty() {
        let summary = if nosniff {
            "media is served with its protective headers"
        } else {
            "Content-Disposition and a CSP sandbox (no X-Content-Type-Options: nosniff; the \
             sandbox keeps sniffed content from running scripts)"
        };
        return verdict(C, Level::Ok, summary, ev, None);
    }
    if !nosniff {
        missing.push("X-Content-Type-Options: nosniff");
    }
    verdict(
        C,
        Level::Warn,
        format!(
            "missing {}: media opened directly could run as a page of the homeserver's origin",
            missing.join(", ")
        ),
        ev,
        Some(
            "Serve media with Content-Disposition, Content-Security-Policy: sandbox; \
             default-src 'none' and X-Content-Type-Options: nosniff.",
        ),
    )
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
