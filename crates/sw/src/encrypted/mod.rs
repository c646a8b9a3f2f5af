//! Encrypted attachments served by the worker: `<scope>authmedia/encrypted/<id>`.
//!
//! Spec v1.11, "Sending encrypted attachments"
//! (<https://spec.matrix.org/v1.11/client-server-api/#sending-encrypted-attachments>).
//!
//! The page registers `{id → EncryptedFile, mimetype}` (`authmedia:encrypted`; the id is random,
//! never the key) and gets back a same-origin URL under the worker's scope. This module finds the
//! tab's session and the registered file; the media handler does the rest, as for any media
//! (`media::serve` with a `media::Decrypt`: the same token path, refresh, retries, stall timeout
//! and `M_UNRECOGNIZED` logic, the same single-flight and store): it downloads the ciphertext with
//! the tab's session into a `Blob` (at most the store's budget), hands it with the registered file
//! to the decryption module, and only once that module found the SHA-256 of the whole ciphertext
//! matching answers with the plaintext under a safe content type, `no-store`. A mismatch
//! (tampered or truncated ciphertext) is a JSON error (`AUTHMEDIA_HASH_MISMATCH`), never partial content; a homeserver's error
//! answer to the download is replayed as for other media (its status, `errcode` and
//! `authmedia-code`).
//!
//! The decryption module (`crates/sw-crypto`: the file's validation, WebCrypto's SHA-256 and
//! AES-CTR, the core's constant-time check) is not part of this wasm: the entry script fetches
//! and instantiates it on the first encrypted request and passes it in as the `decrypt` function
//! of the worker's options (`decrypt(fileJson, ciphertextBlob) → Promise<ArrayBuffer>`, rejecting with
//! the JSON error shape: a refusal, or 503 `AUTHMEDIA_DECRYPTOR_UNAVAILABLE` / `wasm_load_failed`
//! when it could not be loaded — the next request tries again). It gets the ciphertext's bytes and the file, never the token: the
//! download stays on this wasm's one token-setting path.
//!
//! The verified plaintext is kept in the worker's media store ([`crate::store`], keyed by the
//! session's principal — see [`crate::sessions`] — and `authmedia/encrypted/<id>`, same budget
//! and LRU), so the `Range` requests of a `<video>` are answered as `206` from it without
//! downloading or decrypting again; concurrent requests share one download (one flight).
//!
//! Keys live in worker memory only, per session: `authmedia:logout` drops the session's registrations
//! and the store's decrypted copies. After a worker restart the registry is empty; a request for an
//! unknown id asks the requesting tab (`authmedia:need-encrypted {id}`, bounded wait), which answers
//! with the file it still holds — so URLs already in the page keep working.

use authmedia_js::protocol;

use authmedia_core::{push_decimal, MediaMatch, MediaRequest, MxcUri, Route};
use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::{Request, Response};

use crate::asks::{session_of, shared_task};
use crate::media::{self, Decrypt};
use crate::net;
use crate::registry::{Attachment, Registered};
use crate::sessions::Session;
use crate::settle::promise;
use crate::state::Shared;
use crate::stats::bump;
use crate::{js, tab};

/// The path under the worker's scope that the worker serves.
pub const PATH: &str = "authmedia/encrypted/";
/// Whether `id` is an id this module hands out URLs for (UUID-like, URL-safe, short).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The id in a request URL `…/authmedia/encrypted/<id>[?…][#…]`, if it is one.
pub fn id_of(url: &str) -> Option<&str> {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = url.get(..end)?;
    // The last segment, under `PATH` (an id has no `/`).
    let (_, id) = path.rsplit_once('/')?;
    let under = path.get(..path.len().saturating_sub(id.len()))?;
    (valid_id(id) && under.ends_with(PATH)).then_some(id)
}

/// The URL of `id` under the worker's scope.
fn url_of(id: &str) -> String {
    let registration = js::get(&js_sys::global(), "registration");
    let scope = js::string(&registration, "scope").unwrap_or_else(|| "/".to_owned());
    [&scope, PATH, id].concat()
}

/// The largest `EncryptedFile` a tab may register, as JSON text.
const MAX_FILE_JSON: usize = 4096;

/// An `EncryptedFile` sent by a tab (a plain object): its `url`, parsed, and the whole file as
/// JSON text for the decryption module, which validates the rest (the page validated it before
/// sending; a file it would refuse is answered with the refusal when it is requested).
fn attachment_of(file: &JsValue) -> Result<Attachment, String> {
    if !file.is_object() || Array::is_array(file) {
        return Err("invalid EncryptedFile: not an object".to_owned());
    }
    let url = js::string(file, "url").unwrap_or_default();
    // The reason as the core's code (`invalid_scheme`…): its texts are not linked into this wasm.
    let url =
        MxcUri::parse(&url).map_err(|e| ["invalid EncryptedFile url: ", e.code()].concat())?;
    let json = js_sys::JSON::stringify(file)
        .ok()
        .and_then(|text| text.as_string())
        .ok_or_else(|| "invalid EncryptedFile: not JSON".to_owned())?;
    // Kept as text until it is requested: bounded, so that registrations cannot fill the
    // worker's memory (a real file is a few hundred bytes).
    if json.len() > MAX_FILE_JSON {
        let mut error = String::from("invalid EncryptedFile: ");
        push_decimal(&mut error, json.len() as u64);
        error.push_str(" bytes as JSON, more than ");
        push_decimal(&mut error, MAX_FILE_JSON as u64);
        return Err(error);
    }
    Ok(Attachment { url, json })
}

/// `authmedia:encrypted {id, file, mimetype?}` from a tab with a session → `{ok, url}`.
pub(crate) fn register(shared: &Shared, data: &JsValue, client_id: &str) -> Result<String, String> {
    let Some(id) = js::string(data, "id").filter(|id| valid_id(id)) else {
        return Err("id must be 1-64 characters of [A-Za-z0-9_-]".to_owned());
    };
    let file = attachment_of(&js::get(data, "file"))?;
    let mimetype = js::string(data, "mimetype");
    let mut state = shared.borrow_mut();
    let Some(user_id) = state.sessions.session(client_id).map(Session::key) else {
        return Err("this tab has no session".to_owned());
    };
    state.encrypted.insert(&user_id, &id, file, mimetype);
    Ok(url_of(&id))
}

// ----- the fetch path -------------------------------------------------------------------------

/// A JSON error answer of this path, counted as refused (`errcode` `M_NOT_FOUND`,
/// `M_MISSING_TOKEN`).
fn refusal(shared: &Shared, status: u16, errcode: &str, code: &str, message: &str) -> Response {
    bump(&mut shared.borrow_mut().stats.refused);
    net::error_response(status, errcode, code, message)
}

/// The answer to a navigation (or another non-media destination) under the encrypted prefix,
/// should one reach the worker: nothing is decrypted into a document.
pub(crate) fn not_media_request() -> Response {
    net::error_response(
        400,
        "M_UNKNOWN",
        "not_media_request",
        "authmedia service worker: encrypted attachments are served to media elements and fetch() only",
    )
}

/// Answers a request for `<scope>authmedia/encrypted/<id>`; never rejects. What goes wrong after
/// the download is counted by the media handler, as for other media.
pub(crate) async fn respond(shared: &Shared, request: &Request, client_id: &str) -> Response {
    let url = request.url();
    let Some(id) = id_of(&url).map(str::to_owned) else {
        return refusal(
            shared,
            404,
            "M_NOT_FOUND",
            "not_found",
            "not an encrypted attachment URL",
        );
    };
    // No session (logged out, or a tab that never had one): nothing is decrypted for it.
    let Some(session) = session_of(shared, client_id).await else {
        return refusal(
            shared,
            401,
            "M_MISSING_TOKEN",
            "no_session",
            "authmedia service worker: this tab has no session",
        );
    };
    let entry = shared.borrow().encrypted.get(&session.key(), &id);
    let entry = match entry {
        Some(e) => Some(e),
        None => ask_tab(shared, client_id, &session, &id).await,
    };
    let Some(entry) = entry else {
        return refusal(
            shared,
            404,
            "M_NOT_FOUND",
            "not_found",
            "authmedia service worker: unknown encrypted attachment (call srcEncrypted again)",
        );
    };
    let range = request.headers().get("range").ok().flatten();
    // Downloaded as a legacy URL would be: the endpoint is the one negotiated for the homeserver.
    // The media handler downloads it with the session's token (the gate, refresh, retries, the
    // stall timeout, `M_UNRECOGNIZED`), has it verified and decrypted, keeps the plaintext and
    // answers the range asked for from it, `nosniff`/`sandbox`/`no-store` as every media answer.
    let m = MediaMatch {
        route: Route::Legacy,
        homeserver: 0,
        mxc: entry.url,
        request: MediaRequest::Download { filename: None },
        timeout_ms: None,
        upgraded: None,
        legacy_alias: None,
    };
    let decrypt = Decrypt {
        // The registration's generation too: the same id registered again with another file
        // must not be answered from the earlier file's plaintext.
        key: {
            let mut key = [PATH, &id, "#"].concat();
            authmedia_core::push_decimal(&mut key, entry.generation);
            key
        },
        file: entry.file,
        content_type: authmedia_core::safe_content_type(entry.mimetype.as_deref()),
    };
    // Delivered only to a tab that still has the session it was fetched for (`media::serve`).
    media::serve(
        shared,
        request,
        client_id,
        &session,
        m,
        range,
        Some(&decrypt),
    )
    .await
}

/// After a restart: asks the tab for the file behind `id` (bounded wait, shared).
async fn ask_tab(
    shared: &Shared,
    client_id: &str,
    session: &Session,
    id: &str,
) -> Option<Registered> {
    let owned = (
        shared.clone(),
        client_id.to_owned(),
        session.key(),
        id.to_owned(),
    );
    shared_task(
        shared,
        ["need-encrypted:", client_id, "\n", id].concat(),
        move || {
            promise(Box::pin(async move {
                let (shared, client_id, user_id, id) = owned;
                let timeout = shared.borrow().config.ask_timeout_ms;
                let question =
                    tab::message(protocol::NEED_ENCRYPTED, &[("id", &id.as_str().into())]);
                let Some(answer) = tab::ask(&client_id, &question, timeout).await else {
                    return Ok(JsValue::UNDEFINED);
                };
                if let Ok(file) = attachment_of(&js::get(&answer, "file")) {
                    let mimetype = js::string(&answer, "mimetype");
                    shared
                        .borrow_mut()
                        .encrypted
                        .insert(&user_id, &id, file, mimetype);
                }
                Ok(JsValue::UNDEFINED)
            }))
        },
    )
    .await;
    let found = shared.borrow().encrypted.get(&session.key(), id);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_path_only() {
        let base = "https://app.example/authmedia/encrypted/";
        assert_eq!(id_of(&format!("{base}abc-123")), Some("abc-123"));
        assert_eq!(id_of(&format!("{base}abc?x=1#y")), Some("abc"));
        assert_eq!(id_of(base), None);
        assert_eq!(id_of(&format!("{base}a/b")), None);
        assert_eq!(id_of(&format!("{base}%2e%2e")), None);
        assert_eq!(id_of(&format!("{base}{}", "a".repeat(65))), None);
        assert_eq!(id_of("https://app.example/other/abc"), None);
    }

    #[test]
    fn unsafe_types_become_octet_stream() {
        assert_eq!(
            authmedia_core::safe_content_type(Some("image/png")),
            "image/png"
        );
        assert_eq!(
            authmedia_core::safe_content_type(Some("Video/MP4; codecs=avc1")),
            "video/mp4"
        );
        for t in [
            "text/html",
            "image/svg+xml",
            "application/xml",
            "text/javascript",
            "",
        ] {
            assert_eq!(
                authmedia_core::safe_content_type(Some(t)),
                "application/octet-stream",
                "{t}"
            );
        }
        assert_eq!(
            authmedia_core::safe_content_type(None),
            "application/octet-stream"
        );
    }
}
