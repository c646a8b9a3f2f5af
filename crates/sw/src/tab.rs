//! Talking to a tab: questions with a `MessagePort` answer and a bounded wait, and notifications.
//!
//! The worker asks a tab for its session after a restart (`authmedia:need-session`) and for a
//! fresh token after a 401 (`authmedia:need-token`). A tab that is gone, has no listener, or takes
//! longer than the timeout yields `None`: the caller decides what that means, it never hangs.

use js_sys::{Array, Object, Promise};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Client, MessageChannel};

use crate::js;
use crate::net::scope;
use crate::settle::settled;

/// A message object `{type, ...fields}`.
pub(crate) fn message(kind: &str, fields: &[(&str, &JsValue)]) -> JsValue {
    let object = Object::new();
    js::set(&object, "type", &kind.into());
    for (name, value) in fields {
        js::set(&object, name, value);
    }
    object.into()
}

/// The live client with this id, if any.
async fn client(client_id: &str) -> Option<Client> {
    if client_id.is_empty() {
        return None;
    }
    let found = settled(&scope().clients().get(client_id)).await.ok()?;
    found.dyn_into::<Client>().ok()
}

/// A timer that fires this much later than asked shows an event loop busy with other tasks (a
/// burst of fetch events): an answer may be waiting in the queue behind them.
const LATE_TIMER_MS: f64 = 200.0;
/// However busy the worker is, a question is given up after this long.
const MAX_ASK_WAIT_MS: f64 = 5_000.0;

/// Posts `message` to the client with a fresh `MessagePort` and waits up to `timeout_ms` for the
/// first answer on it. `None` when the client is gone or silent.
pub(crate) async fn ask(client_id: &str, message: &JsValue, timeout_ms: i32) -> Option<JsValue> {
    ask_while(client_id, message, timeout_ms, &|| false).await
}

/// [`ask`], waiting one more period after a silent one — up to [`MAX_ASK_WAIT_MS`] in all — when
/// the silence may be load rather than a tab that does not speak the protocol:
///
/// * the timer fired late: this worker's event loop is congested (a restarted worker receiving a
///   thousand fetch events at once), and the answer may be queued behind those tasks;
/// * `busy()` says so (the caller knows that many requests wait for this answer: a gallery, whose
///   page is busy too, not a login page's few SSO icons).
///
/// An idle worker asking a silent tab for a few requests still gives up after `timeout_ms`.
pub(crate) async fn ask_while(
    client_id: &str,
    message: &JsValue,
    timeout_ms: i32,
    busy: &dyn Fn() -> bool,
) -> Option<JsValue> {
    let client = client(client_id).await?;
    let channel = MessageChannel::new().ok()?;
    let port = channel.port1();
    // The port's first `message` event resolves `answer` (its `data` is read once it won the
    // race): the promise's own resolve function is the listener, no closure of this crate.
    let (answer, resolve) = authmedia_js::deferred();
    port.set_onmessage(Some(&resolve));
    let transfer = Array::of1(&channel.port2());
    if client
        .post_message_with_transfer(message, &transfer)
        .is_err()
    {
        port.close();
        return None;
    }
    let first = js_sys::Date::now();
    let silence = JsValue::from(Object::new());
    let answer = loop {
        let started = js_sys::Date::now();
        let (timer, resolve) = authmedia_js::deferred();
        let _ = scope()
            .set_timeout_with_callback_and_timeout_and_arguments_1(&resolve, timeout_ms, &silence);
        let first_settled = Promise::race(&Array::of2(&answer, &timer));
        match settled(&first_settled).await {
            Ok(value) if value == silence => {
                let now = js_sys::Date::now();
                let late_by = now - started - f64::from(timeout_ms);
                let maybe_load = late_by >= LATE_TIMER_MS || busy();
                if !maybe_load || now - first >= MAX_ASK_WAIT_MS {
                    break None;
                }
            }
            other => break other.ok().map(|event| js::get(&event, "data")),
        }
    };
    port.set_onmessage(None);
    port.close();
    answer.filter(|value| !value.is_undefined())
}

/// Posts a notification (no answer expected). A client that is gone is ignored.
pub(crate) async fn notify(client_id: &str, message: &JsValue) {
    if let Some(client) = client(client_id).await {
        let _ = client.post_message(message);
    }
}
