//! Values by numeric id in a `Vec` sorted by id: the mounted elements' records.
//!
//! Pure data structure (no browser types), unit-tested natively. Not a `HashMap`: its
//! instantiation costs the page wasm ~4 KB raw, and the ids it holds only grow (a new element
//! is a push at the end; a lookup is a binary search). A removal shifts the entries after it,
//! so the ids of many to remove come highest first ([`ById::ids_where`]).

/// Values by `u32` id, sorted by id, ids unique.
#[derive(Debug)]
pub struct ById<V>(Vec<(u32, V)>);

impl<V> Default for ById<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> ById<V> {
    /// Where `id` is (`Ok`), or where it would go (`Err`).
    fn find(&self, id: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |(i, _)| *i)
    }

    /// The value of `id`.
    pub fn get_mut(&mut self, id: &u32) -> Option<&mut V> {
        let i = self.find(*id).ok()?;
        self.0.get_mut(i).map(|(_, v)| v)
    }

    /// Puts `value` under `id`, replacing what was there.
    pub fn insert(&mut self, id: u32, value: V) {
        match self.find(id) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (id, value)),
        }
    }

    /// Takes the value of `id` out.
    pub fn remove(&mut self, id: &u32) -> Option<V> {
        let i = self.find(*id).ok()?;
        Some(self.0.remove(i).1)
    }

    /// The ids of the values `matches` accepts, highest first: the order in which removing them
    /// one by one shifts the fewest entries.
    pub fn ids_where(&self, mut matches: impl FnMut(&V) -> bool) -> Vec<u32> {
        self.0
            .iter()
            .rev()
            .filter(|(_, v)| matches(v))
            .map(|(i, _)| *i)
            .collect()
    }

    /// Every value, by increasing id.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Every value, mutably, by increasing id.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// Every `(id, value)`, by increasing id.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        self.0.iter().map(|(i, v)| (i, v))
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // The same tests run natively and in browsers (wasm-pack test).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn lookups_agree_with_a_map_under_churn() {
        let mut by_id = ById::default();
        let mut model = std::collections::HashMap::new();
        for step in 0..2_000u32 {
            // Mostly growing ids (as the mount code hands them out), some out of order, some
            // replaced, some removed.
            let id = if step % 5 == 0 {
                (step * 7919) % 503
            } else {
                step
            };
            if step % 3 == 0 {
                assert_eq!(by_id.remove(&id), model.remove(&id), "remove {id}");
            } else {
                by_id.insert(id, step);
                model.insert(id, step);
            }
            assert_eq!(by_id.len(), model.len());
        }
        for id in 0..2_000 {
            assert_eq!(by_id.get_mut(&id).copied(), model.get(&id).copied(), "{id}");
        }
        let ids: Vec<u32> = by_id.iter().map(|(i, _)| *i).collect();
        assert!(
            ids.windows(2).all(|w| w.first() < w.last()),
            "sorted, unique"
        );
    }

    #[test]
    fn ids_where_names_the_matches_highest_first() {
        let mut by_id = ById::default();
        for id in [3, 1, 7, 5] {
            by_id.insert(id, id * 10);
        }
        assert_eq!(by_id.ids_where(|v| *v >= 30), vec![7, 5, 3]);
        for v in by_id.values_mut() {
            *v += 1;
        }
        assert_eq!(
            by_id.values().copied().collect::<Vec<_>>(),
            [11, 31, 51, 71]
        );
        assert!(!by_id.is_empty());
    }
}
