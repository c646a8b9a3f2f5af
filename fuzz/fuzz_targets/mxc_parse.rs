//! `MxcUri::parse`, `ServerName::parse`, `MediaId::parse` on any string: no panic, and what is
//! accepted obeys the grammar and round-trips byte for byte.
#![no_main]

use authmedia_core::{MediaId, MxcUri, ServerName};
use libfuzzer_sys::fuzz_target;

fn check_server_name(n: &ServerName, input: &str) {
    assert_eq!(n.as_str(), input);
    let host = n.host();
    assert!(!host.is_empty() && input.starts_with(host), "{input}");
    let rest = &input[host.len()..];
    match n.port() {
        None => assert!(rest.is_empty(), "{input}: text after host without a port"),
        Some(p) => {
            let digits = rest.strip_prefix(':').expect("port colon");
            assert!((1..=5).contains(&digits.len()), "{input}");
            assert_eq!(digits.parse::<u16>().ok(), Some(p), "{input}");
        }
    }
    if let Some(inner) = host.strip_prefix('[') {
        let addr = inner.strip_suffix(']').expect("closing bracket");
        assert!((2..=45).contains(&addr.len()), "{input}");
        assert!(addr
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'));
    } else {
        assert!(host.len() <= 255, "{input}");
        assert!(host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        // A dots-only name would become a dot segment of the request path.
        assert!(!host.bytes().all(|b| b == b'.'), "{input}");
    }
    assert_eq!(ServerName::parse(n.as_str()).as_ref(), Ok(n));
}

fn check_media_id(id: &MediaId, input: &str) {
    assert_eq!(id.as_str(), input);
    assert!(!input.is_empty());
    assert!(input
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
}

fn run(s: &str) {
    match MxcUri::parse(s) {
        Ok(m) => {
            assert_eq!(m.to_string(), s, "kept byte for byte");
            let rest = s.strip_prefix("mxc://").expect("scheme");
            let (server, id) = rest.split_once('/').expect("a slash");
            check_server_name(m.server_name(), server);
            check_media_id(m.media_id(), id);
            // serde goes through the same parser.
            let json = serde_json::to_string(&m).expect("serialise");
            assert_eq!(
                serde_json::from_str::<MxcUri>(&json).ok().as_ref(),
                Some(&m)
            );
        }
        Err(e) => {
            assert!(!e.code().is_empty() && !e.to_string().is_empty());
            assert!(serde_json::from_value::<MxcUri>(serde_json::Value::from(s)).is_err());
        }
    }
    if let Ok(n) = ServerName::parse(s) {
        check_server_name(&n, s);
    }
    if let Ok(id) = MediaId::parse(s) {
        check_media_id(&id, s);
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(s) => run(s),
        Err(_) => run(&String::from_utf8_lossy(data)),
    }
});
