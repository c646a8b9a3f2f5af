//! Response bodies (`JSON.parse` output) → the core's [`Versions`] and [`ErrorBody`].

use authmedia_core::{ErrorBody, Versions};
use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};

use crate::get;

/// A `/versions` body, read like the core's serde impl reads it: `versions` must be an array of
/// strings (otherwise `None`); `unstable_features` is lenient — a missing, non-object or array
/// value is empty, and a non-boolean flag counts as `false`.
pub fn versions(body: &JsValue) -> Option<Versions> {
    let list = get(body, "versions");
    if !Array::is_array(&list) {
        return None;
    }
    let mut versions = Vec::new();
    for item in list.unchecked_ref::<Array>().iter() {
        versions.push(item.as_string()?);
    }
    let mut out = Versions::default();
    out.versions = versions;
    let features = get(body, "unstable_features");
    if features.is_object() && !Array::is_array(&features) {
        for key in Object::keys(features.unchecked_ref::<Object>()).iter() {
            let Some(name) = key.as_string() else {
                continue;
            };
            let on = get(&features, &name).as_bool() == Some(true);
            out.set_feature(name, on);
        }
    }
    Some(out)
}

/// A Matrix error body; `None` when it is not an object, a field of the wrong type is `None`
/// (a `retry_after_ms` that is not a finite, non-negative number too).
pub fn error_body(body: &JsValue) -> Option<ErrorBody> {
    if !body.is_object() {
        return None;
    }
    let ms = get(body, "retry_after_ms")
        .as_f64()
        .filter(|ms| ms.is_finite() && *ms >= 0.0);
    Some(ErrorBody {
        errcode: get(body, "errcode").as_string(),
        error: get(body, "error").as_string(),
        soft_logout: get(body, "soft_logout").as_bool(),
        // Finite and not negative: the saturating cast is exact for any realistic delay.
        retry_after_ms: ms.map(|ms| ms as u64),
    })
}
