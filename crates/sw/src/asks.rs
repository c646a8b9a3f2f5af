//! Questions to the tab, shared between concurrent requests: its session after a worker restart
//! (`authmedia:need-session`), a fresh token after a 401 (`authmedia:need-token`), and the
//! worker's own `/versions` negotiation (through the gate, registered like a media flight).

use authmedia_core::{
    negotiate, token_fingerprint, Api, CanonicalUrl, Homeserver, WORKER_PROTOCOL,
};
use authmedia_js::protocol;
use js_sys::Promise;
use wasm_bindgen::JsValue;

use crate::flight::Deadline;
use crate::net;
use crate::sessions::{ClientState, Session};
use crate::settle::promise;
use crate::settle::settled;
use crate::state::Shared;
use crate::stats::bump;
use crate::upstream;
use crate::{js, tab};

/// Runs `start()` unless a task under `key` is already in flight, and waits for it.
///
/// Only the choice of the promise is generic (one copy per caller); the wait is one future for
/// every caller.
pub(crate) fn shared_task(
    shared: &Shared,
    key: String,
    start: impl FnOnce() -> Promise,
) -> impl std::future::Future<Output = JsValue> {
    let existing = shared
        .borrow()
        .pending
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, p)| p.clone());
    let promise = match existing {
        Some(promise) => promise,
        None => {
            // `future_to_promise` only starts the task on the next microtask: no re-entrancy.
            let promise = start();
            shared
                .borrow_mut()
                .pending
                .push((key.clone(), promise.clone()));
            promise
        }
    };
    wait_shared(shared.clone(), key, promise)
}

/// Waits for the task `promise` under `key`, then forgets it.
async fn wait_shared(shared: Shared, key: String, promise: Promise) -> JsValue {
    let result = settled(&promise.clone())
        .await
        .unwrap_or(JsValue::UNDEFINED);
    let this = JsValue::from(promise);
    shared
        .borrow_mut()
        .pending
        .retain(|(k, p)| !(*k == key && JsValue::from(p.clone()) == this));
    result
}

/// Parses `{session: {homeserver, accessToken, userId} | null, api?}`.
pub(crate) fn parse_session(
    value: &JsValue,
) -> Result<Option<(Session, Option<Api>)>, &'static str> {
    let fields = js::get(value, "session");
    if fields.is_null() || fields.is_undefined() {
        return Ok(None);
    }
    let (Some(homeserver), Some(access_token), Some(user_id)) = (
        js::string(&fields, "homeserver"),
        js::string(&fields, "accessToken"),
        js::string(&fields, "userId"),
    ) else {
        return Err("session needs string homeserver, accessToken and userId");
    };
    let homeserver = Homeserver::parse(&homeserver).map_err(|e| e.code())?;
    if access_token.is_empty() {
        return Err("empty accessToken");
    }
    let api = js::string(value, "api").and_then(|a| a.parse::<Api>().ok());
    Ok(Some((Session::new(homeserver, access_token, user_id), api)))
}

pub(crate) fn store_session(shared: &Shared, client_id: &str, session: Session, api: Option<Api>) {
    let mut state = shared.borrow_mut();
    if let Some(api) = api {
        state
            .negotiation
            .insert(session.homeserver.base(), api, js_sys::Date::now() as u64);
    }
    state.sessions.set(client_id, ClientState::Session(session));
}

/// This many requests waiting for one tab's session make its silence look like load (a gallery
/// whose page is busy) rather than a page without the SDK (a login page's few SSO icons): the
/// worker then waits longer than `askTimeoutMs` (see [`tab::ask_while`]).
const BUSY_SESSION_WAITERS: u32 = 16;

fn session_waiters(shared: &Shared, client_id: &str, delta: i32) -> u32 {
    let waiters = &mut shared.borrow_mut().session_waiters;
    let index = match waiters.iter().position(|(id, _)| id == client_id) {
        Some(index) => index,
        None => {
            waiters.push((client_id.to_owned(), 0));
            waiters.len() - 1
        }
    };
    let Some((_, count)) = waiters.get_mut(index) else {
        return 0;
    };
    *count = count.saturating_add_signed(delta);
    let now = *count;
    if now == 0 {
        waiters.swap_remove(index);
    }
    now
}

/// The tab's session: the one it gave, none if it said it has none, else (a restarted worker)
/// asked of it ([`recover_session`]).
pub(crate) async fn session_of(shared: &Shared, client_id: &str) -> Option<Session> {
    let known = shared.borrow().sessions.get(client_id).cloned();
    match known {
        Some(ClientState::Session(session)) => Some(session),
        Some(ClientState::NoSession) => None,
        None => recover_session(shared, client_id).await,
    }
}

/// After a restart: asks the tab for its session (≤ 1 s, longer only under load, see
/// [`tab::ask_while`]). Silence or `null` means no session.
pub(crate) async fn recover_session(shared: &Shared, client_id: &str) -> Option<Session> {
    if client_id.is_empty() {
        return None;
    }
    session_waiters(shared, client_id, 1);
    let session = ask_session(shared, client_id).await;
    session_waiters(shared, client_id, -1);
    session
}

async fn ask_session(shared: &Shared, client_id: &str) -> Option<Session> {
    let owned = (shared.clone(), client_id.to_owned());
    shared_task(shared, ["session:", client_id].concat(), move || {
        promise(Box::pin(async move {
            let (shared, client_id) = owned;
            let timeout = shared.borrow().config.ask_timeout_ms;
            bump(&mut shared.borrow_mut().stats.session_asks);
            let busy = || session_waiters(&shared, &client_id, 0) >= BUSY_SESSION_WAITERS;
            let answer = tab::ask_while(
                &client_id,
                // With the protocol: a page answers only a worker it can work with.
                &tab::message(
                    protocol::NEED_SESSION,
                    &[("protocol", &WORKER_PROTOCOL.into())],
                ),
                timeout,
                &busy,
            )
            .await;
            let parsed = answer.and_then(|a| parse_session(&a).ok().flatten());
            // A session the tab sent on its own meanwhile is not overwritten by "none".
            let known = shared.borrow().sessions.get(&client_id).is_some();
            match parsed {
                Some((session, api)) => store_session(&shared, &client_id, session, api),
                None if !known => shared
                    .borrow_mut()
                    .sessions
                    .set(&client_id, ClientState::NoSession),
                None => {}
            }
            Ok(JsValue::UNDEFINED)
        }))
    })
    .await;
    shared.borrow().sessions.session(client_id).cloned()
}

/// After a 401 `M_UNKNOWN_TOKEN`: a token other than `used`, from the table (another request
/// already refreshed it) or from the tab (asked once, shared by concurrent requests, naming the
/// refused token by its fingerprint).
pub(crate) async fn refreshed_token(
    shared: &Shared,
    client_id: &str,
    session: &Session,
    used: &str,
) -> Option<String> {
    let current = |shared: &Shared| {
        shared
            .borrow()
            .sessions
            .session(client_id)
            .filter(|s| s.principal == session.principal && s.access_token != used)
            .map(|s| s.access_token.clone())
    };
    if let Some(token) = current(shared) {
        return Some(token);
    }
    shared.borrow().sessions.session(client_id)?; // logged out meanwhile: no retry
    let owned = (
        shared.clone(),
        client_id.to_owned(),
        session.user_id.clone(),
        token_fingerprint(used),
    );
    shared_task(shared, ["token:", client_id].concat(), move || {
        promise(Box::pin(async move {
            let (shared, client_id, user_id, refused) = owned;
            // The tab holds a session, so it speaks the protocol and always answers (`null` when
            // it cannot refresh); its refresh is a round trip to the homeserver or an identity
            // provider that may take seconds. Waited for as long as an upstream answer would be.
            let timeout = shared.borrow().config.fetch_timeout_ms;
            // Which token was refused (its fingerprint, not the token): a tab that already holds
            // another one answers with it instead of refreshing again.
            let question = tab::message(
                protocol::NEED_TOKEN,
                &[
                    ("userId", &user_id.as_str().into()),
                    (protocol::REFUSED, &refused.into()),
                ],
            );
            let answer = tab::ask(&client_id, &question, timeout).await;
            let token = answer
                .and_then(|a| js::string(&a, "accessToken"))
                .filter(|t| !t.is_empty());
            if let Some(token) = token {
                shared.borrow_mut().sessions.set_token(&client_id, &token);
            }
            Ok(JsValue::UNDEFINED)
        }))
    })
    .await;
    current(shared)
}

/// The API flavour of the session's homeserver: cached, else an authenticated `/versions`.
/// When `/versions` cannot be read the answer is [`Api::V1`], uncached: a server without it
/// answers `M_UNRECOGNIZED`, which [`serve`] handles.
pub(crate) async fn api_for(shared: &Shared, session: &Session) -> Api {
    let base = session.homeserver.base().to_owned();
    if let Some(api) = shared
        .borrow()
        .negotiation
        .get(&base, js_sys::Date::now() as u64)
    {
        return api;
    }
    let owned = (shared.clone(), base.clone(), session.clone());
    let answer = shared_task(shared, ["versions:", &base].concat(), move || {
        promise(Box::pin(async move {
            let (shared, base, session) = owned;
            let token = &session.access_token;
            // Logged out (or the token replaced) before this task ran: send nothing.
            let url = CanonicalUrl::versions(&session.homeserver);
            let Ok(pass) = shared.borrow().sessions.pass(&session, token, &url) else {
                return Ok(JsValue::UNDEFINED);
            };
            // Registered like a media flight, so that a logout of the session aborts it: a
            // request still queued in the browser must not leave with the token afterwards.
            let flight = upstream::start_flight(&shared, &session.key());
            let controller = flight.arm()?;
            // A stalled server must not hold media requests forever: same deadline as media.
            let timeout = shared.borrow().config.fetch_timeout_ms;
            let _deadline = Deadline::new(&controller, timeout);
            let request =
                net::plain_authenticated_request(&pass, token, Some(&controller.signal()))?;
            let response = net::fetch(&request).await;
            flight.end();
            let response = response?;
            if !response.ok() {
                return Ok(JsValue::UNDEFINED);
            }
            let Some(body) = net::json(&response).await else {
                return Ok(JsValue::UNDEFINED);
            };
            let Some(versions) = js::versions(&body) else {
                return Ok(JsValue::UNDEFINED);
            };
            let api = negotiate(&versions);
            shared
                .borrow_mut()
                .negotiation
                .insert(&base, api, js_sys::Date::now() as u64);
            Ok(api.as_str().into())
        }))
    })
    .await;
    answer
        .as_string()
        .and_then(|a| a.parse::<Api>().ok())
        .unwrap_or(Api::V1)
}
