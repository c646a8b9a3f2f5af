//! `mount(root)`: hydrates `img`, `video`, `audio`, `source` and `a[download]` elements that
//! carry `data-mxc` (+ `data-width`, `data-height`, `data-method`, `data-animated`,
//! `data-filename`), including ones added or changed later (a `MutationObserver`), and
//! releases them when they are removed.
//!
//! Encrypted attachments: `img`, `video`, `audio` and `source` elements with `data-encrypted`
//! (the event's `file`, the `EncryptedFile` JSON) and optionally `data-mimetype` (its
//! `info.mimetype`) are shown through the `srcEncrypted` path: the worker's same-origin URL,
//! or in the fallback a verified, decrypted `blob:` URL of a safe type. An element with both
//! `data-encrypted` and `data-mxc` shows the encrypted file (`data-mxc` is ignored); `a`
//! elements are hydrated from `data-mxc` only. Invalid JSON or a malformed file ends in
//! `error` with the attachment's code (`invalid_argument`), before any request. A tampered or
//! truncated file ends in `error` with `hash_mismatch` in both modes.
//!
//! Worker mode: an element's `error` event says only that the load failed; the SDK then asks
//! the worker why (`authmedia:why`, [`crate::worker::why`]), so `data-authmedia-error` carries
//! the same code as in the fallback (`not_found`, `forbidden`, `rate_limited`, `timeout`,
//! `hash_mismatch`…), or `load_failed` when the worker cannot tell.
//!
//! Thumbnail sizes (`img` only; `video`/`audio`/`source` always load the original), through the
//! core's `thumbnail_size` × `devicePixelRatio`: `data-width` + `data-height` when both are
//! given; else the element's CSS box when it has one (at least 1×1 px when hydrated); else the
//! original. An `<img alt="…">` without a CSS size has the box of its alt text, so it gets a
//! small thumbnail: give it `data-width`/`data-height` or a CSS size.
//!
//! In the fallback, `img`/`video`/`audio` load when they come near the viewport (an
//! `IntersectionObserver`) and pin their object URL while in view, so the LRU never evicts
//! what is on screen. An element out of view whose URL is evicted is cleared
//! (`data-authmedia-state="evicted"`) and reloads when it comes back.
//!
//! Changing what an element shows (`data-mxc`, `data-encrypted`, `data-mimetype`,
//! `data-filename`: a reused row of a virtual list) removes its `src` at once, in both modes, so
//! the old picture never stays on screen beside the new load's state; an element whose load
//! fails shows nothing either.
//!
//! States: `data-authmedia-state` = `loading` | `loaded` | `error` (+ `data-authmedia-error`
//! = code) | `too-large` (video over the budget; use `download()`) | `evicted` | `idle`.
//!
//! `retryFailed()` (also run on the window's `online` event) loads again every element in
//! `error` for a reason that may pass (`ClientCode::is_retryable`), without a page reload.

use std::collections::HashMap;
use std::rc::{Rc, Weak};

use authmedia_core::{thumbnail_size, ClientCode, EncryptedFile, MediaRequest, Method, MxcUri};
use authmedia_js::file_from_js;
use js_sys::{Array, Function, Map};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    Element, IntersectionObserver, IntersectionObserverEntry, IntersectionObserverInit,
    MutationObserver, MutationObserverInit, MutationRecord, Node,
};

use crate::encrypted::attachment_error;
use crate::error::{code_of, WebError};
use crate::sdk::{parse_mxc, Inner, Mode};
use crate::util::{get_string, window};

const SELECTOR: &str = "img[data-mxc], video[data-mxc], audio[data-mxc], source[data-mxc], \
     a[data-mxc], img[data-encrypted], video[data-encrypted], audio[data-encrypted], \
     source[data-encrypted]";
const WATCHED: [&str; 8] = [
    "data-mxc",
    "data-encrypted",
    "data-mimetype",
    "data-width",
    "data-height",
    "data-method",
    "data-animated",
    "data-filename",
];

type Listener = Closure<dyn FnMut(JsValue)>;

struct ElemRec {
    el: Element,
    root: u32,
    /// Fallback cache key of the object URL shown, if any.
    key: Option<String>,
    /// Whether this element holds a pin on `key`.
    pinned: bool,
    /// In (or near) the viewport.
    visible: bool,
    /// A hydration is running.
    loading: bool,
    /// Bumped on every hydration; stale results are dropped.
    generation: u32,
    listeners: Vec<(&'static str, Listener)>,
}

struct RootRec {
    el: Element,
    mutations: MutationObserver,
    intersections: Option<IntersectionObserver>,
    _closures: Vec<Closure<dyn FnMut(Array, JsValue)>>,
}

/// All mounted roots and tracked elements of one `AuthMedia`.
#[derive(Default)]
pub struct Mounts {
    next_id: u32,
    roots: HashMap<u32, RootRec>,
    elems: HashMap<u32, ElemRec>,
    ids: Option<Map>,
}

impl Mounts {
    fn ids(&mut self) -> Map {
        self.ids.get_or_insert_with(Map::new).clone()
    }

    fn id_of(&mut self, el: &JsValue) -> Option<u32> {
        self.ids().get(el).as_f64().map(|f| f as u32)
    }

    fn next(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }
}

fn set_state(el: &Element, state: &str, error: Option<&str>) {
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

fn tag(el: &Element) -> String {
    el.tag_name().to_ascii_lowercase()
}

fn is_lazy(tag: &str) -> bool {
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
pub(crate) fn request_for(el: &Element, tag: &str) -> Result<MediaRequest, WebError> {
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

/// What an element shows.
enum Source {
    /// `a[data-mxc]`: nothing to load, the click saves the file.
    Link,
    Mxc(MxcUri, MediaRequest),
    /// `data-encrypted` (+ `data-mimetype`).
    Encrypted(EncryptedFile, Option<String>),
}

/// The element's source, or its error; with the mxc that names it in `error` events.
/// `data-encrypted` wins over `data-mxc` (except on `a`); `None`: neither attribute.
fn source_of(el: &Element, tag: &str) -> Option<(Option<String>, Result<Source, WebError>)> {
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
fn absolute_src(el: &Element) -> Option<String> {
    get_string(el, "src").filter(|s| !s.is_empty())
}

/// Mounts `root`; the returned function unmounts it.
pub fn mount(inner: &Rc<Inner>, root: Element) -> Result<Function, JsValue> {
    if inner.logged_out.get() {
        return Err(crate::sdk::logged_out().into());
    }
    let root_id = inner.mounts.borrow_mut().next();
    let me = Rc::clone(inner);
    let on_mutations =
        Closure::<dyn FnMut(Array, JsValue)>::new(move |records: Array, _obs: JsValue| {
            // Removals first: a moved node appears in both lists.
            for r in records.iter() {
                let Ok(r) = r.dyn_into::<MutationRecord>() else {
                    continue;
                };
                if r.type_() == "childList" {
                    let removed = r.removed_nodes();
                    for i in 0..removed.length() {
                        if let Some(n) = removed.item(i) {
                            untrack_under(&me, &n);
                        }
                    }
                }
            }
            for r in records.iter() {
                let Ok(r) = r.dyn_into::<MutationRecord>() else {
                    continue;
                };
                if r.type_() == "childList" {
                    let added = r.added_nodes();
                    for i in 0..added.length() {
                        if let Some(n) = added.item(i) {
                            scan(&me, root_id, &n);
                        }
                    }
                } else if let Some(t) = r.target() {
                    if let Ok(el) = t.dyn_into::<Element>() {
                        attribute_changed(&me, root_id, &el, r.attribute_name().as_deref());
                    }
                }
            }
        });
    let mutations = MutationObserver::new(on_mutations.as_ref().unchecked_ref())?;
    let init = MutationObserverInit::new();
    init.set_child_list(true);
    init.set_subtree(true);
    init.set_attributes(true);
    init.set_attribute_filter(
        &WATCHED
            .iter()
            .map(|s| JsValue::from_str(s))
            .collect::<Array>(),
    );
    mutations.observe_with_options(&root, &init)?;

    let me = Rc::clone(inner);
    let on_intersect =
        Closure::<dyn FnMut(Array, JsValue)>::new(move |entries: Array, _obs: JsValue| {
            for e in entries.iter() {
                let Ok(e) = e.dyn_into::<IntersectionObserverEntry>() else {
                    continue;
                };
                visibility_changed(&me, &e.target(), e.is_intersecting());
            }
        });
    let io_init = IntersectionObserverInit::new();
    io_init.set_root_margin("200px");
    let intersections =
        IntersectionObserver::new_with_options(on_intersect.as_ref().unchecked_ref(), &io_init)
            .ok();

    inner.mounts.borrow_mut().roots.insert(
        root_id,
        RootRec {
            el: root.clone(),
            mutations,
            intersections,
            _closures: vec![on_mutations, on_intersect],
        },
    );
    scan(inner, root_id, &root);

    let me = Rc::clone(inner);
    let unmount = Closure::once_into_js(move || unmount_root(&me, root_id));
    Ok(unmount.unchecked_into())
}

/// Tracks `node` and its `[data-mxc]`/`[data-encrypted]` descendants.
fn scan(inner: &Rc<Inner>, root_id: u32, node: &Node) {
    let Some(el) = node.dyn_ref::<Element>() else {
        return;
    };
    if el.matches(SELECTOR).unwrap_or(false) {
        track(inner, root_id, el);
    }
    if let Ok(list) = el.query_selector_all(SELECTOR) {
        for i in 0..list.length() {
            if let Some(n) = list.item(i) {
                if let Ok(e) = n.dyn_into::<Element>() {
                    track(inner, root_id, &e);
                }
            }
        }
    }
}

fn track(inner: &Rc<Inner>, root_id: u32, el: &Element) {
    let existing = inner.mounts.borrow_mut().id_of(el);
    if existing.is_some() {
        return;
    }
    let t = tag(el);
    let id = {
        let mut m = inner.mounts.borrow_mut();
        let id = m.next();
        m.ids().set(el, &JsValue::from(id));
        id
    };
    let mut listeners: Vec<(&'static str, Listener)> = Vec::new();
    let loaded_event = match t.as_str() {
        "img" => Some("load"),
        "video" | "audio" => Some("loadedmetadata"),
        _ => None,
    };
    if let Some(ev) = loaded_event {
        let e2 = el.clone();
        listeners.push((
            ev,
            Closure::new(move |_e: JsValue| {
                if e2.has_attribute("src") {
                    set_state(&e2, "loaded", None);
                }
            }),
        ));
        let e3 = el.clone();
        listeners.push((
            "error",
            Closure::new(move |_e: JsValue| {
                let Some(src) = e3.get_attribute("src") else {
                    return;
                };
                if e3.get_attribute("data-authmedia-state").as_deref() == Some("evicted") {
                    return;
                }
                if src.starts_with("blob:") {
                    // The fallback's own verified blob did not decode.
                    set_state(&e3, "error", Some("load_failed"));
                    return;
                }
                // Served by the worker: it knows why (`not_found`, `hash_mismatch`…).
                let e4 = e3.clone();
                let url = absolute_src(&e3).unwrap_or_else(|| src.clone());
                spawn_local(async move {
                    let code = crate::worker::why(&url).await;
                    if e4.get_attribute("src").as_deref() == Some(src.as_str()) {
                        set_state(&e4, "error", Some(code));
                    }
                });
            }),
        ));
    }
    if t == "a" {
        let me = Rc::clone(inner);
        let e2 = el.clone();
        listeners.push((
            "click",
            Closure::new(move |ev: JsValue| {
                if let Some(ev) = ev.dyn_ref::<web_sys::Event>() {
                    ev.prevent_default();
                }
                let Some(mxc) = e2.get_attribute("data-mxc") else {
                    return;
                };
                let name = e2
                    .get_attribute("data-filename")
                    .or_else(|| e2.get_attribute("download"))
                    .filter(|s| !s.is_empty());
                let me = Rc::clone(&me);
                let e3 = e2.clone();
                spawn_local(async move {
                    let r = match parse_mxc(&mxc) {
                        Ok(m) => me.save_file(&m, name).await,
                        Err(e) => Err(e.into()),
                    };
                    if let Err(e) = r {
                        set_state(&e3, "error", code_of(&e).as_deref());
                        me.emit_error(&e, Some(&mxc));
                    }
                });
            }),
        ));
    }
    for (ev, l) in &listeners {
        let _ = el.add_event_listener_with_callback(ev, l.as_ref().unchecked_ref());
    }
    let rec = ElemRec {
        el: el.clone(),
        root: root_id,
        key: None,
        pinned: false,
        visible: false,
        loading: false,
        generation: 0,
        listeners,
    };
    let io = {
        let mut m = inner.mounts.borrow_mut();
        m.elems.insert(id, rec);
        m.roots.get(&root_id).and_then(|r| r.intersections.clone())
    };
    if is_lazy(&t) {
        if let Some(io) = io {
            io.observe(el);
        } else if let Some(r) = inner.mounts.borrow_mut().elems.get_mut(&id) {
            // No IntersectionObserver: treat everything as visible.
            r.visible = true;
        }
    }
    hydrate(inner, id);
}

/// Attributes that name *what* an element shows (not only its size): when one changes, the old
/// media must not stay on screen while the new one loads or fails.
const IDENTITY: [&str; 4] = [
    "data-mxc",
    "data-encrypted",
    "data-mimetype",
    "data-filename",
];

fn attribute_changed(inner: &Rc<Inner>, root_id: u32, el: &Element, attr: Option<&str>) {
    let id = inner.mounts.borrow_mut().id_of(el);
    match id {
        Some(id) if el.matches(SELECTOR).unwrap_or(false) => {
            release(inner, id);
            if attr.map_or(true, |a| IDENTITY.contains(&a)) {
                // A reused element (a virtual list's row) gets other media: the old picture goes
                // now, in both modes, not when (or if) the new one arrives.
                clear_media(el);
            }
            hydrate(inner, id);
        }
        Some(_) => untrack(inner, el),
        None => {
            if el.matches(SELECTOR).unwrap_or(false) {
                track(inner, root_id, el);
            }
        }
    }
}

/// Stops showing whatever `el` shows: no `src`, and a media element (or the parent of a
/// `source`) reloaded so its last frame goes too. No `error` event follows (no `src` left).
fn clear_media(el: &Element) {
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
fn release(inner: &Inner, id: u32) {
    let mut m = inner.mounts.borrow_mut();
    if let Some(r) = m.elems.get_mut(&id) {
        if r.pinned {
            if let Some(k) = &r.key {
                inner.blobs.borrow_mut().unpin(k);
            }
        }
        r.pinned = false;
        r.key = None;
    }
}

fn visibility_changed(inner: &Rc<Inner>, target: &Element, visible: bool) {
    let Some(id) = inner.mounts.borrow_mut().id_of(target) else {
        return;
    };
    let mut rehydrate = false;
    {
        let mut m = inner.mounts.borrow_mut();
        let Some(r) = m.elems.get_mut(&id) else {
            return;
        };
        r.visible = visible;
        match (&r.key, visible, r.pinned) {
            (Some(k), true, false) => {
                // Re-pin if the URL survived; otherwise it was evicted meanwhile: reload.
                if inner.blobs.borrow_mut().get(k, true).is_some() {
                    r.pinned = true;
                } else {
                    r.key = None;
                    rehydrate = true;
                }
            }
            (Some(k), false, true) => {
                inner.blobs.borrow_mut().unpin(k);
                r.pinned = false;
            }
            (None, true, _) => {
                // Waiting for its first view (`idle`) or cleared by an eviction (`evicted`);
                // not one already showing a URL (worker mode), loading, or failed for good.
                let state = r.el.get_attribute("data-authmedia-state");
                let needs = !r.loading
                    && !r.el.has_attribute("src")
                    && matches!(state.as_deref(), Some("idle") | Some("evicted") | None);
                rehydrate = needs;
            }
            _ => {}
        }
    }
    if rehydrate {
        hydrate(inner, id);
    }
}

/// Loads and shows the media of element `id` in the current mode.
fn hydrate(inner: &Rc<Inner>, id: u32) {
    let me = Rc::clone(inner);
    let (el, generation, visible) = {
        let mut m = inner.mounts.borrow_mut();
        let Some(r) = m.elems.get_mut(&id) else {
            return;
        };
        r.generation = r.generation.wrapping_add(1);
        (r.el.clone(), r.generation, r.visible)
    };
    let t = tag(&el);
    let Some((label, source)) = source_of(&el, &t) else {
        return;
    };
    let source = match source {
        Ok(Source::Link) => {
            set_state(&el, "loaded", None);
            return;
        }
        Ok(s) => s,
        Err(e) => {
            set_state(&el, "error", Some(e.code));
            inner.emit_error(&e.to_js(), label.as_deref());
            return;
        }
    };
    // Whether the URL will be an object URL: those wait until the element is in view.
    let blob = match &source {
        Source::Encrypted(..) => inner.mode.get() == Mode::Fallback,
        _ => inner.mode.get() == Mode::Fallback && inner.api.get().is_authenticated(),
    };
    if blob && is_lazy(&t) && !visible {
        if el.get_attribute("data-authmedia-state").is_none() {
            set_state(&el, "idle", None);
        }
        return;
    }
    if let Some(r) = inner.mounts.borrow_mut().elems.get_mut(&id) {
        r.loading = true;
    }
    set_state(&el, "loading", None);
    spawn_local(async move {
        let result = match &source {
            Source::Encrypted(file, mimetype) => {
                me.encrypted_src(file, mimetype.as_deref(), true).await
            }
            Source::Mxc(mxc, req) => me.src_for(mxc, req, blob).await,
            Source::Link => return,
        };
        let mut m = me.mounts.borrow_mut();
        let current = m.elems.get_mut(&id).filter(|r| r.generation == generation);
        let Some(r) = current else {
            // Untracked or re-hydrated meanwhile: give the pin back.
            if let Ok((_, Some(k))) = &result {
                me.blobs.borrow_mut().unpin(k);
            }
            return;
        };
        r.loading = false;
        match result {
            Ok((url, key)) => {
                r.pinned = key.is_some();
                r.key = key;
                if r.pinned && !r.visible && is_lazy(&t) {
                    if let Some(k) = &r.key {
                        me.blobs.borrow_mut().unpin(k);
                    }
                    r.pinned = false;
                }
                let el = r.el.clone();
                drop(m);
                if !url.starts_with("blob:") {
                    // Worker mode: load in CORS mode. Firefox refuses a worker's CORS answer to a
                    // no-cors <video> load, and Safari is reported to drop the worker's header on
                    // no-cors <img> loads (element-web #34790). The homeserver allows any origin.
                    let media_el = if t == "source" {
                        el.parent_element()
                    } else {
                        Some(el.clone())
                    };
                    if let Some(media_el) = media_el {
                        if !media_el.has_attribute("crossorigin") {
                            let _ = media_el.set_attribute("crossorigin", "anonymous");
                        }
                    }
                }
                let _ = el.set_attribute("src", &url);
                if t == "source" {
                    set_state(&el, "loaded", None);
                    if let Some(parent) = el.parent_element() {
                        if let Some(media) = parent.dyn_ref::<web_sys::HtmlMediaElement>() {
                            media.load();
                        }
                    }
                }
            }
            Err(e) => {
                let el = r.el.clone();
                drop(m);
                // A failed element shows nothing, never the media of an earlier load.
                clear_media(&el);
                let code = code_of(&e).unwrap_or_else(|| "network".to_owned());
                let too_large = code == "over_budget"
                    && get_string(&e, "reason").as_deref() == Some("exceeds_budget");
                if too_large {
                    set_state(&el, "too-large", Some("over_budget"));
                } else {
                    set_state(&el, "error", Some(&code));
                }
                me.emit_error(&e, label.as_deref());
            }
        }
    });
}

/// Loads again every mounted element in `error` for a reason that may pass
/// (`ClientCode::is_retryable`: network, timeout, rate limited, server error, not yet uploaded,
/// unknown); returns how many.
///
/// Worker mode: the element's `src` is removed and set again (the worker answers errors with
/// `Cache-Control: no-store`, so the browser sends the request again). Fallback: a new fetch,
/// when the element is in view (an element out of view goes back to `idle` and loads when seen).
pub fn retry_failed(inner: &Rc<Inner>) -> u32 {
    reload(inner, Some(&|code| code.is_retryable()))
}

/// Loads again every mounted element in `error` for one of `codes` (as [`retry_failed`] does);
/// returns how many. `setAccessToken` uses it for `unauthorized` after a new token.
pub fn reload_failed(inner: &Rc<Inner>, codes: &[ClientCode]) -> u32 {
    reload(inner, Some(&|code| codes.contains(&code)))
}

/// Loads every mounted element again in the current mode (the mode changed under them).
pub fn reload_all(inner: &Rc<Inner>) -> u32 {
    reload(inner, None)
}

/// Loads again the mounted elements in `error` whose code `wanted` accepts (an element without
/// a known code counts as `network`), or all of them (`None`).
fn reload(inner: &Rc<Inner>, wanted: Option<&dyn Fn(ClientCode) -> bool>) -> u32 {
    if inner.logged_out.get() {
        return 0;
    }
    let failed: Vec<(u32, Element)> = inner
        .mounts
        .borrow()
        .elems
        .iter()
        .filter(|(_, r)| wanted.is_none() || !r.loading && tag(&r.el) != "a")
        .filter(|(_, r)| {
            let Some(wanted) = wanted else { return true };
            let code =
                r.el.get_attribute("data-authmedia-error")
                    .and_then(|c| c.parse::<ClientCode>().ok())
                    .unwrap_or(ClientCode::Network);
            r.el.get_attribute("data-authmedia-state").as_deref() == Some("error") && wanted(code)
        })
        .map(|(id, r)| (*id, r.el.clone()))
        .collect();
    for (id, el) in &failed {
        release(inner, *id);
        // A fresh load: without the old `src` the browser cannot treat the new one as unchanged.
        let _ = el.remove_attribute("src");
        set_state(el, "idle", None);
        hydrate(inner, *id);
    }
    u32::try_from(failed.len()).unwrap_or(u32::MAX)
}

/// Runs [`retry_failed`] whenever the browser comes back online (the window's `online` event).
pub fn retry_when_online(inner: &Rc<Inner>) {
    let Ok(w) = window() else { return };
    let weak: Weak<Inner> = Rc::downgrade(inner);
    let on_online = Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
        if let Some(me) = weak.upgrade() {
            retry_failed(&me);
        }
    });
    inner.on(&w, "online", on_online);
}

/// Called by the fallback when `key`'s object URL was evicted (and revoked).
pub fn evicted(inner: &Inner, key: &str, _url: &str) {
    let m = inner.mounts.borrow();
    for r in m.elems.values() {
        if r.key.as_deref() == Some(key) {
            // Unpinned by construction (the LRU never evicts pinned URLs): out of view.
            let _ = r.el.remove_attribute("src");
            set_state(&r.el, "evicted", None);
        }
    }
    drop(m);
    let mut m = inner.mounts.borrow_mut();
    for r in m.elems.values_mut() {
        if r.key.as_deref() == Some(key) {
            r.key = None;
            r.pinned = false;
        }
    }
}

fn untrack(inner: &Inner, el: &Element) {
    let Some(id) = inner.mounts.borrow_mut().id_of(el) else {
        return;
    };
    untrack_id(inner, id);
}

fn untrack_id(inner: &Inner, id: u32) {
    release(inner, id);
    let mut m = inner.mounts.borrow_mut();
    let Some(r) = m.elems.remove(&id) else { return };
    m.ids().delete(&r.el);
    if let Some(io) = m
        .roots
        .get(&r.root)
        .and_then(|root| root.intersections.as_ref())
    {
        io.unobserve(&r.el);
    }
    for (ev, l) in &r.listeners {
        let _ =
            r.el.remove_event_listener_with_callback(ev, l.as_ref().unchecked_ref());
    }
}

/// Untracks every tracked element that is `node` or inside it.
fn untrack_under(inner: &Inner, node: &Node) {
    let ids: Vec<u32> = inner
        .mounts
        .borrow()
        .elems
        .iter()
        .filter(|(_, r)| node.contains(Some(r.el.as_ref())))
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        untrack_id(inner, id);
    }
}

fn unmount_root(inner: &Inner, root_id: u32) {
    let ids: Vec<u32> = inner
        .mounts
        .borrow()
        .elems
        .iter()
        .filter(|(_, r)| r.root == root_id)
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        untrack_id(inner, id);
    }
    let root = inner.mounts.borrow_mut().roots.remove(&root_id);
    if let Some(r) = root {
        r.mutations.disconnect();
        if let Some(io) = r.intersections {
            io.disconnect();
        }
        let _ = &r.el;
    }
}

/// Unmounts every root and clears the elements' media (logout).
pub fn unmount_all(inner: &Inner) {
    let els: Vec<Element> = inner
        .mounts
        .borrow()
        .elems
        .values()
        .map(|r| r.el.clone())
        .collect();
    let roots: Vec<u32> = inner.mounts.borrow().roots.keys().copied().collect();
    for id in roots {
        unmount_root(inner, id);
    }
    for el in els {
        let _ = el.remove_attribute("src");
        set_state(&el, "error", Some("logged_out"));
    }
}
