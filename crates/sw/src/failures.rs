//! Why recent media requests failed, per session: the answer to a tab's `authmedia:why`.
//!
//! An `<img>` or `<video>` whose load fails learns only that it failed (an `error` event). The
//! worker answered that request, so it knows why: it notes the code of every error answer it
//! gives (`not_found`, `forbidden`, `rate_limited`, `timeout`, `hash_mismatch`…) under the session
//! (its principal key, see `sessions`) and the request URL, and forgets it when the same URL later succeeds. The page SDK asks once
//! an element failed, and shows the same `data-authmedia-error` as the fallback would — and
//! `retryFailed()` skips what cannot pass (a deleted image), with no second download.
//!
//! Memory only, bounded ([`MAX_FAILURES`], oldest first out), nothing but codes (no bodies, no
//! tokens); a session's entries go at logout. A tab can only read its own session's entries.

use std::collections::VecDeque;

/// At most this many failures are remembered (all sessions together).
pub const MAX_FAILURES: usize = 256;

struct Entry {
    owner: String,
    url: String,
    code: String,
}

/// `(session key, URL) → code` of the latest error answer, bounded by [`MAX_FAILURES`].
#[derive(Default)]
pub struct Failures {
    entries: VecDeque<Entry>,
}

impl Failures {
    /// Notes that the worker answered `url` for `owner` with an error of `code`.
    pub fn record(&mut self, owner: &str, url: &str, code: &str) {
        self.clear(owner, url);
        if self.entries.len() >= MAX_FAILURES {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            owner: owner.to_owned(),
            url: url.to_owned(),
            code: code.to_owned(),
        });
    }

    /// Forgets the failure of `url` (it was answered successfully since).
    pub fn clear(&mut self, owner: &str, url: &str) {
        self.entries.retain(|e| !(e.owner == owner && e.url == url));
    }

    /// The code of the latest failure of `url` for `owner`, if one is remembered.
    pub fn get(&self, owner: &str, url: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.owner == owner && e.url == url)
            .map(|e| e.code.as_str())
    }

    /// Forgets every failure of `owner` (logout).
    pub fn forget_user(&mut self, owner: &str) {
        self.entries.retain(|e| e.owner != owner);
    }

    /// How many failures are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_user_latest_and_cleared_by_success() {
        let mut f = Failures::default();
        f.record("@a:x", "https://x/m/1", "not_found");
        f.record("@a:x", "https://x/m/2", "timeout");
        f.record("@a:x", "https://x/m/2", "rate_limited");
        assert_eq!(f.get("@a:x", "https://x/m/1"), Some("not_found"));
        assert_eq!(f.get("@a:x", "https://x/m/2"), Some("rate_limited"));
        assert_eq!(f.len(), 2);
        // Another user sees nothing of it.
        assert_eq!(f.get("@b:x", "https://x/m/1"), None);
        f.clear("@a:x", "https://x/m/1");
        assert_eq!(f.get("@a:x", "https://x/m/1"), None);
        f.record("@b:x", "https://x/m/2", "forbidden");
        f.forget_user("@a:x");
        assert_eq!(f.get("@a:x", "https://x/m/2"), None);
        assert_eq!(f.get("@b:x", "https://x/m/2"), Some("forbidden"));
    }

    #[test]
    fn bounded_oldest_first_out() {
        let mut f = Failures::default();
        for i in 0..(MAX_FAILURES + 10) {
            f.record("@a:x", &format!("https://x/m/{i}"), "network");
        }
        assert_eq!(f.len(), MAX_FAILURES);
        assert_eq!(f.get("@a:x", "https://x/m/0"), None);
        assert_eq!(f.get("@a:x", "https://x/m/9"), None);
        assert_eq!(f.get("@a:x", "https://x/m/10"), Some("network"));
        let last = format!("https://x/m/{}", MAX_FAILURES + 9);
        assert_eq!(f.get("@a:x", &last), Some("network"));
        assert!(!f.is_empty());
    }
}
