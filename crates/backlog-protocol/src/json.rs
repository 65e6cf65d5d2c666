//! Job arguments, metadata, results and progress travel as JSON values encoded in CBOR: the
//! database stores them as JSON, so the protocol accepts exactly the JSON data model and
//! refuses the rest (byte strings, tags, non-text map keys, NaN and infinities, integers
//! beyond 64 bits) with an error instead of storing something other than what was sent.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// `deserialize_with` for a JSON value.
pub(crate) fn value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    deserializer.deserialize_any(JsonVisitor)
}

/// `deserialize_with` for an optional JSON value (absent or CBOR `null` is `None`).
pub(crate) fn option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    match deserializer.deserialize_any(JsonVisitor)? {
        Value::Null => Ok(None),
        other => Ok(Some(other)),
    }
}

struct JsonVisitor;

impl<'de> DeserializeSeed<'de> for JsonVisitor {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value (null, bool, 64-bit integer, finite float, text, array, map with text keys)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("NaN and infinities are not JSON numbers"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(JsonVisitor)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<TextKey>()? {
            let value = map.next_value_seed(JsonVisitor)?;
            object.insert(key.0, value);
        }
        Ok(Value::Object(object))
    }
}

/// A map key that must be text, as in JSON.
struct TextKey(String);

impl<'de> serde::Deserialize<'de> for TextKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = TextKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text map key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextKey, E> {
                Ok(TextKey(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<TextKey, E> {
                Ok(TextKey(v))
            }
        }
        deserializer.deserialize_string(KeyVisitor)
    }
}

/// `serialize_with` for a JSON value: object keys in byte order at every level, whatever
/// order the map keeps (serde_json keeps insertion order when a dependency enables its
/// `preserve_order` feature), so that encoding is deterministic.
///
/// A value nested deeper than [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH) is refused: a
/// receiver would refuse the message, and refusing here also bounds the encoder's recursion.
pub(crate) fn serialize<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    Sorted(value, 0).serialize(serializer)
}

/// `serialize_with` for an optional JSON value (skipped when `None`), as [`serialize`].
pub(crate) fn serialize_option<S: Serializer>(
    value: &Option<Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => Sorted(value, 0).serialize(serializer),
        None => serializer.serialize_none(),
    }
}

/// A JSON value and its nesting depth.
struct Sorted<'a>(&'a Value, usize);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let depth = self.1 + 1;
        if depth > crate::DEFAULT_MAX_DEPTH && (self.0.is_array() || self.0.is_object()) {
            return Err(serde::ser::Error::custom(format!(
                "a JSON value nests deeper than {} levels",
                crate::DEFAULT_MAX_DEPTH
            )));
        }
        match self.0 {
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item, depth))?;
                }
                seq.end()
            }
            Value::Object(object) => {
                let mut entries: Vec<(&String, &Value)> = object.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, &Sorted(value, depth))?;
                }
                map.end()
            }
            other => other.serialize(serializer),
        }
    }
}
