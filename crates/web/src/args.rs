//! The arguments of the public calls: an mxc URI (`src`, `httpUrl`, `download`, `data-mxc`) and
//! the `src` options object, parsed into the core's types (wrong types are errors, not ignored).

use authmedia_core::{MediaRequest, Method, MxcUri, Thumbnail};
use wasm_bindgen::JsValue;

use crate::error::WebError;
use crate::util::try_get;

/// Parses the `src` options: `{ thumbnail?: {width, height, method?, animated?}, filename? }`.
/// Wrong types are errors (not ignored): options and `thumbnail` must be objects, `filename`
/// and `method` strings, `animated` a boolean; a getter that throws is an error too.
pub fn parse_request(opts: &JsValue) -> Result<MediaRequest, WebError> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(MediaRequest::Download { filename: None });
    }
    if !opts.is_object() || opts.is_function() {
        return Err(WebError::invalid_argument("the options must be an object"));
    }
    let t = try_get(opts, "thumbnail")?;
    if !t.is_undefined() && !t.is_null() {
        if !t.is_object() || t.is_function() {
            return Err(WebError::invalid_argument(
                "thumbnail must be an object {width, height, method?, animated?}",
            ));
        }
        let dim = |k: &str| dimension(k, try_get(&t, k)?.as_f64());
        let method = try_get(&t, "method")?;
        let method = match method.as_string().as_deref() {
            None if method.is_undefined() || method.is_null() => None,
            Some("crop") => Some(Method::Crop),
            Some("scale") => Some(Method::Scale),
            _ => {
                return Err(WebError::invalid_argument(
                    "thumbnail.method must be 'crop' or 'scale'",
                ))
            }
        };
        let animated = try_get(&t, "animated")?;
        let animated = match animated.as_bool() {
            None if animated.is_undefined() || animated.is_null() => None,
            None => {
                return Err(WebError::invalid_argument(
                    "thumbnail.animated must be true or false",
                ))
            }
            b => b,
        };
        return Ok(MediaRequest::Thumbnail(Thumbnail {
            width: dim("width")?,
            height: dim("height")?,
            method,
            animated,
        }));
    }
    let filename = try_get(opts, "filename")?;
    let filename = match filename.as_string() {
        None if filename.is_undefined() || filename.is_null() => None,
        None => return Err(WebError::invalid_argument("filename must be a string")),
        name => name,
    };
    Ok(MediaRequest::Download { filename })
}

/// A thumbnail's `width`/`height` (`k`) as the server takes it.
pub fn dimension(k: &str, n: Option<f64>) -> Result<u32, WebError> {
    match n {
        Some(n) if n.is_finite() && n >= 1.0 && n <= f64::from(u32::MAX) => Ok(n.round() as u32),
        _ => Err(WebError::invalid_argument(format!(
            "thumbnail.{k} must be a positive integer"
        ))),
    }
}

/// Longest mxc URI accepted. The spec sets no limit on media ids, but real ones are a few dozen
/// characters; a multi-megabyte one would only build a URL no server (or browser) takes.
pub const MAX_MXC_LEN: usize = 8 * 1024;

/// Parses an mxc URI argument.
pub fn parse_mxc(v: &str) -> Result<MxcUri, WebError> {
    if v.len() > MAX_MXC_LEN {
        return Err(WebError::new(
            "invalid_mxc",
            format!("the mxc URI is longer than {MAX_MXC_LEN} bytes"),
        )
        .with_reason("too_long"));
    }
    MxcUri::parse(v).map_err(WebError::from)
}
