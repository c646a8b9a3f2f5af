//! The records of one instance's mounted roots and elements (pure data, owned by the instance and
//! lent to the mount code through [`crate::source::MediaSource::mounts`]).

use js_sys::{Array, Map};
use wasm_bindgen::prelude::*;
use web_sys::{Element, IntersectionObserver, MutationObserver};

use crate::by_id::ById;

pub type Listener = Closure<dyn FnMut(JsValue)>;

pub struct ElemRec {
    pub el: Element,
    pub root: u32,
    /// Fallback cache key of the object URL shown, if any.
    pub key: Option<String>,
    /// Whether this element holds a pin on `key`.
    pub pinned: bool,
    /// In (or near) the viewport.
    pub visible: bool,
    /// A hydration is running.
    pub loading: bool,
    /// Bumped on every hydration; stale results are dropped.
    pub generation: u32,
    pub listeners: Vec<(&'static str, Listener)>,
}

pub struct RootRec {
    pub el: Element,
    pub mutations: MutationObserver,
    pub intersections: Option<IntersectionObserver>,
    pub _closures: Vec<Closure<dyn FnMut(Array, JsValue)>>,
}

/// All mounted roots and tracked elements of one `AuthMedia`.
#[derive(Default)]
pub struct Mounts {
    next_id: u32,
    /// `(id, root)`: a page mounts a handful of roots, so a `Vec` serves as well as a map and
    /// keeps one more hash-map instantiation out of the wasm.
    pub roots: Vec<(u32, RootRec)>,
    /// Tracked elements by id (sorted: ids only grow).
    pub elems: ById<ElemRec>,
    ids: Option<Map>,
}

impl Mounts {
    /// The element → id map.
    pub fn ids(&mut self) -> Map {
        self.ids.get_or_insert_with(Map::new).clone()
    }

    /// A mounted root.
    pub fn root(&self, id: u32) -> Option<&RootRec> {
        self.roots.iter().find(|(i, _)| *i == id).map(|(_, r)| r)
    }

    /// The id of a tracked element.
    pub fn id_of(&mut self, el: &JsValue) -> Option<u32> {
        self.ids().get(el).as_f64().map(|f| f as u32)
    }

    /// A fresh id.
    pub fn next(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }
}
