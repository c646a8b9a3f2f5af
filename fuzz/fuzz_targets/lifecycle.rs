//! The request lifecycle under any sequence of inputs (answers of any status and errcode, network
//! errors, stalls, tokens, an end) and polls at any time. Invariants:
//! - no `Send` after `on_end`, after a stall, or once delivered/failed (terminal states stay);
//! - at most one `NeedToken`, at most one fall-back to legacy, and only from an authenticated API;
//! - at most `max_attempts` sends per (API, token generation), and the total wait never beyond
//!   `max_total_wait_ms`; a `Wait` is never in the past of the poll that returned it… unless the
//!   poll is early (then it names the same instant again);
//! - generations only grow, by one per fresh token.
#![no_main]

use arbitrary::Arbitrary;
use authmedia_core::{Action, Api, Lifecycle, MatrixError, RetryPolicy};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Event {
    Poll(u16),
    Answer { after: u16, status: u16, errcode: u8, retry_after_ms: Option<u32> },
    Network(u16),
    Stall,
    Token(bool),
    End,
}

#[derive(Debug, Arbitrary)]
struct Input {
    api: u8,
    may_fall_back: bool,
    can_refresh: bool,
    max_attempts: u8,
    max_total_wait_ms: u16,
    max_delay_ms: u16,
    events: Vec<Event>,
}

const ERRCODES: &[&str] = &[
    "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_UNRECOGNIZED", "M_LIMIT_EXCEEDED", "M_NOT_FOUND",
    "M_NOT_YET_UPLOADED", "M_FORBIDDEN", "M_TOO_LARGE", "M_UNKNOWN", "",
];

fuzz_target!(|input: Input| {
    let api = [Api::V1, Api::Unstable, Api::Legacy][usize::from(input.api % 3)];
    let policy = RetryPolicy {
        max_attempts: u32::from(input.max_attempts % 12),
        max_total_wait_ms: u64::from(input.max_total_wait_ms),
        max_delay_ms: u64::from(input.max_delay_ms),
    };
    let mut lc = Lifecycle::new(policy, api, input.may_fall_back, input.can_refresh);
    let mut now = 0u64;
    let mut ended = false;
    let mut stalled = false;
    let mut terminal: Option<Action> = None;
    let mut need_tokens = 0;
    let mut sends_per: Vec<(Api, u32, u32)> = Vec::new();
    let mut last_generation = 0u32;
    let mut saw_legacy_after_start = false;
    for event in input.events.iter().take(256) {
        match event {
            Event::Poll(dt) => {
                now += u64::from(*dt);
                let action = lc.poll(now);
                if let Some(t) = terminal {
                    assert_eq!(action, t, "a terminal state changed");
                }
                match action {
                    Action::Send { api: sent, generation } => {
                        assert!(!ended, "sent after the end");
                        assert!(!stalled, "sent after a stall");
                        assert!(generation == last_generation || generation == last_generation + 1);
                        last_generation = generation;
                        if sent != api {
                            assert_eq!(sent, Api::Legacy, "only a fall-back changes the API");
                            assert!(api.is_authenticated() && input.may_fall_back);
                            saw_legacy_after_start = true;
                        }
                        match sends_per.iter_mut().find(|(a, g, _)| *a == sent && *g == generation) {
                            Some((_, _, n)) => *n += 1,
                            None => sends_per.push((sent, generation, 1)),
                        }
                        let limit = policy.max_attempts.max(1);
                        assert!(
                            sends_per.iter().all(|(_, _, n)| *n <= limit),
                            "more than max_attempts sends: {sends_per:?}"
                        );
                    }
                    Action::Wait { until_ms } => {
                        assert!(!ended && !stalled);
                        assert!(until_ms > now, "a wait already over was returned");
                    }
                    Action::NeedToken { after_generation } => {
                        need_tokens += 1;
                        assert_eq!(need_tokens, 1, "a second NeedToken");
                        assert!(input.can_refresh);
                        assert_eq!(after_generation, last_generation);
                    }
                    Action::Deliver | Action::Fail(_) => terminal = Some(action),
                    Action::Idle => {}
                }
                assert!(lc.waited_ms() <= policy.max_total_wait_ms, "waited beyond the budget");
            }
            Event::Answer { after, status, errcode, retry_after_ms } => {
                now += u64::from(*after);
                let code = ERRCODES[usize::from(*errcode) % ERRCODES.len()];
                let error = MatrixError {
                    status: *status,
                    errcode: (!code.is_empty()).then(|| code.to_owned()),
                    message: None,
                    soft_logout: false,
                    retry_after_ms: retry_after_ms.map(u64::from),
                };
                lc.on_answer(now, *status, Some(&error));
            }
            Event::Network(dt) => {
                now += u64::from(*dt);
                lc.on_network_error(now);
            }
            Event::Stall => {
                if terminal.is_none() && !ended {
                    stalled = true;
                }
                lc.on_stall();
            }
            Event::Token(fresh) => lc.on_token(*fresh),
            Event::End => {
                ended = true;
                lc.on_end();
            }
        }
    }
    let _ = saw_legacy_after_start;
});
