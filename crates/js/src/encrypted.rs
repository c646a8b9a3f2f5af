//! An `EncryptedFile` (spec v1.11, "Sending encrypted attachments") as a JS value ↔ the core's
//! wire shape, read with `Reflect` (no serde) and as leniently as the core's serde impl: unknown
//! fields are ignored and `null` is absent, but a present field of the wrong type is an error.

use authmedia_core::attachment::{EncryptedFileWire, HashesWire, JwkWire};
use authmedia_core::{AttachmentError, EncryptedFile};
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};

use crate::{get, object, set};

fn malformed(field: &str, what: &str) -> AttachmentError {
    AttachmentError::Malformed(format!("{field} must be {what}"))
}

/// A string field: absent (`undefined`/`null`) is `None`, another type is `Malformed` naming
/// `path` (the field's full path, such as `key.kty`).
fn opt_string(obj: &JsValue, name: &str, path: &str) -> Result<Option<String>, AttachmentError> {
    let v = get(obj, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| malformed(path, "a string"))
}

/// An object field: absent is `None`, a non-object (or an array) is `Malformed`.
fn opt_object(obj: &JsValue, name: &str) -> Result<Option<JsValue>, AttachmentError> {
    let v = get(obj, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if !v.is_object() || Array::is_array(&v) {
        return Err(malformed(name, "an object"));
    }
    Ok(Some(v))
}

/// Reads an `EncryptedFile` (a plain object, or its JSON text) into the core's wire shape.
/// Nothing is validated beyond the types; [`file_from_js`] validates.
pub fn wire_from_js(value: &JsValue) -> Result<EncryptedFileWire, AttachmentError> {
    let parsed;
    let obj = if let Some(text) = value.as_string() {
        parsed = js_sys::JSON::parse(&text)
            .map_err(|_| AttachmentError::InvalidJson("not JSON text".to_owned()))?;
        &parsed
    } else {
        value
    };
    if !obj.is_object() || Array::is_array(obj) {
        return Err(malformed("the EncryptedFile", "an object"));
    }
    let key = match opt_object(obj, "key")? {
        None => None,
        Some(k) => {
            // `Array.isArray`: an array from another realm counts too.
            let ops = get(&k, "key_ops");
            let key_ops = if ops.is_undefined() || ops.is_null() {
                None
            } else if Array::is_array(&ops) {
                let mut out = Vec::new();
                for op in ops.unchecked_ref::<Array>().iter() {
                    out.push(
                        op.as_string()
                            .ok_or_else(|| malformed("key.key_ops", "an array of strings"))?,
                    );
                }
                Some(out)
            } else {
                return Err(malformed("key.key_ops", "an array of strings"));
            };
            let ext = get(&k, "ext");
            let ext = if ext.is_undefined() || ext.is_null() {
                None
            } else {
                Some(
                    ext.as_bool()
                        .ok_or_else(|| malformed("key.ext", "a boolean"))?,
                )
            };
            Some(JwkWire {
                kty: opt_string(&k, "kty", "key.kty")?,
                key_ops,
                alg: opt_string(&k, "alg", "key.alg")?,
                k: opt_string(&k, "k", "key.k")?,
                ext,
            })
        }
    };
    let hashes = match opt_object(obj, "hashes")? {
        None => None,
        Some(h) => Some(HashesWire {
            sha256: opt_string(&h, "sha256", "hashes.sha256")?,
        }),
    };
    Ok(EncryptedFileWire {
        url: opt_string(obj, "url", "url")?,
        key,
        iv: opt_string(obj, "iv", "iv")?,
        hashes,
        v: opt_string(obj, "v", "v")?,
    })
}

/// Reads and validates an `EncryptedFile` (a plain object, or its JSON text).
pub fn file_from_js(value: &JsValue) -> Result<EncryptedFile, AttachmentError> {
    EncryptedFile::from_wire(wire_from_js(value)?)
}

/// The wire shape as a fresh plain JS object (the inverse of [`wire_from_js`]; absent fields
/// are left out).
pub fn wire_to_js(w: &EncryptedFileWire) -> JsValue {
    let put = |o: &JsValue, name: &str, v: &Option<String>| {
        if let Some(v) = v {
            set(o, name, &JsValue::from_str(v));
        }
    };
    let out = object();
    put(&out, "url", &w.url);
    put(&out, "iv", &w.iv);
    put(&out, "v", &w.v);
    if let Some(k) = &w.key {
        let key = object();
        put(&key, "kty", &k.kty);
        put(&key, "alg", &k.alg);
        put(&key, "k", &k.k);
        if let Some(ops) = &k.key_ops {
            let list: Array = ops.iter().map(|op| JsValue::from_str(op)).collect();
            set(&key, "key_ops", &list);
        }
        if let Some(ext) = k.ext {
            set(&key, "ext", &JsValue::from_bool(ext));
        }
        set(&out, "key", &key);
    }
    if let Some(h) = &w.hashes {
        let hashes = object();
        put(&hashes, "sha256", &h.sha256);
        set(&out, "hashes", &hashes);
    }
    out
}
