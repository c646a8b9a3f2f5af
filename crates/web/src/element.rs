//! One mounted element: what it shows (`data-mxc` with its request, `data-encrypted`, or a
//! download link), its `data-authmedia-state`, and the [`Mounter`] that `mount.rs` (observers)
//! and `hydrate.rs` (loads) share.

use crate::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{thumbnail_size, MediaRequest, Method};
use authmedia_js::file_from_js;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

use crate::args::parse_mxc;
use crate::error::{attachment_error, WebError};
use crate::records::Mounts;
use crate::source::{MediaSource, Source};
use crate::util::{get_string, window};

/// What the mount code works with: the media source of one instance, which loads what the
/// elements show and holds the records of its mounted roots and elements.
pub struct Mounter<S> {
    /// Loads media, pins object URLs, reports errors; holds the records.
    pub source: Rc<S>,
}

impl<S> Clone for Mounter<S> {
    fn clone(&self) -> Self {
        Self {
            source: Rc::clone(&self.source),
        }
    }
}

impl<S: MediaSource> Mounter<S> {
    /// The records of the mounted roots and elements.
    pub fn state(&self) -> &RefCell<Mounts> {
        self.source.mounts()
    }
}

pub fn set_state(el: &Element, state: &str, error: Option<&str>) {
    let _ = el.set_attribute("data-authmedia-state", state);
    match error {
        Some(code) => {
            let _ = el.set_attribute("data-authmedia-error", code);
        }
        None => {
            let _ = el.remove_attribute("data-authmedia-error");
        }
    }
}

pub fn tag(el: &Element) -> String {
    el.tag_name().to_ascii_lowercase()
}

pub fn is_lazy(tag: &str) -> bool {
    matches!(tag, "img" | "video" | "audio")
}

fn attr_f64(el: &Element, name: &str) -> Option<f64> {
    // The browser's parser: Rust's float parsing would add kilobytes of wasm.
    let v = js_sys::Number::parse_float(el.get_attribute(name)?.trim());
    (v.is_finite() && v > 0.0).then_some(v)
}

fn reduced_motion() -> bool {
    window()
        .ok()
        .and_then(|w| {
            w.match_media("(prefers-reduced-motion: reduce)")
                .ok()
                .flatten()
        })
        .is_some_and(|m| m.matches())
}

/// The request an element stands for.
pub fn request_for(el: &Element, tag: &str) -> Result<MediaRequest, WebError> {
    let filename = el.get_attribute("data-filename");
    if tag != "img" {
        return Ok(MediaRequest::Download { filename });
    }
    // `data-width`/`data-height` when both are given: the element's box before the image
    // arrives is often not the size it will be shown at (an `<img alt="…">` has the box of its
    // alt text). Else the CSS box, when laid out; else the original.
    let (w, h) = match (attr_f64(el, "data-width"), attr_f64(el, "data-height")) {
        (Some(w), Some(h)) => (Some(w), Some(h)),
        _ => {
            let rect = el.get_bounding_client_rect();
            if rect.width() >= 1.0 && rect.height() >= 1.0 {
                (Some(rect.width()), Some(rect.height()))
            } else {
                (None, None)
            }
        }
    };
    let (Some(w), Some(h)) = (w, h) else {
        return Ok(MediaRequest::Download { filename });
    };
    let method = match el.get_attribute("data-method").as_deref() {
        Some("crop") => Method::Crop,
        None | Some("scale") | Some("") => Method::Scale,
        Some(other) => {
            return Err(WebError::invalid_argument(format!(
                "data-method must be 'crop' or 'scale', not \"{other}\""
            )))
        }
    };
    let dpr = window().map(|w| w.device_pixel_ratio()).unwrap_or(1.0);
    let mut t = thumbnail_size(w, h, if dpr > 0.0 { dpr } else { 1.0 }, method)
        .map_err(|e| WebError::invalid_argument(e.to_string()).with_reason(e.code()))?;
    t.animated = match el.get_attribute("data-animated").as_deref() {
        Some("true") | Some("") => Some(!reduced_motion()),
        Some("false") => Some(false),
        _ => None,
    };
    Ok(MediaRequest::Thumbnail(t))
}

/// The element's source, or its error; with the mxc that names it in `error` events.
/// `data-encrypted` wins over `data-mxc` (except on `a`); `None`: neither attribute.
pub fn source_of(el: &Element, tag: &str) -> Option<(Option<String>, Result<Source, WebError>)> {
    if tag != "a" {
        if let Some(json) = el.get_attribute("data-encrypted") {
            return Some(match file_from_js(&JsValue::from_str(&json)) {
                Ok(file) => (
                    Some(file.url.to_string()),
                    Ok(Source::Encrypted(file, el.get_attribute("data-mimetype"))),
                ),
                Err(e) => (None, Err(attachment_error(&e))),
            });
        }
    }
    let mxc_s = el.get_attribute("data-mxc")?;
    let source = parse_mxc(&mxc_s).and_then(|mxc| {
        if tag == "a" {
            return Ok(Source::Link);
        }
        Ok(Source::Mxc(mxc, request_for(el, tag)?))
    });
    Some((Some(mxc_s), source))
}

/// The URL the browser requested for `el` (its `src` resolved against the document), the key
/// of the worker's failure record.
pub fn absolute_src(el: &Element) -> Option<String> {
    get_string(el, "src").filter(|s| !s.is_empty())
}

/// Stops showing whatever `el` shows: no `src`, and a media element (or the parent of a
/// `source`) reloaded so its last frame goes too. No `error` event follows (no `src` left).
pub fn clear_media(el: &Element) {
    if !el.has_attribute("src") {
        return;
    }
    let _ = el.remove_attribute("src");
    let media = if tag(el) == "source" {
        el.parent_element()
    } else {
        Some(el.clone())
    };
    if let Some(m) = media
        .as_ref()
        .and_then(|m| m.dyn_ref::<web_sys::HtmlMediaElement>())
    {
        m.load();
    }
}

/// Drops this element's pin, if it holds one.
pub fn release<S: MediaSource>(m: &Mounter<S>, id: u32) {
    let mut state = m.state().borrow_mut();
    if let Some(r) = state.elems.get_mut(&id) {
        if r.pinned {
            if let Some(k) = &r.key {
                m.source.unpin(k);
            }
        }
        r.pinned = false;
        r.key = None;
    }
}
