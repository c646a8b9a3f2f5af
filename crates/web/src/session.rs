//! The signed-in session of one instance: homeserver, user, the current token (gone after
//! logout), the negotiated API, the abort signal every authenticated fetch listens to, and the
//! token refresh through `onTokenRefresh` (one call shared by concurrent 401s), and the link to
//! this SDK's worker, which holds the session too. Also the page's gate: [`Session::pass`].
//!
//! The token and its refresh in flight are a [`Credential`], which the instances of one tab
//! holding the same session share (`dispatch::join`): a new token of one of them is the token of
//! all, so whichever answers the worker gives it the current one.

use authmedia_js::protocol;
use std::cell::Cell;

use crate::cell::RefCell;
use std::rc::Rc;

use authmedia_core::{
    authorize, token_fingerprint, Api, CanonicalUrl, ClientCode, Homeserver, MediaRequest, MxcUri,
    Pass, Refusal, WORKER_PROTOCOL,
};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal};

use crate::channel::{message, Link, VERSION};
use crate::error::{code_of, describe, WebError};
use crate::options::Options;
use crate::util::{check_token, object, promise, set};

/// The token of one session and its refresh in flight, shared by the instances of the tab that
/// hold that session (same homeserver, same token when they joined). The tab's worker keeps one
/// session per tab: an instance still holding a token its sibling replaced would hand the
/// worker a token the homeserver may have revoked (on `need-session` after a worker restart, in
/// a handoff), or fetch with it in the fallback.
pub struct Credential {
    /// `Homeserver::base()` of the session.
    homeserver: String,
    /// The current token.
    token: RefCell<String>,
    /// A token refresh in flight, shared by every instance of the session: the homeserver
    /// rotates a refresh token once, so two concurrent refreshes of one session would fail.
    refreshing: RefCell<Option<Promise>>,
}

impl Credential {
    fn new(hs: &Homeserver, token: String) -> Rc<Self> {
        Rc::new(Self {
            homeserver: hs.base().to_owned(),
            token: RefCell::new(token),
            refreshing: RefCell::new(None),
        })
    }

    /// Whether an instance of `hs` holding `token` holds this session: the same homeserver and
    /// the same current token (an instance of another account has another token from the start).
    pub fn is_session(&self, hs: &Homeserver, token: &str) -> bool {
        self.homeserver == hs.base() && *self.token.borrow() == token
    }
}

/// One signed-in session.
pub struct Session {
    /// The homeserver.
    pub hs: Homeserver,
    /// The user id.
    pub user_id: String,
    /// The current token, shared with the tab's other instances of this session (`None` after
    /// logout or dispose: an ended instance neither gets nor sends a token).
    credential: RefCell<Option<Rc<Credential>>>,
    /// The negotiated API flavour.
    api: Cell<Api>,
    /// Set by logout and dispose.
    ended: Cell<bool>,
    /// Aborted by `logout()`: every fallback fetch listens to it, so none still queued in the
    /// browser goes out with the token afterwards.
    abort: AbortController,
    /// The `onTokenRefresh` option.
    on_token_refresh: Option<Function>,
    /// The stall deadline of one fetch (`fetchTimeoutMs`).
    pub fetch_timeout_ms: i32,
    /// This SDK's worker, which holds the session too: a refreshed token goes there.
    pub link: Link,
}

impl Session {
    /// The session of `opts`, API `v1` until negotiated.
    pub fn new(opts: &Options) -> Result<Self, JsValue> {
        Ok(Self {
            hs: opts.homeserver.clone(),
            user_id: opts.user_id.clone(),
            credential: RefCell::new(Some(Credential::new(
                &opts.homeserver,
                opts.access_token.clone(),
            ))),
            api: Cell::new(Api::V1),
            ended: Cell::new(false),
            abort: AbortController::new()?,
            on_token_refresh: opts.on_token_refresh.clone(),
            fetch_timeout_ms: opts.fetch_timeout_ms,
            link: Link::new(opts.worker_url.clone()),
        })
    }

    /// The `authmedia:session` message handing this session to the worker (also the answer to
    /// its `authmedia:need-session`).
    pub fn handoff_message(&self) -> JsValue {
        let m = message(protocol::SESSION);
        let s = object();
        set(&s, "homeserver", &JsValue::from_str(self.hs.base()));
        set(
            &s,
            "accessToken",
            &self
                .current_token()
                .map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
        );
        set(&s, "userId", &JsValue::from_str(&self.user_id));
        set(&m, "session", &s);
        set(&m, "api", &JsValue::from_str(self.api().as_str()));
        set(&m, "protocol", &JsValue::from(WORKER_PROTOCOL));
        set(&m, "version", &JsValue::from_str(VERSION));
        m
    }

    /// The current token or a `logged_out` error.
    pub fn token(&self) -> Result<String, WebError> {
        self.current_token().ok_or_else(logged_out)
    }

    /// The current token, if any (`None` after logout). Not inlined: one copy of the two
    /// borrows for the many callers.
    #[inline(never)]
    pub fn current_token(&self) -> Option<String> {
        self.credential
            .borrow()
            .as_ref()
            .map(|c| c.token.borrow().clone())
    }

    /// Whether `token` is still the current one.
    pub fn is_current(&self, token: &str) -> bool {
        self.current_token().as_deref() == Some(token)
    }

    /// Replaces the token (`setAccessToken`), for every instance of the tab holding this session.
    pub fn set_token(&self, token: String) {
        if let Some(c) = self.credential.borrow().as_ref() {
            c.token.replace(token);
        }
    }

    /// The credential this session holds (`None` once ended).
    pub fn credential(&self) -> Option<Rc<Credential>> {
        self.credential.borrow().clone()
    }

    /// Makes `shared` this session's credential: the same session held by another instance of
    /// the tab. Refused (`false`) when this session has ended or `shared` is not the session this
    /// one holds (another homeserver, another token).
    pub fn join(&self, shared: Rc<Credential>) -> bool {
        let Some(own) = self.current_token() else {
            return false;
        };
        if self.ended.get() || !shared.is_session(&self.hs, &own) {
            return false;
        }
        self.credential.replace(Some(shared));
        true
    }

    /// Whether logout or dispose ended this session.
    pub fn ended(&self) -> bool {
        self.ended.get()
    }

    /// Ends the session on the page: no token, and every fallback fetch aborted (queued ones
    /// included) before anything is awaited.
    pub fn end(&self) {
        self.ended.set(true);
        // Only this instance lets go: the siblings holding the session keep it.
        self.credential.replace(None);
        self.abort.abort();
    }

    /// The signal `logout()` aborts.
    pub fn abort_signal(&self) -> AbortSignal {
        self.abort.signal()
    }

    /// The negotiated API flavour.
    pub fn api(&self) -> Api {
        self.api.get()
    }

    /// Records the negotiated API flavour.
    pub fn set_api(&self, api: Api) {
        self.api.set(api);
    }

    /// Whether `onTokenRefresh` can be asked for a fresh token.
    pub fn can_refresh(&self) -> bool {
        self.on_token_refresh.is_some()
    }

    /// The URL of `req` for `mxc` in flavour `api`.
    pub fn url_in(&self, api: Api, mxc: &MxcUri, req: &MediaRequest) -> CanonicalUrl {
        CanonicalUrl::media(&self.hs, api, mxc, req, None)
    }

    /// The URL of `req` for `mxc` in the negotiated flavour.
    pub fn url(&self, mxc: &MxcUri, req: &MediaRequest) -> CanonicalUrl {
        self.url_in(self.api.get(), mxc, req)
    }

    /// **The page's one gate** (the core's [`authorize`]): a request may carry the token only
    /// while the session is alive (not logged out) and only to a canonical URL of the session's
    /// homeserver. Asked before every attempt, after every wait.
    pub fn pass(&self, url: &CanonicalUrl) -> Result<Pass, WebError> {
        authorize(&self.hs, !self.ended.get(), url).map_err(|refusal| {
            WebError::new(
                if refusal == Refusal::SessionEnded {
                    "logged_out"
                } else {
                    refusal.code()
                },
                refusal.to_string(),
            )
        })
    }

    /// The answer to the worker's `authmedia:need-token` without a refresh: the current token,
    /// when the token the homeserver refused (`refused`: its fingerprint) is not that one and no
    /// refresh is in flight (the worker used a token this session already replaced: a
    /// `setAccessToken` that had not reached it yet). `None` when the refused token is the current
    /// one, while a refresh runs (its result is the answer), or for a worker that does not say
    /// which token it used.
    pub fn newer_than(&self, refused: Option<f64>) -> Option<String> {
        let refused = refused?;
        let credential = self.credential()?;
        if credential.refreshing.borrow().is_some() {
            return None;
        }
        let current = credential.token.borrow().clone();
        (f64::from(token_fingerprint(&current)) != refused).then_some(current)
    }

    /// Calls `onTokenRefresh` (one call shared by concurrent 401s, and by the tab's instances
    /// holding this session) and installs the result for all of them.
    pub async fn refresh_token(self: &Rc<Self>) -> Result<String, WebError> {
        let Some(shared) = self.credential() else {
            return Err(logged_out());
        };
        let existing = shared.refreshing.borrow().clone();
        let promise = match existing {
            Some(p) => p,
            None => {
                let Some(f) = self.on_token_refresh.clone() else {
                    return Err(WebError::new(
                        "unauthorized",
                        "the token was rejected and no onTokenRefresh is set",
                    ));
                };
                let me = Rc::clone(self);
                let credential = Rc::clone(&shared);
                let p = promise(Box::pin(async move {
                    let out = f.call0(&JsValue::UNDEFINED);
                    let res = match out {
                        Ok(v) => JsFuture::from(Promise::resolve(&v)).await,
                        Err(e) => Err(e),
                    };
                    credential.refreshing.replace(None);
                    let v = res.map_err(|e| {
                        WebError::new(
                            "unauthorized",
                            format!("onTokenRefresh failed: {}", describe(&e)),
                        )
                        .with_cause(e)
                    })?;
                    let Some(t) = v.as_string().filter(|t| check_token(t).is_ok()) else {
                        return Err(WebError::new(
                            "unauthorized",
                            "onTokenRefresh did not return a token",
                        )
                        .into());
                    };
                    // The siblings holding the session take it even when this instance ended
                    // meanwhile (the homeserver may refuse the old token already); an ended
                    // instance holds no credential, so it gets none, and sends none.
                    credential.token.replace(t.clone());
                    if !me.ended.get() {
                        me.link.post_token(&t);
                    }
                    Ok(JsValue::from_str(&t))
                }));
                shared.refreshing.replace(Some(p.clone()));
                p
            }
        };
        let v = JsFuture::from(promise).await.map_err(js_to_web)?;
        Ok(v.as_string().unwrap_or_default())
    }
}

/// The error of a call on a logged-out or disposed instance.
pub fn logged_out() -> WebError {
    WebError::new(
        "logged_out",
        "this AuthMedia has logged out or was disposed",
    )
}

/// Turns a rejected SDK promise value back into a `WebError` (keeping the original): the codes
/// a refresh can end with keep theirs, anything else is `network`.
pub fn js_to_web(v: JsValue) -> WebError {
    use ClientCode::*;
    let code = code_of(&v)
        .and_then(|c| c.parse::<ClientCode>().ok())
        .filter(|c| {
            matches!(
                c,
                Unauthorized
                    | NotFound
                    | TooLarge
                    | OverBudget
                    | LoggedOut
                    | InvalidArgument
                    | Forbidden
                    | RateLimited
                    | ServerError
                    | Timeout
                    | NotYetUploaded
            )
        })
        .unwrap_or(Network);
    WebError::new(code.as_str(), describe(&v)).with_cause(v)
}
