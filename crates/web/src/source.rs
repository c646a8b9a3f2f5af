//! The media-source interface the mount code talks to: what an element shows, and the few
//! things mounting needs from an instance — its element records, a URL for it in the current mode, saving a file,
//! pins on object URLs, error reports. The instance (`inner.rs`) implements it; the mount code
//! never sees the session, the fallback or the worker.

use std::rc::Rc;

use crate::cell::RefCell;

use authmedia_core::{EncryptedFile, MediaRequest, MxcUri};
use wasm_bindgen::JsValue;

use crate::records::Mounts;

/// What an element shows.
pub enum Source {
    /// `a[data-mxc]`: nothing to load, the click saves the file.
    Link,
    /// `data-mxc` and the request its attributes ask for.
    Mxc(MxcUri, MediaRequest),
    /// `data-encrypted` (+ `data-mimetype`).
    Encrypted(EncryptedFile, Option<String>),
}

/// Where mounted elements get their media.
///
/// Mounting is generic over it (one implementation, so no boxed futures or vtables in the
/// wasm).
pub trait MediaSource: 'static {
    /// The records of the mounted roots and elements (owned by the instance).
    fn mounts(&self) -> &RefCell<Mounts>;
    /// Whether the session ended (logout, dispose): nothing is mounted any more.
    fn ended(&self) -> bool;
    /// Whether `source` would be shown through an object URL in the current mode (those load
    /// only near the viewport).
    fn object_url(&self, source: &Source) -> bool;
    /// The URL to show `source` with, and the cache key of the object URL when `pin` pinned one.
    async fn load(
        self: Rc<Self>,
        source: &Source,
        pin: bool,
    ) -> Result<(String, Option<String>), JsValue>;
    /// Fetches `mxc` and saves it as `filename` (an `a[data-mxc]` click).
    async fn save(self: Rc<Self>, mxc: MxcUri, filename: Option<String>) -> Result<(), JsValue>;
    /// Drops one pin of the object URL under `key`.
    fn unpin(&self, key: &str);
    /// Pins the object URL under `key` again; `false` when it was evicted meanwhile.
    fn repin(&self, key: &str) -> bool;
    /// Reports an element's failure as an `error` event.
    fn report(&self, error: &JsValue, mxc: Option<&str>);
}
