//! Matrix error responses — <https://spec.matrix.org/v1.11/client-server-api/#standard-error-response>
//!
//! `{"errcode": "M_…", "error": "…"}` plus `soft_logout` (401,
//! <https://spec.matrix.org/v1.11/client-server-api/#soft-logout>) and `retry_after_ms`
//! (429, <https://spec.matrix.org/v1.11/client-server-api/#rate-limiting>) and the
//! `Retry-After` header, turned into a [`MatrixError`] whose [`ErrorKind`] tells the worker
//! and page what to do.

use crate::code::ClientCode;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::map_only::map_only;

/// The JSON body of an error response, read leniently: a field of the wrong type is `None`.
///
/// Deserialises only from a map (a JSON object, a JS object): a body of another shape is
/// refused, so that the caller treats it as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorBody {
    /// `M_…` code.
    pub errcode: Option<String>,
    /// Human-readable message.
    pub error: Option<String>,
    /// `true` when the session may be refreshed instead of logged out (401 only).
    pub soft_logout: Option<bool>,
    /// Milliseconds to wait before retrying (429).
    pub retry_after_ms: Option<u64>,
}

/// The wire shape. A derived `Deserialize` on [`ErrorBody`] itself would also read a JSON
/// array such as `["M_UNKNOWN_TOKEN","x",true]` positionally as errcode, error, soft_logout
/// (found by the `matrix_error` fuzz target), so [`ErrorBody`] feeds it only maps.
#[derive(Deserialize)]
struct ErrorBodyWire {
    #[serde(default, deserialize_with = "lenient")]
    errcode: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    error: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    soft_logout: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    retry_after_ms: Option<u64>,
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w: ErrorBodyWire = map_only(d, "a Matrix error object")?;
        Ok(ErrorBody {
            errcode: w.errcode,
            error: w.error,
            soft_logout: w.soft_logout,
            retry_after_ms: w.retry_after_ms,
        })
    }
}

/// A failed Matrix request, ready to act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status} {}: {}", .errcode.as_deref().unwrap_or("(no errcode)"), .message.as_deref().unwrap_or("(no message)"))]
pub struct MatrixError {
    /// HTTP status code.
    pub status: u16,
    /// `errcode` of the body, if any.
    pub errcode: Option<String>,
    /// `error` of the body, if any.
    pub message: Option<String>,
    /// `soft_logout` of the body (`false` when absent).
    pub soft_logout: bool,
    /// From the `Retry-After` header (delta-seconds) or, failing that, `retry_after_ms`.
    pub retry_after_ms: Option<u64>,
}

/// What a [`MatrixError`] means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401 `M_MISSING_TOKEN`: the request had no token.
    MissingToken,
    /// 401 `M_UNKNOWN_TOKEN`: refresh (soft logout) or log out.
    UnknownToken {
        /// Whether the server allows a soft logout.
        soft_logout: bool,
    },
    /// 429 `M_LIMIT_EXCEEDED`: retry later.
    LimitExceeded {
        /// How long to wait, when the server said.
        retry_after_ms: Option<u64>,
    },
    /// 404 `M_NOT_FOUND` (also a frozen legacy endpoint).
    NotFound,
    /// 504 `M_NOT_YET_UPLOADED`: async upload not finished within `timeout_ms`.
    NotYetUploaded,
    /// 502/413 `M_TOO_LARGE`.
    TooLarge,
    /// 404/405 `M_UNRECOGNIZED` (or a bare 405): the server lacks this endpoint.
    Unrecognized,
    /// 403, or `M_FORBIDDEN` / `M_GUEST_ACCESS_FORBIDDEN` / `M_UNAUTHORIZED`.
    Forbidden,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::UnknownToken { .. } => "unknown_token",
            Self::LimitExceeded { .. } => "limit_exceeded",
            Self::NotFound => "not_found",
            Self::NotYetUploaded => "not_yet_uploaded",
            Self::TooLarge => "too_large",
            Self::Unrecognized => "unrecognized",
            Self::Forbidden => "forbidden",
            Self::Other => "other",
        }
    }

    /// The code a client shows for media that failed this way — the page SDK's error `code`
    /// and an element's `data-authmedia-error`, the same in worker mode and in the fallback:
    /// `unauthorized`, `not_found`, `too_large`, `rate_limited`, `not_yet_uploaded`,
    /// `unsupported`, `forbidden`, else `server_error`.
    pub fn client_code(&self) -> ClientCode {
        match self {
            Self::MissingToken | Self::UnknownToken { .. } => ClientCode::Unauthorized,
            Self::NotFound => ClientCode::NotFound,
            Self::TooLarge => ClientCode::TooLarge,
            Self::LimitExceeded { .. } => ClientCode::RateLimited,
            Self::NotYetUploaded => ClientCode::NotYetUploaded,
            Self::Unrecognized => ClientCode::Unsupported,
            Self::Forbidden => ClientCode::Forbidden,
            Self::Other => ClientCode::ServerError,
        }
    }
}

impl MatrixError {
    /// Builds an error from a status, a parsed body (if it was JSON) and the `Retry-After` header.
    pub fn from_body(
        status: u16,
        body: Option<ErrorBody>,
        retry_after_header: Option<&str>,
    ) -> MatrixError {
        let body = body.unwrap_or_default();
        let header_ms = retry_after_header.and_then(parse_retry_after);
        MatrixError {
            status,
            errcode: body.errcode,
            message: body.error,
            soft_logout: body.soft_logout.unwrap_or(false),
            retry_after_ms: header_ms.or(body.retry_after_ms),
        }
    }

    /// Like [`Self::from_body`] from a raw body; a body that is not a JSON object counts as absent.
    #[cfg(feature = "json")]
    pub fn from_json(status: u16, body: &str, retry_after_header: Option<&str>) -> MatrixError {
        Self::from_body(status, serde_json::from_str(body).ok(), retry_after_header)
    }

    /// What this error means.
    pub fn kind(&self) -> ErrorKind {
        match (self.errcode.as_deref(), self.status) {
            (Some("M_MISSING_TOKEN"), _) => ErrorKind::MissingToken,
            (Some("M_UNKNOWN_TOKEN"), _) => ErrorKind::UnknownToken {
                soft_logout: self.soft_logout,
            },
            (Some("M_LIMIT_EXCEEDED"), _) | (_, 429) => ErrorKind::LimitExceeded {
                retry_after_ms: self.retry_after_ms,
            },
            (Some("M_NOT_YET_UPLOADED"), _) => ErrorKind::NotYetUploaded,
            (Some("M_TOO_LARGE"), _) => ErrorKind::TooLarge,
            (Some("M_UNRECOGNIZED"), 404 | 405) | (None, 405) => ErrorKind::Unrecognized,
            (Some("M_NOT_FOUND"), _) | (None, 404) => ErrorKind::NotFound,
            (Some("M_FORBIDDEN" | "M_GUEST_ACCESS_FORBIDDEN" | "M_UNAUTHORIZED"), _) | (_, 403) => {
                ErrorKind::Forbidden
            }
            _ => ErrorKind::Other,
        }
    }
}

/// `Retry-After: <delta-seconds>` → milliseconds. HTTP-dates need a clock: not handled here.
fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok()?.checked_mul(1000)
}

/// A field value that deserialises as `T` when it is the right JSON type, else `None`.
trait Lenient: Sized {
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_i64(v: i64) -> Option<Self> {
        u64::try_from(v).ok().and_then(Self::from_u64)
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
}

impl Lenient for String {
    fn from_str(v: &str) -> Option<Self> {
        Some(v.to_owned())
    }
}

impl Lenient for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

impl Lenient for u64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    // JS numbers arrive as f64 through serde-wasm-bindgen.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn from_f64(v: f64) -> Option<Self> {
        // 2^64 as f64; below it the cast truncates the fraction exactly.
        (0.0..18_446_744_073_709_551_616.0)
            .contains(&v)
            .then_some(v as u64)
    }
}

fn lenient<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<Option<T>, D::Error> {
    struct V<T>(core::marker::PhantomData<T>);
    impl<'de, T: Lenient> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("any value")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(T::from_bool(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(T::from_i64(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(T::from_u64(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(T::from_f64(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(T::from_str(v))
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V(core::marker::PhantomData))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn header_wins_over_body() {
        let body = ErrorBody {
            retry_after_ms: Some(500),
            ..ErrorBody::default()
        };
        let e = MatrixError::from_body(429, Some(body), Some("2"));
        assert_eq!(
            e.kind(),
            ErrorKind::LimitExceeded {
                retry_after_ms: Some(2000)
            }
        );
    }

    #[cfg(feature = "json")]
    #[test]
    fn wrong_types_are_none() {
        let e = MatrixError::from_json(
            401,
            r#"{"errcode":"M_UNKNOWN_TOKEN","error":5,"soft_logout":"yes","retry_after_ms":-3}"#,
            None,
        );
        assert_eq!(e.kind(), ErrorKind::UnknownToken { soft_logout: false });
        assert_eq!(e.message, None);
    }

    #[test]
    fn client_codes() {
        let table = [
            (401, Some("M_UNKNOWN_TOKEN"), "unauthorized"),
            (401, Some("M_MISSING_TOKEN"), "unauthorized"),
            (404, Some("M_NOT_FOUND"), "not_found"),
            (404, None, "not_found"),
            (404, Some("M_UNRECOGNIZED"), "unsupported"),
            (405, None, "unsupported"),
            (413, Some("M_TOO_LARGE"), "too_large"),
            (429, None, "rate_limited"),
            (504, Some("M_NOT_YET_UPLOADED"), "not_yet_uploaded"),
            (403, None, "forbidden"),
            (400, Some("M_UNAUTHORIZED"), "forbidden"),
            (500, None, "server_error"),
            (502, Some("M_UNKNOWN"), "server_error"),
        ];
        for (status, errcode, want) in table {
            let body = ErrorBody {
                errcode: errcode.map(str::to_owned),
                ..ErrorBody::default()
            };
            let e = MatrixError::from_body(status, Some(body), None);
            assert_eq!(
                e.kind().client_code().as_str(),
                want,
                "{status} {errcode:?}"
            );
        }
    }
}
