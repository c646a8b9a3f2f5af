//! Errors as JavaScript sees them: `Error` objects named `AuthMediaError` with a stable
//! string `code` (the npm loader's `AuthMediaError` class recognises them with
//! `instanceof`), plus the original browser error as `cause` when there is one.

use wasm_bindgen::{JsCast, JsValue};

/// The start of every error message of this package (the npm loader's errors too).
pub const PREFIX: &str = "matrix-authmedia: ";

/// An SDK error before it is turned into a JS `Error`.
#[derive(Debug, Clone)]
pub struct WebError {
    /// Stable snake_case code (`invalid_mxc`, `unauthorized`, `network`, ...).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The finer-grained code of the layer below (e.g. the core's mxc error), if any.
    pub reason: Option<&'static str>,
    /// The HTTP status, for server errors.
    pub status: Option<u16>,
    /// The Matrix `errcode`, for server errors.
    pub errcode: Option<String>,
    /// The original JS error, kept as is.
    pub cause: Option<JsValue>,
}

impl WebError {
    /// An error with a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
            status: None,
            errcode: None,
            cause: None,
        }
    }

    /// Keeps the original JS error.
    pub fn with_cause(mut self, cause: JsValue) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Adds the layer-below code.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// A network-level failure of `fetch` (CORS, offline, DNS, aborted).
    pub fn network(cause: JsValue) -> Self {
        Self::new("network", format!("network error: {}", describe(&cause))).with_cause(cause)
    }

    /// An invalid argument.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }

    /// The JS `Error` handed to callers; its message starts with [`PREFIX`], as the loader's
    /// own errors do, so a console line says which library it comes from.
    pub fn to_js(&self) -> JsValue {
        let err = if self.message.starts_with(PREFIX) {
            js_sys::Error::new(&self.message)
        } else {
            js_sys::Error::new(&format!("{PREFIX}{}", self.message))
        };
        err.set_name("AuthMediaError");
        let obj: &js_sys::Object = err.as_ref();
        set(obj, "code", &JsValue::from_str(self.code));
        if let Some(r) = self.reason {
            set(obj, "reason", &JsValue::from_str(r));
        }
        if let Some(s) = self.status {
            set(obj, "status", &JsValue::from(s));
        }
        if let Some(e) = &self.errcode {
            set(obj, "errcode", &JsValue::from_str(e));
        }
        if let Some(c) = &self.cause {
            set(obj, "cause", c);
        }
        err.into()
    }
}

impl From<WebError> for JsValue {
    fn from(e: WebError) -> Self {
        e.to_js()
    }
}

impl From<authmedia_core::MxcError> for WebError {
    fn from(e: authmedia_core::MxcError) -> Self {
        WebError::new("invalid_mxc", e.to_string()).with_reason(e.code())
    }
}

fn set(obj: &js_sys::Object, key: &str, value: &JsValue) {
    // Setting a data property on a fresh Error cannot fail; ignore the impossible error.
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}

/// A short description of any thrown JS value.
pub fn describe(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    if let Some(s) = v.as_string() {
        return s;
    }
    if v.is_null() || v.is_undefined() {
        return "(no error value)".to_owned();
    }
    // JSON text, without Rust's float formatting (kept out of the wasm for size).
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "(unprintable error value)".to_owned())
}

/// The `code` of an error thrown by this SDK, if it is one.
pub fn code_of(v: &JsValue) -> Option<String> {
    js_sys::Reflect::get(v, &JsValue::from_str("code"))
        .ok()?
        .as_string()
}

/// The SDK error for an attachment error: `hash_mismatch` for a tampered or truncated
/// ciphertext, `over_budget` for one too large, `invalid_argument` for a bad file.
pub fn attachment_error(e: &authmedia_core::AttachmentError) -> WebError {
    let code = match e {
        authmedia_core::AttachmentError::HashMismatch => "hash_mismatch",
        authmedia_core::AttachmentError::TooLarge { .. } => "over_budget",
        _ => "invalid_argument",
    };
    WebError::new(code, format!("encrypted attachment: {e}")).with_reason(e.code())
}
