//! The checks of what the homeserver serves: `/versions`, the authenticated endpoints with
//! and without the token, and the legacy endpoints (the freeze).

use super::{no_media, read_versions, served, skip, verdict, Level, Observations, Verdict};
use crate::endpoint::Api;
use crate::versions::{negotiate, parse_spec_version, MSC3916, MSC3916_STABLE};

pub(super) fn versions(o: &Observations) -> Verdict {
    const C: &str = "versions";
    let Some(e) = &o.versions else {
        return skip(C, "not run");
    };
    let mut ev = vec![e.line()];
    let fix_url = Some(
        "Give the client-server API base URL (what clients use, e.g. https://matrix.example.org) \
         and check that it is reachable.",
    );
    if e.status != Some(200) {
        return verdict(C, Level::Fail, "/versions is not served", ev, fix_url);
    }
    let Some(v) = read_versions(e) else {
        return verdict(
            C,
            Level::Fail,
            "/versions is not a versions object",
            ev,
            fix_url,
        );
    };
    let newest = v
        .versions
        .iter()
        .filter_map(|s| parse_spec_version(s).map(|n| (n, s)))
        .max()
        .map(|(_, s)| s.as_str())
        .unwrap_or("none");
    ev.push(format!(
        "  newest spec version: {newest}; {MSC3916}: {}; {MSC3916_STABLE}: {}",
        v.feature(MSC3916),
        v.feature(MSC3916_STABLE)
    ));
    match negotiate(&v) {
        Api::V1 => verdict(
            C,
            Level::Ok,
            "authenticated media advertised: the SDK uses /_matrix/client/v1/media",
            ev,
            None,
        ),
        Api::Unstable => verdict(
            C,
            Level::Warn,
            "only MSC3916's unstable prefix is advertised: the SDK uses it",
            ev,
            Some(
                "Upgrade the homeserver to one that serves spec v1.11 (/_matrix/client/v1/media).",
            ),
        ),
        Api::Legacy => verdict(
            C,
            Level::Fail,
            "no authenticated media advertised: clients use the legacy endpoints, which stop \
             serving new media once servers freeze them",
            ev,
            Some(
                "Upgrade the homeserver to one that serves spec v1.11 (/_matrix/client/v1/media).",
            ),
        ),
    }
}

pub(super) fn media_config(o: &Observations) -> Verdict {
    const C: &str = "media_config";
    let Some(e) = &o.media_config else {
        return skip(C, "not run: needs --token");
    };
    let ev = vec![e.line()];
    match e.status {
        Some(200) => {
            let size = e
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("m.upload.size").and_then(|s| s.as_u64()));
            let summary = match size {
                Some(n) => format!("served with the token (m.upload.size: {n} bytes)"),
                None => "served with the token".to_owned(),
            };
            verdict(C, Level::Ok, summary, ev, None)
        }
        Some(401) => verdict(
            C,
            Level::Fail,
            "the token was refused",
            ev,
            Some("Pass a valid access token of this homeserver (--token or AUTHMEDIA_TOKEN)."),
        ),
        Some(404 | 405) => verdict(
            C,
            Level::Fail,
            "the authenticated media endpoints are not served",
            ev,
            Some(
                "Upgrade the homeserver, and let the reverse proxy pass /_matrix/client/v1/media/.",
            ),
        ),
        _ => verdict(
            C,
            Level::Fail,
            "unexpected answer",
            ev,
            Some(
                "Check that the reverse proxy passes /_matrix/client/v1/media/ to the homeserver.",
            ),
        ),
    }
}

pub(super) fn upload(o: &Observations) -> Verdict {
    const C: &str = "upload";
    let Some(e) = &o.upload else {
        return skip(C, "not run (opt-in: --upload)");
    };
    let ev = vec![e.line()];
    match (e.status, &o.media) {
        (Some(200), Some(mxc)) => verdict(C, Level::Ok, format!("uploaded {mxc}"), ev, None),
        _ => verdict(
            C,
            Level::Fail,
            "the upload failed",
            ev,
            Some("Check the token and the server's upload limits, or probe with --mxc."),
        ),
    }
}

pub(super) fn download(o: &Observations) -> Verdict {
    const C: &str = "download";
    let Some(e) = &o.download else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![e.line()];
    ev.extend(e.show(&["content-type", "content-length"]));
    match e.status {
        Some(200) => verdict(C, Level::Ok, "served with the token", ev, None),
        Some(401) => verdict(
            C,
            Level::Fail,
            "the token was refused",
            ev,
            Some("Pass a valid access token of this homeserver."),
        ),
        Some(404) => verdict(
            C,
            Level::Fail,
            "not found",
            ev,
            Some("Check --mxc (local media of this homeserver), or probe with --upload."),
        ),
        _ => verdict(
            C,
            Level::Fail,
            "not served",
            ev,
            Some("Check the homeserver's media repository and the reverse proxy in front of it."),
        ),
    }
}

pub(super) fn thumbnail(o: &Observations) -> Verdict {
    const C: &str = "thumbnail";
    let Some(e) = &o.thumbnail else {
        return skip(C, no_media(o));
    };
    let mut ev = vec![e.line()];
    ev.extend(e.show(&["content-type"]));
    let image = e
        .header("content-type")
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("image/"));
    match e.status {
        Some(200) if image => verdict(C, Level::Ok, "served with the token", ev, None),
        Some(400 | 413) => verdict(
            C,
            Level::Warn,
            "no thumbnail for this media",
            ev,
            Some("Probe with an image (--upload sends a PNG) to check thumbnails."),
        ),
        _ => verdict(
            C,
            Level::Fail,
            "not served",
            ev,
            Some("Check that thumbnails are enabled (Synapse: dynamic_thumbnails or thumbnail_sizes)."),
        ),
    }
}

pub(super) fn tokenless(o: &Observations) -> Verdict {
    const C: &str = "tokenless";
    let Some(e) = &o.tokenless else {
        return skip(C, "not run");
    };
    let ev = vec![e.line()];
    match e.status {
        Some(401 | 403) => verdict(C, Level::Ok, "refused without a token", ev, None),
        Some(200) => verdict(
            C,
            Level::Fail,
            "served without a token: authenticated media is not authenticated",
            ev,
            Some("Require an access token on /_matrix/client/v1/media (check the reverse proxy's caching)."),
        ),
        _ => verdict(
            C,
            Level::Warn,
            "unexpected answer without a token",
            ev,
            Some("Expect 401 M_MISSING_TOKEN here: check what answers in front of the homeserver."),
        ),
    }
}

pub(super) fn freeze(o: &Observations) -> Verdict {
    const C: &str = "freeze";
    let Some(e) = &o.legacy else {
        return skip(C, no_media(o));
    };
    let ev = vec![e.line()];
    let on_v1 = served(o).is_some();
    match e.status {
        Some(404) if on_v1 => verdict(
            C,
            Level::Ok,
            "frozen: the legacy endpoints no longer serve this media (clients must use \
             authenticated media; the SDK's worker upgrades legacy URLs)",
            ev,
            None,
        ),
        Some(401 | 403) => verdict(
            C,
            Level::Ok,
            "the legacy endpoints refuse requests without a token",
            ev,
            None,
        ),
        Some(200) => verdict(
            C,
            Level::Warn,
            "not frozen: this media is served without a token on /_matrix/media/v3 (media \
             uploaded before a freeze stays there)",
            ev,
            Some(
                "Freeze the legacy endpoints once clients are ready (Synapse: \
                 enable_authenticated_media: true); probe with --upload to test new media.",
            ),
        ),
        _ => verdict(
            C,
            Level::Warn,
            "cannot tell: the media is not served on the authenticated endpoint either",
            ev,
            Some("Probe with media the homeserver serves (--upload)."),
        ),
    }
}
