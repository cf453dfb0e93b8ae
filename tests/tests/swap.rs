//! Live swap of a guest function (`eddy swap`): a running job's keyed
//! process function is replaced at a barrier; the committed output is the
//! old version's on the records before the barrier's source position and
//! the new version's after it, with state carried across, as an oracle in
//! this file computes independently from the job's input; refusals leave
//! the job and its output untouched; a swap survives `kill -9` once
//! answered; a state migration gives exactly the migrated output.
//!
//! The guests are the `swap-count-*` examples: per key and second of event
//! time, a count in value state, cleared by an event-time timer at the end
//! of the second. Version 1 emits every count; version 2 only counts of at
//! least 2, in another format; `swap-count-v2-migrating` keeps the count
//! and the last event time (state version 2, migrated from version 1).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use common::background::{Background, eddy_in as eddy, wait_registered};
use common::{Output, Scratch, toml_path, wasm};
use serde_json::{Value, json};

/// Records of the test job, at `RATE` records/s: about three seconds.
const RECORDS: u64 = 30_000;
const RATE: u64 = 10_000;
/// The watermark's bound, and the largest lag of a timestamp: no record is
/// ever behind the watermark, so none is late.
const OUT_OF_ORDERNESS_MS: i64 = 300;

/// The job's parts that vary between tests.
struct JobShape<'a> {
    name: &'a str,
    parallelism: u32,
    backend: &'a str,
    checkpoints: bool,
    /// Records per second, or as fast as possible.
    rate: Option<u64>,
    module: &'a str,
    /// Extra config of the operator (JSON fields after `period_ms`).
    config: &'a str,
}

impl JobShape<'_> {
    fn text(&self) -> String {
        let JobShape {
            name,
            parallelism,
            backend,
            ..
        } = self;
        let local_dir = if *backend == "rocksdb" {
            "local_dir = \"state\""
        } else {
            ""
        };
        let checkpoints = if self.checkpoints {
            "[checkpoints]\ninterval = \"400ms\"\nmin_pause = \"100ms\"\ndir = \"checkpoints\"\n"
        } else {
            ""
        };
        let rate = self.rate.map_or(String::new(), |r| format!("rate = {r}"));
        let delivery = if self.checkpoints {
            "delivery = \"exactly-once\""
        } else {
            ""
        };
        let path = if self.checkpoints {
            "out/counts"
        } else {
            "out/counts.jsonl"
        };
        format!(
            r#"[job]
name = "{name}"
parallelism = {parallelism}

[state]
backend = "{backend}"
{local_dir}

{checkpoints}
[[source]]
name = "events"
type = "generator"
parallelism = 1
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "bounded-out-of-orderness", max_out_of_orderness = "{OUT_OF_ORDERNESS_MS}ms" }}
[source.generator]
count = {RECORDS}
{rate}
keys = 50
events_per_second = 200
max_lag = "{OUT_OF_ORDERNESS_MS}ms"
seed = 11

[[operator]]
uid = "counter"
kind = "keyed-process"
module = {module}
input = "events"
key_by = {{ field = "key" }}
config = '{{"period_ms": 1000{config}}}'

[[sink]]
name = "counts"
type = "file"
path = "{path}"
{delivery}
input = "counter"
"#,
            module = toml_path(&wasm(self.module)),
            config = self.config,
        )
    }
}

impl Default for JobShape<'_> {
    fn default() -> Self {
        JobShape {
            name: "swapped",
            parallelism: 1,
            backend: "memory",
            checkpoints: true,
            rate: Some(RATE),
            module: "swap_count_v1",
            config: "",
        }
    }
}

/// The job's input, in source order: each record's key (its JSON text,
/// as the guests echo it) and event time, from a run of the same
/// generator straight into a file.
fn input_records() -> Vec<(Value, i64)> {
    let scratch = Scratch::new();
    scratch.write(
        "dump.toml",
        format!(
            r#"[job]
name = "dump"
[[source]]
name = "events"
type = "generator"
[source.generator]
count = {RECORDS}
keys = 50
events_per_second = 200
max_lag = "{OUT_OF_ORDERNESS_MS}ms"
seed = 11
[[sink]]
name = "all"
type = "file"
path = "events.jsonl"
input = "events"
"#
        ),
    );
    eddy(&scratch, &["run", "--quiet", "dump.toml"]).success();
    let text = std::fs::read_to_string(scratch.path("events.jsonl")).unwrap();
    let records: Vec<(Value, i64)> = text
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            (event["key"].clone(), event["ts"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(records.len() as u64, RECORDS);
    records
}

/// Which guest processes a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
    V2Migrating,
}

/// One key's state in the oracle: the count (and, from the migrating
/// version on, the last event time) and its pending timers.
#[derive(Default)]
struct KeyState {
    count: u64,
    last_ts: Option<i64>,
    timers: BTreeSet<i64>,
}

/// What the job must commit when records `0..cut` go to version 1 and the
/// rest to `after`: each key's timers fire before the first of its records
/// whose watermark (the largest timestamp before it, less the bound and
/// 1 ms) reaches them, and clear its state. Sorted canonical JSON lines.
fn oracle(records: &[(Value, i64)], cut: u64, after: Version) -> Vec<String> {
    let mut states: HashMap<String, KeyState> = HashMap::new();
    let mut max_ts = i64::MIN;
    let mut output = Vec::new();
    for (index, (key, ts)) in records.iter().enumerate() {
        let watermark = if max_ts == i64::MIN {
            i64::MIN
        } else {
            max_ts - OUT_OF_ORDERNESS_MS - 1
        };
        let state = states.entry(key.to_string()).or_default();
        while let Some(&timer) = state.timers.first()
            && timer <= watermark
        {
            state.timers.pop_first();
            state.count = 0;
            state.last_ts = None;
        }
        let version = if (index as u64) < cut {
            Version::V1
        } else {
            after
        };
        state.count += 1;
        let count = state.count;
        match version {
            Version::V1 => output.push(json!({"key": key, "count": count})),
            Version::V2 if count >= 2 => {
                output.push(json!({"key": key, "total": count, "rule": "v2"}))
            }
            Version::V2 => {}
            Version::V2Migrating => {
                output.push(json!({"key": key, "count": count, "prev_ts": state.last_ts}));
            }
        }
        // Version 1 keeps no time: a migrated key's last time is unknown.
        state.last_ts = (version == Version::V2Migrating).then_some(*ts);
        state.timers.insert((ts.div_euclid(1000) + 1) * 1000);
        max_ts = max_ts.max(*ts);
    }
    let mut lines: Vec<String> = output.iter().map(Value::to_string).collect();
    lines.sort();
    lines
}

/// Every line the sink committed, as sorted canonical JSON.
fn committed(scratch: &Scratch) -> Vec<String> {
    let mut lines = Vec::new();
    let folder = scratch.path("out/counts");
    let files: Vec<std::path::PathBuf> = if folder.is_dir() {
        std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect()
    } else {
        vec![scratch.path("out/counts.jsonl")]
    };
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let value: Value = serde_json::from_str(line).unwrap();
            lines.push(value.to_string());
        }
    }
    lines.sort();
    lines
}

#[track_caller]
fn assert_lines(expected: &[String], actual: &[String], what: &str) {
    if expected != actual {
        let missing: Vec<&String> = expected.iter().filter(|l| !actual.contains(l)).collect();
        let extra: Vec<&String> = actual.iter().filter(|l| !expected.contains(l)).collect();
        panic!(
            "{what}: {} lines expected, {} committed; missing {:?}; extra {:?}",
            expected.len(),
            actual.len(),
            &missing[..missing.len().min(5)],
            &extra[..extra.len().min(5)]
        );
    }
}

/// `eddy swap` of `operator` of the job `swapped` to `module`.
fn eddy_swap(scratch: &Scratch, operator: &str, module: &Path) -> Output {
    let module = module.to_str().unwrap();
    let args = [
        "swap",
        "swapped",
        "--operator",
        operator,
        "--module",
        module,
    ];
    eddy(scratch, &args)
}

/// `eddy swap` of operator `counter` to `module`: the swap's barrier's
/// source position (the generator's next record), and the CLI's stderr.
fn swap(scratch: &Scratch, module: &str) -> (u64, String) {
    let output = eddy_swap(scratch, "counter", &wasm(module)).success();
    let at = output
        .stderr
        .find("events 1/1: generator at next ")
        .unwrap_or_else(|| panic!("no source position in:\n{}", output.stderr))
        + "events 1/1: generator at next ".len();
    let position = output.stderr[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (position, output.stderr)
}

/// Wait until the run has read `records` records (its status says so).
fn wait_for_progress(scratch: &Scratch, run: &mut Background, records: u64) {
    let started = Instant::now();
    loop {
        let status = eddy(scratch, &["status", "swapped"]);
        let read = status
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("source"))
            .and_then(|l| l.split("out").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if read >= records {
            return;
        }
        assert!(run.running(), "the run ended early:\n{}", run.stderr());
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not read {records} records within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run the job, swap to `module` mid-run, let it finish; the committed
/// output must be the oracle's for the swap's source position.
fn swap_mid_run(parallelism: u32, backend: &str, module: &str, after: Version) {
    let records = input_records();
    let scratch = Scratch::new();
    let shape = JobShape {
        parallelism,
        backend,
        ..JobShape::default()
    };
    scratch.write("job.toml", shape.text());
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    wait_for_progress(&scratch, &mut run, RECORDS / 3);
    let (cut, stderr) = swap(&scratch, module);
    assert!(
        cut < RECORDS,
        "the swap came before the end of the input: {stderr}"
    );
    assert!(
        stderr.contains("records the new version"),
        "a checkpoint at the barrier records the swap: {stderr}"
    );
    let status = eddy(&scratch, &["status", "swapped"]).success();
    assert!(
        status.stdout.contains("1 live swap") && status.stdout.contains("swapped at barrier"),
        "`eddy status` shows the swap:\n{}",
        status.stdout
    );
    let (exit, run_stderr) = run.wait();
    assert!(exit.success(), "{run_stderr}");
    assert_lines(
        &oracle(&records, cut, after),
        &committed(&scratch),
        &format!("parallelism {parallelism}, {backend}, swap at record {cut}"),
    );
    // The output differs from a run without the swap: it really swapped.
    assert_ne!(
        oracle(&records, cut, after),
        oracle(&records, RECORDS, Version::V1)
    );
}

#[test]
fn a_swap_mid_run_commits_v1_before_the_barrier_and_v2_after_it_with_state_kept_p1_memory() {
    swap_mid_run(1, "memory", "swap_count_v2", Version::V2);
}

#[test]
fn a_swap_mid_run_commits_v1_before_the_barrier_and_v2_after_it_with_state_kept_p2_memory() {
    swap_mid_run(2, "memory", "swap_count_v2", Version::V2);
}

#[test]
fn a_swap_mid_run_commits_v1_before_the_barrier_and_v2_after_it_with_state_kept_p1_rocksdb() {
    swap_mid_run(1, "rocksdb", "swap_count_v2", Version::V2);
}

#[test]
fn a_swap_mid_run_commits_v1_before_the_barrier_and_v2_after_it_with_state_kept_p2_rocksdb() {
    swap_mid_run(2, "rocksdb", "swap_count_v2", Version::V2);
}

#[test]
fn a_swap_with_a_state_migration_gives_the_migrated_output() {
    swap_mid_run(
        2,
        "rocksdb",
        "swap_count_v2_migrating",
        Version::V2Migrating,
    );
}

/// State is portable between languages (values are JSON in every SDK): the
/// Rust `swap-count-v1` swapped mid-run for `swap-count-v2` written in
/// another language continues every key's count, exactly as the oracle
/// says. The new component is compiled (seconds for Python) before the
/// job starts, as `eddy validate` would on deploy, so that the swap lands
/// while input remains.
fn swap_to_another_language(parallelism: u32, backend: &str, module: &str) {
    let scratch = Scratch::new();
    eddy(&scratch, &["inspect", wasm(module).to_str().unwrap()]).success();
    swap_mid_run(parallelism, backend, module, Version::V2);
}

#[test]
fn a_rust_function_swapped_for_its_python_version_mid_run_keeps_its_state_p2_rocksdb() {
    swap_to_another_language(2, "rocksdb", "swap_count_v2_py");
}

#[test]
fn a_rust_function_swapped_for_its_javascript_version_mid_run_keeps_its_state_p2_memory() {
    swap_to_another_language(2, "memory", "swap_count_v2_js");
}

/// Run, swap, `kill -9` (at once, or after the next checkpoint), run again
/// from the latest checkpoint: the restarted run runs the new version and
/// the committed output is exact.
fn killed_after_a_swap(module: &str, after: Version, wait_for_next_checkpoint: bool) {
    let records = input_records();
    let scratch = Scratch::new();
    let shape = JobShape {
        parallelism: 2,
        backend: "rocksdb",
        ..JobShape::default()
    };
    scratch.write("job.toml", shape.text());
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    wait_for_progress(&scratch, &mut run, RECORDS / 4);
    let (cut, stderr) = swap(&scratch, module);
    let barrier = barrier_of(&stderr);
    if wait_for_next_checkpoint {
        let started = Instant::now();
        while !checkpoints(&scratch).iter().any(|&id| id > barrier) {
            assert!(run.running(), "the run ended early:\n{}", run.stderr());
            assert!(started.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(run.running(), "killed while it runs");
    run.kill();
    let restarted = eddy(
        &scratch,
        &["run", "--quiet", "job.toml", "--from-checkpoint", "latest"],
    )
    .success();
    assert!(
        restarted.stderr.contains("operator `counter` runs module")
            && restarted
                .stderr
                .contains(&format!("swapped live at barrier {barrier}")),
        "the restarted run says it runs the swapped module:\n{}",
        restarted.stderr
    );
    assert_lines(
        &oracle(&records, cut, after),
        &committed(&scratch),
        &format!("killed after the swap at record {cut}"),
    );
}

/// The barrier id in `eddy swap`'s stderr.
fn barrier_of(stderr: &str) -> u64 {
    let at = stderr.find("from barrier ").unwrap() + "from barrier ".len();
    stderr[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Ids of the complete checkpoints in the scratch folder.
fn checkpoints(scratch: &Scratch) -> Vec<u64> {
    std::fs::read_dir(scratch.path("checkpoints"))
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("_manifest.json").is_file())
        .filter_map(|p| p.file_name()?.to_str()?.strip_prefix("chk-")?.parse().ok())
        .collect()
}

#[test]
fn killed_right_after_a_swap_the_job_recovers_onto_the_new_version() {
    killed_after_a_swap("swap_count_v2", Version::V2, false);
}

#[test]
fn killed_after_the_checkpoint_after_a_swap_the_job_recovers_onto_the_new_version() {
    killed_after_a_swap("swap_count_v2", Version::V2, true);
}

#[test]
fn migrated_state_restored_from_a_checkpoint_after_the_swap_gives_the_migrated_output() {
    killed_after_a_swap("swap_count_v2_migrating", Version::V2Migrating, true);
}

#[test]
fn refused_swaps_say_why_and_leave_the_job_running_on_the_old_version() {
    let records = input_records();
    let scratch = Scratch::new();
    let shape = JobShape {
        parallelism: 2,
        // Slow enough for every refusal while it runs.
        rate: Some(RATE / 2),
        // The config version 1 ignores, and the failing version reads.
        config: r#", "fail_on_subtask": 1"#,
        ..JobShape::default()
    };
    scratch.write("job.toml", shape.text());
    let not_a_component = scratch.write("notes.wasm", "these are notes, not a component\n");
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    wait_for_progress(&scratch, &mut run, 1000);
    let refusals: [(&str, &Path); 7] = [
        (
            "enrich_map.wasm is a function of kind `map` (world `transform`), but the operator is declared `kind = \"keyed-process\"`",
            &wasm("enrich_map"),
        ),
        (
            "is a function of kind `window-process` (world `keyed-process`), but the operator is declared `kind = \"keyed-process\"`",
            &wasm("window_collect"),
        ),
        (
            "state `count`: it is a value state in the running version and a list state in the new module",
            &wasm("swap_count_bad_kind"),
        ),
        (
            "state `count`: it is at version 1 in the running version and at version 2 in the new module, which declares no migration from version 1",
            &wasm("swap_count_bad_version"),
        ),
        (
            "state `count`: the running version has this value state and the new module no longer declares it; its contents would be lost (allow that with --allow-dropped-state)",
            &wasm("swap_count_dropped"),
        ),
        (
            "the new version's init failed on subtask 2/2: guest returned an error: init refused on subtask 1 by config; nothing changed, every subtask runs the old version",
            &wasm("swap_count_init_fails"),
        ),
        ("is not a WebAssembly file", &not_a_component),
    ];
    for (message, module) in refusals {
        let refused = eddy_swap(&scratch, "counter", module).failure();
        refused.stderr_has(&["cannot swap operator `counter`", message]);
        assert!(
            run.running(),
            "the job runs on after: {message}\n{}",
            run.stderr()
        );
    }
    let unknown = eddy_swap(&scratch, "nope", &wasm("swap_count_v2")).failure();
    unknown.stderr_has(&[
        "job `swapped` has no operator `nope` (operators with a function: `counter`)",
    ]);
    let status = eddy(&scratch, &["status", "swapped"]).success();
    assert!(
        !status.stdout.contains("live swap"),
        "nothing was swapped:\n{}",
        status.stdout
    );
    let (exit, stderr) = run.wait();
    assert!(exit.success(), "{stderr}");
    assert_lines(
        &oracle(&records, RECORDS, Version::V1),
        &committed(&scratch),
        "after refused swaps, version 1's output",
    );
}

#[test]
fn a_swap_of_a_job_without_checkpoints_works_and_says_it_will_not_survive_a_crash() {
    let records = input_records();
    let scratch = Scratch::new();
    let shape = JobShape {
        checkpoints: false,
        ..JobShape::default()
    };
    scratch.write("job.toml", shape.text());
    std::fs::create_dir_all(scratch.path("out")).unwrap();
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    wait_for_progress(&scratch, &mut run, RECORDS / 3);
    let (cut, stderr) = swap(&scratch, "swap_count_v2");
    assert!(
        stderr.contains(
            "the job has no checkpoints: this swap will not survive a crash or a restart"
        ),
        "{stderr}"
    );
    let (exit, run_stderr) = run.wait();
    assert!(exit.success(), "{run_stderr}");
    assert_lines(
        &oracle(&records, cut, Version::V2),
        &committed(&scratch),
        &format!("no checkpoints, swap at record {cut}"),
    );
}

#[test]
fn a_restore_from_a_savepoint_with_a_new_module_checks_its_state_by_the_same_rules() {
    let scratch = Scratch::new();
    let shape = JobShape {
        rate: Some(RATE / 2),
        ..JobShape::default()
    };
    scratch.write("job.toml", shape.text());
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    wait_for_progress(&scratch, &mut run, 1000);
    let taken = eddy(&scratch, &["savepoint", "swapped", "savepoints"]).success();
    let savepoint = taken.stdout.trim().to_string();
    run.kill();

    let restore = |module: &str, extra: &[&str]| {
        let shape = JobShape {
            module,
            rate: None,
            ..JobShape::default()
        };
        scratch.write("job.toml", shape.text());
        let mut args = vec!["run", "--quiet", "job.toml", "--from-savepoint", &savepoint];
        args.extend_from_slice(extra);
        eddy(&scratch, &args)
    };
    restore("swap_count_bad_version", &[])
        .failure()
        .stderr_has(&[
            "operator `counter`",
            "cannot restore savepoint",
            "state `count`: it is at version 1 in savepoint",
            "declares no migration from version 1",
        ]);
    restore("swap_count_dropped", &[]).failure().stderr_has(&[
        "state `count`: savepoint",
        "has this value state and",
        "swap_count_dropped.wasm no longer declares it; its contents would be lost (allow that with --allow-non-restored-state)",
    ]);
    // Allowed to drop it, the job starts; so does a version that migrates.
    restore("swap_count_dropped", &["--allow-non-restored-state"]).success();
    let migrated = restore("swap_count_v2_migrating", &[]).success();
    assert!(
        migrated.stderr.contains("restoring savepoint"),
        "{}",
        migrated.stderr
    );
    let lines = committed(&scratch);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"prev_ts\":null") && !l.contains("\"count\":1,")),
        "some key went on from its restored version-1 count, migrated"
    );
}
