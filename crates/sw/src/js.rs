//! Reading plain JavaScript objects (`JSON.parse` output, messages) into core types.
//!
//! Hand-written with `Reflect` instead of serde-wasm-bindgen: the shapes are tiny and fixed, and
//! serde's error formatting (floats, escaped strings) cost about a quarter of the worker's wasm
//! (measured: 167 KB → 124 KB of raw wasm). Every reader is lenient the way the core's serde
//! impls are: a field of the wrong type counts as absent.

use std::collections::BTreeMap;

use authmedia_core::{ErrorBody, Versions};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// `object[name]`, `undefined` when `object` is not an object.
pub(crate) fn get(object: &JsValue, name: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `object[name]` if it is a string.
pub(crate) fn string(object: &JsValue, name: &str) -> Option<String> {
    get(object, name).as_string()
}

/// A fresh object with these properties.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        // Defining a data property on a fresh ordinary object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

/// A `/versions` body: `versions` must be an array (non-strings are skipped);
/// `unstable_features` is optional and only a JSON `true` counts.
pub(crate) fn versions(body: &JsValue) -> Option<Versions> {
    let list = get(body, "versions").dyn_into::<Array>().ok()?;
    let versions = list.iter().filter_map(|v| v.as_string()).collect();
    let mut unstable_features = BTreeMap::new();
    let features = get(body, "unstable_features");
    if let Some(features) = features.dyn_ref::<Object>() {
        for entry in Object::entries(features).iter() {
            let (Some(name), flag) = (
                Reflect::get_u32(&entry, 0).ok().and_then(|n| n.as_string()),
                Reflect::get_u32(&entry, 1),
            ) else {
                continue;
            };
            unstable_features.insert(name, flag.ok().and_then(|f| f.as_bool()) == Some(true));
        }
    }
    Some(Versions {
        versions,
        unstable_features,
    })
}

/// A Matrix error body; `None` when it is not an object.
pub(crate) fn error_body(body: &JsValue) -> Option<ErrorBody> {
    if !body.is_object() {
        return None;
    }
    let retry = get(body, "retry_after_ms")
        .as_f64()
        .filter(|ms| ms.is_finite() && *ms >= 0.0);
    Some(ErrorBody {
        errcode: string(body, "errcode"),
        error: string(body, "error"),
        soft_logout: get(body, "soft_logout").as_bool(),
        retry_after_ms: retry.map(|ms| ms as u64),
    })
}
