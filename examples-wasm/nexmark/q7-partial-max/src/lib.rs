//! Nexmark q7 (highest bid), first step: the peer's `Q7MaxAgg` with
//! `Q7Emit`. Bids in the generator's binary layout (kept by `nexmark-bids`)
//! keyed by their bucket `auction & 63` (`nexmark-q7-bucket`) in tumbling
//! windows (10 s, in the job file); the accumulator is the highest price and
//! every bid at it (ties included). A bid's fields are read from its binary
//! layout (no JSON parse), and an owned bid, `extra` included, is built only
//! when it is at the highest price so far. An aggregate emits one result per key and window, so the
//! result carries all ties: `{"windowEnd","price","ties":[bid, ...]}`, read
//! by `nexmark-q7-max` keyed by `windowEnd`.

use eddy_nexmark::{Event, binary};
use eddy_sdk::{Aggregate, Decode, Json, OpenContext, Window};
use nexmark_records::{Q7Bid, Q7Partial};
use serde::{Deserialize, Serialize};

/// The highest price seen and every bid at it (the peer's `Q7Acc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Q7Acc {
    /// `i64::MIN` while empty.
    max: i64,
    ties: Vec<Q7Bid>,
}

/// A bid's bytes in the generator's binary layout, read when it is added:
/// an aggregate's input is owned, and only `add` knows the highest price.
struct BinaryBid(Vec<u8>);

impl Decode for BinaryBid {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(BinaryBid(bytes.to_vec()))
    }
}

impl BinaryBid {
    /// The bid, owned, if `wanted(its price)`; `extra` is copied only then.
    fn read_if(&self, wanted: impl FnOnce(i64) -> bool) -> Option<Q7Bid> {
        let bid = match binary::decode(&self.0) {
            Ok(Event::Bid(bid)) => bid,
            // An aggregate's `add` cannot fail: a record that is not a bid
            // means the job file feeds the wrong stream, which must not go
            // unnoticed.
            Ok(_) => panic!("q7 takes bids only: put nexmark-bids before it"),
            Err(error) => {
                panic!("record is not a Nexmark bid (source format \"nexmark\"): {error}")
            }
        };
        wanted(bid.price).then(|| Q7Bid {
            auction: bid.auction,
            price: bid.price,
            bidder: bid.bidder,
            date_time: bid.date_time,
            extra: bid.extra.to_string(),
        })
    }
}

struct Q7PartialMax;

impl Q7PartialMax {
    fn add_bid(acc: &mut Q7Acc, bid: Q7Bid) {
        if bid.price > acc.max {
            acc.max = bid.price;
            acc.ties.clear();
        }
        if bid.price == acc.max {
            acc.ties.push(bid);
        }
    }
}

impl Aggregate for Q7PartialMax {
    type In = BinaryBid;
    type Acc = Q7Acc;
    type Out = Json<Q7Partial>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Q7PartialMax)
    }

    fn create_accumulator(&self) -> Q7Acc {
        Q7Acc {
            max: i64::MIN,
            ties: Vec::new(),
        }
    }

    fn add(&self, acc: &mut Q7Acc, bid: BinaryBid) {
        let max = acc.max;
        if let Some(bid) = bid.read_if(|price| price >= max) {
            Self::add_bid(acc, bid);
        }
    }

    fn merge(&self, mut a: Q7Acc, b: Q7Acc) -> Q7Acc {
        for bid in b.ties {
            Self::add_bid(&mut a, bid);
        }
        a
    }

    fn get_result(&self, acc: &Q7Acc, window: &Window<'_>) -> Json<Q7Partial> {
        Json(Q7Partial {
            window_end: window.end,
            price: acc.max,
            ties: acc.ties.clone(),
        })
    }
}

eddy_sdk::export_aggregate!(Q7PartialMax);

#[cfg(test)]
mod tests {
    use eddy_nexmark::{Bid, Event, binary};
    use eddy_sdk::Aggregate;
    use eddy_sdk::testing::{AggregateHarness, Windows, sorted_lines};
    use nexmark_records::Q7Bid;

    use super::{BinaryBid, Q7PartialMax};

    fn bid(auction: i64, price: i64, bidder: i64, t: i64, extra: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        binary::encode(
            &Event::Bid(Bid {
                auction,
                bidder,
                price,
                date_time: t,
                extra,
            }),
            &mut bytes,
        );
        bytes
    }

    fn owned(auction: i64, price: i64, t: i64) -> Q7Bid {
        Q7Bid {
            auction,
            price,
            bidder: 1,
            date_time: t,
            extra: "x".into(),
        }
    }

    #[test]
    fn keeps_the_highest_price_with_all_ties_per_bucket_and_window() {
        let bids = [
            (1, 5, 1, 0, "a"),
            (65, 9, 2, 1, "b\\"),
            (1, 9, 3, 2, "c"),
            (129, 7, 4, 3, "d"),
            (2, 1, 5, 4, "e"),
            (1, 3, 6, 10_000, "f"),
        ]
        .map(|(auction, price, bidder, t, extra)| {
            (
                (auction & 63).to_string(),
                t,
                bid(auction, price, bidder, t, extra),
            )
        });
        let records: Vec<_> = bids
            .iter()
            .map(|(key, t, value)| (key.as_bytes(), *t, value.as_slice()))
            .collect();
        let windows = Windows::Tumbling { size: 10_000 };
        for batch_size in [1, 4, 100] {
            let mut harness = AggregateHarness::<Q7PartialMax>::open("", windows).unwrap();
            let output = harness
                .run_with_watermarks(&records, batch_size, 0)
                .unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"windowEnd":10000,"price":1,"ties":[{"auction":2,"price":1,"bidder":5,"dateTime":4,"extra":"e"}]}"#,
                    r#"{"windowEnd":10000,"price":9,"ties":[{"auction":65,"price":9,"bidder":2,"dateTime":1,"extra":"b\\"},{"auction":1,"price":9,"bidder":3,"dateTime":2,"extra":"c"}]}"#,
                    r#"{"windowEnd":20000,"price":3,"ties":[{"auction":1,"price":3,"bidder":6,"dateTime":10000,"extra":"f"}]}"#,
                ],
                "batch size {batch_size}"
            );
        }
    }

    #[test]
    fn merge_keeps_the_ties_of_the_higher_side() {
        let agg = Q7PartialMax;
        let mut a = agg.create_accumulator();
        agg.add(&mut a, BinaryBid(bid(1, 5, 1, 0, "x")));
        agg.add(&mut a, BinaryBid(bid(2, 5, 1, 1, "x")));
        let mut b = agg.create_accumulator();
        agg.add(&mut b, BinaryBid(bid(3, 5, 1, 2, "x")));
        let merged = agg.merge(a.clone(), b);
        assert_eq!(merged.max, 5);
        assert_eq!(merged.ties.len(), 3);
        let mut c = agg.create_accumulator();
        agg.add(&mut c, BinaryBid(bid(4, 6, 1, 3, "x")));
        let merged = agg.merge(a, c);
        assert_eq!((merged.max, merged.ties), (6, vec![owned(4, 6, 3)]));
    }

    #[test]
    #[should_panic(expected = "q7 takes bids only")]
    fn a_record_that_is_not_a_bid_is_not_ignored() {
        let mut bytes = Vec::new();
        binary::encode(
            &eddy_nexmark::GeneratorConfig::default().event(0),
            &mut bytes,
        );
        let agg = Q7PartialMax;
        let mut acc = agg.create_accumulator();
        agg.add(&mut acc, BinaryBid(bytes));
    }
}
