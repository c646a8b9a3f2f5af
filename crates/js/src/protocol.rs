//! The page ↔ worker protocol, once: the message types both wasm adapters send and match, the
//! entry script's route codes and the header of the worker's error answers. The worker
//! (`authmedia-sw`) and the page SDK (`authmedia-web`) use these constants instead of string
//! literals; `tests/e2e/protocol.test.mjs` checks the hand-written entry script
//! (`sw/authmedia-sw.js`) against them. PROTOCOL.md has each message's fields and
//! reply.

/// page → worker: this tab's session (`{session, api?, protocol, version}`).
pub const SESSION: &str = "authmedia:session";
/// page → worker: a new access token for this tab's session.
pub const TOKEN: &str = "authmedia:token";
/// page → worker: the tab logged out.
pub const LOGOUT: &str = "authmedia:logout";
/// page → worker: the worker's counters.
pub const STATS: &str = "authmedia:stats";
/// page → worker: take control of this (uncontrolled) page.
pub const CLAIM: &str = "authmedia:claim";
/// page → worker: why did the answer to a URL fail.
pub const WHY: &str = "authmedia:why";
/// page → worker: register an encrypted attachment.
pub const ENCRYPTED: &str = "authmedia:encrypted";
/// worker → page: the tab's session, after a worker restart.
pub const NEED_SESSION: &str = "authmedia:need-session";
/// worker → page: a fresh token after a 401 `M_UNKNOWN_TOKEN`.
pub const NEED_TOKEN: &str = "authmedia:need-token";
/// The field of [`NEED_TOKEN`] naming the token the homeserver refused: its
/// `authmedia_core::token_fingerprint` (a number), never the token. The page refreshes only when
/// it is its current token's; otherwise it answers with its current token.
pub const REFUSED: &str = "refused";
/// worker → page: an encrypted attachment's file, after a worker restart.
pub const NEED_ENCRYPTED: &str = "authmedia:need-encrypted";
/// worker → page (notification): the homeserver refused the token.
pub const UNAUTHORIZED: &str = "authmedia:unauthorized";

/// Every message type of the protocol (what the entry script passes to the wasm: its prefix).
pub const ALL: [&str; 11] = [
    SESSION,
    TOKEN,
    LOGOUT,
    STATS,
    CLAIM,
    WHY,
    ENCRYPTED,
    NEED_SESSION,
    NEED_TOKEN,
    NEED_ENCRYPTED,
    UNAUTHORIZED,
];

/// The prefix of every message type: the entry script hands such messages to the wasm.
pub const PREFIX: &str = "authmedia:";

/// `route()`: not ours, leave it to the network.
pub const ROUTE_OTHER: u8 = 0;
/// `route()`: media of this client's homeserver, take it.
pub const ROUTE_MEDIA: u8 = 1;
/// `route()`: nothing known about this client (new tab, restarted worker).
pub const ROUTE_UNKNOWN: u8 = 2;
/// `route()`: this client has no session; media-looking requests pass through.
pub const ROUTE_NO_SESSION: u8 = 3;

/// The response header carrying the client code of the worker's error answers (also in the JSON
/// body as `authmedia_code`).
pub const CODE_HEADER: &str = "authmedia-code";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_type_has_the_prefix_and_is_unique() {
        for (i, kind) in ALL.iter().enumerate() {
            assert!(kind.starts_with(PREFIX), "{kind}");
            assert!(!ALL[..i].contains(kind), "{kind} twice");
        }
    }
}
