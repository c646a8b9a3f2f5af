//! When to try a failed media request again, and after how long.
//!
//! Sans-IO like the rest of the core: no clock, no timer. The caller (the service worker, the
//! page's blob fallback) counts its attempts and the milliseconds it already spent waiting
//! between them, asks [`RetryPolicy::decide`] after each failure, and either sleeps the returned
//! delay and tries again or gives up and reports the failure.
//!
//! | failure | decision |
//! |---|---|
//! | 429 `M_LIMIT_EXCEEDED` (or any 429) | wait `Retry-After` / `retry_after_ms` (capped at [`RetryPolicy::max_delay_ms`]); exponential back-off when the server named no delay |
//! | 504 `M_NOT_YET_UPLOADED` | short back-off (at most [`NOT_YET_UPLOADED_MAX_DELAY_MS`]): the upload may complete any moment |
//! | network error, 502/503/504 without a Matrix meaning (gateway errors) | exponential back-off |
//! | [`Failure::TimedOut`] (the server stalled) | give up: the user gets a clear error after a bounded time |
//! | anything else (400, 401, 403, 404, 413, 500, 502 `M_TOO_LARGE`…) | give up: trying again would not change the answer |
//!
//! Never more than [`RetryPolicy::max_attempts`] attempts in all, and never a wait that would
//! take the total waiting time beyond [`RetryPolicy::max_total_wait_ms`]: then the answer is
//! [`Decision::GiveUp`] right away rather than a shortened wait. All arithmetic saturates; no
//! input panics.
//!
//! No jitter: the worker shares one upstream fetch between identical requests (single-flight), so
//! synchronised retries of one URL do not happen; distinct URLs fail at different times anyway.

use crate::error::{ErrorKind, MatrixError};

/// First back-off delay; doubled on every further attempt.
pub const BASE_DELAY_MS: u64 = 500;
/// Largest back-off after a 504 `M_NOT_YET_UPLOADED`.
pub const NOT_YET_UPLOADED_MAX_DELAY_MS: u64 = 2_000;

/// Bounds on retrying one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`1` never retries). Default 4.
    pub max_attempts: u32,
    /// Milliseconds spent waiting between attempts, summed over all retries. Default 20 000.
    pub max_total_wait_ms: u64,
    /// Longest single wait, even when the server asks for more (`Retry-After`). Default 10 000.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_total_wait_ms: 20_000,
            max_delay_ms: 10_000,
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The server answered with an error status (read into a [`MatrixError`], which merges the
    /// `Retry-After` header and `retry_after_ms`).
    Status(&'a MatrixError),
    /// The request did not get an answer: connection refused or reset, DNS, CORS, offline.
    Network,
    /// The server accepted the request but did not answer (or stopped sending the body) in time.
    TimedOut,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this many milliseconds, then send the request again.
    RetryAfter(u64),
    /// Stop and report the failure.
    GiveUp,
}

impl RetryPolicy {
    /// Decides after attempt number `attempt` (1 for the first request) failed with `failure`,
    /// `waited_ms` milliseconds having already been spent waiting before earlier retries.
    pub fn decide(&self, attempt: u32, waited_ms: u64, failure: &Failure<'_>) -> Decision {
        if attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let backoff = self.backoff(attempt);
        let delay = match failure {
            Failure::TimedOut => return Decision::GiveUp,
            Failure::Network => backoff,
            Failure::Status(error) => match error.kind() {
                ErrorKind::LimitExceeded { retry_after_ms } => {
                    retry_after_ms.unwrap_or(backoff).min(self.max_delay_ms)
                }
                ErrorKind::NotYetUploaded => backoff.min(NOT_YET_UPLOADED_MAX_DELAY_MS),
                ErrorKind::Other if matches!(error.status, 502..=504) => backoff,
                _ => return Decision::GiveUp,
            },
        };
        if waited_ms.saturating_add(delay) > self.max_total_wait_ms {
            return Decision::GiveUp;
        }
        Decision::RetryAfter(delay)
    }

    /// [`BASE_DELAY_MS`] doubled for each attempt after the first, capped at
    /// [`RetryPolicy::max_delay_ms`].
    fn backoff(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(32);
        BASE_DELAY_MS
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_ms)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn status(status: u16, errcode: Option<&str>, retry_after_ms: Option<u64>) -> MatrixError {
        MatrixError {
            status,
            errcode: errcode.map(str::to_owned),
            message: None,
            soft_logout: false,
            retry_after_ms,
        }
    }

    /// (status, errcode, retry_after_ms, attempt, waited_ms, expected)
    type Row = (u16, Option<&'static str>, Option<u64>, u32, u64, Decision);

    const RETRY: fn(u64) -> Decision = Decision::RetryAfter;
    const GIVE_UP: Decision = Decision::GiveUp;

    #[test]
    fn statuses() {
        let policy = RetryPolicy::default();
        let table: &[Row] = &[
            // 429: the server's delay, capped; back-off when it named none.
            (
                429,
                Some("M_LIMIT_EXCEEDED"),
                Some(1_500),
                1,
                0,
                RETRY(1_500),
            ),
            (429, Some("M_LIMIT_EXCEEDED"), Some(0), 1, 0, RETRY(0)),
            (
                429,
                Some("M_LIMIT_EXCEEDED"),
                Some(60_000),
                1,
                0,
                RETRY(10_000),
            ),
            (429, Some("M_LIMIT_EXCEEDED"), None, 1, 0, RETRY(500)),
            (429, Some("M_LIMIT_EXCEEDED"), None, 2, 500, RETRY(1_000)),
            (429, Some("M_LIMIT_EXCEEDED"), None, 3, 1_500, RETRY(2_000)),
            (429, None, Some(2_000), 1, 0, RETRY(2_000)),
            (400, Some("M_LIMIT_EXCEEDED"), Some(700), 1, 0, RETRY(700)),
            // The total budget: a wait that would exceed it is not shortened, it is refused.
            (
                429,
                Some("M_LIMIT_EXCEEDED"),
                Some(10_000),
                2,
                10_000,
                RETRY(10_000),
            ),
            (
                429,
                Some("M_LIMIT_EXCEEDED"),
                Some(10_000),
                3,
                10_001,
                GIVE_UP,
            ),
            (429, Some("M_LIMIT_EXCEEDED"), Some(5_000), 4, 0, GIVE_UP),
            // 504 M_NOT_YET_UPLOADED: short back-off.
            (504, Some("M_NOT_YET_UPLOADED"), None, 1, 0, RETRY(500)),
            (504, Some("M_NOT_YET_UPLOADED"), None, 2, 500, RETRY(1_000)),
            (
                504,
                Some("M_NOT_YET_UPLOADED"),
                None,
                3,
                1_500,
                RETRY(2_000),
            ),
            (
                504,
                Some("M_NOT_YET_UPLOADED"),
                Some(9_000),
                3,
                0,
                RETRY(2_000),
            ),
            (504, Some("M_NOT_YET_UPLOADED"), None, 4, 3_500, GIVE_UP),
            // Gateway errors without a Matrix meaning.
            (502, None, None, 1, 0, RETRY(500)),
            (503, None, None, 2, 500, RETRY(1_000)),
            (504, None, None, 3, 1_500, RETRY(2_000)),
            (503, Some("M_UNKNOWN"), None, 1, 0, RETRY(500)),
            (503, None, None, 1, 19_600, GIVE_UP),
            // Answers a retry would not change.
            (502, Some("M_TOO_LARGE"), None, 1, 0, GIVE_UP),
            (413, Some("M_TOO_LARGE"), None, 1, 0, GIVE_UP),
            (400, Some("M_BAD_JSON"), None, 1, 0, GIVE_UP),
            (401, Some("M_UNKNOWN_TOKEN"), None, 1, 0, GIVE_UP),
            (401, Some("M_MISSING_TOKEN"), None, 1, 0, GIVE_UP),
            (403, Some("M_FORBIDDEN"), None, 1, 0, GIVE_UP),
            (404, Some("M_NOT_FOUND"), None, 1, 0, GIVE_UP),
            (404, None, None, 1, 0, GIVE_UP),
            (405, Some("M_UNRECOGNIZED"), None, 1, 0, GIVE_UP),
            (500, Some("M_UNKNOWN"), None, 1, 0, GIVE_UP),
            (500, None, None, 1, 0, GIVE_UP),
            (200, None, None, 1, 0, GIVE_UP),
        ];
        for (i, &(code, errcode, after, attempt, waited, expected)) in table.iter().enumerate() {
            let error = status(code, errcode, after);
            assert_eq!(
                policy.decide(attempt, waited, &Failure::Status(&error)),
                expected,
                "row {i}: {code} {errcode:?} retry_after={after:?} attempt={attempt} waited={waited}"
            );
        }
    }

    #[test]
    fn network_errors_back_off_and_stalls_give_up() {
        let policy = RetryPolicy::default();
        let table: &[(Failure<'_>, u32, u64, Decision)] = &[
            (Failure::Network, 1, 0, RETRY(500)),
            (Failure::Network, 2, 500, RETRY(1_000)),
            (Failure::Network, 3, 1_500, RETRY(2_000)),
            (Failure::Network, 4, 3_500, GIVE_UP),
            (Failure::Network, 1, 19_501, GIVE_UP),
            (Failure::TimedOut, 1, 0, GIVE_UP),
            (Failure::TimedOut, 0, 0, GIVE_UP),
        ];
        for (i, (failure, attempt, waited, expected)) in table.iter().enumerate() {
            assert_eq!(
                policy.decide(*attempt, *waited, failure),
                *expected,
                "row {i}"
            );
        }
    }

    #[test]
    fn back_off_is_capped_by_the_single_delay_limit() {
        let policy = RetryPolicy {
            max_attempts: 40,
            max_total_wait_ms: u64::MAX,
            max_delay_ms: 3_000,
        };
        let delays: Vec<Decision> = (1..=6)
            .map(|n| policy.decide(n, 0, &Failure::Network))
            .collect();
        assert_eq!(
            delays,
            [
                RETRY(500),
                RETRY(1_000),
                RETRY(2_000),
                RETRY(3_000),
                RETRY(3_000),
                RETRY(3_000)
            ]
        );
    }

    #[test]
    fn one_attempt_never_retries() {
        let policy = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.decide(1, 0, &Failure::Network), GIVE_UP);
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(zero.decide(1, 0, &Failure::Network), GIVE_UP);
    }

    #[test]
    fn the_default_policy_bounds_the_total_wait() {
        // Follow the policy as a caller would: the sum of waits stays within the budget and the
        // number of attempts within max_attempts, whatever the server keeps answering.
        let policy = RetryPolicy::default();
        let answers = [
            status(429, Some("M_LIMIT_EXCEEDED"), Some(9_000)),
            status(429, Some("M_LIMIT_EXCEEDED"), Some(u64::MAX)),
            status(429, Some("M_LIMIT_EXCEEDED"), None),
            status(504, Some("M_NOT_YET_UPLOADED"), None),
            status(503, None, None),
        ];
        for answer in &answers {
            let (mut attempt, mut waited) = (1u32, 0u64);
            while let Decision::RetryAfter(ms) =
                policy.decide(attempt, waited, &Failure::Status(answer))
            {
                waited += ms;
                attempt += 1;
            }
            assert!(waited <= policy.max_total_wait_ms, "{answer:?}: {waited}");
            assert!(attempt <= policy.max_attempts, "{answer:?}: {attempt}");
            assert!(attempt > 1, "{answer:?} was retried at least once");
        }
    }

    #[test]
    fn no_input_panics() {
        let extremes = [
            0u64,
            1,
            499,
            500,
            10_000,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        let attempts = [0u32, 1, 2, 33, 64, u32::MAX - 1, u32::MAX];
        let policies = [
            RetryPolicy::default(),
            RetryPolicy {
                max_attempts: u32::MAX,
                max_total_wait_ms: u64::MAX,
                max_delay_ms: u64::MAX,
            },
            RetryPolicy {
                max_attempts: 0,
                max_total_wait_ms: 0,
                max_delay_ms: 0,
            },
        ];
        for policy in &policies {
            for &attempt in &attempts {
                for &waited in &extremes {
                    for &after in &extremes {
                        for code in [0u16, 429, 502, 503, 504, u16::MAX] {
                            let error = status(code, Some("M_LIMIT_EXCEEDED"), Some(after));
                            let d = policy.decide(attempt, waited, &Failure::Status(&error));
                            if let Decision::RetryAfter(ms) = d {
                                assert!(ms <= policy.max_delay_ms);
                                assert!(waited.saturating_add(ms) <= policy.max_total_wait_ms);
                                assert!(attempt < policy.max_attempts);
                            }
                        }
                        let _ = policy.decide(attempt, waited, &Failure::Network);
                    }
                }
            }
        }
        // A huge attempt number: the back-off saturates at the cap instead of overflowing.
        let unbounded = policies[1];
        assert_eq!(
            unbounded.decide(u32::MAX - 1, 0, &Failure::Network),
            RETRY(BASE_DELAY_MS << 32)
        );
    }
}
