//! `AuthMedia.init(options)`: reading and validating the options object.

use authmedia_core::Homeserver;
use js_sys::Function;
use wasm_bindgen::JsValue;

use crate::error::WebError;
use crate::util::{as_function, get};

/// Default object-URL budget of the fallback: 64 MiB.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of fallback fetches in flight at once: a browser's HTTP/1.1 connections per
/// host. Each fetch's `fetchTimeoutMs` deadline starts when the page calls `fetch`, so a fetch the
/// browser holds in its own queue behind slow downloads would time out with the server healthy;
/// beyond this bound fetches wait in the page's queue, where no deadline runs.
pub const DEFAULT_CONCURRENCY: usize = 6;
/// Default worker script URL.
pub const DEFAULT_WORKER_URL: &str = "/authmedia-sw.js";
/// Default `fetchTimeoutMs` of the fallback's fetches.
pub const DEFAULT_FETCH_TIMEOUT_MS: i32 = 30_000;
/// `fetchTimeoutMs` is clamped to this range (below a second a busy but healthy server is cut
/// off; the upper bound keeps it a valid `setTimeout` delay).
pub const FETCH_TIMEOUT_RANGE_MS: (i32, i32) = (1_000, 600_000);

/// Default `workerReadyTimeoutMs` with `fallback: 'auto'`: how long `init` waits for a worker
/// that is registered but not active yet before it settles on the fallback (the worker still
/// takes over when it activates later). A first install on a working network is well under it;
/// where service workers are blocked, `ready` never resolves and the media waits for it.
pub const DEFAULT_READY_TIMEOUT_MS: i32 = 3_000;
/// Default `workerReadyTimeoutMs` with `fallback: 'never'` (there is nothing else to show with).
pub const DEFAULT_READY_TIMEOUT_NEVER_MS: i32 = 10_000;
/// `workerReadyTimeoutMs` is clamped to this range.
pub const READY_TIMEOUT_RANGE_MS: (i32, i32) = (100, 60_000);

/// The `fallback` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackPref {
    /// Use the worker when it controls the page, the fallback otherwise.
    Auto,
    /// Always use the blob fallback.
    Force,
    /// Never use the fallback: `init` fails when no worker can control the page.
    Never,
}

/// Validated init options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The homeserver base URL.
    pub homeserver: Homeserver,
    /// The access token.
    pub access_token: String,
    /// The user id (sent to the worker; used to route its token requests).
    pub user_id: String,
    /// The worker script URL; `None` never registers a worker.
    pub worker_url: Option<String>,
    /// The fallback preference.
    pub fallback: FallbackPref,
    /// Called on 401 `M_UNKNOWN_TOKEN`; resolves to a new token.
    pub on_token_refresh: Option<Function>,
    /// The fallback's byte budget.
    pub budget_bytes: u64,
    /// The fallback's concurrency bound.
    pub concurrency: usize,
    /// A fallback fetch without response headers (or body progress) for this long is aborted
    /// with a `timeout` error.
    pub fetch_timeout_ms: i32,
    /// How long `init` waits for a registered worker to become active.
    pub ready_timeout_ms: i32,
    /// `performanceMarks`: User Timing marks at the steps of `init` (off by default, so a
    /// user's performance timeline holds only their own entries).
    pub marks: bool,
}

fn opt_string(o: &JsValue, key: &str) -> Result<Option<String>, WebError> {
    let v = get(o, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| WebError::invalid_argument(format!("options.{key} must be a string")))
}

fn opt_positive(o: &JsValue, key: &str) -> Result<Option<f64>, WebError> {
    let v = get(o, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= 1.0 => Ok(Some(n)),
        _ => Err(WebError::invalid_argument(format!(
            "options.{key} must be a positive number"
        ))),
    }
}

/// A duration option in milliseconds: `default` when absent, clamped to `(low, high)`.
fn opt_ms(o: &JsValue, key: &str, default: i32, (low, high): (i32, i32)) -> Result<i32, WebError> {
    // Not `f64::clamp`: its NaN/order assertion formats floats, which costs the page ~10 KB of
    // gzipped wasm (core's float formatting); `n` is finite and `low <= high`.
    Ok(opt_positive(o, key)?.map_or(default, |n| {
        n.max(f64::from(low)).min(f64::from(high)) as i32
    }))
}

/// Refuses a homeserver URL whose path prefix holds a `_matrix` segment
/// (`https://hs/_matrix/client`, `https://hs/_matrix`, `…/_matrix/client/v3`): that is an
/// endpoint path, not the base URL, and every request built from it would 404 — reported as
/// "no authenticated media" far from the mistake. The spec's base URL never contains it.
fn check_not_an_endpoint(hs: &Homeserver) -> Result<(), WebError> {
    let prefix = hs.prefix();
    // Segment by segment (`split` on a char: no substring searcher in the wasm).
    let mut at: usize = 0;
    for segment in prefix.split('/') {
        if segment == "_matrix" {
            let base = prefix.get(..at.saturating_sub(1)).unwrap_or("");
            return Err(WebError::invalid_argument(format!(
                "options.homeserver must be the homeserver's base URL, without an API path: \
                 give \"{}{base}\", not \"{}\"",
                hs.origin(),
                hs.base()
            ))
            .with_reason("endpoint_path"));
        }
        at += segment.len() + 1;
    }
    Ok(())
}

impl Options {
    /// Reads the options object given to `AuthMedia.init`.
    pub fn from_js(o: &JsValue) -> Result<Self, WebError> {
        if !o.is_object() {
            return Err(WebError::invalid_argument(
                "AuthMedia.init needs an options object",
            ));
        }
        let hs = opt_string(o, "homeserver")?
            .ok_or_else(|| WebError::invalid_argument("options.homeserver is required"))?;
        let homeserver = Homeserver::parse(&hs).map_err(|e| {
            WebError::invalid_argument(format!("options.homeserver: {e}")).with_reason(e.code())
        })?;
        check_not_an_endpoint(&homeserver)?;
        let access_token = opt_string(o, "accessToken")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| WebError::invalid_argument("options.accessToken is required"))?;
        crate::util::check_token(&access_token)?;
        let user_id = opt_string(o, "userId")?.unwrap_or_default();
        let wv = get(o, "workerUrl");
        let worker_url = if wv.is_undefined() {
            Some(DEFAULT_WORKER_URL.to_owned())
        } else if wv.is_null() {
            None
        } else {
            Some(wv.as_string().ok_or_else(|| {
                WebError::invalid_argument("options.workerUrl must be a string or null")
            })?)
        };
        let fallback = match opt_string(o, "fallback")?.as_deref() {
            None | Some("auto") => FallbackPref::Auto,
            Some("force") => FallbackPref::Force,
            Some("never") => FallbackPref::Never,
            Some(other) => {
                return Err(WebError::invalid_argument(format!(
                    "options.fallback must be 'auto', 'force' or 'never', not \"{other}\""
                )))
            }
        };
        if fallback == FallbackPref::Never && worker_url.is_none() {
            return Err(WebError::invalid_argument(
                "options.fallback 'never' needs a workerUrl (it is null)",
            ));
        }
        let rv = get(o, "onTokenRefresh");
        let on_token_refresh = if rv.is_undefined() || rv.is_null() {
            None
        } else {
            Some(as_function(rv).ok_or_else(|| {
                WebError::invalid_argument("options.onTokenRefresh must be a function")
            })?)
        };
        // Float → integer: both values were checked finite and >= 1; `as` saturates.
        let budget_bytes =
            opt_positive(o, "budgetBytes")?.map_or(DEFAULT_BUDGET_BYTES, |n| n as u64);
        let concurrency =
            opt_positive(o, "concurrency")?.map_or(DEFAULT_CONCURRENCY, |n| (n as usize).min(64));
        let fetch_timeout_ms = opt_ms(
            o,
            "fetchTimeoutMs",
            DEFAULT_FETCH_TIMEOUT_MS,
            FETCH_TIMEOUT_RANGE_MS,
        )?;
        let ready_default = if fallback == FallbackPref::Never {
            DEFAULT_READY_TIMEOUT_NEVER_MS
        } else {
            DEFAULT_READY_TIMEOUT_MS
        };
        let ready_timeout_ms = opt_ms(
            o,
            "workerReadyTimeoutMs",
            ready_default,
            READY_TIMEOUT_RANGE_MS,
        )?;
        let marks = get(o, "performanceMarks").as_bool() == Some(true);
        Ok(Self {
            homeserver,
            access_token,
            user_id,
            worker_url,
            fallback,
            on_token_refresh,
            budget_bytes,
            concurrency,
            fetch_timeout_ms,
            ready_timeout_ms,
            marks,
        })
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::util::{object, set};

    fn with_option(key: &str, v: JsValue) -> Result<Options, WebError> {
        let o = object();
        set(&o, "homeserver", &JsValue::from_str("https://h.example"));
        set(&o, "accessToken", &JsValue::from_str("tok"));
        set(&o, key, &v);
        Options::from_js(&o)
    }

    fn with_timeout(v: JsValue) -> Result<Options, WebError> {
        with_option("fetchTimeoutMs", v)
    }

    #[wasm_bindgen_test]
    fn homeserver_with_an_api_path_is_refused_with_the_base_url_to_give() {
        for (given, base) in [
            ("https://h.example/_matrix/client", "https://h.example"),
            ("https://h.example/_matrix/client/", "https://h.example"),
            ("https://h.example/_matrix", "https://h.example"),
            ("https://h.example/_matrix/client/v3", "https://h.example"),
            (
                "https://h.example:8448/matrix/_matrix/client",
                "https://h.example:8448/matrix",
            ),
        ] {
            let e = with_option("homeserver", JsValue::from_str(given))
                .err()
                .unwrap();
            assert_eq!(e.code, "invalid_argument", "{given}");
            assert_eq!(e.reason, Some("endpoint_path"), "{given}");
            assert!(
                e.message.contains(&format!("give \"{base}\"")),
                "{given}: {}",
                e.message
            );
        }
        for fine in [
            "https://h.example",
            "https://h.example/matrix",
            "https://h.example/_matrixish",
            "https://h.example/x_matrix",
        ] {
            let o = with_option("homeserver", JsValue::from_str(fine)).unwrap();
            assert_eq!(o.homeserver.base(), fine);
        }
    }

    #[wasm_bindgen_test]
    fn worker_ready_timeout_defaults_per_fallback_and_clamps() {
        let ms = |v: JsValue| {
            with_option("workerReadyTimeoutMs", v)
                .unwrap()
                .ready_timeout_ms
        };
        assert_eq!(ms(JsValue::UNDEFINED), DEFAULT_READY_TIMEOUT_MS);
        assert_eq!(ms(JsValue::from(500)), 500);
        assert_eq!(ms(JsValue::from(1)), 100);
        assert_eq!(ms(JsValue::from(1e9)), 60_000);
        let o = object();
        set(&o, "homeserver", &JsValue::from_str("https://h.example"));
        set(&o, "accessToken", &JsValue::from_str("tok"));
        set(&o, "fallback", &JsValue::from_str("never"));
        assert_eq!(
            Options::from_js(&o).unwrap().ready_timeout_ms,
            DEFAULT_READY_TIMEOUT_NEVER_MS
        );
        for garbage in [
            JsValue::from_str("5"),
            JsValue::from(0),
            JsValue::from(f64::NAN),
        ] {
            let e = with_option("workerReadyTimeoutMs", garbage).err().unwrap();
            assert_eq!(e.code, "invalid_argument");
            assert!(e.message.contains("workerReadyTimeoutMs"), "{}", e.message);
        }
    }

    #[wasm_bindgen_test]
    fn fetch_timeout_defaults_clamps_and_refuses_garbage() {
        let ms = |v: JsValue| with_timeout(v).unwrap().fetch_timeout_ms;
        assert_eq!(ms(JsValue::UNDEFINED), DEFAULT_FETCH_TIMEOUT_MS);
        assert_eq!(ms(JsValue::NULL), DEFAULT_FETCH_TIMEOUT_MS);
        assert_eq!(ms(JsValue::from(5000)), 5000);
        assert_eq!(ms(JsValue::from(1.5)), 1000);
        assert_eq!(ms(JsValue::from(1e12)), 600_000);
        for garbage in [
            JsValue::from_str("5000"),
            JsValue::from(0),
            JsValue::from(-1),
            JsValue::from(f64::NAN),
            JsValue::from(f64::INFINITY),
            JsValue::TRUE,
        ] {
            let e = with_timeout(garbage.clone()).err().unwrap();
            assert_eq!(e.code, "invalid_argument", "{garbage:?}");
            assert!(e.message.contains("fetchTimeoutMs"), "{}", e.message);
        }
    }
}
