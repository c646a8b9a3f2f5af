//! The worker's media store: whole bodies kept under a byte budget.
//!
//! Media is immutable per mxc URI, so a body fetched once can answer later requests for the same
//! URL — above all the many `Range` requests a `<video>` sends while it plays and seeks (Synapse
//! ignores `Range`, so without this every seek would download the whole file again).
//!
//! Entries are keyed by the session (its principal key, see `sessions`: never the user id a tab
//! claims) **and** a token-free URL: two sessions never share an entry, and
//! [`BodyStore::purge_user`] drops everything of one session at logout. Eviction is least recently
//! used. The body type is generic so the bookkeeping is tested natively; in the worker it is a
//! JavaScript `Blob`, which keeps the bytes out of wasm linear memory (that never shrinks) and lets the
//! browser answer (and slice) from it without the bytes passing through the worker again.

/// One stored body with what is needed to answer from it.
#[derive(Debug, Clone)]
pub struct Stored<B> {
    /// The body.
    pub body: B,
    /// Its length in bytes.
    pub len: u64,
    /// The upstream `Content-Type`, if any.
    pub content_type: Option<String>,
}

/// A least-recently-used map `(user, url) → body` bounded by total bytes.
#[derive(Debug)]
pub struct BodyStore<B> {
    /// Most recently used last; each with the [`key_hash`] of its user and URL, compared before
    /// the strings (a gallery's URLs share a long prefix, and every lookup scans the entries).
    entries: Vec<(u64, String, String, Stored<B>)>,
    used: u64,
    budget: u64,
    max_entry: u64,
}

impl<B: Clone> BodyStore<B> {
    /// A store holding at most `budget` bytes, none of its entries larger than `max_entry`.
    pub fn new(budget: u64, max_entry: u64) -> Self {
        Self {
            entries: Vec::new(),
            used: 0,
            budget,
            max_entry: max_entry.min(budget),
        }
    }

    /// Whether a body of `len` bytes would be kept by [`BodyStore::insert`].
    pub fn accepts(&self, len: u64) -> bool {
        len <= self.max_entry
    }

    /// Bytes currently held.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The byte budget.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks an entry up and marks it as recently used.
    pub fn get(&mut self, user: &str, url: &str) -> Option<Stored<B>> {
        let hash = key_hash(user, url);
        let index = self
            .entries
            .iter()
            .position(|(h, u, k, _)| *h == hash && k == url && u == user)?;
        let entry = self.entries.remove(index);
        let stored = entry.3.clone();
        self.entries.push(entry);
        Some(stored)
    }

    /// Stores a body, evicting the least recently used entries to stay under budget. Returns
    /// `false` (and stores nothing) when the body alone is larger than the per-entry limit.
    pub fn insert(&mut self, user: &str, url: &str, stored: Stored<B>) -> bool {
        if !self.accepts(stored.len) {
            return false;
        }
        let hash = key_hash(user, url);
        self.remove(|h, u, k| h == hash && u == user && k == url);
        while self.used.saturating_add(stored.len) > self.budget {
            let Some((_, _, _, old)) = (!self.entries.is_empty()).then(|| self.entries.remove(0))
            else {
                break;
            };
            self.used = self.used.saturating_sub(old.len);
        }
        self.used = self.used.saturating_add(stored.len);
        self.entries
            .push((hash, user.to_owned(), url.to_owned(), stored));
        true
    }

    /// Drops every entry of `user` (logout). Returns how many were dropped.
    pub fn purge_user(&mut self, user: &str) -> usize {
        self.remove(|_, u, _| u == user)
    }

    fn remove(&mut self, mut doomed: impl FnMut(u64, &str, &str) -> bool) -> usize {
        let before = self.entries.len();
        let mut freed = 0u64;
        self.entries.retain(|(h, u, k, stored)| {
            let drop_it = doomed(*h, u, k);
            if drop_it {
                freed = freed.saturating_add(stored.len);
            }
            !drop_it
        });
        self.used = self.used.saturating_sub(freed);
        before - self.entries.len()
    }
}

/// FNV-1a of `user`, a separator and `url`: a cheap first comparison for lookups by key (equal
/// keys have equal hashes; the strings are compared when the hashes match).
pub fn key_hash(user: &str, url: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user.bytes().chain([b'\n']).chain(url.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: u64) -> Stored<Vec<u8>> {
        Stored {
            body: vec![7; len as usize],
            len,
            content_type: Some("image/png".into()),
        }
    }

    #[test]
    fn entries_are_per_user() {
        let mut store = BodyStore::new(100, 100);
        assert!(store.insert("@a:hs", "https://hs/m/1", body(10)));
        assert!(store.get("@a:hs", "https://hs/m/1").is_some());
        assert!(store.get("@b:hs", "https://hs/m/1").is_none());
    }

    #[test]
    fn evicts_least_recently_used_to_stay_in_budget() {
        let mut store = BodyStore::new(30, 30);
        store.insert("u", "1", body(10));
        store.insert("u", "2", body(10));
        store.insert("u", "3", body(10));
        assert!(store.get("u", "1").is_some()); // 1 is now the most recent
        store.insert("u", "4", body(10));
        assert!(store.get("u", "2").is_none());
        assert!(store.get("u", "1").is_some());
        assert!(store.get("u", "3").is_some());
        assert_eq!(store.used(), 30);
        assert_eq!(store.len(), 3);
        assert_eq!(store.budget(), 30);
    }

    #[test]
    fn refuses_bodies_over_the_entry_limit() {
        let mut store = BodyStore::new(100, 20);
        assert!(!store.insert("u", "big", body(21)));
        assert_eq!(store.used(), 0);
        assert!(store.insert("u", "ok", body(20)));
    }

    #[test]
    fn replacing_an_entry_does_not_leak_budget() {
        let mut store = BodyStore::new(100, 100);
        store.insert("u", "1", body(40));
        store.insert("u", "1", body(30));
        assert_eq!(store.used(), 30);
    }

    #[test]
    fn keys_with_the_same_hash_stay_apart() {
        // The separator makes these two keys hash alike: the strings decide.
        assert_eq!(key_hash("a\nb", "c"), key_hash("a", "b\nc"));
        let mut store = BodyStore::new(100, 100);
        store.insert("a\nb", "c", body(10));
        store.insert("a", "b\nc", body(20));
        assert_eq!(store.get("a\nb", "c").map(|s| s.len), Some(10));
        assert_eq!(store.get("a", "b\nc").map(|s| s.len), Some(20));
        assert_eq!(store.purge_user("a"), 1);
        assert_eq!(store.get("a\nb", "c").map(|s| s.len), Some(10));
    }

    #[test]
    fn logout_purges_only_that_user() {
        let mut store = BodyStore::new(100, 100);
        store.insert("@a:hs", "1", body(10));
        store.insert("@a:hs", "2", body(10));
        store.insert("@b:hs", "1", body(10));
        assert_eq!(store.purge_user("@a:hs"), 2);
        assert!(store.get("@a:hs", "1").is_none());
        assert!(store.get("@b:hs", "1").is_some());
        assert_eq!(store.used(), 10);
    }
}
