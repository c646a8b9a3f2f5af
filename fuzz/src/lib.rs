//! Shared oracles for the fuzz targets: the homeservers every URL is classified against and
//! the invariants a recognised media request must satisfy. Fuzz code may panic: a panic here
//! is a finding (libFuzzer saves the input as a crash artifact).

use authmedia_core::{
    classify, media_url, Api, Classification, Homeserver, MediaMatch, MediaRequest, MxcUri, Route,
};

/// Homeserver bases the targets use: plain origin, path prefixes (one nested, one with a
/// percent-escape), explicit port, IPv6 and IPv4 literals. All already in WHATWG form.
pub const HOMESERVERS: &[&str] = &[
    "https://example.org",
    "https://example.org/matrix",
    "http://localhost:8008",
    "https://matrix.example.com:8448/a/b",
    "http://[::1]:8008",
    "http://127.0.0.1:6167",
    "https://hs.example.net/p%20x/_matrix",
];

/// Parsed [`HOMESERVERS`].
pub fn homeservers() -> Vec<Homeserver> {
    HOMESERVERS
        .iter()
        .map(|b| Homeserver::parse(b).unwrap_or_else(|e| panic!("fixture {b}: {e}")))
        .collect()
}

/// `"download/"` or `"thumbnail/"`.
pub fn kind_segment(req: &MediaRequest) -> &'static str {
    match req {
        MediaRequest::Download { .. } => "download/",
        MediaRequest::Thumbnail(_) => "thumbnail/",
    }
}

/// Every path prefix (below the base) a route may match.
fn route_prefixes(route: Route) -> &'static [&'static str] {
    match route {
        Route::Authenticated => &["/_matrix/client/v1/media/"],
        Route::Unstable => &["/_matrix/client/unstable/org.matrix.msc3916/media/"],
        Route::Legacy => &["/_matrix/media/v3/", "/_matrix/media/r0/"],
    }
}

/// The route whose URLs `media_url(.., api, ..)` builds.
pub fn route_of(api: Api) -> Route {
    match api {
        Api::V1 => Route::Authenticated,
        Api::Unstable => Route::Unstable,
        Api::Legacy => Route::Legacy,
    }
}

/// Whether `media_url` leaves a file name out: one a URL cannot carry as a segment (`""`, `"."`,
/// `".."`) or must not (holding `/`, `\\` or a control character: a decoding proxy would see
/// separators).
pub fn file_name_left_out(f: &str) -> bool {
    matches!(f, "" | "." | "..") || f.chars().any(|c| matches!(c, '/' | '\\') || c.is_control())
}

/// A URL built by `media_url(hs, api, mxc, req, _)` stays inside that media endpoint:
/// `{base}{api prefix}{download|thumbnail}/{server}/{id}[/{file}][?query]`, no fragment, no
/// dot segment, and already in the form a browser would normalise it to (so no dot-segment
/// resolution or re-escaping can move it elsewhere).
pub fn check_built(built: &str, hs: &Homeserver, api: Api, mxc: &MxcUri, req: &MediaRequest) {
    let head = format!("{}{}{}", hs.base(), api.media_prefix(), kind_segment(req));
    let Some(tail) = built.strip_prefix(&head) else {
        panic!("{built} is outside {head}");
    };
    assert!(!built.contains('#'), "fragment in {built}");
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let segs: Vec<&str> = path.split('/').collect();
    let want_segs = match req {
        MediaRequest::Download { filename: Some(f) } if !file_name_left_out(f) => 3,
        _ => 2,
    };
    assert_eq!(segs.len(), want_segs, "segments of {built}");
    for s in &segs {
        assert!(
            !s.is_empty() && *s != "." && *s != "..",
            "dot/empty segment in {built}"
        );
        assert!(
            !s.contains(['?', '#', '\\']),
            "unescaped delimiter in {built}"
        );
    }
    assert_eq!(segs[1], mxc.media_id().as_str(), "{built}");
    if matches!(req, MediaRequest::Download { .. }) {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            assert!(pair.starts_with("timeout_ms="), "download query {built}");
        }
    }
    let parsed = url::Url::parse(built).unwrap_or_else(|e| panic!("{built}: {e}"));
    assert_eq!(parsed.as_str(), built, "not in WHATWG-normalised form");
    assert!(
        parsed
            .path()
            .starts_with(&format!("{}{}", hs.prefix(), api.media_prefix())),
        "browser path {} of {built}",
        parsed.path()
    );
}

/// What must hold for any URL the classifier recognised as `m`.
pub fn check_match(url: &str, hss: &[Homeserver], m: &MediaMatch) {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let hs = hss.get(m.homeserver).expect("homeserver index in range");
    let kind = kind_segment(&m.request);
    assert!(
        route_prefixes(m.route)
            .iter()
            .any(|p| url.starts_with(&format!("{}{p}{kind}", hs.base()))),
        "{url} classified as {:?} {kind} of {}",
        m.route,
        hs.base()
    );
    assert_eq!(MxcUri::parse(&m.mxc.to_string()).as_ref(), Ok(&m.mxc));

    // The rebuilt URL stays in the endpoint and classifies back to the same media.
    let api = m.route.api();
    let rebuilt = media_url(hs, api, &m.mxc, &m.request, m.timeout_ms);
    check_built(&rebuilt, hs, api, &m.mxc, &m.request);
    let again = expect_media(&rebuilt, hss);
    assert_eq!(
        (
            again.route,
            again.homeserver,
            &again.mxc,
            &again.request,
            again.timeout_ms
        ),
        (m.route, m.homeserver, &m.mxc, &m.request, m.timeout_ms),
        "{rebuilt} (rebuilt from {url})"
    );

    check_upgrade(url, hss, m);
}

/// Legacy, and only legacy, is upgraded to the v1 endpoint of the same media.
pub fn check_upgrade(url: &str, hss: &[Homeserver], m: &MediaMatch) {
    let hs = hss.get(m.homeserver).expect("homeserver index in range");
    let kind = kind_segment(&m.request);
    assert_eq!(m.upgraded.is_some(), m.route == Route::Legacy, "{url}");
    if let Some(up) = &m.upgraded {
        assert!(
            up.starts_with(&format!("{}/_matrix/client/v1/media/{kind}", hs.base())),
            "upgrade {up} of {url}"
        );
        assert_eq!(
            up,
            &media_url(hs, Api::V1, &m.mxc, &m.request, m.timeout_ms),
            "upgrade of {url}"
        );
        check_built(up, hs, Api::V1, &m.mxc, &m.request);
        let u = expect_media(up, hss);
        assert_eq!(
            (u.route, &u.mxc, &u.request, u.timeout_ms),
            (Route::Authenticated, &m.mxc, &m.request, m.timeout_ms),
            "upgrade {up} of {url}"
        );
    }
}

/// Classifies a URL that must be media.
pub fn expect_media(url: &str, hss: &[Homeserver]) -> MediaMatch {
    match classify(url, hss) {
        Classification::Media(m) => m,
        Classification::Other => panic!("{url} is not recognised as media"),
    }
}

/// Whether a JSON text is an object in which one of `fields` appears more than once. serde's
/// derived structs refuse such a body ("duplicate field") while `serde_json::Value` keeps the
/// last value, so oracles built on `Value` must set these bodies aside. (Repeated unknown keys
/// are ignored by both.)
pub fn has_duplicate_field(body: &str, fields: &'static [&'static str]) -> bool {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys(&'static [&'static str]);
    impl<'de> Visitor<'de> for Keys {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut dup = false;
            while let Some(k) = map.next_key::<String>()? {
                if self.0.contains(&k.as_str()) {
                    dup |= !seen.insert(k);
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(dup)
        }
    }
    let mut de = serde_json::Deserializer::from_str(body);
    de.deserialize_map(Keys(fields)).unwrap_or(false)
}
