//! Talking to a tab: questions with a `MessagePort` answer and a bounded wait, and notifications.
//!
//! The worker asks a tab for its session after a restart (`authmedia:need-session`) and for a
//! fresh token after a 401 (`authmedia:need-token`). A tab that is gone, has no listener, or takes
//! longer than the timeout yields `None`: the caller decides what that means, it never hangs.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Client, MessageChannel, MessageEvent};

use crate::net::scope;

/// A message object `{type, ...fields}`.
pub(crate) fn message(kind: &str, fields: &[(&str, &JsValue)]) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"type".into(), &kind.into());
    for (name, value) in fields {
        let _ = Reflect::set(&object, &(*name).into(), value);
    }
    object.into()
}

/// The live client with this id, if any.
async fn client(client_id: &str) -> Option<Client> {
    if client_id.is_empty() {
        return None;
    }
    let found = JsFuture::from(scope().clients().get(client_id))
        .await
        .ok()?;
    found.dyn_into::<Client>().ok()
}

/// Posts `message` to the client with a fresh `MessagePort` and waits up to `timeout_ms` for the
/// first answer on it. `None` when the client is gone or silent.
pub(crate) async fn ask(client_id: &str, message: &JsValue, timeout_ms: i32) -> Option<JsValue> {
    let client = client(client_id).await?;
    let channel = MessageChannel::new().ok()?;
    let port = channel.port1();
    let answer = Promise::new(&mut |resolve: Function, _reject: Function| {
        let on_answer = resolve.clone();
        let on_message = Closure::once_into_js(move |event: MessageEvent| {
            let _ = on_answer.call1(&JsValue::NULL, &event.data());
        });
        port.set_onmessage(Some(on_message.unchecked_ref()));
        let on_timeout = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::UNDEFINED);
        });
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(
            on_timeout.unchecked_ref(),
            timeout_ms,
        );
    });
    let transfer = Array::of1(&channel.port2());
    if client
        .post_message_with_transfer(message, &transfer)
        .is_err()
    {
        port.close();
        return None;
    }
    let answer = JsFuture::from(answer).await.ok();
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
