//! The tab's side of the worker's messages (PROTOCOL.md):
//! which instances of this tab hold its session — the worker keeps one session per tab (client
//! id), not per instance — and the page's one listener for what the worker sends: `need-session`,
//! `need-token`, `need-encrypted`, `unauthorized`. The listener is installed once per page and
//! outlives every instance; it routes each message to the one instance that can answer it, and
//! answers "none" itself when no instance can, so a question is answered exactly once and never
//! waits for a tab that has nothing to say.

use authmedia_js::protocol;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort, ServiceWorkerContainer};

use crate::channel::{speaks_protocol, start_messages};
use crate::error::WebError;
use crate::inner::Inner;
use crate::util::{get_string, object, set, spawn};

/// The instances holding the tab's session, and whether the page's listener is installed.
#[derive(Default)]
struct Tab {
    /// In the order they handed the worker the session. The last live one alone answers the
    /// worker's questions, so it never hears two tokens; a logout ends the tab's session for all
    /// of them. Strong references: an instance lives until its `dispose()` or `logout()` anyway
    /// (which release it here), and a failed `init` releases it too.
    holders: RefCell<Vec<Rc<Inner>>>,
    /// Whether [`listen`] installed the page's listener.
    listening: Cell<bool>,
}

thread_local! {
    static TAB: Tab = Tab::default();
}

/// Records `inner` as the latest instance to hand the worker its session.
pub fn hold(inner: &Rc<Inner>) {
    release(inner);
    TAB.with(|t| t.holders.borrow_mut().push(Rc::clone(inner)));
}

/// Forgets `inner` as a holder.
pub fn release(inner: &Inner) {
    TAB.with(|t| {
        t.holders
            .borrow_mut()
            .retain(|i| !std::ptr::eq(&**i, inner));
    });
}

/// Whether the worker holds `inner`'s session.
pub fn holds(inner: &Inner) -> bool {
    TAB.with(|t| t.holders.borrow().iter().any(|i| std::ptr::eq(&**i, inner)))
}

/// Forgets every holder and returns them (a logout ends the tab's session for all).
pub fn take_holders() -> Vec<Rc<Inner>> {
    TAB.with(|t| std::mem::take(&mut *t.holders.borrow_mut()))
}

/// Ends `inner` on the page ([`Inner::detach`]) and forgets it as a holder of the tab's session;
/// the worker is not told (`dispose()`, a failed `init`).
pub fn detach(inner: &Rc<Inner>) {
    inner.detach();
    release(inner);
}

/// The instance that answers for the tab: the last live holder.
fn answerer() -> Option<Rc<Inner>> {
    TAB.with(|t| {
        t.holders
            .borrow()
            .iter()
            .rev()
            .find(|i| !i.session.ended())
            .cloned()
    })
}

/// The `authmedia:encrypted` message of `id` from the live holder that registered it (ids are
/// random per instance, so at most one has it).
fn registered(id: &str, is_ours: impl Fn(&Inner) -> bool) -> Option<JsValue> {
    let holders: Vec<Rc<Inner>> = TAB.with(|t| t.holders.borrow().clone());
    holders
        .iter()
        .rev()
        .filter(|i| !i.session.ended() && is_ours(i))
        .find_map(|i| i.encrypted.message(id))
}

/// Installs the page's listener of the worker's messages, once per page (before the first
/// `register()`: a worker that takes control meanwhile and asks is answered). It holds no
/// instance, so it stays for the page's lifetime and answers after every instance is gone.
pub fn listen(c: &ServiceWorkerContainer) {
    if TAB.with(|t| t.listening.replace(true)) {
        return;
    }
    let on_message = Closure::<dyn FnMut(JsValue)>::new(|ev: JsValue| {
        if let Ok(ev) = ev.dyn_into::<MessageEvent>() {
            dispatch(&ev);
        }
    });
    let _ = c.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
    on_message.forget();
    start_messages(c);
}

/// Posts `answer` on the question's reply port, if it came with one.
fn reply(port: Option<&MessagePort>, answer: &JsValue) {
    if let Some(p) = port {
        let _ = p.post_message(answer);
    }
}

/// `{field: null}`: the "none" answers. They carry nothing secret, so they go to whichever worker
/// asks — also to one that is not this SDK's, which would otherwise wait for silence to mean the
/// same.
fn none(field: &str) -> JsValue {
    let a = object();
    set(&a, field, &JsValue::NULL);
    a
}

/// Routes one message of a worker. A session, a token or a key goes only to this SDK's own
/// worker (`Link::is_our_worker` of the instance answering): another service worker of this
/// origin (another registration, a stale script) gets "none".
fn dispatch(ev: &MessageEvent) {
    let data = ev.data();
    let Some(kind) = get_string(&data, "type") else {
        return;
    };
    let port = ev.ports().get(0).dyn_into::<MessagePort>().ok();
    let source = ev.source();
    let is_ours = |i: &Inner| i.session.link.is_our_worker(source.as_ref());
    match kind.as_str() {
        protocol::NEED_SESSION => {
            // A worker of another protocol (an older release's) learns no session.
            let answer = answerer()
                .filter(|i| is_ours(i) && speaks_protocol(&data))
                .map_or_else(|| none("session"), |i| i.session.handoff_message());
            reply(port.as_ref(), &answer);
        }
        protocol::NEED_TOKEN => {
            let Some(i) = answerer().filter(|i| is_ours(i) && i.session.can_refresh()) else {
                reply(port.as_ref(), &none("accessToken"));
                return;
            };
            spawn(Box::pin(async move {
                let token = i.session.refresh_token().await.ok();
                // Logged out or disposed while refreshing: no token leaves any more.
                let token = token.filter(|_| !i.session.ended());
                let a = object();
                set(
                    &a,
                    "accessToken",
                    &token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
                );
                reply(port.as_ref(), &a);
            }));
        }
        protocol::NEED_ENCRYPTED => {
            let answer = get_string(&data, "id").and_then(|id| registered(&id, is_ours));
            reply(port.as_ref(), &answer.unwrap_or_else(|| none("file")));
        }
        protocol::UNAUTHORIZED => {
            let Some(i) = answerer().filter(|i| is_ours(i)) else {
                return;
            };
            let mut e = WebError::new(
                "unauthorized",
                "the homeserver rejected the access token (reported by the worker)",
            );
            e.errcode = get_string(&data, "errcode");
            i.events().emit_error(&e.to_js(), None);
        }
        _ => {}
    }
}
