//! Runs the `authmedia` binary: its commands, JSON shapes and exit statuses.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authmedia"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn authmedia");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Exit 0 with one JSON document on stdout.
fn ok_json(args: &[&str], stdin: Option<&str>) -> Value {
    let o = run_with_stdin(args, stdin);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// Exit 1 with `{"error": code, "message": …}` on stdout; returns the code.
fn invalid(args: &[&str], stdin: Option<&str>) -> String {
    let o = run_with_stdin(args, stdin);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stdout(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2, "{v}");
    assert!(!v["message"].as_str().unwrap().is_empty());
    v["error"].as_str().unwrap().to_owned()
}

/// Exit 2 with a usage message on stderr and nothing on stdout.
fn usage(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("usage:"), "{err}");
    err
}

#[test]
fn parse_valid_and_invalid() {
    assert_eq!(
        ok_json(&["parse", "mxc://example.org:8448/abc_D-9"], None),
        json!({"server_name": "example.org:8448", "media_id": "abc_D-9"})
    );
    assert_eq!(
        ok_json(&["parse", "mxc://[::1]/x"], None),
        json!({"server_name": "[::1]", "media_id": "x"})
    );
    assert_eq!(
        invalid(&["parse", "https://example.org/abc"], None),
        "invalid_scheme"
    );
    assert_eq!(
        invalid(&["parse", "mxc://../config"], None),
        "invalid_server_name"
    );
    assert_eq!(
        invalid(&["parse", "mxc://example.org/"], None),
        "empty_media_id"
    );
    assert_eq!(
        invalid(&["parse", "mxc://example.org:99999/abc"], None),
        "invalid_port"
    );
    let long = format!("mxc://{}/abc", "a".repeat(256));
    assert_eq!(invalid(&["parse", &long], None), "invalid_server_name");
    // A value that starts with "-" is still a positional after "--".
    assert_eq!(invalid(&["parse", "--", "-x"], None), "invalid_scheme");
}

#[test]
fn parse_usage_errors() {
    usage(&["parse"]);
    usage(&["parse", "mxc://a/b", "mxc://a/c"]);
    usage(&["parse", "--bogus", "x", "mxc://a/b"]);
    usage(&[]);
    usage(&["frobnicate"]);
}

#[test]
fn url_each_flavour_and_request() {
    let url = |args: &[&str]| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stdout(&o));
        stdout(&o).trim().to_owned()
    };
    assert_eq!(
        url(&[
            "url",
            "--homeserver",
            "https://example.org",
            "mxc://example.org/abc"
        ]),
        "https://example.org/_matrix/client/v1/media/download/example.org/abc"
    );
    assert_eq!(
        url(&["url", "--homeserver", "https://example.org/matrix/", "--api", "unstable", "--filename", "my cat.png", "mxc://example.org/abc"]),
        "https://example.org/matrix/_matrix/client/unstable/org.matrix.msc3916/media/download/example.org/abc/my%20cat.png"
    );
    assert_eq!(
        url(&[
            "url", "--homeserver=HTTPS://Example.org:443", "--api=legacy", "--thumbnail", "96x96", "--method", "crop",
            "--animated", "false", "--timeout-ms", "5000", "mxc://[::1]:8448/abc",
        ]),
        "https://example.org/_matrix/media/v3/thumbnail/%5B::1%5D:8448/abc?width=96&height=96&method=crop&animated=false&timeout_ms=5000"
    );
    // The CLI normalises user-typed URLs like a browser (case, dot segments).
    assert_eq!(
        url(&[
            "url",
            "--homeserver",
            "https://Example.ORG/a/../matrix",
            "mxc://x/y"
        ]),
        "https://example.org/matrix/_matrix/client/v1/media/download/x/y"
    );
}

#[test]
fn url_errors() {
    assert_eq!(
        invalid(
            &[
                "url",
                "--homeserver",
                "https://example.org",
                "mxc://ex ample/abc"
            ],
            None
        ),
        "invalid_server_name"
    );
    assert_eq!(
        invalid(
            &["url", "--homeserver", "ftp://example.org", "mxc://a/b"],
            None
        ),
        "invalid_scheme"
    );
    assert_eq!(
        invalid(&["url", "--homeserver", "example.org", "mxc://a/b"], None),
        "invalid_url"
    );
    assert_eq!(
        invalid(
            &[
                "url",
                "--homeserver",
                "https://u:p@example.org",
                "mxc://a/b"
            ],
            None
        ),
        "userinfo_not_allowed"
    );
    assert_eq!(
        invalid(
            &[
                "url",
                "--homeserver",
                "https://example.org/?x=1",
                "mxc://a/b"
            ],
            None
        ),
        "query_not_allowed"
    );
    usage(&["url", "mxc://a/b"]);
    usage(&["url", "--homeserver", "https://example.org"]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--api",
        "v2",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--thumbnail",
        "96",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--thumbnail",
        "0x96",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--method",
        "crop",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--thumbnail",
        "9x9",
        "--animated",
        "yes",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--timeout-ms",
        "-1",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://example.org",
        "--thumbnail",
        "9x9",
        "--filename",
        "f",
        "mxc://a/b",
    ]);
    usage(&[
        "url",
        "--homeserver",
        "https://a",
        "--homeserver",
        "https://b",
        "mxc://a/b",
    ]);
    usage(&["url", "--homeserver"]);
}

#[test]
fn negotiate_from_stdin() {
    let synapse =
        r#"{"versions":["r0.6.1","v1.10","v1.11","v1.15"],"unstable_features":{"x":true}}"#;
    assert_eq!(ok_json(&["negotiate"], Some(synapse)), json!({"api": "v1"}));
    assert_eq!(
        ok_json(
            &["negotiate"],
            Some(r#"{"versions":["v1.10"],"unstable_features":{"org.matrix.msc3916":true}}"#)
        ),
        json!({"api": "unstable"})
    );
    assert_eq!(
        ok_json(&["negotiate"], Some(r#"{"versions":["r0.6.1","v1.2"]}"#)),
        json!({"api": "legacy"})
    );
    assert_eq!(invalid(&["negotiate"], Some("<html>")), "invalid_json");
    assert_eq!(invalid(&["negotiate"], Some("")), "invalid_json");
    assert_eq!(
        invalid(&["negotiate"], Some(r#"{"unstable_features":{}}"#)),
        "invalid_versions"
    );
    usage(&["negotiate", "extra"]);
}

#[test]
fn classify_routes() {
    let c = |url: &str| {
        ok_json(
            &["classify", "--homeserver", "https://example.org/", url],
            None,
        )
    };
    assert_eq!(
        c("https://example.org/_matrix/client/v1/media/download/example.org/abc"),
        json!({"route": "authenticated", "upgraded": null})
    );
    assert_eq!(
        c("https://example.org/_matrix/client/unstable/org.matrix.msc3916/media/thumbnail/example.org/abc?width=1&height=1"),
        json!({"route": "unstable", "upgraded": null})
    );
    assert_eq!(
        c("https://example.org/_matrix/media/r0/thumbnail/example.org/abc?width=32&height=32&method=crop&allow_remote=true"),
        json!({"route": "legacy", "upgraded": "https://example.org/_matrix/client/v1/media/thumbnail/example.org/abc?width=32&height=32&method=crop"})
    );
    assert_eq!(
        c("https://example.org/_matrix/client/v1/media/config"),
        json!({"route": "other", "upgraded": null})
    );
    assert_eq!(
        c("https://evil.example/_matrix/client/v1/media/download/example.org/abc"),
        json!({"route": "other", "upgraded": null})
    );
    // User-typed URLs are normalised like a browser would before classification:
    // "/a/../" collapses, and "%2e%2e" as a whole segment is a dot segment too.
    assert_eq!(
        c("HTTPS://EXAMPLE.ORG:443/x/../_matrix/client/v1/media/download/example.org/abc"),
        json!({"route": "authenticated", "upgraded": null})
    );
    assert_eq!(
        c("https://example.org/_matrix/client/v1/media/download/%2e%2e/config"),
        json!({"route": "other", "upgraded": null})
    );
    assert_eq!(
        invalid(
            &[
                "classify",
                "--homeserver",
                "https://example.org",
                "not a url"
            ],
            None
        ),
        "invalid_url"
    );
    usage(&["classify", "https://example.org/"]);
    usage(&["classify", "--homeserver", "https://example.org"]);
}

#[test]
fn thumbnail_size_shapes() {
    let t = |w: &str, h: &str, d: &str, m: &str| {
        ok_json(
            &[
                "thumbnail-size",
                "--width",
                w,
                "--height",
                h,
                "--dpr",
                d,
                "--method",
                m,
            ],
            None,
        )
    };
    assert_eq!(
        t("48", "48", "2", "crop"),
        json!({"width": 96, "height": 96, "method": "crop"})
    );
    assert_eq!(
        t("300", "200", "1", "scale"),
        json!({"width": 320, "height": 240, "method": "scale"})
    );
    assert_eq!(
        t("1000", "10", "1.5", "scale"),
        json!({"width": 1500, "height": 15, "method": "scale"})
    );
    let args = |w: &'static str, d: &'static str| {
        [
            "thumbnail-size",
            "--width",
            w,
            "--height",
            "10",
            "--dpr",
            d,
            "--method",
            "crop",
        ]
    };
    assert_eq!(invalid(&args("-5", "1"), None), "invalid_dimension");
    assert_eq!(invalid(&args("NaN", "1"), None), "invalid_dimension");
    assert_eq!(invalid(&args("10", "0"), None), "invalid_dpr");
    usage(&args("ten", "1"));
    usage(&[
        "thumbnail-size",
        "--width",
        "1",
        "--height",
        "1",
        "--dpr",
        "1",
    ]);
    usage(&[
        "thumbnail-size",
        "--width",
        "1",
        "--height",
        "1",
        "--dpr",
        "1",
        "--method",
        "fill",
    ]);
}

#[test]
fn help_exits_zero() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("authmedia thumbnail-size"));
}

/// Every subcommand, for the help tests.
const SUBCOMMANDS: [&str; 8] = [
    "parse",
    "url",
    "negotiate",
    "classify",
    "thumbnail-size",
    "encrypt",
    "decrypt",
    "probe",
];

#[test]
fn help_on_the_tool_short_long_and_as_a_command() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(o.stderr.is_empty(), "{args:?}");
        let out = stdout(&o);
        assert!(out.contains("Usage: authmedia parse <mxc>"), "{out}");
        for sub in SUBCOMMANDS {
            assert!(out.contains(&format!("authmedia {sub}")), "{args:?}: {sub}");
        }
        assert!(out.contains("Exit status"), "{out}");
    }
}

#[test]
fn help_on_every_subcommand() {
    for sub in SUBCOMMANDS {
        for flag in ["--help", "-h"] {
            let o = run(&[sub, flag]);
            assert_eq!(o.status.code(), Some(0), "{sub} {flag}");
            assert!(o.stderr.is_empty(), "{sub} {flag}");
            let out = stdout(&o);
            assert!(out.contains(&format!("Usage: authmedia {sub}")), "{out}");
        }
        let o = run(&["help", sub]);
        assert_eq!(o.status.code(), Some(0), "help {sub}");
        assert!(stdout(&o).contains(&format!("Usage: authmedia {sub}")));
    }
    // The options of a subcommand are listed in its help.
    let url = stdout(&run(&["url", "--help"]));
    for opt in [
        "--homeserver",
        "--api",
        "--filename",
        "--thumbnail",
        "--method",
        "--animated",
        "--timeout-ms",
    ] {
        assert!(url.contains(opt), "{opt}: {url}");
    }
    // --help wins over missing required options.
    let o = run(&["thumbnail-size", "--width", "1", "--help"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn version() {
    for flag in ["--version", "-V"] {
        let o = run(&[flag]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            stdout(&o).trim(),
            format!("authmedia {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn usage_errors_name_the_option() {
    let err = usage(&["parse", "--bogus", "mxc://a/b"]);
    assert!(err.contains("'--bogus'"), "{err}");
    let err = usage(&[
        "url",
        "--homeserver",
        "https://a",
        "--api",
        "v2",
        "mxc://a/b",
    ]);
    assert!(err.contains("--api") && err.contains("'v2'"), "{err}");
    let err = usage(&[
        "url",
        "--homeserver",
        "https://a",
        "--thumbnail",
        "9",
        "mxc://a/b",
    ]);
    assert!(err.contains("--thumbnail"), "{err}");
    let err = usage(&["url", "mxc://a/b"]);
    assert!(err.contains("--homeserver"), "{err}");
    let err = usage(&["frobnicate"]);
    assert!(err.contains("'frobnicate'"), "{err}");
    // The usage shown is the subcommand's.
    let err = usage(&["classify", "--homeserver", "https://a"]);
    assert!(err.contains("usage: authmedia classify"), "{err}");
}

#[cfg(unix)]
mod non_utf8 {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    fn run_os(args: &[&OsStr]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_authmedia"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn authmedia")
    }

    fn bytes(b: &[u8]) -> &OsStr {
        OsStr::from_bytes(b)
    }

    /// The usual JSON error on `stream`, exit 1, nothing on the other stream.
    fn invalid_utf8(o: &Output, on_stderr: bool) -> String {
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        let (text, other) = if on_stderr {
            (&o.stderr, &o.stdout)
        } else {
            (&o.stdout, &o.stderr)
        };
        assert!(other.is_empty(), "{o:?}");
        let v: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
        assert_eq!(v["error"], "invalid_utf8");
        v["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn positional_is_a_json_error_not_a_panic() {
        let o = run_os(&[bytes(b"parse"), bytes(b"mxc://example.org/ab\xffc")]);
        let msg = invalid_utf8(&o, false);
        assert!(msg.contains("mxc://example.org/ab\u{FFFD}c"), "{msg}");
        let o = run_os(&[
            bytes(b"classify"),
            bytes(b"--homeserver"),
            bytes(b"https://a"),
            bytes(b"https://a/\xc3"),
        ]);
        invalid_utf8(&o, false);
    }

    #[test]
    fn option_value_names_the_option() {
        for args in [
            &[&b"url"[..], b"--homeserver", b"https://a\xff", b"mxc://a/b"][..],
            &[b"url", b"--homeserver=https://a\xff", b"mxc://a/b"],
        ] {
            let args: Vec<&OsStr> = args.iter().map(|a| bytes(a)).collect();
            let msg = invalid_utf8(&run_os(&args), false);
            assert!(msg.contains("--homeserver"), "{msg}");
        }
        // Typed values too: clap checks UTF-8 before the number.
        let o = run_os(&[
            bytes(b"thumbnail-size"),
            bytes(b"--width"),
            bytes(b"1\xff"),
            bytes(b"--height"),
            bytes(b"1"),
            bytes(b"--dpr"),
            bytes(b"1"),
            bytes(b"--method"),
            bytes(b"crop"),
        ]);
        assert!(invalid_utf8(&o, false).contains("--width"));
    }

    #[test]
    fn raw_byte_commands_report_on_stderr() {
        let o = run_os(&[
            bytes(b"encrypt"),
            bytes(b"--mimetype"),
            bytes(b"image/png\xff"),
        ]);
        invalid_utf8(&o, true);
        // A file name is a path, not text: any bytes are fine, the file just is not there.
        let o = run_os(&[
            bytes(b"decrypt"),
            bytes(b"--file"),
            bytes(b"/nonexistent/\xff"),
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty());
        let v: Value = serde_json::from_slice(&o.stderr).unwrap();
        assert_eq!(v["error"], "cannot_read_file");
    }
}
