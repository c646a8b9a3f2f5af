//! A homeserver's client-server API base URL: origin plus an optional path prefix.
//!
//! The input is expected in the form a browser's URL parser (or the `url` crate)
//! produces: `https://example.org/`, `https://example.org:8448/matrix/`. This module
//! does not re-implement URL parsing; it accepts that normalised form (plus the few
//! harmless differences a human types: upper-case scheme or host, a default port,
//! a missing or repeated trailing slash) and rejects everything else, so that
//! [`Homeserver::base`] can be compared byte for byte with `Request.url` in
//! [`crate::classify()`]. See the "Client-server API" base URL rules,
//! <https://spec.matrix.org/v1.11/client-server-api/#api-standards>.
//!
//! Not re-done here (pass the output of `new URL(…).href` or `url::Url` instead): IDNA,
//! IPv4 shorthands (`127.1`), IPv6 compression (`[0:0::1]` → `[::1]`), escaping. Such
//! hosts are either rejected or kept as given, and then simply never match a request.

use core::fmt;

/// Why a string is not a usable homeserver base URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HomeserverError {
    /// Not an absolute `http://` or `https://` URL.
    #[error("homeserver URL must be an absolute http:// or https:// URL")]
    InvalidScheme,
    /// Nothing between `//` and the path.
    #[error("homeserver URL has an empty host")]
    EmptyHost,
    /// The host holds characters a normalised URL host cannot hold.
    #[error("homeserver URL has an invalid host (expected an ASCII name, IPv4 or [IPv6])")]
    InvalidHost,
    /// The port is not a decimal number in 1..=65535.
    #[error("homeserver URL has an invalid port")]
    InvalidPort,
    /// `user:password@` in the authority.
    #[error("homeserver URL must not contain user info")]
    UserInfo,
    /// A `?query`.
    #[error("homeserver URL must not contain a query")]
    Query,
    /// A `#fragment`.
    #[error("homeserver URL must not contain a fragment")]
    Fragment,
    /// The path prefix holds dot segments or characters a browser would escape.
    #[error("homeserver URL path prefix is not in normalised form")]
    InvalidPath,
}

impl HomeserverError {
    /// A stable snake_case code for scripts and JavaScript callers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidScheme => "invalid_scheme",
            Self::EmptyHost => "empty_host",
            Self::InvalidHost => "invalid_host",
            Self::InvalidPort => "invalid_port",
            Self::UserInfo => "userinfo_not_allowed",
            Self::Query => "query_not_allowed",
            Self::Fragment => "fragment_not_allowed",
            Self::InvalidPath => "invalid_path",
        }
    }
}

/// A validated homeserver base URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Homeserver {
    /// `scheme://host[:port][/prefix]`, no trailing slash.
    base: String,
    /// Byte length of the origin part of `base` (ASCII, so a char boundary).
    origin_len: usize,
}

impl Homeserver {
    /// Parses and normalises a base URL; a path prefix is kept without its trailing slash.
    pub fn parse(base: &str) -> Result<Self, HomeserverError> {
        let (scheme, rest) = split_scheme(base)?;
        if let Some((_, _)) = rest.split_once('#') {
            return Err(HomeserverError::Fragment);
        }
        if rest.contains('?') {
            return Err(HomeserverError::Query);
        }
        let (authority, path) = match rest.find('/') {
            // `i` is the index of a `/`, a char boundary; the checked split keeps the panic
            // path (and its formatting) out of the wasm binaries.
            Some(i) => rest.split_at_checked(i).unwrap_or((rest, "")),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(HomeserverError::UserInfo);
        }
        let (host, port) = split_authority(authority)?;
        let host = normalise_host(host)?;
        let port = match port {
            None => None,
            Some(p) => parse_port(p, scheme)?,
        };
        let mut out = String::with_capacity(base.len());
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(&host);
        if let Some(p) = port {
            out.push(':');
            crate::decimal::push_decimal(&mut out, p.into());
        }
        let origin_len = out.len();
        let prefix = path.trim_end_matches('/');
        if !prefix.is_empty() {
            validate_prefix(prefix)?;
            out.push_str(prefix);
        }
        Ok(Self {
            base: out,
            origin_len,
        })
    }

    /// `scheme://host[:port]`, the origin as a browser serialises it.
    pub fn origin(&self) -> &str {
        self.base.get(..self.origin_len).unwrap_or(&self.base)
    }

    /// Origin plus path prefix, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The path prefix (`""` or `/something`).
    pub fn prefix(&self) -> &str {
        self.base.get(self.origin_len..).unwrap_or("")
    }
}

fn split_scheme(s: &str) -> Result<(&'static str, &str), HomeserverError> {
    // The first `:` ends the scheme (`http` and `https` have none); single-character patterns
    // keep the substring searcher out of the wasm binaries.
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err(HomeserverError::InvalidScheme);
    };
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(HomeserverError::InvalidScheme);
    };
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return Err(HomeserverError::InvalidScheme);
    };
    Ok((scheme, rest))
}

fn split_authority(authority: &str) -> Result<(&str, Option<&str>), HomeserverError> {
    if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Err(HomeserverError::InvalidHost);
        };
        // Just after the `]`: a char boundary (checked, so no panic path).
        let Some((host, rest)) = authority.split_at_checked(close + 1) else {
            return Err(HomeserverError::InvalidHost);
        };
        if rest.is_empty() {
            return Ok((host, None));
        }
        let Some(port) = rest.strip_prefix(':') else {
            return Err(HomeserverError::InvalidHost);
        };
        return Ok((host, Some(port)));
    }
    Ok(match authority.split_once(':') {
        None => (authority, None),
        Some((h, p)) => (h, Some(p)),
    })
}

fn normalise_host(host: &str) -> Result<String, HomeserverError> {
    if host.is_empty() {
        return Err(HomeserverError::EmptyHost);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(addr) = inner.strip_suffix(']') else {
            return Err(HomeserverError::InvalidHost);
        };
        if addr.len() < 2
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(HomeserverError::InvalidHost);
        }
        return Ok(host.to_ascii_lowercase());
    }
    if host.len() > 255
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        || host.bytes().all(|b| b == b'.')
    {
        return Err(HomeserverError::InvalidHost);
    }
    Ok(host.to_ascii_lowercase())
}

/// The explicit port, or `None` when absent, empty or the scheme's default (as a browser drops it).
fn parse_port(p: &str, scheme: &str) -> Result<Option<u16>, HomeserverError> {
    if p.is_empty() {
        return Ok(None);
    }
    if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HomeserverError::InvalidPort);
    }
    let Ok(port) = p.parse::<u16>() else {
        return Err(HomeserverError::InvalidPort);
    };
    if port == 0 {
        return Err(HomeserverError::InvalidPort);
    }
    let default = if scheme == "https" { 443 } else { 80 };
    Ok((port != default).then_some(port))
}

/// A prefix must already be what a browser would send: no dot segments, no empty
/// segments, only characters a browser leaves as they are (or valid `%XX` escapes).
fn validate_prefix(prefix: &str) -> Result<(), HomeserverError> {
    let Some(path) = prefix.strip_prefix('/') else {
        return Err(HomeserverError::InvalidPath);
    };
    for seg in path.split('/') {
        if seg.is_empty() || is_dot_segment(seg) {
            return Err(HomeserverError::InvalidPath);
        }
        let bytes = seg.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'%' {
                let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                if !ok {
                    return Err(HomeserverError::InvalidPath);
                }
                i += 3;
                continue;
            }
            if !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)) {
                return Err(HomeserverError::InvalidPath);
            }
            i += 1;
        }
    }
    Ok(())
}

/// `.`/`..` in any spelling the WHATWG URL parser treats as a dot segment.
pub(crate) fn is_dot_segment(seg: &str) -> bool {
    let s = seg.as_bytes();
    let is_dot = |x: &[u8]| x == b"." || x.eq_ignore_ascii_case(b"%2e");
    match s.len() {
        1 | 3 => is_dot(s),
        2 | 4 | 6 => {
            // "..", ".%2e", "%2e.", "%2e%2e"
            (1..s.len()).any(|k| {
                matches!((s.get(..k), s.get(k..)), (Some(a), Some(b)) if is_dot(a) && is_dot(b))
            })
        }
        _ => false,
    }
}

impl fmt::Display for Homeserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl core::str::FromStr for Homeserver {
    type Err = HomeserverError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn prefix_kept_without_trailing_slash() {
        let hs = Homeserver::parse("https://ex.org/matrix/").unwrap();
        assert_eq!(hs.base(), "https://ex.org/matrix");
        assert_eq!(hs.origin(), "https://ex.org");
        assert_eq!(hs.prefix(), "/matrix");
    }

    #[test]
    fn default_port_dropped_and_case_folded() {
        let hs = Homeserver::parse("HTTPS://Ex.ORG:443/").unwrap();
        assert_eq!(hs.base(), "https://ex.org");
        let hs = Homeserver::parse("http://[::1]:8008").unwrap();
        assert_eq!(hs.origin(), "http://[::1]:8008");
    }

    #[test]
    fn only_http_and_https_with_slashes() {
        for s in [
            "",
            "ex.org",
            "https:ex.org",
            "https:/ex.org",
            "ftp://ex.org",
            "a:https://ex.org",
            "https:x://ex.org",
            "://ex.org",
        ] {
            assert_eq!(
                Homeserver::parse(s).err(),
                Some(HomeserverError::InvalidScheme),
                "{s}"
            );
        }
        assert_eq!(
            Homeserver::parse("Http://ex.org://x").map(|h| h.base().to_owned()),
            Homeserver::parse("http://ex.org://x").map(|h| h.base().to_owned())
        );
    }

    #[test]
    fn dot_segments() {
        for s in [".", "..", "%2e", "%2E%2e", ".%2E", "%2e."] {
            assert!(is_dot_segment(s), "{s}");
        }
        for s in ["...", "a.", "%2e%2e%2e", "%2f"] {
            assert!(!is_dot_segment(s), "{s}");
        }
    }
}
