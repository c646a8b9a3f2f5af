//! `GET /_matrix/client/v1/media/{download,thumbnail}/{serverName}/{mediaId}[/{fileName}]`
//! — <https://spec.matrix.org/v1.11/client-server-api/#get_matrixclientv1mediadownloadservernamemediaid>
//!
//! The two media endpoints a client reads, their history as plain data, and URL
//! building with per-segment percent-encoding. Only these two endpoints can ever be
//! produced: every variable part is a validated [`MxcUri`] part or an escaped file name.
//!
//! History (spec v1.11, MSC3916; legacy: `/_matrix/media/v3`, deprecated in v1.11,
//! <https://spec.matrix.org/v1.11/client-server-api/#get_matrixmediav3downloadservernamemediaid>):
//!
//! | flavour | prefix | since |
//! |---|---|---|
//! | [`Api::Unstable`] | `/_matrix/client/unstable/org.matrix.msc3916/media/` | MSC3916 |
//! | [`Api::V1`] | `/_matrix/client/v1/media/` | v1.11 |
//! | [`Api::Legacy`] | `/_matrix/media/v3/` (also `r0`, read only) | r0, deprecated v1.11 |

use core::fmt;
use core::str::FromStr;

use crate::decimal::push_decimal;
use crate::homeserver::Homeserver;
use crate::mxc::MxcUri;

/// One API flavour of the media endpoints.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Authenticated media, `/_matrix/client/v1/media` (spec v1.11+).
    V1,
    /// Authenticated media under MSC3916's unstable prefix.
    Unstable,
    /// Unauthenticated `/_matrix/media/v3` (deprecated, frozen on most servers).
    Legacy,
}

/// An endpoint's path history as data: the prefix each flavour uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointHistory {
    /// MSC3916 unstable prefix.
    pub unstable: &'static str,
    /// Stable authenticated prefix.
    pub stable: &'static str,
    /// Spec version the stable prefix appeared in.
    pub stable_since: &'static str,
    /// The legacy prefix this crate builds.
    pub legacy: &'static str,
    /// Older legacy prefixes that are still recognised (never built).
    pub legacy_aliases: &'static [&'static str],
}

/// The media endpoints' history (download and thumbnail share their prefixes).
pub const MEDIA_HISTORY: EndpointHistory = EndpointHistory {
    unstable: "/_matrix/client/unstable/org.matrix.msc3916/media/",
    stable: "/_matrix/client/v1/media/",
    stable_since: "v1.11",
    legacy: "/_matrix/media/v3/",
    legacy_aliases: &["/_matrix/media/r0/"],
};

impl Api {
    /// `"v1"`, `"unstable"` or `"legacy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::Unstable => "unstable",
            Self::Legacy => "legacy",
        }
    }

    /// The path prefix (ending in `/`) of this flavour's media endpoints.
    pub fn media_prefix(self) -> &'static str {
        match self {
            Self::V1 => MEDIA_HISTORY.stable,
            Self::Unstable => MEDIA_HISTORY.unstable,
            Self::Legacy => MEDIA_HISTORY.legacy,
        }
    }

    /// Whether requests of this flavour carry an access token.
    pub fn is_authenticated(self) -> bool {
        !matches!(self, Self::Legacy)
    }
}

/// An unknown API or method name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseNameError {
    /// Not `v1`, `unstable` or `legacy`.
    #[error("unknown API flavour (expected v1, unstable or legacy)")]
    UnknownApi,
    /// Not `crop` or `scale`.
    #[error("unknown thumbnail method (expected crop or scale)")]
    UnknownMethod,
}

impl ParseNameError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownApi => "unknown_api",
            Self::UnknownMethod => "unknown_method",
        }
    }
}

impl FromStr for Api {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Self::V1),
            "unstable" => Ok(Self::Unstable),
            "legacy" => Ok(Self::Legacy),
            _ => Err(ParseNameError::UnknownApi),
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thumbnail resizing method.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Fill the requested aspect ratio, cropping.
    Crop,
    /// Keep the aspect ratio, fit inside the requested box.
    Scale,
}

impl Method {
    /// `"crop"` or `"scale"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crop => "crop",
            Self::Scale => "scale",
        }
    }
}

impl FromStr for Method {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "crop" => Ok(Self::Crop),
            "scale" => Ok(Self::Scale),
            _ => Err(ParseNameError::UnknownMethod),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thumbnail query parameters (`width`/`height` are the minimum wanted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Thumbnail {
    /// Minimum width in pixels.
    pub width: u32,
    /// Minimum height in pixels.
    pub height: u32,
    /// `crop` or `scale`; the server's default (scale) when `None`.
    pub method: Option<Method>,
    /// `true` should animate, `false` must not, `None` should not.
    pub animated: Option<bool>,
}

/// What to ask of a media endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum MediaRequest {
    /// The original content, optionally under a file name.
    Download {
        /// Appended as the last path segment (fully escaped). `""`, `"."` and `".."`
        /// cannot survive URL normalisation, and a name holding `/`, `\\` or a control
        /// character could become a separator behind a decoding proxy: those are left out.
        filename: Option<String>,
    },
    /// A server-generated thumbnail.
    Thumbnail(Thumbnail),
}

/// Builds the URL of a download or thumbnail request in the given flavour.
///
/// `{base}{prefix}{download|thumbnail}/{server}/{id}[/{filename}][?query]`, where the
/// server name keeps `:` but escapes IPv6 brackets, and the file name is escaped
/// down to RFC 3986 unreserved characters. Query order: `width`, `height`, `method`,
/// `animated`, `timeout_ms`.
pub fn media_url(
    hs: &Homeserver,
    api: Api,
    mxc: &MxcUri,
    req: &MediaRequest,
    timeout_ms: Option<u64>,
) -> String {
    let mut url = String::with_capacity(hs.base().len() + 96);
    url.push_str(hs.base());
    url.push_str(api.media_prefix());
    url.push_str(match req {
        MediaRequest::Download { .. } => "download/",
        MediaRequest::Thumbnail(_) => "thumbnail/",
    });
    push_escaped(&mut url, mxc.server_name().as_str(), b":");
    url.push('/');
    // A media id is `[A-Za-z0-9_-]+`: nothing to escape.
    url.push_str(mxc.media_id().as_str());
    let mut query = QueryWriter::new(&mut url);
    match req {
        MediaRequest::Download { filename } => {
            if let Some(name) = filename
                .as_deref()
                .filter(|n| !is_unrepresentable_segment(n))
            {
                query.url.push('/');
                push_escaped(query.url, name, b"");
            }
        }
        MediaRequest::Thumbnail(t) => {
            query.number("width", t.width.into());
            query.number("height", t.height.into());
            if let Some(m) = t.method {
                query.pair("method", m.as_str());
            }
            if let Some(a) = t.animated {
                query.pair("animated", if a { "true" } else { "false" });
            }
        }
    }
    if let Some(ms) = timeout_ms {
        query.number("timeout_ms", ms);
    }
    url
}

/// A file name that never goes into a URL: one a URL parser would drop or resolve away (empty,
/// `.`, `..`), and one holding `/`, `\\` or a control character — escaped, it would still become
/// a path separator (or a truncation) behind any reverse proxy that decodes `%2F` before
/// routing, and would carry the token to another endpoint.
pub(crate) fn is_unrepresentable_segment(s: &str) -> bool {
    s.is_empty()
        || s == "."
        || s == ".."
        || s.chars().any(|c| matches!(c, '/' | '\\') || c.is_control())
}

struct QueryWriter<'a> {
    url: &'a mut String,
    first: bool,
}

impl<'a> QueryWriter<'a> {
    fn new(url: &'a mut String) -> Self {
        Self { url, first: true }
    }

    /// Appends `name=value`; both are ASCII tokens produced by this module.
    fn pair(&mut self, name: &str, value: &str) {
        self.url.push(if self.first { '?' } else { '&' });
        self.first = false;
        self.url.push_str(name);
        self.url.push('=');
        self.url.push_str(value);
    }

    /// Appends `name=<n in decimal>`, written in place: URL building is on the page's hot path
    /// (`httpUrl`), where a `to_string()` per number cost an allocation and the formatter.
    fn number(&mut self, name: &str, n: u64) {
        self.pair(name, "");
        push_decimal(self.url, n);
    }
}

/// Percent-encodes every byte outside RFC 3986 `unreserved` and `extra`.
pub(crate) fn push_escaped(out: &mut String, s: &str, extra: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let kept = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.contains(&b);
    // Most server names and file names need no escape: copied whole, not byte by byte.
    if s.bytes().all(kept) {
        out.push_str(s);
        return;
    }
    for &b in s.as_bytes() {
        if kept(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(
                HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
            ));
            out.push(char::from(
                HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0'),
            ));
        }
    }
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

    fn hs() -> Homeserver {
        Homeserver::parse("https://ex.org/matrix/").unwrap()
    }

    #[test]
    fn flavours() {
        let mxc = MxcUri::parse("mxc://[::1]:8448/abc").unwrap();
        let dl = MediaRequest::Download {
            filename: Some("a b?#%é".into()),
        };
        assert_eq!(
            media_url(&hs(), Api::V1, &mxc, &dl, Some(5)),
            "https://ex.org/matrix/_matrix/client/v1/media/download/%5B::1%5D:8448/abc/a%20b%3F%23%25%C3%A9?timeout_ms=5"
        );
        let th = MediaRequest::Thumbnail(Thumbnail {
            width: 96,
            height: 96,
            method: Some(Method::Crop),
            animated: Some(false),
        });
        let mxc = MxcUri::parse("mxc://ex.org/abc").unwrap();
        assert_eq!(
            media_url(&hs(), Api::Legacy, &mxc, &th, None),
            "https://ex.org/matrix/_matrix/media/v3/thumbnail/ex.org/abc?width=96&height=96&method=crop&animated=false"
        );
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        let mxc = MxcUri::parse("mxc://ex.org/abc").unwrap();
        for (w, h) in [
            (1, 9),
            (10, 99),
            (100, 4_294_967_295),
            (65_536, 1_000_000_000),
        ] {
            let th = MediaRequest::Thumbnail(Thumbnail {
                width: w,
                height: h,
                method: None,
                animated: None,
            });
            assert!(media_url(&hs(), Api::V1, &mxc, &th, None)
                .ends_with(&format!("/abc?width={w}&height={h}")));
        }
        let dl = MediaRequest::Download { filename: None };
        for ms in [0, 7, 20_000, u64::MAX] {
            assert!(media_url(&hs(), Api::V1, &mxc, &dl, Some(ms))
                .ends_with(&format!("/abc?timeout_ms={ms}")));
        }
    }

    #[test]
    fn dot_file_names_are_left_out() {
        let mxc = MxcUri::parse("mxc://ex.org/abc").unwrap();
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "..\\x",
            "a\u{0}b",
            "tab\there",
            "del\u{7f}",
        ] {
            let dl = MediaRequest::Download {
                filename: Some(name.into()),
            };
            assert!(media_url(&hs(), Api::V1, &mxc, &dl, None).ends_with("/download/ex.org/abc"));
        }
    }
}
