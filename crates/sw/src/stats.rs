//! Counters a tab can ask for (`authmedia:stats`); the page SDK and the demo show them.

/// Requests by kind since the worker (its wasm instance) started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Media requests the worker sent with `Authorization: Bearer` (retries not counted twice).
    pub authenticated: u32,
    /// Of those, legacy `/_matrix/media/{v3,r0}` URLs fetched from the authenticated endpoints.
    pub upgraded: u32,
    /// Media-looking requests of tabs without a session, left to the network untouched.
    pub passthrough: u32,
    /// Media requests finally answered 401/403 (after the one token refresh), or failed.
    pub refused: u32,
    /// Answers served from the worker's media store without a network request.
    pub cache_hits: u32,
}

/// Adds one, saturating.
pub(crate) fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}
