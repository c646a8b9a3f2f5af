//! Loading what a mounted element shows, in the current mode (`hydrate`), and loading failed
//! or all elements again (`retryFailed()`, a new token, a mode change).

use std::rc::Rc;

use authmedia_core::ClientCode;
use wasm_bindgen::JsCast;
use web_sys::Element;

use crate::element::{clear_media, is_lazy, release, set_state, source_of, tag, Mounter};
use crate::error::code_of;
use crate::source::{MediaSource, Source};
use crate::util::{get_string, spawn};

/// Loads and shows the media of element `id` in the current mode.
pub fn hydrate<S: MediaSource>(m: &Mounter<S>, id: u32) {
    let me = m.clone();
    let (el, generation, visible) = {
        let mut m = m.state().borrow_mut();
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
            m.source.report(&e.to_js(), label.as_deref());
            return;
        }
    };
    // Whether the URL will be an object URL: those wait until the element is in view.
    let blob = m.source.object_url(&source);
    // Encrypted attachments are pinned whenever they are object URLs (`load` decides).
    let pin = matches!(source, Source::Encrypted(..)) || blob;
    if blob && is_lazy(&t) && !visible {
        if el.get_attribute("data-authmedia-state").is_none() {
            set_state(&el, "idle", None);
        }
        return;
    }
    if let Some(r) = m.state().borrow_mut().elems.get_mut(&id) {
        r.loading = true;
    }
    set_state(&el, "loading", None);
    spawn(Box::pin(async move {
        if matches!(source, Source::Link) {
            return;
        }
        let result = Rc::clone(&me.source).load(&source, pin).await;
        let mut m = me.state().borrow_mut();
        let current = m.elems.get_mut(&id).filter(|r| r.generation == generation);
        let Some(r) = current else {
            // Untracked or re-hydrated meanwhile: give the pin back.
            if let Ok((_, Some(k))) = &result {
                me.source.unpin(k);
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
                        me.source.unpin(k);
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
                me.source.report(&e, label.as_deref());
            }
        }
    }));
}

/// Loads again every mounted element in `error` for a reason that may pass
/// (`ClientCode::is_retryable`: network, timeout, rate limited, server error, not yet uploaded,
/// unknown); returns how many.
///
/// Worker mode: the element's `src` is removed and set again (the worker answers errors with
/// `Cache-Control: no-store`, so the browser sends the request again). Fallback: a new fetch,
/// when the element is in view (an element out of view goes back to `idle` and loads when seen).
pub fn retry_failed<S: MediaSource>(m: &Mounter<S>) -> u32 {
    reload(m, Some(&|code| code.is_retryable()))
}

/// Loads again every mounted element in `error` for one of `codes` (as [`retry_failed`] does);
/// returns how many. `setAccessToken` uses it for `unauthorized` after a new token.
pub fn reload_failed<S: MediaSource>(m: &Mounter<S>, codes: &[ClientCode]) -> u32 {
    reload(m, Some(&|code| codes.contains(&code)))
}

/// Loads every mounted element again in the current mode (the mode changed under them).
pub fn reload_all<S: MediaSource>(m: &Mounter<S>) -> u32 {
    reload(m, None)
}

/// Loads again the mounted elements in `error` whose code `wanted` accepts (an element without
/// a known code counts as `network`), or all of them (`None`).
fn reload<S: MediaSource>(m: &Mounter<S>, wanted: Option<&dyn Fn(ClientCode) -> bool>) -> u32 {
    if m.source.ended() {
        return 0;
    }
    let failed: Vec<(u32, Element)> = m
        .state()
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
        release(m, *id);
        // A fresh load: without the old `src` the browser cannot treat the new one as unchanged.
        let _ = el.remove_attribute("src");
        set_state(el, "idle", None);
        hydrate(m, *id);
    }
    u32::try_from(failed.len()).unwrap_or(u32::MAX)
}
