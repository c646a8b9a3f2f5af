//! Worker mode: registration, the session handoff and the page side of the page↔worker
//! protocol (ARCHITECTURE.md § "Page ↔ worker message protocol").
//!
//! Mode detection: the fallback is used when the worker cannot serve this page — no
//! `navigator.serviceWorker` (disabled by pref/policy, hardened browsers), an insecure
//! context, a failed registration, a worker that never activates, `fallback: 'force'` — and
//! while the page is not controlled (first load, hard reload). In the last case the page asks
//! the worker to claim it (`authmedia:claim`) and switches to worker mode on `controllerchange`.

use authmedia_js::protocol;
use std::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{ClientCode, WORKER_PROTOCOL};
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MessageChannel, MessageEvent, ServiceWorker, ServiceWorkerContainer, ServiceWorkerRegistration,
};

use crate::diagnose::{facts, out_of_scope, registration_failed};
use crate::error::{describe, WebError};
use crate::options::FallbackPref;
use crate::sdk::Inner;
use crate::util::{deferred, get, get_string, object, set, window, with_timeout};

/// How long to wait for a worker's answer on a port.
const ANSWER_TIMEOUT_MS: i32 = 2_000;
/// With `fallback: 'never'`, how long `init` waits for the worker to claim the page.
const CLAIM_TIMEOUT_MS: i32 = 5_000;

fn message(kind: &str) -> JsValue {
    let m = object();
    set(&m, "type", &JsValue::from_str(kind));
    m
}

/// Posts `msg` to `target` with a reply port and waits (bounded) for the first answer.
pub async fn ask(target: &ServiceWorker, msg: &JsValue, timeout_ms: i32) -> Option<JsValue> {
    let channel = MessageChannel::new().ok()?;
    let port = channel.port1();
    let (answer, resolve) = deferred();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let _ = resolve.call1(&JsValue::UNDEFINED, &ev.data());
    });
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    if target
        .post_message_with_transferable(msg, &Array::of1(&channel.port2()))
        .is_err()
    {
        port.close();
        return None;
    }
    let out = with_timeout(answer, timeout_ms).await;
    port.set_onmessage(None);
    port.close();
    drop(on_message);
    out.and_then(Result::ok)
}

/// Worker mode: why the controlling worker's answer to `url` (absolute) failed, from its record
/// of recent failures (`authmedia:why`, no request to the homeserver); `load_failed` when it
/// does not know (restarted meanwhile, or the request never reached it) or does not answer.
pub async fn why(url: &str) -> &'static str {
    let Some(ctrl) = container().ok().and_then(|c| c.controller()) else {
        return "load_failed";
    };
    let msg = message(protocol::WHY);
    set(&msg, "url", &JsValue::from_str(url));
    let code = ask(&ctrl, &msg, ANSWER_TIMEOUT_MS)
        .await
        .and_then(|a| get_string(&a, "code"));
    // The worker's code as the page shows it (its own codes such as `cancelled` become
    // `load_failed`, see `ClientCode::for_page`).
    code.and_then(|c| c.parse::<ClientCode>().ok())
        .map_or(ClientCode::LoadFailed, ClientCode::for_page)
        .as_str()
}

/// This package's version, sent with the session and named when the worker is another release's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether a worker's answer (to `authmedia:session`) or question (`authmedia:need-session`)
/// speaks this page's protocol. A worker from before the handshake sends no `protocol` at all.
fn speaks_protocol(v: &JsValue) -> bool {
    get(v, "protocol").as_f64() == Some(f64::from(WORKER_PROTOCOL))
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

thread_local! {
    /// The instances of this tab whose session the worker holds — the worker keeps one session
    /// per tab (client id), not per instance — in the order they handed it over. The last live
    /// one alone answers the worker's questions, so it never hears two tokens; a logout ends the
    /// tab's session for all of them. Strong references: an instance lives until its `dispose()`
    /// or `logout()` anyway (its browser listeners hold it), and a failed `init` detaches it.
    static HOLDERS: RefCell<Vec<Rc<Inner>>> = const { RefCell::new(Vec::new()) };
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
            .find(|i| !i.logged_out.get())
            .is_some_and(|i| !std::ptr::eq(&**i, inner))
    })
}

#[wasm_bindgen]
extern "C" {
    /// `ServiceWorkerContainer.startMessages()`: messages reach `addEventListener('message')`
    /// listeners only once it is called (setting `onmessage` would start them, and overwrite the
    /// host's handler).
    type Messages;
    #[wasm_bindgen(method, js_name = startMessages)]
    fn start_messages(this: &Messages);
}

/// `navigator.serviceWorker`, when this context has one.
fn container() -> Result<ServiceWorkerContainer, String> {
    let w = window().map_err(|e| e.message)?;
    if !w.is_secure_context() {
        return Err("insecure_context".to_owned());
    }
    let nav = w.navigator();
    let sw = get(&nav, "serviceWorker");
    if sw.is_undefined() || sw.is_null() {
        return Err("no_service_worker".to_owned());
    }
    sw.dyn_into::<ServiceWorkerContainer>()
        .map_err(|_| "no_service_worker".to_owned())
}

impl Inner {
    fn session_message(&self, kind: &str) -> JsValue {
        let m = message(kind);
        let s = object();
        set(&s, "homeserver", &JsValue::from_str(self.hs.base()));
        set(
            &s,
            "accessToken",
            &self
                .token
                .borrow()
                .clone()
                .map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
        );
        set(&s, "userId", &JsValue::from_str(&self.user_id));
        set(&m, "session", &s);
        set(&m, "api", &JsValue::from_str(self.api.get().as_str()));
        set(&m, "protocol", &JsValue::from(WORKER_PROTOCOL));
        set(&m, "version", &JsValue::from_str(VERSION));
        m
    }

    fn set_reason(&self, reason: impl Into<String>) {
        self.fallback_reason.replace(Some(reason.into()));
    }

    /// Registers the worker and hands it the session; decides whether it serves this page.
    /// Starts registering the worker before `/versions` is asked, so that its install (fetching
    /// and compiling its script and wasm) overlaps the negotiation instead of following it: the
    /// `register()` promise, which [`Self::start_worker`] then awaits. `None` when no worker will
    /// be tried (that function then says why). The page's message listener goes first, as in
    /// `start_worker`: a worker that takes control meanwhile and asks for the session is answered.
    pub fn register_early(self: &Rc<Self>) -> Option<Promise> {
        if self.opts.fallback == FallbackPref::Force {
            return None;
        }
        let url = self.opts.worker_url.as_deref()?;
        let c = container().ok()?;
        self.listen(&c);
        let registered = c.register(url);
        // `start_worker` reads a rejection; when the negotiation fails first nobody does, and
        // that is not an unhandled rejection.
        let ignore = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
        let _ = registered.catch(&ignore);
        ignore.forget();
        Some(registered)
    }

    /// Registers the worker (or takes the promise of [`Self::register_early`]), hands it the
    /// session and picks the mode.
    pub async fn start_worker(self: &Rc<Self>, early: Option<Promise>) -> Result<(), JsValue> {
        if self.opts.fallback == FallbackPref::Force {
            self.set_reason("forced");
            return Ok(());
        }
        let never = self.opts.fallback == FallbackPref::Never;
        // The facts go with the reason (`diagnose.rs`): to `fallbackDetail`, and with
        // `fallback: 'never'` onto the rejection as its `detail`; the loader words them.
        let no_worker = |reason: &str, detail: JsValue| -> Result<(), JsValue> {
            self.fall_back(reason, &detail);
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
                if me.logged_out.get() || !holds(&me) {
                    return;
                }
                let answer = ask(
                    &ctrl,
                    &me.session_message(protocol::SESSION),
                    ANSWER_TIMEOUT_MS,
                )
                .await;
                match answer {
                    Some(a) if speaks_protocol(&a) => {
                        hold(&me);
                        me.worker_ready.set(true);
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
        self.on(&c, "controllerchange", on_change);
        // Registered early: a `controllerchange` that fired before the listener above is caught
        // by the controller check after the session handoff below.
        let registered = JsFuture::from(early.unwrap_or_else(|| c.register(&url))).await;
        match registered {
            Err(e) => {
                let detail = registration_failed(&url, &e);
                self.emit_error(
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
                // Registered, but for a scope above which this page lies: never controlled.
                let scope = reg
                    .dyn_into::<ServiceWorkerRegistration>()
                    .map(|r| r.scope());
                if let Some(detail) = scope.ok().and_then(|s| out_of_scope(&url, &s)) {
                    return no_worker("out_of_scope", detail);
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
        self.registration.replace(reg.clone());
        let Some(active) = reg.and_then(|r| r.active()) else {
            return no_worker("worker_not_ready", why("worker_not_ready"));
        };
        match ask(
            &active,
            &self.session_message(protocol::SESSION),
            ANSWER_TIMEOUT_MS,
        )
        .await
        {
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
        if let Some(ctrl) = c.controller() {
            if ctrl != active {
                let _ = ask(
                    &ctrl,
                    &self.session_message(protocol::SESSION),
                    ANSWER_TIMEOUT_MS,
                )
                .await;
            }
            self.worker_ready.set(true);
        } else {
            self.set_reason("uncontrolled");
        }
        if !self.worker_ready.get() {
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

    /// Answers the worker's questions (`need-session`, `need-token`) and notifications.
    fn listen(self: &Rc<Self>, c: &ServiceWorkerContainer) {
        let me = Rc::clone(self);
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else {
                return;
            };
            // Only this SDK's own worker learns the session or a token: another service worker
            // of this origin (another registration, a stale script) asking gets no answer.
            if !me.is_our_worker(ev.source().as_ref()) {
                return;
            }
            let data = ev.data();
            let kind = get_string(&data, "type").unwrap_or_default();
            let port = ev.ports().get(0).dyn_into::<web_sys::MessagePort>().ok();
            match kind.as_str() {
                // Only the instance holding the tab's session answers (see `HOLDERS`).
                _ if other_answers(&me) => {}
                protocol::NEED_SESSION => {
                    // A worker of another protocol (see `outdated`) learns no session.
                    let answer = if me.logged_out.get() || !holds(&me) || !speaks_protocol(&data) {
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
                        let token = if me.logged_out.get()
                            || !holds(&me)
                            || me.opts.on_token_refresh.is_none()
                        {
                            None
                        } else {
                            me.refresh_token().await.ok()
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
                    me.emit_error(&e.to_js(), None);
                }
                _ => {}
            }
        });
        self.on(c, "message", on_message);
        c.unchecked_ref::<Messages>().start_messages();
    }

    /// The workers to tell about session changes: every worker of this SDK's registration that
    /// may hold the session — installing, waiting, active — and the controller. On a page no
    /// worker controls yet (hard reload, first load) the session went to the active worker, which
    /// claims the page later: a logout must reach it too.
    fn workers(&self) -> Vec<ServiceWorker> {
        let Ok(c) = container() else {
            return Vec::new();
        };
        let mut out: Vec<ServiceWorker> = Vec::new();
        let reg = self.registration.borrow().clone();
        let candidates = [
            c.controller(),
            reg.as_ref().and_then(ServiceWorkerRegistration::active),
            reg.as_ref().and_then(ServiceWorkerRegistration::waiting),
            reg.as_ref().and_then(ServiceWorkerRegistration::installing),
        ];
        for w in candidates.into_iter().flatten() {
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// Whether a message's source is this SDK's worker: a worker of its registration, or one
    /// running its worker script (the controller after an update).
    pub(crate) fn is_our_worker(&self, source: Option<&js_sys::Object>) -> bool {
        let Some(worker) = source.and_then(|s| s.dyn_ref::<ServiceWorker>()) else {
            return false;
        };
        if let Some(reg) = self.registration.borrow().as_ref() {
            let mine = [reg.active(), reg.waiting(), reg.installing()];
            if mine.iter().flatten().any(|w| w == worker) {
                return true;
            }
        }
        let Some(script) = self.opts.worker_url.as_deref() else {
            return false;
        };
        let base = window()
            .ok()
            .and_then(|w| get_string(&get(&w, "location"), "href"));
        let ours = web_sys::Url::new_with_base(script, base.as_deref().unwrap_or_default())
            .map(|u| u.href());
        ours.is_ok_and(|href| href == worker.script_url())
    }

    /// Hands `token` to every worker and waits (bounded) for their acknowledgements.
    pub async fn send_token(&self, token: &str) {
        for w in self.workers() {
            let m = message(protocol::TOKEN);
            set(&m, "accessToken", &JsValue::from_str(token));
            let _ = ask(&w, &m, ANSWER_TIMEOUT_MS).await;
        }
    }

    /// Tells the worker about a new token (no-op without a worker), without waiting.
    pub fn post_token(&self, token: &str) {
        for w in self.workers() {
            let m = message(protocol::TOKEN);
            set(&m, "accessToken", &JsValue::from_str(token));
            spawn_local(async move {
                let _ = ask(&w, &m, ANSWER_TIMEOUT_MS).await;
            });
        }
    }

    /// Asks the worker for stats in the background; the next `stats()` shows them.
    pub fn request_worker_stats(self: &Rc<Self>) {
        let me = Rc::clone(self);
        spawn_local(async move { me.fetch_worker_stats().await });
    }

    /// Asks the worker for stats and stores them.
    pub async fn fetch_worker_stats(&self) {
        let Some(w) = self.workers().into_iter().next() else {
            return;
        };
        if let Some(s) = ask(&w, &message(protocol::STATS), ANSWER_TIMEOUT_MS).await {
            self.worker_stats.replace(Some(s));
        }
    }

    /// Logout: the worker purges, object URLs are revoked, elements are cleared. The worker
    /// ends the session of the tab, so sibling instances that relied on it go to the fallback.
    pub async fn logout(self: &Rc<Self>) {
        let siblings: Vec<Rc<Inner>> = HOLDERS.with(|h| std::mem::take(&mut *h.borrow_mut()));
        self.detach();
        for w in self.workers() {
            let _ = ask(&w, &message(protocol::LOGOUT), ANSWER_TIMEOUT_MS).await;
        }
        for s in siblings {
            // Also one whose init handed its session over meanwhile: that message may have
            // reached the worker before the logout did.
            release(&s);
            if !s.logged_out.get() {
                s.worker_ready.set(false);
                // No facts: `fallbackDetail` is `{reason}` (see `AuthMedia::fallback_detail`).
                s.fall_back("session_ended", &JsValue::UNDEFINED);
                s.update_mode();
                crate::mount::reload_all(&s);
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
            self.worker_ready.set(true);
            self.update_mode();
            crate::mount::reload_all(self);
        }
    }
}
