//! Page → worker messages (`authmedia:session`, `token`, `logout`, `why`, `encrypted`, `stats`,
//! `claim`) and their replies.

use authmedia_core::WORKER_PROTOCOL;
use authmedia_js::protocol;
use js_sys::ArrayBuffer;
use wasm_bindgen::{JsCast, JsValue};

use crate::asks::{parse_session, recover_session, store_session};
use crate::ending::end_session;
use crate::js;
use crate::net;
use crate::sessions::ClientState;
use crate::settle::settled;
use crate::state::{Shared, State};
use crate::stats::Stats;

pub(crate) fn stats_object(state: &State) -> JsValue {
    let stats: &Stats = &state.stats;
    // Byte counts as JS numbers (exact below 2^53).
    let bytes = |n: u64| JsValue::from(n as f64);
    let memory = wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<ArrayBuffer>()
        .byte_length();
    js::object(&[
        ("authenticated", stats.authenticated.into()),
        ("upgraded", stats.upgraded.into()),
        ("passthrough", stats.passthrough.into()),
        ("refused", stats.refused.into()),
        ("cacheHits", stats.cache_hits.into()),
        ("upstream", stats.upstream.into()),
        ("retries", stats.retries.into()),
        ("deduped", stats.deduped.into()),
        ("timeouts", stats.timeouts.into()),
        ("sessionAsks", stats.session_asks.into()),
        ("storeBytes", bytes(state.store.used())),
        ("storeEntries", (state.store.len() as u32).into()),
        ("storeBudgetBytes", bytes(state.store.budget())),
        ("inflight", stats.inflight.into()),
        ("wasmMemoryBytes", memory.into()),
        ("decryptedWebCrypto", stats.decrypted_webcrypto.into()),
        ("decryptedWasm", stats.decrypted_wasm.into()),
        ("version", env!("CARGO_PKG_VERSION").into()),
        ("workerStartedAt", state.lineage.worker_started_ms.into()),
        (
            "instanceStartedAt",
            state.lineage.instance_started_ms.into(),
        ),
        ("instanceReplacements", state.lineage.replacements.into()),
        (
            "lastTrap",
            state
                .lineage
                .last_trap
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        ),
    ])
}

fn reply_ok(ok: bool, error: Option<&str>) -> JsValue {
    let reply = js_sys::Object::new();
    js::set(&reply, "ok", &ok.into());
    if let Some(error) = error {
        js::set(&reply, "error", &error.into());
    }
    reply.into()
}

pub(crate) async fn on_message(
    shared: &Shared,
    data: &JsValue,
    client_id: Option<&str>,
) -> JsValue {
    let kind = js::string(data, "type").unwrap_or_default();
    match kind.as_str() {
        protocol::STATS => stats_object(&shared.borrow()),
        protocol::CLAIM => match settled(&net::scope().clients().claim()).await {
            Ok(_) => reply_ok(true, None),
            Err(error) => reply_ok(false, Some(&net::describe(&error))),
        },
        _ => {
            let Some(client_id) = client_id else {
                return reply_ok(false, Some("message without a client source"));
            };
            if kind == protocol::ENCRYPTED && shared.borrow().sessions.get(client_id).is_none() {
                // A restarted worker: learn the tab's session first, as for a media request.
                recover_session(shared, client_id).await;
            }
            client_message(shared, &kind, data, client_id)
        }
    }
}

pub(crate) fn client_message(
    shared: &Shared,
    kind: &str,
    data: &JsValue,
    client_id: &str,
) -> JsValue {
    match kind {
        protocol::SESSION => {
            let reply = match parse_session(data) {
                Ok(Some((session, api))) => {
                    store_session(shared, client_id, session, api);
                    reply_ok(true, None)
                }
                Ok(None) => {
                    shared
                        .borrow_mut()
                        .sessions
                        .set(client_id, ClientState::NoSession);
                    reply_ok(true, None)
                }
                Err(error) => reply_ok(false, Some(error)),
            };
            // The handshake: the page checks these and falls back from a worker it cannot work
            // with (an old copy of the worker files left on the site after an update).
            js::set(&reply, "protocol", &WORKER_PROTOCOL.into());
            js::set(&reply, "version", &env!("CARGO_PKG_VERSION").into());
            reply
        }
        protocol::TOKEN => {
            let token = js::string(data, "accessToken");
            let ok = token
                .filter(|t| !t.is_empty())
                .is_some_and(|t| shared.borrow_mut().sessions.set_token(client_id, &t));
            reply_ok(ok, (!ok).then_some("no session or no accessToken"))
        }
        protocol::LOGOUT => {
            let ended = {
                let mut state = shared.borrow_mut();
                let ended = match state.sessions.remove(client_id) {
                    Some(ClientState::Session(session)) => Some(session.principal),
                    _ => None,
                };
                state.sessions.set(client_id, ClientState::NoSession);
                // Another tab of the same session (same token) keeps it: its media, flights and
                // records stay. Only the last tab's logout ends the session in the worker.
                ended.filter(|p| !state.sessions.principal_in_use(*p))
            };
            if let Some(principal) = ended {
                end_session(shared, principal);
            }
            reply_ok(true, None)
        }
        protocol::WHY => {
            // Only the asking tab's user's failures: another account's tab learns nothing.
            let state = shared.borrow();
            let code = js::string(data, "url").and_then(|url| {
                let key = state.sessions.session(client_id)?.key();
                state.failures.get(&key, &url).map(str::to_owned)
            });
            let reply = reply_ok(true, None);
            js::set(
                &reply,
                "code",
                &code.map_or(JsValue::NULL, |c| c.as_str().into()),
            );
            reply
        }
        protocol::ENCRYPTED => match crate::encrypted::register(shared, data, client_id) {
            Ok(url) => {
                let reply = reply_ok(true, None);
                js::set(&reply, "url", &url.into());
                reply
            }
            Err(error) => reply_ok(false, Some(&error)),
        },
        _ => reply_ok(false, Some("unknown message type")),
    }
}
