//! The token gate on any input: a URL string (any bytes), a homeserver, a `Request.mode` and a
//! `Request.destination`. Properties:
//! - `admit_request` passes exactly the non-navigation requests of a media destination or `fetch()`;
//! - whatever the page's URL, the URL that may carry the token is the core's canonical one: it
//!   passes `authorize` only for the homeserver it was built for, stays inside that media
//!   endpoint (`check_built`), holds no parameter the endpoint does not define (`access_token`
//!   included), classifies back to the same media, and is a fixed point (canonical of canonical);
//! - nothing passes for a session that ended.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use authmedia_core::gate::MEDIA_DESTINATIONS;
use authmedia_core::{
    admit_request, authorize, classify, Api, CanonicalUrl, Classification, Homeserver, Refusal,
};
use authmedia_fuzz::{check_built, expect_media, homeservers};
use libfuzzer_sys::fuzz_target;

static HSS: OnceLock<Vec<Homeserver>> = OnceLock::new();

const MODES: &[&str] = &["navigate", "cors", "no-cors", "same-origin", "websocket", ""];
const DESTINATIONS: &[&str] = &[
    "", "image", "video", "audio", "track", "document", "iframe", "frame", "object", "embed",
    "script", "style", "worker", "sharedworker", "font", "manifest", "report", "xslt",
];

#[derive(Debug, Arbitrary)]
struct Input {
    url: String,
    homeserver: u8,
    mode: u8,
    destination: u8,
    /// Used instead of a listed destination when set (any string).
    raw_destination: Option<String>,
}

fuzz_target!(|input: Input| {
    let hss = HSS.get_or_init(homeservers);
    let mode = MODES[usize::from(input.mode) % MODES.len()];
    let destination = input
        .raw_destination
        .as_deref()
        .unwrap_or(DESTINATIONS[usize::from(input.destination) % DESTINATIONS.len()]);
    let admitted = admit_request(mode, destination);
    let expected = mode != "navigate" && MEDIA_DESTINATIONS.contains(&destination);
    assert_eq!(admitted.is_ok(), expected, "{mode} {destination:?}");

    let index = usize::from(input.homeserver) % hss.len();
    let hs = &hss[index];
    let Classification::Media(m) = classify(&input.url, std::slice::from_ref(hs)) else {
        return;
    };
    for api in [Api::V1, Api::Unstable, Api::Legacy] {
        let canonical = CanonicalUrl::of_match(hs, api, &m);
        let url = canonical.as_str();
        // The core's URL for the parsed request; a legacy request keeps its `r0` alias.
        let plain = CanonicalUrl::media(hs, api, &m.mxc, &m.request, m.timeout_ms);
        check_built(plain.as_str(), hs, api, &m.mxc, &m.request);
        match (api, m.legacy_alias) {
            (Api::Legacy, Some(alias)) => assert_eq!(
                url,
                plain.as_str().replacen(api.media_prefix(), alias, 1),
                "{url}"
            ),
            _ => assert_eq!(url, plain.as_str()),
        }
        let query = url.split_once('?').map_or("", |(_, q)| q);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            assert!(
                ["width", "height", "method", "animated", "timeout_ms"].contains(&name),
                "{url}: parameter {name}"
            );
        }
        assert!(!url.contains("access_token"), "{url}");
        let again = expect_media(url, std::slice::from_ref(hs));
        assert_eq!((&again.mxc, again.timeout_ms), (&m.mxc, m.timeout_ms), "{url}");
        assert_eq!(CanonicalUrl::of_match(hs, api, &again), canonical, "{url}");

        let pass = authorize(hs, true, &canonical).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(pass.url(), url);
        assert_eq!(
            authorize(hs, false, &canonical),
            Err(Refusal::SessionEnded),
            "{url}"
        );
        for other in hss.iter().filter(|o| o.base() != hs.base()) {
            assert_eq!(
                authorize(other, true, &canonical),
                Err(Refusal::WrongHomeserver),
                "{url} for {}",
                other.base()
            );
        }
    }
});
