//! Sessions per client (tab): which homeserver, token and user a tab's media requests use.
//!
//! The worker never shares a token between clients: two tabs logged into two accounts (same
//! homeserver or not) each have their own entry, keyed by the `Client.id` the browser gives every
//! fetch (`FetchEvent.clientId`) and every message (`ExtendableMessageEvent.source.id`).
//! The table lives in worker memory only, so it is empty after the browser stops the worker;
//! the worker then asks the tab again (`authmedia:need-session`).

use authmedia_core::Homeserver;

/// At most this many clients are remembered; the oldest entry goes first (tabs that closed).
pub const MAX_CLIENTS: usize = 256;

/// What one tab gave the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The homeserver whose media requests get the token.
    pub homeserver: Homeserver,
    /// The access token (never logged, never put in a URL).
    pub access_token: String,
    /// The Matrix user id; keys the media store and the `need-token` question.
    pub user_id: String,
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

    /// Records what is known about `client_id`, replacing any earlier state.
    pub fn set(&mut self, client_id: &str, state: ClientState) {
        self.remove(client_id);
        if self.clients.len() >= MAX_CLIENTS {
            self.clients.remove(0);
        }
        self.clients.push((client_id.to_owned(), state));
    }

    /// Replaces the token of `client_id`'s session. Returns `false` when it has no session.
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
        self.clients.iter().any(
            |(_, state)| matches!(state, ClientState::Session(s) if s.access_token == access_token),
        )
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
        ClientState::Session(Session {
            homeserver: Homeserver::parse(hs).unwrap(),
            access_token: token.into(),
            user_id: user.into(),
        })
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
}
