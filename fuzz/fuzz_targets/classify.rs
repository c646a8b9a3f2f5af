//! `classify(url, homeservers)` on any string against homeservers with and without path
//! prefixes: no panic, and every match obeys `authmedia_fuzz::check_match` (stays in the
//! download/thumbnail endpoints, rebuilds and classifies back to the same media, legacy
//! upgrades go to the v1 endpoint of the same media).
#![no_main]

use std::sync::OnceLock;

use authmedia_core::{classify, Classification, Homeserver};
use authmedia_fuzz::{check_match, homeservers};
use libfuzzer_sys::fuzz_target;

static HSS: OnceLock<Vec<Homeserver>> = OnceLock::new();

fn run(url: &str) {
    let hss = HSS.get_or_init(homeservers);
    if let Classification::Media(m) = classify(url, hss) {
        check_match(url, hss, &m);
    }
    // Nothing matches when no homeserver is registered.
    assert_eq!(classify(url, &[]), Classification::Other);
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(s) => run(s),
        Err(_) => run(&String::from_utf8_lossy(data)),
    }
});
