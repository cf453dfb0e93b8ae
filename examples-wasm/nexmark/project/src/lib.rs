//! Nexmark's first step, for every query: the generator's binary events
//! (source `format = "nexmark"`, `eddy_nexmark::binary`) in, for each event
//! 0 or 1 compact JSON record out, chosen by the operator's `config`:
//!
//! | config | keeps | emits |
//! |---|---|---|
//! | `q0` | bids | `{"auction","bidder","price","dateTime","extra"}` |
//! | `q1` | bids | the same with `price = price * 908 / 1000` (integer, truncated) |
//! | `q2` | bids with `auction % 123 == 0` | `{"auction","price"}` |
//! | `q3-auctions` | auctions with `category == 10` | `{"seller","id"}` |
//! | `q3-persons` | persons with state OR, ID or CA | `{"id","name","city","state"}` |
//! | `q4-auctions` | auctions | `{"id","dateTime","expires","category"}` |
//! | `q4-bids` | bids | `{"auction","price","dateTime"}` |
//! | `q5-bids` | bids | `{"auction"}` |
//! | `q8-persons` | persons | `{"id","name"}` |
//! | `q8-sellers` | auctions | `{"id": seller}` |
//! | `q11-bids` | bids | `{"bidder"}` |
//!
//! That is the peer's per-type `flatMap` (`BidsOf`, `AuctionsOf`,
//! `PersonsOf`) fused with the query's first filter and map. q0 and q1
//! emit the query's results; the others emit what the next operator keys
//! by and reads.
//!
//! This runs for every event, so it drops the events of the other types by
//! their type byte (only the kept ones are decoded, and so checked), writes
//! JSON by hand and does the whole projection while the record's bytes are
//! borrowed: in [`Decode`], which
//! sees them in place, rather than copying them into an owned input first.
//! `Decode::decode` has no `self`, so the projection that `open` chose is
//! kept in a thread-local (an instance is single-threaded).

use std::cell::Cell;

use eddy_nexmark::Event;
use eddy_nexmark::binary;
use eddy_sdk::{Collector, Decode, FlatMap, OpenContext};
use nexmark_records::Obj;

/// What one query keeps of the events and how it writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Projection {
    Q0,
    Q1,
    Q2,
    Q3Auctions,
    Q3Persons,
    Q4Auctions,
    Q4Bids,
    Q5Bids,
    Q8Persons,
    Q8Sellers,
    Q11Bids,
}

/// Every valid `config`, in the order of the table above.
const PROJECTIONS: [(&str, Projection); 11] = [
    ("q0", Projection::Q0),
    ("q1", Projection::Q1),
    ("q2", Projection::Q2),
    ("q3-auctions", Projection::Q3Auctions),
    ("q3-persons", Projection::Q3Persons),
    ("q4-auctions", Projection::Q4Auctions),
    ("q4-bids", Projection::Q4Bids),
    ("q5-bids", Projection::Q5Bids),
    ("q8-persons", Projection::Q8Persons),
    ("q8-sellers", Projection::Q8Sellers),
    ("q11-bids", Projection::Q11Bids),
];

impl Projection {
    fn from_config(config: &str) -> Result<Self, String> {
        let name = config.trim();
        PROJECTIONS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, projection)| *projection)
            .ok_or_else(|| {
                let valid: Vec<&str> = PROJECTIONS.iter().map(|(known, _)| *known).collect();
                format!(
                    "unknown projection config {config:?}: the config must be one of {}",
                    valid.join(", ")
                )
            })
    }

    /// The type of event (`binary`'s tag) this projection keeps; the others
    /// are dropped by their type byte alone, without decoding them.
    fn keeps(self) -> u8 {
        use Projection as P;
        match self {
            P::Q0 | P::Q1 | P::Q2 | P::Q4Bids | P::Q5Bids | P::Q11Bids => binary::TAG_BID,
            P::Q3Auctions | P::Q4Auctions | P::Q8Sellers => binary::TAG_AUCTION,
            P::Q3Persons | P::Q8Persons => binary::TAG_PERSON,
        }
    }

    /// The record this projection makes of `event`, if it keeps it.
    fn project(self, event: &Event<&str>) -> Option<Vec<u8>> {
        use Projection as P;
        let mut out;
        match (self, event) {
            (P::Q0 | P::Q1, Event::Bid(b)) => {
                let price = if self == P::Q1 {
                    b.price.wrapping_mul(908) / 1000
                } else {
                    b.price
                };
                out = Vec::with_capacity(96 + b.extra.len());
                Obj::new(&mut out)
                    .int("auction", b.auction)
                    .int("bidder", b.bidder)
                    .int("price", price)
                    .int("dateTime", b.date_time)
                    .str("extra", b.extra)
                    .end();
            }
            (P::Q2, Event::Bid(b)) if b.auction % 123 == 0 => {
                out = Vec::with_capacity(48);
                Obj::new(&mut out)
                    .int("auction", b.auction)
                    .int("price", b.price)
                    .end();
            }
            (P::Q3Auctions, Event::Auction(a)) if a.category == 10 => {
                out = Vec::with_capacity(48);
                Obj::new(&mut out)
                    .int("seller", a.seller)
                    .int("id", a.id)
                    .end();
            }
            (P::Q3Persons, Event::Person(p)) if matches!(p.state, "OR" | "ID" | "CA") => {
                out = Vec::with_capacity(64 + p.name.len() + p.city.len());
                Obj::new(&mut out)
                    .int("id", p.id)
                    .str("name", p.name)
                    .str("city", p.city)
                    .str("state", p.state)
                    .end();
            }
            (P::Q4Auctions, Event::Auction(a)) => {
                out = Vec::with_capacity(96);
                Obj::new(&mut out)
                    .int("id", a.id)
                    .int("dateTime", a.date_time)
                    .int("expires", a.expires)
                    .int("category", a.category)
                    .end();
            }
            (P::Q4Bids, Event::Bid(b)) => {
                out = Vec::with_capacity(64);
                Obj::new(&mut out)
                    .int("auction", b.auction)
                    .int("price", b.price)
                    .int("dateTime", b.date_time)
                    .end();
            }
            (P::Q5Bids, Event::Bid(b)) => {
                out = Vec::with_capacity(24);
                Obj::new(&mut out).int("auction", b.auction).end();
            }
            (P::Q8Persons, Event::Person(p)) => {
                out = Vec::with_capacity(32 + p.name.len());
                Obj::new(&mut out).int("id", p.id).str("name", p.name).end();
            }
            (P::Q8Sellers, Event::Auction(a)) => {
                out = Vec::with_capacity(24);
                Obj::new(&mut out).int("id", a.seller).end();
            }
            (P::Q11Bids, Event::Bid(b)) => {
                out = Vec::with_capacity(24);
                Obj::new(&mut out).int("bidder", b.bidder).end();
            }
            _ => return None,
        }
        Some(out)
    }
}

thread_local! {
    /// The projection `open` chose; `None` before `open`.
    static PROJECTION: Cell<Option<Projection>> = const { Cell::new(None) };
}

/// An event already projected by the operator's projection: the record to
/// emit, or `None` if the projection drops the event.
struct Projected(Option<Vec<u8>>);

impl Decode for Projected {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let projection = PROJECTION
            .get()
            .ok_or("nexmark-project decoded a record before open chose its projection")?;
        match binary::tag(bytes) {
            Some(tag) if tag == projection.keeps() => {}
            Some(binary::TAG_PERSON | binary::TAG_AUCTION | binary::TAG_BID) => {
                return Ok(Projected(None));
            }
            _ => {}
        }
        let event = binary::decode(bytes).map_err(|error| {
            format!(
                "record is not a Nexmark event (source format \"nexmark\"): {error} \
                 ({} bytes)",
                bytes.len()
            )
        })?;
        Ok(Projected(projection.project(&event)))
    }
}

struct Project;

impl FlatMap for Project {
    type In = Projected;
    type Out = Vec<u8>;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        PROJECTION.set(Some(Projection::from_config(ctx.config())?));
        Ok(Project)
    }

    fn flat_map(
        &mut self,
        Projected(record): Projected,
        out: &mut Collector<'_, Vec<u8>>,
    ) -> Result<(), String> {
        if let Some(record) = record {
            out.emit(record);
        }
        Ok(())
    }
}

eddy_sdk::export_flat_map!(Project);

#[cfg(test)]
mod tests {
    use eddy_nexmark::{Auction, Bid, Event, Person, binary};
    use eddy_sdk::testing::run_flat_map;

    use super::{PROJECTIONS, Project};

    fn bid(auction: i64, price: i64) -> Event {
        Event::Bid(Bid {
            auction,
            bidder: 1001,
            price,
            date_time: 1_700_000_000_007,
            extra: "Q\\T\"x".into(),
        })
    }

    fn auction(id: i64, seller: i64, category: i64) -> Event {
        Event::Auction(Auction {
            id,
            item_name: "item".into(),
            description: "desc".into(),
            initial_bid: 100,
            reserve: 200,
            date_time: 1_700_000_000_001,
            expires: 1_700_000_000_050,
            seller,
            category,
            extra: "e".into(),
        })
    }

    fn person(id: i64, state: &str) -> Event {
        Event::Person(Person {
            id,
            name: "Deiter Bartels".into(),
            email_address: "a@b.com".into(),
            credit_card: "1 2 3 4".into(),
            city: "Phoenix".into(),
            state: state.into(),
            date_time: 1_700_000_000_002,
            extra: "p".into(),
        })
    }

    fn encoded(events: &[Event]) -> Vec<Vec<u8>> {
        events
            .iter()
            .map(|event| {
                let mut bytes = Vec::new();
                binary::encode(event, &mut bytes);
                bytes
            })
            .collect()
    }

    /// The records `config` makes of `events`, as text.
    fn project(config: &str, events: &[Event]) -> Vec<String> {
        let inputs = encoded(events);
        let inputs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        run_flat_map::<Project>(config, &inputs)
            .unwrap()
            .into_iter()
            .map(|record| String::from_utf8(record).unwrap())
            .collect()
    }

    fn sample() -> Vec<Event> {
        vec![
            person(1000, "OR"),
            auction(1000, 1000, 10),
            bid(1000, 5936),
            person(1001, "WA"),
            auction(1001, 1001, 13),
            bid(1106, 999),
            bid(123 * 9, 7),
        ]
    }

    #[test]
    fn each_projection_keeps_and_writes_what_its_query_reads() {
        let extra = r#""Q\\T\"x""#;
        let cases: [(&str, Vec<String>); 11] = [
            (
                "q0",
                [(1000, 5936), (1106, 999), (1107, 7)]
                    .iter()
                    .map(|(a, p)| format!(r#"{{"auction":{a},"bidder":1001,"price":{p},"dateTime":1700000000007,"extra":{extra}}}"#))
                    .collect(),
            ),
            (
                "q1",
                [(1000, 5389), (1106, 907), (1107, 6)]
                    .iter()
                    .map(|(a, p)| format!(r#"{{"auction":{a},"bidder":1001,"price":{p},"dateTime":1700000000007,"extra":{extra}}}"#))
                    .collect(),
            ),
            ("q2", vec![r#"{"auction":1107,"price":7}"#.into()]),
            ("q3-auctions", vec![r#"{"seller":1000,"id":1000}"#.into()]),
            (
                "q3-persons",
                vec![r#"{"id":1000,"name":"Deiter Bartels","city":"Phoenix","state":"OR"}"#.into()],
            ),
            (
                "q4-auctions",
                vec![
                    r#"{"id":1000,"dateTime":1700000000001,"expires":1700000000050,"category":10}"#.into(),
                    r#"{"id":1001,"dateTime":1700000000001,"expires":1700000000050,"category":13}"#.into(),
                ],
            ),
            (
                "q4-bids",
                [(1000, 5936), (1106, 999), (1107, 7)]
                    .iter()
                    .map(|(a, p)| format!(r#"{{"auction":{a},"price":{p},"dateTime":1700000000007}}"#))
                    .collect(),
            ),
            (
                "q5-bids",
                vec![
                    r#"{"auction":1000}"#.into(),
                    r#"{"auction":1106}"#.into(),
                    r#"{"auction":1107}"#.into(),
                ],
            ),
            (
                "q8-persons",
                vec![
                    r#"{"id":1000,"name":"Deiter Bartels"}"#.into(),
                    r#"{"id":1001,"name":"Deiter Bartels"}"#.into(),
                ],
            ),
            (
                "q8-sellers",
                vec![r#"{"id":1000}"#.into(), r#"{"id":1001}"#.into()],
            ),
            (
                "q11-bids",
                vec![r#"{"bidder":1001}"#.into(); 3],
            ),
        ];
        let tested: Vec<&str> = cases.iter().map(|(config, _)| *config).collect();
        let valid: Vec<&str> = PROJECTIONS.iter().map(|(config, _)| *config).collect();
        assert_eq!(tested, valid, "every projection has its case");
        for (config, expected) in cases {
            assert_eq!(project(config, &sample()), expected, "config {config}");
            for record in &expected {
                serde_json::from_str::<serde_json::Value>(record)
                    .unwrap_or_else(|error| panic!("{config}: not JSON ({error}): {record}"));
            }
        }
    }

    #[test]
    fn q3_persons_only_from_or_id_ca() {
        let persons: Vec<Event> = ["AZ", "CA", "ID", "OR", "WA", "WY"]
            .iter()
            .enumerate()
            .map(|(i, state)| person(1000 + i as i64, state))
            .collect();
        let states: Vec<String> = project("q3-persons", &persons)
            .iter()
            .map(|record| {
                let value: serde_json::Value = serde_json::from_str(record).unwrap();
                value["state"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(states, ["CA", "ID", "OR"]);
    }

    #[test]
    fn q1_truncates_and_q2_keeps_multiples_of_123() {
        let bids = [bid(0, 1), bid(246, 1099), bid(-123, 1101), bid(124, 5)];
        let q1: Vec<i64> = project("q1", &bids)
            .iter()
            .map(|record| {
                serde_json::from_str::<serde_json::Value>(record).unwrap()["price"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(q1, [0, 997, 999, 4]);
        assert_eq!(
            project("q2", &bids),
            [
                r#"{"auction":0,"price":1}"#,
                r#"{"auction":246,"price":1099}"#,
                r#"{"auction":-123,"price":1101}"#,
            ]
        );
    }

    #[test]
    fn an_unknown_config_names_the_valid_ones() {
        for config in ["", "q6", "Q0"] {
            let error = run_flat_map::<Project>(config, &[]).unwrap_err();
            assert!(
                error.contains("q0, q1, q2, q3-auctions") && error.contains("q11-bids"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_malformed_record_is_an_error_naming_the_problem() {
        let mut bytes = encoded(&[bid(1, 2)]).remove(0);
        bytes.truncate(20);
        let error = run_flat_map::<Project>("q0", &[&bytes]).unwrap_err();
        assert!(error.contains("not a Nexmark event"), "{error}");
        assert!(error.contains("`price`"), "{error}");
        let error = run_flat_map::<Project>("q0", &[b"\x09"]).unwrap_err();
        assert!(error.contains("tag 9"), "{error}");
        // Events of a type the projection drops are not decoded (that is
        // its speed), so only their type byte is checked.
        assert_eq!(run_flat_map::<Project>("q3-persons", &[&bytes]), Ok(vec![]));
    }
}
