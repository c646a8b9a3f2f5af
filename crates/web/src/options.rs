//! `AuthMedia.init(options)`: reading and validating the options object.

use authmedia_core::Homeserver;
use js_sys::Function;
use wasm_bindgen::JsValue;

use crate::error::WebError;
use crate::util::{as_function, get};

/// Default object-URL budget of the fallback: 64 MiB.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of fallback fetches in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 6;
/// Default worker script URL.
pub const DEFAULT_WORKER_URL: &str = "/authmedia-sw.js";

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
        Ok(Self {
            homeserver,
            access_token,
            user_id,
            worker_url,
            fallback,
            on_token_refresh,
            budget_bytes,
            concurrency,
        })
    }
}
