//! Tests that run inside a real service worker (`wasm-pack test --headless --chrome --firefox
//! crates/sw`): real `Request`/`Response`/`Headers` objects, `JSON.parse` output, the worker
//! global's `clients` and `fetch`.

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{
    FetchEvent, FetchEventInit, Request, RequestCache, RequestCredentials, RequestMode,
    RequestRedirect, Response,
};

use crate::range::RangeRequest;
use crate::worker::{AuthMediaWorker, ROUTE_MEDIA, ROUTE_NO_SESSION, ROUTE_OTHER, ROUTE_UNKNOWN};
use crate::{js, net};

wasm_bindgen_test_configure!(run_in_service_worker);

/// Nothing listens on port 9 (discard) on the test machines: connections are refused at once.
const DEAD_HS: &str = "http://127.0.0.1:9";

async fn bytes(response: &Response) -> Vec<u8> {
    let buffer = net::array_buffer(response).await.unwrap();
    Uint8Array::new(&buffer).to_vec()
}

fn buffer(data: &[u8]) -> ArrayBuffer {
    Uint8Array::from(data).buffer()
}

#[wasm_bindgen_test]
fn runs_in_a_service_worker() {
    assert!(js_sys::global()
        .dyn_into::<web_sys::ServiceWorkerGlobalScope>()
        .is_ok());
}

#[wasm_bindgen_test]
async fn range_answers_are_real_206_responses() {
    let body = buffer(b"0123456789");
    let partial = net::from_body(
        &body,
        Some("video/mp4"),
        RangeRequest::parse("bytes=2-4").apply(10),
    )
    .unwrap();
    assert_eq!(partial.status(), 206);
    let headers = partial.headers();
    assert_eq!(
        headers.get("content-range").unwrap().as_deref(),
        Some("bytes 2-4/10")
    );
    assert_eq!(headers.get("content-length").unwrap().as_deref(), Some("3"));
    assert_eq!(
        headers.get("accept-ranges").unwrap().as_deref(),
        Some("bytes")
    );
    assert_eq!(
        headers.get("content-type").unwrap().as_deref(),
        Some("video/mp4")
    );
    assert_eq!(
        headers.get("cache-control").unwrap().as_deref(),
        Some("no-store")
    );
    assert_eq!(bytes(&partial).await, b"234");

    let whole =
        net::from_body(&body, None, RangeRequest::parse("bytes=0-1,4-5").apply(10)).unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(bytes(&whole).await, b"0123456789");

    let suffix = net::from_body(&body, None, RangeRequest::parse("bytes=-3").apply(10)).unwrap();
    assert_eq!(bytes(&suffix).await, b"789");

    let beyond = net::from_body(&body, None, RangeRequest::parse("bytes=10-").apply(10)).unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        beyond.headers().get("content-range").unwrap().as_deref(),
        Some("bytes */10")
    );
}

#[wasm_bindgen_test]
fn the_authenticated_request_keeps_headers_and_adds_the_token() {
    let original =
        Request::new_with_str("https://hs.example/_matrix/media/v3/download/hs.example/abc")
            .unwrap();
    original.headers().set("range", "bytes=5-").unwrap();
    original.headers().set("accept", "video/*").unwrap();
    // WebKitGTK's media elements send this; forwarded, it would need a CORS preflight Synapse refuses.
    original.headers().set("icy-metadata", "1").unwrap();
    original.headers().set("x-custom", "page").unwrap();
    let target = "https://hs.example/_matrix/client/v1/media/download/hs.example/abc";
    let signal = web_sys::AbortController::new().unwrap().signal();
    let request = net::authenticated_request(&original, target, "tok", false, &signal).unwrap();
    assert_eq!(request.url(), target);
    assert_eq!(request.method(), "GET");
    assert_eq!(
        request.headers().get("authorization").unwrap().as_deref(),
        Some("Bearer tok")
    );
    assert_eq!(
        request.headers().get("range").unwrap().as_deref(),
        Some("bytes=5-")
    );
    assert_eq!(
        request.headers().get("accept").unwrap().as_deref(),
        Some("video/*")
    );
    assert_eq!(request.headers().get("icy-metadata").unwrap(), None);
    assert_eq!(request.headers().get("x-custom").unwrap(), None);
    assert_eq!(request.mode(), RequestMode::Cors);
    assert_eq!(request.credentials(), RequestCredentials::SameOrigin);
    assert_eq!(request.cache(), RequestCache::NoStore);
    assert_eq!(request.redirect(), RequestRedirect::Follow);
    assert!(!request.url().contains("tok"), "never a token in the URL");

    let without_range =
        net::authenticated_request(&original, target, "tok", true, &signal).unwrap();
    assert_eq!(without_range.headers().get("range").unwrap(), None);
}

#[wasm_bindgen_test]
async fn error_responses_are_matrix_json() {
    let response = net::error_response(502, "M_UNKNOWN", "network", "boom");
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers().get("cache-control").unwrap().as_deref(),
        Some("no-store")
    );
    let body = net::json(&response).await.unwrap();
    assert_eq!(js::string(&body, "errcode").as_deref(), Some("M_UNKNOWN"));
    assert_eq!(js::string(&body, "error").as_deref(), Some("boom"));
}

#[wasm_bindgen_test]
fn versions_from_json_parse_output() {
    let synapse = js_sys::JSON::parse(r#"{"versions":["r0.6.1","v1.11","v1.15"],"unstable_features":{"org.matrix.msc3916":false,"x":"yes"}}"#).unwrap();
    let versions = js::versions(&synapse).unwrap();
    assert_eq!(
        authmedia_core::negotiate(&versions),
        authmedia_core::Api::V1
    );
    assert_eq!(versions.unstable_features.get("x"), Some(&false));
    let unstable = js_sys::JSON::parse(
        r#"{"versions":["v1.5"],"unstable_features":{"org.matrix.msc3916":true}}"#,
    )
    .unwrap();
    assert_eq!(
        authmedia_core::negotiate(&js::versions(&unstable).unwrap()),
        authmedia_core::Api::Unstable
    );
    assert!(js::versions(&js_sys::JSON::parse(r#"{"versions":"v1.11"}"#).unwrap()).is_none());
    assert!(js::versions(&JsValue::NULL).is_none());
}

#[wasm_bindgen_test]
fn error_bodies_are_read_leniently() {
    let body = js_sys::JSON::parse(
        r#"{"errcode":"M_UNKNOWN_TOKEN","error":"x","soft_logout":true,"retry_after_ms":"soon"}"#,
    )
    .unwrap();
    let parsed = js::error_body(&body).unwrap();
    assert_eq!(parsed.errcode.as_deref(), Some("M_UNKNOWN_TOKEN"));
    assert_eq!(parsed.soft_logout, Some(true));
    assert_eq!(parsed.retry_after_ms, None);
    assert!(js::error_body(&JsValue::from_str("oops")).is_none());
}

fn session_message(homeserver: &str) -> JsValue {
    js::object(&[
        ("type", "authmedia:session".into()),
        (
            "session",
            js::object(&[
                ("homeserver", homeserver.into()),
                ("accessToken", "tok".into()),
                ("userId", "@a:hs".into()),
            ]),
        ),
        ("api", "v1".into()),
    ])
}

#[wasm_bindgen_test]
fn routing_follows_the_clients_session() {
    let worker = AuthMediaWorker::new(JsValue::UNDEFINED);
    let media = format!("{DEAD_HS}/_matrix/client/v1/media/download/hs/abc");
    assert_eq!(worker.route("tab", &media), ROUTE_UNKNOWN);
    worker.test_message("tab", &session_message(DEAD_HS));
    assert_eq!(worker.route("tab", &media), ROUTE_MEDIA);
    let legacy = format!("{DEAD_HS}/_matrix/media/v3/thumbnail/hs/abc?width=32&height=32");
    assert_eq!(worker.route("tab", &legacy), ROUTE_MEDIA);
    assert_eq!(
        worker.route("tab", &format!("{DEAD_HS}/_matrix/client/v3/sync")),
        ROUTE_OTHER
    );
    assert_eq!(
        worker.route(
            "tab",
            "http://127.0.0.1:10/_matrix/client/v1/media/download/hs/abc"
        ),
        ROUTE_OTHER
    );
    assert_eq!(worker.route("other-tab", &media), ROUTE_UNKNOWN);
    worker.test_message("tab", &js::object(&[("type", "authmedia:logout".into())]));
    assert_eq!(worker.route("tab", &media), ROUTE_NO_SESSION);
}

fn fetch_event(url: &str) -> FetchEvent {
    let request = Request::new_with_str(url).unwrap();
    let init = FetchEventInit::new(&request);
    FetchEvent::new("fetch", &init).unwrap()
}

#[wasm_bindgen_test]
async fn a_failed_fetch_becomes_a_json_error_response_not_a_rejection() {
    let worker = AuthMediaWorker::new(JsValue::UNDEFINED);
    worker.test_message("", &session_message(DEAD_HS));
    // The event's clientId is "" here; the session was stored under "" on purpose.
    let event = fetch_event(&format!(
        "{DEAD_HS}/_matrix/client/v1/media/download/hs/abc"
    ));
    let response: Response = JsFuture::from(worker.handle_fetch(&event))
        .await
        .unwrap()
        .dyn_into()
        .unwrap();
    assert_eq!(response.status(), 502);
    let body = net::json(&response).await.unwrap();
    assert_eq!(js::string(&body, "errcode").as_deref(), Some("M_UNKNOWN"));
    let stats = worker.stats();
    assert_eq!(js::get(&stats, "authenticated").as_f64(), Some(1.0));
    assert_eq!(js::get(&stats, "refused").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
async fn a_tab_that_is_gone_cannot_be_asked() {
    let answer = crate::tab::ask("no-such-client", &js::object(&[]), 1000).await;
    assert!(answer.is_none());
}
