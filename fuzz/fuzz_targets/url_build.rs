//! `media_url` from structured input (via `arbitrary`): any valid mxc — DNS names, IPv4,
//! bracketed IPv6, optional port, any media id of the grammar's alphabet — any file name
//! (any Unicode, dot names, slashes, `?`, `#`, `%`), any thumbnail parameters and timeout, in
//! every API flavour and under every fixture homeserver. The URL must stay inside that media
//! endpoint, be in browser-normalised form, and classify back to exactly the same media.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use authmedia_core::{
    media_url, Api, Homeserver, MediaId, MediaRequest, Method, MxcUri, ServerName, Thumbnail,
};
use authmedia_fuzz::{
    check_built, check_upgrade, expect_media, file_name_left_out, homeservers, route_of,
};
use libfuzzer_sys::fuzz_target;

static HSS: OnceLock<Vec<Homeserver>> = OnceLock::new();

const DNS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.";
const HEX6: &[u8] = b"0123456789abcdefABCDEF:.";
const ID: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

#[derive(Debug, Arbitrary)]
enum Host {
    /// Bytes mapped onto the dns-name alphabet (1..=255 characters).
    Dns(Vec<u8>),
    Ipv4(u8, u8, u8, u8),
    /// Bytes mapped onto hex digits, ':' and '.' (2..=45 characters), bracketed.
    Ipv6(Vec<u8>),
    /// Any string: used only when the parser accepts it.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Download(Option<String>),
    Thumbnail {
        width: u32,
        height: u32,
        method: Option<bool>,
        animated: Option<bool>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    host: Host,
    port: Option<u16>,
    media_id: Vec<u8>,
    kind: Kind,
    timeout_ms: Option<u64>,
    api: u8,
    homeserver: u8,
}

fn map(bytes: &[u8], alphabet: &[u8], max: usize) -> String {
    bytes
        .iter()
        .take(max)
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// The server name text, and whether the grammar says it is valid.
fn server_name(host: &Host, port: Option<u16>) -> (String, bool) {
    let (mut s, valid) = match host {
        Host::Dns(b) => {
            let s = map(b, DNS, 255);
            let ok = !s.is_empty() && !s.bytes().all(|c| c == b'.');
            (s, ok)
        }
        Host::Ipv4(a, b, c, d) => (format!("{a}.{b}.{c}.{d}"), true),
        Host::Ipv6(b) => {
            let inner = map(b, HEX6, 45);
            let ok = inner.len() >= 2;
            (format!("[{inner}]"), ok)
        }
        Host::Raw(s) => (s.clone(), ServerName::parse(s).is_ok()),
    };
    if let Some(p) = port {
        if !matches!(host, Host::Raw(_)) {
            s.push_str(&format!(":{p}"));
        }
    }
    (s, valid)
}

fuzz_target!(|input: Input| {
    let hss = HSS.get_or_init(homeservers);
    let (server, valid) = server_name(&input.host, input.port);
    let parsed = ServerName::parse(&server);
    if !matches!(input.host, Host::Raw(_)) {
        assert_eq!(
            parsed.is_ok(),
            valid,
            "grammar vs parser on {server:?}: {parsed:?}"
        );
    }
    let Ok(server) = parsed else {
        return;
    };
    let id = map(&input.media_id, ID, 4096);
    let media_id = MediaId::parse(&id);
    assert_eq!(media_id.is_ok(), !id.is_empty(), "{id:?}");
    let Ok(media_id) = media_id else {
        return;
    };
    let mxc = MxcUri::from_parts(server, media_id);
    assert_eq!(MxcUri::parse(&mxc.to_string()).as_ref(), Ok(&mxc));

    let req = match input.kind {
        Kind::Download(filename) => MediaRequest::Download { filename },
        Kind::Thumbnail {
            width,
            height,
            method,
            animated,
        } => MediaRequest::Thumbnail(Thumbnail {
            width,
            height,
            method: method.map(|crop| if crop { Method::Crop } else { Method::Scale }),
            animated,
        }),
    };
    let api = [Api::V1, Api::Unstable, Api::Legacy][usize::from(input.api % 3)];
    let index = usize::from(input.homeserver) % hss.len();
    let hs = &hss[index];

    let url = media_url(hs, api, &mxc, &req, input.timeout_ms);
    check_built(&url, hs, api, &mxc, &req);
    let m = expect_media(&url, hss);
    // File names that cannot be a path segment ("", ".", "..") are left out of the URL.
    let want_req = match &req {
        MediaRequest::Download { filename: Some(f) } if file_name_left_out(f) => {
            MediaRequest::Download { filename: None }
        }
        other => other.clone(),
    };
    assert_eq!(
        (m.route, m.homeserver, &m.mxc, &m.request, m.timeout_ms),
        (route_of(api), index, &mxc, &want_req, input.timeout_ms),
        "{url}"
    );
    // What we build is canonical: rebuilding from the match gives the very same URL (so
    // `check_match`'s rebuild step would only repeat the checks above).
    assert_eq!(media_url(hs, api, &m.mxc, &m.request, m.timeout_ms), url);
    check_upgrade(&url, hss, &m);
});
