//! Nexmark q11 (user sessions): bids per bidder in session windows with a
//! 10 s gap (in the job file), keyed by `bidder`; per session
//! `{"bidder","bid_count","starttime","endtime"}` with the window's bounds:
//! the first bid and the last bid + 10 s. Sessions whose windows
//! `[t, t + 10 s)` touch merge, so bids exactly 10 s apart are one session,
//! as in Flink.

use eddy_sdk::{Aggregate, Encode, OpenContext, Window};
use nexmark_records::{AnyRecord, Obj, key_i64};

/// The result (the peer's `Q11Out`).
struct Q11Out {
    bidder: i64,
    bid_count: i64,
    starttime: i64,
    endtime: i64,
}

impl Encode for Q11Out {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        Obj::new(out)
            .int("bidder", self.bidder)
            .int("bid_count", self.bid_count)
            .int("starttime", self.starttime)
            .int("endtime", self.endtime)
            .end();
        Ok(())
    }
}

struct Q11Sessions;

impl Aggregate for Q11Sessions {
    type In = AnyRecord;
    type Acc = i64;
    type Out = Q11Out;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Q11Sessions)
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

    fn get_result(&self, count: &i64, window: &Window<'_>) -> Q11Out {
        // `get_result` cannot fail; a key that is not a bidder id is a job
        // file keying by the wrong field.
        let bidder = key_i64(window.key).unwrap_or_else(|error| panic!("{error}"));
        Q11Out {
            bidder,
            bid_count: *count,
            starttime: window.start,
            endtime: window.end,
        }
    }
}

eddy_sdk::export_aggregate!(Q11Sessions);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{AggregateHarness, KeyedJsonl, Windows, sorted_lines};

    use super::Q11Sessions;

    #[test]
    fn sessions_end_ten_seconds_after_the_last_bid() {
        // Bidder 1: 0, 10000 (exactly the gap: same session), 20001 (more
        // than the gap: a new one). Bidder 2: one bid. Bidder 3: a bid out
        // of order bridges two sessions.
        let bids = KeyedJsonl::parse(
            r#"
{"bidder":1,"t":0}
{"bidder":2,"t":5}
{"bidder":1,"t":10000}
{"bidder":3,"t":30000}
{"bidder":3,"t":50000}
{"bidder":1,"t":20001}
{"bidder":3,"t":40000}
"#,
            "bidder",
            "t",
        );
        let windows = Windows::Session { gap: 10_000 };
        for batch_size in [1, 100] {
            let mut harness = AggregateHarness::<Q11Sessions>::open("", windows).unwrap();
            let output = harness
                .run_with_watermarks(&bids.records(), batch_size, 20_000)
                .unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"bidder":1,"bid_count":1,"starttime":20001,"endtime":30001}"#,
                    r#"{"bidder":1,"bid_count":2,"starttime":0,"endtime":20000}"#,
                    r#"{"bidder":2,"bid_count":1,"starttime":5,"endtime":10005}"#,
                    r#"{"bidder":3,"bid_count":3,"starttime":30000,"endtime":60000}"#,
                ],
                "batch size {batch_size}"
            );
            assert!(sorted_lines(&output, Some("late")).is_empty());
        }
    }
}
