//! The fallback's object-URL cache: an LRU bounded by a byte budget.
//!
//! Pure data structure (no browser types), so the eviction rules are unit-tested natively.
//! The caller owns the side effects: it revokes the object URLs of what [`BlobBudget::insert`]
//! evicts and resets the elements that showed them.
//!
//! Invariants:
//! * `bytes` is the sum of the sizes of the entries held, and never exceeds `budget`
//!   (an insert that cannot fit is refused rather than overshooting).
//! * An entry with `pins > 0` (shown by a mounted element in view) is never evicted.
//! * `entries` is sorted by key, without duplicates: a lookup is a binary search. Not a
//!   `HashMap`: its instantiation for string keys (hashing included) costs the page wasm ~4 KB
//!   raw, and an insert scans every entry for the eviction order anyway.

/// Why an entry was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The entry alone is larger than the whole budget.
    TooLarge,
    /// Only pinned entries are left and the new one does not fit beside them.
    OverBudget,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    bytes: u64,
    last_used: u64,
    pins: u32,
}

/// An LRU of values (object URLs) with byte sizes and pin counts.
#[derive(Debug)]
pub struct BlobBudget<V> {
    budget: u64,
    bytes: u64,
    tick: u64,
    evictions: u64,
    entries: Vec<(String, Entry<V>)>,
}

impl<V: Clone> BlobBudget<V> {
    /// An empty cache that holds at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            bytes: 0,
            tick: 0,
            evictions: 0,
            entries: Vec::new(),
        }
    }

    /// The byte budget.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries pinned by at least one holder.
    pub fn pinned(&self) -> usize {
        self.entries.iter().filter(|(_, e)| e.pins > 0).count()
    }

    /// Entries evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Where `key` is (`Ok`), or where it would go (`Err`).
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    fn entry_mut(&mut self, key: &str) -> Option<&mut Entry<V>> {
        let i = self.find(key).ok()?;
        self.entries.get_mut(i).map(|(_, e)| e)
    }

    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    /// Looks `key` up, marking it most recently used; `pin` also pins it.
    pub fn get(&mut self, key: &str, pin: bool) -> Option<V> {
        let tick = self.next_tick();
        let entry = self.entry_mut(key)?;
        entry.last_used = tick;
        if pin {
            entry.pins = entry.pins.saturating_add(1);
        }
        Some(entry.value.clone())
    }

    /// Whether `key` is held.
    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Drops one pin of `key` (no-op when absent or unpinned).
    pub fn unpin(&mut self, key: &str) {
        if let Some(entry) = self.entry_mut(key) {
            entry.pins = entry.pins.saturating_sub(1);
        }
    }

    /// Admits `value` of `bytes` under `key`, evicting least recently used unpinned
    /// entries as needed. Returns the evicted `(key, value)` pairs, whose resources the
    /// caller must release. On refusal nothing is evicted.
    pub fn insert(
        &mut self,
        key: String,
        value: V,
        bytes: u64,
        pin: bool,
    ) -> Result<Vec<(String, V)>, Refused> {
        if bytes > self.budget {
            return Err(Refused::TooLarge);
        }
        // Replacing an entry: release the old one first (the caller revokes it).
        let mut evicted = Vec::new();
        if let Ok(i) = self.find(&key) {
            let (k, old) = self.entries.remove(i);
            self.bytes = self.bytes.saturating_sub(old.bytes);
            evicted.push((k, old.value));
        }
        let unpinned: u64 = self
            .entries
            .iter()
            .filter(|(_, e)| e.pins == 0)
            .map(|(_, e)| e.bytes)
            .sum();
        let pinned = self.bytes.saturating_sub(unpinned);
        if pinned.saturating_add(bytes) > self.budget {
            return Err(Refused::OverBudget);
        }
        while self.bytes.saturating_add(bytes) > self.budget {
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, (_, e))| e.pins == 0)
                .min_by_key(|(_, (_, e))| e.last_used)
                .map(|(i, _)| i);
            // Unreachable in practice: the pinned check above guarantees a victim exists.
            let Some(victim) = victim else {
                return Err(Refused::OverBudget);
            };
            let (k, e) = self.entries.remove(victim);
            self.bytes = self.bytes.saturating_sub(e.bytes);
            self.evictions = self.evictions.saturating_add(1);
            evicted.push((k, e.value));
        }
        let tick = self.next_tick();
        self.bytes = self.bytes.saturating_add(bytes);
        let entry = Entry {
            value,
            bytes,
            last_used: tick,
            pins: u32::from(pin),
        };
        // `key` was removed above, so this is where it goes.
        let (Ok(at) | Err(at)) = self.find(&key);
        self.entries.insert(at, (key, entry));
        Ok(evicted)
    }

    /// Removes everything, returning the values to release.
    pub fn clear(&mut self) -> Vec<V> {
        self.bytes = 0;
        self.entries.drain(..).map(|(_, e)| e.value).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // The same tests run natively and in browsers (wasm-pack test).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn evicts_least_recently_used_first() {
        let mut c = BlobBudget::new(100);
        assert_eq!(c.insert("a".into(), 1, 40, false), Ok(vec![]));
        assert_eq!(c.insert("b".into(), 2, 40, false), Ok(vec![]));
        assert_eq!(c.get("a", false), Some(1)); // a is now newer than b
        let ev = c.insert("c".into(), 3, 40, false).unwrap_or_default();
        assert_eq!(ev, vec![("b".to_string(), 2)]);
        assert_eq!(c.bytes(), 80);
        assert_eq!(c.evictions(), 1);
        assert!(c.contains("a") && c.contains("c") && !c.contains("b"));
    }

    #[test]
    fn never_evicts_pinned_entries() {
        let mut c = BlobBudget::new(100);
        assert!(c.insert("a".into(), 1, 60, true).is_ok());
        assert_eq!(c.insert("b".into(), 2, 60, false), Err(Refused::OverBudget));
        assert!(c.contains("a"));
        assert_eq!(c.pinned(), 1);
        c.unpin("a");
        assert_eq!(
            c.insert("b".into(), 2, 60, false),
            Ok(vec![("a".to_string(), 1)])
        );
    }

    #[test]
    fn refuses_what_exceeds_the_whole_budget() {
        let mut c: BlobBudget<u8> = BlobBudget::new(10);
        assert_eq!(c.insert("big".into(), 0, 11, false), Err(Refused::TooLarge));
        assert!(c.is_empty());
    }

    #[test]
    fn bytes_never_exceed_budget_under_churn() {
        let mut c = BlobBudget::new(1000);
        for i in 0..500u64 {
            let pin = i % 7 == 0;
            let _ = c.insert(format!("k{i}"), i, 1 + (i * 37) % 300, pin);
            if i % 3 == 0 {
                c.unpin(&format!("k{}", i.saturating_sub(7)));
            }
            assert!(c.bytes() <= c.budget());
        }
        assert!(c.evictions() > 0);
    }

    #[test]
    fn lookups_agree_with_a_map_under_churn() {
        // Keys arrive out of order, get replaced and evicted: every key held is found with its
        // value, nothing else is.
        let mut c = BlobBudget::new(2_000);
        let mut held = std::collections::HashMap::new();
        for i in 0..600u64 {
            let key = format!("k{}", (i * 7919) % 211);
            let evicted = c.insert(key.clone(), i, 1 + (i * 13) % 97, false);
            assert!(evicted.is_ok(), "unpinned entries always make room");
            for (k, v) in evicted.unwrap_or_default() {
                assert_eq!(held.remove(&k), Some(v), "evicted {k} was held");
            }
            held.insert(key, i);
            assert_eq!(c.len(), held.len());
        }
        for n in 0..211 {
            let key = format!("k{n}");
            assert_eq!(c.get(&key, false), held.get(&key).copied(), "{key}");
        }
    }

    #[test]
    fn replacing_a_key_returns_the_old_value() {
        let mut c = BlobBudget::new(100);
        assert!(c.insert("a".into(), 1, 10, false).is_ok());
        assert_eq!(
            c.insert("a".into(), 2, 10, false),
            Ok(vec![("a".to_string(), 1)])
        );
        assert_eq!(c.bytes(), 10);
        assert_eq!(c.clear(), vec![2]);
        assert_eq!(c.bytes(), 0);
    }
}
