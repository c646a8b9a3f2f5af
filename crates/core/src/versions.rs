//! `GET /_matrix/client/versions` — <https://spec.matrix.org/v1.11/client-server-api/#get_matrixclientversions>
//!
//! Turns a `/versions` body into the media API flavour to use, and caches that decision
//! per homeserver with a TTL (time is an argument: this crate has no clock).
//!
//! Rules (the spec's versioning policy <https://spec.matrix.org/v1.11/#specification-versions>):
//! 1. any `versions` entry `vX.Y` with `(X, Y) >= (1, 11)`, compared numerically, a
//!    `-suffix` ignored; or `unstable_features["org.matrix.msc3916.stable"] == true`
//!    → [`Api::V1`];
//! 2. else `unstable_features["org.matrix.msc3916"] == true` → [`Api::Unstable`];
//! 3. else [`Api::Legacy`]. `r0.*` and anything unparsable never count.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::endpoint::Api;
use crate::map_only::map_only;

/// Unstable feature flag of MSC3916's unstable prefix.
pub const MSC3916: &str = "org.matrix.msc3916";
/// Unstable feature flag saying the stable v1 endpoints are served before v1.11.
pub const MSC3916_STABLE: &str = "org.matrix.msc3916.stable";
/// First spec version with authenticated media.
pub const AUTHENTICATED_MEDIA_SINCE: (u32, u32) = (1, 11);

/// A `/versions` response body.
///
/// Deserialises with any serde format (serde_json, serde-wasm-bindgen): the body must be an
/// object whose `versions` is an array of strings; `unstable_features` is lenient — a
/// missing or non-object value is empty, and a non-boolean flag counts as `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Versions {
    /// Supported spec versions, such as `"v1.11"` or `"r0.6.1"`.
    pub versions: Vec<String>,
    /// Unstable feature flags, sorted by name, one entry per name (see [`Self::set_feature`]):
    /// the few a server lists are searched in place, and no B-tree is compiled into the wasm.
    #[serde(serialize_with = "features_as_map")]
    unstable_features: Vec<(String, bool)>,
}

fn features_as_map<S: serde::Serializer>(f: &[(String, bool)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(f.iter().map(|(k, v)| (k, v)))
}

/// The wire shape; [`Versions`] only accepts it from a map (a derived struct would also
/// take a JSON array such as `[["v1.11"]]`, a guess rather than an error).
#[derive(Deserialize)]
struct VersionsWire {
    versions: Vec<String>,
    #[serde(default, deserialize_with = "lenient_features")]
    unstable_features: Versions,
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire: VersionsWire = map_only(d, "a /versions object")?;
        Ok(Versions {
            versions: wire.versions,
            ..wire.unstable_features
        })
    }
}

/// A `/versions` body that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionsError {
    /// The body is not JSON.
    #[error("versions body is not valid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but `versions` is missing or not an array of strings.
    #[error("versions body is malformed: {0}")]
    InvalidBody(String),
}

impl VersionsError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidBody(_) => "invalid_versions",
        }
    }
}

impl Versions {
    /// Parses a `/versions` JSON body.
    #[cfg(feature = "json")]
    pub fn from_json(body: &str) -> Result<Versions, VersionsError> {
        serde_json::from_str(body).map_err(|e| {
            if e.is_syntax() || e.is_eof() || e.is_io() {
                VersionsError::InvalidJson(e.to_string())
            } else {
                VersionsError::InvalidBody(e.to_string())
            }
        })
    }

    /// Whether an unstable feature flag is `true`.
    pub fn feature(&self, name: &str) -> bool {
        self.find(name)
            .is_ok_and(|i| self.unstable_features.get(i).is_some_and(|f| f.1))
    }

    /// Sets an unstable feature flag; a name given twice keeps the last value (as a JSON
    /// object read into a map does).
    pub fn set_feature(&mut self, name: String, on: bool) {
        match self.find(&name) {
            Ok(i) => {
                if let Some(f) = self.unstable_features.get_mut(i) {
                    f.1 = on;
                }
            }
            Err(i) => self.unstable_features.insert(i, (name, on)),
        }
    }

    /// The unstable feature flags, sorted by name.
    pub fn features(&self) -> impl Iterator<Item = (&str, bool)> {
        self.unstable_features.iter().map(|(k, v)| (k.as_str(), *v))
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.unstable_features
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
    }
}

/// `"vX.Y"` (optionally `"vX.Y-suffix"`) → `(X, Y)`; anything else → `None`.
pub fn parse_spec_version(v: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix('v')?;
    let rest = rest.split_once('-').map_or(rest, |(core, _suffix)| core);
    let (major, minor) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Chooses the media API flavour a server supports.
pub fn negotiate(v: &Versions) -> Api {
    let numeric = v
        .versions
        .iter()
        .filter_map(|s| parse_spec_version(s))
        .any(|ver| ver >= AUTHENTICATED_MEDIA_SINCE);
    if numeric || v.feature(MSC3916_STABLE) {
        Api::V1
    } else if v.feature(MSC3916) {
        Api::Unstable
    } else {
        Api::Legacy
    }
}

/// Per-homeserver cache of negotiation results, keyed by [`crate::Homeserver::base`].
#[derive(Debug, Clone, Default)]
pub struct NegotiationCache {
    ttl_ms: u64,
    /// `(base, entry)`, one per homeserver: a client talks to a handful, so a linear scan of a
    /// `Vec` is as quick as a map and keeps a second B-tree instantiation out of the wasm.
    entries: Vec<(String, CacheEntry)>,
}

#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    api: Api,
    stored_ms: u64,
}

impl NegotiationCache {
    /// A cache whose entries live `ttl_ms` milliseconds.
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            entries: Vec::new(),
        }
    }

    /// The cached flavour, if stored less than the TTL ago. An entry "from the future"
    /// (the caller's clock went backwards) counts as expired.
    pub fn get(&self, base: &str, now_ms: u64) -> Option<Api> {
        let (_, e) = self.entries.iter().find(|(b, _)| b == base)?;
        let age = now_ms.checked_sub(e.stored_ms)?;
        (age < self.ttl_ms).then_some(e.api)
    }

    /// Stores a decision made at `now_ms`.
    pub fn insert(&mut self, base: &str, api: Api, now_ms: u64) {
        let entry = CacheEntry {
            api,
            stored_ms: now_ms,
        };
        match self.entries.iter_mut().find(|(b, _)| b == base) {
            Some((_, e)) => *e = entry,
            None => self.entries.push((base.to_owned(), entry)),
        }
    }

    /// Forgets a homeserver (after a v1 request came back 404/405 `M_UNRECOGNIZED`).
    pub fn invalidate(&mut self, base: &str) {
        self.entries.retain(|(b, _)| b != base);
    }

    /// Drops expired entries.
    pub fn purge(&mut self, now_ms: u64) {
        let ttl = self.ttl_ms;
        self.entries
            .retain(|(_, e)| now_ms.checked_sub(e.stored_ms).is_some_and(|age| age < ttl));
    }

    /// Number of entries, expired ones included until [`Self::purge`].
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A flag value: `true` only for a JSON `true`; any other value is consumed and `false`.
struct LenientBool(bool);

impl<'de> Deserialize<'de> for LenientBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientBoolVisitor)
    }
}

struct LenientBoolVisitor;

impl<'de> Visitor<'de> for LenientBoolVisitor {
    type Value = LenientBool;
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientBool, E> {
        Ok(LenientBool(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_unit<E: de::Error>(self) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_none<E: de::Error>(self) -> Result<LenientBool, E> {
        Ok(LenientBool(false))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LenientBool, D::Error> {
        LenientBool::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientBool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(LenientBool(false))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientBool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(LenientBool(false))
    }
}

/// The flags into an otherwise empty [`Versions`].
fn lenient_features<'de, D: Deserializer<'de>>(d: D) -> Result<Versions, D::Error> {
    struct FeaturesVisitor;
    impl<'de> Visitor<'de> for FeaturesVisitor {
        type Value = Versions;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a map of feature flags")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Versions::default();
            while let Some((k, v)) = map.next_entry::<String, LenientBool>()? {
                out.set_feature(k, v.0);
            }
            Ok(out)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(FeaturesVisitor)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Versions::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Versions::default())
        }
    }
    d.deserialize_any(FeaturesVisitor)
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
    fn spec_versions() {
        assert_eq!(parse_spec_version("v1.11"), Some((1, 11)));
        assert_eq!(parse_spec_version("v1.12-rc1"), Some((1, 12)));
        assert_eq!(parse_spec_version("r0.6.1"), None);
        assert_eq!(parse_spec_version("v1."), None);
        assert_eq!(parse_spec_version("v1.1x"), None);
        assert_eq!(parse_spec_version("v99999999999.1"), None);
    }

    #[test]
    fn features_sorted_last_value_wins() {
        let mut v = Versions::default();
        v.set_feature("b".to_owned(), true);
        v.set_feature("a".to_owned(), true);
        v.set_feature("b".to_owned(), false);
        assert_eq!(
            v.features().collect::<Vec<_>>(),
            [("a", true), ("b", false)]
        );
        assert!(v.feature("a") && !v.feature("b") && !v.feature("c"));
        let v = Versions::from_json(
            r#"{"versions":[],"unstable_features":{"z":false,"y":true,"z":true}}"#,
        )
        .unwrap();
        assert_eq!(v.features().collect::<Vec<_>>(), [("y", true), ("z", true)]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"versions":[],"unstable_features":{"y":true,"z":true}}"#
        );
    }

    #[test]
    fn cache_ttl_and_invalidation() {
        let mut c = NegotiationCache::new(1000);
        c.insert("https://a", Api::V1, 5000);
        assert_eq!(c.get("https://a", 5999), Some(Api::V1));
        assert_eq!(c.get("https://a", 6000), None);
        assert_eq!(c.get("https://a", 4999), None);
        c.invalidate("https://a");
        assert_eq!(c.get("https://a", 5000), None);
    }

    #[test]
    fn cache_one_entry_per_homeserver() {
        let mut c = NegotiationCache::new(1000);
        c.insert("https://a", Api::V1, 5000);
        c.insert("https://b", Api::Legacy, 5000);
        c.insert("https://a", Api::Unstable, 5500);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("https://a", 6400), Some(Api::Unstable));
        assert_eq!(c.get("https://b", 5100), Some(Api::Legacy));
        c.invalidate("https://a");
        assert_eq!((c.len(), c.get("https://b", 5100)), (1, Some(Api::Legacy)));
        c.purge(6000);
        assert!(c.is_empty());
    }
}
