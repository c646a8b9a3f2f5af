//! Deserialising a wire struct from a JSON *object* only.
//!
//! A derived `Deserialize` for a struct also accepts a sequence, filling fields by position
//! (`[["v1.11"]]` would be a `/versions` body, `["M_FORBIDDEN"]` an error body — the
//! `matrix_error` fuzz target found the latter). Matrix bodies are objects; anything else is an
//! error, not a guess. [`map_only`] feeds the wire struct through a visitor that only has
//! `visit_map`.

use core::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// Deserialises `W` from `d` if and only if `d` holds a map; `expecting` names it in errors.
pub(crate) fn map_only<'de, D, W>(d: D, expecting: &'static str) -> Result<W, D::Error>
where
    D: Deserializer<'de>,
    W: Deserialize<'de>,
{
    struct MapOnly<W>(&'static str, PhantomData<W>);
    impl<'de, W: Deserialize<'de>> Visitor<'de> for MapOnly<W> {
        type Value = W;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<W, A::Error> {
            W::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(MapOnly(expecting, PhantomData))
}
