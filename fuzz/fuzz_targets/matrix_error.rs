//! `MatrixError::from_json(status, body, Retry-After)` on any input: no panic, the status is
//! kept, a valid `Retry-After` (delta-seconds) wins over the body, and a body that is not a
//! JSON object contributes nothing.
//!
//! Input framing (so seeds stay readable text): `<status>\n<Retry-After value>\n<body>`;
//! an empty second line means no header. A status that is not a u16 is taken modulo 65536.
#![no_main]

use authmedia_core::{ErrorKind, MatrixError};
use authmedia_fuzz::has_duplicate_field;
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;

fn header_ms(h: &str) -> Option<u64> {
    let t = h.trim();
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u64>().ok()?.checked_mul(1000)
}

fn run(status: u16, header: Option<&str>, body: &str) {
    let e = MatrixError::from_json(status, body, header);
    assert_eq!(e.status, status);
    let kind = e.kind();
    assert!(!kind.code().is_empty());
    let shown = e.to_string();
    assert!(shown.contains(&status.to_string()), "{shown}");

    let from_header = header.and_then(header_ms);
    if from_header.is_some() {
        assert_eq!(e.retry_after_ms, from_header, "{header:?}");
    }
    // A body with a repeated key is refused by the derived reader: it then counts as absent.
    let usable = !has_duplicate_field(body, &["errcode", "error", "soft_logout", "retry_after_ms"]);
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(obj)) if usable => {
            let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
            assert_eq!(e.errcode, s("errcode"), "{body}");
            assert_eq!(e.message, s("error"), "{body}");
            let soft = obj
                .get("soft_logout")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            assert_eq!(e.soft_logout, soft, "{body}");
            if from_header.is_none() {
                let body_ms = obj.get("retry_after_ms").and_then(|v| {
                    v.as_u64().or_else(|| {
                        v.as_f64()
                            .filter(|f| (0.0..18_446_744_073_709_551_616.0).contains(f))
                            .map(|f| f as u64)
                    })
                });
                assert_eq!(e.retry_after_ms, body_ms, "{body}");
            }
        }
        // JSON that `Value` cannot hold (a number beyond f64 in an ignored field, as in
        // `{"x":1e999}`) is still read by the core, as a browser's JSON.parse would: no oracle.
        Err(_) if serde_json::from_str::<IgnoredAny>(body).is_ok() => {}
        _ => {
            assert_eq!(
                (&e.errcode, &e.message, e.soft_logout),
                (&None, &None, false),
                "{body}"
            );
            assert_eq!(e.retry_after_ms, from_header, "{body}");
        }
    }
    if status == 429
        && !matches!(
            e.errcode.as_deref(),
            Some("M_MISSING_TOKEN" | "M_UNKNOWN_TOKEN")
        )
    {
        assert_eq!(
            kind,
            ErrorKind::LimitExceeded {
                retry_after_ms: e.retry_after_ms
            }
        );
    }
    if let ErrorKind::UnknownToken { soft_logout } = kind {
        assert_eq!(soft_logout, e.soft_logout);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let status_text = parts.next().unwrap_or("");
    let header = parts.next().filter(|h| !h.is_empty());
    let body = parts.next().unwrap_or("");
    let status = status_text
        .trim()
        .parse::<u32>()
        .map(|s| (s % 65536) as u16)
        .unwrap_or_else(|_| {
            status_text
                .bytes()
                .fold(0u16, |a, b| a.wrapping_mul(31).wrapping_add(u16::from(b)))
        });
    run(status, header, body);
});
