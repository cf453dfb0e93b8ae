//! The compact binary layout of an event, as records carry it inside eddy
//! (source `format = "nexmark"`): the encoder beside the decoder so the two
//! cannot drift.
//!
//! All little-endian: a `u8` tag ([`TAG_PERSON`], [`TAG_AUCTION`],
//! [`TAG_BID`]), then the type's `i64` fields in declaration order, then its
//! strings in declaration order, each as a `u32` byte length and its UTF-8
//! bytes. Fixed-size fields come first so a reader can pick a number at a
//! constant offset without walking the strings.

use std::fmt;

use crate::model::{Auction, Bid, Event, Person};

/// The tag byte of a [`Person`].
pub const TAG_PERSON: u8 = 0;
/// The tag byte of an [`Auction`].
pub const TAG_AUCTION: u8 = 1;
/// The tag byte of a [`Bid`].
pub const TAG_BID: u8 = 2;

/// Appends the binary layout of `event` to `out` (nothing else is written,
/// so a caller can reuse one buffer for many records). It reserves exactly
/// the event's size first, so encoding into an empty `Vec` allocates once
/// and wastes nothing.
pub fn encode<S: AsRef<str>>(event: &Event<S>, out: &mut Vec<u8>) {
    fn num(out: &mut Vec<u8>, v: i64) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn string(out: &mut Vec<u8>, s: &str) {
        // Strings longer than 4 GiB cannot be records anyway.
        let len = u32::try_from(s.len()).expect("a Nexmark string longer than u32::MAX bytes");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    match event {
        Event::Person(p) => {
            let strings = [
                &p.name,
                &p.email_address,
                &p.credit_card,
                &p.city,
                &p.state,
                &p.extra,
            ];
            out.reserve(1 + 2 * 8 + strings.iter().map(|s| 4 + s.as_ref().len()).sum::<usize>());
            out.push(TAG_PERSON);
            num(out, p.id);
            num(out, p.date_time);
            string(out, p.name.as_ref());
            string(out, p.email_address.as_ref());
            string(out, p.credit_card.as_ref());
            string(out, p.city.as_ref());
            string(out, p.state.as_ref());
            string(out, p.extra.as_ref());
        }
        Event::Auction(a) => {
            out.reserve(
                1 + 7 * 8
                    + 3 * 4
                    + a.item_name.as_ref().len()
                    + a.description.as_ref().len()
                    + a.extra.as_ref().len(),
            );
            out.push(TAG_AUCTION);
            num(out, a.id);
            num(out, a.initial_bid);
            num(out, a.reserve);
            num(out, a.date_time);
            num(out, a.expires);
            num(out, a.seller);
            num(out, a.category);
            string(out, a.item_name.as_ref());
            string(out, a.description.as_ref());
            string(out, a.extra.as_ref());
        }
        Event::Bid(b) => {
            out.reserve(1 + 4 * 8 + 4 + b.extra.as_ref().len());
            out.push(TAG_BID);
            num(out, b.auction);
            num(out, b.bidder);
            num(out, b.price);
            num(out, b.date_time);
            string(out, b.extra.as_ref());
        }
    }
}

/// The tag of an encoded event without decoding the rest, so a filter that
/// keeps only bids (say) pays for one byte read. `None` for empty input;
/// the tag is not checked to be one of the three.
pub fn tag(bytes: &[u8]) -> Option<u8> {
    bytes.first().copied()
}

/// Why bytes are not an encoded event, and where: the record is someone
/// else's data, so the message has to help find what produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    offset: usize,
    kind: DecodeErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DecodeErrorKind {
    Empty,
    BadTag(u8),
    Short {
        field: &'static str,
        needed: usize,
        left: usize,
    },
    BadUtf8 {
        field: &'static str,
    },
    Trailing {
        bytes: usize,
    },
}

impl DecodeError {
    /// The byte offset in the input at which the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::Empty => write!(
                f,
                "empty input: a Nexmark event needs at least its tag byte"
            ),
            DecodeErrorKind::BadTag(t) => write!(
                f,
                "unknown Nexmark event tag {t} at byte {} (expected 0 person, 1 auction or 2 bid)",
                self.offset
            ),
            DecodeErrorKind::Short {
                field,
                needed,
                left,
            } => write!(
                f,
                "input ends inside field `{field}` at byte {}: {needed} bytes needed, {left} left",
                self.offset
            ),
            DecodeErrorKind::BadUtf8 { field } => {
                write!(
                    f,
                    "field `{field}` starting at byte {} is not valid UTF-8",
                    self.offset
                )
            }
            DecodeErrorKind::Trailing { bytes } => write!(
                f,
                "{bytes} trailing bytes after the end of the event at byte {}",
                self.offset
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let left = self.bytes.len() - self.pos;
        if left < n {
            return Err(DecodeError {
                offset: self.pos,
                kind: DecodeErrorKind::Short {
                    field,
                    needed: n,
                    left,
                },
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn num(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let b = self.take(8, field)?;
        Ok(i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn string(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let len = self.take(4, field)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let start = self.pos;
        let b = self.take(len, field)?;
        std::str::from_utf8(b).map_err(|_| DecodeError {
            offset: start,
            kind: DecodeErrorKind::BadUtf8 { field },
        })
    }
}

/// Decodes one event, borrowing its strings from `bytes`. The whole input
/// must be exactly one event: trailing bytes, short input, an unknown tag and
/// strings that are not UTF-8 are all refused, since any of them means the
/// record was not written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Event<&str>, DecodeError> {
    let Some(&tag) = bytes.first() else {
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::Empty,
        });
    };
    let mut r = Reader { bytes, pos: 1 };
    let event = match tag {
        TAG_PERSON => {
            let id = r.num("id")?;
            let date_time = r.num("dateTime")?;
            Event::Person(Person {
                id,
                date_time,
                name: r.string("name")?,
                email_address: r.string("emailAddress")?,
                credit_card: r.string("creditCard")?,
                city: r.string("city")?,
                state: r.string("state")?,
                extra: r.string("extra")?,
            })
        }
        TAG_AUCTION => {
            let id = r.num("id")?;
            let initial_bid = r.num("initialBid")?;
            let reserve = r.num("reserve")?;
            let date_time = r.num("dateTime")?;
            let expires = r.num("expires")?;
            let seller = r.num("seller")?;
            let category = r.num("category")?;
            Event::Auction(Auction {
                id,
                initial_bid,
                reserve,
                date_time,
                expires,
                seller,
                category,
                item_name: r.string("itemName")?,
                description: r.string("description")?,
                extra: r.string("extra")?,
            })
        }
        TAG_BID => {
            let auction = r.num("auction")?;
            let bidder = r.num("bidder")?;
            let price = r.num("price")?;
            let date_time = r.num("dateTime")?;
            Event::Bid(Bid {
                auction,
                bidder,
                price,
                date_time,
                extra: r.string("extra")?,
            })
        }
        other => {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::BadTag(other),
            });
        }
    };
    if r.pos != bytes.len() {
        return Err(DecodeError {
            offset: r.pos,
            kind: DecodeErrorKind::Trailing {
                bytes: bytes.len() - r.pos,
            },
        });
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Event> {
        vec![
            Event::Person(Person {
                id: 1000,
                name: "Deiter Bartels".into(),
                email_address: "lg aa@sbf.com".into(),
                credit_card: "7796 6232 9816 6651".into(),
                city: "Phoenix".into(),
                state: "ID".into(),
                date_time: 1_700_000_000_000,
                extra: "zm\\T]\"é".into(),
            }),
            Event::Auction(Auction {
                id: 1000,
                item_name: "adwn".into(),
                description: "".into(),
                initial_bid: 484,
                reserve: 45_701_726,
                date_time: 1_700_000_000_000,
                expires: 1_700_000_000_024,
                seller: 1000,
                category: 13,
                extra: "x".into(),
            }),
            Event::Bid(Bid {
                auction: 1000,
                bidder: -1001,
                price: i64::MAX,
                date_time: i64::MIN,
                extra: "QKTZPS".into(),
            }),
        ]
    }

    #[test]
    fn round_trip_each_type() {
        for e in samples() {
            let mut buf = vec![0xAA]; // encode appends
            encode(&e, &mut buf);
            assert_eq!(buf[0], 0xAA);
            let bytes = &buf[1..];
            assert_eq!(decode(bytes).unwrap(), e.map_strings(String::as_str));
            let expected_tag = match e {
                Event::Person(_) => TAG_PERSON,
                Event::Auction(_) => TAG_AUCTION,
                Event::Bid(_) => TAG_BID,
            };
            assert_eq!(tag(bytes), Some(expected_tag));
        }
        assert_eq!(tag(&[]), None);
    }

    #[test]
    fn encoding_into_an_empty_vec_allocates_exactly() {
        for e in samples() {
            let mut buf = Vec::new();
            encode(&e, &mut buf);
            assert_eq!(buf.capacity(), buf.len());
        }
    }

    #[test]
    fn layout_of_a_bid_is_the_documented_one() {
        let e: Event<&str> = Event::Bid(Bid {
            auction: 1,
            bidder: 2,
            price: 3,
            date_time: 4,
            extra: "ab",
        });
        let mut buf = Vec::new();
        encode(&e, &mut buf);
        let mut want = vec![TAG_BID];
        for v in [1i64, 2, 3, 4] {
            want.extend_from_slice(&v.to_le_bytes());
        }
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(b"ab");
        assert_eq!(buf, want);
    }

    #[test]
    fn refuses_what_encode_does_not_write() {
        let mut buf = Vec::new();
        encode(&samples()[0], &mut buf);

        let err = decode(&[]).unwrap_err();
        assert_eq!(err.offset(), 0);
        assert!(err.to_string().contains("empty"), "{err}");

        let mut bad_tag = buf.clone();
        bad_tag[0] = 7;
        let err = decode(&bad_tag).unwrap_err();
        assert!(err.to_string().contains("tag 7"), "{err}");

        for cut in 1..buf.len() {
            let err = decode(&buf[..cut]).unwrap_err();
            assert!(err.to_string().contains("ends inside"), "{cut}: {err}");
        }
        let err = decode(&buf[..5]).unwrap_err();
        assert_eq!(err.offset(), 1);
        assert!(err.to_string().contains("`id`"), "{err}");

        let mut trailing = buf.clone();
        trailing.push(0);
        let err = decode(&trailing).unwrap_err();
        assert_eq!(err.offset(), buf.len());
        assert!(err.to_string().contains("1 trailing"), "{err}");

        // The name starts after the tag, two i64 and its length.
        let mut bad_utf8 = buf.clone();
        bad_utf8[1 + 16 + 4] = 0xFF;
        let err = decode(&bad_utf8).unwrap_err();
        assert_eq!(err.offset(), 21);
        assert!(
            err.to_string().contains("`name`") && err.to_string().contains("UTF-8"),
            "{err}"
        );
    }
}
