//! Clicks per user over the last 5 minutes, updated every minute: an
//! incremental aggregate over sliding event-time windows (5 minutes, sliding
//! by 1 minute), keyed by `user`.
//!
//! The host assigns each click to the five windows that contain it and keeps
//! one accumulator (a count) per user and window; when the watermark passes
//! a window's end, the result names the user and the window's bounds.

use eddy_sdk::{Aggregate, Json, OpenContext, Window};
use serde::Serialize;
use serde::de::IgnoredAny;

/// One window's count of one user.
#[derive(Serialize)]
struct WindowClicks {
    user: String,
    window_start: i64,
    window_end: i64,
    clicks: u64,
}

struct ClicksPerUser;

impl Aggregate for ClicksPerUser {
    /// Any JSON click: the user is the key and the count needs no field.
    type In = Json<IgnoredAny>;
    type Acc = u64;
    type Out = Json<WindowClicks>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(ClicksPerUser)
    }

    fn create_accumulator(&self) -> u64 {
        0
    }

    fn add(&self, clicks: &mut u64, _: Json<IgnoredAny>) {
        *clicks += 1;
    }

    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }

    fn get_result(&self, clicks: &u64, window: &Window<'_>) -> Json<WindowClicks> {
        Json(WindowClicks {
            // `get_result` cannot fail; keys of `key_by = { field = "user" }` are text.
            user: String::from_utf8_lossy(window.key).into_owned(),
            window_start: window.start,
            window_end: window.end,
            clicks: *clicks,
        })
    }
}

eddy_sdk::export_aggregate!(ClicksPerUser);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{AggregateHarness, KeyedJsonl, Output, Windows, sorted_lines};

    const WINDOWS: Windows = Windows::Sliding {
        size: 300_000,
        slide: 60_000,
    };

    /// The clicks of `text` in batches of `batch_size` with a 5 s
    /// out-of-orderness watermark.
    fn run(text: &str, batch_size: usize) -> Vec<Output> {
        let clicks = KeyedJsonl::parse(text, "user", "ts");
        let mut harness = AggregateHarness::<super::ClicksPerUser>::open("", WINDOWS).unwrap();
        harness
            .run_with_watermarks(&clicks.records(), batch_size, 5_000)
            .unwrap()
    }

    #[test]
    fn sample_clicks_give_the_expected_windows() {
        let expected: Vec<&str> = include_str!("../data/expected-windows.jsonl")
            .lines()
            .collect();
        for batch_size in [1, 10, 100] {
            let output = run(include_str!("../data/clicks.jsonl"), batch_size);
            assert_eq!(output.len(), expected.len(), "nothing is late");
            assert_eq!(
                sorted_lines(&output, None),
                expected,
                "batch size {batch_size}"
            );
        }
    }

    #[test]
    fn a_click_counts_in_five_windows() {
        let click = r#"{"user":"u9","url":"/","ts":1700000130000}"#;
        let output = run(&format!("{click}\n{click}"), 1);
        let lines = sorted_lines(&output, None);
        // The five windows starting at the minutes 1699999860000 ..= 1700000100000.
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            r#"{"user":"u9","window_start":1699999860000,"window_end":1700000160000,"clicks":2}"#
        );
        assert_eq!(
            lines[4],
            r#"{"user":"u9","window_start":1700000100000,"window_end":1700000400000,"clicks":2}"#
        );
        // Results take the window's last millisecond as timestamp.
        let first = output.iter().map(|output| output.timestamp).min();
        assert_eq!(first, Some(1700000159999));
    }
}
