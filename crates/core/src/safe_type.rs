//! The content type media is shown with (the page's fallback blobs, the worker's decrypted
//! attachments): only media types a browser renders without running anything. Everything else (HTML, SVG, XML, scripts, PDFs, unknown) becomes
//! `application/octet-stream`, so opening the object URL downloads instead of rendering
//! attacker-controlled active content in the page's origin.

/// Types allowed as a viewable blob. Exact matches on the lower-cased essence (no parameters).
const SAFE_TYPES: &[&str] = &[
    "image/png",
    "image/apng",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/opus",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "audio/flac",
];

/// The fallback for anything not known to be safe.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Maps a `Content-Type` (or a declared mimetype) to the type the media may be shown with.
pub fn safe_content_type(content_type: Option<&str>) -> &'static str {
    let Some(ct) = content_type else {
        return OCTET_STREAM;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    SAFE_TYPES
        .iter()
        .find(|t| **t == essence)
        .copied()
        .unwrap_or(OCTET_STREAM)
}

#[cfg(test)]
mod tests {
    use super::*;
    // The same tests run natively and in browsers (wasm-pack test).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn keeps_images_and_video() {
        assert_eq!(safe_content_type(Some("image/png")), "image/png");
        assert_eq!(safe_content_type(Some("IMAGE/JPEG; foo=bar")), "image/jpeg");
        assert_eq!(safe_content_type(Some(" video/mp4 ")), "video/mp4");
    }

    #[test]
    fn neutralises_active_types() {
        for t in [
            "text/html",
            "text/html; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "text/javascript",
            "application/javascript",
            "application/ecmascript",
            "application/pdf",
            "multipart/x-mixed-replace",
            "",
            "image/svg+xml;x=image/png",
        ] {
            assert_eq!(safe_content_type(Some(t)), OCTET_STREAM, "{t}");
        }
        assert_eq!(safe_content_type(None), OCTET_STREAM);
    }
}
