//! `Versions::from_json` + `negotiate` on any bytes: no panic, errors carry a stable code, and
//! the decision follows the rules (checked against an independent reading of the body with
//! `serde_json::Value`).
#![no_main]

use authmedia_core::versions::parse_spec_version;
use authmedia_core::{negotiate, Api, Versions};
use authmedia_fuzz::has_duplicate_field;
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;

/// The negotiation rules, restated over a generic JSON value.
fn expected(body: &Value) -> Option<Api> {
    let obj = body.as_object()?;
    let versions = obj.get("versions")?.as_array()?;
    let mut numeric = false;
    for v in versions {
        let s = v.as_str()?;
        let core = s
            .strip_prefix('v')
            .map(|r| r.split('-').next().unwrap_or(r));
        if let Some((maj, min)) = core.and_then(|c| c.split_once('.')) {
            let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
            if digits(maj) && digits(min) {
                if let (Ok(a), Ok(b)) = (maj.parse::<u32>(), min.parse::<u32>()) {
                    numeric |= (a, b) >= (1, 11);
                }
            }
        }
    }
    let flag = |name: &str| {
        obj.get("unstable_features")
            .and_then(Value::as_object)
            .and_then(|f| f.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    Some(if numeric || flag("org.matrix.msc3916.stable") {
        Api::V1
    } else if flag("org.matrix.msc3916") {
        Api::Unstable
    } else {
        Api::Legacy
    })
}

fn run(body: &str) {
    let parsed = Versions::from_json(body);
    let value = serde_json::from_str::<Value>(body);
    match &parsed {
        Ok(v) => {
            let api = negotiate(v);
            // `Value` cannot hold some JSON the core reads (a number beyond f64 in an ignored
            // field, as in `{"x":1e999}`, which a browser's JSON.parse also accepts): no oracle then.
            if let Ok(value) = &value {
                assert_eq!(Some(api), expected(value), "{body}");
            } else {
                assert!(serde_json::from_str::<IgnoredAny>(body).is_ok(), "{body}");
            }
            for s in &v.versions {
                if let Some((a, b)) = parse_spec_version(s) {
                    assert_eq!(parse_spec_version(&format!("v{a}.{b}")), Some((a, b)));
                }
            }
            // What we parsed serialises to a body that parses to the same thing.
            let again = serde_json::to_string(v).expect("serialise");
            assert_eq!(Versions::from_json(&again).as_ref(), Ok(v));
            assert_eq!(
                v.feature("org.matrix.msc3916"),
                v.features()
                    .find(|(name, _)| *name == "org.matrix.msc3916")
                    .is_some_and(|(_, on)| on)
            );
        }
        Err(e) => {
            assert!(
                matches!(e.code(), "invalid_json" | "invalid_versions"),
                "{e:?}"
            );
            assert!(!e.to_string().is_empty());
            if let (Ok(value), false) = (
                value,
                has_duplicate_field(body, &["versions", "unstable_features"]),
            ) {
                // Valid JSON is refused only when `versions` is not an array of strings (or the
                // body is not an object).
                assert_eq!(e.code(), "invalid_versions", "{body}");
                assert_eq!(expected(&value), None, "refused a usable body: {body}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        run(s);
    } else {
        run(&String::from_utf8_lossy(data));
    }
});
