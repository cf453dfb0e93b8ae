//! Reading fields of JSON record values (timestamps, keys) in one pass,
//! without building a document tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a field could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The value is not valid JSON.
    NotJson(String),
    /// The path does not exist in the value.
    Missing,
    /// The field exists but has the wrong type.
    WrongType(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::NotJson(e) => write!(f, "not valid JSON: {e}"),
            FieldError::Missing => f.write_str("field is missing"),
            FieldError::WrongType(e) => f.write_str(e),
        }
    }
}

/// The raw JSON text at `path` in `value` (validating the whole value).
pub fn raw_field<'a>(value: &'a [u8], path: &[String]) -> Result<&'a RawValue, FieldError> {
    let mut de = serde_json::Deserializer::from_slice(value);
    let found = FieldSeed { path }
        .deserialize(&mut de)
        .and_then(|found| de.end().map(|()| found))
        .map_err(|e| FieldError::NotJson(e.to_string()))?;
    found.ok_or(FieldError::Missing)
}

/// Check that `value` is one valid JSON value.
pub fn validate_json(value: &[u8]) -> Result<(), FieldError> {
    serde_json::from_slice::<IgnoredAny>(value)
        .map(|_| ())
        .map_err(|e| FieldError::NotJson(e.to_string()))
}

/// An event timestamp: a JSON integer of milliseconds since the Unix epoch.
pub fn timestamp_field(value: &[u8], path: &[String]) -> Result<i64, FieldError> {
    let raw = raw_field(value, path)?;
    serde_json::from_str::<i64>(raw.get()).map_err(|_| {
        FieldError::WrongType(format!(
            "expected an integer timestamp in milliseconds, found {}",
            raw.get()
        ))
    })
}

/// Key bytes of a field: a string's contents, or the JSON text of any other value.
pub fn key_field(value: &[u8], path: &[String]) -> Result<Vec<u8>, FieldError> {
    let raw = raw_field(value, path)?;
    let text = raw.get();
    if text.starts_with('"') {
        let s: Cow<'_, str> =
            serde_json::from_str(text).map_err(|e| FieldError::NotJson(e.to_string()))?;
        Ok(s.into_owned().into_bytes())
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

struct FieldSeed<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(FieldVisitor { path: self.path })
    }
}

struct FieldVisitor<'p> {
    path: &'p [String],
}

macro_rules! not_an_object {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method<E: serde::de::Error>(self, _: $ty) -> Result<Self::Value, E> { Ok(None) })*
    };
}

impl<'de> Visitor<'de> for FieldVisitor<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if found.is_none() && key == self.path[0].as_str() {
                found = if self.path.len() == 1 {
                    Some(map.next_value::<&'de RawValue>()?)
                } else {
                    map.next_value_seed(FieldSeed {
                        path: &self.path[1..],
                    })?
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    not_an_object!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(String::from).collect()
    }

    #[test]
    fn fields_are_found_at_any_depth() {
        let v = br#"{"a": 1, "user": {"id": "bob", "n": [1,2]}, "ts": 1700000000000}"#;
        assert_eq!(key_field(v, &path("user.id")).unwrap(), b"bob");
        assert_eq!(key_field(v, &path("a")).unwrap(), b"1");
        assert_eq!(timestamp_field(v, &path("ts")).unwrap(), 1_700_000_000_000);
        assert_eq!(key_field(v, &path("nope")), Err(FieldError::Missing));
        assert!(matches!(
            timestamp_field(v, &path("user")),
            Err(FieldError::WrongType(_))
        ));
    }

    #[test]
    fn invalid_json_is_reported_even_after_the_field() {
        assert!(matches!(
            key_field(br#"{"a": 1, "b": }"#, &path("a")),
            Err(FieldError::NotJson(_))
        ));
        assert!(matches!(
            validate_json(b"not json"),
            Err(FieldError::NotJson(_))
        ));
        assert!(matches!(
            key_field(br#"{"a": 1} trailing"#, &path("a")),
            Err(FieldError::NotJson(_))
        ));
    }
}
