//! The `AuthMedia` class: one signed-in session on one page.
//!
//! `init` negotiates the media API with an authenticated `/versions`, picks a mode
//! (worker or fallback, see `worker.rs`), and then hands out URLs: the authenticated URL
//! when a worker controls the page, a `blob:` URL from the fallback otherwise, the legacy
//! URL for a server without authenticated media.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use authmedia_core::{Api, CanonicalUrl, Homeserver, MediaRequest, Method, MxcUri, Thumbnail};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use crate::budget::BlobBudget;
use crate::error::WebError;
use crate::limiter::Limiter;
use crate::mount::Mounts;
use crate::options::{FallbackPref, Options};
use crate::util::{check_token, get_string, object, set, try_get};

/// A closure handed to the browser as an event handler.
pub type JsClosure = Closure<dyn FnMut(JsValue)>;

/// Which mechanism serves media right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A service worker controls the page and adds the token.
    Worker,
    /// No worker: fetch with the token → blob → object URL.
    Fallback,
}

impl Mode {
    /// `"worker"` or `"fallback"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Worker => "worker",
            Mode::Fallback => "fallback",
        }
    }
}

/// Counters of the page side.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Fallback fetches sent.
    pub fetches: u64,
    /// Fallback answers from the object-URL cache (or a shared in-flight fetch).
    pub cache_hits: u64,
    /// URLs handed out for downloads.
    pub downloads: u64,
    /// URLs handed out for thumbnails.
    pub thumbnails: u64,
    /// URLs handed out for the worker (authenticated http URLs).
    pub worker_urls: u64,
    /// URLs handed out by the fallback (`blob:` URLs).
    pub fallback_urls: u64,
    /// Legacy URLs handed out (server without authenticated media).
    pub legacy_urls: u64,
    /// Encrypted attachments the fallback verified and decrypted with WebCrypto.
    pub decrypted_webcrypto: u64,
    /// Encrypted attachments the fallback verified and decrypted in wasm.
    pub decrypted_wasm: u64,
}

/// Shared state behind an `AuthMedia` handle.
pub struct Inner {
    /// The homeserver.
    pub hs: Homeserver,
    /// The user id.
    pub user_id: String,
    /// The current token (`None` after logout).
    pub token: RefCell<Option<String>>,
    /// The negotiated API flavour.
    pub api: Cell<Api>,
    /// Options as given.
    pub opts: Options,
    /// The current mode.
    pub mode: Cell<Mode>,
    /// Whether a worker controls this page and holds our session.
    pub worker_ready: Cell<bool>,
    /// `setForceFallback(true)` in effect.
    pub forced: Cell<bool>,
    /// Why the fallback is used (for diagnostics).
    pub fallback_reason: RefCell<Option<String>>,
    /// Its cause, as the `fallbackDetail` object (`diagnose.rs`).
    pub fallback_detail: RefCell<Option<JsValue>>,
    /// Event listeners live here.
    pub events: web_sys::EventTarget,
    /// Object URLs by request key.
    pub blobs: RefCell<BlobBudget<String>>,
    /// Fetches in flight by request key (shared by concurrent callers).
    pub inflight: RefCell<HashMap<String, Promise>>,
    /// Bounds concurrent fallback fetches.
    pub limiter: Rc<Limiter>,
    /// A token refresh in flight, shared.
    pub refreshing: RefCell<Option<Promise>>,
    /// Counters.
    pub counters: RefCell<Counters>,
    /// Last stats the worker reported.
    pub worker_stats: RefCell<Option<JsValue>>,
    /// Mounted roots and their elements.
    pub mounts: RefCell<Mounts>,
    /// Listeners this instance added to the browser (target, event type, closure): `dispose()`
    /// and `logout()` remove them.
    pub keep: RefCell<Vec<(web_sys::EventTarget, &'static str, JsClosure)>>,
    /// Set by logout and dispose.
    pub logged_out: Cell<bool>,
    /// Encrypted attachments handed to `srcEncrypted` (keys, in memory only).
    pub encrypted: RefCell<crate::encrypted::Registry>,
    /// Aborted by `logout()`: every fallback fetch listens to it, so none still queued in the
    /// browser goes out with the token afterwards.
    pub session_abort: web_sys::AbortController,
    /// The registration of this SDK's worker, once registered: `logout()` and token changes
    /// reach every worker of it (installing, waiting, active), not only the controller.
    pub registration: RefCell<Option<web_sys::ServiceWorkerRegistration>>,
    /// Object URLs `download()` handed to a temporary `<a download>`: revoked by their timer or,
    /// at the latest, by `logout()`.
    pub download_urls: RefCell<Vec<String>>,
}

impl Inner {
    /// The current token or a `logged_out` error.
    pub fn token(&self) -> Result<String, WebError> {
        self.token.borrow().clone().ok_or_else(logged_out)
    }

    /// Listens for `kind` on `target` until this instance is detached.
    pub fn on(&self, target: &web_sys::EventTarget, kind: &'static str, listener: JsClosure) {
        if target
            .add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref())
            .is_ok()
        {
            self.keep
                .borrow_mut()
                .push((target.clone(), kind, listener));
        }
    }

    /// Ends this instance on the page (logout and dispose): no token, no fetch still queued, no
    /// mounted element, no object URL, no listener left; the worker is not told here.
    pub fn detach(&self) {
        self.logged_out.set(true);
        self.token.replace(None);
        self.encrypted.borrow_mut().clear();
        // Before anything is awaited: abort the fallback's fetches (queued ones included) and
        // stop the mounted elements' loads.
        self.session_abort.abort();
        crate::mount::unmount_all(self);
        for u in self.blobs.borrow_mut().clear() {
            let _ = web_sys::Url::revoke_object_url(&u);
        }
        for u in self.download_urls.borrow_mut().drain(..) {
            let _ = web_sys::Url::revoke_object_url(&u);
        }
        let keep = std::mem::take(&mut *self.keep.borrow_mut());
        for (target, kind, l) in keep {
            let _ = target.remove_event_listener_with_callback(kind, l.as_ref().unchecked_ref());
        }
        crate::worker::release(self);
    }

    /// The URL of `req` for `mxc` in the negotiated flavour. Its inputs besides the arguments
    /// are the homeserver (fixed for the instance) and the `Api`: whatever else starts to matter
    /// here must also change `AuthMediaCore::url_epoch`, which the loader's `httpUrl` memo keys on.
    pub fn url(&self, mxc: &MxcUri, req: &MediaRequest) -> CanonicalUrl {
        CanonicalUrl::media(&self.hs, self.api.get(), mxc, req, None)
    }

    /// Recomputes the mode and emits `modechange` when it changed.
    pub fn update_mode(&self) {
        let next = if self.worker_ready.get()
            && !self.forced.get()
            && self.opts.fallback != FallbackPref::Force
        {
            Mode::Worker
        } else {
            Mode::Fallback
        };
        let prev = self.mode.replace(next);
        if prev != next {
            let detail = object();
            set(&detail, "mode", &JsValue::from_str(next.as_str()));
            set(&detail, "previous", &JsValue::from_str(prev.as_str()));
            self.emit("modechange", &detail);
        }
    }

    /// Dispatches a `CustomEvent` with `detail`.
    pub fn emit(&self, kind: &str, detail: &JsValue) {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(detail);
        if let Ok(ev) = web_sys::CustomEvent::new_with_event_init_dict(kind, &init) {
            let _ = self.events.dispatch_event(&ev);
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

    /// The stats object (worker part as last reported).
    pub fn stats(&self) -> JsValue {
        let c = self.counters.borrow().clone();
        let blobs = self.blobs.borrow();
        let out = object();
        let worker = self.worker_stats.borrow().clone().unwrap_or(JsValue::NULL);
        set(&out, "worker", &worker);
        let fb = object();
        set(&fb, "fetches", &JsValue::from(c.fetches as f64));
        set(&fb, "cacheHits", &JsValue::from(c.cache_hits as f64));
        set(
            &fb,
            "decryptedWebCrypto",
            &JsValue::from(c.decrypted_webcrypto as f64),
        );
        set(
            &fb,
            "decryptedWasm",
            &JsValue::from(c.decrypted_wasm as f64),
        );
        set(&fb, "evictions", &JsValue::from(blobs.evictions() as f64));
        set(&fb, "bytes", &JsValue::from(blobs.bytes() as f64));
        set(&fb, "objectUrls", &JsValue::from(blobs.len() as f64));
        set(&fb, "budgetBytes", &JsValue::from(blobs.budget() as f64));
        set(&fb, "pinned", &JsValue::from(blobs.pinned() as f64));
        set(
            &fb,
            "inFlight",
            &JsValue::from(self.limiter.active() as f64),
        );
        set(&out, "fallback", &fb);
        let by = object();
        set(&by, "download", &JsValue::from(c.downloads as f64));
        set(&by, "thumbnail", &JsValue::from(c.thumbnails as f64));
        set(&out, "byKind", &by);
        let bm = object();
        set(&bm, "worker", &JsValue::from(c.worker_urls as f64));
        set(&bm, "fallback", &JsValue::from(c.fallback_urls as f64));
        set(&bm, "legacy", &JsValue::from(c.legacy_urls as f64));
        set(&out, "byMode", &bm);
        set(&out, "mode", &JsValue::from_str(self.mode.get().as_str()));
        out
    }

    /// A URL for `req` in the current mode; `pin` keeps a fallback object URL alive
    /// until [`BlobBudget::unpin`].
    pub async fn src_for(
        self: &Rc<Self>,
        mxc: &MxcUri,
        req: &MediaRequest,
        pin: bool,
    ) -> Result<(String, Option<String>), JsValue> {
        self.token()?;
        {
            let mut c = self.counters.borrow_mut();
            match req {
                MediaRequest::Download { .. } => c.downloads = c.downloads.saturating_add(1),
                MediaRequest::Thumbnail(_) => c.thumbnails = c.thumbnails.saturating_add(1),
            }
        }
        let url = self.url(mxc, req);
        if !self.api.get().is_authenticated() {
            let mut c = self.counters.borrow_mut();
            c.legacy_urls = c.legacy_urls.saturating_add(1);
            return Ok((url.to_string(), None));
        }
        if self.mode.get() == Mode::Worker {
            let mut c = self.counters.borrow_mut();
            c.worker_urls = c.worker_urls.saturating_add(1);
            return Ok((url.to_string(), None));
        }
        let key = url.to_string();
        let blob = self
            .blob_url(key.clone(), url, pin, &mxc.to_string())
            .await?;
        let mut c = self.counters.borrow_mut();
        c.fallback_urls = c.fallback_urls.saturating_add(1);
        Ok((blob, Some(key)))
    }
}

/// The error of a call on a logged-out or disposed instance.
pub(crate) fn logged_out() -> WebError {
    WebError::new(
        "logged_out",
        "this AuthMedia has logged out or was disposed",
    )
}

/// Parses the `src` options: `{ thumbnail?: {width, height, method?, animated?}, filename? }`.
/// Wrong types are errors (not ignored): options and `thumbnail` must be objects, `filename`
/// and `method` strings, `animated` a boolean; a getter that throws is an error too.
pub fn parse_request(opts: &JsValue) -> Result<MediaRequest, WebError> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(MediaRequest::Download { filename: None });
    }
    if !opts.is_object() || opts.is_function() {
        return Err(WebError::invalid_argument("the options must be an object"));
    }
    let t = try_get(opts, "thumbnail")?;
    if !t.is_undefined() && !t.is_null() {
        if !t.is_object() || t.is_function() {
            return Err(WebError::invalid_argument(
                "thumbnail must be an object {width, height, method?, animated?}",
            ));
        }
        let dim = |k: &str| dimension(k, try_get(&t, k)?.as_f64());
        let method = try_get(&t, "method")?;
        let method = match method.as_string().as_deref() {
            None if method.is_undefined() || method.is_null() => None,
            Some("crop") => Some(Method::Crop),
            Some("scale") => Some(Method::Scale),
            _ => {
                return Err(WebError::invalid_argument(
                    "thumbnail.method must be 'crop' or 'scale'",
                ))
            }
        };
        let animated = try_get(&t, "animated")?;
        let animated = match animated.as_bool() {
            None if animated.is_undefined() || animated.is_null() => None,
            None => {
                return Err(WebError::invalid_argument(
                    "thumbnail.animated must be true or false",
                ))
            }
            b => b,
        };
        return Ok(MediaRequest::Thumbnail(Thumbnail {
            width: dim("width")?,
            height: dim("height")?,
            method,
            animated,
        }));
    }
    let filename = try_get(opts, "filename")?;
    let filename = match filename.as_string() {
        None if filename.is_undefined() || filename.is_null() => None,
        None => return Err(WebError::invalid_argument("filename must be a string")),
        name => name,
    };
    Ok(MediaRequest::Download { filename })
}

/// A thumbnail's `width`/`height` (`k`) as the server takes it.
fn dimension(k: &str, n: Option<f64>) -> Result<u32, WebError> {
    match n {
        Some(n) if n.is_finite() && n >= 1.0 && n <= f64::from(u32::MAX) => Ok(n.round() as u32),
        _ => Err(WebError::invalid_argument(format!(
            "thumbnail.{k} must be a positive integer"
        ))),
    }
}

/// Longest mxc URI accepted. The spec sets no limit on media ids, but real ones are a few dozen
/// characters; a multi-megabyte one would only build a URL no server (or browser) takes.
pub const MAX_MXC_LEN: usize = 8 * 1024;

/// Parses an mxc URI argument.
pub fn parse_mxc(v: &str) -> Result<MxcUri, WebError> {
    if v.len() > MAX_MXC_LEN {
        return Err(WebError::new(
            "invalid_mxc",
            format!("the mxc URI is longer than {MAX_MXC_LEN} bytes"),
        )
        .with_reason("too_long"));
    }
    MxcUri::parse(v).map_err(WebError::from)
}

/// One signed-in session of the page SDK (JS name `AuthMedia`; the npm loader wraps it).
#[wasm_bindgen(js_name = AuthMediaCore)]
pub struct AuthMedia {
    inner: Rc<Inner>,
}

#[wasm_bindgen(js_class = AuthMediaCore)]
impl AuthMedia {
    /// Negotiates with the homeserver, registers the worker and picks a mode.
    #[wasm_bindgen(js_name = init)]
    pub async fn init(options: JsValue) -> Result<AuthMedia, JsValue> {
        let opts = Options::from_js(&options)?;
        let events = web_sys::EventTarget::new()?;
        let inner = Rc::new(Inner {
            hs: opts.homeserver.clone(),
            user_id: opts.user_id.clone(),
            token: RefCell::new(Some(opts.access_token.clone())),
            api: Cell::new(Api::V1),
            mode: Cell::new(Mode::Fallback),
            worker_ready: Cell::new(false),
            forced: Cell::new(false),
            fallback_reason: RefCell::new(None),
            fallback_detail: RefCell::new(None),
            events,
            blobs: RefCell::new(BlobBudget::new(opts.budget_bytes)),
            inflight: RefCell::new(HashMap::new()),
            limiter: Limiter::new(opts.concurrency),
            refreshing: RefCell::new(None),
            counters: RefCell::new(Counters::default()),
            worker_stats: RefCell::new(None),
            mounts: RefCell::new(Mounts::default()),
            keep: RefCell::new(Vec::new()),
            logged_out: Cell::new(false),
            encrypted: RefCell::new(crate::encrypted::Registry::default()),
            session_abort: web_sys::AbortController::new()?,
            registration: RefCell::new(None),
            download_urls: RefCell::new(Vec::new()),
            opts,
        });
        crate::worker::hold(&inner);
        let early = inner.register_early();
        let started = async {
            inner.api.set(inner.negotiate().await?);
            inner.start_worker(early).await
        };
        if let Err(e) = started.await {
            // Nobody gets this instance: its listeners and its place among the tab's holders go.
            inner.detach();
            return Err(e);
        }
        inner.update_mode();
        crate::mount::retry_when_online(&inner);
        Ok(AuthMedia { inner })
    }

    /// `"worker"` or `"fallback"`.
    #[wasm_bindgen(getter, js_name = mode)]
    pub fn mode(&self) -> String {
        self.inner.mode.get().as_str().to_owned()
    }

    /// `"v1"`, `"unstable"` or `"legacy"`.
    #[wasm_bindgen(getter, js_name = api)]
    pub fn api(&self) -> String {
        self.inner.api.get().as_str().to_owned()
    }

    /// Changes whenever a URL [`Inner::url`] builds could change for the same arguments (the
    /// homeserver is fixed per instance, so: when the `Api` changes). A number, so the loader's
    /// `httpUrl` memo checks it on every call without passing a string across.
    #[wasm_bindgen(getter, js_name = urlEpoch)]
    pub fn url_epoch(&self) -> u32 {
        match self.inner.api.get() {
            Api::V1 => 1,
            Api::Unstable => 2,
            Api::Legacy => 3,
        }
    }

    /// Why the fallback is in use (`null` in worker mode).
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        if self.inner.mode.get() == Mode::Worker {
            return None;
        }
        if self.inner.forced.get() || self.inner.opts.fallback == FallbackPref::Force {
            return Some("forced".to_owned());
        }
        self.inner.fallback_reason.borrow().clone()
    }

    /// The facts behind `fallbackReason` — `{reason, url?, error?, scope?}` (the worker URL
    /// tried, the browser's words, the registration's scope) — or `null` in worker mode. The
    /// loader adds the probe of the script and the wording.
    #[wasm_bindgen(getter, js_name = fallbackDetail)]
    pub fn fallback_detail(&self) -> JsValue {
        let Some(reason) = self.fallback_reason() else {
            return JsValue::NULL;
        };
        let stored = self.inner.fallback_detail.borrow().clone();
        match stored {
            Some(d) if get_string(&d, "reason").as_deref() == Some(reason.as_str()) => d,
            _ => {
                let d = object();
                set(&d, "reason", &JsValue::from_str(&reason));
                d
            }
        }
    }

    /// A URL for `mxc` that works in `img.src`/`video.src` in the current mode; `mxc` may also be
    /// an absolute media URL of the session's homeserver (see the `hs_urls` module).
    #[wasm_bindgen(js_name = src)]
    pub fn src(&self, mxc: String, options: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let (m, req) = crate::hs_urls::media_of_input(&inner, &mxc, &options)?;
            let (url, _) = inner.src_for(&m, &req, false).await?;
            Ok(JsValue::from_str(&url))
        })
    }

    /// A URL for `img.src`/`video.src` showing an encrypted attachment (`EncryptedFile`, an
    /// object or its JSON text), verified and decrypted; `options.mimetype` sets its type
    /// (anything not safe to render becomes `application/octet-stream`).
    #[wasm_bindgen(js_name = srcEncrypted)]
    pub fn src_encrypted(&self, file: JsValue, options: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let url = inner.src_encrypted(file, options).await?;
            Ok(JsValue::from_str(&url))
        })
    }

    /// The authenticated (or legacy) URL of `mxc`, whatever the mode; needs a worker or a
    /// header to be used.
    #[wasm_bindgen(js_name = httpUrl)]
    pub fn http_url(&self, mxc: String, options: JsValue) -> Result<String, JsValue> {
        let m = parse_mxc(&mxc)?;
        let req = parse_request(&options)?;
        Ok(self.inner.url(&m, &req).to_string())
    }

    /// `httpUrl` with the options already read by the loader (its memo reads them once):
    /// `width`/`height` for a thumbnail (`thumbnail` true), `method` 0 none · 1 crop · 2 scale,
    /// `animated` 0 none · 1 false · 2 true, else a download with `filename`. Numbers instead of an
    /// object, so no property is read across the boundary; the same checks and errors as
    /// [`Self::http_url`] (other method strings go there).
    #[wasm_bindgen(js_name = httpUrlOf)]
    #[allow(clippy::too_many_arguments)] // one primitive per option, on purpose (see above)
    pub fn http_url_of(
        &self,
        mxc: String,
        thumbnail: bool,
        width: f64,
        height: f64,
        method: u8,
        animated: u8,
        filename: Option<String>,
    ) -> Result<String, JsValue> {
        let m = parse_mxc(&mxc)?;
        let req = if thumbnail {
            MediaRequest::Thumbnail(Thumbnail {
                width: dimension("width", Some(width))?,
                height: dimension("height", Some(height))?,
                method: match method {
                    1 => Some(Method::Crop),
                    2 => Some(Method::Scale),
                    _ => None,
                },
                animated: match animated {
                    1 => Some(false),
                    2 => Some(true),
                    _ => None,
                },
            })
        } else {
            MediaRequest::Download { filename }
        };
        Ok(self.inner.url(&m, &req).to_string())
    }

    /// Hydrates `[data-mxc]` elements under `root`, now and later; returns an unmount function.
    #[wasm_bindgen(js_name = mount)]
    pub fn mount(&self, root: web_sys::Element) -> Result<Function, JsValue> {
        crate::mount::mount(&self.inner, root)
    }

    /// `mount(root, { homeserverUrls: true })`: watches `root` for elements whose `src` is a
    /// media URL of the session's homeserver and hands them to `mount()` while no worker serves
    /// the page (the `hs_urls` module); the loader disconnects the returned observer at unmount.
    #[wasm_bindgen(js_name = watchHomeserverUrls)]
    pub fn watch_homeserver_urls(
        &self,
        root: web_sys::Element,
    ) -> Result<web_sys::MutationObserver, JsValue> {
        crate::hs_urls::watch(&self.inner, &root)
    }

    /// Loads again every mounted element whose load failed for a reason that may pass
    /// (network, server error, rate limit, stall, not yet uploaded); returns how many were
    /// restarted. Also runs on the window's `online` event.
    #[wasm_bindgen(js_name = retryFailed)]
    pub fn retry_failed(&self) -> u32 {
        crate::mount::retry_failed(&self.inner)
    }

    /// Replaces the access token (also in the worker). Mounted elements that failed
    /// `unauthorized` (the old token was refused) load again once the worker has the new one.
    #[wasm_bindgen(js_name = setAccessToken)]
    pub fn set_access_token(&self, token: String) -> Result<(), JsValue> {
        check_token(&token)?;
        if self.inner.logged_out.get() {
            return Err(logged_out().into());
        }
        self.inner.token.replace(Some(token.clone()));
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::spawn_local(async move {
            // After a sibling's logout ended the tab's session: hand the worker this one again.
            if !crate::worker::holds(&inner) {
                inner.resume().await;
            }
            inner.send_token(&token).await;
            // Only while this token is still the current one.
            if inner.token.borrow().as_deref() == Some(token.as_str()) {
                crate::mount::reload_failed(&inner, &[authmedia_core::ClientCode::Unauthorized]);
            }
        });
        Ok(())
    }

    /// Forgets the token, tells the worker to purge, revokes every object URL.
    #[wasm_bindgen(js_name = logout)]
    pub fn logout(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            inner.logout().await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Detaches this instance from the page — its elements unmounted, its listeners removed, its
    /// object URLs revoked, its fetches aborted — without ending the session in the worker, which
    /// other instances of this tab may use (a component unmounting, React StrictMode's cleanup).
    #[wasm_bindgen(js_name = dispose)]
    pub fn dispose(&self) {
        self.inner.detach();
    }

    /// Forces the fallback on (`true`) or returns to automatic mode (`false`).
    #[wasm_bindgen(js_name = setForceFallback)]
    pub fn set_force_fallback(&self, force: bool) {
        self.inner.forced.set(force);
        self.inner.update_mode();
    }

    /// Counters; the worker part is the last one reported (refreshed in the background).
    #[wasm_bindgen(js_name = stats)]
    pub fn stats(&self) -> JsValue {
        self.inner.request_worker_stats();
        self.inner.stats()
    }

    /// Like `stats()`, after asking the worker for fresh numbers.
    #[wasm_bindgen(js_name = refreshStats)]
    pub fn refresh_stats(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            inner.fetch_worker_stats().await;
            Ok(inner.stats())
        })
    }

    /// `diagnose()`'s question "does an authenticated request from this page's origin get
    /// through?": one `GET /_matrix/client/versions` with the token, through the gate (so a CORS
    /// preflight naming `Authorization` from this origin). Resolves `{ok: true, api}` or
    /// `{ok: false, code, message}`; never rejects.
    #[wasm_bindgen(js_name = checkAuthenticated)]
    pub fn check_authenticated(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let out = object();
            match inner.negotiate().await {
                Ok(api) => {
                    set(&out, "ok", &JsValue::TRUE);
                    set(&out, "api", &JsValue::from_str(api.as_str()));
                }
                Err(e) => {
                    set(&out, "ok", &JsValue::FALSE);
                    set(
                        &out,
                        "code",
                        &crate::error::code_of(&e).map_or(JsValue::NULL, |c| JsValue::from_str(&c)),
                    );
                    set(&out, "error", &e);
                }
            }
            Ok(out)
        })
    }

    /// Downloads `mxc` and saves it as `filename` (works in both modes).
    #[wasm_bindgen(js_name = download)]
    pub fn download(&self, mxc: String, filename: Option<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let m = parse_mxc(&mxc)?;
            inner.save_file(&m, filename).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Listens for `modechange`, `error` or `progress` (a `CustomEvent`; data in `detail`).
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(&self, kind: String, listener: Function) -> Result<(), JsValue> {
        self.inner
            .events
            .add_event_listener_with_callback(&kind, &listener)
    }

    /// Removes a listener added with `addEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(&self, kind: String, listener: Function) -> Result<(), JsValue> {
        self.inner
            .events
            .remove_event_listener_with_callback(&kind, &listener)
    }
}
