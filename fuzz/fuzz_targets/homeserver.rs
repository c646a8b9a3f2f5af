//! `Homeserver::parse` on any string: no panic; an accepted base is canonical (parsing it
//! again gives the same homeserver), and media URLs built under it classify back to it.
#![no_main]

use authmedia_core::{
    classify, media_url, Api, Classification, Homeserver, MediaRequest, MxcUri, Thumbnail,
};
use libfuzzer_sys::fuzz_target;

fn run(s: &str) {
    let Ok(hs) = Homeserver::parse(s) else {
        return;
    };
    let base = hs.base();
    assert_eq!(base, format!("{}{}", hs.origin(), hs.prefix()));
    assert!(
        base.starts_with("https://") || base.starts_with("http://"),
        "{base}"
    );
    assert!(!base.contains(['?', '#', '\\']), "{base}");
    // No user info: '@' may appear in the path prefix (a pchar), never in the origin.
    assert!(!hs.origin().contains('@'), "{base}");
    assert!(!base.ends_with('/'), "{base}");
    let origin_rest = hs
        .origin()
        .split_once("://")
        .map(|(_, r)| r)
        .expect("scheme");
    assert!(
        !origin_rest.is_empty() && !origin_rest.contains('/'),
        "{base}"
    );
    let prefix = hs.prefix();
    if !prefix.is_empty() {
        let segs = prefix.strip_prefix('/').expect("prefix starts with /");
        for seg in segs.split('/') {
            assert!(!seg.is_empty() && seg != "." && seg != "..", "{base}");
            assert!(!seg.eq_ignore_ascii_case("%2e"), "{base}");
        }
    }
    assert_eq!(
        Homeserver::parse(base).as_ref(),
        Ok(&hs),
        "not canonical: {s}"
    );

    // Media under this homeserver is recognised as its own, in every flavour.
    let hss = [hs.clone()];
    let mxc = MxcUri::parse("mxc://example.org/abc_-9").expect("fixture");
    let reqs = [
        MediaRequest::Download {
            filename: Some("a b.png".into()),
        },
        MediaRequest::Thumbnail(Thumbnail {
            width: 32,
            height: 24,
            method: None,
            animated: Some(true),
        }),
    ];
    for api in [Api::V1, Api::Unstable, Api::Legacy] {
        for req in &reqs {
            let u = media_url(&hs, api, &mxc, req, Some(7));
            assert!(u.starts_with(base), "{u}");
            let Classification::Media(m) = classify(&u, &hss) else {
                panic!("{u} not recognised under {base}");
            };
            assert_eq!((m.homeserver, &m.mxc, &m.request), (0, &mxc, req), "{u}");
            assert_eq!(m.route.api(), api, "{u}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(s) => run(s),
        Err(_) => run(&String::from_utf8_lossy(data)),
    }
});
