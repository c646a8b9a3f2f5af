//! How the encrypted-attachment path fails: a [`Failure`] is the JSON error answer it becomes
//! (status, `errcode`, `authmedia_code`, text), carried through the shared download task as a
//! plain object when it is another request's.

use authmedia_core::{push_decimal, MatrixError};
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

    /// [`authmedia_core::AttachmentError::TooLarge`] as `refusal` answers it, the text written out: the two
    /// refusals this wasm makes itself are spelled here so that it links neither the core's
    /// `AttachmentError` texts nor their formatting (the decryption module answers the others).
    /// The unit test below holds both to `refusal`.
    pub(super) fn too_large(limit: u64) -> Self {
        let mut message = String::from(
            "authmedia service worker: encrypted attachment refused: ciphertext is larger than the limit of ",
        );
        push_decimal(&mut message, limit);
        message.push_str(" bytes");
        Self::new(413, "AUTHMEDIA_TOO_LARGE", "too_large", message)
    }

    /// [`authmedia_core::AttachmentError::CryptoUnavailable`] as `refusal` answers it (see [`Self::too_large`]).
    pub(super) fn crypto_unavailable() -> Self {
        Self::new(
            502,
            "AUTHMEDIA_CRYPTO_UNAVAILABLE",
            "crypto_unavailable",
            "authmedia service worker: encrypted attachment refused: WebCrypto could not verify or decrypt the attachment in this context",
        )
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
            download_failed(&error),
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

/// The text of a failed download: `MatrixError`'s own ("HTTP 404 M_NOT_FOUND: …") written out, so
/// that this wasm links no formatter for it (the unit test below holds the two equal).
fn download_failed(error: &MatrixError) -> String {
    let mut text = String::from(
        "authmedia service worker: downloading the encrypted attachment failed: HTTP ",
    );
    push_decimal(&mut text, error.status.into());
    text.push(' ');
    text.push_str(error.errcode.as_deref().unwrap_or("(no errcode)"));
    text.push_str(": ");
    text.push_str(error.message.as_deref().unwrap_or("(no message)"));
    text
}

#[cfg(test)]
mod tests {
    use super::{download_failed, Failure};
    use authmedia_core::{ErrorBody, MatrixError};

    #[test]
    fn a_failed_download_reads_as_the_matrix_error() {
        for error in [
            MatrixError::from_body(
                404,
                Some(ErrorBody {
                    errcode: Some("M_NOT_FOUND".into()),
                    error: Some("gone".into()),
                    ..ErrorBody::default()
                }),
                None,
            ),
            MatrixError::from_body(502, None, None),
        ] {
            assert_eq!(
                download_failed(&error),
                format!("authmedia service worker: downloading the encrypted attachment failed: {error}")
            );
        }
    }
    use authmedia_core::AttachmentError;
    use authmedia_js::webcrypto::refusal;

    fn same(failure: &Failure, e: &AttachmentError) {
        let (status, errcode, message) = refusal(e);
        assert_eq!(failure.status, status);
        assert_eq!(failure.errcode, errcode);
        assert_eq!(failure.code, e.code());
        assert_eq!(failure.message, message);
    }

    #[test]
    fn the_worker_s_own_refusals_are_the_shared_rule_s() {
        for limit in [0, 7, 52_428_800, u64::MAX] {
            same(
                &Failure::too_large(limit),
                &AttachmentError::TooLarge { limit },
            );
        }
        same(
            &Failure::crypto_unavailable(),
            &AttachmentError::CryptoUnavailable,
        );
    }
}
