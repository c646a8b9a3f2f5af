//! How the encrypted-attachment path fails: a [`Failure`] is the JSON error answer it becomes
//! (status, `errcode`, `authmedia_code`, text), carried through the shared download task as a
//! plain object when it is another request's.

use authmedia_core::AttachmentError;
use wasm_bindgen::JsValue;
use web_sys::Response;

use crate::flight::Fail;
use crate::js;
use crate::net::{error_response, matrix_error, CODE_HEADER};

/// A failure, answered as a JSON error.
pub(super) struct Failure {
    status: u16,
    errcode: String,
    /// `authmedia_code` of the answer.
    code: String,
    message: String,
}

impl Failure {
    pub(super) fn new(status: u16, errcode: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            errcode: errcode.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn upstream(fail: &Fail) -> Self {
        let (status, code, message) = fail.parts();
        Self::new(status, "M_UNKNOWN", code, message)
    }

    pub(super) fn attachment(e: &AttachmentError) -> Self {
        let (status, errcode, message) = authmedia_js::webcrypto::refusal(e);
        Self::new(status, &errcode, e.code(), message)
    }

    /// The media handler's answer other than 200 to the ciphertext's download (a homeserver's
    /// error, kept; or the worker's own JSON error), as this path's error answer: its status, its
    /// `errcode` and its `authmedia-code`.
    pub(super) async fn answered(response: &Response) -> Self {
        let error = matrix_error(response).await;
        let code = response.headers().get(CODE_HEADER).ok().flatten();
        Self::new(
            response.status(),
            error.errcode.as_deref().unwrap_or("M_UNKNOWN"),
            code.as_deref().unwrap_or("upstream"),
            format!(
                "authmedia service worker: downloading the encrypted attachment failed: {error}"
            ),
        )
    }

    pub(super) fn to_js(&self) -> JsValue {
        js::object(&[
            ("status", self.status.into()),
            ("errcode", self.errcode.as_str().into()),
            ("authmedia_code", self.code.as_str().into()),
            ("error", self.message.as_str().into()),
        ])
    }

    pub(super) fn from_js(v: &JsValue) -> Self {
        let status = js::get(v, "status")
            .as_f64()
            .and_then(|s| u16::try_from(s as u32).ok())
            .filter(|s| (400..600).contains(s))
            .unwrap_or(500);
        Self::new(
            status,
            &js::string(v, "errcode").unwrap_or_else(|| "M_UNKNOWN".to_owned()),
            &js::string(v, "authmedia_code").unwrap_or_else(|| "internal".to_owned()),
            js::string(v, "error").unwrap_or_else(|| "authmedia service worker: failed".to_owned()),
        )
    }

    pub(super) fn response(&self) -> Response {
        error_response(self.status, &self.errcode, &self.code, &self.message)
    }
}
