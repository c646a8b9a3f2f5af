//! The page's end of the page ↔ worker channel (PROTOCOL.md): asking a worker on a reply port,
//! which workers are this SDK's, and the messages every instance sends — a new token,
//! `authmedia:why`, stats. The session handoff and the dispatcher of the worker's questions are in
//! `worker.rs` and `dispatch.rs`.

use crate::cell::RefCell;
use authmedia_js::protocol;

use authmedia_core::{ClientCode, WORKER_PROTOCOL};
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageChannel, MessageEvent, ServiceWorker, ServiceWorkerContainer, ServiceWorkerRegistration,
};

use crate::util::{deferred, get, get_string, object, promise, set, spawn, window, with_timeout};

/// How long to wait for a worker's answer on a port.
pub const ANSWER_TIMEOUT_MS: i32 = 2_000;

/// This package's version, sent with the session and named when the worker is another release's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A message `{type: kind}`.
pub fn message(kind: &str) -> JsValue {
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

/// The answer a [`Link::hand_over`] promise settled with (`None`: no answer).
async fn answer_of(answer: Promise) -> Option<JsValue> {
    JsFuture::from(answer)
        .await
        .ok()
        .filter(|a| !a.is_undefined())
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

/// Whether a worker's answer (to `authmedia:session`) or question (`authmedia:need-session`)
/// speaks this page's protocol. A worker from before the handshake sends no `protocol` at all.
pub fn speaks_protocol(v: &JsValue) -> bool {
    get(v, "protocol").as_f64() == Some(f64::from(WORKER_PROTOCOL))
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

/// Starts the delivery of the worker's messages to `addEventListener('message')` listeners.
pub fn start_messages(c: &ServiceWorkerContainer) {
    c.unchecked_ref::<Messages>().start_messages();
}

/// `navigator.serviceWorker`, when this context has one.
pub fn container() -> Result<ServiceWorkerContainer, String> {
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

/// This SDK's worker as one instance knows it: its script URL, its registration once
/// registered, and the stats it last reported.
pub struct Link {
    /// The `workerUrl` option.
    worker_url: Option<String>,
    /// The registration of this SDK's worker, once registered: `logout()` and token changes
    /// reach every worker of it (installing, waiting, active), not only the controller.
    registration: RefCell<Option<ServiceWorkerRegistration>>,
    /// Last stats the worker reported.
    stats: RefCell<Option<JsValue>>,
    /// The worker last handed the session, and the promise of its answer (`undefined` for none):
    /// see [`Link::hand_over`].
    handoff: RefCell<Option<(ServiceWorker, Promise)>>,
}

impl Link {
    /// No registration yet.
    pub fn new(worker_url: Option<String>) -> Self {
        Self {
            worker_url,
            registration: RefCell::new(None),
            stats: RefCell::new(None),
            handoff: RefCell::new(None),
        }
    }

    /// Hands `session` (an `authmedia:session` message) to `worker` and waits (bounded) for its
    /// answer. When the session went to that same worker before (handed to it while it
    /// installed, then it activated and claimed the page), that handoff's answer is the answer:
    /// no second message, and none of the worker's time spent storing the same session again.
    /// A handoff it never answered, or did not accept, is not reused: an installing worker whose
    /// wasm did not load answers "wasm unavailable", and once active it loads the wasm again for
    /// the next message.
    pub async fn hand_over(&self, worker: &ServiceWorker, session: JsValue) -> Option<JsValue> {
        let earlier = self
            .handoff
            .borrow()
            .as_ref()
            .and_then(|(w, answer)| (w == worker).then(|| answer.clone()));
        if let Some(answer) = earlier {
            if let Some(answer) = answer_of(answer).await {
                if speaks_protocol(&answer) && get(&answer, "ok").as_bool() == Some(true) {
                    return Some(answer);
                }
            }
        }
        let target = worker.clone();
        let answer = promise(Box::pin(async move {
            let answer = ask(&target, &session, ANSWER_TIMEOUT_MS).await;
            Ok(answer.unwrap_or(JsValue::UNDEFINED))
        }));
        self.handoff.replace(Some((worker.clone(), answer.clone())));
        answer_of(answer).await
    }

    /// Records the registration of this SDK's worker.
    pub fn set_registration(&self, reg: Option<ServiceWorkerRegistration>) {
        self.registration.replace(reg);
    }

    /// The stats the worker last reported (`null` before any).
    pub fn stats(&self) -> JsValue {
        self.stats.borrow().clone().unwrap_or(JsValue::NULL)
    }

    /// The workers to tell about session changes: every worker of this SDK's registration that
    /// may hold the session — installing, waiting, active — and the controller. On a page no
    /// worker controls yet (hard reload, first load) the session went to the active worker, which
    /// claims the page later: a logout must reach it too.
    pub fn workers(&self) -> Vec<ServiceWorker> {
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
    pub fn is_our_worker(&self, source: Option<&js_sys::Object>) -> bool {
        let Some(worker) = source.and_then(|s| s.dyn_ref::<ServiceWorker>()) else {
            return false;
        };
        if let Some(reg) = self.registration.borrow().as_ref() {
            let mine = [reg.active(), reg.waiting(), reg.installing()];
            if mine.iter().flatten().any(|w| w == worker) {
                return true;
            }
        }
        let Some(script) = self.worker_url.as_deref() else {
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
            spawn(Box::pin(async move {
                let _ = ask(&w, &m, ANSWER_TIMEOUT_MS).await;
            }));
        }
    }

    /// Asks every worker to end this tab's session (`authmedia:logout`) and waits for each.
    pub async fn logout(&self) {
        self.handoff.replace(None);
        for w in self.workers() {
            let _ = ask(&w, &message(protocol::LOGOUT), ANSWER_TIMEOUT_MS).await;
        }
    }

    /// Asks the worker for stats and stores them.
    pub async fn fetch_stats(&self) {
        let Some(w) = self.workers().into_iter().next() else {
            return;
        };
        if let Some(s) = ask(&w, &message(protocol::STATS), ANSWER_TIMEOUT_MS).await {
            self.stats.replace(Some(s));
        }
    }
}
