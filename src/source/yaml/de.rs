//! Typed values straight from the loaded tree: a serde `Deserializer` over `&Node` that
//! reads the tree as [`Node::to_json`] would convert it (the same numbers, the same
//! strings for what JSON cannot hold), without building the JSON first. Its errors are
//! `serde_json`'s, with the same messages a `serde_json::Value` gives.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::Error;

use super::{Json, Key, Kind, Node};

/// How a node is named in a type error (as `serde_json::Value::unexpected` names it).
fn unexpected(node: &Node) -> Unexpected<'_> {
    match node.json() {
        Json::Null => Unexpected::Unit,
        Json::Bool(b) => Unexpected::Bool(b),
        Json::Int(i) if i >= 0 => Unexpected::Unsigned(i as u64),
        Json::Int(i) => Unexpected::Signed(i),
        Json::Float(f) => Unexpected::Float(f),
        Json::Str(s) => Unexpected::Str(s),
        Json::Text(_) => Unexpected::Other("string"),
        Json::Seq(_) => Unexpected::Seq,
        Json::Map(_) => Unexpected::Map,
    }
}

impl<'de> Deserializer<'de> for &'de Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.json() {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(b),
            // serde_json keeps a non-negative integer as unsigned.
            Json::Int(i) if i >= 0 => visitor.visit_u64(i as u64),
            Json::Int(i) => visitor.visit_i64(i),
            Json::Float(f) => visitor.visit_f64(f),
            Json::Str(s) => visitor.visit_borrowed_str(s),
            Json::Text(f) => visitor.visit_string(f.to_string()),
            Json::Seq(items) => {
                let mut seq = Seq {
                    items: items.iter(),
                };
                let value = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(
                        items.len(),
                        &"fewer elements in array",
                    )),
                }
            }
            Json::Map(entries) => {
                let mut map = Map {
                    entries: entries.iter(),
                    value: None,
                };
                let value = visitor.visit_map(&mut map)?;
                match map.entries.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(
                        entries.len(),
                        &"fewer elements in map",
                    )),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.kind {
            Kind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.kind {
            Kind::Null => visitor.visit_unit(),
            _ => Err(de::Error::invalid_type(unexpected(self), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.json() {
            Json::Str(s) => visitor.visit_enum(Enum {
                variant: s,
                value: None,
            }),
            // An infinite or not-a-number float is its text, as a variant's name.
            Json::Text(f) => visitor.visit_enum(f.to_string().into_deserializer()),
            Json::Map(entries) => match entries {
                [(key, value)] => visitor.visit_enum(Enum {
                    variant: &key.name,
                    value: Some(value),
                }),
                _ => Err(de::Error::invalid_value(
                    Unexpected::Map,
                    &"map with a single key",
                )),
            },
            _ => Err(de::Error::invalid_type(unexpected(self), &"string or map")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf seq tuple tuple_struct map struct identifier
    }
}

struct Seq<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.items.next().map(|n| seed.deserialize(n)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de> {
    entries: std::slice::Iter<'de, (Key, Node)>,
    value: Option<&'de Node>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(&key.name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum written as a mapping of one key: the variant, and its content.
struct Enum<'de> {
    variant: &'de str,
    value: Option<&'de Node>,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = Variant<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Variant<'de>), Error> {
        let variant = seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(
            self.variant,
        ))?;
        Ok((variant, Variant { value: self.value }))
    }
}

struct Variant<'de> {
    value: Option<&'de Node>,
}

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None => Ok(()),
            Some(n) => serde::Deserialize::deserialize(n),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.value {
            Some(n) => seed.deserialize(n),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(
                n @ Node {
                    kind: Kind::Seq(_), ..
                },
            ) => n.deserialize_any(visitor),
            Some(n) => Err(de::Error::invalid_type(unexpected(n), &"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Some(
                n @ Node {
                    kind: Kind::Map(_), ..
                },
            ) => n.deserialize_any(visitor),
            Some(n) => Err(de::Error::invalid_type(unexpected(n), &"struct variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}
