//! The end of a session in the worker: its last tab logged out, or the homeserver no longer knows
//! its token. What it leaves behind — stored media, encrypted keys, failure records — goes, and
//! its fetches still in the browser are aborted.

use authmedia_core::{Api, Lifecycle};

use crate::sessions::{Principal, Session};
use crate::state::Shared;
use crate::upstream;

/// What a finished request lifecycle tells the worker beyond its answer: the homeserver has no
/// authenticated media endpoints after all (`M_UNRECOGNIZED` → remembered as legacy), or the
/// session's token is dead (purged, see [`token_rejected`]).
pub(crate) fn lifecycle_side_effects(shared: &Shared, session: &Session, lc: &Lifecycle) {
    if lc.fell_back() {
        let now = js_sys::Date::now() as u64;
        shared
            .borrow_mut()
            .negotiation
            .insert(session.homeserver.base(), Api::Legacy, now);
    }
    if lc.token_rejected() {
        token_rejected(shared, session.principal);
    }
}

/// Ends a session in the worker (the last tab of it logged out): its stored media, encrypted
/// keys and failure records go, and its fetches already handed to the browser (maybe still in its
/// connection queue) are aborted, so none goes out with the token afterwards.
pub(crate) fn end_session(shared: &Shared, principal: Principal) {
    purge(shared, principal);
    upstream::abort_user(shared, &principal.key());
}

fn purge(shared: &Shared, principal: Principal) {
    let key = principal.key();
    let mut state = shared.borrow_mut();
    state.store.purge_user(&key);
    state.encrypted.purge_user(&key);
    state.failures.forget_user(&key);
}

/// The homeserver said the session's token is unknown (logged out on another device, revoked,
/// expired) and the tab had no fresh one: what the worker holds of that session is unreadable
/// from now on — a client that never calls `logout()` must not leave media behind.
pub(crate) fn token_rejected(shared: &Shared, principal: Principal) {
    purge(shared, principal);
}
