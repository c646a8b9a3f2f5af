//! The tab's side of the worker's messages (PROTOCOL.md):
//! which instances of this tab hold its session — the worker keeps one session per tab (client
//! id), not per instance — and the page's one listener for what the worker sends: `need-session`,
//! `need-token`, `need-encrypted`, `unauthorized`. The listener is installed once per page and
//! outlives every instance; it routes each message to the one instance that can answer it, and
//! answers "none" itself when no instance can (and no other copy of the SDK on the page can, see
//! [`COPIES`]), so a question is answered exactly once and never waits for a tab that has nothing
//! to say.
//!
//! It also knows the tab's sessions: the instances of one account hold one session
//! ([`join`]), so a token one of them gets is the token every one of them answers with.

use authmedia_js::protocol;
use std::cell::Cell;

use crate::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Reflect, Symbol};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort, ServiceWorkerContainer};

use crate::channel::{speaks_protocol, start_messages};
use crate::error::WebError;
use crate::inner::Inner;
use crate::session::Credential;
use crate::util::{get, get_string, object, set, spawn};

/// The instances holding the tab's session, the tab's sessions, and whether the page's listener
/// is installed.
#[derive(Default)]
struct Tab {
    /// In the order they handed the worker the session. The last live one alone answers the
    /// worker's questions, so it never hears two tokens; a logout ends the tab's session for all
    /// of them. Strong references: an instance lives until its `dispose()` or `logout()` anyway
    /// (which release it here), and a failed `init` releases it too.
    holders: RefCell<Vec<Rc<Inner>>>,
    /// The credentials of the tab's live instances, one per session (see [`join`]). Weak: a
    /// credential lives as long as an instance that has not ended holds it.
    sessions: RefCell<Vec<Weak<Credential>>>,
    /// Whether [`listen`] installed the page's listener.
    listening: Cell<bool>,
    /// This copy's entry in the page's list of copies (see [`COPIES`]), once [`listen`] ran.
    probe: RefCell<Option<Function>>,
}

thread_local! {
    // A `const` initialiser: no lazy-initialisation code (nor its poisoned-state panic) linked.
    static TAB: Tab = const {
        Tab {
            holders: RefCell::new(Vec::new()),
            sessions: RefCell::new(Vec::new()),
            listening: Cell::new(false),
            probe: RefCell::new(None),
        }
    };
}

/// Makes a new instance one session with the tab's live instances holding the same one — the
/// same homeserver and the same current token — so a token change on any of them
/// (`setAccessToken`, the token an `onTokenRefresh` produced) is the token of all: whichever
/// answers the worker's `need-session` or hands the session over gives the current token, and a
/// sibling in the fallback fetches with it. An instance of another account (another token from
/// the start) is a session of its own.
pub fn join(inner: &Inner) {
    let Some(own) = inner.session.credential() else {
        return;
    };
    let Some(token) = inner.session.current_token() else {
        return;
    };
    TAB.with(|t| {
        let mut sessions = t.sessions.borrow_mut();
        sessions.retain(|c| c.strong_count() > 0);
        let same = sessions
            .iter()
            .filter_map(Weak::upgrade)
            .find(|c| c.is_session(&inner.session.hs, &token));
        match same {
            Some(shared) => {
                inner.session.join(shared);
            }
            None => sessions.push(Rc::downgrade(&own)),
        }
    });
}

/// The live holders of `inner`'s session (`inner` too, when it is one): the instances a token
/// change of `inner` reaches.
pub fn same_session(inner: &Inner) -> Vec<Rc<Inner>> {
    let Some(own) = inner.session.credential() else {
        return Vec::new();
    };
    TAB.with(|t| {
        t.holders
            .borrow()
            .iter()
            .filter(|i| i.session.credential().is_some_and(|c| Rc::ptr_eq(&c, &own)))
            .cloned()
            .collect()
    })
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

/// The key (`Symbol.for`) of the page's list of the SDK copies' listeners: an `Array` of functions
/// `(event) => boolean`, each telling whether its copy has a real answer (a session, a token, a
/// key) to a message of a worker. Two copies of the SDK on one page (two bundles, a widget beside
/// the app) each install a listener, and the worker takes the first answer on its port: a copy
/// answers "none" only when no other copy has a real answer, else the "none" of a copy whose
/// instances are gone could win over the session of the copy that holds it.
const COPIES: &str = "matrix-authmedia.dispatchers";

fn copies() -> Option<Array> {
    let global = js_sys::global();
    let key = Symbol::for_(COPIES);
    let list = Reflect::get(&global, &key).ok()?;
    if Array::is_array(&list) {
        return Some(list.unchecked_into());
    }
    let list = Array::new();
    Reflect::set(&global, &key, &list).ok()?;
    Some(list)
}

/// Whether another copy of the SDK on this page has a real answer to `ev` (see [`COPIES`]). A
/// copy whose probe throws or answers anything but `true` has none.
fn another_copy_answers(ev: &MessageEvent) -> bool {
    let Some(list) = copies() else {
        return false;
    };
    let own = TAB.with(|t| t.probe.borrow().clone());
    list.iter().any(|probe| {
        let Some(probe) = probe.dyn_ref::<Function>() else {
            return false;
        };
        if own.as_ref().is_some_and(|o| o == probe) {
            return false;
        }
        probe
            .call1(&JsValue::UNDEFINED, ev)
            .ok()
            .and_then(|a| a.as_bool())
            == Some(true)
    })
}

/// A real answer of this copy to a worker's question (not "none").
enum Real {
    /// `need-session`: the holder whose session goes.
    Session(Rc<Inner>),
    /// `need-token`: the holder that refreshes its token.
    Token(Rc<Inner>),
    /// `need-encrypted`: the registering instance's `authmedia:encrypted` message.
    Key(JsValue),
}

/// This copy's real answer to the question `kind` of `ev`, if it has one. A session, a token or a
/// key goes only to this SDK's own worker (`Link::is_our_worker` of the instance answering):
/// another service worker of this origin (another registration, a stale script) gets "none"; so
/// does a worker of another protocol (an older release's) asking for a session.
fn real_answer(ev: &MessageEvent, data: &JsValue, kind: &str) -> Option<Real> {
    let source = ev.source();
    let is_ours = |i: &Inner| i.session.link.is_our_worker(source.as_ref());
    match kind {
        protocol::NEED_SESSION => answerer()
            .filter(|i| is_ours(i) && speaks_protocol(data))
            .map(Real::Session),
        // A token to give: a newer one than the worker's refused one, or a refresh.
        protocol::NEED_TOKEN => answerer()
            .filter(|i| {
                is_ours(i)
                    && (i.session.can_refresh() || i.session.newer_than(refused_of(data)).is_some())
            })
            .map(Real::Token),
        protocol::NEED_ENCRYPTED => get_string(data, "id")
            .and_then(|id| registered(&id, is_ours))
            .map(Real::Key),
        _ => None,
    }
}

/// The fingerprint of the token the worker's `need-token` says was refused (none from a worker
/// that does not say).
fn refused_of(data: &JsValue) -> Option<f64> {
    get(data, protocol::REFUSED).as_f64()
}

/// Whether this copy has a real answer to the worker's question `ev` (this copy's probe in
/// [`COPIES`]).
fn has_answer(ev: &MessageEvent) -> bool {
    let data = ev.data();
    get_string(&data, "type").is_some_and(|kind| real_answer(ev, &data, &kind).is_some())
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
    let probe = Closure::<dyn Fn(JsValue) -> bool>::new(|ev: JsValue| {
        ev.dyn_into::<MessageEvent>()
            .is_ok_and(|ev| has_answer(&ev))
    });
    let probe: Function = probe.into_js_value().unchecked_into();
    if let Some(list) = copies() {
        list.push(&probe);
    }
    TAB.with(|t| t.probe.replace(Some(probe)));
    start_messages(c);
}

/// Posts `answer` on the question's reply port, if it came with one.
fn reply(port: Option<&MessagePort>, answer: &JsValue) {
    if let Some(p) = port {
        let _ = p.post_message(answer);
    }
}

/// Posts the "none" answer `none(field)`, unless another copy of the SDK on this page answers
/// for real (see [`COPIES`]).
fn reply_none(ev: &MessageEvent, port: Option<&MessagePort>, field: &str) {
    if !another_copy_answers(ev) {
        reply(port, &none(field));
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

/// Routes one message of a worker: its question to this copy's [`real_answer`], else "none"
/// (see [`reply_none`]); `unauthorized` to the instance answering for the tab.
fn dispatch(ev: &MessageEvent) {
    let data = ev.data();
    let Some(kind) = get_string(&data, "type") else {
        return;
    };
    let port = ev.ports().get(0).dyn_into::<MessagePort>().ok();
    let none_field = match kind.as_str() {
        protocol::NEED_SESSION => "session",
        protocol::NEED_TOKEN => "accessToken",
        protocol::NEED_ENCRYPTED => "file",
        protocol::UNAUTHORIZED => {
            let source = ev.source();
            if let Some(i) = answerer().filter(|i| i.session.link.is_our_worker(source.as_ref())) {
                let mut e = WebError::new(
                    "unauthorized",
                    "the homeserver rejected the access token (reported by the worker)",
                );
                e.errcode = get_string(&data, "errcode");
                i.events().emit_error(&e.to_js(), None);
            }
            return;
        }
        _ => return,
    };
    match real_answer(ev, &data, &kind) {
        None => reply_none(ev, port.as_ref(), none_field),
        Some(Real::Session(i)) => reply(port.as_ref(), &i.session.handoff_message()),
        Some(Real::Key(message)) => reply(port.as_ref(), &message),
        Some(Real::Token(i)) => spawn(Box::pin(async move {
            // The refused token is not this session's current one: the current one is the answer,
            // without a second refresh (which would rotate the app's refresh token needlessly).
            let token = match i.session.newer_than(refused_of(&data)) {
                Some(current) => Some(current),
                None => i.session.refresh_token().await.ok(),
            };
            // Logged out or disposed while refreshing: no token leaves any more.
            let token = token.filter(|_| !i.session.ended());
            let a = object();
            set(
                &a,
                "accessToken",
                &token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
            );
            reply(port.as_ref(), &a);
        })),
    }
}
