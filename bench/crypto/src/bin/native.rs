//! Native throughput of verify+decrypt: `cargo run --release --bin native` in bench/crypto.
//! Prints one JSON line per (size, mode) with the median MB/s of several runs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use authmedia_core::attachment::iv_from_nonce;
use authmedia_core::{decrypt_in_place, encrypt, AttachmentDecryptor};

const MB: usize = 1_000_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    for (size, runs) in [(MB, 31), (50 * MB, 5)] {
        let plain: Vec<u8> = (0..size).map(|i| (i * 131 % 251) as u8).collect();
        let Ok((secrets, ct)) = encrypt(&plain, [0x42; 32], iv_from_nonce([7; 8])) else {
            eprintln!("encrypt failed");
            std::process::exit(1);
        };
        let mut stream = Vec::new();
        let mut oneshot = Vec::new();
        for _ in 0..runs {
            // Streaming, 64 KiB chunks (a fetch body), capacity from Content-Length.
            let t = Instant::now();
            let mut d = AttachmentDecryptor::with_capacity(&secrets, ct.len());
            for c in ct.chunks(1 << 16) {
                if d.push(black_box(c)).is_err() {
                    std::process::exit(1);
                }
            }
            let out = d.finish();
            stream.push(size as f64 / 1e6 / t.elapsed().as_secs_f64());
            assert!(out.as_deref() == Ok(&plain[..]));
            // One shot in place on a copy (copy not timed).
            let mut buf = ct.clone();
            let t = Instant::now();
            let r = decrypt_in_place(&secrets, black_box(&mut buf));
            oneshot.push(size as f64 / 1e6 / t.elapsed().as_secs_f64());
            assert!(r.is_ok() && buf == plain);
        }
        for (mode, v) in [("stream-64KiB", stream), ("one-shot-in-place", oneshot)] {
            println!(
                "{{\"runtime\":\"native\",\"size_mb\":{},\"mode\":\"{mode}\",\"runs\":{runs},\"median_mb_s\":{:.1}}}",
                size / MB,
                median(v)
            );
        }
    }
}
