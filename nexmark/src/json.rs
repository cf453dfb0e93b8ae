//! The peer's JSON-lines dump format (GENERATOR.md §7), byte for byte: the
//! format in which eddy's events and the Flink peer's are compared, and the
//! record value of source `format = "nexmark-json"`.
//!
//! Keys in the peer's order, no spaces, integers in decimal, and in strings
//! only `"` and `\` escaped. That is valid JSON only because the generator
//! never produces control characters; it is what the peer writes, so it is
//! what this writes.

use crate::model::Event;

/// Appends a JSON string literal, quotes included, escaping only `"` and `\`
/// with a backslash (exactly what the peer does; see the module docs).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for at in memchr::memchr2_iter(b'"', b'\\', bytes) {
        out.extend_from_slice(&bytes[start..at]);
        out.push(b'\\');
        start = at;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `v` in decimal: the integers of every JSON line (events and the
/// queries' results), on the benchmark's path.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends the peer's JSON line for `event`, without the newline (a record
/// value is one line; the dump adds `\n` after each).
pub fn write_event<S: AsRef<str>>(event: &Event<S>, out: &mut Vec<u8>) {
    match event {
        Event::Person(p) => {
            out.extend_from_slice(b"{\"type\":\"person\",\"id\":");
            write_i64(out, p.id);
            out.extend_from_slice(b",\"name\":");
            write_str(out, p.name.as_ref());
            out.extend_from_slice(b",\"emailAddress\":");
            write_str(out, p.email_address.as_ref());
            out.extend_from_slice(b",\"creditCard\":");
            write_str(out, p.credit_card.as_ref());
            out.extend_from_slice(b",\"city\":");
            write_str(out, p.city.as_ref());
            out.extend_from_slice(b",\"state\":");
            write_str(out, p.state.as_ref());
            out.extend_from_slice(b",\"dateTime\":");
            write_i64(out, p.date_time);
            out.extend_from_slice(b",\"extra\":");
            write_str(out, p.extra.as_ref());
            out.push(b'}');
        }
        Event::Auction(a) => {
            out.extend_from_slice(b"{\"type\":\"auction\",\"id\":");
            write_i64(out, a.id);
            out.extend_from_slice(b",\"itemName\":");
            write_str(out, a.item_name.as_ref());
            out.extend_from_slice(b",\"description\":");
            write_str(out, a.description.as_ref());
            out.extend_from_slice(b",\"initialBid\":");
            write_i64(out, a.initial_bid);
            out.extend_from_slice(b",\"reserve\":");
            write_i64(out, a.reserve);
            out.extend_from_slice(b",\"dateTime\":");
            write_i64(out, a.date_time);
            out.extend_from_slice(b",\"expires\":");
            write_i64(out, a.expires);
            out.extend_from_slice(b",\"seller\":");
            write_i64(out, a.seller);
            out.extend_from_slice(b",\"category\":");
            write_i64(out, a.category);
            out.extend_from_slice(b",\"extra\":");
            write_str(out, a.extra.as_ref());
            out.push(b'}');
        }
        Event::Bid(b) => {
            out.extend_from_slice(b"{\"type\":\"bid\",\"auction\":");
            write_i64(out, b.auction);
            out.extend_from_slice(b",\"bidder\":");
            write_i64(out, b.bidder);
            out.extend_from_slice(b",\"price\":");
            write_i64(out, b.price);
            out.extend_from_slice(b",\"dateTime\":");
            write_i64(out, b.date_time);
            out.extend_from_slice(b",\"extra\":");
            write_str(out, b.extra.as_ref());
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Auction, Bid, Person};

    fn json(e: &Event<&str>) -> String {
        let mut out = Vec::new();
        write_event(e, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_only_quote_and_backslash() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\td`");
        assert_eq!(out, b"\"a\\\"b\\\\c\td`\"");
        out.clear();
        write_str(&mut out, "");
        assert_eq!(out, b"\"\"");
    }

    #[test]
    fn integers_in_decimal() {
        for v in [0i64, 7, -7, 10, 1_700_000_000_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn each_type_in_the_peers_key_order() {
        let p = Event::Person(Person {
            id: 1000,
            name: "Deiter Bartels",
            email_address: "lg aa@sbf.com",
            credit_card: "7796 6232 9816 6651",
            city: "Phoenix",
            state: "ID",
            date_time: 1_700_000_000_000,
            extra: "a\\T",
        });
        assert_eq!(
            json(&p),
            r#"{"type":"person","id":1000,"name":"Deiter Bartels","emailAddress":"lg aa@sbf.com","creditCard":"7796 6232 9816 6651","city":"Phoenix","state":"ID","dateTime":1700000000000,"extra":"a\\T"}"#
        );
        let a = Event::Auction(Auction {
            id: 1000,
            item_name: "i",
            description: "d",
            initial_bid: 484,
            reserve: 45_701_726,
            date_time: 1,
            expires: 2,
            seller: 1000,
            category: 13,
            extra: "",
        });
        assert_eq!(
            json(&a),
            r#"{"type":"auction","id":1000,"itemName":"i","description":"d","initialBid":484,"reserve":45701726,"dateTime":1,"expires":2,"seller":1000,"category":13,"extra":""}"#
        );
        let b = Event::Bid(Bid {
            auction: 1000,
            bidder: 1001,
            price: 5936,
            date_time: 3,
            extra: "Q",
        });
        assert_eq!(
            json(&b),
            r#"{"type":"bid","auction":1000,"bidder":1001,"price":5936,"dateTime":3,"extra":"Q"}"#
        );
    }
}
