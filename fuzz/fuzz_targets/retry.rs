//! `RetryPolicy::decide` over whole failure sequences (via `arbitrary`): any policy bounds, any
//! statuses, errcodes, `Retry-After`/`retry_after_ms` values, network errors and stalls. Played
//! like the worker plays it (attempt 1, 2, …; waits summed), the sequence must stay bounded:
//! never more than `max_attempts` attempts, the waits never summing past `max_total_wait_ms`,
//! no single wait above `max_delay_ms`, a stall or a non-retryable status never retried, and
//! the decision a pure function of its inputs.
#![no_main]

use arbitrary::Arbitrary;
use authmedia_core::{Decision, Failure, MatrixError, RetryPolicy};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Step {
    Network,
    Stall,
    /// `<status>\n<Retry-After>\n<body>` pieces, read the way the worker reads an answer.
    Status {
        status: u16,
        retry_after: Option<String>,
        errcode: Option<String>,
        retry_after_ms: Option<i64>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_attempts: u32,
    max_total_wait_ms: u64,
    max_delay_ms: u64,
    steps: Vec<Step>,
}

fn error_of(status: u16, errcode: &Option<String>, ms: Option<i64>, header: Option<&str>) -> MatrixError {
    let mut body = serde_json::Map::new();
    if let Some(code) = errcode {
        body.insert("errcode".into(), code.clone().into());
    }
    if let Some(ms) = ms {
        body.insert("retry_after_ms".into(), ms.into());
    }
    let text = serde_json::Value::Object(body).to_string();
    MatrixError::from_json(status, &text, header)
}

fuzz_target!(|input: Input| {
    let policy = RetryPolicy {
        max_attempts: input.max_attempts % 16,
        max_total_wait_ms: input.max_total_wait_ms,
        max_delay_ms: input.max_delay_ms,
    };
    let mut waited: u64 = 0;
    let mut attempt: u32 = 1;
    for step in input.steps.iter().take(64) {
        let error;
        let failure = match step {
            Step::Network => Failure::Network,
            Step::Stall => Failure::TimedOut,
            Step::Status { status, retry_after, errcode, retry_after_ms } => {
                error = error_of(*status, errcode, *retry_after_ms, retry_after.as_deref());
                Failure::Status(&error)
            }
        };
        let decision = policy.decide(attempt, waited, &failure);
        assert_eq!(decision, policy.decide(attempt, waited, &failure), "not a pure function");
        match decision {
            Decision::GiveUp => return,
            Decision::RetryAfter(ms) => {
                assert!(attempt < policy.max_attempts, "retried past max_attempts: {policy:?}");
                assert!(ms <= policy.max_delay_ms, "wait {ms} above the cap: {policy:?}");
                assert!(!matches!(failure, Failure::TimedOut), "a stall was retried");
                if let Failure::Status(e) = failure {
                    let code = e.errcode.as_deref();
                    let token_trouble = matches!(
                        code,
                        Some("M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" | "M_FORBIDDEN")
                    );
                    let retryable = matches!(e.status, 429 | 502..=504)
                        || matches!(code, Some("M_LIMIT_EXCEEDED" | "M_NOT_YET_UPLOADED"));
                    assert!(retryable && !token_trouble, "status {} retried ({e:?})", e.status);
                }
                waited = waited.checked_add(ms).expect("waits overflow");
                assert!(waited <= policy.max_total_wait_ms, "waited {waited} past the budget: {policy:?}");
                attempt += 1;
            }
        }
    }
});
