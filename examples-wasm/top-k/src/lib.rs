//! Top items per category per one-minute tumbling event-time window: a
//! full-window function (`window-process`, Flink's `ProcessWindowFunction`)
//! keyed by `category`.
//!
//! A top-k needs every item's count before it can cut, so the function gets
//! all elements of a fired window at once, counts the items, and emits the
//! `k` most frequent (count descending, then item ascending as text).
//!
//! Config (optional): `{"k": 10}` (the default).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use eddy_sdk::{Json, OpenContext, ProcessWindow, Window, WindowContext};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    k: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { k: 10 }
    }
}

/// An input record; the category is the key and `ts` the event time.
#[derive(Deserialize)]
struct Event {
    item: String,
}

#[derive(Serialize)]
struct ItemCount {
    item: String,
    count: u64,
}

/// The result of one category's window.
#[derive(Serialize)]
struct TopItems {
    category: String,
    window_start: i64,
    window_end: i64,
    top: Vec<ItemCount>,
}

struct TopK {
    k: usize,
}

impl ProcessWindow for TopK {
    type In = Json<Event>;
    type Out = Json<TopItems>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if config.k == 0 {
            return Err("k must be at least 1".to_owned());
        }
        Ok(TopK { k: config.k })
    }

    fn process(
        &mut self,
        window: &Window<'_>,
        elements: Vec<(i64, Json<Event>)>,
        ctx: &mut WindowContext<'_, Self::Out>,
    ) -> Result<(), String> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (_, Json(event)) in elements {
            *counts.entry(event.item).or_default() += 1;
        }
        let mut top: Vec<ItemCount> = counts
            .into_iter()
            .map(|(item, count)| ItemCount { item, count })
            .collect();
        // Stable sort of items already in ascending order: ties stay ascending.
        top.sort_by_key(|entry| Reverse(entry.count));
        top.truncate(self.k);
        ctx.emit(Json(TopItems {
            category: window.key_str()?.to_owned(),
            window_start: window.start,
            window_end: window.end,
            top,
        }));
        Ok(())
    }
}

eddy_sdk::export_process_window!(TopK);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedJsonl, WindowHarness, Windows, sorted_lines};

    const WINDOWS: Windows = Windows::Tumbling { size: 60_000 };

    /// Sorted output lines for the events of `text` keyed by category.
    fn run(config: &str, text: &str, batch_size: usize) -> Vec<String> {
        let events = KeyedJsonl::parse(text, "category", "ts");
        let mut harness = WindowHarness::<super::TopK>::open(config, WINDOWS).unwrap();
        let output = harness
            .run_with_watermarks(&events.records(), batch_size, 5_000)
            .unwrap();
        assert!(sorted_lines(&output, Some("late")).is_empty());
        sorted_lines(&output, None)
    }

    #[test]
    fn sample_events_give_the_expected_top_lists() {
        let expected: Vec<&str> = include_str!("../data/expected-top.jsonl").lines().collect();
        for batch_size in [1, 7, 100] {
            let lines = run("", include_str!("../data/events.jsonl"), batch_size);
            assert_eq!(lines, expected, "batch size {batch_size}");
        }
    }

    #[test]
    fn ties_sort_by_item_and_the_list_is_cut_at_k() {
        let events = [
            r#"{"category":"c","item":"z","ts":0}"#,
            r#"{"category":"c","item":"y","ts":1}"#,
            r#"{"category":"c","item":"x","ts":2}"#,
            r#"{"category":"c","item":"y","ts":59999}"#,
            r#"{"category":"c","item":"x","ts":60000}"#,
        ];
        assert_eq!(
            run(r#"{"k": 2}"#, &events.join("\n"), 2),
            [
                r#"{"category":"c","window_start":0,"window_end":60000,"top":[{"item":"y","count":2},{"item":"x","count":1}]}"#,
                r#"{"category":"c","window_start":60000,"window_end":120000,"top":[{"item":"x","count":1}]}"#,
            ]
        );
        assert!(
            WindowHarness::<super::TopK>::open(r#"{"k": 0}"#, WINDOWS)
                .err()
                .unwrap()
                .contains("at least 1")
        );
    }
}
