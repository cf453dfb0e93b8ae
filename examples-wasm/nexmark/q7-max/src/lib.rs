//! Nexmark q7 (highest bid), second step: the peer's `Q7Max` over the
//! buckets' maxima. Keyed by `windowEnd`, over `{"windowEnd","price",
//! "ties":[bid, ...]}` of `nexmark-q7-partial-max`: the window's highest
//! price and every bid at it (ties included), emitted when the watermark
//! reaches `windowEnd - 1`, one `{"auction","price","bidder","dateTime",
//! "extra","windowEnd"}` per bid.
//!
//! The peer gets one record per tied bid and this guest one per bucket with
//! all of the bucket's ties; the maximum and the set of bids at it are the
//! same.

use eddy_sdk::{
    Context, Encode, Json, KeyedProcess, ListState, OpenContext, TimeDomain, ValueState,
};
use nexmark_records::{Obj, Q7Bid, Q7Partial};

/// A result (the peer's `Q7Out`).
struct Q7Out {
    bid: Q7Bid,
    window_end: i64,
}

impl Encode for Q7Out {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let b = &self.bid;
        Obj::new(out)
            .int("auction", b.auction)
            .int("price", b.price)
            .int("bidder", b.bidder)
            .int("dateTime", b.date_time)
            .str("extra", &b.extra)
            .int("windowEnd", self.window_end)
            .end();
        Ok(())
    }
}

struct Q7Max {
    max: ValueState<i64>,
    best: ListState<Q7Bid>,
}

impl KeyedProcess for Q7Max {
    type In = Json<Q7Partial>;
    type Out = Q7Out;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Q7Max {
            max: ctx.value_state("max"),
            best: ctx.list_state("best"),
        })
    }

    fn process(
        &mut self,
        Json(partial): Json<Q7Partial>,
        ctx: &mut Context<'_, Q7Out>,
    ) -> Result<(), String> {
        let max = self.max.value()?;
        if max.is_none() {
            ctx.register_event_time_timer(partial.window_end - 1);
        }
        match max {
            Some(max) if partial.price < max => {}
            Some(max) if partial.price == max => {
                for bid in &partial.ties {
                    self.best.add(bid)?;
                }
            }
            _ => {
                self.max.update(&partial.price)?;
                self.best.update(&partial.ties)?;
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        ctx: &mut Context<'_, Q7Out>,
    ) -> Result<(), String> {
        let window_end = timestamp + 1;
        for bid in self.best.get()? {
            ctx.emit(Q7Out { bid, window_end });
        }
        self.best.clear()?;
        self.max.clear()
    }
}

eddy_sdk::export_keyed_process!(Q7Max);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, KeyedJsonl, sorted_lines};

    use super::Q7Max;

    const PARTIALS: &str = r#"
{"windowEnd":10000,"price":7,"ties":[{"auction":1,"price":7,"bidder":1,"dateTime":1,"extra":"a"}]}
{"windowEnd":10000,"price":9,"ties":[{"auction":2,"price":9,"bidder":2,"dateTime":2,"extra":"b\\\""},{"auction":66,"price":9,"bidder":3,"dateTime":3,"extra":"c"}]}
{"windowEnd":10000,"price":8,"ties":[{"auction":3,"price":8,"bidder":4,"dateTime":4,"extra":"d"}]}
{"windowEnd":10000,"price":9,"ties":[{"auction":5,"price":9,"bidder":5,"dateTime":5,"extra":"e"}]}
{"windowEnd":20000,"price":1,"ties":[{"auction":6,"price":1,"bidder":6,"dateTime":10006,"extra":"f"}]}
"#;

    #[test]
    fn every_bid_at_the_windows_maximum_is_emitted() {
        let partials = KeyedJsonl::parse(PARTIALS, "windowEnd", "windowEnd");
        for batch_size in [1, 2, 100] {
            let mut harness = KeyedHarness::<Q7Max>::open("").unwrap();
            // Partial results carry the window's end - 1 as their timestamp.
            let records: Vec<_> = partials
                .records()
                .into_iter()
                .map(|(key, t, value)| (key, t - 1, value))
                .collect();
            let output = harness
                .run_with_watermarks(&records, batch_size, 0)
                .unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"auction":2,"price":9,"bidder":2,"dateTime":2,"extra":"b\\\"","windowEnd":10000}"#,
                    r#"{"auction":5,"price":9,"bidder":5,"dateTime":5,"extra":"e","windowEnd":10000}"#,
                    r#"{"auction":6,"price":1,"bidder":6,"dateTime":10006,"extra":"f","windowEnd":20000}"#,
                    r#"{"auction":66,"price":9,"bidder":3,"dateTime":3,"extra":"c","windowEnd":10000}"#,
                ],
                "batch size {batch_size}"
            );
        }
    }

    #[test]
    fn the_timer_emits_once_and_clears() {
        let mut harness = KeyedHarness::<Q7Max>::open("").unwrap();
        let partial = r#"{"windowEnd":10000,"price":7,"ties":[{"auction":1,"price":7,"bidder":1,"dateTime":1,"extra":"a"}]}"#;
        assert!(
            harness
                .process(&[(b"10000", 9999, partial.as_bytes())])
                .unwrap()
                .is_empty()
        );
        assert!(harness.advance_watermark(9998).unwrap().is_empty());
        let fired = harness.advance_watermark(9999).unwrap();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].timestamp, 9999);
        assert!(harness.advance_watermark(i64::MAX).unwrap().is_empty());
    }
}
