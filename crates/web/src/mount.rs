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
//! the worker why (`authmedia:why`, [`crate::channel::why`]), so `data-authmedia-error` carries
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

use std::rc::Rc;

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    Element, IntersectionObserver, IntersectionObserverEntry, IntersectionObserverInit,
    MutationObserver, MutationObserverInit, MutationRecord, Node,
};

use crate::args::parse_mxc;
use crate::cache::Evicted;
use crate::channel::why;
use crate::element::{absolute_src, clear_media, is_lazy, release, set_state, tag, Mounter};
use crate::error::code_of;
use crate::hydrate::hydrate;
use crate::records::{ElemRec, Listener, RootRec};
use crate::session::logged_out;
use crate::source::MediaSource;
use crate::util::spawn;

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

/// Mounts `root`; the returned function unmounts it.
pub fn mount<S: MediaSource>(m: &Mounter<S>, root: Element) -> Result<Function, JsValue> {
    if m.source.ended() {
        return Err(logged_out().into());
    }
    let root_id = m.state().borrow_mut().next();
    let me = m.clone();
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

    let me = m.clone();
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

    m.state().borrow_mut().roots.push((
        root_id,
        RootRec {
            el: root.clone(),
            mutations,
            intersections,
            _closures: vec![on_mutations, on_intersect],
        },
    ));
    scan(m, root_id, &root);

    let me = m.clone();
    let unmount = Closure::once_into_js(move || unmount_root(&me, root_id));
    Ok(unmount.unchecked_into())
}

/// Tracks `node` and its `[data-mxc]`/`[data-encrypted]` descendants.
fn scan<S: MediaSource>(m: &Mounter<S>, root_id: u32, node: &Node) {
    let Some(el) = node.dyn_ref::<Element>() else {
        return;
    };
    if el.matches(SELECTOR).unwrap_or(false) {
        track(m, root_id, el);
    }
    if let Ok(list) = el.query_selector_all(SELECTOR) {
        for i in 0..list.length() {
            if let Some(n) = list.item(i) {
                if let Ok(e) = n.dyn_into::<Element>() {
                    track(m, root_id, &e);
                }
            }
        }
    }
}

fn track<S: MediaSource>(m: &Mounter<S>, root_id: u32, el: &Element) {
    let existing = m.state().borrow_mut().id_of(el);
    if existing.is_some() {
        return;
    }
    let t = tag(el);
    let id = {
        let mut m = m.state().borrow_mut();
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
                spawn(Box::pin(async move {
                    let code = why(&url).await;
                    if e4.get_attribute("src").as_deref() == Some(src.as_str()) {
                        set_state(&e4, "error", Some(code));
                    }
                }));
            }),
        ));
    }
    if t == "a" {
        let me = m.clone();
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
                let me = me.clone();
                let e3 = e2.clone();
                spawn(Box::pin(async move {
                    let r = match parse_mxc(&mxc) {
                        Ok(mxc) => Rc::clone(&me.source).save(mxc, name).await,
                        Err(e) => Err(e.into()),
                    };
                    if let Err(e) = r {
                        set_state(&e3, "error", code_of(&e).as_deref());
                        me.source.report(&e, Some(&mxc));
                    }
                }));
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
        let mut m = m.state().borrow_mut();
        m.elems.insert(id, rec);
        m.root(root_id).and_then(|r| r.intersections.clone())
    };
    if is_lazy(&t) {
        if let Some(io) = io {
            io.observe(el);
        } else if let Some(r) = m.state().borrow_mut().elems.get_mut(&id) {
            // No IntersectionObserver: treat everything as visible.
            r.visible = true;
        }
    }
    hydrate(m, id);
}

/// Attributes that name *what* an element shows (not only its size): when one changes, the old
/// media must not stay on screen while the new one loads or fails.
const IDENTITY: [&str; 4] = [
    "data-mxc",
    "data-encrypted",
    "data-mimetype",
    "data-filename",
];

fn attribute_changed<S: MediaSource>(
    m: &Mounter<S>,
    root_id: u32,
    el: &Element,
    attr: Option<&str>,
) {
    let id = m.state().borrow_mut().id_of(el);
    match id {
        Some(id) if el.matches(SELECTOR).unwrap_or(false) => {
            release(m, id);
            if attr.map_or(true, |a| IDENTITY.contains(&a)) {
                // A reused element (a virtual list's row) gets other media: the old picture goes
                // now, in both modes, not when (or if) the new one arrives.
                clear_media(el);
            }
            hydrate(m, id);
        }
        Some(_) => untrack(m, el),
        None => {
            if el.matches(SELECTOR).unwrap_or(false) {
                track(m, root_id, el);
            }
        }
    }
}

fn visibility_changed<S: MediaSource>(m: &Mounter<S>, target: &Element, visible: bool) {
    let Some(id) = m.state().borrow_mut().id_of(target) else {
        return;
    };
    let mut rehydrate = false;
    {
        let mut state = m.state().borrow_mut();
        let Some(r) = state.elems.get_mut(&id) else {
            return;
        };
        r.visible = visible;
        match (&r.key, visible, r.pinned) {
            (Some(k), true, false) => {
                // Re-pin if the URL survived; otherwise it was evicted meanwhile: reload.
                if m.source.repin(k) {
                    r.pinned = true;
                } else {
                    r.key = None;
                    rehydrate = true;
                }
            }
            (Some(k), false, true) => {
                m.source.unpin(k);
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
        hydrate(m, id);
    }
}

/// Clears the elements that showed what the fallback's LRU evicted (and revoked): they reload
/// when they come into view again.
pub fn evicted<S: MediaSource>(m: &Mounter<S>, evicted: &Evicted) {
    let mut state = m.state().borrow_mut();
    for r in state.elems.values_mut() {
        let Some(key) = r.key.as_deref() else {
            continue;
        };
        if evicted.iter().any(|(k, _)| k == key) {
            // Unpinned by construction (the LRU never evicts pinned URLs): out of view.
            let _ = r.el.remove_attribute("src");
            set_state(&r.el, "evicted", None);
            r.key = None;
            r.pinned = false;
        }
    }
}

fn untrack<S: MediaSource>(m: &Mounter<S>, el: &Element) {
    let Some(id) = m.state().borrow_mut().id_of(el) else {
        return;
    };
    untrack_id(m, id);
}

fn untrack_id<S: MediaSource>(m: &Mounter<S>, id: u32) {
    release(m, id);
    let mut m = m.state().borrow_mut();
    let Some(r) = m.elems.remove(&id) else { return };
    m.ids().delete(&r.el);
    if let Some(io) = m.root(r.root).and_then(|root| root.intersections.as_ref()) {
        io.unobserve(&r.el);
    }
    for (ev, l) in &r.listeners {
        let _ =
            r.el.remove_event_listener_with_callback(ev, l.as_ref().unchecked_ref());
    }
}

/// Untracks every tracked element that is `node` or inside it.
fn untrack_under<S: MediaSource>(m: &Mounter<S>, node: &Node) {
    let ids = m
        .state()
        .borrow()
        .elems
        .ids_where(|r| node.contains(Some(r.el.as_ref())));
    for id in ids {
        untrack_id(m, id);
    }
}

fn unmount_root<S: MediaSource>(m: &Mounter<S>, root_id: u32) {
    let ids = m.state().borrow().elems.ids_where(|r| r.root == root_id);
    for id in ids {
        untrack_id(m, id);
    }
    let root = {
        let mut state = m.state().borrow_mut();
        let at = state.roots.iter().position(|(i, _)| *i == root_id);
        at.map(|i| state.roots.swap_remove(i).1)
    };
    if let Some(r) = root {
        r.mutations.disconnect();
        if let Some(io) = r.intersections {
            io.disconnect();
        }
        let _ = &r.el;
    }
}

/// Unmounts every root and clears the elements' media (logout).
pub fn unmount_all<S: MediaSource>(m: &Mounter<S>) {
    let els: Vec<Element> = m
        .state()
        .borrow()
        .elems
        .values()
        .map(|r| r.el.clone())
        .collect();
    let roots: Vec<u32> = m.state().borrow().roots.iter().map(|(i, _)| *i).collect();
    for id in roots {
        unmount_root(m, id);
    }
    for el in els {
        let _ = el.remove_attribute("src");
        set_state(&el, "error", Some("logged_out"));
    }
}
