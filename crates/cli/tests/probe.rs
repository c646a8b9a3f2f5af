//! `authmedia probe` against small loopback servers: arguments, exit statuses, the report's
//! shapes, and where the token goes. Its verdicts against a real Synapse are checked by
//! `tests/e2e/probe.test.mjs`; the decisions themselves by the core's vectors.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authmedia"))
        .arg("probe")
        .args(args)
        .env_remove("AUTHMEDIA_TOKEN")
        .output()
        .expect("spawn authmedia")
}

/// One recorded request: the request line and the headers, names in lower case.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP/1.1 server answering each request with `answer(request line)` (status,
/// headers, body) and recording what it saw. Runs until the test process ends.
fn serve(
    answer: impl Fn(&str) -> (u16, Vec<(String, String)>, String) + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            handle(stream, &answer, &log);
        }
    });
    (origin, seen)
}

fn handle(
    stream: TcpStream,
    answer: &impl Fn(&str) -> (u16, Vec<(String, String)>, String),
    log: &Mutex<Vec<Seen>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k, v.trim().to_owned()));
        }
    }
    let mut body = vec![0u8; length];
    let _ = std::io::Read::read_exact(&mut reader, &mut body);
    let line = line.trim_end().to_owned();
    log.lock().unwrap().push(Seen {
        line: line.clone(),
        headers,
    });
    let (status, extra, body) = answer(&line);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[test]
fn invalid_arguments_are_json_errors() {
    for (args, code) in [
        (&["not a url"][..], "invalid_url"),
        (&["ftp://example.org"], "invalid_scheme"),
        (
            &["http://127.0.0.1:1", "--origin", "app.example"],
            "invalid_origin",
        ),
        (
            &["http://127.0.0.1:1", "--mxc", "mxc://../config"],
            "invalid_server_name",
        ),
    ] {
        let o = probe(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["error"], code, "{args:?}: {v}");
    }
    // --upload needs a token; --mxc and --upload exclude each other.
    for args in [
        &["http://127.0.0.1:1", "--upload"][..],
        &[
            "http://127.0.0.1:1",
            "--token",
            "t",
            "--upload",
            "--mxc",
            "mxc://a/b",
        ],
    ] {
        let o = probe(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("usage:"));
    }
}

#[test]
fn unreachable_homeserver_fails_with_a_report() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let o = probe(&["http://127.0.0.1:1", "--json", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["checks"][0]["check"], "versions");
    assert_eq!(v["checks"][0]["level"], "fail");
    let table = probe(&["http://127.0.0.1:1", "--timeout", "5"]);
    assert_eq!(table.status.code(), Some(1));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("fail  versions"), "{text}");
    assert!(text.contains("NOT READY"), "{text}");
}

/// The homeserver redirects the download to another origin: the token must stay behind, the
/// redirected request carries `Origin: null` (as a browser's would), the target is asked a
/// preflight, and the token appears nowhere in the report.
#[test]
fn the_token_never_leaves_the_homeserver_origin() {
    let (cdn, cdn_seen) = serve(|line| {
        let mut headers = vec![h("access-control-allow-origin", "*")];
        if line.starts_with("OPTIONS") {
            headers.push(h("access-control-allow-headers", "authorization, range"));
            return (204, headers, String::new());
        }
        headers.push(h("content-type", "image/png"));
        (200, headers, "png".to_owned())
    });
    let target = format!("{cdn}/cdn/abc");
    let (hs, hs_seen) = serve(move |line| {
        let cors = || {
            vec![
                h("access-control-allow-origin", "*"),
                h("access-control-allow-headers", "Authorization"),
            ]
        };
        let json = |status: u16, body: &str| {
            let mut headers = cors();
            headers.push(h("content-type", "application/json"));
            (status, headers, body.to_owned())
        };
        if line.starts_with("OPTIONS") {
            return (204, cors(), String::new());
        }
        if line.contains("/versions") {
            return json(200, r#"{"versions":["v1.11"]}"#);
        }
        if line.contains("/_matrix/client/v1/media/download/") {
            let mut headers = cors();
            headers.push(h("location", &target));
            return (307, headers, String::new());
        }
        if line.contains("/media/config") {
            return json(200, r#"{"m.upload.size":1}"#);
        }
        json(404, r#"{"errcode":"M_NOT_FOUND"}"#)
    });
    let secret = "syt_secret_token_value";
    let o = Command::new(env!("CARGO_BIN_EXE_authmedia"))
        .args(["probe", &hs, "--mxc", "mxc://hs.test/abc", "--json"])
        .env("AUTHMEDIA_TOKEN", secret)
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.contains(secret), "the token is in the report");
    let v: Value = serde_json::from_str(&out).unwrap();
    let redirects = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "redirects")
        .unwrap();
    assert_eq!(redirects["level"], "ok", "{redirects}");

    let hs_seen = hs_seen.lock().unwrap().clone();
    let with_token: Vec<_> = hs_seen
        .iter()
        .filter(|s| s.header("authorization").is_some())
        .collect();
    assert!(
        with_token
            .iter()
            .all(|s| s.header("authorization") == Some(&format!("Bearer {secret}")[..])),
        "{with_token:?}"
    );
    assert!(
        with_token.iter().any(|s| s.line.contains("/download/")),
        "{hs_seen:?}"
    );
    // The token is never in a URL.
    assert!(hs_seen.iter().all(|s| !s.line.contains(secret)));

    let cdn_seen = cdn_seen.lock().unwrap().clone();
    let get = cdn_seen
        .iter()
        .find(|s| s.line.starts_with("GET /cdn/abc"))
        .expect("the redirect was followed");
    assert_eq!(
        get.header("authorization"),
        None,
        "token sent to another origin"
    );
    assert_eq!(get.header("origin"), Some("null"));
    let preflight = cdn_seen
        .iter()
        .find(|s| s.line.starts_with("OPTIONS /cdn/abc"))
        .expect("the target was preflighted");
    assert_eq!(
        preflight.header("access-control-request-headers"),
        Some("authorization,range")
    );
    assert!(cdn_seen
        .iter()
        .all(|s| s.header("authorization").is_none() && !s.line.contains(secret)));
}
