//! ns per call of the core's hot paths, on inputs shaped like the browser benchmark's:
//! mxc → authenticated thumbnail/download URL (parse + build), and request classification.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use authmedia_core::{
    classify, media_url, Api, Homeserver, MediaRequest, Method, MxcUri, Thumbnail,
};

fn main() {
    divan::main();
}

/// 200 distinct mxc URIs with 24-character media ids (what Synapse generates).
fn mxcs() -> Vec<String> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s: u32 = 0x9e37_79b9;
    (0..200)
        .map(|_| {
            let id: String = (0..24)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    char::from(alphabet[(s as usize) % alphabet.len()])
                })
                .collect();
            format!("mxc://authmedia.test/{id}")
        })
        .collect()
}

const THUMB: MediaRequest = MediaRequest::Thumbnail(Thumbnail {
    width: 96,
    height: 96,
    method: Some(Method::Crop),
    animated: None,
});

#[divan::bench]
fn mxc_to_thumbnail_url(bencher: divan::Bencher) {
    let hs = Homeserver::parse("http://127.0.0.1:8008").unwrap();
    let inputs = mxcs();
    let mut i = 0usize;
    bencher.bench_local(|| {
        i = (i + 1) % inputs.len();
        let mxc = MxcUri::parse(black_box(&inputs[i])).unwrap();
        media_url(&hs, Api::V1, &mxc, black_box(&THUMB), None)
    });
}

#[divan::bench]
fn mxc_to_download_url(bencher: divan::Bencher) {
    let hs = Homeserver::parse("http://127.0.0.1:8008").unwrap();
    let inputs = mxcs();
    let req = MediaRequest::Download { filename: None };
    let mut i = 0usize;
    bencher.bench_local(|| {
        i = (i + 1) % inputs.len();
        let mxc = MxcUri::parse(black_box(&inputs[i])).unwrap();
        media_url(&hs, Api::V1, &mxc, black_box(&req), None)
    });
}

fn homeservers() -> Vec<Homeserver> {
    ["https://example.org", "https://matrix.example.com/prefix", "http://127.0.0.1:8008"]
        .iter()
        .map(|b| Homeserver::parse(b).unwrap())
        .collect()
}

#[divan::bench(args = [
    "https://cdn.example.net/static/app.js?v=123",
    "https://example.org/_matrix/client/v3/sync?since=s1_2_3&timeout=30000",
    "http://127.0.0.1:8008/_matrix/client/v1/media/thumbnail/authmedia.test/AbCdEfGhIjKlMnOpQrStUvWx?width=96&height=96&method=crop",
    "https://matrix.example.com/prefix/_matrix/media/v3/download/example.org/AbCdEfGhIjKlMnOp/cat%20pic.png",
])]
fn classify_url(bencher: divan::Bencher, url: &str) {
    let hss = homeservers();
    bencher.bench_local(|| classify(black_box(url), black_box(&hss)));
}
