//! The checks of how media reaches a browser: CORS from the app's origin, `Range`, caching,
//! redirects and the headers that protect users who open media directly.

use super::{no_media, origin_of, served, skip, verdict, Level, Observations, Verdict};

/// Whether `allow_origin` lets `origin` read the answer.
fn origin_allowed(allow_origin: Option<&str>, origin: &str) -> bool {
    allow_origin.is_some_and(|a| a.trim() == "*" || a.trim() == origin)
}

pub(super) fn cors(o: &Observations) -> Verdict {
    const C: &str = "cors";
    let Some(e) = &o.preflight else {
        return skip(C, "not run");
    };
    let mut ev = vec![format!(
        "{} (Origin: {}{})",
        e.line(),
        o.origin,
        if o.origin_given {
            ""
        } else {
            ", a stand-in: pass --origin"
        }
    )];
    ev.extend(e.show(&[
        "access-control-allow-origin",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-max-age",
    ]));
    let advice = Some(
        "Answer OPTIONS on /_matrix/ with 2xx, Access-Control-Allow-Origin: * (or the app's \
         origin) and Access-Control-Allow-Headers listing Authorization (the spec's list: \
         X-Requested-With, Content-Type, Authorization).",
    );
    if !matches!(e.status, Some(200..=299)) {
        return verdict(
            C,
            Level::Fail,
            "the preflight was not answered with 2xx",
            ev,
            advice,
        );
    }
    let allow_origin = e.header("access-control-allow-origin");
    if !origin_allowed(allow_origin, &o.origin) {
        return verdict(
            C,
            Level::Fail,
            format!("the preflight does not allow the origin {}", o.origin),
            ev,
            advice,
        );
    }
    let allowed = e.tokens("access-control-allow-headers");
    if !allowed.iter().any(|h| h == "authorization") {
        let summary = if allowed.iter().any(|h| h == "*") {
            "the preflight allows \"*\", which does not cover Authorization"
        } else {
            "the preflight does not allow the Authorization header: every authenticated \
             request from the page or the worker fails"
        };
        return verdict(C, Level::Fail, summary, ev, advice);
    }
    // The real answer must carry CORS headers too, or the browser drops it after the preflight.
    if let Some(d) = served(o) {
        ev.push(format!("{} (with Origin)", d.line()));
        ev.extend(d.show(&[
            "access-control-allow-origin",
            "access-control-expose-headers",
        ]));
        if !origin_allowed(d.header("access-control-allow-origin"), &o.origin) {
            return verdict(
                C,
                Level::Fail,
                "the media answer lacks a matching Access-Control-Allow-Origin: browsers drop it",
                ev,
                advice,
            );
        }
        let exposed = d.tokens("access-control-expose-headers");
        ev.push(if exposed.iter().any(|h| h == "retry-after" || h == "*") {
            "  Retry-After is readable by the page".to_owned()
        } else {
            "  Retry-After is not exposed: the SDK reads retry_after_ms from the 429 body instead"
                .to_owned()
        });
    }
    ev.push(if allowed.iter().any(|h| h == "range") {
        "  Range is allowed".to_owned()
    } else {
        "  Range is not listed: the Fetch standard sends a simple range (bytes=N- or \
         bytes=N-M, what <video> asks) without a preflight; other ranges need it"
            .to_owned()
    });
    if e.header("access-control-max-age").is_none() {
        ev.push(
            "  no Access-Control-Max-Age: browsers keep a preflight for seconds only".to_owned(),
        );
    }
    if allow_origin.is_some_and(|a| a.trim() != "*")
        && !e.tokens("vary").iter().any(|v| v == "origin" || v == "*")
    {
        return verdict(
            C,
            Level::Warn,
            "allows this origin by name without Vary: Origin: a cache may give another origin \
             this answer",
            ev,
            Some("Add Vary: Origin to answers whose Access-Control-Allow-Origin names the origin."),
        );
    }
    verdict(
        C,
        Level::Ok,
        "Authorization allowed from this origin",
        ev,
        None,
    )
}

pub(super) fn range(o: &Observations) -> Verdict {
    const C: &str = "range";
    let Some(e) = &o.range else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![format!("{} (Range: bytes=0-0)", e.line())];
    ev.extend(e.show(&["content-range", "accept-ranges", "content-length"]));
    match e.status {
        Some(206) if e.header("content-range").is_some() => {
            verdict(C, Level::Ok, "Range honoured (206)", ev, None)
        }
        Some(200) => verdict(
            C,
            Level::Warn,
            "Range ignored (200, the whole body): video relies on the SDK's worker, which answers \
             206 from the whole body (without it WebKit refuses such video, and large files are \
             downloaded whole)",
            ev,
            Some("Serve Range on media (most reverse proxies and CDNs can), or keep the worker."),
        ),
        _ => verdict(
            C,
            Level::Warn,
            "unexpected answer to a Range request",
            ev,
            Some("Answer Range with 206 (or ignore it with 200); the worker copes with both."),
        ),
    }
}

pub(super) fn caching(o: &Observations) -> Verdict {
    const C: &str = "caching";
    let Some(d) = served(o) else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![d.line()];
    ev.extend(d.show(&["cache-control", "vary"]));
    let directives: Vec<String> = d
        .tokens("cache-control")
        .into_iter()
        .map(|t| t.split('=').next().unwrap_or("").trim().to_owned())
        .collect();
    let has = |name: &str| directives.iter().any(|t| t == name);
    let s_maxage_zero = d.tokens("cache-control").iter().any(|t| {
        t.split_once('=')
            .is_some_and(|(k, v)| k.trim() == "s-maxage" && v.trim().trim_matches('"') == "0")
    });
    let varies = d
        .tokens("vary")
        .iter()
        .any(|v| v == "authorization" || v == "*");
    if has("private") || has("no-store") {
        return verdict(
            C,
            Level::Ok,
            "private: shared caches do not keep it",
            ev,
            None,
        );
    }
    // A shared cache may store an answer to a request with Authorization only when it is
    // marked public, s-maxage or must-revalidate (RFC 9111, section 3.5).
    let shared = has("public") || has("s-maxage") || has("must-revalidate");
    // A shared cache that must revalidate every use asks the origin with the new request's
    // Authorization, so it never hands one user's copy to another.
    let revalidates =
        has("no-cache") || (s_maxage_zero && (has("proxy-revalidate") || has("must-revalidate")));
    if shared && revalidates && !varies {
        return verdict(
            C,
            Level::Ok,
            "shared caches may keep it but must revalidate every use with the homeserver",
            ev,
            None,
        );
    }
    if shared && !varies {
        return verdict(
            C,
            Level::Warn,
            "cacheable by shared caches without Vary: Authorization: a CDN or reverse proxy \
             may serve one user's media to another, or to a request without a token",
            ev,
            Some("Add Vary: Authorization to media answers, or send Cache-Control: private."),
        );
    }
    let summary = if shared {
        "cacheable, and varies on Authorization"
    } else {
        "shared caches do not keep answers to authenticated requests"
    };
    verdict(C, Level::Ok, summary, ev, None)
}

pub(super) fn redirects(o: &Observations) -> Verdict {
    const C: &str = "redirects";
    let Some(d) = &o.download else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![d.line()];
    for r in &d.redirects {
        ev.push(format!("  {} → {}", r.status, r.to));
    }
    if let Some(l) = &o.legacy_redirect {
        ev.push(l.line());
        if let Some(to) = l.header("location") {
            ev.push(format!("  location: {to}"));
        }
    }
    let home = origin_of(&o.homeserver);
    let Some(away) = d.redirects.iter().find(|r| origin_of(&r.to) != home) else {
        let summary = if d.redirects.is_empty() {
            "served directly, no redirect"
        } else {
            "redirected within the homeserver's origin"
        };
        let level = if served(o).is_some() {
            Level::Ok
        } else {
            Level::Skip
        };
        return verdict(C, level, summary, ev, None);
    };
    let target = origin_of(&away.to).unwrap_or(&away.to);
    // After a cross-origin redirect the browser's request carries `Origin: null`, so the
    // target must allow `*` or `null`; the app's own origin is never what it is asked about.
    const TAINTED: &str = "null";
    if d.status != Some(200) {
        return verdict(
            C,
            Level::Fail,
            format!(
                "redirected to {target}, which does not serve it: browsers drop Authorization \
                 on a cross-origin redirect"
            ),
            ev,
            Some("Make the redirect target serve the media without the token (a signed URL)."),
        );
    }
    if !origin_allowed(d.header("access-control-allow-origin"), TAINTED) {
        return verdict(
            C,
            Level::Fail,
            format!(
                "the redirect target {target} allows neither * nor null in \
                 Access-Control-Allow-Origin (the redirected request's Origin is null)"
            ),
            ev,
            Some("Send Access-Control-Allow-Origin: * from the redirect target."),
        );
    }
    let preflight_ok = o.redirect_preflight.as_ref().is_some_and(|p| {
        matches!(p.status, Some(200..=299))
            && origin_allowed(p.header("access-control-allow-origin"), TAINTED)
            && p.tokens("access-control-allow-headers")
                .iter()
                .any(|h| h == "authorization")
    });
    if let Some(p) = &o.redirect_preflight {
        ev.push(p.line());
        ev.extend(p.show(&[
            "access-control-allow-origin",
            "access-control-allow-headers",
        ]));
    }
    if !preflight_ok {
        return verdict(
            C,
            Level::Warn,
            format!(
                "redirected to {target}, whose preflight does not allow Authorization: engines \
                 that preflight the redirected request (WebKit) fail"
            ),
            ev,
            Some("Let the redirect target answer OPTIONS allowing the Authorization header."),
        );
    }
    verdict(
        C,
        Level::Ok,
        format!(
            "redirected to {target}, which serves it without the token and allows the preflight"
        ),
        ev,
        None,
    )
}

pub(super) fn headers(o: &Observations) -> Verdict {
    const C: &str = "headers";
    let Some(d) = served(o) else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![d.line()];
    ev.extend(d.show(&[
        "content-disposition",
        "content-security-policy",
        "x-content-type-options",
    ]));
    let mut missing = Vec::new();
    if d.header("content-disposition").is_none() {
        missing.push("Content-Disposition");
    }
    let csp = d
        .header("content-security-policy")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !csp.split(';').any(|p| p.trim().starts_with("sandbox")) {
        missing.push("Content-Security-Policy: sandbox");
    }
    let nosniff = d
        .header("x-content-type-options")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff"));
    if missing.is_empty() {
        let summary = if nosniff {
            "media is served with its protective headers"
        } else {
            "Content-Disposition and a CSP sandbox (no X-Content-Type-Options: nosniff; the \
             sandbox keeps sniffed content from running scripts)"
        };
        return verdict(C, Level::Ok, summary, ev, None);
    }
    if !nosniff {
        missing.push("X-Content-Type-Options: nosniff");
    }
    verdict(
        C,
        Level::Warn,
        format!(
            "missing {}: media opened directly could run as a page of the homeserver's origin",
            missing.join(", ")
        ),
        ev,
        Some(
            "Serve media with Content-Disposition, Content-Security-Policy: sandbox; \
             default-src 'none' and X-Content-Type-Options: nosniff.",
        ),
    )
}
