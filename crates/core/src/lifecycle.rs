//! The lifecycle of one authenticated request, as a sans-IO state machine.
//!
//! Send → (429 / 504 `M_NOT_YET_UPLOADED` / gateway error / network error → wait → send again)
//! → (401 `M_UNKNOWN_TOKEN` → ask for a fresh token once → send again) → (404/405 `M_UNRECOGNIZED`
//! on an upgraded request → the legacy API once) → the answer, or a failure with a code. The
//! service worker's media and encrypted paths and the page's fallback each execute this one
//! machine instead of writing the sequence out by hand.
//!
//! Shaped like quinn-proto's `Connection`: the caller feeds what happened ([`Lifecycle::on_answer`],
//! [`Lifecycle::on_network_error`], [`Lifecycle::on_stall`], [`Lifecycle::on_token`],
//! [`Lifecycle::on_end`]) and asks what to do next ([`Lifecycle::poll`]) with the current time;
//! the machine never sees a request, a response or a clock. It decides *what* to send (which API
//! flavour, which token generation); the token itself is put on a request only through the
//! [`crate::gate`], by the caller, right before the send.
//!
//! Invariants (tested by the vectors and the `lifecycle` fuzz target):
//! - after [`Lifecycle::on_end`] (logout, every waiter gone) nothing is sent again;
//! - at most one [`Action::NeedToken`], at most one fall-back to [`Api::Legacy`];
//! - at most [`RetryPolicy::max_attempts`] sends per target and token, never a wait that takes
//!   the total waiting beyond [`RetryPolicy::max_total_wait_ms`];
//! - a stall is never retried.

use crate::code::ClientCode;
use crate::endpoint::Api;
use crate::error::{ErrorKind, MatrixError};
use crate::retry::{Decision, Failure, RetryPolicy};

/// What the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Build the request for `api` with the token of `generation` (through the gate) and send
    /// it; then report what happened.
    Send {
        /// The API flavour of the URL to send.
        api: Api,
        /// Which token: 0 is the one the request started with, each fresh token adds one.
        generation: u32,
    },
    /// Nothing to do before `until_ms` (a back-off); poll again then.
    Wait {
        /// When to poll again.
        until_ms: u64,
    },
    /// Ask for a fresh token (the tab, `onTokenRefresh`), then call [`Lifecycle::on_token`].
    NeedToken {
        /// The generation that was rejected.
        after_generation: u32,
    },
    /// Waiting for an input (an answer, a token): nothing to do now.
    Idle,
    /// The last answer is the result (a success, or an error answer to hand on as it is).
    Deliver,
    /// Give up: no answer to deliver.
    Fail(Ending),
}

/// Why a request ended without an answer to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The homeserver could not be reached, after this many attempts.
    Network {
        /// Attempts made for the last target.
        attempts: u32,
    },
    /// It stopped answering (headers or body) within the caller's deadline.
    TimedOut,
    /// Ended from outside: logout, or every page request waiting for it went away.
    Cancelled,
}

impl Ending {
    /// The client code: `network`, `timeout` or `cancelled`.
    pub fn client_code(&self) -> ClientCode {
        match self {
            Self::Network { .. } => ClientCode::Network,
            Self::TimedOut => ClientCode::Timeout,
            Self::Cancelled => ClientCode::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Send,
    WaitUntil(u64),
    AwaitAnswer,
    AskToken,
    AwaitToken,
    Deliver,
    Fail(Ending),
}

/// One request's lifecycle (see the module docs).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    policy: RetryPolicy,
    api: Api,
    may_fall_back: bool,
    can_refresh: bool,
    /// Sends of the current target and token.
    attempt: u32,
    /// Milliseconds waited between attempts, in all.
    waited_ms: u64,
    generation: u32,
    refreshed: bool,
    fell_back: bool,
    token_rejected: bool,
    sends: u32,
    next: Next,
}

impl Lifecycle {
    /// A request to send first in flavour `api`. `may_fall_back`: the URL was upgraded to an
    /// authenticated API (from a legacy URL, or by negotiation), so a server that turns out not
    /// to know it (`M_UNRECOGNIZED`) gets the legacy URL once. `can_refresh`: someone can be asked
    /// for a fresh token after a 401 `M_UNKNOWN_TOKEN`.
    pub fn new(policy: RetryPolicy, api: Api, may_fall_back: bool, can_refresh: bool) -> Self {
        Self {
            policy,
            api,
            may_fall_back: may_fall_back && api.is_authenticated(),
            can_refresh,
            attempt: 0,
            waited_ms: 0,
            generation: 0,
            refreshed: false,
            fell_back: false,
            token_rejected: false,
            sends: 0,
            next: Next::Send,
        }
    }

    /// What to do now.
    pub fn poll(&mut self, now_ms: u64) -> Action {
        match self.next {
            Next::Send => self.send(),
            Next::WaitUntil(until_ms) if now_ms >= until_ms => self.send(),
            Next::WaitUntil(until_ms) => Action::Wait { until_ms },
            Next::AwaitAnswer | Next::AwaitToken => Action::Idle,
            Next::AskToken => {
                self.next = Next::AwaitToken;
                Action::NeedToken {
                    after_generation: self.generation,
                }
            }
            Next::Deliver => Action::Deliver,
            Next::Fail(ending) => Action::Fail(ending),
        }
    }

    fn send(&mut self) -> Action {
        self.attempt = self.attempt.saturating_add(1);
        self.sends = self.sends.saturating_add(1);
        self.next = Next::AwaitAnswer;
        Action::Send {
            api: self.api,
            generation: self.generation,
        }
    }

    /// The homeserver answered `status` (headers in); `error` is its body read as a Matrix
    /// error (for error statuses; `None` when the body was not read or not JSON).
    pub fn on_answer(&mut self, now_ms: u64, status: u16, error: Option<&MatrixError>) {
        if self.next != Next::AwaitAnswer {
            return;
        }
        if status < 400 {
            self.next = Next::Deliver;
            return;
        }
        let fallback_error;
        let error = match error {
            Some(e) => e,
            None => {
                fallback_error = MatrixError::from_body(status, None, None);
                &fallback_error
            }
        };
        let kind = error.kind();
        if self.may_fall_back
            && !self.fell_back
            && matches!(status, 404 | 405)
            && kind == ErrorKind::Unrecognized
        {
            self.fell_back = true;
            self.api = Api::Legacy;
            self.attempt = 0;
            self.next = Next::Send;
            return;
        }
        if status == 401 && matches!(kind, ErrorKind::UnknownToken { .. }) {
            self.next = if self.can_refresh && !self.refreshed {
                self.refreshed = true;
                Next::AskToken
            } else {
                self.token_rejected = true;
                Next::Deliver
            };
            return;
        }
        self.next = match self
            .policy
            .decide(self.attempt, self.waited_ms, &Failure::Status(error))
        {
            Decision::RetryAfter(ms) => self.wait(now_ms, ms),
            Decision::GiveUp => Next::Deliver,
        };
    }

    /// The request got no answer (connection refused or reset, DNS, CORS, offline).
    pub fn on_network_error(&mut self, now_ms: u64) {
        if self.next != Next::AwaitAnswer {
            return;
        }
        self.next = match self
            .policy
            .decide(self.attempt, self.waited_ms, &Failure::Network)
        {
            Decision::RetryAfter(ms) => self.wait(now_ms, ms),
            Decision::GiveUp => Next::Fail(Ending::Network {
                attempts: self.attempt,
            }),
        };
    }

    fn wait(&mut self, now_ms: u64, ms: u64) -> Next {
        self.waited_ms = self.waited_ms.saturating_add(ms);
        Next::WaitUntil(now_ms.saturating_add(ms))
    }

    /// The homeserver stopped answering within the caller's deadline: never retried.
    pub fn on_stall(&mut self) {
        if self.is_over() {
            return;
        }
        self.next = Next::Fail(Ending::TimedOut);
    }

    /// The answer to [`Action::NeedToken`]: `true` when a fresh token (a new generation) is in
    /// place, `false` when there is none — the 401 in hand is then the result, and the session's
    /// token is known to be dead ([`Lifecycle::token_rejected`]).
    pub fn on_token(&mut self, fresh: bool) {
        if self.next != Next::AwaitToken {
            return;
        }
        if fresh {
            self.generation = self.generation.saturating_add(1);
            self.attempt = 0;
            self.next = Next::Send;
        } else {
            self.token_rejected = true;
            self.next = Next::Deliver;
        }
    }

    /// Logout, or nobody waits for the answer any more: nothing is sent from now on.
    pub fn on_end(&mut self) {
        if !matches!(self.next, Next::Deliver | Next::Fail(_)) {
            self.next = Next::Fail(Ending::Cancelled);
        }
    }

    fn is_over(&self) -> bool {
        matches!(self.next, Next::Deliver | Next::Fail(_))
    }

    /// Whether the request fell back to [`Api::Legacy`] after `M_UNRECOGNIZED`: the caller
    /// records that the homeserver has no authenticated media endpoints.
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// Whether the homeserver rejected the token as unknown and no fresh one came: the
    /// session's stored media should go (a revoked or logged-out token).
    pub fn token_rejected(&self) -> bool {
        self.token_rejected
    }

    /// The API flavour of the last (or next) send: [`Api::Legacy`] after a fall-back.
    pub fn api(&self) -> Api {
        self.api
    }

    /// Requests sent so far.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// Milliseconds waited between attempts so far.
    pub fn waited_ms(&self) -> u64 {
        self.waited_ms
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(status: u16, errcode: &str) -> MatrixError {
        MatrixError {
            status,
            errcode: Some(errcode.to_owned()),
            message: None,
            soft_logout: false,
            retry_after_ms: None,
        }
    }

    const V1: Action = Action::Send {
        api: Api::V1,
        generation: 0,
    };

    #[test]
    fn logout_while_waiting_sends_nothing() {
        let mut lc = Lifecycle::new(RetryPolicy::default(), Api::V1, false, true);
        assert_eq!(lc.poll(0), V1);
        lc.on_answer(10, 429, Some(&err(429, "M_LIMIT_EXCEEDED")));
        assert_eq!(lc.poll(10), Action::Wait { until_ms: 510 });
        lc.on_end();
        assert_eq!(lc.poll(10_000), Action::Fail(Ending::Cancelled));
    }

    #[test]
    fn one_refresh_then_the_401_is_the_answer() {
        let mut lc = Lifecycle::new(RetryPolicy::default(), Api::V1, false, true);
        assert_eq!(lc.poll(0), V1);
        lc.on_answer(1, 401, Some(&err(401, "M_UNKNOWN_TOKEN")));
        assert_eq!(
            lc.poll(1),
            Action::NeedToken {
                after_generation: 0
            }
        );
        assert_eq!(lc.poll(2), Action::Idle);
        lc.on_token(true);
        assert_eq!(
            lc.poll(3),
            Action::Send {
                api: Api::V1,
                generation: 1
            }
        );
        lc.on_answer(4, 401, Some(&err(401, "M_UNKNOWN_TOKEN")));
        assert_eq!(lc.poll(4), Action::Deliver);
        assert!(lc.token_rejected());
    }
}
