//! Worker mode: registration, the session handoff, the instances of a tab that hold it, and the
//! one dispatcher of the worker's messages to the page (ARCHITECTURE.md § "Page ↔ worker message
//! protocol"; the asking side is `channel.rs`).
//!
//! Mode detection: the fallback is used when the worker cannot serve this page — no
//! `navigator.serviceWorker` (disabled by pref/policy, hardened browsers), an insecure
//! context, a failed registration, a worker that never activates, `fallback: 'force'` — and
//! while the page is not controlled (first load, hard reload). In the last case the page asks
//! the worker to claim it (`authmedia:claim`) and switches to worker mode on `controllerchange`.

use authmedia_js::protocol;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use authmedia_core::WORKER_PROTOCOL;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{MessageEvent, ServiceWorkerContainer, ServiceWorkerRegistration};

use crate::channel::{
    ask, container, message, speaks_protocol, start_messages, ANSWER_TIMEOUT_MS, VERSION,
};
use crate::diagnose::{facts, out_of_scope, registration_failed};
use crate::error::{describe, WebError};
use crate::hydrate::reload_all;
use crate::inner::Inner;
use crate::options::{FallbackPref, Options};
use crate::util::{deferred, get, get_string, mark, object, set, with_timeout};

/// With `fallback: 'never'`, how long `init` waits for the worker to claim the page.
const CLAIM_TIMEOUT_MS: i32 = 5_000;

thread_local! {
    /// The instances of this tab whose session the worker holds — the worker keeps one session
    /// per tab (client id), not per instance — in the order they handed it over. The last live
    /// one alone answers the worker's questions, so it never hears two tokens; a logout ends the
    /// tab's session for all of them. Strong references: an instance lives until its `dispose()`
    /// or `logout()` anyway (its browser listeners hold it), and a failed `init` detaches it.
    static HOLDERS: RefCell<Vec<Rc<Inner>>> = const { RefCell::new(Vec::new()) };
    /// Whether [`answer_when_no_instance`] installed its listener on this page.
    static TAB_ANSWERS: Cell<bool> = const { Cell::new(false) };
}

/// Records `inner` as the latest instance to hand the worker its session.
pub fn hold(inner: &Rc<Inner>) {
    release(inner);
    HOLDERS.with(|h| h.borrow_mut().push(Rc::clone(inner)));
}

/// Forgets `inner`.
pub fn release(inner: &Inner) {
    HOLDERS.with(|h| h.borrow_mut().retain(|i| !std::ptr::eq(&**i, inner)));
}

/// Whether the worker holds `inner`'s session.
pub fn holds(inner: &Inner) -> bool {
    HOLDERS.with(|h| h.borrow().iter().any(|i| std::ptr::eq(&**i, inner)))
}

/// Whether another instance answers the worker's questions for this tab: the last live holder
/// does. With no holder, every instance answers "none".
fn other_answers(inner: &Inner) -> bool {
    HOLDERS.with(|h| {
        h.borrow()
            .iter()
            .rev()
            .find(|i| !i.session.ended())
            .is_some_and(|i| !std::ptr::eq(&**i, inner))
    })
}

/// Installs, once per page, the tab's answer to `need-token` while no live instance holds the
/// tab's session: every instance disposed, the worker still holds it (see `dispose()`), and the
/// tab's media requests still get 401s; a question nobody answers holds such a request for the
/// worker's whole wait for a token refresh (its fetch timeout). The answer is "no token" (nothing
/// secret, to whichever worker asks); while a live holder exists it alone answers.
fn answer_when_no_instance(c: &ServiceWorkerContainer) {
    if TAB_ANSWERS.with(|t| t.replace(true)) {
        return;
    }
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let Ok(ev) = ev.dyn_into::<MessageEvent>() else {
            return;
        };
        let live_holder = HOLDERS.with(|h| h.borrow().iter().any(|i| !i.session.ended()));
        if live_holder || get_string(&ev.data(), "type").as_deref() != Some(protocol::NEED_TOKEN) {
            return;
        }
        if let Ok(port) = ev.ports().get(0).dyn_into::<web_sys::MessagePort>() {
            let answer = object();
            set(&answer, "accessToken", &JsValue::NULL);
            let _ = port.post_message(&answer);
        }
    });
    let _ = c.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
    // One listener for the page's lifetime.
    on_message.forget();
}

/// Ends `inner` on the page ([`Inner::detach`]) and forgets it as a holder of the tab's session;
/// the worker is not told (`dispose()`, a failed `init`).
pub fn detach(inner: &Rc<Inner>) {
    inner.detach();
    release(inner);
}

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
/// overlaps all of that instead of following it: the container and the `register()` promise
/// (see [`Inner::registered_early`]). `None` when no worker will be tried (`start_worker` then
/// says why).
pub fn register_early(opts: &Options) -> Option<(ServiceWorkerContainer, Promise)> {
    if opts.fallback == FallbackPref::Force {
        return None;
    }
    let url = opts.worker_url.as_deref()?;
    let c = container().ok()?;
    let registered = c.register(url);
    // `start_worker` reads a rejection; when the negotiation fails first nobody does, and that
    // is not an unhandled rejection.
    let ignore = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
    let _ = registered.catch(&ignore);
    ignore.forget();
    Some((c, registered))
}

impl Inner {
    fn session_message(&self, kind: &str) -> JsValue {
        let m = message(kind);
        let s = object();
        let session = &self.session;
        set(&s, "homeserver", &JsValue::from_str(session.hs.base()));
        set(
            &s,
            "accessToken",
            &session
                .current_token()
                .map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
        );
        set(&s, "userId", &JsValue::from_str(&session.user_id));
        set(&m, "session", &s);
        set(&m, "api", &JsValue::from_str(session.api().as_str()));
        set(&m, "protocol", &JsValue::from(WORKER_PROTOCOL));
        set(&m, "version", &JsValue::from_str(VERSION));
        m
    }

    /// Takes the registration [`register_early`] started: the page's message listener goes on
    /// now, in the same task as `register()`, so a worker that takes control and asks for the
    /// session is answered. Returns the `register()` promise, which [`Self::start_worker`] awaits.
    pub fn registered_early(
        self: &Rc<Self>,
        early: Option<(ServiceWorkerContainer, Promise)>,
    ) -> Option<Promise> {
        let (c, registered) = early?;
        self.listen(&c);
        Some(registered)
    }

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
        if early.is_none() {
            self.listen(&c);
        }
        // Listen before registering: the worker claims clients when it activates, and that
        // `controllerchange` may fire before `ready` resolves. Every (new) controller gets the
        // session, then the page switches to worker mode.
        let (claimed, claimed_resolve) = deferred();
        let me = Rc::clone(self);
        let on_change = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
            let me = Rc::clone(&me);
            let done = claimed_resolve.clone();
            spawn_local(async move {
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
                    .hand_over(&ctrl, me.session_message(protocol::SESSION))
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
            });
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
        let answer = self
            .session
            .link
            .hand_over(&active, self.session_message(protocol::SESSION))
            .await;
        mark(self.opts.marks, "authmedia:session-acked");
        match answer {
            None => return no_worker("worker_silent", why("worker_silent")),
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
            let (left, resolve) = deferred();
            let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            });
            let listener = on_state.as_ref().unchecked_ref();
            let _ = active.add_event_listener_with_callback("statechange", listener);
            let either = Promise::race(&Array::of2(&claimed, &left));
            let _ = with_timeout(either, ANSWER_TIMEOUT_MS).await;
            let _ = active.remove_event_listener_with_callback("statechange", listener);
        }
        if let Some(ctrl) = c.controller() {
            if ctrl != active {
                let _ = ask(
                    &ctrl,
                    &self.session_message(protocol::SESSION),
                    ANSWER_TIMEOUT_MS,
                )
                .await;
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
                spawn_local(async move {
                    let _ = ask(&active, &message(protocol::CLAIM), ANSWER_TIMEOUT_MS).await;
                });
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
        spawn_local(async move {
            let _ = me
                .session
                .link
                .hand_over(&worker, me.session_message(protocol::SESSION))
                .await;
        });
    }

    /// The one dispatcher of the worker's messages to this instance: its questions
    /// (`need-session`, `need-token`, `need-encrypted`) and notifications (`unauthorized`).
    fn listen(self: &Rc<Self>, c: &ServiceWorkerContainer) {
        answer_when_no_instance(c);
        let me = Rc::clone(self);
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else {
                return;
            };
            // Only this SDK's own worker learns the session or a token: another service worker
            // of this origin (another registration, a stale script) asking gets no answer.
            if !me.session.link.is_our_worker(ev.source().as_ref()) {
                return;
            }
            let data = ev.data();
            let kind = get_string(&data, "type").unwrap_or_default();
            let port = ev.ports().get(0).dyn_into::<web_sys::MessagePort>().ok();
            match kind.as_str() {
                // Keys go to this SDK's own worker only (checked above). Only the instance that
                // registered the id answers: several instances of a tab all hear the question,
                // and the worker takes the first answer.
                protocol::NEED_ENCRYPTED => {
                    let answer = Some(&me)
                        .filter(|me| !me.session.ended())
                        .and_then(|me| me.encrypted.message(&get_string(&data, "id")?));
                    if let (Some(reply), Some(p)) = (answer, port) {
                        let _ = p.post_message(&reply);
                    }
                }
                // Only the instance holding the tab's session answers (see `HOLDERS`).
                _ if other_answers(&me) => {}
                protocol::NEED_SESSION => {
                    // A worker of another protocol (see `outdated`) learns no session.
                    let answer = if me.session.ended() || !holds(&me) || !speaks_protocol(&data) {
                        let a = object();
                        set(&a, "session", &JsValue::NULL);
                        a
                    } else {
                        me.session_message(protocol::SESSION)
                    };
                    if let Some(p) = port {
                        let _ = p.post_message(&answer);
                    }
                }
                protocol::NEED_TOKEN => {
                    let me = Rc::clone(&me);
                    spawn_local(async move {
                        let token =
                            if me.session.ended() || !holds(&me) || !me.session.can_refresh() {
                                None
                            } else {
                                me.session.refresh_token().await.ok()
                            };
                        let a = object();
                        set(
                            &a,
                            "accessToken",
                            &token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
                        );
                        if let Some(p) = port {
                            let _ = p.post_message(&a);
                        }
                    });
                }
                protocol::UNAUTHORIZED => {
                    let mut e = WebError::new(
                        "unauthorized",
                        "the homeserver rejected the access token (reported by the worker)",
                    );
                    e.errcode = get_string(&data, "errcode");
                    me.events().emit_error(&e.to_js(), None);
                }
                _ => {}
            }
        });
        self.events().on(c, "message", on_message);
        start_messages(c);
    }

    /// Logout: the worker purges, object URLs are revoked, elements are cleared. The worker
    /// ends the session of the tab, so sibling instances that relied on it go to the fallback.
    pub async fn logout(self: &Rc<Self>) {
        let siblings: Vec<Rc<Inner>> = HOLDERS.with(|h| std::mem::take(&mut *h.borrow_mut()));
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
        let answer = ask(
            &ctrl,
            &self.session_message(protocol::SESSION),
            ANSWER_TIMEOUT_MS,
        )
        .await;
        if answer.is_some_and(|a| speaks_protocol(&a)) {
            self.mode.set_worker_ready(true);
            self.update_mode();
            reload_all(&self.mounter());
        }
    }
}
