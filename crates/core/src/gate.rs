//! The gate every token-bearing request passes: what may leave with `Authorization: Bearer`.
//!
//! Three questions, answered here once for the worker and the page fallback:
//!
//! 1. **Is the browser's request one we may answer at all?** ([`admit_request`]) Only
//!    subresource loads of media (`<img>`, `<video>`, `<audio>`, `<track>`) and `fetch()`.
//!    A navigation (`location.href = …`, an opener setting `w.location`, an iframe, an
//!    `<object>`) is never answered with the token: a top-level navigation carries the page's
//!    client id, so answering it would let any page holding a window reference to the app make
//!    the user's browser fetch media of its choosing with the user's token — the abuse
//!    authenticated media exists to stop — and would render the media as a document of the
//!    app's origin.
//! 2. **Which URL goes out?** Never the page's string: a [`CanonicalUrl`], which only this module
//!    builds, from validated parts ([`MxcUri`], [`MediaRequest`], the session's [`Homeserver`]):
//!    every segment escaped the core's way, only the parameters the endpoint defines. A file
//!    name that decodes to `/`, `\` or a control character never reaches a URL (see
//!    [`crate::endpoint::media_url`]), so no reverse proxy that decodes `%2F` can route the
//!    request elsewhere; `access_token` and other unknown parameters are dropped.
//! 3. **Is the session still the one the request was made for, and is the target its
//!    homeserver?** ([`authorize`]) The adapter says whether the session is alive; the URL must
//!    have been built for the session's homeserver. The result, a [`Pass`], is the only value the
//!    adapters accept where they put a token on a request.

use crate::classify::MediaMatch;
use crate::endpoint::{media_url, Api, MediaRequest};
use crate::homeserver::Homeserver;
use crate::mxc::MxcUri;

/// Why a request may not carry the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// `Request.mode` is `navigate`: a document load, never answered with the token.
    #[error("navigations are never answered with the access token")]
    Navigation,
    /// `Request.destination` is not a media subresource or `fetch()` (a document, an iframe,
    /// an object, a script, a worker…).
    #[error("only media elements and fetch() get authenticated media")]
    NotMediaDestination,
    /// The session ended (logout, another account) after the request was made.
    #[error("the session ended before the request was sent")]
    SessionEnded,
    /// The URL was built for another homeserver than the session's.
    #[error("the request's homeserver is not the session's")]
    WrongHomeserver,
}

impl Refusal {
    /// A stable snake_case code (the client code the page sees).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Navigation | Self::NotMediaDestination => "not_media_request",
            Self::SessionEnded => "cancelled",
            Self::WrongHomeserver => "invalid_argument",
        }
    }
}

/// `Request.destination` values the worker answers: `fetch()` (empty) and media elements.
pub const MEDIA_DESTINATIONS: [&str; 5] = ["", "image", "audio", "video", "track"];

/// Whether a browser request with this `Request.mode` and `Request.destination` may be answered
/// with authenticated media. Navigations and non-media destinations are refused: the entry
/// script then leaves them to the network untouched (no token).
pub fn admit_request(mode: &str, destination: &str) -> Result<(), Refusal> {
    if mode == "navigate" {
        return Err(Refusal::Navigation);
    }
    if !MEDIA_DESTINATIONS.contains(&destination) {
        return Err(Refusal::NotMediaDestination);
    }
    Ok(())
}

/// A URL the core built from validated parts for one homeserver: the only kind of URL a token
/// goes to. It cannot be made from a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalUrl {
    url: String,
    /// `Homeserver::base()` of the homeserver it was built for.
    base_len: usize,
    /// Whether the endpoint is an authenticated one (see [`Pass::bearer`]).
    bearer: bool,
}

impl CanonicalUrl {
    /// The media endpoint URL of `api` for `mxc` on `hs` ([`media_url`]).
    pub fn media(
        hs: &Homeserver,
        api: Api,
        mxc: &MxcUri,
        request: &MediaRequest,
        timeout_ms: Option<u64>,
    ) -> Self {
        Self {
            url: media_url(hs, api, mxc, request, timeout_ms),
            base_len: hs.base().len(),
            bearer: api != Api::Legacy,
        }
    }

    /// The canonical form of a classified request on `hs` in flavour `api`: the page's own
    /// spelling (unknown parameters, its escaping) is dropped.
    pub fn of_match(hs: &Homeserver, api: Api, m: &MediaMatch) -> Self {
        let mut url = Self::media(hs, api, &m.mxc, &m.request, m.timeout_ms);
        // A legacy request sent on the legacy API keeps the alias it used (`r0`): the same
        // endpoint, spelled as a server from before v3 knows it.
        if let (Api::Legacy, Some(alias)) = (api, m.legacy_alias) {
            let base = hs.base().len();
            let prefix = Api::Legacy.media_prefix();
            if url
                .url
                .get(base..)
                .is_some_and(|rest| rest.starts_with(prefix))
            {
                url.url.replace_range(base..base + prefix.len(), alias);
            }
        }
        url
    }

    /// `{base}/_matrix/client/versions`.
    pub fn versions(hs: &Homeserver) -> Self {
        // Written out, not `format!`: the worker's wasm links no formatter for it.
        let mut url = String::from(hs.base());
        url.push_str("/_matrix/client/versions");
        Self {
            url,
            base_len: hs.base().len(),
            // `/versions` may be authenticated: a server may list features per user.
            bearer: true,
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The homeserver base it was built for.
    fn base(&self) -> &str {
        self.url.get(..self.base_len).unwrap_or("")
    }
}

impl core::fmt::Display for CanonicalUrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.url)
    }
}

/// Proof that a request to [`Pass::url`] may carry the session's token now. Made only by
/// [`authorize`]; the adapters' one function that puts a token on a request takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    url: CanonicalUrl,
}

impl Pass {
    /// The URL to send.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Whether the request carries the token. Only the authenticated endpoints (`v1`, the
    /// unstable MSC3916 ones) and `/versions` get it; the legacy media endpoints are
    /// unauthenticated by definition, so a request there (a server without authenticated media,
    /// or the one fall-back after `M_UNRECOGNIZED`) goes without it: nothing gains the token that
    /// does not need it.
    pub fn bearer(&self) -> bool {
        self.url.bearer
    }
}

/// The last check before a token goes out: the session that made the request is still alive
/// (`session_alive`, the adapter's knowledge: not logged out, not replaced by another account)
/// and `url` was built for the session's homeserver `hs`.
pub fn authorize(
    hs: &Homeserver,
    session_alive: bool,
    url: &CanonicalUrl,
) -> Result<Pass, Refusal> {
    if !session_alive {
        return Err(Refusal::SessionEnded);
    }
    let path = url.as_str().get(url.base_len..).unwrap_or("");
    if url.base() != hs.base() || !path.starts_with("/_matrix/") {
        return Err(Refusal::WrongHomeserver);
    }
    Ok(Pass { url: url.clone() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::classify::{classify, Classification};

    fn hs(base: &str) -> Homeserver {
        Homeserver::parse(base).unwrap()
    }

    #[test]
    fn requests_admitted_and_refused() {
        let table: &[(&str, &str, Option<Refusal>)] = &[
            ("cors", "", None),
            ("no-cors", "image", None),
            ("cors", "image", None),
            ("no-cors", "video", None),
            ("cors", "audio", None),
            ("no-cors", "track", None),
            ("same-origin", "", None),
            ("navigate", "document", Some(Refusal::Navigation)),
            ("navigate", "iframe", Some(Refusal::Navigation)),
            ("navigate", "", Some(Refusal::Navigation)),
            ("navigate", "image", Some(Refusal::Navigation)),
            ("no-cors", "object", Some(Refusal::NotMediaDestination)),
            ("no-cors", "embed", Some(Refusal::NotMediaDestination)),
            ("no-cors", "script", Some(Refusal::NotMediaDestination)),
            ("cors", "style", Some(Refusal::NotMediaDestination)),
            ("same-origin", "worker", Some(Refusal::NotMediaDestination)),
            (
                "same-origin",
                "sharedworker",
                Some(Refusal::NotMediaDestination),
            ),
            ("cors", "font", Some(Refusal::NotMediaDestination)),
            ("cors", "manifest", Some(Refusal::NotMediaDestination)),
            ("no-cors", "frame", Some(Refusal::NotMediaDestination)),
            ("no-cors", "report", Some(Refusal::NotMediaDestination)),
            ("cors", "IMAGE", Some(Refusal::NotMediaDestination)),
        ];
        for (mode, destination, want) in table {
            assert_eq!(
                admit_request(mode, destination).err(),
                *want,
                "{mode} {destination}"
            );
        }
    }

    #[test]
    fn the_page_spelling_never_goes_out() {
        let h = hs("https://hs.example");
        let cases = [
            (
                "https://hs.example/_matrix/client/v1/media/download/hs.example/abc?access_token=zzz&user_id=%40x%3Ahs&timeout_ms=5",
                "https://hs.example/_matrix/client/v1/media/download/hs.example/abc?timeout_ms=5",
            ),
            (
                "https://hs.example/_matrix/client/v1/media/thumbnail/hs.example/abc?method=crop&height=32&width=32&allow_remote=true&animated=false",
                "https://hs.example/_matrix/client/v1/media/thumbnail/hs.example/abc?width=32&height=32&method=crop&animated=false",
            ),
            (
                "https://hs.example/_matrix/client/unstable/org.matrix.msc3916/media/download/hs.example/abc/caf%c3%a9.png",
                "https://hs.example/_matrix/client/unstable/org.matrix.msc3916/media/download/hs.example/abc/caf%C3%A9.png",
            ),
        ];
        for (page, want) in cases {
            let Classification::Media(m) = classify(page, std::slice::from_ref(&h)) else {
                panic!("{page} not media");
            };
            let url = CanonicalUrl::of_match(&h, m.route.api(), &m);
            assert_eq!(url.as_str(), want);
            assert_eq!(authorize(&h, true, &url).unwrap().url(), want);
        }
    }

    #[test]
    fn file_names_that_decode_to_separators_are_not_media() {
        let h = hs("https://hs.example");
        for name in [
            "..%2F..%2F..%2F..%2F..%2Fv3%2Faccount%2Fwhoami",
            "a%2Fb",
            "a%5Cb",
            "a%00b",
            "a%0Ab",
            "a%7Fb",
        ] {
            let url = format!(
                "https://hs.example/_matrix/client/v1/media/download/hs.example/abc/{name}"
            );
            assert_eq!(
                classify(&url, std::slice::from_ref(&h)),
                Classification::Other,
                "{url}"
            );
        }
    }

    #[test]
    fn a_pass_needs_a_live_session_of_the_same_homeserver() {
        let mine = hs("https://hs.example");
        let other = hs("https://hs.example.evil");
        let prefixed = hs("https://hs.example/matrix");
        let mxc = MxcUri::parse("mxc://hs.example/abc").unwrap();
        let req = MediaRequest::Download { filename: None };
        let url = CanonicalUrl::media(&mine, Api::V1, &mxc, &req, None);
        assert_eq!(authorize(&mine, false, &url), Err(Refusal::SessionEnded));
        assert_eq!(authorize(&other, true, &url), Err(Refusal::WrongHomeserver));
        assert_eq!(
            authorize(&prefixed, true, &url),
            Err(Refusal::WrongHomeserver)
        );
        let versions = CanonicalUrl::versions(&prefixed);
        assert_eq!(
            authorize(&prefixed, true, &versions).unwrap().url(),
            "https://hs.example/matrix/_matrix/client/versions"
        );
        assert_eq!(
            authorize(&mine, true, &versions),
            Err(Refusal::WrongHomeserver)
        );
    }

    #[test]
    fn only_authenticated_endpoints_get_the_token() {
        let h = hs("https://hs.example");
        let mxc = MxcUri::parse("mxc://hs.example/abc").unwrap();
        let req = MediaRequest::Download { filename: None };
        for (api, bearer) in [(Api::V1, true), (Api::Unstable, true), (Api::Legacy, false)] {
            let url = CanonicalUrl::media(&h, api, &mxc, &req, None);
            assert_eq!(
                authorize(&h, true, &url).unwrap().bearer(),
                bearer,
                "{api:?}"
            );
        }
        // A page's legacy URL (any alias) sent on the legacy API: no token either.
        let page = "https://hs.example/_matrix/media/r0/download/hs.example/abc";
        let Classification::Media(m) = classify(page, std::slice::from_ref(&h)) else {
            panic!("{page} not media");
        };
        let legacy = CanonicalUrl::of_match(&h, Api::Legacy, &m);
        assert!(!authorize(&h, true, &legacy).unwrap().bearer());
        let upgraded = CanonicalUrl::of_match(&h, Api::V1, &m);
        assert!(authorize(&h, true, &upgraded).unwrap().bearer());
        let versions = CanonicalUrl::versions(&h);
        assert!(authorize(&h, true, &versions).unwrap().bearer());
    }
}
