//! Browser-only unit tests (run by `wasm-pack test --headless --chrome --firefox crates/web`).
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

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
