//! Nexmark beside the Flink peer (`../shared/peers/flink/nexmark`): eddy's
//! generator writes the peer's events byte for byte, and every query of
//! `examples-wasm/nexmark/` gives the results of the peer's reference
//! semantics (its `check.py`) at parallelism 1 and 2.
//!
//! The peer's folder is found beside the checkout (`../shared`), or at
//! `$EDDY_NEXMARK_PEER`. Runs of 2,000,000 events per query and
//! parallelism, and the reference in Python: about two minutes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use md5::{Digest, Md5};

/// The queries the peer implements, each a job file `examples-wasm/nexmark/<q>.toml`.
const QUERIES: [&str; 9] = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"];

/// Events per correctness run: 20 s of event time, as the peer's own check.
const CHECK_EVENTS: u64 = 2_000_000;

/// q4's updates at `CHECK_EVENTS` in the peer's README: one per auction
/// closed with a valid bid. The reference compares only the last update
/// per category, so a winner lost or emitted twice would pass it.
const Q4_UPDATES: usize = 115_278;

/// md5 of the peer's JSON dump of events 0..1000 (`GENERATOR.md` §9).
const MD5_OF_1000_EVENTS: &str = "1607cc310f779d00485325cfe3a01083";

fn peer_dir() -> PathBuf {
    let dir = std::env::var_os("EDDY_NEXMARK_PEER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/peers/flink/nexmark"));
    assert!(
        dir.join("check.py").is_file(),
        "the Flink peer's Nexmark folder (with check.py) is not at {}: put ../shared beside the checkout or set EDDY_NEXMARK_PEER",
        dir.display()
    );
    dir
}

/// `text` with the one line that starts with `prefix` (after indentation) replaced.
fn with_line(text: &str, prefix: &str, replacement: &str) -> String {
    let matching = text
        .lines()
        .filter(|line| line.trim_start().starts_with(prefix))
        .count();
    assert_eq!(matching, 1, "one line starting with `{prefix}` in:\n{text}");
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with(prefix) {
                replacement.to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The example job of `query` with `count` events at `parallelism`, its
/// results going to `out`.
fn query_job(scratch: &Scratch, query: &str, parallelism: u32, count: u64, out: &Path) -> PathBuf {
    let dir = examples_dir().join("nexmark");
    let file = dir.join(format!("{query}.toml"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    let text = with_line(&text, "path = ", &format!("path = {}", toml_path(out)));
    let text = with_line(&text, "count = ", &format!("count = {count}"));
    let text = with_job_parallelism(&with_absolute_paths(&text, &dir), parallelism);
    scratch.write(&format!("{query}-p{parallelism}.toml"), text)
}

/// A job writing `count` generated events as the peer's JSON lines to `out`.
fn events_job(scratch: &Scratch, parallelism: u32, count: u64, out: &Path) -> PathBuf {
    scratch.write(
        &format!("events-{count}-p{parallelism}.toml"),
        format!(
            r#"[job]
name = "nexmark-events"
parallelism = {parallelism}

[[source]]
name = "events"
type = "generator"
format = "nexmark-json"
timestamp = "source"

[source.generator]
count = {count}

[[sink]]
name = "dump"
type = "file"
path = {out}
input = "events"
"#,
            out = toml_path(out)
        ),
    )
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn the_nexmark_generator_writes_the_peers_events_byte_for_byte_at_p1_and_p2() {
    let scratch = Scratch::new();
    let at_p1 = scratch.path("events-p1.jsonl");
    run_quiet(&events_job(&scratch, 1, 1000, &at_p1)).success();
    let bytes = std::fs::read(&at_p1).expect("the dump was written");
    assert_eq!(
        md5_hex(&bytes),
        MD5_OF_1000_EVENTS,
        "md5 of the dump of 1000 events differs from the peer's (GENERATOR.md §9); first line: {}",
        String::from_utf8_lossy(&bytes).lines().next().unwrap_or("")
    );
    // Two readers interleave the event numbers (s, s + 2, ...): together
    // they write the same lines.
    let at_p2 = scratch.path("events-p2.jsonl");
    run_quiet(&events_job(&scratch, 2, 1000, &at_p2)).success();
    let mut p1 = file_lines(&at_p1);
    let mut p2 = file_lines(&at_p2);
    p1.sort();
    p2.sort();
    assert_eq!(p1.len(), 1000);
    assert!(
        p1 == p2,
        "the events at parallelism 2 differ from those at 1"
    );
}

#[test]
fn every_nexmark_query_gives_the_peers_reference_results_at_p1_and_p2() {
    let peer = peer_dir();
    let scratch = Scratch::new();
    let events = scratch.path("events.jsonl");
    run_quiet(&events_job(&scratch, 1, CHECK_EVENTS, &events)).success();
    let mut pairs = Vec::new();
    for query in QUERIES {
        for parallelism in [1, 2] {
            let out = scratch.path(&format!("{query}-p{parallelism}.jsonl"));
            let job = query_job(&scratch, query, parallelism, CHECK_EVENTS, &out);
            run_quiet(&job).success();
            assert!(
                out.is_file(),
                "{query} at parallelism {parallelism} wrote no result file"
            );
            if query == "q4" {
                assert_eq!(
                    file_lines(&out).len(),
                    Q4_UPDATES,
                    "q4's updates at parallelism {parallelism}"
                );
            }
            pairs.push(format!("{query}={}", path_str(&out)));
        }
    }
    let check = Command::new("python3")
        .arg(repo_root().join("tests/nexmark/check_all.py"))
        .arg(&peer)
        .arg(&events)
        .args(&pairs)
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "results differ from the peer's reference:\n{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Every file was checked, and none is empty: a query whose reference
    // is empty on these events would prove nothing.
    let ok: Vec<&str> = report
        .lines()
        .filter(|line| line.contains(": OK, "))
        .collect();
    assert_eq!(ok.len(), pairs.len(), "{report}");
    assert!(
        ok.iter().all(|line| !line.ends_with(": OK, 0 results")),
        "{report}"
    );
}

#[test]
fn a_generator_option_nexmark_events_do_not_use_is_refused_at_its_line() {
    let scratch = Scratch::new();
    let job = scratch.write(
        "keys.toml",
        r#"[job]
name = "nexmark-keys"

[[source]]
name = "events"
type = "generator"
format = "nexmark"
timestamp = "source"

[source.generator]
count = 10
keys = 100

[[sink]]
name = "out"
type = "stdout"
input = "events"
"#,
    );
    run(&job).failure().stderr_has(&[
        "source `events`: `keys` does not apply to `format = \"nexmark\"`",
        "`count`, `rate`, `seed`, `start_time` and `events_per_second` apply",
        "keys.toml:12:8",
    ]);
}

#[test]
fn a_record_that_is_not_a_nexmark_event_fails_the_query_naming_it() {
    let scratch = Scratch::new();
    scratch.write("not-events.txt", "{\"type\":\"bid\"}\n");
    let job = scratch.write(
        "not-events.toml",
        format!(
            r#"[job]
name = "nexmark-not-events"

[[source]]
name = "events"
type = "file"
path = "not-events.txt"
format = "raw"

[[operator]]
uid = "q0-bids"
kind = "flat-map"
module = {module}
input = "events"
config = "q0"

[[sink]]
name = "results"
type = "stdout"
input = "q0-bids"
"#,
            module = toml_path(&wasm("nexmark_project"))
        ),
    );
    let out = run(&job).failure();
    out.stderr_has(&[
        "operator `q0-bids` (subtask 1/1) failed",
        "record is not a Nexmark event (source format \"nexmark\")",
        "tag 123",
    ]);
    assert!(out.stdout_lines().is_empty(), "{}", out.describe());
}
