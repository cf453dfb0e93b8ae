//! Nexmark q4 (average closing price per category), first step: the peer's
//! `Q4Winners`. Per auction id (co-process; first input the auctions
//! `{"id","dateTime","expires","category"}` keyed by `id`, second the bids
//! `{"auction","price","dateTime"}` keyed by `auction`): the highest price
//! among bids with `auction.dateTime <= bid.dateTime <= auction.expires`,
//! emitted once as `{"auction","category","price"}` when the watermark
//! passes `expires` (the auction closed), and only if it had a valid bid.
//!
//! Bids that arrive before their auction (or after it closed) wait as the
//! highest price per bid timestamp in `early-bids`, each with an event-time
//! timer at its timestamp: when the watermark passes it, any auction the bid
//! could belong to (`dateTime <= bid.dateTime`) has arrived and taken it
//! into account, so the entry goes.

use eddy_sdk::{CoProcess, Context, Decode, Encode, MapState, OpenContext, TimeDomain, ValueState};
use nexmark_records::{Obj, key_i64, read_ints};
use serde::{Deserialize, Serialize};

/// An auction as `nexmark-project "q4-auctions"` writes it.
struct Auction {
    date_time: i64,
    expires: i64,
    category: i64,
}

impl Decode for Auction {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let [date_time, expires, category] = read_ints(bytes, ["dateTime", "expires", "category"])?;
        Ok(Auction {
            date_time,
            expires,
            category,
        })
    }
}

/// A bid as `nexmark-project "q4-bids"` writes it.
struct Bid {
    price: i64,
    date_time: i64,
}

impl Decode for Bid {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let [price, date_time] = read_ints(bytes, ["price", "dateTime"])?;
        Ok(Bid { price, date_time })
    }
}

/// An open auction and its highest valid bid so far (`max = -1`: none).
/// Stored as the JSON array `[dateTime, expires, category, max]`: every bid
/// reads it, and an array of integers is the cheapest JSON to read.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AuctionInfo(i64, i64, i64, i64);

impl AuctionInfo {
    fn new(auction: &Auction) -> Self {
        AuctionInfo(auction.date_time, auction.expires, auction.category, -1)
    }

    fn expires(&self) -> i64 {
        self.1
    }

    fn category(&self) -> i64 {
        self.2
    }

    fn max(&self) -> i64 {
        self.3
    }

    fn is_valid(&self, bid_time: i64) -> bool {
        bid_time >= self.0 && bid_time <= self.1
    }

    /// Takes a valid bid's price if it is the highest; says whether it was.
    fn offer(&mut self, bid_time: i64, price: i64) -> bool {
        let higher = self.is_valid(bid_time) && price > self.3;
        if higher {
            self.3 = price;
        }
        higher
    }
}

/// A closed auction with its highest valid bid (the peer's `Q4Winner`).
struct Winner {
    auction: i64,
    category: i64,
    price: i64,
}

impl Encode for Winner {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        Obj::new(out)
            .int("auction", self.auction)
            .int("category", self.category)
            .int("price", self.price)
            .end();
        Ok(())
    }
}

struct Q4Winners {
    info: ValueState<AuctionInfo>,
    /// Bid timestamp → highest price of the bids at it that found no open auction.
    early: MapState<i64, i64>,
}

impl CoProcess for Q4Winners {
    type In1 = Auction;
    type In2 = Bid;
    type Out = Winner;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Q4Winners {
            info: ctx.value_state("auction"),
            early: ctx.map_state("early-bids"),
        })
    }

    fn process_element1(
        &mut self,
        a: Auction,
        ctx: &mut Context<'_, Winner>,
    ) -> Result<(), String> {
        let mut info = AuctionInfo::new(&a);
        let early = self.early.entries()?;
        if !early.is_empty() {
            for (time, price) in early {
                info.offer(time, price);
            }
            self.early.clear()?;
        }
        self.info.update(&info)?;
        ctx.register_event_time_timer(a.expires);
        Ok(())
    }

    fn process_element2(&mut self, b: Bid, ctx: &mut Context<'_, Winner>) -> Result<(), String> {
        if let Some(mut info) = self.info.value()? {
            if info.offer(b.date_time, b.price) {
                self.info.update(&info)?;
            }
            return Ok(());
        }
        match self.early.get(&b.date_time)? {
            None => {
                self.early.put(&b.date_time, &b.price)?;
                ctx.register_event_time_timer(b.date_time);
            }
            Some(max) if b.price > max => self.early.put(&b.date_time, &b.price)?,
            Some(_) => {}
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        ctx: &mut Context<'_, Winner>,
    ) -> Result<(), String> {
        if let Some(info) = self.info.value()?
            && info.expires() == timestamp
        {
            if info.max() >= 0 {
                ctx.emit(Winner {
                    auction: key_i64(ctx.key())?,
                    category: info.category(),
                    price: info.max(),
                });
            }
            self.info.clear()?;
        }
        self.early.remove(&timestamp)
    }
}

eddy_sdk::export_co_process!(Q4Winners);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{CoProcessHarness, CoRecord, Input, sorted_lines};

    use super::Q4Winners;

    /// An auction open from `t` to `expires`, keyed by its id.
    fn auction(id: &'static str, t: i64, expires: i64) -> (Input, Vec<u8>, i64, Vec<u8>) {
        let value = format!(r#"{{"id":{id},"dateTime":{t},"expires":{expires},"category":10}}"#);
        (Input::First, id.as_bytes().to_vec(), t, value.into_bytes())
    }

    fn bid(auction: &'static str, t: i64, price: i64) -> (Input, Vec<u8>, i64, Vec<u8>) {
        let value = format!(r#"{{"auction":{auction},"price":{price},"dateTime":{t}}}"#);
        (
            Input::Second,
            auction.as_bytes().to_vec(),
            t,
            value.into_bytes(),
        )
    }

    fn records(owned: &[(Input, Vec<u8>, i64, Vec<u8>)]) -> Vec<CoRecord<'_>> {
        owned
            .iter()
            .map(|(input, key, t, value)| (*input, key.as_slice(), *t, value.as_slice()))
            .collect()
    }

    /// Everything emitted for `input`, run record by record with the
    /// watermark trailing by `lag`, and at the end at the end of time.
    fn run(input: &[(Input, Vec<u8>, i64, Vec<u8>)], lag: i64) -> Vec<String> {
        let mut harness = CoProcessHarness::<Q4Winners>::open("").unwrap();
        let output = harness
            .run_with_watermarks(&records(input), 1, lag)
            .unwrap();
        sorted_lines(&output, None)
    }

    #[test]
    fn a_bid_before_its_auction_is_held_and_counted() {
        let input = [
            bid("7", 10, 500),
            bid("7", 12, 300),
            auction("7", 5, 100),
            bid("7", 20, 400),
        ];
        assert_eq!(
            run(&input, 50),
            [r#"{"auction":7,"category":10,"price":500}"#]
        );
        // Without the early bid, the later ones decide.
        assert_eq!(
            run(&input[1..], 50),
            [r#"{"auction":7,"category":10,"price":400}"#]
        );
    }

    #[test]
    fn bids_outside_the_auctions_lifetime_are_ignored() {
        // Early at 4 (before the auction opened at 5), on time at 5 and 100
        // (both bounds valid), 101 after it expired.
        let input = [
            bid("7", 4, 900),
            auction("7", 5, 100),
            bid("7", 5, 10),
            bid("7", 100, 20),
            bid("7", 101, 800),
        ];
        assert_eq!(
            run(&input, 1000),
            [r#"{"auction":7,"category":10,"price":20}"#]
        );
        // No valid bid at all: nothing.
        assert!(
            run(
                &[bid("7", 4, 900), auction("7", 5, 100), bid("7", 101, 800)],
                1000
            )
            .is_empty()
        );
    }

    #[test]
    fn the_auction_closes_once_and_clears_its_state() {
        let mut harness = CoProcessHarness::<Q4Winners>::open("").unwrap();
        let opened = [auction("7", 5, 100), bid("7", 50, 300), bid("8", 60, 1)];
        assert!(harness.process(&records(&opened)).unwrap().is_empty());
        assert!(harness.advance_watermark(99).unwrap().is_empty());
        let closed = harness.advance_watermark(100).unwrap();
        assert_eq!(
            sorted_lines(&closed, None),
            [r#"{"auction":7,"category":10,"price":300}"#]
        );
        assert_eq!(closed[0].timestamp, 100);
        // A bid after the close waits as an early bid (no auction any more),
        // and its timer finds nothing to emit.
        assert!(
            harness
                .process(&records(&[bid("7", 150, 999)]))
                .unwrap()
                .is_empty()
        );
        assert!(harness.advance_watermark(i64::MAX).unwrap().is_empty());
        // Bid 8's early entry went with its timer: an auction 8 opened now
        // does not see it.
        let late = [auction("8", 60, 200)];
        assert!(harness.process(&records(&late)).unwrap().is_empty());
        assert!(harness.advance_watermark(i64::MAX).unwrap().is_empty());
    }

    #[test]
    fn early_bids_keep_the_highest_price_per_timestamp() {
        let input = [
            bid("7", 10, 5),
            bid("7", 10, 9),
            bid("7", 10, 7),
            bid("7", 11, 8),
            auction("7", 10, 20),
        ];
        assert_eq!(
            run(&input, 50),
            [r#"{"auction":7,"category":10,"price":9}"#]
        );
        // An early bid at exactly `expires` counts; one past it does not.
        let input = [bid("7", 20, 6), bid("7", 21, 60), auction("7", 10, 20)];
        assert_eq!(
            run(&input, 50),
            [r#"{"auction":7,"category":10,"price":6}"#]
        );
    }
}
