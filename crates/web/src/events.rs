//! The instance's own events (`modechange`, `error`, `progress`: a `CustomEvent` with the data in
//! `detail`) and the listeners it added to the browser, which `dispose()` and `logout()` remove.

use crate::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

use crate::util::{object, set};

/// A closure handed to the browser as an event handler.
pub type JsClosure = Closure<dyn FnMut(JsValue)>;

/// The event target apps listen on, and the browser listeners of this instance.
pub struct Events {
    target: EventTarget,
    /// (target, event type, closure) of every listener added through [`Events::on`].
    keep: RefCell<Vec<(EventTarget, &'static str, JsClosure)>>,
}

impl Events {
    /// A fresh target with no listeners.
    pub fn new() -> Result<Self, JsValue> {
        Ok(Self {
            target: EventTarget::new()?,
            keep: RefCell::new(Vec::new()),
        })
    }

    /// The target apps add their listeners to.
    pub fn target(&self) -> &EventTarget {
        &self.target
    }

    /// Listens for `kind` on `target` until [`Events::remove_all`].
    pub fn on(&self, target: &EventTarget, kind: &'static str, listener: JsClosure) {
        if target
            .add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref())
            .is_ok()
        {
            self.keep
                .borrow_mut()
                .push((target.clone(), kind, listener));
        }
    }

    /// Removes every listener added through [`Events::on`].
    pub fn remove_all(&self) {
        let keep = std::mem::take(&mut *self.keep.borrow_mut());
        for (target, kind, l) in keep {
            let _ = target.remove_event_listener_with_callback(kind, l.as_ref().unchecked_ref());
        }
    }

    /// Dispatches a `CustomEvent` with `detail`.
    pub fn emit(&self, kind: &str, detail: &JsValue) {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(detail);
        if let Ok(ev) = web_sys::CustomEvent::new_with_event_init_dict(kind, &init) {
            let _ = self.target.dispatch_event(&ev);
        }
    }

    /// Emits an `error` event for a failure not thrown to a caller (mounted elements, worker).
    pub fn emit_error(&self, error: &JsValue, mxc: Option<&str>) {
        let detail = object();
        set(&detail, "error", error);
        if let Some(m) = mxc {
            set(&detail, "mxc", &JsValue::from_str(m));
        }
        self.emit("error", &detail);
    }
}
