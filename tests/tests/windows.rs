//! Windows end to end, on out-of-order input with hand-computed results:
//! tumbling, sliding, session (with merges), count-triggered global windows,
//! allowed lateness with late firings, the late-data side output, and
//! processing-time windows.
//!
//! Every job runs with both state backends, memory and RocksDB, which must
//! agree.
//!
//! The jobs read a file with `[batch] max_records = 1`, the reference
//! batching: every record travels alone. Watermarks move after every record
//! whatever the batch size, so the order in which records meet the
//! watermark is the file's order either way (`tests/event_time.rs` checks
//! that other batch sizes give the same results).

mod common;

use std::path::PathBuf;

use common::*;

/// `user@ts` events as JSON lines `{"user":..,"ts":..,"n":i}` (`n` counts
/// from 1 in file order, so late records can be recognised).
fn events(spec: &[(&str, i64)]) -> String {
    spec.iter()
        .enumerate()
        .map(|(i, (user, ts))| format!("{{\"user\":\"{user}\",\"ts\":{ts},\"n\":{}}}\n", i + 1))
        .collect()
}

/// A job: file `events.jsonl` → window operator `w` (`kind`, `module`, by
/// `user`, `window`) → stdout; its late output → file `late.jsonl`.
fn window_job(
    scratch: &Scratch,
    input: &str,
    out_of_orderness: &str,
    kind: &str,
    module: &str,
    window: &str,
) -> PathBuf {
    scratch.write("events.jsonl", input);
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "windows"

[batch]
max_records = 1

[[source]]
name = "events"
type = "file"
path = "events.jsonl"
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "bounded-out-of-orderness", max_out_of_orderness = "{out_of_orderness}" }}

[[operator]]
uid = "w"
kind = "{kind}"
module = {module}
input = "events"
key_by = {{ field = "user" }}
window = {window}

[[sink]]
name = "results"
type = "stdout"
input = "w"

[[sink]]
name = "late"
type = "file"
path = "late.jsonl"
input = "w/late"
"#,
            module = toml_path(&wasm(module)),
        ),
    )
}

/// `count_aggregate`'s result for `key` in `[start, end)`.
fn count(key: &str, start: i64, end: i64, count: u64) -> String {
    format!(r#"{{"key":"{key}","start":{start},"end":{end},"count":{count}}}"#)
}

/// The `n` of every element of a `window_collect` result, in order.
fn element_ns(result: &serde_json::Value) -> Vec<i64> {
    result["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["n"].as_i64().expect("n"))
        .collect()
}

/// A run's stdout lines in emission order and its late file.
type WindowOutput = (Vec<String>, Vec<String>);

/// Run `job` once with each state backend: memory first, then RocksDB.
fn run_on_each_backend(job: &std::path::Path, scratch: &Scratch) -> [WindowOutput; 2] {
    let run = |job: &std::path::Path| {
        let out = run_quiet(job).success();
        (out.stdout_lines(), file_lines(&scratch.path("late.jsonl")))
    };
    let memory = run(job);
    let rocksdb = run(&on_rocksdb(
        job,
        "job-rocksdb.toml",
        &scratch.path("rocksdb"),
    ));
    [memory, rocksdb]
}

/// Run `job` on each state backend, check that both give the same output,
/// and return it.
fn run_windows(job: &std::path::Path, scratch: &Scratch) -> WindowOutput {
    let [memory, rocksdb] = run_on_each_backend(job, scratch);
    assert_eq!(
        rocksdb, memory,
        "the RocksDB backend gave other results than the memory backend"
    );
    memory
}

#[test]
fn tumbling_windows_fire_at_the_watermark_and_late_records_go_to_the_side_output() {
    let scratch = Scratch::new();
    // Bound 2 s: the watermark trails the largest timestamp by 2001 ms.
    let input = events(&[
        ("a", 1_000),
        ("a", 3_000),
        ("b", 2_000),
        ("a", 12_000), // watermark 9_999: [0, 10 s) fires
        ("a", 9_000),  // too late for [0, 10 s), which is gone
        ("a", 15_000),
        ("b", 11_000), // out of order, but within the bound
        ("a", 21_000),
    ]);
    let job = window_job(
        &scratch,
        &input,
        "2s",
        "aggregate",
        "count_aggregate",
        r#"{ type = "tumbling", size = "10s" }"#,
    );
    let (results, late) = run_windows(&job, &scratch);
    assert_eq!(
        sorted_json(&results),
        sorted_json(&[
            count("a", 0, 10_000, 2),
            count("b", 0, 10_000, 1),
            count("a", 10_000, 20_000, 2),
            count("b", 10_000, 20_000, 1),
            count("a", 20_000, 30_000, 1),
        ])
    );
    // The first windows fired before the late record arrived, in order.
    assert_eq!(
        sorted_json(&results[..2]),
        sorted_json(&[count("a", 0, 10_000, 2), count("b", 0, 10_000, 1)])
    );
    assert_eq!(
        late,
        vec![r#"{"user":"a","ts":9000,"n":5}"#],
        "the late record, with its original content"
    );
}

#[test]
fn allowed_lateness_fires_again_with_the_late_record_then_cleans_up() {
    let scratch = Scratch::new();
    let input = events(&[
        ("a", 1_000),
        ("a", 3_000),
        ("b", 2_000),
        ("a", 12_000), // watermark 9_999: [0, 10 s) fires with 2
        ("a", 9_000),  // within 5 s of lateness: fires again with 3
        ("a", 15_000),
        ("b", 11_000),
        ("a", 21_000), // watermark 18_999 passes 9_999 + 5_000: [0, 10 s) is cleaned up
        ("a", 4_000),  // now too late
    ]);
    let job = window_job(
        &scratch,
        &input,
        "2s",
        "aggregate",
        "count_aggregate",
        r#"{ type = "tumbling", size = "10s", allowed_lateness = "5s" }"#,
    );
    let (results, late) = run_windows(&job, &scratch);
    let first_window: Vec<&String> = results
        .iter()
        .filter(|r| r.contains(r#""key":"a","start":0,"#))
        .collect();
    assert_eq!(
        first_window,
        vec![&count("a", 0, 10_000, 2), &count("a", 0, 10_000, 3)],
        "a late firing updates the result"
    );
    assert_eq!(
        sorted_json(&results),
        sorted_json(&[
            count("a", 0, 10_000, 2),
            count("b", 0, 10_000, 1),
            count("a", 0, 10_000, 3),
            count("a", 10_000, 20_000, 2),
            count("b", 10_000, 20_000, 1),
            count("a", 20_000, 30_000, 1),
        ])
    );
    assert_eq!(late, vec![r#"{"user":"a","ts":4000,"n":9}"#]);
}

#[test]
fn sliding_windows_count_each_record_in_size_over_slide_windows() {
    let scratch = Scratch::new();
    let input = events(&[
        ("a", 1_000),
        ("a", 6_000),
        ("a", 4_000), // out of order within the 5 s bound
        ("b", 7_000),
        ("a", 12_000),
    ]);
    let job = window_job(
        &scratch,
        &input,
        "5s",
        "aggregate",
        "count_aggregate",
        r#"{ type = "sliding", size = "10s", slide = "5s" }"#,
    );
    let (results, late) = run_windows(&job, &scratch);
    assert_eq!(
        sorted_json(&results),
        sorted_json(&[
            count("a", -5_000, 5_000, 2),
            count("a", 0, 10_000, 3),
            count("a", 5_000, 15_000, 2),
            count("a", 10_000, 20_000, 1),
            count("b", 0, 10_000, 1),
            count("b", 5_000, 15_000, 1),
        ])
    );
    assert!(late.is_empty(), "{late:?}");
}

#[test]
fn session_windows_merge_when_a_late_record_bridges_them() {
    let scratch = Scratch::new();
    // Gap 5 s; the bound of 20 s keeps every record on time.
    let input = events(&[
        ("a", 1_000),  // [1, 6)
        ("a", 3_000),  // [1, 8)
        ("a", 20_000), // [20, 25)
        ("a", 11_000), // [11, 16): touches neither
        ("b", 5_000),  // [5, 10)
        ("a", 7_000),  // [7, 12) bridges [1, 8) and [11, 16) into [1, 16)
    ]);
    let job = window_job(
        &scratch,
        &input,
        "20s",
        "aggregate",
        "count_aggregate",
        r#"{ type = "session", gap = "5s" }"#,
    );
    let (results, _) = run_windows(&job, &scratch);
    assert_eq!(
        sorted_json(&results),
        sorted_json(&[
            count("a", 1_000, 16_000, 4),
            count("a", 20_000, 25_000, 1),
            count("b", 5_000, 10_000, 1),
        ])
    );

    // The same with the full-window function: the merged session holds
    // every element of the sessions it replaced.
    let job = window_job(
        &scratch,
        &input,
        "20s",
        "window-process",
        "window_collect",
        r#"{ type = "session", gap = "5s" }"#,
    );
    let (results, _) = run_windows(&job, &scratch);
    let merged = json_lines(&results)
        .into_iter()
        .find(|r| r["key"] == "a" && r["start"] == 1_000)
        .expect("the merged session of a");
    assert_eq!(merged["end"], 16_000);
    let mut ns = element_ns(&merged);
    ns.sort();
    assert_eq!(ns, vec![1, 2, 4, 6]);
}

#[test]
fn count_windows_fire_and_purge_every_n_elements() {
    let scratch = Scratch::new();
    let input = events(&[
        ("a", 1),
        ("a", 2),
        ("b", 3),
        ("a", 4), // third a: fires [1, 2, 4]
        ("a", 5),
        ("b", 6),
        ("a", 7),
        ("a", 8), // third a since the purge: fires [5, 7, 8]
        ("a", 9), // never completes a window
    ]);
    let job = window_job(
        &scratch,
        &input,
        "1s",
        "window-process",
        "window_collect",
        r#"{ type = "count", size = 3 }"#,
    );
    let (results, _) = run_windows(&job, &scratch);
    let fired: Vec<(String, Vec<i64>, i64, i64)> = json_lines(&results)
        .into_iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                element_ns(&r),
                r["start"].as_i64().unwrap(),
                r["end"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        vec![
            ("a".into(), vec![1, 2, 4], i64::MIN, i64::MAX),
            ("a".into(), vec![5, 7, 8], i64::MIN, i64::MAX),
        ]
    );
}

#[test]
fn a_full_window_function_sees_late_records_in_its_late_firing() {
    let scratch = Scratch::new();
    let input = events(&[
        ("a", 1_000),
        ("a", 12_000), // watermark 10_999: [0, 10 s) fires with n = 1
        ("a", 5_000),  // within lateness: fires again with n = 1, 3
    ]);
    let job = window_job(
        &scratch,
        &input,
        "1s",
        "window-process",
        "window_collect",
        r#"{ type = "tumbling", size = "10s", allowed_lateness = "1m" }"#,
    );
    let (results, late) = run_windows(&job, &scratch);
    let firings: Vec<Vec<i64>> = json_lines(&results)
        .into_iter()
        .filter(|r| r["start"] == 0)
        .map(|r| element_ns(&r))
        .collect();
    assert_eq!(firings, vec![vec![1], vec![1, 3]]);
    assert!(late.is_empty());
}

#[test]
fn processing_time_windows_count_every_record_once() {
    let scratch = Scratch::new();
    let mut spec = Vec::new();
    for i in 0..300 {
        spec.push((["a", "b", "c"][i % 3], 0));
    }
    let input = events(&spec);
    // The timestamp is ignored for assignment; windows follow the wall clock
    // and the last ones fire when the input ends.
    let job = window_job(
        &scratch,
        &input,
        "1s",
        "aggregate",
        "count_aggregate",
        r#"{ type = "tumbling", size = "1s", time = "processing" }"#,
    );
    // Which wall-clock second a record falls in differs between runs, so
    // each backend is checked on its own rather than against the other.
    for (backend, (results, late)) in ["memory", "rocksdb"]
        .into_iter()
        .zip(run_on_each_backend(&job, &scratch))
    {
        let mut totals = std::collections::BTreeMap::new();
        for r in json_lines(&results) {
            *totals
                .entry(r["key"].as_str().unwrap().to_owned())
                .or_insert(0) += r["count"].as_u64().unwrap();
        }
        assert_eq!(
            totals.into_iter().collect::<Vec<_>>(),
            vec![("a".into(), 100), ("b".into(), 100), ("c".into(), 100)],
            "{backend}: {results:?}"
        );
        assert!(
            late.is_empty(),
            "{backend}: processing-time windows have no late records"
        );
    }
}

#[test]
fn an_event_time_window_without_timestamps_says_what_to_set() {
    let scratch = Scratch::new();
    scratch.write("events.jsonl", events(&[("a", 1)]));
    let job = scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "no-time"
[[source]]
name = "events"
type = "file"
path = "events.jsonl"
[[operator]]
uid = "w"
kind = "aggregate"
module = {module}
input = "events"
key_by = {{ field = "user" }}
window = {{ type = "tumbling", size = "1m" }}
[[sink]]
name = "out"
type = "stdout"
input = "w"
"#,
            module = toml_path(&wasm("count_aggregate")),
        ),
    );
    run_quiet(&job).failure().stderr_has(&[
        "operator `w` (subtask 1/1) failed",
        "an event-time window received a record without timestamp; set `timestamp` on the source, or use `time = \"processing\"` in the window",
    ]);
}
