//! What the Nexmark guests share: a writer for the results' JSON objects
//! (the peer's fields in the peer's order, strings through
//! [`eddy_nexmark::json::write_str`], as `NexmarkBench.java`'s `json`
//! methods write them), the records that one guest emits and another reads
//! ([`AuctionCount`] of q5, [`Q7Bid`] and [`Q7Partial`] of q7), reading
//! the compact integer records of the projections ([`read_ints`]), and
//! reading a window's integer key.
//!
//! Records between operators are compact JSON, so that `key_by = { field }`
//! can key them, except q7's bids, which stay in the generator's binary
//! layout (keyed by the `nexmark-q7-bucket` selector). Results are written
//! by hand; flat integer records are read with [`read_ints`], the few
//! others with serde.

use eddy_sdk::{Decode, Encode};
use serde::{Deserialize, Serialize};

pub use eddy_nexmark::json::{write_i64, write_str};

/// Writes one flat JSON object field by field, in the order of the calls:
/// `Obj::new(out).int("auction", 7).str("extra", "x").end()` appends
/// `{"auction":7,"extra":"x"}`. Field names are written as given (they are
/// the peer's, which need no escaping). Its methods are always inlined, so
/// that each field name is a constant at its call and its copy a few stores.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens the object.
    #[inline(always)]
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    #[inline(always)]
    fn name(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// An integer field.
    #[inline(always)]
    pub fn int(mut self, name: &str, value: i64) -> Self {
        self.name(name);
        write_i64(self.out, value);
        self
    }

    /// A string field, escaped as the peer escapes (`"` and `\`).
    #[inline(always)]
    pub fn str(mut self, name: &str, value: &str) -> Self {
        self.name(name);
        write_str(self.out, value);
        self
    }

    /// Closes the object.
    #[inline(always)]
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// The integer fields `names` of a flat JSON object of integers, the
/// records the projections write for the keyed steps (`{"auction":1,
/// "price":2,"dateTime":3}`: no spaces, no other value types), read without
/// a general JSON parser: on q4's path, where every bid is one, serde's
/// parsing was a fifth of the job's CPU. Other fields are skipped; a missing
/// field, a value that is not an integer or a different layout is an error
/// that quotes the record.
pub fn read_ints<const N: usize>(bytes: &[u8], names: [&str; N]) -> Result<[i64; N], String> {
    let malformed = |what: &str| {
        format!(
            "{what} in {}: expected a compact JSON object of integers",
            String::from_utf8_lossy(bytes)
        )
    };
    let mut values = [0i64; N];
    let mut seen = [false; N];
    let mut rest = bytes
        .strip_prefix(b"{\"")
        .ok_or_else(|| malformed("no object"))?;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'"')
            .ok_or_else(|| malformed("an unterminated name"))?;
        let (name, after) = rest.split_at(end);
        rest = after
            .strip_prefix(b"\":")
            .ok_or_else(|| malformed("no `:` after a name"))?;
        let negative = rest.first() == Some(&b'-');
        let digits_from = usize::from(negative);
        let digits = rest[digits_from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 18 {
            return Err(malformed("a value that is not an integer"));
        }
        let mut value = 0i64;
        for &digit in &rest[digits_from..digits_from + digits] {
            value = value * 10 + i64::from(digit - b'0');
        }
        if let Some(at) = names.iter().position(|n| n.as_bytes() == name) {
            values[at] = if negative { -value } else { value };
            seen[at] = true;
        }
        rest = &rest[digits_from + digits..];
        match rest {
            [b'}'] => break,
            [b',', b'"', after @ ..] => rest = after,
            _ => {
                return Err(malformed(
                    "a value followed by something other than `,` or `}`",
                ));
            }
        }
    }
    match seen.iter().position(|seen| !seen) {
        Some(at) => Err(malformed(&format!("no field `{}`", names[at]))),
        None => Ok(values),
    }
}

/// Any record, not even looked at: the input of functions that only count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyRecord;

impl Decode for AnyRecord {
    fn decode(_: &[u8]) -> Result<Self, String> {
        Ok(AnyRecord)
    }
}

/// A window's key as the integer it is: `key_by = { field = "auction" }` on
/// an integer field keys by the number's JSON text.
pub fn key_i64(key: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            format!(
                "the key {:?} is not an integer: key this operator by an integer field",
                String::from_utf8_lossy(key)
            )
        })
}

/// q5: the number of bids on one auction in one sliding window (the peer's
/// `AuctionCount`): what `nexmark-q5-count` emits, `nexmark-q5-hot` reads,
/// keeps and emits as the query's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionCount {
    /// The auction's id (the window's key).
    pub auction: i64,
    /// Bids on it in the window.
    pub num: i64,
    /// The window's start, in ms since the epoch.
    pub starttime: i64,
    /// The window's end (exclusive); `nexmark-q5-hot` keys by it.
    pub endtime: i64,
}

impl Encode for AuctionCount {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        Obj::new(out)
            .int("auction", self.auction)
            .int("num", self.num)
            .int("starttime", self.starttime)
            .int("endtime", self.endtime)
            .end();
        Ok(())
    }
}

/// q7: one bid at the highest price, as the partial and global maxima keep
/// it and the query's result shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Q7Bid {
    /// The auction bid on.
    pub auction: i64,
    /// The bid's price.
    pub price: i64,
    /// Who bid.
    pub bidder: i64,
    /// When, in ms since the epoch.
    #[serde(rename = "dateTime")]
    pub date_time: i64,
    /// The bid's padding string, as generated.
    pub extra: String,
}

/// q7: the highest price of one bucket's bids in one tumbling window and
/// every bid at that price, what `nexmark-q7-partial-max` emits per bucket
/// and window and `nexmark-q7-max` reads, keyed by `windowEnd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Q7Partial {
    /// The window's end (exclusive); `nexmark-q7-max` keys by it.
    #[serde(rename = "windowEnd")]
    pub window_end: i64,
    /// The bucket's highest price in the window.
    pub price: i64,
    /// Every bid of the bucket at that price, in arrival order.
    pub ties: Vec<Q7Bid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_integers_of_a_compact_object() {
        let record = br#"{"auction":1000,"price":-5,"skipped":7,"dateTime":1700000000007}"#;
        assert_eq!(
            read_ints(record, ["dateTime", "auction", "price"]),
            Ok([1_700_000_000_007, 1000, -5])
        );
        for (bad, says) in [
            (&br#"{"auction":1}"#[..], "no field `price`"),
            (br#"{"auction":1,"price":"2"}"#, "not an integer"),
            (br#"{"auction": 1,"price":2}"#, "not an integer"),
            (br#"{"auction":1,"price":2} "#, "other than"),
            (br#"[1,2]"#, "no object"),
            (br#"{"auction":1,"price":2"#, "other than"),
        ] {
            let error = read_ints(bad, ["auction", "price"]).unwrap_err();
            assert!(error.contains(says), "{error}");
            assert!(error.contains(std::str::from_utf8(bad).unwrap()), "{error}");
        }
    }

    #[test]
    fn objects_in_call_order_with_peer_escaping() {
        let mut out = Vec::new();
        Obj::new(&mut out)
            .int("a", -7)
            .str("s", "x\"y\\z")
            .int("m", i64::MIN)
            .end();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":-7,"s":"x\"y\\z","m":-9223372036854775808}"#
        );
        let mut out = Vec::new();
        Obj::new(&mut out).end();
        assert_eq!(out, b"{}");
    }

    #[test]
    fn integers_in_decimal() {
        for v in [0, 9, 10, -1, 1_700_000_000_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn integer_keys() {
        assert_eq!(key_i64(b"-12"), Ok(-12));
        assert!(key_i64(b"\"a\"").unwrap_err().contains("not an integer"));
    }

    #[test]
    fn auction_count_round_trips_in_the_peers_order() {
        let count = AuctionCount {
            auction: 1007,
            num: 3,
            starttime: 0,
            endtime: 10_000,
        };
        let mut out = Vec::new();
        count.encode(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"auction":1007,"num":3,"starttime":0,"endtime":10000}"#
        );
        assert_eq!(serde_json::from_slice::<AuctionCount>(&out).unwrap(), count);
    }
}
