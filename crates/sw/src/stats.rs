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
    /// Media fetches sent to the homeserver, retries included.
    pub upstream: u32,
    /// Of those, retries (after a network error, 429, 504 `M_NOT_YET_UPLOADED`, 502/503/504).
    pub retries: u32,
    /// Requests that joined an identical fetch in flight instead of sending their own.
    pub deduped: u32,
    /// Upstream fetches aborted because the homeserver stalled (`fetchTimeoutMs`).
    pub timeouts: u32,
    /// `authmedia:need-session` questions asked of tabs.
    pub session_asks: u32,
    /// Upstream media fetches in progress now (a gauge, not a counter).
    pub inflight: u32,
    /// Encrypted attachments verified and decrypted by WebCrypto (`crypto.subtle`).
    pub decrypted_webcrypto: u32,
    /// Encrypted attachments verified and decrypted by the core in wasm.
    pub decrypted_wasm: u32,
}

/// Where an instance's counters start: the counters live in the wasm instance, so they restart
/// from zero both when the entry script replaces a trapped instance and when the browser starts
/// the worker again. The entry script tells each instance which of the two it is (the
/// `lineage` option), and `authmedia:stats` reports it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Lineage {
    /// When the entry script was evaluated (ms since the epoch): another value than before means
    /// the browser started the worker again.
    pub worker_started_ms: f64,
    /// When this instance was created (ms since the epoch).
    pub instance_started_ms: f64,
    /// Instances of this evaluation of the script thrown away after a trap before this one.
    pub replacements: u32,
    /// The error that threw the last one away.
    pub last_trap: Option<String>,
}

/// Adds one, saturating.
pub(crate) fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}
