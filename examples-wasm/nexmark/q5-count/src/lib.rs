//! Nexmark q5 (hot items), first step: the peer's `CountAgg` with
//! `EmitAuctionCount`. Bids keyed by `auction` in sliding windows (10 s,
//! every 2 s, in the job file); per auction and window the number of bids,
//! emitted as `{"auction","num","starttime","endtime"}` (the window's
//! bounds) for `nexmark-q5-hot`.

use eddy_sdk::{Aggregate, OpenContext, Window};
use nexmark_records::{AnyRecord, AuctionCount, key_i64};

struct Q5Count;

impl Aggregate for Q5Count {
    type In = AnyRecord;
    type Acc = i64;
    type Out = AuctionCount;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Q5Count)
    }

    fn create_accumulator(&self) -> i64 {
        0
    }

    fn add(&self, count: &mut i64, _: AnyRecord) {
        *count += 1;
    }

    fn merge(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    fn get_result(&self, count: &i64, window: &Window<'_>) -> AuctionCount {
        // `get_result` cannot fail; a key that is not an auction id is a
        // job file keying by the wrong field.
        let auction = key_i64(window.key).unwrap_or_else(|error| panic!("{error}"));
        AuctionCount {
            auction,
            num: *count,
            starttime: window.start,
            endtime: window.end,
        }
    }
}

eddy_sdk::export_aggregate!(Q5Count);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{AggregateHarness, KeyedJsonl, Windows, sorted_lines};

    use super::Q5Count;

    #[test]
    fn counts_bids_per_auction_in_every_sliding_window() {
        let bids = KeyedJsonl::parse(
            r#"
{"auction":7,"t":1000}
{"auction":7,"t":2500}
{"auction":8,"t":3999}
"#,
            "auction",
            "t",
        );
        let windows = Windows::Sliding {
            size: 4000,
            slide: 2000,
        };
        let mut harness = AggregateHarness::<Q5Count>::open("", windows).unwrap();
        let output = harness.run_with_watermarks(&bids.records(), 1, 0).unwrap();
        assert_eq!(
            sorted_lines(&output, None),
            [
                r#"{"auction":7,"num":1,"starttime":-2000,"endtime":2000}"#,
                r#"{"auction":7,"num":1,"starttime":2000,"endtime":6000}"#,
                r#"{"auction":7,"num":2,"starttime":0,"endtime":4000}"#,
                r#"{"auction":8,"num":1,"starttime":0,"endtime":4000}"#,
                r#"{"auction":8,"num":1,"starttime":2000,"endtime":6000}"#,
            ]
        );
    }
}
