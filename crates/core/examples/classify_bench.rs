//! Rough timing of `classify` on the worker's hot path:
//! `cargo run --release -p authmedia-core --example classify_bench`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use authmedia_core::{classify, Homeserver};

fn main() {
    let hss: Vec<Homeserver> = [
        "https://example.org",
        "https://matrix.example.com/prefix",
        "http://localhost:8008",
    ]
    .iter()
    .map(|b| Homeserver::parse(b).unwrap())
    .collect();
    let urls = [
        ("other origin", "https://cdn.example.net/static/app.js?v=123"),
        ("same origin, not media", "https://example.org/_matrix/client/v3/sync?since=s1_2_3&timeout=30000"),
        ("authenticated thumbnail", "https://example.org/_matrix/client/v1/media/thumbnail/example.org/AbCdEfGhIjKlMnOp?width=96&height=96&method=crop"),
        ("legacy download + upgrade", "https://matrix.example.com/prefix/_matrix/media/v3/download/example.org/AbCdEfGhIjKlMnOp/cat%20pic.png?allow_remote=true"),
    ];
    const N: u32 = 200_000;
    for (name, url) in urls {
        let start = Instant::now();
        for _ in 0..N {
            black_box(classify(black_box(url), black_box(&hss)));
        }
        let ns = start.elapsed().as_nanos() / u128::from(N);
        println!("{name:28} {ns:>6} ns/call");
    }
}
