//! `Range: bytes=…` requests answered from a body the worker holds.
//!
//! Synapse ignores `Range` and answers 200 with the whole body, but a
//! `<video>` element only seeks well when it gets `206 Partial Content`. The worker therefore
//! keeps the full body (see [`crate::store`]) and slices it here. Only the single-range forms
//! that media elements send are supported (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-` and the
//! suffix form `bytes=-n`. Anything else (several ranges, other units, garbage) is reported as
//! [`RangeRequest::Unsupported`] and answered with the whole body (200), which RFC 9110 allows.

use authmedia_core::push_decimal;

/// What a `Range` request header asks for, before the body length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// `bytes=first-` or `bytes=first-last`.
    FromTo {
        /// First byte wanted (inclusive).
        first: u64,
        /// Last byte wanted (inclusive), `None` for "to the end".
        last: Option<u64>,
    },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
    /// A header we do not serve partially (several ranges, another unit, malformed).
    Unsupported,
}

/// The outcome of applying a [`RangeRequest`] to a body of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Answer `206` with bytes `start..=end` of `total`.
    Partial {
        /// First byte (inclusive).
        start: u64,
        /// Last byte (inclusive).
        end: u64,
        /// Length of the whole body.
        total: u64,
    },
    /// Answer `200` with the whole body.
    Whole,
    /// Answer `416 Range Not Satisfiable` with `Content-Range: bytes */total`.
    NotSatisfiable {
        /// Length of the whole body.
        total: u64,
    },
}

impl RangeRequest {
    /// Parses a `Range` header value.
    pub fn parse(header: &str) -> Self {
        let header = header.trim();
        let Some((unit, spec)) = header.split_once('=') else {
            return Self::Unsupported;
        };
        if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
            return Self::Unsupported;
        }
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Self::Unsupported;
        };
        let (first, last) = (first.trim(), last.trim());
        match (parse_digits(first), parse_digits(last)) {
            (Some(first), None) if last.is_empty() => Self::FromTo { first, last: None },
            (Some(first), Some(last)) if first <= last => Self::FromTo {
                first,
                last: Some(last),
            },
            (None, Some(n)) if first.is_empty() => Self::Suffix(n),
            _ => Self::Unsupported,
        }
    }

    /// Whether a browser sends this header without a CORS preflight, so that it can be
    /// forwarded to a homeserver that does not list `Range` in `Access-Control-Allow-Headers`
    /// (Fetch: `Range` is CORS-safelisted only as a single `bytes=a-` or `bytes=a-b`).
    pub fn is_cors_safelisted(self) -> bool {
        matches!(self, Self::FromTo { .. })
    }

    /// Applies the request to a body of `total` bytes.
    pub fn apply(self, total: u64) -> RangeAnswer {
        match self {
            Self::Unsupported => RangeAnswer::Whole,
            Self::FromTo { first, .. } if first >= total => RangeAnswer::NotSatisfiable { total },
            Self::FromTo { first, last } => {
                let end = last.map_or(total - 1, |last| last.min(total - 1));
                RangeAnswer::Partial {
                    start: first,
                    end,
                    total,
                }
            }
            Self::Suffix(0) => RangeAnswer::NotSatisfiable { total },
            Self::Suffix(_) if total == 0 => RangeAnswer::NotSatisfiable { total },
            Self::Suffix(n) => RangeAnswer::Partial {
                start: total.saturating_sub(n),
                end: total - 1,
                total,
            },
        }
    }
}

impl RangeAnswer {
    /// The `Content-Range` header value for a `206` or `416` answer.
    pub fn content_range(self) -> Option<String> {
        match self {
            Self::Partial { start, end, total } => {
                let mut value = String::from("bytes ");
                push_decimal(&mut value, start);
                value.push('-');
                push_decimal(&mut value, end);
                value.push('/');
                push_decimal(&mut value, total);
                Some(value)
            }
            Self::NotSatisfiable { total } => {
                let mut value = String::from("bytes */");
                push_decimal(&mut value, total);
                Some(value)
            }
            Self::Whole => None,
        }
    }
}

/// Parses 1–19 ASCII digits (so the value always fits a `u64`).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_media_elements_send() {
        assert_eq!(
            RangeRequest::parse("bytes=0-"),
            RangeRequest::FromTo {
                first: 0,
                last: None
            }
        );
        assert_eq!(
            RangeRequest::parse("bytes=100-199"),
            RangeRequest::FromTo {
                first: 100,
                last: Some(199)
            }
        );
        assert_eq!(
            RangeRequest::parse(" Bytes = 5 - 9 "),
            RangeRequest::FromTo {
                first: 5,
                last: Some(9)
            }
        );
        assert_eq!(RangeRequest::parse("bytes=-500"), RangeRequest::Suffix(500));
    }

    #[test]
    fn rejects_what_it_does_not_serve() {
        for bad in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=9-1",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
            "bytes=0x1-",
            "bytes=1--2",
        ] {
            assert_eq!(
                RangeRequest::parse(bad),
                RangeRequest::Unsupported,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn applies_to_a_body() {
        let partial = |start, end, total| RangeAnswer::Partial { start, end, total };
        assert_eq!(RangeRequest::parse("bytes=0-").apply(10), partial(0, 9, 10));
        assert_eq!(
            RangeRequest::parse("bytes=2-4").apply(10),
            partial(2, 4, 10)
        );
        assert_eq!(
            RangeRequest::parse("bytes=2-400").apply(10),
            partial(2, 9, 10)
        );
        assert_eq!(RangeRequest::parse("bytes=-3").apply(10), partial(7, 9, 10));
        assert_eq!(
            RangeRequest::parse("bytes=-30").apply(10),
            partial(0, 9, 10)
        );
        assert_eq!(
            RangeRequest::parse("bytes=10-").apply(10),
            RangeAnswer::NotSatisfiable { total: 10 }
        );
        assert_eq!(
            RangeRequest::parse("bytes=0-").apply(0),
            RangeAnswer::NotSatisfiable { total: 0 }
        );
        assert_eq!(
            RangeRequest::parse("bytes=-0").apply(10),
            RangeAnswer::NotSatisfiable { total: 10 }
        );
        assert_eq!(
            RangeRequest::parse("bytes=-5").apply(0),
            RangeAnswer::NotSatisfiable { total: 0 }
        );
        assert_eq!(
            RangeRequest::parse("bytes=1-2,4-5").apply(10),
            RangeAnswer::Whole
        );
    }

    #[test]
    fn content_range_headers() {
        assert_eq!(
            RangeRequest::parse("bytes=2-4")
                .apply(10)
                .content_range()
                .as_deref(),
            Some("bytes 2-4/10")
        );
        assert_eq!(
            RangeAnswer::NotSatisfiable { total: 7 }
                .content_range()
                .as_deref(),
            Some("bytes */7")
        );
        assert_eq!(RangeAnswer::Whole.content_range(), None);
    }

    #[test]
    fn only_simple_ranges_are_forwarded_without_preflight() {
        assert!(RangeRequest::parse("bytes=0-").is_cors_safelisted());
        assert!(!RangeRequest::parse("bytes=-5").is_cors_safelisted());
        assert!(!RangeRequest::parse("bytes=0-1,3-4").is_cors_safelisted());
    }
}
