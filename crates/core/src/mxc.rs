//! `mxc://<server-name>/<media-id>` content URIs: parse, don't validate.
//!
//! Grammar (spec v1.11, appendices § Server Name and content repository module,
//! <https://spec.matrix.org/v1.11/appendices/#server-name>,
//! <https://spec.matrix.org/v1.11/client-server-api/#matrix-content-mxc-uris>):
//!
//! ```text
//! server_name = hostname [ ":" port ]        port = 1*5DIGIT
//! hostname    = IPv4address / "[" IPv6address "]" / dns-name
//! IPv6address = 2*45IPv6char   (hex digits, ":", ".")
//! dns-name    = 1*255dns-char  (ALPHA / DIGIT / "-" / ".")
//! media-id    = 1*( ALPHA / DIGIT / "_" / "-" )
//! ```
//!
//! Decisions beyond the grammar (each one traced in `tests/vectors/mxc.json`):
//! * a port must fit `u16` (≤ 65535); `1*5DIGIT` alone would allow 99999, which no
//!   socket can use and [`ServerName::port`] could not return. Port `0` and leading
//!   zeros are kept as the grammar allows them.
//! * a dns-name made only of dots (`.`, `..`, …) is rejected: it would turn into a
//!   dot segment of the request path (`mxc://../config` must never reach
//!   `/_matrix/client/v1/media/config`).
//! * IPv4 addresses are a subset of dns-name and need no separate rule.
//! * server names are case-sensitive and kept byte for byte.
//!
//! Lengths are handled with `usize` everywhere: a 250+ character name, or a 1 MB input,
//! is rejected without panicking (ruma once stored such an index in a `u8`).

use core::fmt;
use core::str::FromStr;

/// Why a string is not a valid mxc URI, server name or media id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MxcError {
    /// The URI does not start with `mxc://`.
    #[error("mxc URI must start with \"mxc://\"")]
    InvalidScheme,
    /// Nothing between `mxc://` and the next `/`.
    #[error("mxc URI has an empty server name")]
    EmptyServerName,
    /// The server name breaks the grammar; the reason says how.
    #[error("invalid server name: {0}")]
    InvalidServerName(&'static str),
    /// The port is empty, longer than 5 digits, not decimal, or above 65535.
    #[error("invalid server name: port must be 1 to 5 decimal digits, at most 65535")]
    InvalidPort,
    /// There is no `/` after the server name.
    #[error("mxc URI has no media id (expected mxc://<server-name>/<media-id>)")]
    MissingMediaId,
    /// The media id is empty.
    #[error("mxc URI has an empty media id")]
    EmptyMediaId,
    /// The media id holds a character other than `A-Z a-z 0-9 _ -`.
    #[error("invalid media id: only A-Z, a-z, 0-9, '_' and '-' are allowed")]
    InvalidMediaId,
}

impl MxcError {
    /// A stable snake_case code for scripts and JavaScript callers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidScheme => "invalid_scheme",
            Self::EmptyServerName => "empty_server_name",
            Self::InvalidServerName(_) => "invalid_server_name",
            Self::InvalidPort => "invalid_port",
            Self::MissingMediaId => "missing_media_id",
            Self::EmptyMediaId => "empty_media_id",
            Self::InvalidMediaId => "invalid_media_id",
        }
    }
}

/// A validated server name: `hostname [":" port]`, kept exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerName {
    full: String,
    /// Byte length of the hostname part (brackets included); `full[host_len..]` is
    /// empty or `":" port`. Always a char boundary: the hostname is ASCII.
    host_len: usize,
    port: Option<u16>,
}

impl ServerName {
    /// Parses a server name by the spec grammar.
    pub fn parse(s: &str) -> Result<Self, MxcError> {
        if s.is_empty() {
            return Err(MxcError::EmptyServerName);
        }
        let (host, port) = split_host_port(s)?;
        validate_host(host)?;
        let port = match port {
            None => None,
            Some(p) => Some(parse_port(p)?),
        };
        Ok(Self {
            full: s.to_owned(),
            host_len: host.len(),
            port,
        })
    }

    /// The whole server name, port included (what goes in the request path).
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The hostname: a dns-name, an IPv4 address, or a bracketed IPv6 literal.
    pub fn host(&self) -> &str {
        self.full.get(..self.host_len).unwrap_or(&self.full)
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// Splits at the port colon: after `]` for IPv6 literals, the only `:` otherwise.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), MxcError> {
    if s.starts_with('[') {
        let Some(close) = s.find(']') else {
            return Err(MxcError::InvalidServerName(
                "IPv6 literal is missing its closing ']'",
            ));
        };
        // Just after the `]`: a char boundary (checked, so no panic path).
        let Some((host, rest)) = s.split_at_checked(close + 1) else {
            return Err(MxcError::InvalidServerName(
                "IPv6 literal is missing its closing ']'",
            ));
        };
        if rest.is_empty() {
            return Ok((host, None));
        }
        let Some(port) = rest.strip_prefix(':') else {
            return Err(MxcError::InvalidServerName(
                "unexpected text after the IPv6 literal",
            ));
        };
        return Ok((host, Some(port)));
    }
    match s.split_once(':') {
        None => Ok((s, None)),
        Some((host, port)) => Ok((host, Some(port))),
    }
}

fn validate_host(host: &str) -> Result<(), MxcError> {
    if let Some(inner) = host.strip_prefix('[') {
        let Some(addr) = inner.strip_suffix(']') else {
            return Err(MxcError::InvalidServerName(
                "IPv6 literal is missing its closing ']'",
            ));
        };
        if !(2..=45).contains(&addr.len()) {
            return Err(MxcError::InvalidServerName(
                "IPv6 literal must be 2 to 45 characters",
            ));
        }
        if !addr
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(MxcError::InvalidServerName(
                "IPv6 literal may only hold hex digits, ':' and '.'",
            ));
        }
        return Ok(());
    }
    if host.is_empty() {
        return Err(MxcError::EmptyServerName);
    }
    if host.len() > 255 {
        return Err(MxcError::InvalidServerName(
            "hostname is longer than 255 characters",
        ));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(MxcError::InvalidServerName(
            "hostname may only hold A-Z, a-z, 0-9, '-' and '.' (or be a bracketed IPv6 literal)",
        ));
    }
    if host.bytes().all(|b| b == b'.') {
        return Err(MxcError::InvalidServerName("hostname made only of dots"));
    }
    Ok(())
}

fn parse_port(p: &str) -> Result<u16, MxcError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MxcError::InvalidPort);
    }
    p.parse::<u16>().map_err(|_| MxcError::InvalidPort)
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for ServerName {
    type Err = MxcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A validated media id: one or more of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaId(String);

impl MediaId {
    /// Parses a media id.
    pub fn parse(s: &str) -> Result<Self, MxcError> {
        if s.is_empty() {
            return Err(MxcError::EmptyMediaId);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(MxcError::InvalidMediaId);
        }
        Ok(Self(s.to_owned()))
    }

    /// The media id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MediaId {
    type Err = MxcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A validated `mxc://<server-name>/<media-id>` URI.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MxcUri {
    server_name: ServerName,
    media_id: MediaId,
}

impl MxcUri {
    /// Parses an mxc URI (scheme is case-sensitive, exactly `mxc://`).
    pub fn parse(s: &str) -> Result<Self, MxcError> {
        let Some(rest) = s.strip_prefix("mxc://") else {
            return Err(MxcError::InvalidScheme);
        };
        let Some((server, id)) = rest.split_once('/') else {
            return Err(if rest.is_empty() {
                MxcError::EmptyServerName
            } else {
                MxcError::MissingMediaId
            });
        };
        let server_name = ServerName::parse(server)?;
        let media_id = MediaId::parse(id)?;
        Ok(Self {
            server_name,
            media_id,
        })
    }

    /// Builds an mxc URI from already validated parts.
    pub fn from_parts(server_name: ServerName, media_id: MediaId) -> Self {
        Self {
            server_name,
            media_id,
        }
    }

    /// The server name part.
    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }

    /// The media id part.
    pub fn media_id(&self) -> &MediaId {
        &self.media_id
    }
}

impl fmt::Display for MxcUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mxc://{}/{}", self.server_name, self.media_id)
    }
}

impl FromStr for MxcUri {
    type Err = MxcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for MxcUri {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MxcUri {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
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
    fn parts() {
        let m = MxcUri::parse("mxc://[::1]:8448/abc_-9").unwrap();
        assert_eq!(m.server_name().host(), "[::1]");
        assert_eq!(m.server_name().port(), Some(8448));
        assert_eq!(m.media_id().as_str(), "abc_-9");
        assert_eq!(m.to_string(), "mxc://[::1]:8448/abc_-9");
    }

    #[test]
    fn long_names_do_not_panic() {
        for n in [250, 255, 256, 300, 1 << 20] {
            let s = format!("mxc://{}/id", "a".repeat(n));
            let r = MxcUri::parse(&s);
            assert_eq!(r.is_ok(), n <= 255, "{n}");
        }
    }

    #[test]
    fn dots_only_rejected() {
        assert_eq!(
            MxcUri::parse("mxc://../config").unwrap_err().code(),
            "invalid_server_name"
        );
        assert_eq!(
            MxcUri::parse("mxc://.:80/config").unwrap_err().code(),
            "invalid_server_name"
        );
    }
}
