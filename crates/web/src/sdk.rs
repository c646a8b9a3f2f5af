//! The `AuthMedia` class (JS `AuthMediaCore`, wrapped by the npm loader): a thin facade. Each
//! call checks its arguments and hands over to the part that owns the concern — `worker.rs`
//! (init, tokens, logout), `inner.rs` (URLs in the current mode), `mount.rs`, `hs_urls.rs`,
//! `request.rs` (`checkAuthenticated`), `fallback.rs` (`download`).

use std::cell::Cell;

use crate::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{Api, CanonicalUrl, MediaRequest, Method, MxcUri, Thumbnail};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::args::{dimension, parse_mxc, parse_request};
use crate::dispatch::{detach, hold, holds, join, same_session};
use crate::error::WebError;
use crate::hydrate::{reload_failed, retry_failed};
use crate::inner::Inner;
use crate::options::Options;
use crate::request::negotiate_api;
use crate::session::logged_out;
use crate::util::{check_token, mark, object, promise, set, spawn};
use crate::worker::register_early;

/// One signed-in session of the page SDK (JS name `AuthMedia`; the npm loader wraps it).
#[wasm_bindgen(js_name = AuthMediaCore)]
pub struct AuthMedia {
    inner: Rc<Inner>,
    /// The URL the last `thumbnailUrl`/`downloadUrl` built (the loader reads it from the wasm
    /// memory right after the call; the next call compares its URL with it).
    built: Cell<Option<CanonicalUrl>>,
    /// What the last `thumbnailUrl`/`downloadUrl` refused, for [`AuthMedia::take_url_error`].
    refused: Cell<Option<JsValue>>,
    /// Where the loader finds the last URL built ([`AuthMedia::url_slot`]).
    slot: Box<UrlSlot>,
    /// The mxc URIs `thumbnailUrl`/`downloadUrl` parsed, which the loader names by number.
    mxcs: RefCell<Mxcs>,
}

/// The mxc URIs of `thumbnailUrl`/`downloadUrl` calls, parsed once: the loader passes an mxc
/// it already passed as its number (see [`Mxcs::number`]), so the string is neither copied
/// into the wasm memory nor parsed again. Starts over, under a new `generation`, when full or
/// when the `Api` changes, so a number handed out before names nothing rather than another mxc.
#[derive(Default)]
struct Mxcs {
    parsed: Vec<MxcUri>,
    generation: u32,
    /// The `Api` of the URLs built since the last start (the loader's memo goes with it).
    api: Option<Api>,
}

impl Mxcs {
    /// As many as the loader's memo holds URLs: it cannot name more mxcs than that.
    const MAX: usize = 4096;

    /// Starts over when the `Api` is not the one of the table.
    fn check_api(&mut self, api: Api) {
        if self.api != Some(api) {
            self.clear();
            self.api = Some(api);
        }
    }

    fn clear(&mut self) {
        self.parsed.clear();
        self.generation = self.generation.wrapping_add(1);
    }

    /// The mxc a number names, if it is of this generation.
    fn get(&self, number: f64) -> Option<&MxcUri> {
        let max = Self::MAX as f64;
        // Only the numbers [`Self::number`] hands out pass: a fraction, a negative number, NaN
        // or another generation names nothing.
        let generation = (number / max).floor();
        let index = number - generation * max;
        if generation != f64::from(self.generation) || index.fract() != 0.0 {
            return None;
        }
        // 0 ≤ `index` < MAX: the cast keeps the value.
        self.parsed.get(index as usize)
    }

    /// Keeps `m`; its number (below 2^44: exact in an `f64`).
    fn number(&mut self, m: MxcUri) -> f64 {
        if self.parsed.len() >= Self::MAX {
            self.clear();
        }
        self.parsed.push(m);
        f64::from(self.generation) * Self::MAX as f64 + (self.parsed.len() - 1) as f64
    }
}

/// What the loader reads from the wasm memory after `thumbnailUrl`/`downloadUrl`: five `u32`s
/// — where the URL's new part starts; how many bytes before it the loader already holds as a
/// string (those need no decoding); 1 when the new part is ASCII; the length of the URL's stem
/// (through the media id: the same in every URL of this mxc and endpoint, see [`stem_len`]; 0
/// when not ASCII); 1 when those held bytes are of the stem the loader passed it holds, 0 when
/// of the URL built before — then, as an `f64`, the number of the mxc (see [`Mxcs`]) when the
/// call passed its string, else -1.
#[derive(Default)]
#[repr(C)]
struct UrlSlot {
    words: [Cell<u32>; 5],
    _align: Cell<u32>,
    mxc: Cell<f64>,
}

/// `shared` bit: the loader holds the URL built before as a string.
const HOLDS_LAST: u8 = 1;
/// `shared` bit: the loader holds this mxc's stem of this endpoint as a string.
const HOLDS_STEM: u8 = 2;

/// The length of `url` through the media id, or 0 when that part is not ASCII (the loader
/// slices strings in UTF-16 units). `from` is where the endpoint's name starts (`download/`,
/// `thumbnail/`); the name, the escaped server name and the media id hold no `/` or `?`, so the
/// stem ends at the third `/` or the first `?`. The same bytes start every URL of one mxc and
/// endpoint in one `Api`.
pub(crate) fn stem_len(url: &str, from: usize) -> usize {
    let bytes = url.as_bytes();
    let mut slashes = 0;
    let mut end = from;
    while let Some(&c) = bytes.get(end) {
        if c == b'?' || (c == b'/' && slashes == 2) {
            break;
        }
        if c == b'/' {
            slashes += 1;
        }
        end += 1;
    }
    if slashes == 2 && url.get(..end).is_some_and(str::is_ascii) {
        end
    } else {
        0
    }
}

/// What `thumbnailUrl`/`downloadUrl` answer for a refusal (never a length).
const REFUSED: f64 = -1.0;
/// What they answer for a number that names no mxc: the loader asks again with the string.
const STALE: f64 = -2.0;

/// The length of the longest common ASCII prefix of `a` and `b`: the loader slices its string
/// of `a` at it, which counts UTF-16 units, equal to bytes only while the text is ASCII.
pub(crate) fn shared_prefix(a: &str, b: &str) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_le_bytes)
    };
    let mut n = 0;
    // Eight bytes at a time: this runs on every `httpUrl` that builds a URL.
    while let (Some(x), Some(y)) = (word(a, n), word(b, n)) {
        if x != y || x & HIGH_BITS != 0 {
            break;
        }
        n += 8;
    }
    while let (Some(&x), Some(&y)) = (a.get(n), b.get(n)) {
        if x != y || !x.is_ascii() {
            break;
        }
        n += 1;
    }
    n
}

#[wasm_bindgen(js_class = AuthMediaCore)]
impl AuthMedia {
    /// Negotiates with the homeserver, registers the worker and picks a mode.
    ///
    /// The options are read and the worker's registration started here, synchronously, before
    /// the async body: `register()` is then called within this call (not a microtask later), and
    /// before the engine has to compile that body, the largest function of the module.
    #[wasm_bindgen(js_name = init)]
    pub fn init(options: JsValue) -> Promise {
        match Options::from_js(&options) {
            Ok(opts) => {
                let early = register_early(&opts);
                promise(Box::pin(Self::start(opts, early)))
            }
            Err(e) => Promise::reject(&e.into()),
        }
    }
}

impl AuthMedia {
    /// The body of [`AuthMedia::init`] after the options were read and the worker's
    /// registration started, boxed there into the crate's one promise bridge.
    async fn start(opts: Options, early: Option<Promise>) -> Result<JsValue, JsValue> {
        let inner = Inner::new(opts)?;
        join(&inner);
        hold(&inner);
        let started = async {
            inner
                .session
                .set_api(negotiate_api(&inner.session, inner.events()).await?);
            mark(inner.opts.marks, "authmedia:versions-done");
            inner.start_worker(early).await
        };
        if let Err(e) = started.await {
            // Nobody gets this instance: its listeners and its place among the tab's holders go.
            detach(&inner);
            return Err(e);
        }
        inner.update_mode();
        inner.retry_when_online();
        Ok(AuthMedia {
            inner,
            built: Cell::new(None),
            refused: Cell::new(None),
            slot: Box::default(),
            mxcs: RefCell::default(),
        }
        .into())
    }
}

#[wasm_bindgen(js_class = AuthMediaCore)]
impl AuthMedia {
    /// `"worker"` or `"fallback"`.
    #[wasm_bindgen(getter, js_name = mode)]
    pub fn mode(&self) -> String {
        self.inner.mode.get().as_str().to_owned()
    }

    /// `"v1"`, `"unstable"` or `"legacy"`.
    #[wasm_bindgen(getter, js_name = api)]
    pub fn api(&self) -> String {
        self.inner.session.api().as_str().to_owned()
    }

    /// Changes whenever a URL `Session::url` builds could change
    /// for the same arguments (the homeserver is fixed per instance, so: when the `Api` changes).
    /// A number, so the loader's `httpUrl` memo checks it on every call without passing a string
    /// across.
    #[wasm_bindgen(getter, js_name = urlEpoch)]
    pub fn url_epoch(&self) -> u32 {
        match self.inner.session.api() {
            Api::V1 => 1,
            Api::Unstable => 2,
            Api::Legacy => 3,
        }
    }

    /// Why the fallback is in use (`null` in worker mode).
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.inner.mode.reason()
    }

    /// The facts behind `fallbackReason` — `{reason, url?, error?, scope?}` (the worker URL
    /// tried, the browser's words, the registration's scope) — or `null` in worker mode. The
    /// loader adds the probe of the script and the wording.
    #[wasm_bindgen(getter, js_name = fallbackDetail)]
    pub fn fallback_detail(&self) -> JsValue {
        self.inner.mode.detail()
    }

    /// A URL for `mxc` that works in `img.src`/`video.src` in the current mode; `mxc` may also be
    /// an absolute media URL of the session's homeserver (see the `hs_urls` module).
    #[wasm_bindgen(js_name = src)]
    pub fn src(&self, mxc: String, options: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let (m, req) = crate::hs_urls::media_of_input(&inner, &mxc, &options)?;
            let (url, _) = inner.src_for(&m, &req, false).await?;
            Ok(JsValue::from_str(&url))
        }))
    }

    /// A URL for `img.src`/`video.src` showing an encrypted attachment (`EncryptedFile`, an
    /// object or its JSON text), verified and decrypted; `options.mimetype` sets its type
    /// (anything not safe to render becomes `application/octet-stream`).
    #[wasm_bindgen(js_name = srcEncrypted)]
    pub fn src_encrypted(&self, file: JsValue, options: JsValue) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let url = inner.src_encrypted(file, options).await?;
            Ok(JsValue::from_str(&url))
        }))
    }

    /// The authenticated (or legacy) URL of `mxc`, whatever the mode; needs a worker or a
    /// header to be used.
    #[wasm_bindgen(js_name = httpUrl)]
    pub fn http_url(&self, mxc: String, options: JsValue) -> Result<String, JsValue> {
        let m = parse_mxc(&mxc)?;
        let req = parse_request(&options)?;
        Ok(self.inner.session.url(&m, &req).as_str().to_owned())
    }

    /// `httpUrl` of a thumbnail with the options already read by the loader (its memo reads
    /// them once): `method` 0 none · 1 crop · 2 scale, `animated` 0 none · 1 false · 2 true. The
    /// same checks, errors and URL as [`Self::http_url`] (other method strings go there).
    ///
    /// Numbers in and out, because this is the page's per-call cost of a URL not built before:
    /// no property is read across the boundary and no multi-value `Result`/`String` comes back.
    /// The answer is the URL's length in bytes, the URL itself in the wasm memory as
    /// [`Self::url_slot`] describes (until the next call), or -1 for a refusal, whose error
    /// [`Self::take_url_error`] hands out. `shared`: bits [`HOLDS_LAST`] (the loader still holds
    /// the URL of the last call as a string) and [`HOLDS_STEM`] (it holds this mxc's stem of this
    /// endpoint, as the slot gave it before), so the bytes they share with the new URL need not
    /// become a string again (making JS strings of bytes is the largest part of a call's cost). The mxc is its string, or, when
    /// `mxc` is `undefined`, the number the slot gave for it before: most new requests are of an
    /// mxc already seen (a thumbnail, then the download; several sizes), and a number crosses
    /// without a copy and is not parsed again. -2 for a number that names no mxc (any more).
    #[wasm_bindgen(js_name = thumbnailUrl)]
    #[allow(clippy::too_many_arguments)]
    pub fn thumbnail_url(
        &self,
        mxc: Option<String>,
        number: f64,
        width: f64,
        height: f64,
        method: u8,
        animated: u8,
        shared: u8,
    ) -> f64 {
        self.url_of(mxc, number, shared, |m| {
            let req = MediaRequest::Thumbnail(Thumbnail {
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
            });
            Ok(self.inner.session.url(m, &req))
        })
    }

    /// `httpUrl` of a download, `filename` read by the loader; answers as
    /// [`Self::thumbnail_url`] does.
    #[wasm_bindgen(js_name = downloadUrl)]
    pub fn download_url(
        &self,
        mxc: Option<String>,
        number: f64,
        filename: Option<String>,
        shared: u8,
    ) -> f64 {
        self.url_of(mxc, number, shared, |m| {
            Ok(self
                .inner
                .session
                .url(m, &MediaRequest::Download { filename }))
        })
    }

    /// Where in the wasm memory the `UrlSlot` is (fixed for the instance).
    #[wasm_bindgen(getter, js_name = urlSlot)]
    pub fn url_slot(&self) -> u32 {
        // wasm32: a pointer is 32 bits wide.
        std::ptr::from_ref::<UrlSlot>(&self.slot) as u32
    }

    /// The error of the last refused `thumbnailUrl`/`downloadUrl` (once; `undefined` after).
    #[wasm_bindgen(js_name = takeUrlError)]
    pub fn take_url_error(&self) -> JsValue {
        self.refused.take().unwrap_or(JsValue::UNDEFINED)
    }

    /// `build` with the mxc `mxc` (its string) or `number` (when `mxc` is `None`) names, kept
    /// for the loader by [`Self::keep`]; [`STALE`] when `number` names no mxc (any more).
    /// Generic over `build` (a copy per export), not `&dyn Fn`: this is `httpUrl`'s hot path, and
    /// the one shared copy made a new download URL measurably slower for 0.3 KB of wasm.
    fn url_of(
        &self,
        mxc: Option<String>,
        number: f64,
        shared: u8,
        build: impl FnOnce(&MxcUri) -> Result<CanonicalUrl, WebError>,
    ) -> f64 {
        self.slot.mxc.set(-1.0);
        // Nothing below calls out of the wasm, so the table is never borrowed here already;
        // were it, the URL is still built, from the string.
        let mut mxcs = self.mxcs.try_borrow_mut().ok();
        if let Some(mxcs) = mxcs.as_deref_mut() {
            mxcs.check_api(self.inner.session.api());
        }
        let built = match (mxc, mxcs) {
            (None, mxcs) => match mxcs.as_deref().and_then(|t| t.get(number)) {
                Some(m) => build(m),
                None => return STALE,
            },
            (Some(text), mxcs) => parse_mxc(&text).and_then(|m| {
                let url = build(&m)?;
                if let Some(mut mxcs) = mxcs {
                    self.slot.mxc.set(mxcs.number(m));
                }
                Ok(url)
            }),
        };
        self.keep(built, shared)
    }

    /// Keeps `built` for the loader (or its error for [`Self::take_url_error`]); its length in
    /// bytes, or [`REFUSED`].
    fn keep(&self, built: Result<CanonicalUrl, WebError>, shared: u8) -> f64 {
        let before = self.built.take();
        match built {
            Ok(url) => {
                let text = url.as_str();
                let session = &self.inner.session;
                let stem = stem_len(
                    text,
                    session.hs.base().len() + session.api().media_prefix().len(),
                );
                let last = match (&before, shared & HOLDS_LAST != 0) {
                    (Some(b), true) => shared_prefix(b.as_str(), text),
                    _ => 0,
                };
                // The stem is the longer run for a URL of another mxc than the one before.
                let of_stem = shared & HOLDS_STEM != 0 && stem > last;
                let same = if of_stem { stem } else { last };
                let new_part = text.get(same..).unwrap_or_default();
                let [start, kept, ascii, stem_word, of_stem_word] = &self.slot.words;
                // wasm32: pointers and lengths are 32 bits wide.
                start.set(new_part.as_ptr() as u32);
                kept.set(same as u32);
                ascii.set(u32::from(new_part.is_ascii()));
                stem_word.set(stem as u32);
                of_stem_word.set(u32::from(of_stem));
                // No URL reaches 2^53 bytes in a 32-bit memory: the conversion is exact.
                let len = text.len() as f64;
                // Moving the `CanonicalUrl` leaves its text where the slot says.
                self.built.set(Some(url));
                len
            }
            Err(e) => {
                self.refused.set(Some(e.into()));
                REFUSED
            }
        }
    }

    /// Hydrates `[data-mxc]` elements under `root`, now and later; returns an unmount function.
    #[wasm_bindgen(js_name = mount)]
    pub fn mount(&self, root: web_sys::Element) -> Result<Function, JsValue> {
        crate::mount::mount(&self.inner.mounter(), root)
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
        retry_failed(&self.inner.mounter())
    }

    /// Replaces the access token (also in the worker). Mounted elements that failed
    /// `unauthorized` (the old token was refused) load again once the worker has the new one.
    #[wasm_bindgen(js_name = setAccessToken)]
    pub fn set_access_token(&self, token: String) -> Result<(), JsValue> {
        check_token(&token)?;
        if self.inner.session.ended() {
            return Err(logged_out().into());
        }
        self.inner.session.set_token(token.clone());
        let inner = Rc::clone(&self.inner);
        spawn(Box::pin(async move {
            // After a sibling's logout ended the tab's session: hand the worker this one again.
            if !holds(&inner) {
                inner.resume().await;
            }
            inner.session.link.send_token(&token).await;
            // Only while this token is still the current one; the elements of this instance
            // (a holder once `resume` ran) and of the siblings holding its session, which have
            // the new token too.
            if inner.session.is_current(&token) {
                for i in same_session(&inner) {
                    reload_failed(&i.mounter(), &[authmedia_core::ClientCode::Unauthorized]);
                }
            }
        }));
        Ok(())
    }

    /// Forgets the token, tells the worker to purge, revokes every object URL.
    #[wasm_bindgen(js_name = logout)]
    pub fn logout(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            inner.logout().await;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Detaches this instance from the page — its elements unmounted, its listeners removed, its
    /// object URLs revoked, its fetches aborted — without ending the session in the worker, which
    /// other instances of this tab may use (a component unmounting, React StrictMode's cleanup).
    #[wasm_bindgen(js_name = dispose)]
    pub fn dispose(&self) {
        detach(&self.inner);
    }

    /// Forces the fallback on (`true`) or returns to automatic mode (`false`).
    #[wasm_bindgen(js_name = setForceFallback)]
    pub fn set_force_fallback(&self, force: bool) {
        self.inner.mode.set_forced(force);
        self.inner.update_mode();
    }

    /// Counters; the worker part is the last one reported (refreshed in the background).
    #[wasm_bindgen(js_name = stats)]
    pub fn stats(&self) -> JsValue {
        let inner = Rc::clone(&self.inner);
        spawn(Box::pin(
            async move { inner.session.link.fetch_stats().await },
        ));
        self.inner.stats()
    }

    /// Like `stats()`, after asking the worker for fresh numbers.
    #[wasm_bindgen(js_name = refreshStats)]
    pub fn refresh_stats(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            inner.session.link.fetch_stats().await;
            Ok(inner.stats())
        }))
    }

    /// `diagnose()`'s question "does an authenticated request from this page's origin get
    /// through?": one `GET /_matrix/client/versions` with the token, through the gate (so a CORS
    /// preflight naming `Authorization` from this origin). Resolves `{ok: true, api}` or
    /// `{ok: false, code, message}`; never rejects.
    #[wasm_bindgen(js_name = checkAuthenticated)]
    pub fn check_authenticated(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let out = object();
            match negotiate_api(&inner.session, inner.events()).await {
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
        }))
    }

    /// Downloads `mxc` and saves it as `filename` (works in both modes).
    #[wasm_bindgen(js_name = download)]
    pub fn download(&self, mxc: String, filename: Option<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(Box::pin(async move {
            let m = parse_mxc(&mxc)?;
            inner.fallback.save_file(&m, filename).await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Listens for `modechange`, `error` or `progress` (a `CustomEvent`; data in `detail`).
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(&self, kind: String, listener: Function) -> Result<(), JsValue> {
        self.inner
            .events()
            .target()
            .add_event_listener_with_callback(&kind, &listener)
    }

    /// Removes a listener added with `addEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(&self, kind: String, listener: Function) -> Result<(), JsValue> {
        self.inner
            .events()
            .target()
            .remove_event_listener_with_callback(&kind, &listener)
    }
}

/// The module's memory, where the loader reads the URLs `thumbnailUrl`/`downloadUrl` built.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}
