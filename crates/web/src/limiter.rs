//! A counting semaphore for the fallback's fetches (single-threaded: wasm in a page).

use std::cell::Cell;

use crate::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::util::deferred;

/// At most `max` holders of a [`Permit`] at once; the rest wait in FIFO order.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    active: Cell<usize>,
    /// Waiting acquirers' resolvers, oldest first. A `Vec`: a few hundred at most (one per load
    /// queued), and no `VecDeque` instantiation in the wasm.
    waiters: RefCell<Vec<Function>>,
}

/// A held slot; dropping it hands the slot to the next waiter.
#[derive(Debug)]
pub struct Permit(Rc<Limiter>);

impl Limiter {
    /// A limiter with `max` slots (at least one).
    pub fn new(max: usize) -> Rc<Self> {
        Rc::new(Self {
            max: max.max(1),
            active: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        })
    }

    /// Slots in use.
    pub fn active(&self) -> usize {
        self.active.get()
    }

    /// Waits for a slot.
    pub async fn acquire(self: &Rc<Self>) -> Permit {
        if self.active.get() < self.max {
            self.active.set(self.active.get().saturating_add(1));
            return Permit(Rc::clone(self));
        }
        let (promise, resolve) = deferred();
        self.waiters.borrow_mut().push(resolve);
        // The slot is handed over by `release` without changing `active`.
        let _ = JsFuture::from(promise).await;
        Permit(Rc::clone(self))
    }

    fn release(&self) {
        let next = {
            let mut waiters = self.waiters.borrow_mut();
            (!waiters.is_empty()).then(|| waiters.remove(0))
        };
        match next {
            Some(resolve) => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            None => self.active.set(self.active.get().saturating_sub(1)),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}
