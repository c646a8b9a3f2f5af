//! `authmedia probe <homeserver>`: asks a homeserver what web clients will ask it, the way a
//! browser would, and hands the answers to the core's [`authmedia_core::probe::assess`].
//!
//! This file only sends requests and prints the report; every verdict is the core's. The
//! token goes only to the homeserver's own origin: a redirect to another origin is followed
//! without it (as browsers do), and it never goes into a URL or the report.

use std::io::Read;
use std::time::Duration;

use authmedia_core::probe::{self, Exchange, Level, Observations, Redirect, Report};
use authmedia_core::{media_url, Api, Homeserver, MediaRequest, Method, MxcUri, Thumbnail};
use serde_json::json;

use crate::args::ProbeArgs;

/// The origin used for the CORS checks when none is given.
const STAND_IN_ORIGIN: &str = "https://app.example";
/// What `--upload` sends: a 64×64 PNG (small, and big enough for a 32×32 thumbnail).
const PROBE_PNG: &[u8] = include_bytes!("probe.png");
/// Redirects followed at most, like a browser's limit but smaller.
const MAX_REDIRECTS: usize = 5;
/// Text bodies kept for the evidence (errors, `/versions`, the upload's answer).
const BODY_LIMIT: u64 = 64 * 1024;

/// What `run` prints: the report (table or JSON) and whether it passed, or an input error.
pub enum ProbeOutcome {
    /// The report; exit 0 when `ready`.
    Report {
        /// The text for stdout.
        text: String,
        /// No check failed.
        ready: bool,
    },
    /// An argument is not usable: the usual JSON error, exit 1.
    Invalid {
        /// Stable error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn invalid(code: &'static str, message: impl ToString) -> ProbeOutcome {
    ProbeOutcome::Invalid {
        code,
        message: message.to_string(),
    }
}

/// `authmedia probe`.
pub fn run(a: &ProbeArgs) -> ProbeOutcome {
    let hs = match url::Url::parse(&a.homeserver) {
        Ok(u) => match Homeserver::parse(u.as_str()) {
            Ok(hs) => hs,
            Err(e) => return invalid(e.code(), e),
        },
        Err(e) => return invalid("invalid_url", format!("not an absolute URL: {e}")),
    };
    let origin = match &a.origin {
        None => STAND_IN_ORIGIN.to_owned(),
        Some(o) => match url::Url::parse(o) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
            _ => {
                return invalid(
                    "invalid_origin",
                    format!(
                        "--origin must be an http(s) origin such as https://app.example, got {o:?}"
                    ),
                )
            }
        },
    };
    let mxc = match a.mxc.as_deref().map(MxcUri::parse).transpose() {
        Ok(m) => m,
        Err(e) => return invalid(e.code(), format!("--mxc: {e}")),
    };
    let probe = Prober {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(a.timeout.max(1))))
            .user_agent(concat!("authmedia-probe/", env!("CARGO_PKG_VERSION")))
            .build()
            .into(),
        home: hs.origin().to_owned(),
        token: a.token.clone(),
        origin: origin.clone(),
    };
    let obs = observe(&probe, &hs, mxc, a.upload, a.origin.is_some());
    let report = probe::assess(&obs);
    let text = if a.json {
        json!({
            "homeserver": report.homeserver,
            "api": report.api,
            "ready": report.ready,
            "checks": report.checks,
            "observations": obs,
        })
        .to_string()
    } else {
        table(&report)
    };
    ProbeOutcome::Report {
        text,
        ready: report.ready,
    }
}

/// Sends every request of the probe.
fn observe(
    p: &Prober,
    hs: &Homeserver,
    mut mxc: Option<MxcUri>,
    upload: bool,
    origin_given: bool,
) -> Observations {
    let base = hs.base();
    let mut o = Observations {
        homeserver: base.to_owned(),
        origin: p.origin.clone(),
        origin_given,
        token_given: p.token.is_some(),
        ..Observations::default()
    };
    let versions = p.send(
        "GET",
        &format!("{base}/_matrix/client/versions"),
        Auth::Token,
        &[],
    );
    let api = probe::api_to_probe(Some(&versions));
    o.versions = Some(versions);
    let config_url = format!("{base}{}config", api.media_prefix());
    if p.token.is_some() {
        o.media_config = Some(p.send("GET", &config_url, Auth::Token, &[]));
    }
    if upload && p.token.is_some() {
        let url = format!("{base}/_matrix/media/v3/upload?filename=authmedia-probe.png");
        let e = p.upload(&url);
        mxc = e
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| Some(v.get("content_uri")?.as_str()?.to_owned()))
            .and_then(|u| MxcUri::parse(&u).ok());
        o.upload = Some(e);
    }
    o.media = mxc.as_ref().map(|m| m.to_string());
    let download_url = mxc
        .as_ref()
        .map(|m| media_url(hs, api, m, &MediaRequest::Download { filename: None }, None));
    let cors_url = download_url.clone().unwrap_or_else(|| config_url.clone());

    if let (Some(m), Some(url), true) = (&mxc, &download_url, p.token.is_some()) {
        let download = p.follow(url, &[]);
        let thumb = MediaRequest::Thumbnail(Thumbnail {
            width: 32,
            height: 32,
            method: Some(Method::Crop),
            animated: None,
        });
        o.thumbnail = Some(p.follow(&media_url(hs, api, m, &thumb, None), &[]));
        o.range = Some(p.follow(url, &[("range", "bytes=0-0")]));
        // WebKit preflights the redirected request: ask the first foreign target the same.
        let away = download
            .redirects
            .iter()
            .find(|r| probe::origin_of(&r.to) != Some(p.home.as_str()));
        if let Some(r) = away {
            o.redirect_preflight = Some(p.preflight(&r.to, "null"));
        }
        o.download = Some(download);
    }
    o.tokenless = Some(p.send("GET", &cors_url, Auth::None, &[]));
    if let Some(m) = &mxc {
        let legacy = media_url(
            hs,
            Api::Legacy,
            m,
            &MediaRequest::Download { filename: None },
            None,
        );
        o.legacy = Some(p.send("GET", &legacy, Auth::None, &[]));
        let redirect = format!("{legacy}?allow_redirect=true");
        o.legacy_redirect = Some(p.send("GET", &redirect, Auth::None, &[]));
    }
    o.preflight = Some(p.preflight(&cors_url, &p.origin));
    o
}

/// Whether a request carries the token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Token,
    None,
}

struct Prober {
    agent: ureq::Agent,
    /// The homeserver's origin: the only one the token goes to.
    home: String,
    token: Option<String>,
    origin: String,
}

impl Prober {
    /// One request, redirects not followed.
    fn send(&self, method: &str, url: &str, auth: Auth, headers: &[(&str, &str)]) -> Exchange {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if auth == Auth::Token && probe::origin_of(url) == Some(self.home.as_str()) {
            if let Some(t) = &self.token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let request = format!("{method} {url}");
        match req.body(()) {
            Ok(r) => self.exchange(request, self.agent.run(r)),
            Err(e) => failed(request, e),
        }
    }

    /// `POST` the probe PNG with the token.
    fn upload(&self, url: &str) -> Exchange {
        let mut req = ureq::http::Request::builder()
            .method("POST")
            .uri(url)
            .header("content-type", "image/png");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let request = format!("POST {url}");
        match req.body(PROBE_PNG) {
            Ok(r) => self.exchange(request, self.agent.run(r)),
            Err(e) => failed(request, e),
        }
    }

    /// A CORS preflight for a GET with `Authorization` and `Range`.
    fn preflight(&self, url: &str, origin: &str) -> Exchange {
        self.send(
            "OPTIONS",
            url,
            Auth::None,
            &[
                ("origin", origin),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization,range"),
            ],
        )
    }

    /// A GET with the token, `Origin` and `headers`, redirects followed as a browser would: the
    /// token only while on the homeserver's origin, and `Origin: null` once a redirect left it.
    fn follow(&self, url: &str, headers: &[(&str, &str)]) -> Exchange {
        let mut current = url.to_owned();
        let mut origin = self.origin.clone();
        let mut redirects = Vec::new();
        loop {
            let mut sent = vec![("origin", origin.as_str())];
            sent.extend_from_slice(headers);
            let mut e = self.send("GET", &current, Auth::Token, &sent);
            let location = e.header("location").map(str::to_owned);
            let status = e.status.unwrap_or(0);
            let next = match (status, location) {
                (301 | 302 | 303 | 307 | 308, Some(l)) if redirects.len() < MAX_REDIRECTS => {
                    url::Url::parse(&current).and_then(|u| u.join(&l)).ok()
                }
                _ => None,
            };
            let Some(next) = next else {
                e.request = format!("GET {url}");
                e.redirects = redirects;
                return e;
            };
            let next = next.to_string();
            if probe::origin_of(&next) != probe::origin_of(&current) {
                origin = "null".to_owned();
            }
            redirects.push(Redirect {
                status,
                to: next.clone(),
            });
            current = next;
        }
    }

    fn exchange(
        &self,
        request: String,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Exchange {
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => return failed(request, e),
        };
        let mut headers = std::collections::BTreeMap::<String, String>::new();
        for (name, value) in resp.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let textual = headers.get("content-type").is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("json") || t.starts_with("text/")
        });
        let body = textual.then(|| {
            let mut buf = Vec::new();
            let _ = resp
                .body_mut()
                .as_reader()
                .take(BODY_LIMIT)
                .read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        });
        Exchange {
            request,
            status: Some(resp.status().as_u16()),
            headers,
            body,
            error: None,
            redirects: Vec::new(),
        }
    }
}

fn failed(request: String, e: impl std::fmt::Display) -> Exchange {
    Exchange {
        request,
        error: Some(e.to_string()),
        ..Exchange::default()
    }
}

/// The human report: one line per check, its evidence and advice indented below.
fn table(r: &Report) -> String {
    let mut out = format!(
        "authmedia probe {}\nthe SDK would use: {}\n\n",
        r.homeserver,
        r.api.unwrap_or("(unknown: /versions unreadable)")
    );
    let width = r.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    for c in &r.checks {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            c.level.as_str(),
            c.check,
            c.summary
        ));
        let pad = " ".repeat(width + 8);
        for line in &c.evidence {
            out.push_str(&format!("{pad}{line}\n"));
        }
        if let Some(advice) = &c.advice {
            out.push_str(&format!("{pad}→ {advice}\n"));
        }
    }
    let count = |l: Level| r.checks.iter().filter(|c| c.level == l).count();
    out.push_str(&format!(
        "\n{}: {} ok, {} warn, {} fail, {} skipped\n",
        if r.ready { "ready" } else { "NOT READY" },
        count(Level::Ok),
        count(Level::Warn),
        count(Level::Fail),
        count(Level::Skip)
    ));
    out
}
