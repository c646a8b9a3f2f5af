//! Request classification: is this fetch a media read of a registered homeserver?
//!
//! Recognises `GET {base}/_matrix/client/v1/media/{download,thumbnail}/…`
//! (<https://spec.matrix.org/v1.11/client-server-api/#get_matrixclientv1mediathumbnailservernamemediaid>),
//! the MSC3916 unstable prefix, and legacy `/_matrix/media/{v3,r0}/{download,thumbnail}/…`
//! (<https://spec.matrix.org/v1.11/client-server-api/#get_matrixmediav3downloadservernamemediaid>).
//! Everything else — other origins, other path prefixes, config, upload, create,
//! preview_url, dot segments in any spelling, invalid mxc parts, malformed thumbnail
//! parameters — is [`Classification::Other`] and must be left to the network untouched.
//!
//! The input is `Request.url`: an absolute URL the browser has already normalised. This is
//! the worker's hot path: homeservers are matched by string prefix with no allocation, and
//! only a match is parsed further.

use crate::endpoint::{media_url, Api, MediaRequest, Method, Thumbnail, MEDIA_HISTORY};
use crate::homeserver::{is_dot_segment, Homeserver};
use crate::mxc::{MediaId, MxcUri, ServerName};

/// Which family of media endpoint a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// `/_matrix/client/v1/media/…`: needs a token.
    Authenticated,
    /// `/_matrix/client/unstable/org.matrix.msc3916/media/…`: needs a token.
    Unstable,
    /// `/_matrix/media/{v3,r0}/…`: unauthenticated; [`MediaMatch::upgraded`] is its v1 URL.
    Legacy,
}

impl Route {
    /// `"authenticated"`, `"unstable"` or `"legacy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authenticated => "authenticated",
            Self::Unstable => "unstable",
            Self::Legacy => "legacy",
        }
    }

    /// The API flavour whose URLs this route matches.
    pub fn api(self) -> Api {
        match self {
            Self::Authenticated => Api::V1,
            Self::Unstable => Api::Unstable,
            Self::Legacy => Api::Legacy,
        }
    }
}

/// A recognised media request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaMatch {
    /// The endpoint family.
    pub route: Route,
    /// Index of the matching homeserver in the slice given to [`classify`].
    pub homeserver: usize,
    /// The media asked for.
    pub mxc: MxcUri,
    /// Download (with its file name) or thumbnail (with its parameters).
    pub request: MediaRequest,
    /// The `timeout_ms` query parameter.
    pub timeout_ms: Option<u64>,
    /// For [`Route::Legacy`] only: the same request on the v1 endpoint
    /// (without `allow_remote` / `allow_redirect`).
    pub upgraded: Option<String>,
    /// For [`Route::Legacy`] only: the older alias prefix the URL used (`/_matrix/media/r0/`),
    /// kept when the request goes out on the legacy API (a server from before v3 may know only
    /// that one).
    pub legacy_alias: Option<&'static str>,
}

/// The verdict on one request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Not media of a registered homeserver: let the network handle it.
    Other,
    /// A media read to authenticate (and, for legacy, to upgrade).
    Media(MediaMatch),
}

impl Classification {
    /// The match, if any.
    pub fn media(&self) -> Option<&MediaMatch> {
        match self {
            Self::Media(m) => Some(m),
            Self::Other => None,
        }
    }
}

/// Classifies a browser-normalised absolute URL against registered homeservers.
///
/// The first homeserver whose base is followed by `/_matrix/` wins.
pub fn classify(url: &str, homeservers: &[Homeserver]) -> Classification {
    // The fragment never reaches the server.
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    for (index, hs) in homeservers.iter().enumerate() {
        let Some(rest) = url.strip_prefix(hs.base()) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("/_matrix/") else {
            continue;
        };
        return match classify_matrix_path(rest, hs, index) {
            Some(m) => Classification::Media(m),
            None => Classification::Other,
        };
    }
    Classification::Other
}

/// The route of a path below `/_matrix/`, the rest of it, and the legacy alias prefix it used
/// (`/_matrix/media/r0/`), if any.
fn route_of(path: &str) -> Option<(Route, &str, Option<&'static str>)> {
    // `path` follows "/_matrix/"; the history prefixes start with "/_matrix/".
    let strip = |prefix: &'static str| {
        let tail = prefix.strip_prefix("/_matrix/")?;
        path.strip_prefix(tail)
    };
    if let Some(r) = strip(MEDIA_HISTORY.stable) {
        return Some((Route::Authenticated, r, None));
    }
    if let Some(r) = strip(MEDIA_HISTORY.unstable) {
        return Some((Route::Unstable, r, None));
    }
    if let Some(r) = strip(MEDIA_HISTORY.legacy) {
        return Some((Route::Legacy, r, None));
    }
    MEDIA_HISTORY
        .legacy_aliases
        .iter()
        .find_map(|p| strip(p).map(|r| (Route::Legacy, r, Some(*p))))
}

fn classify_matrix_path(rest: &str, hs: &Homeserver, index: usize) -> Option<MediaMatch> {
    let (route, rest, legacy_alias) = route_of(rest)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut segs = path.split('/');
    let kind = segs.next()?;
    let server = segs.next()?;
    let id = segs.next()?;
    let filename = segs.next();
    if segs.next().is_some() {
        return None;
    }
    if [server, id].into_iter().chain(filename).any(is_dot_segment) {
        return None;
    }
    let server = ServerName::parse(&decode_utf8(server)?).ok()?;
    let media_id = MediaId::parse(&decode_utf8(id)?).ok()?;
    let mxc = MxcUri::from_parts(server, media_id);
    let params = QueryParams::parse(query)?;
    let request = match kind {
        "download" => {
            let filename = match filename {
                None => None,
                Some(f) => {
                    let f = decode_utf8(f)?;
                    if crate::endpoint::is_unrepresentable_segment(&f) {
                        return None;
                    }
                    Some(f)
                }
            };
            MediaRequest::Download { filename }
        }
        "thumbnail" => {
            if filename.is_some() {
                return None;
            }
            MediaRequest::Thumbnail(Thumbnail {
                width: params.width?,
                height: params.height?,
                method: params.method,
                animated: params.animated,
            })
        }
        _ => return None,
    };
    let upgraded =
        (route == Route::Legacy).then(|| media_url(hs, Api::V1, &mxc, &request, params.timeout_ms));
    Some(MediaMatch {
        route,
        homeserver: index,
        mxc,
        request,
        timeout_ms: params.timeout_ms,
        upgraded,
        legacy_alias,
    })
}

/// The query parameters the media endpoints define; the first occurrence of each wins
/// (as Synapse reads them). A malformed value makes the whole request unrecognised.
#[derive(Default)]
struct QueryParams {
    width: Option<u32>,
    height: Option<u32>,
    method: Option<Method>,
    animated: Option<bool>,
    timeout_ms: Option<u64>,
}

impl QueryParams {
    fn parse(query: &str) -> Option<Self> {
        let mut p = Self::default();
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode_utf8(k)?;
            match k.as_str() {
                "width" if p.width.is_none() => p.width = Some(parse_uint(&decode_utf8(v)?)?),
                "height" if p.height.is_none() => p.height = Some(parse_uint(&decode_utf8(v)?)?),
                "timeout_ms" if p.timeout_ms.is_none() => {
                    p.timeout_ms = Some(parse_uint(&decode_utf8(v)?)?);
                }
                "method" if p.method.is_none() => p.method = Some(decode_utf8(v)?.parse().ok()?),
                "animated" if p.animated.is_none() => {
                    p.animated = Some(match decode_utf8(v)?.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return None,
                    });
                }
                _ => {}
            }
        }
        Some(p)
    }
}

fn parse_uint<T: core::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Percent-decodes a path segment or query token (`+` stays `+`); `None` on a broken
/// escape or bytes that are not UTF-8.
fn decode_utf8(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
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

    #[test]
    fn legacy_upgrade_drops_allow_params() {
        let hs = [Homeserver::parse("https://ex.org").unwrap()];
        let c = classify(
            "https://ex.org/_matrix/media/r0/thumbnail/ex.org/abc?allow_remote=false&width=32&height=32&method=crop&allow_redirect=true&timeout_ms=9",
            &hs,
        );
        let m = c.media().unwrap();
        assert_eq!(m.route, Route::Legacy);
        assert_eq!(
            m.upgraded.as_deref(),
            Some("https://ex.org/_matrix/client/v1/media/thumbnail/ex.org/abc?width=32&height=32&method=crop&timeout_ms=9")
        );
    }

    #[test]
    fn lookalike_origins_are_other() {
        let hs = [Homeserver::parse("https://ex.org").unwrap()];
        for u in [
            "https://ex.org.evil.com/_matrix/client/v1/media/download/ex.org/abc",
            "https://ex.org:8448/_matrix/client/v1/media/download/ex.org/abc",
            "http://ex.org/_matrix/client/v1/media/download/ex.org/abc",
        ] {
            assert_eq!(classify(u, &hs), Classification::Other, "{u}");
        }
    }
}
