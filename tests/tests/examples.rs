//! The example jobs of `examples-wasm/` give exactly the outputs their
//! `NOTES.md` and `data/expected-*.jsonl` document, at any parallelism.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;

/// `examples-wasm/<name>/job.toml`, checking the components it uses are built.
fn example_job(name: &str, components: &[&str]) -> PathBuf {
    for c in components {
        wasm(c);
    }
    let job = example(name).join("job.toml");
    assert!(job.is_file(), "missing example job {}", job.display());
    job
}

fn expected(name: &str, file: &str) -> Vec<String> {
    file_lines(&example(name).join("data").join(file))
}

/// The example's job file, with absolute paths and `[job] parallelism = p`,
/// written into `scratch`.
fn job_variant(scratch: &Scratch, name: &str, parallelism: u32) -> PathBuf {
    job_file_variant(scratch, name, "job.toml", parallelism)
}

/// Like [`job_variant`], for an example with several job files.
fn job_file_variant(scratch: &Scratch, name: &str, file: &str, parallelism: u32) -> PathBuf {
    let text = std::fs::read_to_string(example(name).join(file)).unwrap();
    let text = with_job_parallelism(&with_absolute_paths(&text, &example(name)), parallelism);
    scratch.write(&format!("{name}-{file}-p{parallelism}.toml"), text)
}

/// Run `job` and assert its stdout lines are exactly `expected`, in order.
#[track_caller]
fn assert_exact_output(job: &std::path::Path, expected: &[String]) {
    let out = run_quiet(job).success();
    assert_eq!(
        out.stdout_lines(),
        expected,
        "output of {} differs from the expected lines\n{}",
        job.display(),
        out.describe()
    );
}

#[test]
fn fraud_detection_alerts_in_input_order_at_parallelism_1() {
    let job = example_job("fraud-detection", &["fraud_detection"]);
    let expected = expected("fraud-detection", "expected-alerts.jsonl");
    assert_eq!(expected.len(), 5, "the sample has 5 alerts");
    assert_exact_output(&job, &expected);
}

#[test]
fn fraud_detection_config_changes_the_window() {
    // NOTES.md: with `{"window_ms": 60000}` the alerts are dave's and alice's second only.
    wasm("fraud_detection");
    let scratch = Scratch::new();
    let text = std::fs::read_to_string(example("fraud-detection").join("job.toml")).unwrap();
    let text = with_absolute_paths(&text, &example("fraud-detection"));
    let config_lines = text
        .lines()
        .filter(|l| l.trim_start().starts_with("config"))
        .count();
    assert_eq!(config_lines, 1, "expected one config line in:\n{text}");
    let text: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("config") {
                "config = { window_ms = 60000 }".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let job = scratch.write("fraud-60s.toml", text);
    let all = expected("fraud-detection", "expected-alerts.jsonl");
    let want: Vec<String> = all
        .into_iter()
        .filter(|l| {
            l.contains("\"dave\"") || l.contains("\"first_ts\":1700000600000") // alice's second burst
        })
        .collect();
    assert_eq!(want.len(), 2);
    assert_exact_output(&job, &want);
}

#[test]
fn word_count_counts_at_parallelism_1() {
    let job = example_job("word-count", &["word_split", "word_count"]);
    let expected = expected("word-count", "expected-counts.jsonl");
    assert_eq!(expected.len(), 75);
    let out = run_quiet(&job).success();
    let got = out.stdout_lines();
    // Exactly the file's order at parallelism 1 (input order).
    assert_eq!(got, expected, "word counts differ\n{}", out.describe());
    // The documented final counts.
    let finals = final_counts(&got);
    assert_eq!(finals.len(), 48, "distinct words");
    for (word, count) in [("the", 7), ("2", 4), ("a", 4), ("is", 4)] {
        assert_eq!(finals.get(word), Some(&count), "final count of {word:?}");
    }
}

/// word -> last count seen.
fn final_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut finals = BTreeMap::new();
    for v in json_lines(lines) {
        let word = v["word"].as_str().expect("word is a string").to_string();
        let count = v["count"].as_u64().expect("count is a number");
        finals.insert(word, count);
    }
    finals
}

/// Per word, the counts come in order 1, 2, 3, ... (the order that holds at
/// any parallelism).
#[track_caller]
fn assert_counts_ascend_per_word(lines: &[String]) {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for v in json_lines(lines) {
        let word = v["word"].as_str().unwrap().to_string();
        let count = v["count"].as_u64().unwrap();
        let last = seen.entry(word.clone()).or_insert(0);
        assert_eq!(count, *last + 1, "count of {word:?} out of order");
        *last = count;
    }
}

#[test]
fn clicks_per_user_windows_match_expected() {
    let job = example_job("clicks-per-user", &["clicks_per_user"]);
    let expected = expected("clicks-per-user", "expected-windows.jsonl");
    assert_eq!(expected.len(), 38);
    let out = run_quiet(&job).success();
    // Windows of different keys ending together fire in any order: compare sorted.
    assert_eq!(
        sorted_json(&out.stdout_lines()),
        sorted_json(&expected),
        "windows differ\n{}",
        out.describe()
    );
    // Five-minute windows sliding every minute, including the last ones
    // (end of input = end of time): every end is a whole minute.
    let windows = json_lines(&out.stdout_lines());
    assert!(windows.iter().all(|v| {
        let (start, end) = (
            v["window_start"].as_i64().unwrap(),
            v["window_end"].as_i64().unwrap(),
        );
        end - start == 300_000 && end % 60_000 == 0
    }));
}

#[test]
fn enrich_output_exact() {
    let job = example_job("enrich", &["enrich_map", "enrich_filter"]);
    let expected = expected("enrich", "expected-output.jsonl");
    assert_eq!(expected.len(), 11);
    // Kept records are forwarded byte for byte: compare the lines themselves.
    assert_exact_output(&job, &expected);
    let ids: Vec<u64> = json_lines(&expected)
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3, 4, 6, 7, 8, 10, 15, 17, 18, 20]);
}

/// Run the example at `parallelism` and compare its output with `expected`
/// as a multiset.
fn multiset_at(name: &str, parallelism: u32, expected: &[String]) -> Vec<String> {
    let scratch = Scratch::new();
    let job = job_variant(&scratch, name, parallelism);
    // Every keyed example runs with each state backend; both must give the
    // expected output.
    let rocksdb_job = on_rocksdb(&job, "job-rocksdb.toml", &scratch.path("rocksdb"));
    let mut outputs = Vec::new();
    for (backend, job) in [("memory", &job), ("rocksdb", &rocksdb_job)] {
        let out = run_quiet(job).success();
        let got = out.stdout_lines();
        assert_eq!(
            sorted_json(&got),
            sorted_json(expected),
            "{name} at parallelism {parallelism} with the {backend} backend: output differs from the expected multiset\n{}",
            out.describe()
        );
        outputs.push(got);
    }
    outputs.swap_remove(0)
}

#[test]
fn fraud_detection_same_alerts_at_parallelism_1_2_4() {
    wasm("fraud_detection");
    let expected = expected("fraud-detection", "expected-alerts.jsonl");
    for p in [1, 2, 4] {
        multiset_at("fraud-detection", p, &expected);
    }
}

#[test]
fn word_count_same_counts_at_parallelism_1_2_4() {
    wasm("word_split");
    wasm("word_count");
    let expected = expected("word-count", "expected-counts.jsonl");
    for p in [1, 2, 4] {
        let got = multiset_at("word-count", p, &expected);
        assert_counts_ascend_per_word(&got);
    }
}

#[test]
fn clicks_per_user_same_windows_at_parallelism_1_2_4() {
    wasm("clicks_per_user");
    let expected = expected("clicks-per-user", "expected-windows.jsonl");
    for p in [1, 2, 4] {
        multiset_at("clicks-per-user", p, &expected);
    }
}

/// `data/<file>` lines of every file, in one list.
fn expected_all(name: &str, files: &[&str]) -> Vec<String> {
    files.iter().flat_map(|f| expected(name, f)).collect()
}

#[test]
fn top_k_same_rankings_at_parallelism_1_2_4() {
    wasm("top_k");
    let expected = expected("top-k", "expected-top.jsonl");
    assert!(!expected.is_empty());
    for p in [1, 2, 4] {
        multiset_at("top-k", p, &expected);
    }
}

#[test]
fn sessions_same_sessions_at_parallelism_1_2_4() {
    wasm("sessions");
    let expected = expected("sessions", "expected-sessions.jsonl");
    assert_eq!(expected.len(), 8);
    for p in [1, 2, 4] {
        multiset_at("sessions", p, &expected);
    }
}

#[test]
fn order_payment_join_pairs_and_alerts_at_parallelism_1_2_4() {
    wasm("order_payment_join");
    // All three sinks print to stdout: pairs, unpaid orders, orphan payments.
    let expected = expected_all(
        "order-payment-join",
        &[
            "expected-joined.jsonl",
            "expected-unpaid.jsonl",
            "expected-orphan-payments.jsonl",
        ],
    );
    assert_eq!(expected.len(), 13);
    for p in [1, 2, 4] {
        multiset_at("order-payment-join", p, &expected);
    }
}

#[test]
fn threshold_alerts_with_broadcast_rules_at_parallelism_1_2_4() {
    wasm("threshold_alerts");
    // Alerts and unmatched events both print to stdout.
    let expected = expected_all(
        "threshold-alerts",
        &["expected-alerts.jsonl", "expected-unmatched.jsonl"],
    );
    assert_eq!(expected.len(), 159);
    for p in [1, 2, 4] {
        multiset_at("threshold-alerts", p, &expected);
    }
}

#[test]
fn enrich_via_connect_same_records_at_parallelism_1_2_4() {
    wasm("enrich_connect");
    let expected = expected("enrich", "expected-connect.jsonl");
    assert_eq!(expected.len(), 16);
    for p in [1, 2, 4] {
        let scratch = Scratch::new();
        let job = job_file_variant(&scratch, "enrich", "job-connect.toml", p);
        let out = run_quiet(&job).success();
        assert_eq!(
            sorted_json(&out.stdout_lines()),
            sorted_json(&expected),
            "enrich-connect at parallelism {p}\n{}",
            out.describe()
        );
    }
}

#[test]
fn enrich_same_records_at_parallelism_2() {
    wasm("enrich_map");
    wasm("enrich_filter");
    let expected = expected("enrich", "expected-output.jsonl");
    multiset_at("enrich", 2, &expected);
}

/// The fraud-detection job with its stdout sink turned into a file sink
/// writing `out/alerts.jsonl` in `scratch`; returns (job, output file).
fn fraud_to_file(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let out_file = scratch.path("out/alerts.jsonl");
    std::fs::create_dir_all(out_file.parent().unwrap()).unwrap();
    let text = std::fs::read_to_string(example("fraud-detection").join("job.toml")).unwrap();
    let text = with_absolute_paths(&text, &example("fraud-detection"));
    assert_eq!(
        text.matches("type = \"stdout\"").count(),
        1,
        "expected one stdout sink in:\n{text}"
    );
    let text = text.replace(
        "type = \"stdout\"",
        &format!("type = \"file\"\npath = {}", toml_path(&out_file)),
    );
    (scratch.write("fraud-file-sink.toml", text), out_file)
}

#[test]
fn file_sink_writes_the_alerts() {
    wasm("fraud_detection");
    let scratch = Scratch::new();
    let (job, out_file) = fraud_to_file(&scratch);
    let expected = expected("fraud-detection", "expected-alerts.jsonl");

    let out = run_quiet(&job).success();
    assert_eq!(
        out.stdout,
        "",
        "a file sink writes nothing on stdout\n{}",
        out.describe()
    );
    assert_eq!(file_lines(&out_file), expected);
    let raw = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        raw.ends_with('\n'),
        "every line ends with a newline: {raw:?}"
    );
}

#[test]
fn file_sink_replaces_the_file_on_each_run() {
    wasm("fraud_detection");
    let scratch = Scratch::new();
    let (job, out_file) = fraud_to_file(&scratch);
    let expected = expected("fraud-detection", "expected-alerts.jsonl");
    run_quiet(&job).success();
    run_quiet(&job).success();
    // "truncated when it exists, at the start of each run": a second run leaves one copy.
    assert_eq!(file_lines(&out_file), expected);
}
