//! Browser-only unit tests (run by `wasm-pack test --headless --chrome --firefox crates/web`).
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use authmedia_core::{MediaRequest, Method, Thumbnail};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test as test, wasm_bindgen_test_configure};

use crate::args::parse_request;
use crate::element::request_for;
use crate::error::{code_of, WebError};
use crate::limiter::Limiter;
use crate::options::{FallbackPref, Options, DEFAULT_BUDGET_BYTES, DEFAULT_WORKER_URL};
use crate::util::{get, object, set, sleep};

wasm_bindgen_test_configure!(run_in_browser);

fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = object();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

#[test]
fn errors_are_js_errors_with_a_code() {
    let e = WebError::new("not_found", "gone")
        .with_reason("not_found")
        .to_js();
    let err = e.dyn_ref::<js_sys::Error>();
    assert!(err.is_some());
    assert_eq!(
        err.map(|e| String::from(e.name())),
        Some("AuthMediaError".to_owned())
    );
    assert_eq!(code_of(&e).as_deref(), Some("not_found"));
    // The same prefix as the loader's own errors, never twice.
    assert_eq!(
        get(&e, "message").as_string().as_deref(),
        Some("matrix-authmedia: gone")
    );
    let again = WebError::new("not_found", "matrix-authmedia: gone").to_js();
    assert_eq!(
        get(&again, "message").as_string().as_deref(),
        Some("matrix-authmedia: gone")
    );
}

#[test]
fn mxc_errors_map_to_invalid_mxc() {
    for bad in [
        "mxc://../config",
        "https://x/y",
        "mxc://server",
        "mxc://server/a/b",
        "",
    ] {
        let e = crate::args::parse_mxc(bad).err();
        assert_eq!(e.map(|e| e.code), Some("invalid_mxc"), "{bad}");
    }
}

#[test]
fn options_defaults_and_validation() {
    let ok = Options::from_js(&opts(&[
        ("homeserver", s("https://h.example/prefix/")),
        ("accessToken", s("t")),
    ]));
    let Ok(o) = ok else {
        panic!("valid options rejected")
    };
    assert_eq!(o.homeserver.base(), "https://h.example/prefix");
    assert_eq!(o.worker_url.as_deref(), Some(DEFAULT_WORKER_URL));
    assert_eq!(o.fallback, FallbackPref::Auto);
    assert_eq!(o.budget_bytes, DEFAULT_BUDGET_BYTES);

    let o = Options::from_js(&opts(&[
        ("homeserver", s("https://h")),
        ("accessToken", s("t")),
        ("workerUrl", JsValue::NULL),
        ("fallback", s("force")),
        ("budgetBytes", JsValue::from(1000.0)),
    ]));
    let Ok(o) = o else {
        panic!("valid options rejected")
    };
    assert_eq!(o.worker_url, None);
    assert_eq!(o.fallback, FallbackPref::Force);
    assert_eq!(o.budget_bytes, 1000);

    let bad: [&[(&str, JsValue)]; 6] = [
        &[("accessToken", s("t"))],
        &[("homeserver", s("h")), ("accessToken", s("t"))],
        &[("homeserver", s("https://h"))],
        &[
            ("homeserver", s("https://h")),
            ("accessToken", s("t")),
            ("fallback", s("maybe")),
        ],
        &[
            ("homeserver", s("https://h")),
            ("accessToken", s("t")),
            ("budgetBytes", JsValue::from(-1.0)),
        ],
        &[
            ("homeserver", s("https://h")),
            ("accessToken", s("t")),
            ("workerUrl", JsValue::NULL),
            ("fallback", s("never")),
        ],
    ];
    for b in bad {
        let r = Options::from_js(&opts(b));
        assert_eq!(r.err().map(|e| e.code), Some("invalid_argument"));
    }
    assert!(Options::from_js(&JsValue::UNDEFINED).is_err());
}

#[test]
fn src_options_parse() {
    assert_eq!(
        parse_request(&JsValue::UNDEFINED).ok(),
        Some(MediaRequest::Download { filename: None })
    );
    assert_eq!(
        parse_request(&opts(&[("filename", s("a b.png"))])).ok(),
        Some(MediaRequest::Download {
            filename: Some("a b.png".to_owned())
        })
    );
    let t = opts(&[
        ("width", JsValue::from(96)),
        ("height", JsValue::from(96)),
        ("method", s("crop")),
        ("animated", JsValue::TRUE),
    ]);
    assert_eq!(
        parse_request(&opts(&[("thumbnail", t)])).ok(),
        Some(MediaRequest::Thumbnail(Thumbnail {
            width: 96,
            height: 96,
            method: Some(Method::Crop),
            animated: Some(true)
        }))
    );
    let bad = opts(&[("width", JsValue::from(0)), ("height", JsValue::from(96))]);
    assert_eq!(
        parse_request(&opts(&[("thumbnail", bad)]))
            .err()
            .map(|e| e.code),
        Some("invalid_argument")
    );
    let bad = opts(&[
        ("width", JsValue::from(9)),
        ("height", JsValue::from(9)),
        ("method", s("zoom")),
    ]);
    assert_eq!(
        parse_request(&opts(&[("thumbnail", bad)]))
            .err()
            .map(|e| e.code),
        Some("invalid_argument")
    );
}

fn element(html: &str) -> web_sys::Element {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let div = doc.create_element("div").expect("div");
    div.set_inner_html(html);
    doc.body()
        .expect("body")
        .append_child(&div)
        .expect("append");
    div.first_element_child().expect("child")
}

#[test]
fn thumbnail_size_comes_from_the_box_then_the_attributes() {
    let dpr = web_sys::window()
        .map(|w| w.device_pixel_ratio())
        .unwrap_or(1.0);
    let el =
        element(r#"<img data-mxc="mxc://h/a" style="display:block;width:160px;height:120px">"#);
    let Ok(MediaRequest::Thumbnail(t)) = request_for(&el, "img") else {
        panic!("no thumbnail")
    };
    let want = authmedia_core::thumbnail_size(160.0, 120.0, dpr, Method::Scale).expect("size");
    assert_eq!(
        (t.width, t.height, t.method),
        (want.width, want.height, Some(Method::Scale))
    );
    if (dpr - 1.0).abs() < f64::EPSILON {
        assert_eq!((t.width, t.height), (320, 240));
    }
    let el = element(
        r#"<img data-mxc="mxc://h/a" data-width="48" data-height="48" data-method="crop" style="display:none">"#,
    );
    let Ok(MediaRequest::Thumbnail(t)) = request_for(&el, "img") else {
        panic!("no thumbnail")
    };
    assert_eq!(t.method, Some(Method::Crop));
    assert!(t.width >= 48 && t.height >= 48);
    let el = element(r#"<img data-mxc="mxc://h/a" style="display:none">"#);
    assert!(matches!(
        request_for(&el, "img"),
        Ok(MediaRequest::Download { filename: None })
    ));
    let el = element(
        r#"<video data-mxc="mxc://h/a" data-filename="clip.mp4" style="width:300px;height:200px"></video>"#,
    );
    assert_eq!(
        request_for(&el, "video").ok(),
        Some(MediaRequest::Download {
            filename: Some("clip.mp4".to_owned())
        })
    );
    let el = element(
        r#"<img data-mxc="mxc://h/a" data-method="zoom" style="display:block;width:10px;height:10px">"#,
    );
    assert_eq!(
        request_for(&el, "img").err().map(|e| e.code),
        Some("invalid_argument")
    );
}

#[test]
async fn limiter_bounds_concurrency() {
    use std::cell::Cell;
    use std::rc::Rc;
    let limiter = Limiter::new(2);
    let running = Rc::new(Cell::new(0u32));
    let peak = Rc::new(Cell::new(0u32));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (l, r, p) = (Rc::clone(&limiter), Rc::clone(&running), Rc::clone(&peak));
        tasks.push(wasm_bindgen_futures::future_to_promise(async move {
            let _permit = l.acquire().await;
            r.set(r.get() + 1);
            p.set(p.get().max(r.get()));
            sleep(5).await;
            r.set(r.get() - 1);
            Ok(JsValue::UNDEFINED)
        }));
    }
    let all = js_sys::Promise::all(&tasks.iter().collect::<js_sys::Array>());
    wasm_bindgen_futures::JsFuture::from(all)
        .await
        .expect("tasks");
    assert_eq!(peak.get(), 2);
    assert_eq!(limiter.active(), 0);
}

/// Replaces `window.fetch` with a stub answering `answers` in turn (status, JSON body) and
/// recording `[url, Authorization header]` of each call; the original is put back on drop.
struct FetchStub {
    calls: js_sys::Array,
    original: JsValue,
}

impl FetchStub {
    fn install(answers: &[(u16, &str)]) -> FetchStub {
        let window = web_sys::window().unwrap();
        let original = get(&window, "fetch");
        let calls = js_sys::Array::new();
        let list = js_sys::Array::new();
        for (status, body) in answers {
            list.push(&js_sys::Array::of2(&JsValue::from(*status), &s(body)));
        }
        let stub = js_sys::Function::new_with_args(
            "calls, answers, url, init",
            "const h = init && init.headers ? new Headers(init.headers).get('Authorization') : null;
             calls.push([String(url), h]);
             const [status, body] = answers[Math.min(calls.length, answers.length) - 1];
             return Promise.resolve(new Response(body, { status, headers: { 'Content-Type': 'application/json' } }));",
        );
        let bound = stub.bind2(&JsValue::NULL, &calls, &list);
        set(&window, "fetch", &bound);
        FetchStub { calls, original }
    }

    /// `(url, Authorization header)` of every call so far.
    fn calls(&self) -> Vec<(String, Option<String>)> {
        self.calls
            .iter()
            .map(|c| {
                let c: js_sys::Array = c.unchecked_into();
                (c.get(0).as_string().unwrap(), c.get(1).as_string())
            })
            .collect()
    }
}

impl Drop for FetchStub {
    fn drop(&mut self) {
        set(&web_sys::window().unwrap(), "fetch", &self.original);
    }
}

fn new_session() -> std::rc::Rc<crate::session::Session> {
    let o = Options::from_js(&opts(&[
        ("homeserver", s("https://h.example")),
        ("accessToken", s("tok")),
    ]))
    .unwrap();
    std::rc::Rc::new(crate::session::Session::new(&o).unwrap())
}

const UNRECOGNIZED: &str = r#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#;

#[test]
async fn unrecognized_media_falls_back_once_to_the_legacy_endpoint_without_the_token() {
    use crate::request::{send, Target};
    for status in [404, 405] {
        let stub = FetchStub::install(&[(status, UNRECOGNIZED), (200, "{}")]);
        let session = new_session();
        let events = crate::events::Events::new().unwrap();
        let mxc = crate::args::parse_mxc("mxc://h.example/abc").unwrap();
        let req = MediaRequest::Download { filename: None };
        let sent = send(&session, &events, Target::Media(&mxc, &req)).await;
        let calls = stub.calls();
        drop(stub);
        assert_eq!(sent.map(|(r, _)| r.status()).ok(), Some(200), "{status}");
        assert_eq!(
            calls,
            vec![
                (
                    "https://h.example/_matrix/client/v1/media/download/h.example/abc".to_owned(),
                    Some("Bearer tok".to_owned())
                ),
                (
                    "https://h.example/_matrix/media/v3/download/h.example/abc".to_owned(),
                    None
                ),
            ],
            "{status}"
        );
        assert_eq!(session.api(), authmedia_core::Api::Legacy, "{status}");
    }
}

#[test]
async fn unrecognized_twice_or_on_versions_is_the_error_not_another_fall_back() {
    use crate::request::{send, Target};
    // The legacy endpoint answers M_UNRECOGNIZED too: one fall-back only, its answer is the error.
    let stub = FetchStub::install(&[(404, UNRECOGNIZED)]);
    let session = new_session();
    let events = crate::events::Events::new().unwrap();
    let mxc = crate::args::parse_mxc("mxc://h.example/abc").unwrap();
    let req = MediaRequest::Download { filename: None };
    let sent = send(&session, &events, Target::Media(&mxc, &req)).await;
    let n = stub.calls().len();
    drop(stub);
    assert_eq!(sent.err().map(|e| e.code), Some("unsupported"));
    assert_eq!(n, 2);
    // `/versions` never falls back (it has no legacy form), whatever the negotiated API.
    let stub = FetchStub::install(&[(404, UNRECOGNIZED)]);
    let session = new_session();
    let sent = send(&session, &events, Target::Versions).await;
    let calls = stub.calls();
    drop(stub);
    assert_eq!(sent.err().map(|e| e.code), Some("unsupported"));
    assert_eq!(
        calls,
        vec![(
            "https://h.example/_matrix/client/versions".to_owned(),
            Some("Bearer tok".to_owned())
        )]
    );
    assert_eq!(session.api(), authmedia_core::Api::V1);
}

#[test]
fn stem_len_ends_after_the_media_id() {
    use crate::sdk::stem_len;
    let base = "https://h.example/_matrix/client/v1/media/";
    let from = base.len();
    let stem = format!("{base}thumbnail/ex.org%3A8448/abc-_9");
    assert_eq!(
        stem_len(&format!("{stem}?width=96&height=96"), from),
        stem.len()
    );
    let stem = format!("{base}download/[::1]:80/abc");
    assert_eq!(stem_len(&format!("{stem}/a%20b.png"), from), stem.len());
    assert_eq!(stem_len(&stem, from), stem.len());
    // Not a media URL of that shape, or not ASCII: no stem.
    assert_eq!(stem_len(&format!("{base}download/ex.org"), from), 0);
    assert_eq!(stem_len(base, from), 0);
    assert_eq!(stem_len("", 5), 0);
    assert_eq!(stem_len("https://é.example/m/download/s/i", 20), 0);
}

#[test]
fn shared_prefix_counts_equal_ascii_bytes_only() {
    use crate::sdk::shared_prefix;
    let url = "https://h.example/_matrix/client/v1/media/thumbnail/ex.org/abc?width=96";
    assert_eq!(shared_prefix(url, url), url.len());
    assert_eq!(shared_prefix("", url), 0);
    assert_eq!(shared_prefix(url, ""), 0);
    assert_eq!(shared_prefix("x", "y"), 0);
    // A difference in each position of the first, second and third eight-byte word, and after.
    for at in [0, 1, 6, 7, 8, 9, 15, 16, 17, 40, url.len() - 1] {
        let mut other = url.as_bytes().to_vec();
        other[at] ^= 1;
        let other = String::from_utf8(other).unwrap();
        assert_eq!(shared_prefix(url, &other), at, "differs at {at}");
        assert_eq!(shared_prefix(&other, url), at, "differs at {at}");
    }
    // One a prefix of the other.
    assert_eq!(shared_prefix(&url[..20], url), 20);
    assert_eq!(shared_prefix(url, &url[..9]), 9);
    // Equal text stops being shared at the first non-ASCII byte (the loader counts UTF-16 units).
    assert_eq!(shared_prefix("abcdefghij/é/x", "abcdefghij/é/x"), 11);
    assert_eq!(shared_prefix("abcdé", "abcdé"), 4);
}

fn session_of(
    hs: &str,
    token: &str,
    refresh: Option<&js_sys::Function>,
) -> std::rc::Rc<crate::session::Session> {
    let mut pairs = vec![("homeserver", s(hs)), ("accessToken", s(token))];
    if let Some(f) = refresh {
        pairs.push(("onTokenRefresh", f.clone().into()));
    }
    let o = Options::from_js(&opts(&pairs)).unwrap();
    std::rc::Rc::new(crate::session::Session::new(&o).unwrap())
}

#[test]
fn sessions_holding_one_token_share_its_changes_until_one_ends() {
    let a = session_of("https://h.example", "t1", None);
    let b = session_of("https://h.example", "t1", None);
    assert!(b.join(a.credential().unwrap()));
    a.set_token("t2".to_owned());
    assert_eq!(
        b.token().ok().as_deref(),
        Some("t2"),
        "b adopts a's new token"
    );
    assert!(b.is_current("t2") && !b.is_current("t1"));
    b.set_token("t3".to_owned());
    assert_eq!(a.current_token().as_deref(), Some("t3"), "and a b's");
    // An ended instance lets go: it gets no later token, and the sibling keeps the session.
    b.end();
    assert_eq!(b.token().map_err(|e| e.code), Err("logged_out"));
    a.set_token("t4".to_owned());
    assert_eq!(b.current_token(), None);
    assert_eq!(a.current_token().as_deref(), Some("t4"));
    assert!(
        !b.join(a.credential().unwrap()),
        "an ended session joins nothing"
    );
}

#[test]
fn another_account_or_homeserver_is_not_the_same_session() {
    let a = session_of("https://h.example", "t1", None);
    let other_token = session_of("https://h.example", "bob", None);
    let other_hs = session_of("https://other.example", "t1", None);
    assert!(!other_token.join(a.credential().unwrap()));
    assert!(!other_hs.join(a.credential().unwrap()));
    a.set_token("t2".to_owned());
    assert_eq!(other_token.current_token().as_deref(), Some("bob"));
    assert_eq!(other_hs.current_token().as_deref(), Some("t1"));
}

#[test]
async fn one_refresh_for_the_sessions_holding_one_token() {
    // Each instance's own onTokenRefresh counts its calls in `globalThis.refreshCalls`.
    let f = js_sys::Function::new_no_args(
        "globalThis.refreshCalls = (globalThis.refreshCalls || 0) + 1; \
         return new Promise((r) => setTimeout(() => r('t2'), 20));",
    );
    set(&js_sys::global(), "refreshCalls", &JsValue::from(0));
    let a = session_of("https://h.example", "t1", Some(&f));
    let b = session_of("https://h.example", "t1", Some(&f));
    assert!(b.join(a.credential().unwrap()));
    let (ra, rb) = futures_join(a.refresh_token(), b.refresh_token()).await;
    assert_eq!(ra.ok().as_deref(), Some("t2"));
    assert_eq!(rb.ok().as_deref(), Some("t2"));
    assert_eq!(get(&js_sys::global(), "refreshCalls").as_f64(), Some(1.0));
    assert_eq!(a.current_token().as_deref(), Some("t2"));
    assert_eq!(b.current_token().as_deref(), Some("t2"));
}

#[test]
async fn need_token_for_a_replaced_token_is_answered_without_a_refresh() {
    use authmedia_core::token_fingerprint;
    let fp = |t: &str| Some(f64::from(token_fingerprint(t)));
    let f = js_sys::Function::new_no_args(
        "globalThis.refreshCalls = (globalThis.refreshCalls || 0) + 1; \
         return new Promise((r) => setTimeout(() => r('t3'), 20));",
    );
    set(&js_sys::global(), "refreshCalls", &JsValue::from(0));
    let a = session_of("https://h.example", "t1", Some(&f));
    a.set_token("t2".to_owned());
    // The worker used t1, which the page already replaced: t2, no refresh.
    assert_eq!(a.newer_than(fp("t1")).as_deref(), Some("t2"));
    // The worker used t2, the current one: refresh; so does a worker that does not say.
    assert_eq!(a.newer_than(fp("t2")), None);
    assert_eq!(a.newer_than(None), None);
    // While a refresh runs, its result is the answer.
    let refreshing = a.refresh_token();
    // (Polled first, the refresh is in flight when the second future asks.)
    let (refreshed, during) = futures_join(refreshing, async { a.newer_than(fp("t1")) }).await;
    assert_eq!(during, None);
    assert_eq!(refreshed.ok().as_deref(), Some("t3"));
    assert_eq!(get(&js_sys::global(), "refreshCalls").as_f64(), Some(1.0));
    assert_eq!(a.newer_than(fp("t2")).as_deref(), Some("t3"));
    a.end();
    assert_eq!(
        a.newer_than(fp("t1")),
        None,
        "an ended session gives nothing"
    );
}

/// Both futures to completion, polled together (no executor crate needed).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let mut ra = None;
    let mut rb = None;
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}
