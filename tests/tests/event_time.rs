//! Event-time results are a function of the input alone: the same
//! out-of-order data with late records gives the same results whatever the
//! batch size (`[batch] max_records` 1, 7, 256) and flush interval (1 ms,
//! 1 s), for tumbling windows with allowed lateness and late firings,
//! sliding windows, merging session windows, full-window functions, and a
//! keyed process function whose output depends on exactly where its
//! event-time timers fire among the records. With `max_records = 1` every
//! record travels alone, which is the reference: the way Flink's per-event
//! watermarks would see the stream.
//!
//! The data has records late by more than the watermark's bound, some
//! within the allowed lateness (late firings) and some beyond it (late side
//! output), and records exactly on window edges. Each test also checks that
//! the data really produced late firings and late records, so it cannot pass
//! by having nothing to decide.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;

/// Batch settings that must not change any result: (max_records, flush_interval).
const BATCHINGS: [(usize, &str); 5] = [
    (1, "10ms"),
    (7, "10ms"),
    (256, "10ms"),
    (256, "1ms"),
    (256, "1s"),
];

/// A job reading `events.jsonl` (2 s bound) into operator `op` (the given
/// TOML body, keyed by user) with its main output to `out/results.jsonl`
/// and, for windows, its late output to `out/late.jsonl`.
fn job_text(batch: (usize, &str), parallelism: u32, operator: &str, late: bool) -> String {
    let (max_records, flush_interval) = batch;
    let late_sink = if late {
        "\n[[sink]]\nname = \"late\"\ntype = \"file\"\npath = \"out/late.jsonl\"\ninput = \"op/late\"\n"
    } else {
        ""
    };
    format!(
        r#"[job]
name = "event-time"
parallelism = {parallelism}

[batch]
max_records = {max_records}
flush_interval = "{flush_interval}"

{source}
[[operator]]
uid = "op"
input = "events"
key_by = {{ field = "user" }}
{operator}

[[sink]]
name = "results"
type = "file"
path = "out/results.jsonl"
input = "op"
{late_sink}"#,
        source = OUT_OF_ORDER_SOURCE,
    )
}

/// The sorted main and late output of `operator` on `events` with each of
/// [`BATCHINGS`]; panics naming the first batching that differs from
/// `max_records = 1`.
fn results_under_every_batching(
    events: &str,
    parallelism: u32,
    operator: &str,
    late: bool,
) -> (Vec<String>, Vec<String>) {
    let mut reference: Option<(Vec<String>, Vec<String>)> = None;
    for batch in BATCHINGS {
        let scratch = Scratch::new();
        scratch.write("events.jsonl", events);
        let job: PathBuf = scratch.write("job.toml", job_text(batch, parallelism, operator, late));
        run_quiet(&job).success();
        let mut results = file_lines(&scratch.path("out/results.jsonl"));
        results.sort();
        let mut late_records = if late {
            file_lines(&scratch.path("out/late.jsonl"))
        } else {
            Vec::new()
        };
        late_records.sort();
        match &reference {
            None => reference = Some((results, late_records)),
            Some((expected_results, expected_late)) => {
                assert!(
                    &results == expected_results,
                    "with max_records = {}, flush_interval = {} the results differ from max_records = 1: {} lines against {}; first differences: {:?}",
                    batch.0,
                    batch.1,
                    results.len(),
                    expected_results.len(),
                    first_differences(expected_results, &results)
                );
                assert!(
                    &late_records == expected_late,
                    "with max_records = {}, flush_interval = {} the late records differ from max_records = 1: {} against {}; first differences: {:?}",
                    batch.0,
                    batch.1,
                    late_records.len(),
                    expected_late.len(),
                    first_differences(expected_late, &late_records)
                );
            }
        }
    }
    reference.expect("at least one batching")
}

/// Lines only in `expected` (-) or only in `actual` (+), at most ten.
fn first_differences(expected: &[String], actual: &[String]) -> Vec<String> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for line in expected {
        *counts.entry(line).or_default() -= 1;
    }
    for line in actual {
        *counts.entry(line).or_default() += 1;
    }
    let mut differences: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(line, n)| format!("{}{line}", if n < 0 { "-" } else { "+" }))
        .collect();
    differences.sort();
    differences.truncate(10);
    differences
}

/// How many results repeat a (key, start) of an earlier one: late firings.
fn late_firings(results: &[String]) -> usize {
    let windows: Vec<(String, i64)> = json_lines(results)
        .iter()
        .map(|r| (r["key"].to_string(), r["start"].as_i64().unwrap()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    windows
        .into_iter()
        .filter(|w| !seen.insert(w.clone()))
        .count()
}

fn module(name: &str) -> String {
    format!("module = {}", toml_path(&wasm(name)))
}

#[test]
fn tumbling_windows_with_allowed_lateness_do_not_depend_on_batching() {
    let events = out_of_order_events(4_000);
    let operator = format!(
        "kind = \"aggregate\"\n{}\nwindow = {{ type = \"tumbling\", size = \"10s\", allowed_lateness = \"5s\" }}\n",
        module("count_aggregate")
    );
    for parallelism in [1, 2] {
        let (results, late) = results_under_every_batching(&events, parallelism, &operator, true);
        assert!(late_firings(&results) > 10, "the data makes late firings");
        assert!(
            late.len() > 10,
            "the data has records beyond the allowed lateness"
        );
    }
}

#[test]
fn sliding_windows_do_not_depend_on_batching() {
    let events = out_of_order_events(3_000);
    let operator = format!(
        "kind = \"aggregate\"\n{}\nwindow = {{ type = \"sliding\", size = \"10s\", slide = \"5s\" }}\n",
        module("count_aggregate")
    );
    let (results, late) = results_under_every_batching(&events, 1, &operator, true);
    assert!(results.len() > 100);
    assert!(late.len() > 10, "the data has late records");
}

#[test]
fn session_windows_do_not_depend_on_batching() {
    let events = out_of_order_events(3_000);
    let operator = format!(
        "kind = \"aggregate\"\n{}\nwindow = {{ type = \"session\", gap = \"1500ms\", allowed_lateness = \"3s\" }}\n",
        module("count_aggregate")
    );
    let (results, late) = results_under_every_batching(&events, 1, &operator, true);
    assert!(results.len() > 100);
    assert!(late.len() > 10, "the data has late records");
}

#[test]
fn full_window_functions_with_late_firings_do_not_depend_on_batching() {
    let events = out_of_order_events(3_000);
    let operator = format!(
        "kind = \"window-process\"\n{}\nwindow = {{ type = \"tumbling\", size = \"10s\", allowed_lateness = \"5s\" }}\n",
        module("window_collect")
    );
    let (results, late) = results_under_every_batching(&events, 2, &operator, true);
    assert!(late_firings(&results) > 10, "the data makes late firings");
    assert!(late.len() > 10);
}

#[test]
fn event_time_timers_fire_between_the_same_records_whatever_the_batching() {
    let events = out_of_order_events(4_000);
    // A 1.5 s timeout: many timers fall due in the middle of a batch, and
    // whether a key's count is emitted depends on whether its timer fires
    // before the key's next record.
    let operator = format!(
        "kind = \"keyed-process\"\n{}\nconfig = {{ timeout_ms = 1500 }}\n",
        module("count_with_timeout")
    );
    for parallelism in [1, 2] {
        let (results, _) = results_under_every_batching(&events, parallelism, &operator, false);
        assert!(results.len() > 100, "timers fired: {}", results.len());
    }
}
