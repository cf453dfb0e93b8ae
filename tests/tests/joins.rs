//! Interval joins end to end: which pairs join, that late records go to
//! the `late-left` / `late-right` side outputs, and that the result does
//! not depend on parallelism or on how the two inputs interleave.

mod common;

use std::collections::BTreeMap;

use common::*;

/// `(left n, right n)` of every joined pair, sorted.
fn pairs(lines: &[String]) -> Vec<(i64, i64)> {
    let mut pairs: Vec<(i64, i64)> = json_lines(lines)
        .iter()
        .map(|pair| {
            let n = |side: &str| {
                pair[side]["n"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no {side}.n in {pair}"))
            };
            (n("left"), n("right"))
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn a_self_join_pairs_close_records_and_sends_late_ones_to_both_side_outputs() {
    let scratch = Scratch::new();
    // Both sides read the same stream, so records and watermarks reach the
    // join in file order. Bound 1 s: the watermark trails the largest
    // timestamp by 1001 ms.
    let input = [
        ("a", 1_000),
        ("a", 2_500),
        ("b", 2_000),
        ("a", 6_000), // watermark 4_999
        ("a", 4_500), // behind the watermark: late on both sides
        ("b", 5_500),
        ("a", 7_000),
        ("b", 7_500),
    ];
    let events: String = input
        .iter()
        .enumerate()
        .map(|(i, (ad, ts))| format!("{{\"ad\":\"{ad}\",\"ts\":{ts},\"n\":{}}}\n", i + 1))
        .collect();
    scratch.write("events.jsonl", events);
    let job = scratch.write(
        "job.toml",
        r#"[job]
name = "self-join"

[batch]
max_records = 1

[[source]]
name = "events"
type = "file"
path = "events.jsonl"
timestamp = { field = "ts" }
watermark = { strategy = "bounded-out-of-orderness", max_out_of_orderness = "1s" }

[[operator]]
uid = "j"
kind = "interval-join"
input = "events"
key_by = { field = "ad" }
connect = { input = "events" }
between = { lower = "-2s", upper = "2s" }

[[sink]]
name = "pairs"
type = "stdout"
input = "j"

[[sink]]
name = "late-left"
type = "file"
path = "late-left.jsonl"
input = "j/late-left"

[[sink]]
name = "late-right"
type = "file"
path = "late-right.jsonl"
input = "j/late-right"
"#,
    );
    let out = run_quiet(&job).success();
    // Within 2 s of each other, same key, each record with itself too; the
    // bounds are inclusive (b at 5_500 and 7_500).
    assert_eq!(
        pairs(&out.stdout_lines()),
        vec![
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (3, 3),
            (4, 4),
            (4, 7),
            (6, 6),
            (6, 8),
            (7, 4),
            (7, 7),
            (8, 6),
            (8, 8),
        ]
    );
    let late = [r#"{"ad":"a","ts":4500,"n":5}"#];
    assert_eq!(file_lines(&scratch.path("late-left.jsonl")), late);
    assert_eq!(file_lines(&scratch.path("late-right.jsonl")), late);
}

#[test]
fn impressions_join_clicks_identically_at_every_parallelism() {
    let scratch = Scratch::new();
    // Impressions and clicks of 7 ads over 2 minutes, each file out of
    // order by less than its 1 s bound, so no record is late whatever the
    // interleaving of the two sources.
    let mut impressions = Vec::new();
    let mut clicks = Vec::new();
    for i in 0..120_i64 {
        impressions.push((format!("ad{}", i % 7), i * 1_000 + (i * 37) % 400));
    }
    for j in 0..150_i64 {
        clicks.push((format!("ad{}", (j * 3) % 7), j * 800 + (j * 53) % 700));
    }
    let file = |records: &[(String, i64)]| -> String {
        records
            .iter()
            .enumerate()
            .map(|(i, (ad, ts))| format!("{{\"ad\":\"{ad}\",\"ts\":{ts},\"n\":{i}}}\n"))
            .collect()
    };
    scratch.write("impressions.jsonl", file(&impressions));
    scratch.write("clicks.jsonl", file(&clicks));
    // A click joins an impression of its ad in the 5 s after it (inclusive).
    let mut expected = Vec::new();
    for (i, (ad, ts)) in impressions.iter().enumerate() {
        for (j, (click_ad, click_ts)) in clicks.iter().enumerate() {
            if ad == click_ad && *click_ts >= *ts && *click_ts <= ts + 5_000 {
                expected.push((i as i64, j as i64));
            }
        }
    }
    expected.sort();
    assert!(expected.len() > 50, "the data should join often");

    let job = r#"[job]
name = "impressions-clicks"
parallelism = 1

[[source]]
name = "impressions"
type = "file"
path = "impressions.jsonl"
timestamp = { field = "ts" }
watermark = { strategy = "bounded-out-of-orderness", max_out_of_orderness = "1s" }

[[source]]
name = "clicks"
type = "file"
path = "clicks.jsonl"
timestamp = { field = "ts" }
watermark = { strategy = "bounded-out-of-orderness", max_out_of_orderness = "1s" }

[[operator]]
uid = "j"
kind = "interval-join"
input = "impressions"
key_by = { field = "ad" }
connect = { input = "clicks" }
between = { lower = "0s", upper = "5s" }

[[sink]]
name = "pairs"
type = "stdout"
input = "j"

[[sink]]
name = "late"
type = "stdout"
input = "j/late-right"
"#;
    let mut results = BTreeMap::new();
    for parallelism in [1, 2, 4] {
        let path = scratch.write(
            &format!("job-{parallelism}.toml"),
            with_job_parallelism(job, parallelism),
        );
        let out = run_quiet(&path).success();
        results.insert(parallelism, pairs(&out.stdout_lines()));
    }
    for (parallelism, pairs) in &results {
        assert_eq!(pairs, &expected, "parallelism {parallelism}");
    }
}
