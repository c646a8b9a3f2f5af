//! The fallback's object URLs: the byte-budget LRU of `blob:` URLs by request key (pins keep
//! what is on screen), the loads in flight by key (shared by concurrent callers) and the bound
//! on concurrent fetches. Evicted URLs are revoked here and kept until the caller takes them
//! ([`BlobCache::take_evicted`]) to clear the mounted elements that showed them.

use crate::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use web_sys::{Blob, Url};

use crate::budget::{BlobBudget, Refused};
use crate::error::WebError;
use crate::limiter::Limiter;

/// `(key, object URL)` pairs the LRU evicted (already revoked).
pub type Evicted = Vec<(String, String)>;

/// Object URLs under a byte budget, and the loads that fill it.
pub struct BlobCache {
    blobs: RefCell<BlobBudget<String>>,
    /// `(key, load)`: the loads in flight are bounded by what a page shows at once, and a
    /// linear scan of them costs less code than a third hash-map instantiation.
    inflight: RefCell<Vec<(String, Promise)>>,
    limiter: Rc<Limiter>,
    /// Evicted (and revoked) since the last [`BlobCache::take_evicted`].
    evicted: RefCell<Evicted>,
}

impl BlobCache {
    /// An empty cache of `budget` bytes; at most `concurrency` fetches at once.
    pub fn new(budget: u64, concurrency: usize) -> Self {
        Self {
            blobs: RefCell::new(BlobBudget::new(budget)),
            inflight: RefCell::new(Vec::new()),
            limiter: Limiter::new(concurrency),
            evicted: RefCell::new(Vec::new()),
        }
    }

    /// The object URL under `key`, marked most recently used; `pin` also pins it.
    pub fn get(&self, key: &str, pin: bool) -> Option<String> {
        self.blobs.borrow_mut().get(key, pin)
    }

    /// Drops one pin of `key`.
    pub fn unpin(&self, key: &str) {
        self.blobs.borrow_mut().unpin(key);
    }

    /// The load of `key` in flight, if any.
    pub fn inflight(&self, key: &str) -> Option<Promise> {
        let inflight = self.inflight.borrow();
        inflight
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| p.clone())
    }

    /// Records the load of `key` (until [`BlobCache::finished`]).
    pub fn started(&self, key: &str, load: &Promise) {
        let mut inflight = self.inflight.borrow_mut();
        inflight.retain(|(k, _)| k != key);
        inflight.push((key.to_owned(), load.clone()));
    }

    /// The load of `key` ended.
    pub fn finished(&self, key: &str) {
        self.inflight.borrow_mut().retain(|(k, _)| k != key);
    }

    /// Bounds concurrent fetches.
    pub fn limiter(&self) -> &Rc<Limiter> {
        &self.limiter
    }

    /// Puts `blob` into the LRU under `key` as an object URL; what it evicts is revoked and kept
    /// for [`BlobCache::take_evicted`]. Refused (too large, or the budget is held by media in view) → the URL is
    /// revoked and `over_budget`.
    pub fn admit(&self, key: &str, blob: &Blob) -> Result<String, WebError> {
        let size = blob.size() as u64;
        let object_url = Url::create_object_url_with_blob(blob).map_err(WebError::network)?;
        let admitted =
            self.blobs
                .borrow_mut()
                .insert(key.to_owned(), object_url.clone(), size, false);
        match admitted {
            Ok(evicted) => {
                for (_, u) in &evicted {
                    let _ = Url::revoke_object_url(u);
                }
                self.evicted.borrow_mut().append(&mut { evicted });
                Ok(object_url)
            }
            Err(r) => {
                let _ = Url::revoke_object_url(&object_url);
                Err(match r {
                    Refused::TooLarge => WebError::new(
                        "over_budget",
                        "the media is larger than the fallback budget; use download()",
                    )
                    .with_reason("exceeds_budget"),
                    Refused::OverBudget => WebError::new(
                        "over_budget",
                        "the fallback budget is filled by media in view; raise budgetBytes",
                    )
                    .with_reason("budget_full"),
                })
            }
        }
    }

    /// What the LRU evicted since the last call: the caller clears it from the elements that
    /// showed it.
    pub fn take_evicted(&self) -> Evicted {
        std::mem::take(&mut *self.evicted.borrow_mut())
    }

    /// Revokes and forgets every object URL (logout).
    pub fn clear(&self) {
        for u in self.blobs.borrow_mut().clear() {
            let _ = Url::revoke_object_url(&u);
        }
    }

    /// The LRU, for `stats()`.
    pub fn budget(&self) -> std::cell::Ref<'_, BlobBudget<String>> {
        self.blobs.borrow()
    }
}
