//! Awaiting a JavaScript promise without creating functions per await.
//!
//! `JsFuture` makes two Rust closures (and their JS wrappers, registered for finalisation) for
//! every promise it awaits; the worker awaits two or three per media request. [`settled`]
//! instead binds two functions created once per wasm instance to a slot number
//! (`Function.prototype.bind`, native) and keeps the outcome in that slot until the awaiting task
//! takes it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    /// A promise, seen as something with `then`.
    type Thenable;
    /// `promise.then(onFulfilled, onRejected)` with plain functions.
    #[wasm_bindgen(method, js_name = then)]
    fn on_settled(this: &Thenable, on_ok: &Function, on_err: &Function);
}

/// One awaited promise: its outcome once settled, the task to wake.
struct Slot {
    id: u32,
    outcome: Option<Result<JsValue, JsValue>>,
    waker: Option<Waker>,
}

struct Slots {
    next: u32,
    waiting: Vec<Slot>,
}

thread_local! {
    static SLOTS: RefCell<Slots> = const { RefCell::new(Slots { next: 0, waiting: Vec::new() }) };
    /// `(id, value) => …` for fulfilment and for rejection.
    static CALLBACKS: (Function, Function) = (callback(true), callback(false));
}

fn callback(fulfilled: bool) -> Function {
    Closure::<dyn Fn(u32, JsValue)>::new(move |id: u32, value: JsValue| {
        let waker = SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            // A slot already dropped (its task gave up waiting) keeps nothing.
            let slot = slots.waiting.iter_mut().find(|s| s.id == id)?;
            slot.outcome = Some(if fulfilled { Ok(value) } else { Err(value) });
            slot.waker.take()
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    })
    .into_js_value()
    .unchecked_into()
}

/// A promise's outcome, as a future.
pub(crate) struct Settled(u32);

/// Awaits `promise`: `Ok` with its value, `Err` with its rejection reason.
pub(crate) fn settled(promise: &Promise) -> Settled {
    let id = SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        let id = slots.next;
        slots.next = id.wrapping_add(1);
        slots.waiting.push(Slot {
            id,
            outcome: None,
            waker: None,
        });
        id
    });
    CALLBACKS.with(|(on_ok, on_err)| {
        let id = JsValue::from(id);
        let on_ok: Function = on_ok.bind1(&JsValue::NULL, &id).unchecked_into();
        let on_err: Function = on_err.bind1(&JsValue::NULL, &id).unchecked_into();
        promise
            .unchecked_ref::<Thenable>()
            .on_settled(&on_ok, &on_err);
    });
    Settled(id)
}

impl Future for Settled {
    type Output = Result<JsValue, JsValue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.0;
        SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            let Some(index) = slots.waiting.iter().position(|s| s.id == id) else {
                return Poll::Ready(Err(JsValue::UNDEFINED));
            };
            let outcome = slots
                .waiting
                .get_mut(index)
                .and_then(|slot| match slot.outcome.take() {
                    Some(outcome) => Some(outcome),
                    None => {
                        slot.waker = Some(cx.waker().clone());
                        None
                    }
                });
            match outcome {
                Some(outcome) => {
                    slots.waiting.swap_remove(index);
                    Poll::Ready(outcome)
                }
                None => Poll::Pending,
            }
        })
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        let id = self.0;
        // `try_with`: the slots may already be gone when the instance is torn down.
        let _ = SLOTS.try_with(|slots| {
            if let Ok(mut slots) = slots.try_borrow_mut() {
                slots.waiting.retain(|s| s.id != id);
            }
        });
    }
}

/// `future_to_promise` of a boxed future: its machinery (spawning, resolving, rejecting) is
/// compiled once, not around each async body that becomes a promise.
#[inline(never)]
pub(crate) fn promise(future: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    wasm_bindgen_futures::future_to_promise(future)
}
