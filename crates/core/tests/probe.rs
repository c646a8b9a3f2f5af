//! The probe's verdicts from recorded answers: `tests/vectors/probe.json`.
//!
//! The file holds a `base` (the answers of a stock Synapse 1.163, as the CLI records them)
//! and cases that change it: `set` replaces whole observations (`null` removes one),
//! `headers` changes single headers of an exchange (`null` removes one), `status` changes an
//! exchange's status. Each case names the levels it expects per check (and, optionally,
//! words of a summary and whether the report is `ready`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use authmedia_core::probe::{assess, Level, Observations, Report};
use serde_json::{Map, Value};

const PROBE: &str = include_str!("vectors/probe.json");

/// Every check, in report order.
const CHECKS: [&str; 12] = [
    "versions",
    "media_config",
    "upload",
    "download",
    "thumbnail",
    "tokenless",
    "freeze",
    "cors",
    "range",
    "caching",
    "redirects",
    "headers",
];

fn file() -> Value {
    serde_json::from_str(PROBE).expect("probe.json is JSON")
}

/// The base observations with a case's changes applied.
fn observations(base: &Value, case: &Value) -> Result<Observations, String> {
    let mut obs: Map<String, Value> = base.as_object().cloned().ok_or("base is an object")?;
    if let Some(set) = case.get("set").and_then(Value::as_object) {
        for (k, v) in set {
            if v.is_null() {
                obs.remove(k);
            } else {
                obs.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(changes) = case.get("headers").and_then(Value::as_object) {
        for (exchange, headers) in changes {
            let e = obs
                .get_mut(exchange)
                .and_then(Value::as_object_mut)
                .ok_or(format!("headers: no exchange {exchange}"))?;
            let map = e
                .entry("headers")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .ok_or("headers is an object")?;
            for (name, value) in headers.as_object().ok_or("header changes are an object")? {
                if value.is_null() {
                    map.remove(name);
                } else {
                    map.insert(name.clone(), value.clone());
                }
            }
        }
    }
    if let Some(changes) = case.get("status").and_then(Value::as_object) {
        for (exchange, status) in changes {
            let e = obs
                .get_mut(exchange)
                .and_then(Value::as_object_mut)
                .ok_or(format!("status: no exchange {exchange}"))?;
            e.insert("status".into(), status.clone());
        }
    }
    serde_json::from_value(Value::Object(obs)).map_err(|e| format!("observations: {e}"))
}

fn level(r: &Report, check: &str) -> Level {
    r.checks
        .iter()
        .find(|c| c.check == check)
        .map(|c| c.level)
        .unwrap_or_else(|| panic!("no verdict for {check}"))
}

fn check_case(base: &Value, case: &Value) -> Result<(), String> {
    let obs = observations(base, case)?;
    let r = assess(&obs);
    let mut errors = Vec::new();
    let names: Vec<&str> = r.checks.iter().map(|c| c.check).collect();
    if names != CHECKS {
        errors.push(format!("checks {names:?}"));
    }
    if r.ready == r.checks.iter().any(|c| c.level == Level::Fail) {
        errors.push("ready disagrees with the verdicts".to_owned());
    }
    for (check, want) in case["expect"].as_object().ok_or("expect is an object")? {
        let got = level(&r, check).as_str();
        if Some(got) != want.as_str() {
            let summary = &r.checks.iter().find(|c| c.check == check).unwrap().summary;
            errors.push(format!("{check}: got {got} ({summary}), want {want}"));
        }
    }
    if let Some(words) = case.get("summary_contains").and_then(Value::as_object) {
        for (check, word) in words {
            let v = r.checks.iter().find(|c| c.check == check).unwrap();
            let word = word.as_str().unwrap_or_default();
            if !v.summary.contains(word) {
                errors.push(format!("{check}: summary {:?} lacks {word:?}", v.summary));
            }
        }
    }
    if let Some(ready) = case.get("ready").and_then(Value::as_bool) {
        if r.ready != ready {
            errors.push(format!("ready: got {}, want {ready}", r.ready));
        }
    }
    if let Some(api) = case.get("api") {
        if r.api != api.as_str() {
            errors.push(format!("api: got {:?}, want {api}", r.api));
        }
    }
    // No verdict is silent: a warn or a fail always says what to do.
    for v in &r.checks {
        if v.level >= Level::Warn && v.advice.is_none() {
            errors.push(format!("{}: {} without advice", v.check, v.level.as_str()));
        }
        if v.level != Level::Skip && v.evidence.is_empty() {
            errors.push(format!("{}: no evidence", v.check));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[test]
fn probe_vectors() {
    let f = file();
    let base = &f["base"];
    let cases = f["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if let Err(e) = check_case(base, case) {
            let rule = case["rule"].as_str().unwrap_or("?");
            failures.push(format!("probe[{i}] ({rule}): {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} probe vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn observations_round_trip_as_json() {
    let f = file();
    let obs: Observations = serde_json::from_value(f["base"].clone()).unwrap();
    let again: Observations = serde_json::from_value(serde_json::to_value(&obs).unwrap()).unwrap();
    assert_eq!(obs, again);
}

/// The report is decided by the observations alone: the same input twice, the same report.
#[test]
fn assess_is_deterministic() {
    let f = file();
    let obs: Observations = serde_json::from_value(f["base"].clone()).unwrap();
    assert_eq!(assess(&obs), assess(&obs));
}
