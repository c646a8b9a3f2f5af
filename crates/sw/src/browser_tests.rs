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

/// A `Blob` of `data` (the media store keeps Blobs).
fn blob(data: &[u8]) -> web_sys::Blob {
    web_sys::Blob::new_with_buffer_source_sequence(&js_sys::Array::of1(&buffer(data))).unwrap()
}

/// The bytes of a `Blob`.
async fn blob_bytes(body: &web_sys::Blob) -> Vec<u8> {
    let buffer = JsFuture::from(body.array_buffer()).await.unwrap();
    Uint8Array::new(&buffer).to_vec()
}

#[wasm_bindgen_test]
fn runs_in_a_service_worker() {
    assert!(js_sys::global()
        .dyn_into::<web_sys::ServiceWorkerGlobalScope>()
        .is_ok());
}

#[wasm_bindgen_test]
async fn range_answers_are_real_206_responses() {
    let body = blob(b"0123456789");
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
    assert_media_headers(&headers, "video/mp4");
    assert_eq!(
        headers.get("content-security-policy").unwrap().as_deref(),
        Some("sandbox")
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
    let hs = authmedia_core::Homeserver::parse("https://hs.example").unwrap();
    let canonical = authmedia_core::CanonicalUrl::media(
        &hs,
        authmedia_core::Api::V1,
        &authmedia_core::MxcUri::parse("mxc://hs.example/abc").unwrap(),
        &authmedia_core::MediaRequest::Download { filename: None },
        None,
    );
    let pass = authmedia_core::authorize(&hs, true, &canonical).unwrap();
    let signal = web_sys::AbortController::new().unwrap().signal();
    let request =
        net::authenticated_request(&original, &pass, "tok", Some("bytes=5-"), &signal).unwrap();
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

    // The page's own `Range` is never copied: only the one the worker decided to forward.
    let without_range = net::authenticated_request(&original, &pass, "tok", None, &signal).unwrap();
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

fn session_message(homeserver: &str) -> JsValue {
    session_message_of(homeserver, "@a:hs", "tok")
}

fn session_message_of(homeserver: &str, user_id: &str, token: &str) -> JsValue {
    js::object(&[
        ("type", "authmedia:session".into()),
        (
            "session",
            js::object(&[
                ("homeserver", homeserver.into()),
                ("accessToken", token.into()),
                ("userId", user_id.into()),
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

fn why(worker: &AuthMediaWorker, client_id: &str, url: &str) -> Option<String> {
    let reply = worker.test_message(
        client_id,
        &js::object(&[("type", "authmedia:why".into()), ("url", url.into())]),
    );
    assert_eq!(js::get(&reply, "ok").as_bool(), Some(true));
    js::string(&reply, "code")
}

#[wasm_bindgen_test]
async fn a_tab_learns_why_its_media_failed_and_only_its_own() {
    let worker = AuthMediaWorker::new(options(&[("retryMaxAttempts", 1.0.into())]));
    // The event's clientId is "": that tab is @a:hs.
    worker.test_message("", &session_message(DEAD_HS));
    let url = format!("{DEAD_HS}/_matrix/client/v1/media/download/hs/why");
    assert_eq!(why(&worker, "", &url), None, "nothing failed yet");
    let response = fetch_response(&worker, &url).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers().get("authmedia-code").unwrap().as_deref(),
        Some("network")
    );
    assert_eq!(why(&worker, "", &url).as_deref(), Some("network"));
    assert_eq!(why(&worker, "", &format!("{url}x")), None, "another URL");
    // A tab of another account asks about the same URL: nothing.
    worker.test_message("tab-b", &session_message_of(DEAD_HS, "@b:hs", "tok-b"));
    assert_eq!(why(&worker, "tab-b", &url), None);
    assert_eq!(why(&worker, "no-session-tab", &url), None);
    // Logout forgets.
    worker.test_message("", &js::object(&[("type", "authmedia:logout".into())]));
    worker.test_message("", &session_message(DEAD_HS));
    assert_eq!(why(&worker, "", &url), None);
}

#[wasm_bindgen_test]
async fn a_tab_that_is_gone_cannot_be_asked() {
    let answer = crate::tab::ask("no-such-client", &js::object(&[]), 1000).await;
    assert!(answer.is_none());
}

// ----- faults: retries, stalls, single-flight, cancellation ------------------------------------

fn options(fields: &[(&str, JsValue)]) -> JsValue {
    js::object(fields)
}

#[wasm_bindgen_test]
fn options_fall_back_to_defaults_and_are_clamped() {
    let config = |o: JsValue| AuthMediaWorker::new(o).shared().borrow().config;
    let defaults = config(JsValue::UNDEFINED);
    assert_eq!(defaults.fetch_timeout_ms, 30_000);
    assert_eq!(defaults.retry, authmedia_core::RetryPolicy::default());
    assert_eq!(defaults.retry.max_attempts, 4);
    assert_eq!(defaults.retry.max_total_wait_ms, 20_000);
    for garbage in [
        JsValue::from_str("5000"),
        JsValue::from_f64(f64::NAN),
        JsValue::from_f64(f64::INFINITY),
        JsValue::from_f64(-1.0),
        JsValue::NULL,
        js::object(&[]),
    ] {
        let c = config(options(&[
            ("fetchTimeoutMs", garbage.clone()),
            ("retryMaxAttempts", garbage.clone()),
            ("retryMaxWaitMs", garbage.clone()),
        ]));
        assert_eq!(c.fetch_timeout_ms, 30_000, "{garbage:?}");
        assert_eq!(
            c.retry,
            authmedia_core::RetryPolicy::default(),
            "{garbage:?}"
        );
    }
    let low = config(options(&[
        ("fetchTimeoutMs", 10.0.into()),
        ("retryMaxAttempts", 0.5.into()),
        ("retryMaxWaitMs", 0.0.into()),
    ]));
    assert_eq!(low.fetch_timeout_ms, 1_000);
    assert_eq!(low.retry.max_attempts, 1);
    assert_eq!(low.retry.max_total_wait_ms, 0);
    let high = config(options(&[
        ("fetchTimeoutMs", 1e12.into()),
        ("retryMaxAttempts", 1e9.into()),
        ("retryMaxWaitMs", 1e15.into()),
    ]));
    assert_eq!(high.fetch_timeout_ms, 600_000);
    assert_eq!(high.retry.max_attempts, 10);
    assert_eq!(high.retry.max_total_wait_ms, 120_000);
}

#[wasm_bindgen_test]
fn stats_have_the_documented_fields() {
    let worker = AuthMediaWorker::new(options(&[("storeBudgetBytes", 1024.0.into())]));
    let stats = worker.stats();
    for field in [
        "authenticated",
        "upgraded",
        "passthrough",
        "refused",
        "cacheHits",
        "upstream",
        "retries",
        "deduped",
        "timeouts",
        "sessionAsks",
        "storeBytes",
        "storeEntries",
        "inflight",
        "decryptedWebCrypto",
        "decryptedWasm",
    ] {
        assert_eq!(js::get(&stats, field).as_f64(), Some(0.0), "{field}");
    }
    assert_eq!(js::get(&stats, "storeBudgetBytes").as_f64(), Some(1024.0));
    let memory = js::get(&stats, "wasmMemoryBytes").as_f64().unwrap();
    assert!(memory >= 65536.0 && memory % 65536.0 == 0.0, "{memory}");
}

#[wasm_bindgen_test]
fn stats_tell_a_replaced_instance_from_a_restarted_worker() {
    // Used directly (no entry script): the first instance of a worker started now.
    let before = js_sys::Date::now();
    let stats = AuthMediaWorker::new(JsValue::UNDEFINED).stats();
    let started = js::get(&stats, "workerStartedAt").as_f64().unwrap();
    assert!(
        started >= before && started <= js_sys::Date::now(),
        "{started}"
    );
    assert_eq!(js::get(&stats, "instanceStartedAt").as_f64(), Some(started));
    assert_eq!(js::get(&stats, "instanceReplacements").as_f64(), Some(0.0));
    assert!(js::get(&stats, "lastTrap").is_null());
    // What the entry script passes an instance it created after a trap.
    let lineage = options(&[
        ("startedAt", 1000.0.into()),
        ("replaced", 2.0.into()),
        ("lastTrap", "RuntimeError: unreachable".into()),
    ]);
    let stats = AuthMediaWorker::new(options(&[("lineage", lineage)])).stats();
    assert_eq!(js::get(&stats, "workerStartedAt").as_f64(), Some(1000.0));
    assert!(js::get(&stats, "instanceStartedAt").as_f64().unwrap() >= before);
    assert_eq!(js::get(&stats, "instanceReplacements").as_f64(), Some(2.0));
    assert_eq!(
        js::string(&stats, "lastTrap").as_deref(),
        Some("RuntimeError: unreachable")
    );
    // Garbage is ignored, never a panic.
    let lineage = options(&[("startedAt", "x".into()), ("replaced", (-3.0).into())]);
    let stats = AuthMediaWorker::new(options(&[("lineage", lineage)])).stats();
    assert_eq!(js::get(&stats, "instanceReplacements").as_f64(), Some(0.0));
    assert!(js::get(&stats, "workerStartedAt").as_f64().unwrap() >= before);
}

async fn fetch_response(worker: &AuthMediaWorker, url: &str) -> Response {
    JsFuture::from(worker.handle_fetch(&fetch_event(url)))
        .await
        .unwrap()
        .dyn_into()
        .unwrap()
}

#[wasm_bindgen_test]
async fn network_errors_are_retried_then_answered_502_network() {
    // Two retries: 500 + 1000 ms of back-off in all.
    let worker = AuthMediaWorker::new(options(&[
        ("retryMaxAttempts", 3.0.into()),
        ("retryMaxWaitMs", 1500.0.into()),
    ]));
    worker.test_message("", &session_message(DEAD_HS));
    let url = format!("{DEAD_HS}/_matrix/client/v1/media/download/hs/retried");
    let response = fetch_response(&worker, &url).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers().get("cache-control").unwrap().as_deref(),
        Some("no-store")
    );
    let body = net::json(&response).await.unwrap();
    assert_eq!(js::string(&body, "errcode").as_deref(), Some("M_UNKNOWN"));
    assert_eq!(
        js::string(&body, "authmedia_code").as_deref(),
        Some("network")
    );
    let error = js::string(&body, "error").unwrap();
    assert!(
        error.contains("could not be reached after 3 attempts"),
        "{error}"
    );
    let stats = worker.stats();
    assert_eq!(js::get(&stats, "upstream").as_f64(), Some(3.0));
    assert_eq!(js::get(&stats, "retries").as_f64(), Some(2.0));
    assert_eq!(js::get(&stats, "authenticated").as_f64(), Some(1.0));
    assert_eq!(js::get(&stats, "inflight").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn identical_concurrent_requests_share_one_upstream_fetch() {
    let worker = AuthMediaWorker::new(options(&[("retryMaxAttempts", 1.0.into())]));
    worker.test_message("", &session_message(DEAD_HS));
    let url = format!("{DEAD_HS}/_matrix/client/v1/media/download/hs/shared");
    let other = format!("{DEAD_HS}/_matrix/client/v1/media/download/hs/other");
    // Ten identical requests and one for other media, all started before any answer.
    let mut promises: Vec<js_sys::Promise> = (0..10)
        .map(|_| worker.handle_fetch(&fetch_event(&url)))
        .collect();
    promises.push(worker.handle_fetch(&fetch_event(&other)));
    let promises: js_sys::Array = promises.into_iter().collect();
    let all = JsFuture::from(js_sys::Promise::all(&promises))
        .await
        .unwrap();
    let answers: js_sys::Array = all.dyn_into().unwrap();
    assert_eq!(answers.length(), 11);
    for answer in answers.iter() {
        let response: Response = answer.dyn_into().unwrap();
        assert_eq!(response.status(), 502);
        let body = net::json(&response).await.unwrap();
        assert_eq!(
            js::string(&body, "authmedia_code").as_deref(),
            Some("network")
        );
    }
    let stats = worker.stats();
    assert_eq!(
        js::get(&stats, "upstream").as_f64(),
        Some(2.0),
        "one fetch per distinct media"
    );
    assert_eq!(js::get(&stats, "deduped").as_f64(), Some(9.0));
    assert_eq!(js::get(&stats, "refused").as_f64(), Some(11.0));
    assert_eq!(js::get(&stats, "inflight").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn a_body_that_stops_arriving_times_out() {
    let worker = AuthMediaWorker::new(options(&[("fetchTimeoutMs", 1000.0.into())]));
    let shared = worker.shared();
    // A body stream that never produces a byte nor ends: a stalled server.
    let stalled = web_sys::ReadableStream::new().unwrap();
    let response = Response::new_with_opt_readable_stream(Some(&stalled)).unwrap();
    let controller = web_sys::AbortController::new().unwrap();
    let started = js_sys::Date::now();
    let result = crate::upstream::read_body(&shared, &response, &controller, None).await;
    let took = js_sys::Date::now() - started;
    assert_eq!(
        result.err(),
        Some(crate::flight::Fail::TimedOut { ms: 1000 })
    );
    assert!(took >= 900.0, "aborted after {took} ms");
    assert!(controller.signal().aborted());
    assert_eq!(js::get(&worker.stats(), "timeouts").as_f64(), Some(1.0));
    let answer = crate::flight::Fail::TimedOut { ms: 1000 }.response();
    assert_eq!(answer.status(), 504);
    let body = net::json(&answer).await.unwrap();
    assert_eq!(
        js::string(&body, "authmedia_code").as_deref(),
        Some("timeout")
    );
    assert!(js::string(&body, "error")
        .unwrap()
        .contains("did not answer within 1000 ms"));
}

#[wasm_bindgen_test]
async fn a_body_that_keeps_arriving_is_read_whole() {
    let worker = AuthMediaWorker::new(JsValue::UNDEFINED);
    let shared = worker.shared();
    // A JS-owned copy: a view into wasm memory may be read lazily (WebKit), after it was freed.
    let response = Response::new_with_opt_buffer_source(Some(&buffer(b"0123456789"))).unwrap();
    let controller = web_sys::AbortController::new().unwrap();
    let body = crate::upstream::read_body(&shared, &response, &controller, None)
        .await
        .unwrap();
    assert_eq!(blob_bytes(&body).await, b"0123456789");
    assert!(!controller.signal().aborted());
}

#[wasm_bindgen_test]
async fn a_slow_body_that_keeps_progressing_outlives_the_timeout() {
    // 6 chunks 400 ms apart: 2.4 s in all against a 1 s timeout. Each chunk pushes the deadline
    // back; the one timer fires after 1 s, finds the deadline moved and waits for the rest.
    let worker = AuthMediaWorker::new(options(&[("fetchTimeoutMs", 1000.0.into())]));
    let shared = worker.shared();
    let make = js_sys::Function::new_no_args(
        "let n = 0; return new ReadableStream({ pull(c) { return new Promise((r) => setTimeout(() => \
         { n += 1; if (n <= 6) c.enqueue(new Uint8Array([n])); else c.close(); r(); }, 400)); } });",
    );
    let stream: web_sys::ReadableStream = make.call0(&JsValue::NULL).unwrap().unchecked_into();
    let response = Response::new_with_opt_readable_stream(Some(&stream)).unwrap();
    let controller = web_sys::AbortController::new().unwrap();
    let started = js_sys::Date::now();
    let body = crate::upstream::read_body(&shared, &response, &controller, None)
        .await
        .unwrap();
    let took = js_sys::Date::now() - started;
    assert!(took >= 2000.0, "read in {took} ms");
    assert_eq!(blob_bytes(&body).await, [1, 2, 3, 4, 5, 6]);
    assert!(!controller.signal().aborted());
    assert_eq!(js::get(&worker.stats(), "timeouts").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn a_small_body_of_announced_length_is_read_whole_at_once() {
    let worker = AuthMediaWorker::new(JsValue::UNDEFINED);
    let shared = worker.shared();
    let response = Response::new_with_opt_buffer_source(Some(&buffer(b"0123456789"))).unwrap();
    let controller = web_sys::AbortController::new().unwrap();
    let body = crate::upstream::read_body(&shared, &response, &controller, Some(10))
        .await
        .unwrap();
    assert_eq!(blob_bytes(&body).await, b"0123456789");
    assert!(!controller.signal().aborted());
}

#[wasm_bindgen_test]
async fn a_small_body_that_stops_arriving_times_out() {
    let worker = AuthMediaWorker::new(options(&[("fetchTimeoutMs", 1000.0.into())]));
    let shared = worker.shared();
    let controller = web_sys::AbortController::new().unwrap();
    // A body that never ends, tied to the controller the way a fetch body is: aborting errors it.
    let (stream, error) = {
        let source = js_sys::Object::new();
        let error = std::rc::Rc::new(std::cell::RefCell::new(None::<js_sys::Function>));
        let keep = error.clone();
        let start = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |c: JsValue| {
            let err: js_sys::Function = js::get(&c, "error").unchecked_into();
            keep.replace(Some(
                err.bind1(&c, &JsValue::from_str("aborted"))
                    .unchecked_into(),
            ));
        });
        js_sys::Reflect::set(&source, &"start".into(), start.as_ref()).unwrap();
        start.forget();
        let stream = web_sys::ReadableStream::new_with_underlying_source(&source).unwrap();
        (stream, error)
    };
    let on_abort = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        if let Some(err) = error.borrow().as_ref() {
            let _ = err.call0(&JsValue::UNDEFINED);
        }
    });
    controller
        .signal()
        .add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref())
        .unwrap();
    on_abort.forget();
    let response = Response::new_with_opt_readable_stream(Some(&stream)).unwrap();
    let started = js_sys::Date::now();
    let result = crate::upstream::read_body(&shared, &response, &controller, Some(10)).await;
    let took = js_sys::Date::now() - started;
    assert_eq!(
        result.err(),
        Some(crate::flight::Fail::TimedOut { ms: 1000 })
    );
    assert!(took >= 900.0, "aborted after {took} ms");
    assert_eq!(js::get(&worker.stats(), "timeouts").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
fn a_flight_is_cancelled_only_when_every_waiter_aborted() {
    use crate::flight::Flight;
    let (a, b) = (
        web_sys::AbortController::new().unwrap(),
        web_sys::AbortController::new().unwrap(),
    );
    let flight = Flight::new();
    flight.join(Some(a.signal()));
    flight.join(Some(b.signal()));
    a.abort();
    assert!(!flight.cancelled(), "b still waits");
    b.abort();
    assert!(flight.cancelled());
    flight.end();

    // A range request (a `<video>` seeking) never cancels the download.
    let c = web_sys::AbortController::new().unwrap();
    let video = Flight::new();
    video.join(Some(c.signal()));
    video.join(None);
    c.abort();
    assert!(!video.cancelled());
    video.end();
}

#[wasm_bindgen_test]
async fn upstream_attempts_wait_for_a_slot_beyond_the_limit() {
    use crate::flight::{deferred, Slot, MAX_UPSTREAM};
    let worker = AuthMediaWorker::new(JsValue::UNDEFINED);
    let shared = worker.shared();
    let mut held = Vec::new();
    let slots = shared.borrow().slots.clone();
    for _ in 0..MAX_UPSTREAM {
        held.push(Slot::take(&slots).await);
    }
    assert_eq!(shared.borrow().slots.borrow().used(), MAX_UPSTREAM);
    let (started, on_started) = deferred();
    let (reached, on_reached) = deferred();
    let other = shared.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let _ = on_started.call0(&JsValue::UNDEFINED);
        let slots = other.borrow().slots.clone();
        let _slot = Slot::take(&slots).await;
        let _ = on_reached.call0(&JsValue::UNDEFINED);
    });
    JsFuture::from(started).await.unwrap();
    assert_eq!(
        shared.borrow().slots.borrow().waiting(),
        1,
        "one over the limit waits"
    );
    held.pop(); // hands its slot over
    JsFuture::from(reached).await.unwrap();
    assert_eq!(shared.borrow().slots.borrow().waiting(), 0);
    drop(held);
    assert_eq!(shared.borrow().slots.borrow().used(), 0, "every slot freed");
}

#[wasm_bindgen_test]
fn logout_aborts_the_users_running_fetches_only() {
    use crate::upstream::start_flight;
    let worker = AuthMediaWorker::new(JsValue::UNDEFINED);
    worker.test_message("tab", &session_message(DEAD_HS));
    let shared = worker.shared();
    // Flights are keyed by the session's principal (never by the user id a tab claims).
    let key = shared.borrow().sessions.session("tab").unwrap().key();
    worker.test_message(
        "other-tab",
        &session_message_of(DEAD_HS, "@b:hs", "other-token"),
    );
    let other_key = shared.borrow().sessions.session("other-tab").unwrap().key();
    assert_ne!(key, other_key);
    let mine = start_flight(&shared, &key);
    mine.join(None); // even a range request's download stops
    let theirs = start_flight(&shared, &other_key);
    assert!(!mine.cancelled() && !theirs.cancelled());
    worker.test_message("tab", &js::object(&[("type", "authmedia:logout".into())]));
    assert!(
        mine.cancelled(),
        "the tab logged out: its session's fetch is aborted"
    );
    assert!(!theirs.cancelled());
    mine.end();
    theirs.end();
}

#[wasm_bindgen_test]
fn a_flight_is_unlisted_once_dropped() {
    // The `abort` listeners find flights by number in a list: a flight that is gone must not
    // stay in it (a worker serving thousands of requests would keep every one).
    let before = crate::flight::flights_listed();
    let flight = crate::flight::Flight::new();
    assert_eq!(crate::flight::flights_listed(), before + 1);
    flight.end();
    drop(flight);
    assert_eq!(crate::flight::flights_listed(), before);
}

#[wasm_bindgen_test]
async fn a_deadline_of_its_own_fires_while_a_later_one_is_pending() {
    // One timer serves every deadline: set for a 30 s deadline, it must be brought forward for a
    // 1 s one armed after it.
    let later = web_sys::AbortController::new().unwrap();
    let _later = crate::flight::Deadline::new(&later, 30_000);
    let sooner = web_sys::AbortController::new().unwrap();
    let _sooner = crate::flight::Deadline::new(&sooner, 1_000);
    let aborted = js_sys::Promise::new(&mut |resolve, _| {
        let _ = sooner
            .signal()
            .add_event_listener_with_callback("abort", &resolve);
    });
    JsFuture::from(aborted).await.unwrap();
    assert!(crate::flight::timed_out(&sooner));
    assert!(!later.signal().aborted());
}

/// The worker global's `fetch` replaced by a scripted homeserver (JS body of `fetch(request)`)
/// while this lives; every request it saw is in `self.__hsSeen` (`{url, authorization, range}`).
struct ScriptedHomeserver(JsValue);

impl ScriptedHomeserver {
    fn install(body: &str) -> Self {
        let global = js_sys::global();
        let original = js::get(&global, "fetch");
        js::set(&global, "__hsSeen", &js_sys::Array::new());
        let record = "self.__hsSeen.push({url: request.url, authorization: \
            request.headers.get('authorization'), range: request.headers.get('range')});";
        let fetch = js_sys::Function::new_with_args("request", &format!("{record}{body}"));
        js::set(&global, "fetch", &fetch);
        Self(original)
    }

    fn seen(&self) -> Vec<JsValue> {
        js::get(&js_sys::global(), "__hsSeen")
            .dyn_into::<js_sys::Array>()
            .unwrap()
            .to_vec()
    }
}

impl Drop for ScriptedHomeserver {
    fn drop(&mut self) {
        js::set(&js_sys::global(), "fetch", &self.0);
    }
}

/// A `FetchEvent` for `url` with `headers`.
fn fetch_event_with(url: &str, headers: &[(&str, &str)]) -> FetchEvent {
    let request = Request::new_with_str(url).unwrap();
    for (name, value) in headers {
        request.headers().set(name, value).unwrap();
    }
    FetchEvent::new("fetch", &FetchEventInit::new(&request)).unwrap()
}

/// `headers` are a media answer's: of `content_type`, `no-store`, `nosniff`.
fn assert_media_headers(headers: &web_sys::Headers, content_type: &str) {
    let get = |name: &str| headers.get(name).unwrap();
    assert_eq!(
        (
            get("content-type"),
            get("cache-control"),
            get("x-content-type-options")
        ),
        (
            Some(content_type.to_owned()),
            Some("no-store".to_owned()),
            Some("nosniff".to_owned())
        )
    );
}

/// `response` is an error answer of `status` whose `authmedia-code` header is `code`.
fn assert_answer(response: &Response, status: u16, code: &str) {
    assert_eq!(
        (
            response.status(),
            response.headers().get(net::CODE_HEADER).unwrap()
        ),
        (status, Some(code.to_owned()))
    );
}

/// Registers an encrypted attachment (`authmedia:encrypted`) of `tab`: the file at `mxc` (no keys:
/// the tests' stand-in `decrypt` needs none), answered with `mimetype`. The worker's reply.
fn register_encrypted(
    worker: &AuthMediaWorker,
    tab: &str,
    id: &str,
    file: JsValue,
    mimetype: &str,
) -> JsValue {
    worker.test_message(
        tab,
        &js::object(&[
            ("type", "authmedia:encrypted".into()),
            ("id", id.into()),
            ("file", file),
            ("mimetype", mimetype.into()),
        ]),
    )
}

/// A file of `mxc` for [`register_encrypted`].
fn file_at(mxc: &str) -> JsValue {
    js::object(&[("url", mxc.into())])
}

async fn answer_of(promise: js_sys::Promise) -> Response {
    JsFuture::from(promise).await.unwrap().dyn_into().unwrap()
}

#[wasm_bindgen_test]
async fn encrypted_attachments_are_served_by_the_media_handler_with_a_decrypt_step() {
    // The homeserver answers every ciphertext (10 bytes; 64 for `big`) after a moment, and 404
    // M_NOT_FOUND for `missing`.
    let hs = ScriptedHomeserver::install(
        "const id = request.url.split('/').pop();
         if (id === 'missing') return Promise.resolve(new Response(
           JSON.stringify({errcode: 'M_NOT_FOUND', error: 'gone'}),
           {status: 404, headers: {'content-type': 'application/json'}}));
         const body = id === 'big' ? new Uint8Array(64) : new Uint8Array([9,8,7,6,5,4,3,2,1,0]);
         return new Promise((resolve) => setTimeout(() => resolve(new Response(body,
           {status: 200, headers: {'content-length': String(body.length)}})), 20));",
    );
    // The decryption module's stand-in: the plaintext is the ciphertext reversed; a file marked
    // `bad` is refused as the module refuses a hash mismatch.
    let decrypt = js_sys::Function::new_with_args(
        "file, ciphertext",
        "self.__decrypts = (self.__decrypts || 0) + 1;
         if (JSON.parse(file).bad) return Promise.reject({status: 502,
           errcode: 'AUTHMEDIA_HASH_MISMATCH', authmedia_code: 'hash_mismatch', error: 'no'});
         return ciphertext.arrayBuffer().then((b) => new Uint8Array(b).reverse().buffer);",
    );
    js::set(&js_sys::global(), "__decrypts", &0.into());
    let worker = AuthMediaWorker::new(options(&[
        ("decrypt", decrypt.into()),
        ("storeBudgetBytes", 32.into()),
    ]));
    worker.test_message("", &session_message("https://hs.example"));
    let register = |id: &str, file: JsValue, mimetype: &str| {
        let reply = register_encrypted(&worker, "", id, file, mimetype);
        assert_eq!(js::get(&reply, "ok").as_bool(), Some(true), "{id}");
        js::string(&reply, "url").unwrap()
    };
    let file = |media_id: &str| file_at(&format!("mxc://hs.example/{media_id}"));
    let video = register("v1", file("abc"), "video/mp4");
    let bad = js::object(&[("url", "mxc://hs.example/abc".into()), ("bad", true.into())]);
    let bad = register("bad", bad, "image/png");
    let gone = register("gone", file("missing"), "image/png");
    let big = register("big", file("big"), "image/png");
    let svg = register("svg", file("svg"), "image/svg+xml");

    // Three requests at once, the first a range (it starts the download): one download, one
    // decryption, the range cut from the plaintext; the page's Range never goes upstream.
    let part = worker.handle_encrypted(&fetch_event_with(&video, &[("range", "bytes=2-4")]));
    let whole = worker.handle_encrypted(&fetch_event(&video));
    let again = worker.handle_encrypted(&fetch_event(&video));
    let (whole, part, again) = (
        answer_of(whole).await,
        answer_of(part).await,
        answer_of(again).await,
    );
    for response in [&whole, &again] {
        assert_eq!(response.status(), 200);
        assert_eq!(bytes(response).await, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers().get("content-range").unwrap().as_deref(),
        Some("bytes 2-4/10")
    );
    assert_eq!(bytes(&part).await, [2, 3, 4]);
    let headers = whole.headers();
    assert_media_headers(&headers, "video/mp4");
    let seen = hs.seen();
    assert_eq!(seen.len(), 1, "one download for three requests");
    assert_eq!(
        js::string(&seen[0], "url").as_deref(),
        Some("https://hs.example/_matrix/client/v1/media/download/hs.example/abc")
    );
    assert_eq!(
        js::string(&seen[0], "authorization").as_deref(),
        Some("Bearer tok")
    );
    assert_eq!(js::string(&seen[0], "range"), None);
    assert_eq!(js::get(&js_sys::global(), "__decrypts").as_f64(), Some(1.0));

    // Later: from the store (the plaintext), nothing downloaded or decrypted again.
    let stored = answer_of(worker.handle_encrypted(&fetch_event(&video))).await;
    assert_eq!(bytes(&stored).await, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(hs.seen().len(), 1);
    // An unsafe declared type is served as application/octet-stream.
    let inert = answer_of(worker.handle_encrypted(&fetch_event(&svg))).await;
    assert_eq!(
        inert.headers().get("content-type").unwrap().as_deref(),
        Some("application/octet-stream")
    );

    // The module's refusal, the homeserver's error and the size limit, each as its answer.
    let refused = answer_of(worker.handle_encrypted(&fetch_event(&bad))).await;
    assert_answer(&refused, 502, "hash_mismatch");
    let body = net::json(&refused).await.unwrap();
    assert_eq!(
        js::string(&body, "errcode").as_deref(),
        Some("AUTHMEDIA_HASH_MISMATCH")
    );
    let missing = answer_of(worker.handle_encrypted(&fetch_event(&gone))).await;
    assert_answer(&missing, 404, "not_found");
    let body = net::json(&missing).await.unwrap();
    assert_eq!(js::string(&body, "errcode").as_deref(), Some("M_NOT_FOUND"));
    // Over the store's budget: the code the fallback gives for an attachment over `budgetBytes`.
    let too_big = answer_of(worker.handle_encrypted(&fetch_event(&big))).await;
    assert_answer(&too_big, 413, "over_budget");
    let body = net::json(&too_big).await.unwrap();
    assert_eq!(
        js::string(&body, "errcode").as_deref(),
        Some("AUTHMEDIA_TOO_LARGE")
    );

    let stats = worker.stats();
    assert_eq!(js::get(&stats, "decryptedWebCrypto").as_f64(), Some(2.0));
    assert_eq!(js::get(&stats, "cacheHits").as_f64(), Some(1.0));
    assert_eq!(js::get(&stats, "deduped").as_f64(), Some(2.0));
    // The refusals after a download (the module's, the size limit); a homeserver's 404 is not a
    // refusal, as for other media.
    assert_eq!(js::get(&stats, "refused").as_f64(), Some(2.0));
    assert_eq!(js::get(&stats, "inflight").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn a_ciphertext_without_a_length_is_read_no_further_than_the_limit() {
    // A homeserver that sends 8-byte chunks as long as they are read, up to 8000 bytes, and
    // announces no length (chunked, or a compressed body whose decoded size no header tells) —
    // or, for `announced`, a length over the limit.
    let _hs = ScriptedHomeserver::install(
        "self.__pulled = 0; self.__cancelled = false;
         const body = new ReadableStream({
           pull(c) { if (self.__pulled >= 8000) { c.close(); return; }
                     self.__pulled += 8; c.enqueue(new Uint8Array(8)); },
           cancel() { self.__cancelled = true; },
         }, {highWaterMark: 0});
         const headers = request.url.endsWith('/announced') ? {'content-length': '8000'} : {};
         return Promise.resolve(new Response(body, {status: 200, headers}));",
    );
    let decrypt = js_sys::Function::new_with_args(
        "file, ciphertext",
        "self.__decrypts = (self.__decrypts || 0) + 1; return ciphertext.arrayBuffer();",
    );
    js::set(&js_sys::global(), "__decrypts", &0.into());
    let worker = AuthMediaWorker::new(options(&[
        ("decrypt", decrypt.into()),
        ("storeBudgetBytes", 32.into()),
    ]));
    worker.test_message("", &session_message("https://hs.example"));
    let register = |id: &str| {
        let file = file_at(&format!("mxc://hs.example/{id}"));
        js::string(
            &register_encrypted(&worker, "", id, file, "image/png"),
            "url",
        )
        .unwrap()
    };
    let url = register("endless");
    let announced = register("announced");

    // Announced over the limit: refused before reading, and the body is not left open (it would
    // hold the connection until collected).
    let answer = answer_of(worker.handle_encrypted(&fetch_event(&announced))).await;
    assert_answer(&answer, 413, "over_budget");
    assert_eq!(
        js::get(&js_sys::global(), "__cancelled").as_bool(),
        Some(true)
    );

    let answer = answer_of(worker.handle_encrypted(&fetch_event(&url))).await;
    assert_answer(&answer, 413, "over_budget");
    // The read stopped just past the limit (a chunk or two read ahead), and the rest was
    // cancelled: the ciphertext the worker holds is bounded by the budget, not by the server.
    let pulled = js::get(&js_sys::global(), "__pulled").as_f64().unwrap();
    assert!(pulled <= 64.0, "{pulled} bytes read for a limit of 32");
    assert_eq!(
        js::get(&js_sys::global(), "__cancelled").as_bool(),
        Some(true)
    );
    assert_eq!(js::get(&js_sys::global(), "__decrypts").as_f64(), Some(0.0));
    assert_eq!(js::get(&worker.stats(), "inflight").as_f64(), Some(0.0));
}

/// A `FetchEvent` for `url` from the tab `client_id`.
fn fetch_event_from(client_id: &str, url: &str) -> FetchEvent {
    let request = Request::new_with_str(url).unwrap();
    let init = FetchEventInit::new(&request);
    init.set_client_id(Some(client_id));
    FetchEvent::new("fetch", &init).unwrap()
}

/// A promise the test awaits instead of sleeping: `self[name]`, resolved by `self[name + 'Go']()`.
fn js_gate(name: &str) {
    let make = js_sys::Function::new_no_args(&format!(
        "self.{name} = new Promise((r) => {{ self.{name}Go = r; }});"
    ));
    make.call0(&JsValue::UNDEFINED).unwrap();
}

async fn js_gate_reached(name: &str) {
    let gate: js_sys::Promise = js::get(&js_sys::global(), name).dyn_into().unwrap();
    JsFuture::from(gate).await.unwrap();
}

fn js_gate_open(name: &str) {
    let go: js_sys::Function = js::get(&js_sys::global(), &format!("{name}Go"))
        .dyn_into()
        .unwrap();
    go.call0(&JsValue::UNDEFINED).unwrap();
}

#[wasm_bindgen_test]
async fn an_attachment_s_plaintext_stays_with_the_session_that_downloaded_it() {
    // The homeserver serves the ciphertext for alice's token only; any other token is forbidden.
    let hs = ScriptedHomeserver::install(
        "if (request.headers.get('authorization') !== 'Bearer tok') return Promise.resolve(
           new Response(JSON.stringify({errcode: 'M_FORBIDDEN', error: 'no'}),
             {status: 403, headers: {'content-type': 'application/json'}}));
         return Promise.resolve(new Response(new Uint8Array([1, 2, 3]), {status: 200}));",
    );
    // The module's stand-in tells when it starts (`__started`) and waits for `__hold`.
    let decrypt = js_sys::Function::new_with_args(
        "file, ciphertext",
        "self.__decrypts = (self.__decrypts || 0) + 1; self.__startedGo();
         return self.__hold.then(() => ciphertext.arrayBuffer())
           .then((b) => new Uint8Array(b).reverse().buffer);",
    );
    js::set(&js_sys::global(), "__decrypts", &0.into());
    let worker = AuthMediaWorker::new(options(&[("decrypt", decrypt.into())]));
    worker.test_message(
        "alice",
        &session_message_of("https://hs.example", "@a:hs", "tok"),
    );
    // Another tab claiming the same user with a garbage token.
    worker.test_message(
        "liar",
        &session_message_of("https://hs.example", "@a:hs", "garbage"),
    );
    let register = |tab: &str, id: &str| {
        let file = file_at("mxc://hs.example/abc");
        js::string(
            &register_encrypted(&worker, tab, id, file, "image/png"),
            "url",
        )
        .unwrap()
    };
    let url = register("alice", "x");
    assert_eq!(register("liar", "x"), url, "the same id, the same URL");

    js_gate("__started");
    js_gate("__hold");
    let alice = worker.handle_encrypted(&fetch_event_from("alice", &url));
    js_gate_reached("__started").await;
    // While alice's plaintext is being decrypted: the liar's request joins nothing, and is
    // downloaded with its own token (refused by the homeserver).
    let liar = answer_of(worker.handle_encrypted(&fetch_event_from("liar", &url))).await;
    assert_eq!(liar.status(), 403);
    // Alice's tab hands its session over again, claiming another user id: the same token is the
    // same session, and its request in flight is delivered.
    worker.test_message(
        "alice",
        &session_message_of("https://hs.example", "@other:hs", "tok"),
    );
    js_gate_open("__hold");
    let alice = answer_of(alice).await;
    assert_eq!(alice.status(), 200);
    assert_eq!(bytes(&alice).await, [3, 2, 1]);
    // Once stored, still nothing for the liar (a download of its own, refused again) nor in its
    // `authmedia:why` beyond its own failure.
    let liar = answer_of(worker.handle_encrypted(&fetch_event_from("liar", &url))).await;
    assert_eq!(liar.status(), 403);
    let seen: Vec<Option<String>> = hs
        .seen()
        .iter()
        .map(|s| js::string(s, "authorization"))
        .collect();
    assert_eq!(
        seen.iter()
            .filter(|a| a.as_deref() == Some("Bearer tok"))
            .count(),
        1
    );
    assert_eq!(seen.len(), 3);
    assert_eq!(why(&worker, "liar", &url).as_deref(), Some("forbidden"));
    assert_eq!(why(&worker, "alice", &url), None);
    assert_eq!(js::get(&worker.stats(), "storeEntries").as_f64(), Some(1.0));

    // A logout while the next attachment is being decrypted: nothing of it is kept or delivered.
    let url = register("alice", "y");
    js_gate("__started");
    js_gate("__hold");
    let alice = worker.handle_encrypted(&fetch_event_from("alice", &url));
    js_gate_reached("__started").await;
    worker.test_message("alice", &js::object(&[("type", "authmedia:logout".into())]));
    js_gate_open("__hold");
    let alice = answer_of(alice).await;
    assert_answer(&alice, 502, "cancelled");
    let stats = worker.stats();
    assert_eq!(js::get(&stats, "storeEntries").as_f64(), Some(0.0));
    assert_eq!(js::get(&stats, "decryptedWebCrypto").as_f64(), Some(2.0));
    assert_eq!(js::get(&stats, "inflight").as_f64(), Some(0.0));
}

/// `promise`'s answer, or a panic naming `what` after `ms` (a hang reported as a failure).
async fn answer_within(promise: js_sys::Promise, ms: i32, what: &str) -> Response {
    let late = js_sys::Function::new_with_args(
        "ms",
        "return new Promise((_, reject) => setTimeout(() => reject('late'), ms));",
    );
    let late: js_sys::Promise = late
        .call1(&JsValue::NULL, &ms.into())
        .unwrap()
        .unchecked_into();
    let race = js_sys::Promise::race(&js_sys::Array::of2(&promise, &late));
    let answer = JsFuture::from(race).await;
    assert!(answer.is_ok(), "{what}: no answer within {ms} ms");
    answer.unwrap().dyn_into().unwrap()
}

#[wasm_bindgen_test]
async fn an_endless_error_body_is_read_no_further_than_its_bound() {
    // Error answers whose JSON body never ends: 1 KiB chunks as long as they are read (each in
    // a task of its own, so that the worker's timers still run while it reads).
    let _hs = ScriptedHomeserver::install(
        "self.__pulled = 0; self.__cancelled = false;
         const status = request.url.endsWith('/gone') ? 404 : 500;
         const body = new ReadableStream({
           start(c) { c.enqueue(new TextEncoder().encode('{\"errcode\": \"M_NOT_FOUND\", \"error\": \"')); },
           pull(c) { return new Promise((r) => setTimeout(() => {
             self.__pulled += 1024; c.enqueue(new Uint8Array(1024).fill(97)); r(); }, 0)); },
           cancel() { self.__cancelled = true; },
         }, {highWaterMark: 0});
         return Promise.resolve(new Response(body,
           {status, headers: {'content-type': 'application/json'}}));",
    );
    let worker = AuthMediaWorker::new(options(&[
        ("retryMaxAttempts", 1.0.into()),
        ("fetchTimeoutMs", 4000.0.into()),
    ]));
    worker.test_message("", &session_message("https://hs.example"));
    for (name, status, code) in [("broken", 500, "server_error"), ("gone", 404, "not_found")] {
        let url = format!("https://hs.example/_matrix/client/v1/media/download/hs.example/{name}");
        let answer = answer_within(worker.handle_fetch(&fetch_event(&url)), 8000, name).await;
        // The status says what it is; the errcode was never read whole.
        assert_eq!(answer.status(), status, "{name}");
        assert_eq!(
            answer.headers().get(net::CODE_HEADER).unwrap().as_deref(),
            Some(code),
            "{name}"
        );
        let body = net::json(&answer).await.unwrap();
        assert_eq!(js::string(&body, "authmedia_code").as_deref(), Some(code));
        let pulled = js::get(&js_sys::global(), "__pulled").as_f64().unwrap();
        assert!(pulled <= 80.0 * 1024.0, "{name}: {pulled} bytes read");
        assert_eq!(
            js::get(&js_sys::global(), "__cancelled").as_bool(),
            Some(true),
            "{name}: the rest is cancelled"
        );
    }
    let stats = worker.stats();
    assert_eq!(js::get(&stats, "timeouts").as_f64(), Some(0.0));
    assert_eq!(js::get(&stats, "inflight").as_f64(), Some(0.0));
}
/// Registers the encrypted attachment `id` (`file`, an image) for the tab `""`: its URL.
fn register_file(worker: &AuthMediaWorker, id: &str, file: JsValue) -> String {
    let reply = register_encrypted(worker, "", id, file, "image/png");
    assert_eq!(js::get(&reply, "ok").as_bool(), Some(true), "{id}");
    js::string(&reply, "url").unwrap()
}

#[wasm_bindgen_test]
async fn a_decryption_that_never_ends_times_out_and_is_tried_again() {
    let hs = ScriptedHomeserver::install(
        "return Promise.resolve(new Response(new Uint8Array([1, 2, 3]), {status: 200}));",
    );
    // The first decryption (a module load, or the decryption itself) never settles.
    let decrypt = js_sys::Function::new_with_args(
        "file, ciphertext",
        "self.__decrypts = (self.__decrypts || 0) + 1;
         if (self.__decrypts === 1) return new Promise(() => {});
         return ciphertext.arrayBuffer().then((b) => new Uint8Array(b).reverse().buffer);",
    );
    js::set(&js_sys::global(), "__decrypts", &0.into());
    let worker = AuthMediaWorker::new(options(&[
        ("decrypt", decrypt.into()),
        ("fetchTimeoutMs", 1000.0.into()),
    ]));
    worker.test_message("", &session_message("https://hs.example"));
    let url = register_file(&worker, "hangs", file_at("mxc://hs.example/abc"));
    let started = js_sys::Date::now();
    let first = worker.handle_encrypted(&fetch_event(&url));
    let joined = worker.handle_encrypted(&fetch_event(&url));
    for answer in [first, joined] {
        let answer = answer_within(answer, 5000, "the hung decryption").await;
        assert_answer(&answer, 504, "timeout");
    }
    let took = js_sys::Date::now() - started;
    assert!(took >= 900.0, "timed out after {took} ms");
    let stats = worker.stats();
    assert_eq!(js::get(&stats, "storeEntries").as_f64(), Some(0.0));
    assert_eq!(js::get(&stats, "timeouts").as_f64(), Some(1.0));
    // Nothing kept: the next request downloads and decrypts again.
    let again = answer_within(worker.handle_encrypted(&fetch_event(&url)), 5000, "again").await;
    assert_eq!(again.status(), 200);
    assert_eq!(bytes(&again).await, [3, 2, 1]);
    assert_eq!(js::get(&js_sys::global(), "__decrypts").as_f64(), Some(2.0));
    assert_eq!(hs.seen().len(), 2);
    assert_eq!(js::get(&worker.stats(), "inflight").as_f64(), Some(0.0));
}
#[wasm_bindgen_test]
async fn an_attachment_s_failures_carry_client_codes() {
    // A 206 to the ciphertext download (the whole file was asked for), its body left to cancel.
    let _hs = ScriptedHomeserver::install(
        "self.__cancelled = false;
         const body = new ReadableStream({
           pull(c) { c.enqueue(new Uint8Array(8)); },
           cancel() { self.__cancelled = true; },
         }, {highWaterMark: 0});
         return Promise.resolve(new Response(body, {status: 206,
           headers: {'content-range': 'bytes 0-7/100'}}));",
    );
    let worker = AuthMediaWorker::new(options(&[(
        "decrypt",
        js_sys::Function::new_no_args("").into(),
    )]));
    worker.test_message("", &session_message("https://hs.example"));
    let url = register_file(&worker, "partial", file_at("mxc://hs.example/abc"));
    let answer = answer_of(worker.handle_encrypted(&fetch_event(&url))).await;
    assert_answer(&answer, 502, "server_error");
    assert_eq!(
        js::get(&js_sys::global(), "__cancelled").as_bool(),
        Some(true),
        "the partial body is cancelled"
    );
    let code: authmedia_core::ClientCode = why(&worker, "", &url).unwrap().parse().unwrap();
    assert_eq!(code, authmedia_core::ClientCode::ServerError);

    // A worker without a decryption module, and a module refusing for want of WebCrypto: the
    // code the page fallback gives the same failure.
    let _hs = ScriptedHomeserver::install(
        "return Promise.resolve(new Response(new Uint8Array([1, 2, 3]), {status: 200}));",
    );
    let bare = AuthMediaWorker::new(JsValue::UNDEFINED);
    bare.test_message("", &session_message("https://hs.example"));
    let url = register_file(&bare, "bare", file_at("mxc://hs.example/abc"));
    let refusing = js_sys::Function::new_no_args(
        "return Promise.reject({status: 502, errcode: 'AUTHMEDIA_CRYPTO_UNAVAILABLE',
           authmedia_code: 'crypto_unavailable', error: 'no'});",
    );
    let module = AuthMediaWorker::new(options(&[("decrypt", refusing.into())]));
    module.test_message("", &session_message("https://hs.example"));
    let module_url = register_file(&module, "refused", file_at("mxc://hs.example/abc"));
    for (worker, url) in [(&bare, &url), (&module, &module_url)] {
        let answer = answer_of(worker.handle_encrypted(&fetch_event(url))).await;
        let code = answer.headers().get(net::CODE_HEADER).unwrap().unwrap();
        assert_eq!(code, "wasm_load_failed", "{url}");
        let body = net::json(&answer).await.unwrap();
        assert_eq!(
            js::string(&body, "errcode").as_deref(),
            Some("AUTHMEDIA_CRYPTO_UNAVAILABLE")
        );
        assert_eq!(
            js::string(&body, "authmedia_code").as_deref(),
            Some(code.as_str())
        );
    }
}
#[wasm_bindgen_test]
async fn only_upgraded_legacy_urls_count_as_upgraded() {
    let _hs = ScriptedHomeserver::install(
        "return Promise.resolve(new Response(new Uint8Array([1, 2, 3]), {status: 200}));",
    );
    let decrypt =
        js_sys::Function::new_with_args("file, ciphertext", "return ciphertext.arrayBuffer();");
    let worker = AuthMediaWorker::new(options(&[("decrypt", decrypt.into())]));
    worker.test_message("", &session_message("https://hs.example"));
    let url = register_file(&worker, "e", file_at("mxc://hs.example/abc"));
    assert_eq!(
        answer_of(worker.handle_encrypted(&fetch_event(&url)))
            .await
            .status(),
        200
    );
    assert_eq!(js::get(&worker.stats(), "upgraded").as_f64(), Some(0.0));
    let legacy = "https://hs.example/_matrix/media/v3/download/hs.example/legacy";
    assert_eq!(fetch_response(&worker, legacy).await.status(), 200);
    let stats = worker.stats();
    assert_eq!(js::get(&stats, "upgraded").as_f64(), Some(1.0));
    assert_eq!(js::get(&stats, "authenticated").as_f64(), Some(2.0));
}
#[wasm_bindgen_test]
async fn an_id_registered_again_with_another_file_serves_the_new_file() {
    // Each media id has its own ciphertext; the stand-in module "decrypts" to the ciphertext.
    let hs = ScriptedHomeserver::install(
        "const id = request.url.split('/').pop();
         const body = id === 'first' ? new Uint8Array([1, 1]) : new Uint8Array([2, 2, 2]);
         return Promise.resolve(new Response(body, {status: 200}));",
    );
    let decrypt =
        js_sys::Function::new_with_args("file, ciphertext", "return ciphertext.arrayBuffer();");
    let worker = AuthMediaWorker::new(options(&[("decrypt", decrypt.into())]));
    worker.test_message("", &session_message("https://hs.example"));
    let file = |media: &str, sha: &str| {
        js::object(&[
            ("url", format!("mxc://hs.example/{media}").into()),
            ("hashes", js::object(&[("sha256", sha.into())])),
        ])
    };
    let url = register_file(&worker, "same", file("first", "AAAA"));
    let first = answer_of(worker.handle_encrypted(&fetch_event(&url))).await;
    assert_eq!(bytes(&first).await, [1, 1]);
    // The same file again: still served from the store.
    assert_eq!(register_file(&worker, "same", file("first", "AAAA")), url);
    let stored = answer_of(worker.handle_encrypted(&fetch_event(&url))).await;
    assert_eq!(bytes(&stored).await, [1, 1]);
    assert_eq!(hs.seen().len(), 1);
    // Another file under the same id: its own plaintext, never the earlier one's.
    assert_eq!(register_file(&worker, "same", file("second", "BBBB")), url);
    let second = answer_of(worker.handle_encrypted(&fetch_event(&url))).await;
    assert_eq!(bytes(&second).await, [2, 2, 2]);
    assert_eq!(hs.seen().len(), 2);
}
