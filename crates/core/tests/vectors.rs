//! The JSON vectors of `tests/vectors/*.json` and the property tests, as one test binary.
//!
//! Vectors are compiled in with `include_str!` (no filesystem under wasm), so the same
//! tests run natively (`cargo test`) and in browsers
//! (`wasm-pack test --headless --chrome --firefox crates/core`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "vectors/properties.rs"]
mod properties;

use authmedia_core::{
    classify, media_url, negotiate, thumbnail_size, Action, Api, Classification, Ending, ErrorBody,
    Homeserver, Lifecycle, MatrixError, MediaRequest, Method, MxcUri, RetryPolicy, Route, Versions,
};
use serde_json::Value;

const MXC: &str = include_str!("vectors/mxc.json");
const HOMESERVER: &str = include_str!("vectors/homeserver.json");
const URLS: &str = include_str!("vectors/urls.json");
const VERSIONS: &str = include_str!("vectors/versions.json");
const CLASSIFY: &str = include_str!("vectors/classify.json");
const THUMBNAILS: &str = include_str!("vectors/thumbnails.json");
const ERRORS: &str = include_str!("vectors/errors.json");
const LIFECYCLE: &str = include_str!("vectors/lifecycle.json");

const ALL: [(&str, &str); 8] = [
    ("mxc", MXC),
    ("homeserver", HOMESERVER),
    ("urls", URLS),
    ("versions", VERSIONS),
    ("classify", CLASSIFY),
    ("thumbnails", THUMBNAILS),
    ("errors", ERRORS),
    ("lifecycle", LIFECYCLE),
];

fn cases(file: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(file).expect("vector file is JSON");
    v["cases"].as_array().expect("cases array").clone()
}

/// Runs `check` on every case, collecting failures so one run reports them all.
fn run(name: &str, file: &str, check: impl Fn(&Value) -> Result<(), String>) {
    let all = cases(file);
    let mut failures = Vec::new();
    for (i, case) in all.iter().enumerate() {
        if let Err(e) = check(case) {
            let rule = case["rule"].as_str().unwrap_or("?");
            failures.push(format!("{name}[{i}] ({rule}): {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {name} vectors failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

fn eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// Replaces `{R}` with `repeat.text` × `repeat.times` (for the very long inputs).
fn expand(case: &Value, s: &str) -> String {
    match case.get("repeat") {
        Some(r) => {
            let text = r["text"].as_str().unwrap();
            let times = usize::try_from(r["times"].as_u64().unwrap()).unwrap();
            s.replace("{R}", &text.repeat(times))
        }
        None => s.to_owned(),
    }
}

fn str_field<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key} missing in {case}"))
}

#[test]
fn every_vector_names_its_rule_and_there_are_enough() {
    let mut total = 0;
    for (name, file) in ALL {
        for case in cases(file) {
            let rule = case["rule"].as_str().unwrap_or("");
            assert!(
                !rule.trim().is_empty(),
                "{name}: case without a rule: {case}"
            );
            total += 1;
        }
    }
    assert!(total >= 200, "only {total} vector cases");
}

#[test]
fn mxc_vectors() {
    run("mxc", MXC, |case| {
        let input = expand(case, str_field(case, "input"));
        let got = MxcUri::parse(&input);
        if let Some(code) = case["error"].as_str() {
            return match got {
                Ok(m) => Err(format!("parsed as {m}, want error {code}")),
                Err(e) => {
                    eq("error code", e.code(), code)?;
                    // Messages name the part that is wrong and never echo a huge input.
                    let msg = e.to_string();
                    if msg.len() > 200 {
                        return Err(format!("message too long: {} bytes", msg.len()));
                    }
                    Ok(())
                }
            };
        }
        let m = got.map_err(|e| format!("want valid, got {} ({e})", e.code()))?;
        eq(
            "server_name",
            m.server_name().as_str(),
            &expand(case, str_field(case, "server_name")),
        )?;
        eq(
            "host",
            m.server_name().host(),
            &expand(case, str_field(case, "host")),
        )?;
        eq(
            "port",
            m.server_name().port().map(u64::from),
            case["port"].as_u64(),
        )?;
        eq(
            "media_id",
            m.media_id().as_str(),
            &expand(case, str_field(case, "media_id")),
        )?;
        eq("display", m.to_string(), input.clone())?;
        eq("from_str", input.parse::<MxcUri>().ok(), Some(m.clone()))?;
        // The parts parse on their own too.
        eq(
            "ServerName::parse",
            authmedia_core::ServerName::parse(m.server_name().as_str())
                .ok()
                .as_ref(),
            Some(m.server_name()),
        )?;
        eq(
            "MediaId::parse",
            authmedia_core::MediaId::parse(m.media_id().as_str())
                .ok()
                .as_ref(),
            Some(m.media_id()),
        )
    });
}

#[test]
fn homeserver_vectors() {
    run("homeserver", HOMESERVER, |case| {
        let got = Homeserver::parse(str_field(case, "input"));
        if let Some(code) = case["error"].as_str() {
            return match got {
                Ok(h) => Err(format!("parsed as {h}, want error {code}")),
                Err(e) => eq("error code", e.code(), code),
            };
        }
        let hs = got.map_err(|e| format!("want valid, got {} ({e})", e.code()))?;
        eq("base", hs.base(), str_field(case, "base"))?;
        eq("origin", hs.origin(), str_field(case, "origin"))?;
        // Normalisation is idempotent.
        eq(
            "reparse",
            Homeserver::parse(hs.base()).ok().as_ref(),
            Some(&hs),
        )
    });
}

fn request(case: &Value) -> MediaRequest {
    serde_json::from_value(case["request"].clone()).expect("request shape")
}

#[test]
fn url_vectors() {
    run("urls", URLS, |case| {
        let hs = Homeserver::parse(str_field(case, "homeserver")).map_err(|e| e.to_string())?;
        let api: Api = str_field(case, "api")
            .parse()
            .map_err(|_| "bad api".to_owned())?;
        let mxc = MxcUri::parse(str_field(case, "mxc")).map_err(|e| e.to_string())?;
        let req = request(case);
        let timeout = case["timeout_ms"].as_u64();
        let url = media_url(&hs, api, &mxc, &req, timeout);
        eq("url", url.as_str(), str_field(case, "url"))?;
        // What a browser would put in Request.url is the very same string.
        let normalised = url::Url::parse(&url).map_err(|e| e.to_string())?;
        eq("WHATWG-normalised", normalised.as_str(), url.as_str())
    });
}

#[test]
fn versions_vectors() {
    run("versions", VERSIONS, |case| {
        let body = match (case.get("json"), case.get("raw")) {
            (Some(j), None) => j.to_string(),
            (None, Some(Value::String(raw))) => raw.clone(),
            _ => return Err("case needs exactly one of json / raw".into()),
        };
        let got = Versions::from_json(&body);
        if let Some(code) = case["error"].as_str() {
            return match got {
                Ok(v) => Err(format!("parsed as {v:?}, want error {code}")),
                Err(e) => eq("error code", e.code(), code),
            };
        }
        let v = got.map_err(|e| format!("want valid, got {} ({e})", e.code()))?;
        eq("api", negotiate(&v).as_str(), str_field(case, "api"))
    });
}

/// In browsers: the same bodies through `JSON.parse` and serde-wasm-bindgen.
#[cfg(target_arch = "wasm32")]
#[test]
fn versions_vectors_via_serde_wasm_bindgen() {
    run("versions (serde-wasm-bindgen)", VERSIONS, |case| {
        let Some(body) = case.get("json") else {
            return Ok(()); // raw text that JSON.parse may reject: covered natively
        };
        let js = js_sys::JSON::parse(&body.to_string()).map_err(|e| format!("{e:?}"))?;
        let got = serde_wasm_bindgen::from_value::<Versions>(js);
        match (got, case["api"].as_str()) {
            (Ok(v), Some(api)) => eq("api", negotiate(&v).as_str(), api),
            (Err(_), None) => Ok(()),
            (Ok(v), None) => Err(format!("parsed as {v:?}, want an error")),
            (Err(e), Some(_)) => Err(format!("want valid, got {e}")),
        }
    });
}

/// In browsers: error bodies through `JSON.parse` and serde-wasm-bindgen.
#[cfg(target_arch = "wasm32")]
#[test]
fn error_vectors_via_serde_wasm_bindgen() {
    run("errors (serde-wasm-bindgen)", ERRORS, |case| {
        let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
        let header = case["retry_after"].as_str();
        let body = case["body"]
            .as_str()
            .and_then(|b| js_sys::JSON::parse(b).ok())
            .and_then(|js| serde_wasm_bindgen::from_value::<ErrorBody>(js).ok());
        let e = MatrixError::from_body(status, body, header);
        eq("kind", e.kind().code(), str_field(case, "kind"))?;
        eq("errcode", e.errcode.as_deref(), case["errcode"].as_str())?;
        eq("message", e.message.as_deref(), case["message"].as_str())?;
        eq(
            "soft_logout",
            e.soft_logout,
            case["soft_logout"].as_bool().unwrap_or(false),
        )?;
        eq(
            "retry_after_ms",
            e.retry_after_ms,
            case["retry_after_ms"].as_u64(),
        )
    });
}

#[test]
fn classify_vectors() {
    run("classify", CLASSIFY, |case| {
        let bases: Vec<&str> = match case.get("homeservers") {
            Some(list) => list
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect(),
            None => vec!["https://example.org"],
        };
        let hss: Vec<Homeserver> = bases
            .iter()
            .map(|b| Homeserver::parse(b))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let url = str_field(case, "url");
        let got = classify(url, &hss);
        let want_route = str_field(case, "route");
        let m = match (got, want_route) {
            (Classification::Other, "other") => return Ok(()),
            (Classification::Other, r) => return Err(format!("got other, want {r}")),
            (Classification::Media(m), "other") => return Err(format!("got {m:?}, want other")),
            (Classification::Media(m), _) => m,
        };
        eq("route", m.route.as_str(), want_route)?;
        eq(
            "homeserver",
            m.homeserver as u64,
            case["homeserver"].as_u64().unwrap_or(0),
        )?;
        eq("mxc", m.mxc.to_string().as_str(), str_field(case, "mxc"))?;
        eq("request", &m.request, &request(case))?;
        eq("timeout_ms", m.timeout_ms, case["timeout_ms"].as_u64())?;
        eq("upgraded", m.upgraded.as_deref(), case["upgraded"].as_str())?;
        // Only legacy is upgraded, and the upgrade is itself authenticated media.
        if m.route == Route::Legacy {
            let up = m.upgraded.as_deref().ok_or("legacy without upgrade")?;
            match classify(up, &hss) {
                Classification::Media(u) if u.route == Route::Authenticated && u.mxc == m.mxc => {
                    Ok(())
                }
                other => Err(format!("upgraded URL classifies as {other:?}")),
            }
        } else {
            Ok(())
        }
    });
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

#[test]
fn thumbnail_vectors() {
    run("thumbnails", THUMBNAILS, |case| {
        let (w, h) = (number(&case["css"][0]), number(&case["css"][1]));
        let dpr = number(&case["dpr"]);
        let method: Method = str_field(case, "method")
            .parse()
            .map_err(|_| "bad method".to_owned())?;
        let got = thumbnail_size(w, h, dpr, method);
        if let Some(code) = case["error"].as_str() {
            return match got {
                Ok(t) => Err(format!("got {t:?}, want error {code}")),
                Err(e) => eq("error code", e.code(), code),
            };
        }
        let t = got.map_err(|e| format!("want a size, got {}", e.code()))?;
        let want = (
            case["size"][0].as_u64().unwrap(),
            case["size"][1].as_u64().unwrap(),
        );
        eq("size", (u64::from(t.width), u64::from(t.height)), want)?;
        eq("method", t.method, Some(method))?;
        eq("animated", t.animated, None)
    });
}

#[test]
fn error_vectors() {
    run("errors", ERRORS, |case| {
        let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
        let header = case["retry_after"].as_str();
        let e = match case["body"].as_str() {
            Some(body) => MatrixError::from_json(status, body, header),
            None => MatrixError::from_body(status, None, header),
        };
        eq("kind", e.kind().code(), str_field(case, "kind"))?;
        eq("status", e.status, status)?;
        eq("errcode", e.errcode.as_deref(), case["errcode"].as_str())?;
        eq("message", e.message.as_deref(), case["message"].as_str())?;
        eq(
            "soft_logout",
            e.soft_logout,
            case["soft_logout"].as_bool().unwrap_or(false),
        )?;
        eq(
            "retry_after_ms",
            e.retry_after_ms,
            case["retry_after_ms"].as_u64(),
        )?;
        // from_body with the parsed body agrees with from_json.
        if let Some(body) = case["body"].as_str() {
            let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
            eq(
                "from_body",
                MatrixError::from_body(status, parsed, header),
                e.clone(),
            )?;
        }
        match e.kind() {
            authmedia_core::ErrorKind::UnknownToken { soft_logout } => {
                eq("kind.soft_logout", soft_logout, e.soft_logout)
            }
            authmedia_core::ErrorKind::LimitExceeded { retry_after_ms } => {
                eq("kind.retry_after_ms", retry_after_ms, e.retry_after_ms)
            }
            _ => Ok(()),
        }
    });
}

/// The action a `poll T -> …` step expects (the vectors' small language, see lifecycle.json).
fn expected_action(words: &[&str]) -> Result<Action, String> {
    let api = |w: &str| w.parse::<Api>().map_err(|e| format!("{w}: {e}"));
    let n = |w: &str| w.parse::<u64>().map_err(|e| format!("{w}: {e}"));
    Ok(match words {
        ["send", a, g] => Action::Send {
            api: api(a)?,
            generation: n(g)? as u32,
        },
        ["wait", t] => Action::Wait { until_ms: n(t)? },
        ["need-token", g] => Action::NeedToken {
            after_generation: n(g)? as u32,
        },
        ["idle"] => Action::Idle,
        ["deliver"] => Action::Deliver,
        ["fail", "network", k] => Action::Fail(Ending::Network {
            attempts: n(k)? as u32,
        }),
        ["fail", "timeout"] => Action::Fail(Ending::TimedOut),
        ["fail", "cancelled"] => Action::Fail(Ending::Cancelled),
        other => return Err(format!("unknown action {other:?}")),
    })
}

#[test]
fn lifecycle_vectors() {
    run("lifecycle", LIFECYCLE, |case| {
        let start = case["start"].as_array().ok_or("start")?;
        let api: Api = start[0].as_str().ok_or("api")?.parse().map_err(|_| "api")?;
        let policy = match case["policy"].as_array() {
            Some(p) => RetryPolicy {
                max_attempts: p[0].as_u64().ok_or("policy")? as u32,
                max_total_wait_ms: p[1].as_u64().ok_or("policy")?,
                max_delay_ms: p[2].as_u64().ok_or("policy")?,
            },
            None => RetryPolicy::default(),
        };
        let mut lc = Lifecycle::new(
            policy,
            api,
            start[1].as_bool().ok_or("may_fall_back")?,
            start[2].as_bool().ok_or("can_refresh")?,
        );
        for step in case["steps"].as_array().ok_or("steps")? {
            let step = step.as_str().ok_or("step")?;
            let words: Vec<&str> = step.split_whitespace().collect();
            let n = |i: usize| -> Result<u64, String> {
                words
                    .get(i)
                    .ok_or(format!("{step}: missing word {i}"))?
                    .parse::<u64>()
                    .map_err(|e| format!("{step}: {e}"))
            };
            match words.as_slice() {
                ["poll", _, "->", rest @ ..] => {
                    let want = expected_action(rest)?;
                    eq(step, lc.poll(n(1)?), want)?;
                }
                ["answer", _, _, rest @ ..] => {
                    let status = n(2)? as u16;
                    let error = rest.first().map(|errcode| MatrixError {
                        status,
                        errcode: Some((*errcode).to_owned()),
                        message: None,
                        soft_logout: false,
                        retry_after_ms: rest.get(1).and_then(|r| r.parse().ok()),
                    });
                    lc.on_answer(n(1)?, status, error.as_ref());
                }
                ["network", _] => lc.on_network_error(n(1)?),
                ["stall"] => lc.on_stall(),
                ["token", "fresh"] => lc.on_token(true),
                ["token", "none"] => lc.on_token(false),
                ["end"] => lc.on_end(),
                ["rejected", b] => eq(step, lc.token_rejected(), *b == "true")?,
                ["fell-back", b] => eq(step, lc.fell_back(), *b == "true")?,
                ["sends", _] => eq(step, u64::from(lc.sends()), n(1)?)?,
                _ => return Err(format!("unknown step {step}")),
            }
        }
        Ok(())
    });
}

/// The TypeScript union `AuthMediaErrorCode` of the npm package is exactly the page's client
/// codes ([`ClientCode::PAGE`]): a code added on one side only fails here.
#[test]
fn the_typescript_error_codes_are_the_page_client_codes() {
    const DTS: &str = include_str!("../../../npm/index.d.ts");
    let start = DTS
        .find("export type AuthMediaErrorCode =")
        .expect("the union");
    let end = start + DTS[start..].find(';').expect("the union's end");
    let mut union: Vec<&str> = DTS[start..end]
        .split('|')
        .skip(1)
        .map(|s| s.trim().trim_matches('\''))
        .collect();
    let mut page: Vec<&str> = authmedia_core::ClientCode::PAGE
        .iter()
        .map(|c| c.as_str())
        .collect();
    union.sort_unstable();
    page.sort_unstable();
    assert_eq!(union, page);
}
