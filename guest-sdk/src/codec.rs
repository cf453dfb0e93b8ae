//! How record values turn into Rust values and back.
//!
//! A function names its input and output types (`type In = Json<Event>`) and
//! the SDK decodes and encodes them around each call, so user code never sees
//! bytes unless it asks for them (`Vec<u8>`).

use std::any::type_name;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value that can be read from a record's bytes.
pub trait Decode: Sized {
    /// Decode `bytes`; the error says what was expected and what went wrong.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// A value that can be written as a record's bytes.
pub trait Encode {
    /// Append the encoded value to `out` (the SDK writes it straight into the
    /// output buffer, so no intermediate buffer is needed).
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String>;
}

/// A JSON value, decoded and encoded with serde (like axum's `Json` extractor).
///
/// ```
/// # use eddy_sdk::Json;
/// #[derive(serde::Deserialize)]
/// struct Click { user: String }
///
/// let Json(click): Json<Click> = eddy_sdk::Decode::decode(br#"{"user":"ann"}"#).unwrap();
/// assert_eq!(click.user, "ann");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> Decode for Json<T> {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map(Json).map_err(|error| {
            format!(
                "record is not JSON of type `{}`: {error} (record starts with {})",
                type_name::<T>(),
                preview(bytes)
            )
        })
    }
}

impl<T: Serialize> Encode for Json<T> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(out, &self.0)
            .map_err(|error| format!("cannot encode `{}` as JSON: {error}", type_name::<T>()))
    }
}

/// Raw bytes, untouched.
impl Decode for Vec<u8> {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(bytes.to_vec())
    }
}

/// UTF-8 text.
impl Decode for String {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        String::from_utf8(bytes.to_vec()).map_err(|error| {
            format!(
                "record is not UTF-8 text: {error} (record starts with {})",
                preview(bytes)
            )
        })
    }
}

/// Implements [`Encode`] for types that already are bytes.
macro_rules! encode_as_bytes {
    ($($(#[$doc:meta])* [$($generics:tt)*] $ty:ty;)*) => {$(
        $(#[$doc])*
        impl<$($generics)*> Encode for $ty {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
                out.extend_from_slice(self.as_ref());
                Ok(())
            }
        }
    )*};
}

encode_as_bytes! {
    /// Raw bytes.
    [] Vec<u8>;
    /// Raw bytes.
    [] [u8];
    /// Raw bytes of a fixed size, e.g. `u64::to_le_bytes()`.
    [const N: usize] [u8; N];
    /// UTF-8 text.
    [] String;
    /// UTF-8 text.
    [] str;
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        (**self).encode(out)
    }
}

/// The first bytes of a value, for error messages.
fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let ellipsis = if bytes.len() > MAX { "…" } else { "" };
    format!("{shown:?}{ellipsis}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Event {
        user: String,
        ts: i64,
    }

    fn encoded(value: impl Encode) -> Vec<u8> {
        let mut out = b"prefix:".to_vec();
        value.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn json_round_trips() {
        let Json(event) = Json::<Event>::decode(br#"{"user":"ann","ts":5}"#).unwrap();
        assert_eq!(
            event,
            Event {
                user: "ann".into(),
                ts: 5
            }
        );
        assert_eq!(encoded(Json(event)), br#"prefix:{"user":"ann","ts":5}"#);
    }

    #[test]
    fn json_errors_name_the_type_and_the_problem() {
        let error = Json::<Event>::decode(br#"{"user":"ann"}"#).unwrap_err();
        assert!(error.contains("codec::tests::Event"), "{error}");
        assert!(error.contains("missing field `ts`"), "{error}");
        assert!(error.contains(r#"{\"user\":\"ann\"}"#), "{error}");
    }

    #[test]
    fn bytes_and_text() {
        assert_eq!(Vec::<u8>::decode(b"\xff").unwrap(), b"\xff");
        assert_eq!(String::decode(b"hi").unwrap(), "hi");
        assert!(String::decode(b"\xff").unwrap_err().contains("not UTF-8"));
        assert_eq!(encoded("text"), b"prefix:text");
        assert_eq!(encoded(7u64.to_le_bytes()), b"prefix:\x07\0\0\0\0\0\0\0");
        assert_eq!(encoded(vec![1u8]), b"prefix:\x01");
    }
}
