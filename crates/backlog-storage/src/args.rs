//! [`ArgsJson`]: a job's arguments as the JSON text that is stored.

use std::fmt;

use serde_json::value::RawValue;

/// A job's arguments as JSON text: serialized once, where the job is prepared, and handed to the
/// database as it is (SQLite binds the text; PostgreSQL sends it as `jsonb`, which is that text
/// behind a version byte).
///
/// Before, the arguments travelled as a [`serde_json::Value`]: a typed job's arguments were
/// built into a tree of maps and strings, serialized once to measure them and once more to
/// write them, then dropped, for every job (issue #9).
///
/// ```
/// use backlog_storage::ArgsJson;
///
/// let args = ArgsJson::to_json(&serde_json::json!({"to": "ada@example.com"})).unwrap();
/// assert_eq!(args.as_str(), r#"{"to":"ada@example.com"}"#);
/// assert_eq!(args, serde_json::json!({"to": "ada@example.com"}));
/// ```
#[derive(Clone)]
pub struct ArgsJson(Box<RawValue>);

impl ArgsJson {
    /// Serializes `value` as compact JSON. Fails as [`serde_json::to_string`] does (a map
    /// with keys that are not strings, a `Serialize` impl that fails).
    pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<ArgsJson, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(ArgsJson)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The JSON text, for serializers that write it verbatim (`tokio_postgres::types::Json`,
    /// `sqlx::types::Json`).
    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    /// The JSON text, owned, for serializers that take it by value.
    pub fn into_raw(self) -> Box<RawValue> {
        self.0
    }

    /// Parses the text back into a [`serde_json::Value`] (for the few paths that look inside:
    /// unique keys by argument fields, tests).
    pub fn to_value(&self) -> serde_json::Value {
        // The text was written by serde_json from a serializable value: it parses.
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }

    /// The length of the text in bytes (what the client's `max_args_bytes` limits).
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    /// Whether the text is empty (never: the shortest JSON text is one character).
    pub fn is_empty(&self) -> bool {
        self.0.get().is_empty()
    }

    /// Whether the arguments are a JSON object.
    pub fn is_object(&self) -> bool {
        self.0.get().starts_with('{')
    }
}

impl From<&serde_json::Value> for ArgsJson {
    fn from(value: &serde_json::Value) -> ArgsJson {
        // A Value has only string keys and finite numbers: it always serializes.
        ArgsJson::to_json(value).unwrap_or_else(|_| ArgsJson::null())
    }
}

impl From<serde_json::Value> for ArgsJson {
    fn from(value: serde_json::Value) -> ArgsJson {
        ArgsJson::from(&value)
    }
}

impl ArgsJson {
    fn null() -> ArgsJson {
        ArgsJson(RawValue::NULL.to_owned())
    }
}

/// Equal when they hold the same JSON value (object keys in any order), as two
/// [`serde_json::Value`]s would be.
impl PartialEq for ArgsJson {
    fn eq(&self, other: &ArgsJson) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl PartialEq<serde_json::Value> for ArgsJson {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.to_value() == *other
    }
}

impl fmt::Debug for ArgsJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ArgsJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn holds_the_compact_text_of_what_it_serialized() {
        #[derive(serde::Serialize)]
        struct Email<'a> {
            to: &'a str,
            attempt: u32,
        }
        let args = ArgsJson::to_json(&Email {
            to: "a\"b",
            attempt: 2,
        })
        .unwrap();
        assert_eq!(args.as_str(), r#"{"to":"a\"b","attempt":2}"#);
        assert_eq!(args.len(), args.as_str().len());
        assert!(args.is_object());
        assert_eq!(args.to_value(), json!({"to": "a\"b", "attempt": 2}));
    }

    #[test]
    fn compares_as_json_values() {
        let a = ArgsJson::to_json(&json!({"a": 1, "b": [true, null]})).unwrap();
        let b = ArgsJson::to_json(&std::collections::BTreeMap::from([
            ("b", json!([true, null])),
            ("a", json!(1)),
        ]))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, json!({"b": [true, null], "a": 1}));
        assert_ne!(a, json!({"a": 2, "b": [true, null]}));
        assert!(!ArgsJson::from(json!([1])).is_object());
    }

    #[test]
    fn refuses_what_json_cannot_hold() {
        let keyed_by_pairs = std::collections::HashMap::from([((1, 2), "x")]);
        assert!(ArgsJson::to_json(&keyed_by_pairs).is_err());
    }
}
