//! Worker mode: registration, the session handoff, logout and resume (PROTOCOL.md; the asking side
//! is `channel.rs`, the tab's holders of the session and the page's one listener of the worker's
//! messages are `dispatch.rs`).
//!
//! Mode detection: the fallback is used when the worker cannot serve this page — no
//! `navigator.serviceWorker` (disabled by pref/policy, hardened browsers), an insecure
//! context, a failed registration, a worker that never activates, `fallback: 'force'` — and
//! while the page is not controlled (first load, hard reload). In the last case the page asks
//! the worker to claim it (`authmedia:claim`) and switches to worker mode on `controllerchange`.

use authmedia_js::protocol;
use std::rc::Rc;

use authmedia_core::WORKER_PROTOCOL;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::ServiceWorkerRegistration;

use crate::channel::{ask, container, message, speaks_protocol, ANSWER_TIMEOUT_MS, VERSION};
use crate::diagnose::{facts, out_of_scope, registration_failed};
use crate::dispatch::{detach, hold, holds, listen, release, take_holders};
use crate::error::{describe, WebError};
use crate::hydrate::reload_all;
use crate::inner::Inner;
use crate::options::{FallbackPref, Options};
use crate::util::{deferred, get, get_string, mark, set, spawn, with_timeout};

/// With `fallback: 'never'`, how long `init` waits for the worker to claim the page.
const CLAIM_TIMEOUT_MS: i32 = 5_000;

/// The facts of `worker_outdated`: the worker's and the page's version and protocol.
fn outdated(url: &str, answer: &JsValue) -> JsValue {
    let d = facts("worker_outdated", Some(url));
    set(&d, "workerVersion", &get(answer, "version"));
    set(&d, "workerProtocol", &get(answer, "protocol"));
    set(&d, "pageVersion", &JsValue::from_str(VERSION));
    set(&d, "pageProtocol", &JsValue::from(WORKER_PROTOCOL));
    d
}

/// Starts registering the worker first thing in `init`, before the instance is built and
/// `/versions` is asked, so that its install (fetching and compiling its script and wasm)
/// overlaps all of that instead of following it: the `register()` promise, which
/// [`Inner::start_worker`] then awaits. `None` when no worker will be tried (that function then
/// says why). The page's message listener goes first, as in `start_worker`: a worker that takes
/// control meanwhile and asks for the session is answered.
pub fn register_early(opts: &Options) -> Option<Promise> {
    if opts.fallback == FallbackPref::Force {
        return None;
    }
    let url = opts.worker_url.as_deref()?;
    let c = container().ok()?;
    listen(&c);
    let registered = c.register(url);
    // `start_worker` reads a rejection; when the negotiation fails first nobody does, and that
    // is not an unhandled rejection.
    let ignore = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
    let _ = registered.catch(&ignore);
    ignore.forget();
    Some(registered)
}

impl Inner {
    /// Registers the worker (or takes the promise of [`register_early`]), hands it the
    /// session and picks the mode.
    pub async fn start_worker(self: &Rc<Self>, early: Option<Promise>) -> Result<(), JsValue> {
        if self.opts.fallback == FallbackPref::Force {
            self.mode.set_reason("forced");
            return Ok(());
        }
        let never = self.opts.fallback == FallbackPref::Never;
        // The facts go with the reason (`diagnose.rs`): to `fallbackDetail`, and with
        // `fallback: 'never'` onto the rejection as its `detail`; the loader words them.
        let no_worker = |reason: &str, detail: JsValue| -> Result<(), JsValue> {
            self.mode.fall_back(reason, &detail);
            if never {
                let e = WebError::new(
                    "no_worker",
                    format!(
                        "no service worker can serve this page ({reason}) and fallback is 'never'"
                    ),
                )
                .to_js();
                set(&e, "detail", &detail);
                return Err(e);
            }
            Ok(())
        };
        let Some(url) = self.opts.worker_url.clone() else {
            return no_worker("no_worker_url", facts("no_worker_url", None));
        };
        let why = |reason: &str| facts(reason, Some(&url));
        let c = match container() {
            Ok(c) => c,
            Err(reason) => return no_worker(&reason, why(&reason)),
        };
        // Installed once per page (a no-op after `register_early`).
        listen(&c);
        // Listen before registering: the worker claims clients when it activates, and that
        // `controllerchange` may fire before `ready` resolves. Every (new) controller gets the
        // session, then the page switches to worker mode.
        let (claimed, claimed_resolve) = deferred();
        let me = Rc::clone(self);
        let on_change = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
            let me = Rc::clone(&me);
            let done = claimed_resolve.clone();
            spawn(Box::pin(async move {
                let Ok(c) = container() else { return };
                let Some(ctrl) = c.controller() else { return };
                // An instance whose session a sibling's logout ended hands it over again only
                // through `setAccessToken`.
                if me.session.ended() || !holds(&me) {
                    return;
                }
                // The worker `init` handed the session to, claiming the page (a first load),
                // holds it already (or is about to answer that handoff): not sent twice.
                let answer = me
                    .session
                    .link
                    .hand_over(&ctrl, me.session.handoff_message())
                    .await;
                match answer {
                    Some(a) if speaks_protocol(&a) => {
                        hold(&me);
                        me.mode.set_worker_ready(true);
                        me.update_mode();
                        let _ = done.call0(&JsValue::UNDEFINED);
                    }
                    // Another release's worker took control: it keeps no session, and the page
                    // stays in the fallback (`worker_outdated` when it was the one found at init).
                    Some(_) => {
                        let _ = ask(&ctrl, &message(protocol::LOGOUT), ANSWER_TIMEOUT_MS).await;
                    }
                    None => {}
                }
            }));
        });
        self.events().on(&c, "controllerchange", on_change);
        // Registered early: a `controllerchange` that fired before the listener above is caught
        // by the controller check after the session handoff below.
        let registered = JsFuture::from(early.unwrap_or_else(|| c.register(&url))).await;
        match registered {
            Err(e) => {
                let detail = registration_failed(&url, &e);
                self.events().emit_error(
                    &WebError::new(
                        "network",
                        format!("service worker registration failed: {}", describe(&e)),
                    )
                    .with_cause(e)
                    .to_js(),
                    None,
                );
                return no_worker("registration_failed", detail);
            }
            Ok(reg) => {
                if let Ok(reg) = reg.dyn_into::<ServiceWorkerRegistration>() {
                    // Registered, but for a scope above which this page lies: never controlled.
                    if let Some(detail) = out_of_scope(&url, &reg.scope()) {
                        return no_worker("out_of_scope", detail);
                    }
                    self.hand_over_early(&reg);
                }
            }
        }
        let Some(Ok(reg)) = with_timeout(
            c.ready()
                .unwrap_or_else(|_| Promise::resolve(&JsValue::NULL)),
            self.opts.ready_timeout_ms,
        )
        .await
        else {
            return no_worker("worker_not_ready", why("worker_not_ready"));
        };
        let reg = reg.dyn_into::<ServiceWorkerRegistration>().ok();
        self.session.link.set_registration(reg.clone());
        let Some(active) = reg.and_then(|r| r.active()) else {
            return no_worker("worker_not_ready", why("worker_not_ready"));
        };
        mark(self.opts.marks, "authmedia:session-sent");
        let mut answer = self
            .session
            .link
            .hand_over(&active, self.session.handoff_message())
            .await;
        if answer
            .as_ref()
            .is_some_and(|a| get(a, "ok").as_bool() == Some(false))
        {
            // A worker whose wasm did not load refuses, and loads it anew for its next message
            // (a brief outage of the wasm's URL while the worker started): asked once more before
            // the page settles on the fallback for its whole life.
            answer = self
                .session
                .link
                .hand_over(&active, self.session.handoff_message())
                .await;
        }
        mark(self.opts.marks, "authmedia:session-acked");
        match answer {
            None => return no_worker("worker_silent", why("worker_silent")),
            // A refusal first: an error answer (its wasm did not load, say) carries no protocol,
            // and is not an old release's acceptance. The worker's words go into the facts.
            Some(a) if get(&a, "ok").as_bool() == Some(false) => {
                let d = why("worker_refused_session");
                if let Some(e) = get_string(&a, "error") {
                    set(&d, "error", &JsValue::from_str(&e));
                }
                return no_worker("worker_refused_session", d);
            }
            Some(a) if !speaks_protocol(&a) => {
                // Another release's worker (an old copy left on the site) holds the session now:
                // take it back, it will not serve this page.
                let _ = ask(&active, &message(protocol::LOGOUT), ANSWER_TIMEOUT_MS).await;
                return no_worker("worker_outdated", outdated(&url, &a));
            }
            Some(a) if get(&a, "ok").as_bool() != Some(true) => {
                return no_worker("worker_refused_session", why("worker_refused_session"))
            }
            Some(_) => hold(self),
        }
        if c.controller().is_none() && get_string(&active, "state").as_deref() == Some("activating")
        {
            // A first install, whose answer came early (`hand_over_early`): the worker claims
            // the page as it activates (the drop-in worker does, in its `activate` handler).
            // Wait for that claim — or the end of the activation, for a worker that does not
            // claim — rather than resolve in the fallback a moment before it.
            // The deferred's own resolve is the listener (the event it is called with settles
            // `left`, whose value nobody reads): no Rust closure to compile for it.
            let (left, resolve) = deferred();
            let _ = active.add_event_listener_with_callback("statechange", &resolve);
            let either = Promise::race(&Array::of2(&claimed, &left));
            let _ = with_timeout(either, ANSWER_TIMEOUT_MS).await;
            let _ = active.remove_event_listener_with_callback("statechange", &resolve);
        }
        if let Some(ctrl) = c.controller() {
            if ctrl != active {
                let _ = ask(&ctrl, &self.session.handoff_message(), ANSWER_TIMEOUT_MS).await;
            }
            self.mode.set_worker_ready(true);
        } else {
            self.mode.set_reason("uncontrolled");
        }
        if !self.mode.worker_ready() {
            // Uncontrolled (first load before the claim, hard reload): serve from the fallback
            // now; the `controllerchange` listener switches to worker mode once claimed.
            if never {
                let _ = ask(&active, &message(protocol::CLAIM), ANSWER_TIMEOUT_MS).await;
                if with_timeout(claimed, CLAIM_TIMEOUT_MS).await.is_none() {
                    return Err(WebError::new(
                        "no_worker",
                        "the service worker did not take control of this page and fallback is 'never'",
                    )
                    .into());
                }
            } else {
                spawn(Box::pin(async move {
                    let _ = ask(&active, &message(protocol::CLAIM), ANSWER_TIMEOUT_MS).await;
                }));
            }
        }
        Ok(())
    }

    /// A first install (no active worker yet): hands the session to the installing worker now,
    /// without waiting. It answers as soon as its wasm is ready — while it finishes installing,
    /// activates and claims the page — and the handoff to the active worker below (and on
    /// `controllerchange`) is then that answer, instead of a message sent only after activation.
    ///
    /// Not with `fallback: 'never'`, where `init` may still fail (and then hands nothing over).
    /// The registration is recorded now, so that a `logout()` before the worker activates
    /// reaches the worker that holds the session.
    fn hand_over_early(self: &Rc<Self>, reg: &ServiceWorkerRegistration) {
        if reg.active().is_some() || self.opts.fallback == FallbackPref::Never {
            return;
        }
        let Some(worker) = reg.installing().or_else(|| reg.waiting()) else {
            return;
        };
        self.session.link.set_registration(Some(reg.clone()));
        mark(self.opts.marks, "authmedia:session-sent-early");
        let me = Rc::clone(self);
        spawn(Box::pin(async move {
            let _ = me
                .session
                .link
                .hand_over(&worker, me.session.handoff_message())
                .await;
        }));
    }
    /// Logout: the worker purges, object URLs are revoked, elements are cleared. The worker
    /// ends the session of the tab, so sibling instances that relied on it go to the fallback.
    pub async fn logout(self: &Rc<Self>) {
        let siblings = take_holders();
        detach(self);
        self.session.link.logout().await;
        for s in siblings {
            // Also one whose init handed its session over meanwhile: that message may have
            // reached the worker before the logout did.
            release(&s);
            if !s.session.ended() {
                s.mode.set_worker_ready(false);
                // No facts: `fallbackDetail` is `{reason}` (see `AuthMedia::fallback_detail`).
                s.mode.fall_back("session_ended", &JsValue::UNDEFINED);
                s.update_mode();
                reload_all(&s.mounter());
            }
        }
    }

    /// After a sibling's logout: hands the worker this instance's session again (worker mode
    /// when it controls the page and speaks this protocol).
    pub async fn resume(self: &Rc<Self>) {
        hold(self);
        let Some(ctrl) = container().ok().and_then(|c| c.controller()) else {
            return;
        };
        let answer = ask(&ctrl, &self.session.handoff_message(), ANSWER_TIMEOUT_MS).await;
        if answer.is_some_and(|a| speaks_protocol(&a)) {
            self.mode.set_worker_ready(true);
            self.update_mode();
            reload_all(&self.mounter());
        }
    }
}
