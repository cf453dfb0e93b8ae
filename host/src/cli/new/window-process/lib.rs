//! `{{name}}`: a `window-process` function (Flink's
//! `ProcessWindowFunction`): eddy assigns records to the windows of the
//! operator's `window` (here tumbling windows of one minute, per `user`),
//! buffers them, and hands over every element of a window when it fires.
//! This one lists the distinct pages each user visited per minute.
//!
//! Buffering every element costs memory; when the result can be computed
//! one record at a time, an `aggregate` function is cheaper.

use std::collections::BTreeSet;

use eddy_sdk::{Json, OpenContext, ProcessWindow, Window, WindowContext};
use serde::{Deserialize, Serialize};

/// The fields of a click the function reads.
#[derive(Debug, Deserialize)]
struct Click {
    page: String,
}

/// One output record per key and window.
#[derive(Debug, Serialize)]
struct PagesPerWindow {
    user: String,
    start: i64,
    end: i64,
    pages: BTreeSet<String>,
}

struct DistinctPages;

impl ProcessWindow for DistinctPages {
    type In = Json<Click>;
    type Out = Json<PagesPerWindow>;

    /// Runs once per instance: keyed states shared by all windows of a key
    /// and side outputs are declared here. The operator's `config` is
    /// `ctx.config()`.
    fn open(_: &mut OpenContext) -> Result<Self, String> {
        Ok(DistinctPages)
    }

    /// A window fired: `elements` are its `(timestamp, record)` pairs in
    /// arrival order. Emitted records take the timestamp `window.end - 1`.
    fn process(
        &mut self,
        window: &Window<'_>,
        elements: Vec<(i64, Json<Click>)>,
        ctx: &mut WindowContext<'_, Self::Out>,
    ) -> Result<(), String> {
        let pages = elements.into_iter().map(|(_, Json(click))| click.page);
        ctx.emit(Json(PagesPerWindow {
            user: window.key_str()?.to_owned(),
            start: window.start,
            end: window.end,
            pages: pages.collect(),
        }));
        Ok(())
    }
}

// Makes the component export the `keyed-process` world, as a window-process function.
eddy_sdk::export_process_window!(DistinctPages);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedJsonl, WindowHarness, Windows, sorted_lines};

    #[test]
    fn the_sample_gives_each_users_pages_per_minute() {
        // Keyed, timed and windowed as the job file does.
        let clicks = KeyedJsonl::parse(include_str!("../data/clicks.jsonl"), "user", "ts");
        let windows = Windows::Tumbling { size: 60_000 };
        let mut harness = WindowHarness::<super::DistinctPages>::open("", windows).unwrap();
        // Batches of 3 records, watermarks 5 s behind the largest timestamp.
        let output = harness.run_with_watermarks(&clicks.records(), 3, 5_000).unwrap();
        assert_eq!(
            sorted_lines(&output, None),
            [
                r#"{"user":"alice","start":1699999980000,"end":1700000040000,"pages":["/home","/products/42"]}"#,
                r#"{"user":"alice","start":1700000040000,"end":1700000100000,"pages":["/checkout"]}"#,
                r#"{"user":"bob","start":1699999980000,"end":1700000040000,"pages":["/products/42?ref=ad"]}"#,
                r#"{"user":"bob","start":1700000040000,"end":1700000100000,"pages":["/checkout","/products/7"]}"#,
                r#"{"user":"carol","start":1699999980000,"end":1700000040000,"pages":["/Home"]}"#,
                r#"{"user":"carol","start":1700000040000,"end":1700000100000,"pages":["/products/42"]}"#,
            ]
        );
    }
}
