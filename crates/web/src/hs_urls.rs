//! The homeserver's own media URLs (v1, the MSC3916 unstable prefix, legacy
//! `/_matrix/media/{v3,r0}/…`) as input: `src()` accepts them as it accepts mxc URIs, and
//! `mount(root, { homeserverUrls: true })` watches `root` for `img`, `video`, `audio` and
//! `source` elements whose `src` is one, for clients that write those URLs straight into the DOM.
//! The core's `classify`, against the session's homeserver only, decides what is one: any other
//! origin, and any path it does not recognise as a media read, is left alone.
//!
//! A worker upgrades and authenticates such URLs by itself, so the watcher only acts while the
//! SDK is in the fallback: it moves the URL's media into the element's `data-mxc` (a thumbnail's
//! parameters into `data-width`/`data-height`/`data-method`/`data-animated`), keeps the URL in
//! `data-authmedia-original-src` and removes `src`; `mount()` then shows the element like any
//! other (blob URL under the budget, the same states and codes). An `img` with a CSS box is sized
//! from the box, as every mounted image is.
//!
//! The cost: the observer runs at the microtask checkpoint after the script that set `src`, and
//! image and media elements start fetching only after that (they await a stable state), so the
//! original URL is not requested at all; a browser that fetched earlier would send one request
//! without a token (refused by the homeserver) per element before the authenticated one.

use std::rc::Rc;

use authmedia_core::{classify, Classification, MediaRequest, MxcUri};
use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, MutationObserver, MutationObserverInit, MutationRecord, Node};

use crate::args::{parse_mxc, parse_request};
use crate::error::WebError;
use crate::inner::Inner;
use crate::mode::Mode;
use crate::util::get_string;

const SELECTOR: &str = "img[src], video[src], audio[src], source[src]";

/// The media a browser-normalised absolute URL of the session's homeserver names, with its request.
fn media_of_url(inner: &Inner, url: &str) -> Option<(MxcUri, MediaRequest)> {
    match classify(url, std::slice::from_ref(&inner.session.hs)) {
        Classification::Media(m) => Some((m.mxc, m.request)),
        Classification::Other => None,
    }
}

/// What `src(input, options)` shows: an mxc URI with `options`, or an absolute http(s) media URL
/// of the session's homeserver (the loader resolves relative ones), which carries its own
/// request, so `options` must be absent. Any other URL is `invalid_mxc` (`not_media`); any other
/// string keeps the mxc parser's codes.
pub fn media_of_input(
    inner: &Inner,
    input: &str,
    options: &JsValue,
) -> Result<(MxcUri, MediaRequest), WebError> {
    let lower = input.get(..8).unwrap_or(input).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Ok((parse_mxc(input)?, parse_request(options)?));
    }
    let Some(found) = media_of_url(inner, input) else {
        return Err(WebError::new(
            "invalid_mxc",
            "not an mxc:// URI, nor a media URL of this session's homeserver",
        )
        .with_reason("not_media"));
    };
    if options.is_undefined() || options.is_null() {
        Ok(found)
    } else {
        Err(WebError::invalid_argument(
            "a media URL carries its own request: pass no options with it",
        ))
    }
}

/// Starts watching `root`; disconnecting the returned observer stops it.
pub fn watch(inner: &Rc<Inner>, root: &Element) -> Result<MutationObserver, JsValue> {
    let me = Rc::clone(inner);
    let on_mutations = Closure::<dyn FnMut(Array)>::new(move |records: Array| {
        for r in records.iter() {
            let Ok(r) = r.dyn_into::<MutationRecord>() else {
                continue;
            };
            if r.type_() == "childList" {
                let added = r.added_nodes();
                for i in 0..added.length() {
                    if let Some(n) = added.item(i) {
                        scan(&me, &n);
                    }
                }
            } else if let Some(t) = r.target() {
                scan(&me, &t);
            }
        }
    });
    let observer = MutationObserver::new(on_mutations.as_ref().unchecked_ref())?;
    // The observer's callback owns the closure from here on (freed with it by the JS GC).
    let _ = on_mutations.into_js_value();
    let init = MutationObserverInit::new();
    init.set_child_list(true);
    init.set_subtree(true);
    init.set_attributes(true);
    init.set_attribute_filter(&Array::of1(&JsValue::from_str("src")));
    observer.observe_with_options(root, &init)?;
    scan(inner, root);
    Ok(observer)
}

/// Adopts `node` and its descendants that carry a homeserver media URL in `src`.
fn scan(inner: &Rc<Inner>, node: &Node) {
    let Some(el) = node.dyn_ref::<Element>() else {
        return;
    };
    if el.matches(SELECTOR).unwrap_or(false) {
        adopt(inner, el);
    }
    if let Ok(list) = el.query_selector_all(SELECTOR) {
        for i in 0..list.length() {
            if let Some(e) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                adopt(inner, &e);
            }
        }
    }
}

/// Hands `el` to `mount()` when its `src` is media of the session's homeserver and no worker
/// serves the page.
fn adopt(inner: &Rc<Inner>, el: &Element) {
    if inner.session.ended()
        || inner.mode.get() != Mode::Fallback
        || el.has_attribute("data-mxc")
        || el.has_attribute("data-encrypted")
    {
        return;
    }
    // The `src` property: the attribute resolved against the document, as the browser loads it.
    let Some(src) = get_string(el, "src").filter(|s| !s.is_empty()) else {
        return;
    };
    let Some((mxc, request)) = media_of_url(inner, &src) else {
        return;
    };
    let set = |k: &str, v: &str| {
        let _ = el.set_attribute(k, v);
    };
    set("data-authmedia-original-src", &src);
    if let MediaRequest::Thumbnail(t) = request {
        set("data-width", &t.width.to_string());
        set("data-height", &t.height.to_string());
        if let Some(m) = t.method {
            set("data-method", m.as_str());
        }
        if let Some(a) = t.animated {
            set("data-animated", if a { "true" } else { "false" });
        }
    }
    // `src` goes first: `mount()` then finds an element with `data-mxc` and nothing loading.
    let _ = el.remove_attribute("src");
    set("data-mxc", &mxc.to_string());
}
