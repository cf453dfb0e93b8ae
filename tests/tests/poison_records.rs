//! Poison records: `on_failure = "dead-letter"` sets aside the records a
//! guest panics, traps or times out on, and every other record gives the
//! output it gives in a run without them; `on_failure = "fail"` (the
//! default) fails the job with a message naming the record.
//!
//! Each job runs twice: on input with poison records and on the same input
//! without them (the reference), and the outputs must be equal. The keyed
//! guest (`faulty-count`) changes value, list and map state of its key
//! before it fails, and emits what its state holds, so a poison record
//! whose state changes were kept shows in the output of later records of
//! its key.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The marker that makes the faulty guests fail.
const POISON: &str = "poison";

/// `count` records `{"user":"u<i % 3>","ts":..,"n":i}`; the ones whose `n`
/// is in `poison` carry `"tag":"poison"`.
fn records(count: usize, poison: &[usize]) -> Vec<String> {
    (0..count)
        .map(|n| {
            let tag = if poison.contains(&n) { POISON } else { "ok" };
            format!(
                "{{\"user\":\"u{}\",\"ts\":{},\"n\":{n},\"tag\":\"{tag}\"}}",
                n % 3,
                1_700_000_000_000 + n as i64 * 10
            )
        })
        .collect()
}

fn without_poison(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| !line.contains(POISON))
        .cloned()
        .collect()
}

/// A job reading `in.jsonl` (written from `input`) through operator `op`
/// (`operator` holds its kind, module and options) into file `out.jsonl`,
/// with records the guest fails on in file `dlq.jsonl` if it sets them
/// aside, in batches of at most `max_records`.
fn job(scratch: &Scratch, input: &[String], operator: &str, max_records: usize) -> PathBuf {
    scratch.write("in.jsonl", input.join("\n") + "\n");
    let dlq = if operator.contains("dead_letter") {
        "[[sink]]\nname = \"dlq\"\ntype = \"file\"\npath = \"dlq.jsonl\"\n"
    } else {
        ""
    };
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "poison"
parallelism = 2

[batch]
max_records = {max_records}

[[source]]
name = "src"
type = "file"
path = "in.jsonl"
timestamp = {{ field = "ts" }}

[[operator]]
uid = "op"
input = "src"
{operator}

[[sink]]
name = "out"
type = "file"
path = "out.jsonl"
input = "op"

{dlq}"#
        ),
    )
}

/// The stateless `faulty` map in `mode`, setting aside what it fails on.
fn stateless(mode: &str, extra: &str) -> String {
    format!(
        "kind = \"map\"\nmodule = {}\nconfig = {{ mode = \"{mode}\", needle = \"{POISON}\" }}\n\
         on_failure = \"dead-letter\"\ndead_letter = \"dlq\"\n{extra}",
        toml_path(&wasm("faulty"))
    )
}

/// The keyed `faulty-count` guest in `mode`, by `user`, with `on_failure`.
fn keyed(mode: &str, on_failure: &str, extra: &str) -> String {
    format!(
        "kind = \"keyed-process\"\nmodule = {}\nkey_by = {{ field = \"user\" }}\n\
         config = {{ mode = \"{mode}\", needle = \"{POISON}\" }}\n{on_failure}\n{extra}",
        toml_path(&wasm("faulty_count"))
    )
}

const DEAD_LETTER: &str = "on_failure = \"dead-letter\"\ndead_letter = \"dlq\"";

/// Run `job` to success; its output lines (sorted: two subtasks write the
/// file) and its dead letters (in input order, by `n`).
fn run_job(job: &Path, scratch: &Scratch) -> (Vec<String>, Vec<serde_json::Value>) {
    let out = run(job).success();
    let mut output = file_lines(&scratch.path("out.jsonl"));
    output.sort();
    let dlq = scratch.path("dlq.jsonl");
    let mut letters = if dlq.exists() {
        json_lines(&file_lines(&dlq))
    } else {
        Vec::new()
    };
    letters.sort_by_key(record_n);
    assert_eq!(
        out.summary_counts("sink", "dlq").0,
        letters.len() as u64,
        "{}",
        out.describe()
    );
    (output, letters)
}

/// `n` of the record in a dead letter.
fn record_n(letter: &serde_json::Value) -> u64 {
    let record: serde_json::Value = serde_json::from_str(
        letter["record"]
            .as_str()
            .unwrap_or_else(|| panic!("no record in {letter}")),
    )
    .unwrap_or_else(|e| panic!("record of {letter} is not JSON: {e}"));
    record["n"].as_u64().expect("n")
}

/// Run `operator` on `input` and on `input` without its poison records:
/// the outputs must be equal, and the dead letters exactly the poison
/// records, each with `failure` and a reason starting with `reason`.
#[track_caller]
fn poison_records_are_set_aside(
    operator: &str,
    input: &[String],
    max_records: usize,
    failure: &str,
    reason: &str,
) {
    let scratch = Scratch::new();
    let (output, letters) = run_job(&job(&scratch, input, operator, max_records), &scratch);
    let reference = Scratch::new();
    let clean = without_poison(input);
    let (expected, no_letters) =
        run_job(&job(&reference, &clean, operator, max_records), &reference);

    assert!(no_letters.is_empty(), "{no_letters:?}");
    assert_eq!(output.len(), clean.len(), "one output per good record");
    assert_eq!(
        output, expected,
        "the poison records changed other records' output"
    );

    let poison: Vec<&String> = input.iter().filter(|l| l.contains(POISON)).collect();
    assert_eq!(letters.len(), poison.len(), "{letters:#?}");
    for (letter, record) in letters.iter().zip(poison) {
        let ts: serde_json::Value =
            serde_json::from_str::<serde_json::Value>(record).unwrap()["ts"].clone();
        assert_eq!(letter["operator"], "op", "{letter}");
        assert_eq!(letter["failure"], failure, "{letter}");
        assert_eq!(letter["record"], record.as_str(), "{letter}");
        assert_eq!(letter["timestamp"], ts, "{letter}");
        let text = letter["reason"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(reason),
            "reason {text:?} should start with {reason:?}"
        );
    }
}

#[test]
fn stateless_panics_go_to_the_dead_letter_sink() {
    let input = records(60, &[0, 7, 8, 31, 59]);
    poison_records_are_set_aside(
        &stateless("panic-on", ""),
        &input,
        16,
        "panic",
        "guest panicked: panicked at faulty/src/lib.rs:",
    );
}

#[test]
fn stateless_time_outs_are_found_by_halving_the_batch() {
    let input = records(24, &[5, 18]);
    poison_records_are_set_aside(
        &stateless("loop-on", "limits = { call_timeout = \"100ms\" }"),
        &input,
        8,
        "timeout",
        "guest call exceeded the time limit of 100ms (it was interrupted)",
    );
}

#[test]
fn keyed_panics_leave_no_state_behind() {
    // u1 and u2 each get poison records between good ones, in one batch
    // and across batches.
    let input = records(60, &[1, 2, 4, 29, 44]);
    poison_records_are_set_aside(
        &keyed("panic-on", DEAD_LETTER, ""),
        &input,
        16,
        "panic",
        "guest panicked: panicked at faulty-count/src/lib.rs:",
    );
}

#[test]
fn keyed_panics_leave_no_state_behind_on_rocksdb() {
    let input = records(30, &[2, 13]);
    let scratch = Scratch::new();
    let operator = keyed("panic-on", DEAD_LETTER, "");
    let with_rocksdb = |scratch: &Scratch, input: &[String]| {
        let plain = job(scratch, input, &operator, 8);
        on_rocksdb(&plain, "rocksdb.toml", &scratch.path("db"))
    };
    let (output, letters) = run_job(&with_rocksdb(&scratch, &input), &scratch);
    let reference = Scratch::new();
    let (expected, _) = run_job(
        &with_rocksdb(&reference, &without_poison(&input)),
        &reference,
    );
    assert_eq!(output, expected);
    assert_eq!(letters.iter().map(record_n).collect::<Vec<_>>(), [2, 13]);
}

#[test]
fn keyed_time_outs_leave_no_state_behind() {
    let input = records(24, &[4, 5]);
    poison_records_are_set_aside(
        &keyed(
            "loop-on",
            DEAD_LETTER,
            "limits = { call_timeout = \"100ms\" }",
        ),
        &input,
        8,
        "timeout",
        "guest call exceeded the time limit of 100ms (it was interrupted)",
    );
}

#[test]
fn without_dead_letters_a_poison_record_fails_the_job_naming_it() {
    let scratch = Scratch::new();
    let input = records(10, &[4]);
    let job = job(
        &scratch,
        &input,
        &keyed("panic-on", "on_failure = \"fail\"", ""),
        16,
    );
    run_quiet(&job).failure().stderr_has(&[
        "error: job `poison` failed: operator `op` (subtask ",
        "failed: guest panicked: panicked at faulty-count/src/lib.rs:",
        &format!(
            "faulty count: found poison\non record: {} (event time 1700000000040)",
            input[4]
        ),
    ]);
}

// ---------------------------------------------------------------- job file

/// A job whose operator `op` has `options`; loading it must fail with
/// exactly `message` at `location`.
#[track_caller]
fn refused(options: &str, message: &str, location: &str) {
    let scratch = Scratch::new();
    scratch.write("in.jsonl", "{}\n");
    let job = scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "x"

[[source]]
name = "src"
type = "file"
path = "in.jsonl"

[[operator]]
uid = "op"
input = "src"
module = {module}
{options}

[[sink]]
name = "out"
type = "stdout"
input = "op"
"#,
            module = toml_path(&wasm("faulty"))
        ),
    );
    let out = validate(&job).failure();
    out.stderr_has(&[&format!("error: {message}\n  --> {location}")]);
}

#[test]
fn dead_letter_sink_must_exist() {
    refused(
        "kind = \"map\"\non_failure = \"dead-letter\"\ndead_letter = \"dlq\"",
        "operator `op`: `dead_letter` names no sink `dlq`; sinks: `out`",
        "job.toml:15:15",
    );
}

#[test]
fn dead_letter_policy_needs_a_sink() {
    refused(
        "kind = \"map\"\non_failure = \"dead-letter\"",
        "operator `op`: `on_failure = \"dead-letter\"` needs `dead_letter`, the sink that receives the records the guest fails on, e.g. `dead_letter = \"failed\"`",
        "job.toml:14:14",
    );
}

#[test]
fn dead_letter_sink_needs_the_dead_letter_policy() {
    refused(
        "kind = \"map\"\ndead_letter = \"out\"",
        "operator `op`: `dead_letter` takes the records the guest fails on only with `on_failure = \"dead-letter\"`; add that, or remove `dead_letter`",
        "job.toml:14:15",
    );
}

#[test]
fn window_operators_refuse_dead_letters() {
    refused(
        "kind = \"aggregate\"\nkey_by = { field = \"user\" }\nwindow = { type = \"tumbling\", size = \"1m\" }\n\
         on_failure = \"dead-letter\"\ndead_letter = \"out\"",
        "operator `op`: `on_failure = \"dead-letter\"` is not supported for `aggregate` operators: their guest is called with the accumulators or elements of whole windows, so a failure cannot be traced to one record; it is for `map`, `filter`, `flat-map`, `keyed-process` and `co-process` operators",
        "job.toml:16:14",
    );
}

#[test]
fn unknown_failure_policy_is_named() {
    refused(
        "kind = \"map\"\non_failure = \"skip\"",
        "unknown variant `skip`, expected `fail` or `dead-letter`",
        "job.toml:14:14",
    );
}
