//! `{{name}}`: an `aggregate` function (Flink's `AggregateFunction`): eddy
//! assigns records to the windows of the operator's `window` (here
//! tumbling windows of one minute, per `user`), keeps one accumulator per
//! key and window, and asks for the result when a window fires. This one
//! counts each user's clicks per minute.
//!
//! The accumulator is stored by eddy as JSON, so it survives checkpoints
//! and new versions of the function as long as it deserializes.

use eddy_sdk::{Aggregate, Json, OpenContext, Window};
use serde::{Deserialize, Serialize};

/// A click; this function only counts them, so it reads no field. Name the
/// fields you need here.
#[derive(Debug, Deserialize)]
struct Click {}

/// One output record per key and window.
#[derive(Debug, Serialize)]
struct ClicksPerWindow {
    user: String,
    start: i64,
    end: i64,
    clicks: u64,
}

struct CountPerWindow;

impl Aggregate for CountPerWindow {
    type In = Json<Click>;
    /// The running state of one key's window.
    type Acc = u64;
    type Out = Json<ClicksPerWindow>;

    /// Runs once per instance, with the operator's `config` in `ctx.config()`.
    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(CountPerWindow)
    }

    fn create_accumulator(&self) -> u64 {
        0
    }

    fn add(&self, clicks: &mut u64, _: Json<Click>) {
        *clicks += 1;
    }

    /// Two windows became one (session windows).
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }

    /// A window fired: its key and bounds are in `window`. The result takes
    /// the timestamp `window.end - 1`.
    fn get_result(&self, clicks: &u64, window: &Window<'_>) -> Json<ClicksPerWindow> {
        Json(ClicksPerWindow {
            user: String::from_utf8_lossy(window.key).into_owned(),
            start: window.start,
            end: window.end,
            clicks: *clicks,
        })
    }
}

// Makes the component export the `aggregate` world with this function.
eddy_sdk::export_aggregate!(CountPerWindow);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{AggregateHarness, KeyedJsonl, Windows, sorted_lines};

    #[test]
    fn the_sample_gives_each_users_clicks_per_minute() {
        // Keyed, timed and windowed as the job file does.
        let clicks = KeyedJsonl::parse(include_str!("../data/clicks.jsonl"), "user", "ts");
        let windows = Windows::Tumbling { size: 60_000 };
        let mut harness = AggregateHarness::<super::CountPerWindow>::open("", windows).unwrap();
        // Batches of 3 records, watermarks 5 s behind the largest timestamp.
        let output = harness.run_with_watermarks(&clicks.records(), 3, 5_000).unwrap();
        assert_eq!(
            sorted_lines(&output, None),
            [
                r#"{"user":"alice","start":1699999980000,"end":1700000040000,"clicks":2}"#,
                r#"{"user":"alice","start":1700000040000,"end":1700000100000,"clicks":1}"#,
                r#"{"user":"bob","start":1699999980000,"end":1700000040000,"clicks":1}"#,
                r#"{"user":"bob","start":1700000040000,"end":1700000100000,"clicks":2}"#,
                r#"{"user":"carol","start":1699999980000,"end":1700000040000,"clicks":1}"#,
                r#"{"user":"carol","start":1700000040000,"end":1700000100000,"clicks":1}"#,
            ]
        );
    }
}
