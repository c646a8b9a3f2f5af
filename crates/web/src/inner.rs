//! One instance (`AuthMedia`) as owned parts: the session (with the link to the worker), the mode,
//! the events, the fallback, the encrypted registry and the mounted elements. `Inner` composes
//! them: it hands out URLs in the current mode, tells mounted elements what the fallback's LRU
//! evicted, and is the media source the mount code talks to.

use crate::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{EncryptedFile, MediaRequest, MxcUri};
use authmedia_js::file_from_js;
use wasm_bindgen::prelude::*;

use crate::element::Mounter;
use crate::encrypted::{mimetype_option, Encrypted};
use crate::error::attachment_error;
use crate::events::Events;
use crate::fallback::{Fallback, Media};
use crate::hydrate::retry_failed;
use crate::mode::{Mode, ModeState};
use crate::mount::{evicted, unmount_all};
use crate::options::Options;
use crate::records::Mounts;
use crate::session::Session;
use crate::source::{MediaSource, Source};
use crate::stats::{bump, stats_object};
use crate::util::window;

/// The parts of one `AuthMedia`.
pub struct Inner {
    /// Options as given.
    pub opts: Options,
    /// Homeserver, user, token, API, abort signal, token refresh; the gate.
    pub session: Rc<Session>,
    /// Worker or fallback, and why.
    pub mode: ModeState,
    /// Object URLs, counters, downloads.
    pub fallback: Rc<Fallback>,
    /// Encrypted attachments handed to `srcEncrypted` (keys, in memory only).
    pub encrypted: Encrypted,
    /// Mounted roots and their elements.
    mounts: RefCell<Mounts>,
}

impl Inner {
    /// A fresh instance for `opts` (nothing registered, nothing negotiated yet).
    pub fn new(opts: Options) -> Result<Rc<Self>, JsValue> {
        let session = Rc::new(Session::new(&opts)?);
        let fallback = Rc::new(Fallback::new(
            Rc::clone(&session),
            Events::new()?,
            opts.budget_bytes,
            opts.concurrency,
        ));
        Ok(Rc::new(Self {
            session,
            mode: ModeState::new(opts.fallback),
            fallback,
            encrypted: Encrypted::default(),
            mounts: RefCell::new(Mounts::default()),
            opts,
        }))
    }

    /// The mount code's view of this instance.
    pub fn mounter(self: &Rc<Self>) -> Mounter<Inner> {
        Mounter {
            source: Rc::clone(self),
        }
    }

    /// Ends this instance on the page (logout and dispose): no token, no fetch still queued, no
    /// mounted element, no object URL, no listener left; the worker is not told here.
    pub fn detach(self: &Rc<Self>) {
        // Before anything is awaited: abort the fallback's fetches (queued ones included) and
        // stop the mounted elements' loads.
        self.session.end();
        self.encrypted.clear();
        unmount_all(&self.mounter());
        self.fallback.clear();
        self.events().remove_all();
    }

    /// `modechange`/`error`/`progress`, and the listeners this instance added to the browser
    /// (held by the fallback part, whose fetches emit some of them).
    pub fn events(&self) -> &Events {
        &self.fallback.events
    }

    /// Recomputes the mode and emits `modechange` when it changed.
    pub fn update_mode(&self) {
        self.mode.update(self.events());
    }

    /// The stats object (worker part as last reported).
    pub fn stats(&self) -> JsValue {
        stats_object(
            &self.fallback.counters,
            &self.fallback.cache,
            &self.session.link.stats(),
            self.mode.get(),
        )
    }

    /// Clears the mounted elements that showed what the fallback's LRU evicted.
    fn clear_evicted(self: &Rc<Self>) {
        let list = self.fallback.cache.take_evicted();
        if !list.is_empty() {
            evicted(&self.mounter(), &list);
        }
    }

    /// A URL for `req` in the current mode; `pin` keeps a fallback object URL alive
    /// until it is unpinned.
    pub async fn src_for(
        self: &Rc<Self>,
        mxc: &MxcUri,
        req: &MediaRequest,
        pin: bool,
    ) -> Result<(String, Option<String>), JsValue> {
        self.session.token()?;
        let fb = &self.fallback;
        match req {
            MediaRequest::Download { .. } => bump(&fb.counters.downloads),
            MediaRequest::Thumbnail(_) => bump(&fb.counters.thumbnails),
        }
        let url = self.session.url(mxc, req);
        if !self.session.api().is_authenticated() {
            bump(&fb.counters.legacy_urls);
            return Ok((url.as_str().to_owned(), None));
        }
        if self.mode.get() == Mode::Worker {
            bump(&fb.counters.worker_urls);
            return Ok((url.as_str().to_owned(), None));
        }
        let key = url.as_str().to_owned();
        let media = Media::Plain(mxc.clone(), req.clone());
        let blob = fb.blob_url(key.clone(), &media, pin).await;
        self.clear_evicted();
        let blob = blob?;
        bump(&fb.counters.fallback_urls);
        Ok((blob, Some(key)))
    }

    /// `srcEncrypted`: a URL for `img`/`video` showing the decrypted attachment.
    pub async fn src_encrypted(
        self: &Rc<Self>,
        file: JsValue,
        options: JsValue,
    ) -> Result<String, JsValue> {
        let parsed = file_from_js(&file).map_err(|e| attachment_error(&e))?;
        let mimetype = mimetype_option(&options)?;
        self.encrypted_src(&parsed, mimetype.as_deref(), false)
            .await
            .map(|(url, _)| url)
    }

    /// The URL of a validated file (shared by `srcEncrypted` and `mount`'s `data-encrypted`):
    /// the worker's URL, or a `blob:` URL and its cache key, pinned when `pin`.
    pub async fn encrypted_src(
        self: &Rc<Self>,
        file: &EncryptedFile,
        mimetype: Option<&str>,
        pin: bool,
    ) -> Result<(String, Option<String>), JsValue> {
        self.session.token()?;
        let id = self.encrypted.remember(file, mimetype)?;
        if self.mode.get() == Mode::Worker {
            if let Some(url) = self.encrypted.register(&id).await {
                bump(&self.fallback.counters.worker_urls);
                return Ok((url, None));
            }
        }
        let key = format!("encrypted:{id}");
        let media = Media::Encrypted(file.clone(), mimetype.map(str::to_owned));
        let url = self.fallback.blob_url(key.clone(), &media, pin).await;
        self.clear_evicted();
        let url = url?;
        bump(&self.fallback.counters.fallback_urls);
        Ok((url, Some(key)))
    }

    /// Runs `retryFailed()` whenever the browser comes back online (the window's `online` event).
    pub fn retry_when_online(self: &Rc<Self>) {
        let Ok(w) = window() else { return };
        // Held until `detach()` removes the listener, like the instance's other listeners.
        let me = Rc::clone(self);
        let on_online = Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
            retry_failed(&me.mounter());
        });
        self.events().on(&w, "online", on_online);
    }
}

impl MediaSource for Inner {
    fn mounts(&self) -> &RefCell<Mounts> {
        &self.mounts
    }

    fn ended(&self) -> bool {
        self.session.ended()
    }

    fn object_url(&self, source: &Source) -> bool {
        let fallback = self.mode.get() == Mode::Fallback;
        match source {
            Source::Encrypted(..) => fallback,
            _ => fallback && self.session.api().is_authenticated(),
        }
    }

    async fn load(
        self: Rc<Self>,
        source: &Source,
        pin: bool,
    ) -> Result<(String, Option<String>), JsValue> {
        match source {
            Source::Encrypted(file, mimetype) => {
                self.encrypted_src(file, mimetype.as_deref(), pin).await
            }
            Source::Mxc(mxc, req) => self.src_for(mxc, req, pin).await,
            Source::Link => Ok((String::new(), None)),
        }
    }

    async fn save(self: Rc<Self>, mxc: MxcUri, filename: Option<String>) -> Result<(), JsValue> {
        self.fallback.save_file(&mxc, filename).await
    }

    fn unpin(&self, key: &str) {
        self.fallback.cache.unpin(key);
    }

    fn repin(&self, key: &str) -> bool {
        self.fallback.cache.get(key, true).is_some()
    }

    fn report(&self, error: &JsValue, mxc: Option<&str>) {
        self.events().emit_error(error, mxc);
    }
}
