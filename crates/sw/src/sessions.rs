//! Sessions per client (tab): which homeserver, token and user a tab's media requests use.
//!
//! The worker never shares a token between clients: two tabs logged into two accounts (same
//! homeserver or not) each have their own entry, keyed by the `Client.id` the browser gives every
//! fetch (`FetchEvent.clientId`) and every message (`ExtendableMessageEvent.source.id`).
//! The table lives in worker memory only, so it is empty after the browser stops the worker;
//! the worker then asks the tab again (`authmedia:need-session`).
//!
//! **What is shared is keyed by a [`Principal`], never by the user id a tab claims.** The user
//! id comes from the page and proves nothing: a tab with a garbage token claiming `@alice` must
//! not receive a body fetched with alice's token, join her flights, or purge her cache at its
//! logout. A principal is what the worker itself knows to be one session: every tab holding the
//! same access token (on the same homeserver) has the same principal, and a tab that replaces
//! its token (`authmedia:token`, a refresh: the tab held the old token, so it is the same
//! session) keeps its principal. A new token posted in a new session starts a new principal.
//! This costs no request (the alternative, `/account/whoami` per token, would put a round trip
//! before the first image of every tab and every refresh) and shares only where sharing is
//! provably safe; two tabs of one user with independently obtained tokens simply do not share
//! their cache.

use authmedia_core::{authorize, CanonicalUrl, Homeserver, Pass, Refusal};

/// At most this many clients are remembered; the oldest entry goes first (tabs that closed).
pub const MAX_CLIENTS: usize = 256;

/// One session as the worker established it (see the module docs): the key of the media store,
/// the flights, the encrypted-attachment registry and the failure records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal(u64);

impl Principal {
    /// The key under which this principal's entries are kept.
    pub fn key(self) -> String {
        let mut key = String::from("p");
        authmedia_core::push_decimal(&mut key, self.0);
        key
    }
}

/// What one tab gave the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The homeserver whose media requests get the token.
    pub homeserver: Homeserver,
    /// The access token (never logged, never put in a URL).
    pub access_token: String,
    /// The Matrix user id the tab claims (asked back in `need-token`; never a key).
    pub user_id: String,
    /// Assigned by [`Sessions::set`]; what every shared entry is keyed by.
    pub principal: Principal,
}

impl Session {
    /// A session as a tab posted it; its principal is assigned when it is [`Sessions::set`].
    pub fn new(homeserver: Homeserver, access_token: String, user_id: String) -> Self {
        Self {
            homeserver,
            access_token,
            user_id,
            principal: Principal(0),
        }
    }

    /// The key of this session's shared entries ([`Principal::key`]).
    pub fn key(&self) -> String {
        self.principal.key()
    }
}

/// What the worker knows about one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientState {
    /// The tab has a session.
    Session(Session),
    /// The tab said (or showed by not answering) that it has none: pass its requests through.
    NoSession,
}

/// Client id → [`ClientState`], bounded by [`MAX_CLIENTS`].
#[derive(Debug, Default)]
pub struct Sessions {
    clients: Vec<(String, ClientState)>,
    /// The last principal handed out.
    last: u64,
}

impl Sessions {
    /// What is known about `client_id`; `None` when nothing is (fresh worker, new tab).
    pub fn get(&self, client_id: &str) -> Option<&ClientState> {
        self.clients
            .iter()
            .find(|(id, _)| id == client_id)
            .map(|(_, state)| state)
    }

    /// The session of `client_id`, if it has one.
    pub fn session(&self, client_id: &str) -> Option<&Session> {
        match self.get(client_id) {
            Some(ClientState::Session(session)) => Some(session),
            _ => None,
        }
    }

    fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.clients.iter().filter_map(|(_, state)| match state {
            ClientState::Session(s) => Some(s),
            ClientState::NoSession => None,
        })
    }

    /// Records what is known about `client_id`, replacing any earlier state. A session gets the
    /// principal of a tab holding the same token on the same homeserver — this tab's own earlier
    /// session included: a page that hands the same session over again (a second instance of the
    /// SDK, a repeated handoff as the worker takes control) is the same session, and its requests
    /// in flight, which are delivered only while the tab holds their principal, must not end —
    /// else a new one.
    pub fn set(&mut self, client_id: &str, state: ClientState) {
        let state = match state {
            ClientState::Session(mut session) => {
                let same = self
                    .sessions()
                    .find(|s| {
                        s.access_token == session.access_token
                            && s.homeserver.base() == session.homeserver.base()
                    })
                    .map(|s| s.principal);
                session.principal = same.unwrap_or_else(|| {
                    self.last += 1;
                    Principal(self.last)
                });
                ClientState::Session(session)
            }
            other => other,
        };
        self.remove(client_id);
        if self.clients.len() >= MAX_CLIENTS {
            self.clients.remove(0);
        }
        self.clients.push((client_id.to_owned(), state));
    }

    /// Replaces the token of `client_id`'s session (a refresh: same principal). Returns `false`
    /// when it has no session.
    pub fn set_token(&mut self, client_id: &str, access_token: &str) -> bool {
        let Some((_, ClientState::Session(session))) =
            self.clients.iter_mut().find(|(id, _)| id == client_id)
        else {
            return false;
        };
        access_token.clone_into(&mut session.access_token);
        true
    }

    /// Whether some tab's session still holds `access_token` (not logged out, not replaced).
    pub fn token_in_use(&self, access_token: &str) -> bool {
        self.sessions().any(|s| s.access_token == access_token)
    }

    /// Whether a request of `principal` may still go out with `access_token`: some tab still
    /// holds that token in that session (the gate's "session alive").
    pub fn alive(&self, principal: Principal, access_token: &str) -> bool {
        self.sessions()
            .any(|s| s.principal == principal && s.access_token == access_token)
    }

    /// Whether `client_id` still has a session of `principal` (an answer is delivered only then).
    pub fn holds(&self, client_id: &str, principal: Principal) -> bool {
        self.session(client_id)
            .is_some_and(|s| s.principal == principal)
    }

    /// Whether any tab still has a session of `principal`.
    pub fn principal_in_use(&self, principal: Principal) -> bool {
        self.sessions().any(|s| s.principal == principal)
    }

    /// **The worker's one gate** (with the core's [`authorize`]): a request of `session` may go
    /// to `url` with `access_token` now only while some tab still holds that token in that
    /// session, and only to a canonical URL of the session's homeserver. The [`Pass`] is what
    /// `net`'s one token-setting function takes, so no path (media, encrypted, `/versions`, a
    /// retry, a refresh) can put a token on a request without coming through here — and it is
    /// asked again before every attempt, after every wait.
    pub fn pass(
        &self,
        session: &Session,
        access_token: &str,
        url: &CanonicalUrl,
    ) -> Result<Pass, Refusal> {
        let alive = self.alive(session.principal, access_token);
        authorize(&session.homeserver, alive, url)
    }

    /// Forgets `client_id` and returns what was known.
    pub fn remove(&mut self, client_id: &str) -> Option<ClientState> {
        let index = self.clients.iter().position(|(id, _)| id == client_id)?;
        Some(self.clients.remove(index).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(hs: &str, token: &str, user: &str) -> ClientState {
        ClientState::Session(Session::new(
            Homeserver::parse(hs).unwrap(),
            token.into(),
            user.into(),
        ))
    }

    #[test]
    fn a_token_is_in_use_while_a_tab_holds_it() {
        let mut sessions = Sessions::default();
        assert!(!sessions.token_in_use("t1"));
        sessions.set(
            "tab-a",
            session("https://hs.example", "t1", "@a:hs.example"),
        );
        sessions.set(
            "tab-b",
            session("https://hs.example", "t1", "@a:hs.example"),
        );
        assert!(sessions.token_in_use("t1"));
        sessions.remove("tab-a");
        assert!(sessions.token_in_use("t1"));
        sessions.set_token("tab-b", "t2");
        assert!(!sessions.token_in_use("t1"));
        assert!(sessions.token_in_use("t2"));
        sessions.set("tab-b", ClientState::NoSession);
        assert!(!sessions.token_in_use("t2"));
    }

    #[test]
    fn a_tab_handing_the_same_session_over_again_keeps_its_principal() {
        let mut sessions = Sessions::default();
        sessions.set("tab", session("https://hs.example", "t1", "@a:hs.example"));
        let first = sessions.session("tab").unwrap().principal;
        sessions.set("tab", session("https://hs.example", "t1", "@a:hs.example"));
        assert_eq!(sessions.session("tab").unwrap().principal, first);
        assert!(sessions.holds("tab", first));
        assert!(sessions.alive(first, "t1"));
        // Another token, or the same token for another homeserver, is another session.
        sessions.set("tab", session("https://hs.example", "t2", "@a:hs.example"));
        let second = sessions.session("tab").unwrap().principal;
        assert_ne!(second, first);
        assert!(!sessions.alive(first, "t1"));
        sessions.set(
            "tab",
            session("https://other.example", "t2", "@a:hs.example"),
        );
        assert_ne!(sessions.session("tab").unwrap().principal, second);
        // After a logout (no session) the same token starts a new one.
        sessions.set("tab", ClientState::NoSession);
        sessions.set("tab", session("https://hs.example", "t1", "@a:hs.example"));
        assert_ne!(sessions.session("tab").unwrap().principal, first);
    }

    #[test]
    fn each_client_has_its_own_token() {
        let mut sessions = Sessions::default();
        sessions.set(
            "tab-a",
            session("http://127.0.0.1:8008", "tok-a", "@alice:hs"),
        );
        sessions.set(
            "tab-b",
            session("http://127.0.0.1:8008", "tok-b", "@bob:hs"),
        );
        assert_eq!(sessions.session("tab-a").unwrap().access_token, "tok-a");
        assert_eq!(sessions.session("tab-b").unwrap().access_token, "tok-b");
        assert!(sessions.get("tab-c").is_none());
    }

    #[test]
    fn token_refresh_and_logout() {
        let mut sessions = Sessions::default();
        sessions.set("tab", session("http://hs", "old", "@a:hs"));
        assert!(sessions.set_token("tab", "new"));
        assert_eq!(sessions.session("tab").unwrap().access_token, "new");
        assert!(matches!(
            sessions.remove("tab"),
            Some(ClientState::Session(_))
        ));
        assert!(sessions.get("tab").is_none());
        assert!(!sessions.set_token("tab", "x"));
    }

    #[test]
    fn no_session_is_remembered_and_replaced_by_a_login() {
        let mut sessions = Sessions::default();
        sessions.set("tab", ClientState::NoSession);
        assert_eq!(sessions.get("tab"), Some(&ClientState::NoSession));
        assert!(!sessions.set_token("tab", "x"));
        sessions.set("tab", session("http://hs", "t", "@a:hs"));
        assert!(sessions.session("tab").is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut sessions = Sessions::default();
        for i in 0..MAX_CLIENTS + 10 {
            sessions.set(&format!("tab-{i}"), ClientState::NoSession);
        }
        assert!(sessions.get("tab-0").is_none());
        assert!(sessions.get(&format!("tab-{}", MAX_CLIENTS + 9)).is_some());
    }

    fn principal(sessions: &Sessions, id: &str) -> Principal {
        sessions.session(id).unwrap().principal
    }

    #[test]
    fn principals_follow_tokens_not_claimed_user_ids() {
        let mut sessions = Sessions::default();
        let hs = "https://hs.example";
        sessions.set("alice", session(hs, "tok-alice", "@alice:hs"));
        sessions.set("liar", session(hs, "garbage", "@alice:hs"));
        sessions.set("alice-2", session(hs, "tok-alice", "@alice:hs"));
        sessions.set("anon-1", session(hs, "tok-1", ""));
        sessions.set("anon-2", session(hs, "tok-2", ""));
        sessions.set(
            "elsewhere",
            session("https://other.example", "tok-alice", "@alice:hs"),
        );
        assert_ne!(
            principal(&sessions, "alice"),
            principal(&sessions, "liar"),
            "a claimed user id is not a principal"
        );
        assert_eq!(
            principal(&sessions, "alice"),
            principal(&sessions, "alice-2"),
            "one token, one principal"
        );
        assert_ne!(
            principal(&sessions, "anon-1"),
            principal(&sessions, "anon-2")
        );
        assert_ne!(
            principal(&sessions, "alice"),
            principal(&sessions, "elsewhere"),
            "same token string, another homeserver"
        );
        let alice = principal(&sessions, "alice");
        assert!(sessions.alive(alice, "tok-alice"));
        assert!(!sessions.alive(alice, "garbage"));
        // A refresh keeps the principal; the old token is no longer alive for that tab alone.
        assert!(sessions.set_token("alice", "tok-alice-2"));
        assert_eq!(principal(&sessions, "alice"), alice);
        assert!(sessions.alive(alice, "tok-alice-2"));
        assert!(sessions.alive(alice, "tok-alice"), "alice-2 still holds it");
        sessions.set("alice-2", ClientState::NoSession);
        assert!(!sessions.alive(alice, "tok-alice"));
        assert!(sessions.holds("alice", alice) && !sessions.holds("alice-2", alice));
        assert!(sessions.principal_in_use(alice));
        sessions.remove("alice");
        assert!(!sessions.principal_in_use(alice));
        // A later session with a token no tab holds gets a new principal.
        sessions.set("alice", session(hs, "tok-alice-2", "@alice:hs"));
        assert_ne!(principal(&sessions, "alice"), alice);
    }
}
