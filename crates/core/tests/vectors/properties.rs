//! Deterministic property tests with a small PRNG (no `rand`, so they run under wasm too).
//!
//! 1. Random and adversarial strings never panic any parser or the classifier, and what
//!    they accept obeys the invariants (round-trips, only download/thumbnail URLs).
//! 2. Every URL built from a valid mxc — three flavours, both request kinds, random file
//!    names, several homeservers — classifies back to the same media, and is already in
//!    the WHATWG-normalised form a browser would report as `Request.url`.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use authmedia_core::{
    classify, media_url, negotiate, thumbnail_size, Api, Classification, Homeserver, MatrixError,
    MediaId, MediaRequest, Method, MxcUri, Route, ServerName, Thumbnail, Versions,
};

/// SplitMix64: tiny, good enough, deterministic everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "mxc://",
    "mxc:",
    "//",
    "/",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%",
    "%%",
    "%zz",
    "%C3",
    "%A9",
    "%FF",
    "[",
    "]",
    ":",
    "::1",
    "?",
    "#",
    "&",
    "=",
    "a",
    "Z",
    "0",
    "9",
    "-",
    "_",
    "~",
    "é",
    "☕",
    "\u{0}",
    " ",
    "\t",
    "\\",
    "@",
    "example.org",
    "localhost:8008",
    "[::1]",
    ":8448",
    ":65536",
    "https://example.org",
    "https://example.org/matrix",
    "http://",
    "_matrix/",
    "client/",
    "v1/",
    "media/",
    "unstable/org.matrix.msc3916/",
    "media/v3/",
    "media/r0/",
    "download/",
    "thumbnail/",
    "config",
    "upload",
    "preview_url",
    "width=",
    "height=",
    "method=crop",
    "method=scale",
    "animated=true",
    "animated=x",
    "timeout_ms=",
    "allow_remote=false",
    "4294967296",
    "12",
    "abc",
];

fn adversarial(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(24) {
        if rng.chance(10) {
            // A random scalar value, any plane.
            let c = char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('\u{FFFD}');
            s.push(c);
        } else {
            s.push_str(rng.pick::<&str>(PIECES));
        }
    }
    s
}

fn homeservers() -> Vec<Homeserver> {
    [
        "https://example.org",
        "https://example.org/matrix/",
        "http://localhost:8008",
        "https://matrix.example.com:8448/a/b",
        "http://[::1]:8008/",
        "http://127.0.0.1:6167",
    ]
    .iter()
    .map(|b| Homeserver::parse(b).unwrap())
    .collect()
}

/// Checks what the classifier says about any URL: a match is always rebuildable, its
/// rebuilt URL classifies the same, and an upgrade is authenticated media. Returns the route
/// of a match, so callers can prove the checks below really ran.
fn check_classification(url: &str, hss: &[Homeserver]) -> Option<Route> {
    let Classification::Media(m) = classify(url, hss) else {
        return None;
    };
    let hs = &hss[m.homeserver];
    assert!(url.starts_with(hs.base()), "{url} matched {hs}");
    let rebuilt = media_url(hs, m.route.api(), &m.mxc, &m.request, m.timeout_ms);
    let again = classify(&rebuilt, hss)
        .media()
        .cloned()
        .unwrap_or_else(|| panic!("{rebuilt} from {url}"));
    assert_eq!(
        (&again.mxc, &again.request, again.timeout_ms),
        (&m.mxc, &m.request, m.timeout_ms),
        "{url}"
    );
    assert_eq!(m.upgraded.is_some(), m.route == Route::Legacy, "{url}");
    if let Some(up) = &m.upgraded {
        let u = classify(up, hss)
            .media()
            .cloned()
            .unwrap_or_else(|| panic!("upgrade {up} of {url}"));
        assert_eq!(u.route, Route::Authenticated);
        assert_eq!((&u.mxc, &u.request), (&m.mxc, &m.request));
    }
    let path = rebuilt.strip_prefix(hs.base()).unwrap();
    let path = path.split('?').next().unwrap();
    // Exactly `<prefix>download/…` or `<prefix>thumbnail/…` (the legacy prefix is
    // `/_matrix/media/v3/`, the others end in `/media/`).
    let rest = path
        .strip_prefix(m.route.api().media_prefix())
        .unwrap_or_else(|| panic!("{rebuilt} is outside {}", m.route.api().media_prefix()));
    assert!(
        rest.starts_with("download/") || rest.starts_with("thumbnail/"),
        "{rebuilt}"
    );
    assert!(!path.split('/').any(|s| s == "." || s == ".."), "{rebuilt}");
    Some(m.route)
}

#[test]
fn adversarial_strings_never_panic_and_keep_invariants() {
    let mut rng = Rng(0x5EED_0001);
    let hss = homeservers();
    // Matches per route (authenticated, unstable, legacy): each must be exercised.
    let mut matched = [0_usize; 3];
    let mut count = |r: Option<Route>| match r {
        Some(Route::Authenticated) => matched[0] += 1,
        Some(Route::Unstable) => matched[1] += 1,
        Some(Route::Legacy) => matched[2] += 1,
        _ => {}
    };
    for _ in 0..6000 {
        let s = adversarial(&mut rng);
        if let Ok(m) = MxcUri::parse(&s) {
            assert_eq!(m.to_string(), s);
            assert!(!m.server_name().as_str().chars().all(|c| c == '.'));
        }
        if let Ok(n) = ServerName::parse(&s) {
            assert_eq!(n.as_str(), s);
            assert!(n.host().len() <= n.as_str().len());
        }
        if let Ok(id) = MediaId::parse(&s) {
            assert_eq!(id.as_str(), s);
        }
        if let Ok(h) = Homeserver::parse(&s) {
            assert_eq!(Homeserver::parse(h.base()).as_ref(), Ok(&h), "{s}");
            assert!(!h.base().ends_with('/'));
        }
        // As a full URL, and glued behind every homeserver's media prefixes.
        // Mostly-valid media paths with an adversarial tail (file name, query, fragment…),
        // so that matches are common enough for the checks to run on every route.
        let near = format!(
            "{}{}/{}{}",
            rng.pick(&["download/", "thumbnail/"]),
            random_server_name(&mut rng),
            random_media_id(&mut rng),
            s
        );
        count(check_classification(&s, &hss));
        for hs in &hss {
            for api in [Api::V1, Api::Unstable, Api::Legacy] {
                for tail in [&s, &near] {
                    let url = format!("{}{}{}", hs.base(), api.media_prefix(), tail);
                    count(check_classification(&url, &hss));
                }
            }
        }
        let _ = Versions::from_json(&s).map(|v| negotiate(&v));
        let _ = MatrixError::from_json(500, &s, Some(&s)).kind();
    }
    assert!(
        matched.iter().all(|&n| n >= 1000),
        "too few media matches: {matched:?}"
    );
}

#[test]
fn huge_inputs_do_not_panic() {
    let hss = homeservers();
    let mb = "a".repeat(1 << 20);
    for s in [
        format!("mxc://{mb}/abc"),
        format!("mxc://example.org/{mb}"),
        format!("mxc://[{mb}]/abc"),
        format!("mxc://example.org:{}/abc", "9".repeat(1 << 20)),
        format!("https://example.org/_matrix/client/v1/media/download/{mb}/abc"),
        format!("https://example.org/_matrix/client/v1/media/download/example.org/{mb}"),
        format!("https://example.org/_matrix/client/v1/media/download/example.org/abc/{mb}"),
        format!("https://example.org/_matrix/client/v1/media/thumbnail/example.org/abc?width={mb}&height=1"),
        "%".repeat(1 << 20),
        "/".repeat(1 << 20),
    ] {
        let _ = MxcUri::parse(&s);
        let _ = Homeserver::parse(&s);
        check_classification(&s, &hss);
    }
    // A 1 MB file name is legal and survives the round trip.
    let mxc = MxcUri::parse("mxc://example.org/abc").unwrap();
    let req = MediaRequest::Download { filename: Some(mb) };
    let url = media_url(&hss[0], Api::V1, &mxc, &req, None);
    assert_eq!(classify(&url, &hss).media().map(|m| &m.request), Some(&req));
}

fn random_server_name(rng: &mut Rng) -> String {
    const DNS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.";
    const V6: &[u8] = b"0123456789abcdefABCDEF:.";
    let host = match rng.below(4) {
        0 => {
            let len = if rng.chance(10) {
                250 + rng.below(6)
            } else {
                1 + rng.below(30)
            };
            let mut h: String = (0..len).map(|_| char::from(*rng.pick(DNS))).collect();
            if h.bytes().all(|b| b == b'.') {
                h.push('x');
                h.remove(0);
            }
            h
        }
        1 => format!(
            "{}.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
        2 => {
            let len = 2 + rng.below(44);
            format!(
                "[{}]",
                (0..len)
                    .map(|_| char::from(*rng.pick(V6)))
                    .collect::<String>()
            )
        }
        _ => (*rng.pick(&[
            "example.org",
            "localhost",
            "matrix.org",
            "a",
            "xn--bcher-kva.de",
        ]))
        .to_owned(),
    };
    if rng.chance(40) {
        let port = rng.below(65536);
        if rng.chance(20) {
            format!("{host}:{port:05}")
        } else {
            format!("{host}:{port}")
        }
    } else {
        host
    }
}

fn random_media_id(rng: &mut Rng) -> String {
    const ID: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    let len = 1 + rng.below(48);
    (0..len).map(|_| char::from(*rng.pick(ID))).collect()
}

fn random_filename(rng: &mut Rng) -> String {
    const NAMES: &[&str] = &[
        "",
        ".",
        "..",
        "...",
        "a.png",
        "my cat.jpg",
        "a/b",
        "../../config",
        "?x=1",
        "#top",
        "100%",
        "%2e%2e",
        "%2F",
        "café",
        "☕",
        "日本語.txt",
        "\u{0}",
        "tab\t",
        "+&=;",
        "[x]",
        "~",
        "a b c",
    ];
    let mut s = String::new();
    for _ in 0..rng.below(4) {
        if rng.chance(15) {
            s.push(char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('x'));
        } else {
            s.push_str(rng.pick::<&str>(NAMES));
        }
    }
    s
}

fn random_request(rng: &mut Rng) -> MediaRequest {
    if rng.chance(50) {
        let filename = rng.chance(60).then(|| random_filename(rng));
        MediaRequest::Download { filename }
    } else {
        let dim = |rng: &mut Rng| {
            if rng.chance(5) {
                u32::MAX
            } else {
                (rng.next() % 4000) as u32
            }
        };
        MediaRequest::Thumbnail(Thumbnail {
            width: dim(rng),
            height: dim(rng),
            method: *rng.pick(&[None, Some(Method::Crop), Some(Method::Scale)]),
            animated: *rng.pick(&[None, Some(true), Some(false)]),
        })
    }
}

/// What the request looks like after a trip through a URL: file names a URL cannot carry
/// as a segment (`""`, `"."`, `".."`) or must not (holding `/`, `\\` or a control character,
/// which a decoding proxy would turn into separators) are left out.
fn as_carried(req: &MediaRequest) -> MediaRequest {
    let left_out = |f: &str| {
        f.is_empty()
            || f == "."
            || f == ".."
            || f.chars().any(|c| matches!(c, '/' | '\\') || c.is_control())
    };
    match req {
        MediaRequest::Download { filename: Some(f) } if left_out(f) => {
            MediaRequest::Download { filename: None }
        }
        other => other.clone(),
    }
}

#[test]
fn built_urls_classify_back_to_the_same_media() {
    let mut rng = Rng(0x5EED_0002);
    let hss = homeservers();
    let routes = [
        (Api::V1, Route::Authenticated),
        (Api::Unstable, Route::Unstable),
        (Api::Legacy, Route::Legacy),
    ];
    for _ in 0..1500 {
        let server = random_server_name(&mut rng);
        let id = random_media_id(&mut rng);
        let mxc = MxcUri::parse(&format!("mxc://{server}/{id}"))
            .unwrap_or_else(|e| panic!("{server}/{id}: {e}"));
        let req = random_request(&mut rng);
        let timeout = rng.chance(30).then(|| rng.next() >> rng.below(64));
        let hs_index = rng.below(hss.len());
        let hs = &hss[hs_index];
        for (api, route) in routes {
            let url = media_url(hs, api, &mxc, &req, timeout);
            let m = classify(&url, &hss)
                .media()
                .cloned()
                .unwrap_or_else(|| panic!("{url} is not media"));
            assert_eq!(m.route, route, "{url}");
            assert_eq!(m.homeserver, hs_index, "{url}");
            assert_eq!(m.mxc, mxc, "{url}");
            assert_eq!(m.request, as_carried(&req), "{url}");
            assert_eq!(m.timeout_ms, timeout, "{url}");
            let want_upgrade =
                (api == Api::Legacy).then(|| media_url(hs, Api::V1, &mxc, &req, timeout));
            assert_eq!(m.upgraded, want_upgrade, "{url}");
            // The browser reports exactly this string as Request.url.
            let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(parsed.as_str(), url, "not WHATWG-normalised");
        }
    }
}

#[test]
fn thumbnail_size_never_panics_and_covers_the_need() {
    let mut rng = Rng(0x5EED_0003);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        -1.0,
        1e-300,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    for _ in 0..5000 {
        let num = |rng: &mut Rng| {
            if rng.chance(15) {
                *rng.pick(&specials)
            } else {
                f64::from_bits(rng.next()).abs() % 5000.0
            }
        };
        let (w, h, dpr) = (num(&mut rng), num(&mut rng), num(&mut rng) / 1000.0);
        let method = *rng.pick(&[Method::Crop, Method::Scale]);
        let Ok(t) = thumbnail_size(w, h, dpr, method) else {
            continue;
        };
        assert!(t.width >= 1 && t.height >= 1);
        assert_eq!(t.method, Some(method));
        // Covers the need up to float noise.
        assert!(
            f64::from(t.width) >= (w * dpr).floor(),
            "{w}x{h}@{dpr} → {t:?}"
        );
        assert!(
            f64::from(t.height) >= (h * dpr).floor(),
            "{w}x{h}@{dpr} → {t:?}"
        );
    }
}
