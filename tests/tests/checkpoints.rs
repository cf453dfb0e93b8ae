//! Checkpoints and recovery: a job killed at random moments (SIGKILL), or
//! whose guest traps at random records, and restarted from its latest
//! checkpoint each time, commits exactly the output of a run that never
//! failed; damaged checkpoints are refused with a clear message and the
//! previous complete one is used; at-least-once mode loses nothing; a
//! restart strategy that gives up says so and names the last failure.
//! Every run or restart that relies on a restore checks, in its log
//! (`EDDY_LOG=eddy=info`), that it restored the checkpoint it should have:
//! a job that silently started from the beginning could still commit the
//! same output with exactly-once sinks.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::kills::{
    Kills, newest_complete_checkpoint, restored_checkpoints, restored_id, run_with_kills,
};
use common::{Scratch, eddy_bin, eddy_within, path_str, toml_path, walk, wasm};

/// Lines of the harness input: enough work that twenty kills at random
/// moments land while the job runs.
const INPUT_LINES: usize = 400_000;

/// Deterministic input: lines of words from a small vocabulary, event time
/// advancing 5 ms per line (in order, so no record is late and the window
/// results do not depend on timing).
fn write_input(scratch: &Scratch, lines: usize) -> PathBuf {
    const WORDS: [&str; 12] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima",
    ];
    let mut text = String::new();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..lines {
        let words: Vec<&str> = (0..3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                WORDS[(state % WORDS.len() as u64) as usize]
            })
            .collect();
        text.push_str(&format!(
            "{{\"line\":\"{}\",\"ts\":{}}}\n",
            words.join(" "),
            1_700_000_000_000u64 + i as u64 * 5
        ));
    }
    scratch.write("input.jsonl", text)
}

/// The harness job: file source → (optional faulty map) → split words →
/// a keyed process counting each word (value state) and a keyed tumbling
/// window counting words per second → exactly-once file sinks.
fn harness_job(scratch: &Scratch, name: &str, extra: &str, faulty: Option<&str>) -> PathBuf {
    let (split_input, faulty_operator) = match faulty {
        None => ("lines", String::new()),
        Some(config) => (
            "faulty",
            format!(
                r#"
[[operator]]
uid = "faulty"
kind = "map"
module = {}
input = "lines"
config = '{config}'
"#,
                toml_path(&wasm("faulty"))
            ),
        ),
    };
    let text = format!(
        r#"[job]
name = "{name}"
parallelism = 2

{extra}

[[source]]
name = "lines"
type = "file"
path = "input.jsonl"
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "monotonous" }}
{faulty_operator}
[[operator]]
uid = "split"
kind = "flat-map"
module = {split}
input = "{split_input}"

[[operator]]
uid = "count"
kind = "keyed-process"
module = {count}
input = "split"
key_by = {{ field = "word" }}

[[operator]]
uid = "per-second"
kind = "aggregate"
module = {aggregate}
input = "split"
key_by = {{ field = "word" }}
window = {{ type = "tumbling", size = "1s" }}

[[sink]]
name = "counts"
type = "file"
path = "out/counts"
delivery = "exactly-once"
input = "count"

[[sink]]
name = "windows"
type = "file"
path = "out/windows"
delivery = "exactly-once"
input = "per-second"
"#,
        split = toml_path(&wasm("word_split")),
        count = toml_path(&wasm("word_count")),
        aggregate = toml_path(&wasm("count_aggregate")),
    );
    scratch.write(&format!("{name}.toml"), text)
}

/// Every published line of the part files below `dir`, sorted (subtasks
/// write in parallel, so only the multiset is deterministic).
fn committed(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return lines;
    };
    for entry in entries {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
}

/// The committed output of every sink of a run, by its folder below `out/`.
type Outputs = BTreeMap<String, Vec<String>>;

/// Every sink's committed output of a run in `scratch` (each sink of the
/// harness jobs writes to a folder of its own below `out/`).
fn outputs(scratch: &Scratch) -> Outputs {
    let Ok(entries) = std::fs::read_dir(scratch.path("out")) else {
        return Outputs::new();
    };
    entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| {
            let sink = path.file_name().unwrap().to_string_lossy().into_owned();
            (sink, committed(&path))
        })
        .collect()
}

/// How a run differs from the failure-free one, by line: (line, expected
/// count, actual count), so a failure shows what was lost or duplicated.
fn differences(expected: &[String], actual: &[String]) -> Vec<(String, i64, i64)> {
    let mut counts: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for line in expected {
        counts.entry(line).or_default().0 += 1;
    }
    for line in actual {
        counts.entry(line).or_default().1 += 1;
    }
    counts
        .into_iter()
        .filter(|(_, (e, a))| e != a)
        .map(|(line, (e, a))| (line.to_string(), e, a))
        .take(10)
        .collect()
}

/// How many lines each sink committed.
fn line_counts(outputs: &Outputs) -> Vec<(&str, usize)> {
    outputs
        .iter()
        .map(|(sink, lines)| (sink.as_str(), lines.len()))
        .collect()
}

#[track_caller]
fn assert_same_output(expected: &Outputs, actual: &Outputs) {
    assert!(
        expected.len() >= 2 && expected.values().all(|lines| !lines.is_empty()),
        "the reference run committed output in every sink: {:?}",
        line_counts(expected)
    );
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same sinks committed output"
    );
    for (sink, lines) in expected {
        let committed = &actual[sink];
        assert!(
            committed == lines,
            "sink `{sink}` differs from the failure-free run ({} lines expected, {} committed); first differences (line, expected, committed): {:?}",
            lines.len(),
            committed.len(),
            differences(lines, committed)
        );
    }
}

/// The output of the job run once without failures, in its own folder.
fn reference_output(name: &str, extra: &str) -> Outputs {
    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, name, extra, None);
    run_in(&scratch, &job, &[]).success();
    outputs(&scratch)
}

fn run_in(scratch: &Scratch, job: &Path, extra_args: &[&str]) -> common::Output {
    let file = job.file_name().unwrap().to_str().unwrap();
    let mut args = vec!["run", "--quiet", file];
    args.extend_from_slice(extra_args);
    eddy_within(&args, scratch.dir.path(), None, Duration::from_secs(300))
}

/// What [`run_with_kills`] does with a run that finished before every kill
/// was spent: check its output against `expected`.
fn finished_early<'a>(scratch: &'a Scratch, expected: &'a Outputs) -> impl FnMut(&Scratch) + 'a {
    move |_| assert_same_output(expected, &outputs(scratch))
}

const CRASH_CHECKPOINTS: &str =
    "[checkpoints]\ninterval = \"50ms\"\nretain = 2\n[restart]\nstrategy = \"none\"\n";

#[test]
fn killed_twenty_times_at_random_moments_the_job_commits_exactly_the_failure_free_output() {
    let expected = reference_output("crash-harness", CRASH_CHECKPOINTS);

    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, "crash-harness", CRASH_CHECKPOINTS, None);
    run_with_kills(
        &scratch,
        &job,
        Kills::soon(20),
        finished_early(&scratch, &expected),
    );
    assert_same_output(&expected, &outputs(&scratch));
}

/// The late-data harness job: one file source of out-of-order events with
/// late records → a keyed one-minute tumbling window with 10 s of allowed
/// lateness (late firings, late side output) and a keyed process function
/// whose output depends on exactly where its event-time timers fire →
/// exactly-once file sinks, at parallelism 2.
///
/// The keyed process function sets timers that are already due when a late
/// record comes; such a timer fires when the watermark next moves. A
/// restored operator must therefore continue from the watermark it stood at
/// (it is in the checkpoint), or the timer fires before the first record
/// after the restore and the output has a line the failure-free run lacks
/// (`EDDY_CRASH_SEED=1796320042109519591` showed it).
fn late_data_job(scratch: &Scratch, name: &str, extra: &str) -> PathBuf {
    scratch.write(
        "events.jsonl",
        common::out_of_order_events(LATE_INPUT_LINES),
    );
    let text = format!(
        r#"[job]
name = "{name}"
parallelism = 2

[batch]
max_records = 256

{extra}

{source}
[[operator]]
uid = "per-minute"
kind = "aggregate"
module = {aggregate}
input = "events"
key_by = {{ field = "user" }}
window = {{ type = "tumbling", size = "1m", allowed_lateness = "10s" }}

[[operator]]
uid = "timeouts"
kind = "keyed-process"
module = {timeouts}
input = "events"
key_by = {{ field = "user" }}
config = {{ timeout_ms = 1500 }}

[[sink]]
name = "windows"
type = "file"
path = "out/windows"
delivery = "exactly-once"
input = "per-minute"

[[sink]]
name = "late"
type = "file"
path = "out/late"
delivery = "exactly-once"
input = "per-minute/late"

[[sink]]
name = "quiet-users"
type = "file"
path = "out/quiet-users"
delivery = "exactly-once"
input = "timeouts"
"#,
        source = common::OUT_OF_ORDER_SOURCE,
        aggregate = toml_path(&wasm("count_aggregate")),
        timeouts = toml_path(&wasm("count_with_timeout")),
    );
    scratch.write(&format!("{name}.toml"), text)
}

/// Lines of the late-data harness input.
const LATE_INPUT_LINES: usize = 300_000;

#[test]
fn killed_twenty_times_a_job_with_late_data_commits_exactly_the_failure_free_output() {
    let reference = Scratch::new();
    let job = late_data_job(&reference, "late-harness", CRASH_CHECKPOINTS);
    run_in(&reference, &job, &[]).success();
    let expected = outputs(&reference);
    eprintln!("reference: {:?}", line_counts(&expected));
    assert!(
        expected["late"].len() > 100,
        "the data has records beyond the allowed lateness"
    );

    // Each restarted run batches differently, so event time must not
    // depend on where batches start.
    let scratch = Scratch::new();
    let job = late_data_job(&scratch, "late-harness", CRASH_CHECKPOINTS);
    let kills = Kills {
        batch_sizes: &[1, 7, 64, 256],
        ..Kills::soon(20)
    };
    run_with_kills(&scratch, &job, kills, finished_early(&scratch, &expected));
    assert_same_output(&expected, &outputs(&scratch));
}

#[test]
fn at_least_once_mode_delivers_every_record_after_kills() {
    let at_least_once = "[checkpoints]\ninterval = \"50ms\"\nmode = \"at-least-once\"\n[restart]\nstrategy = \"none\"\n";
    let expected = reference_output("at-least-once", at_least_once);

    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, "at-least-once", at_least_once, None);
    // Plain file sinks: what follows the checkpoint is written again.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("delivery = \"exactly-once\"\n", "")
        .replace("path = \"out/counts\"", "path = \"out/counts/all.jsonl\"")
        .replace("path = \"out/windows\"", "path = \"out/windows/all.jsonl\"");
    std::fs::write(&job, text).unwrap();
    run_with_kills(&scratch, &job, Kills::soon(5), |_| {});
    let counts = &outputs(&scratch)["counts"];
    // A record counted twice shifts a word's later counts up, but every
    // count the failure-free run emitted is still emitted at least once.
    let missing: Vec<&String> = expected["counts"]
        .iter()
        .filter(|line| counts.binary_search(line).is_err())
        .take(10)
        .collect();
    assert!(missing.is_empty(), "lost after kills: {missing:?}");
    assert!(counts.len() >= expected["counts"].len());
}

#[test]
fn guest_traps_at_random_records_restart_the_job_and_the_output_is_exactly_the_failure_free_one() {
    let checkpoints = "[checkpoints]\ninterval = \"50ms\"\n[restart]\nstrategy = \"fixed-delay\"\nattempts = 1000\ndelay = \"10ms\"\n";
    let expected = reference_output("trap-harness", checkpoints);

    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    // About one trap per 20 000 records: a handful over the run, each one
    // undoing the work since the last checkpoint.
    let job = harness_job(
        &scratch,
        "trap-harness",
        checkpoints,
        Some(r#"{"mode": "trap-randomly", "one_in": 20000}"#),
    );
    let file = job.file_name().unwrap().to_str().unwrap();
    let output = common::eddy_with_env(
        &["run", file],
        scratch.dir.path(),
        None,
        Duration::from_secs(300),
        &[("EDDY_LOG", "eddy=info")],
    );
    let output = output.success();
    let restored = assert_each_restart_restored(&output.stderr);
    eprintln!("restarts after traps restored checkpoints {restored:?}");
    output.stderr_has(&["wasm trap", "operator `faulty`"]);
    assert_same_output(&expected, &outputs(&scratch));
}

/// Checks, in the log of a run with restarts (`EDDY_LOG=eddy=info`), that
/// every restart restored the latest checkpoint: each `restarting in` is
/// followed by `restoring checkpoint N` before the next attempt fails, with
/// `N` never going back, or by `starting from the beginning` only while no
/// checkpoint had been restored yet (none was complete). A restart that
/// restored nothing, silently, fails. Returns the restored ids; there must
/// be at least one, or the run proved nothing about restoring.
fn assert_each_restart_restored(log: &str) -> Vec<u64> {
    let mut restored: Vec<u64> = Vec::new();
    let mut restarts = 0;
    let mut awaiting_restore = false;
    for line in log.lines() {
        if line.contains("; restarting in ") {
            assert!(
                !awaiting_restore,
                "restart {restarts} neither restored a checkpoint nor started from the beginning:\n{log}"
            );
            restarts += 1;
            awaiting_restore = true;
        } else if let Some(id) = restored_id(line) {
            assert!(awaiting_restore, "a restore without a restart:\n{log}");
            assert!(
                restored.last().is_none_or(|&last| last <= id),
                "restart {restarts} restored checkpoint {id}, older than the one before it ({restored:?}):\n{log}"
            );
            restored.push(id);
            awaiting_restore = false;
        } else if line.contains("starting from the beginning") {
            assert!(
                restored.is_empty(),
                "restart {restarts} started from the beginning after checkpoint {restored:?} had been restored:\n{log}"
            );
            awaiting_restore = false;
        }
    }
    assert!(
        !awaiting_restore,
        "the last restart neither restored a checkpoint nor started from the beginning:\n{log}"
    );
    assert!(restarts >= 1, "no trap happened:\n{log}");
    assert!(
        !restored.is_empty(),
        "none of {restarts} restarts restored a checkpoint:\n{log}"
    );
    restored
}

/// Run the harness job once to its end in `scratch`, keeping every
/// checkpoint; the job file, the checkpoint folder and the ids in it, oldest first.
fn run_keeping_every_checkpoint(scratch: &Scratch, name: &str) -> (PathBuf, PathBuf, Vec<u64>) {
    write_input(scratch, INPUT_LINES);
    let keep_all =
        "[checkpoints]\ninterval = \"50ms\"\nretain = 100\n[restart]\nstrategy = \"none\"\n";
    let job = harness_job(scratch, name, keep_all, None);
    run_in(scratch, &job, &[]).success();
    let dir = scratch.path("checkpoints");
    let mut ids: Vec<u64> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .strip_prefix("chk-")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort();
    (job, dir, ids)
}

/// The folder of checkpoint `id` below `dir`.
fn chk(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("chk-{id:012}"))
}

#[test]
fn damaged_and_foreign_checkpoints_are_refused_and_the_previous_complete_one_is_restored() {
    let scratch = Scratch::new();
    let (job, dir, ids) = run_keeping_every_checkpoint(&scratch, "damaged");
    assert!(ids.len() >= 4, "too few checkpoints to damage: {ids:?}");
    let newest = ids[ids.len() - 1];
    let (truncated, missing_file, good) = (newest, ids[ids.len() - 2], ids[ids.len() - 3]);

    // Newest: a checkpoint of another job, copied in.
    let foreign = newest + 1;
    let copy = chk(&dir, foreign);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in walk(&chk(&dir, good)) {
        let target = copy.join(entry.strip_prefix(chk(&dir, good)).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
    let text = std::fs::read_to_string(copy.join("_manifest.json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["job"] = "another-job".into();
    manifest["id"] = foreign.into();
    std::fs::write(copy.join("_manifest.json"), manifest.to_string()).unwrap();
    // Then: a manifest cut short, as a crash while writing it would leave
    // without the rename.
    let path = chk(&dir, truncated).join("_manifest.json");
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    // Then: a state file gone.
    let state_file = walk(&chk(&dir, missing_file))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "state"))
        .expect("a mid-run checkpoint has state files");
    std::fs::remove_file(&state_file).unwrap();

    let file = job.file_name().unwrap().to_str().unwrap();
    let output = common::eddy_with_env(
        &["run", file, "--from-checkpoint", "latest"],
        scratch.dir.path(),
        None,
        Duration::from_secs(300),
        &[("EDDY_LOG", "eddy=info")],
    )
    .success();
    output.stderr_has(&[
        &format!("checkpoint {foreign} belongs to job `another-job`, not to this job `damaged`"),
        &format!("checkpoint {truncated}: the manifest is truncated or corrupt"),
        &format!("checkpoint {missing_file}: state file "),
        "is missing",
        &format!("restored from #{good}\n"),
    ]);
    assert_eq!(
        restored_checkpoints(&output.stderr),
        [good],
        "{}",
        output.stderr
    );
}

#[test]
fn a_restart_strategy_that_gives_up_names_itself_and_the_last_failure() {
    let scratch = Scratch::new();
    scratch.write("input.jsonl", "{\"n\":1}\n{\"n\":2,\"x\":\"boom\"}\n");
    let job = scratch.write(
        "gives-up.toml",
        format!(
            r#"[job]
name = "gives-up"

[checkpoints]
interval = "50ms"

[restart]
strategy = "fixed-delay"
attempts = 2
delay = "10ms"

[[source]]
name = "in"
type = "file"
path = "input.jsonl"

[[operator]]
uid = "faulty"
kind = "map"
module = {}
input = "in"
config = '{{"mode": "panic-on", "needle": "boom"}}'

[[sink]]
name = "out"
type = "discard"
input = "faulty"
"#,
            toml_path(&wasm("faulty"))
        ),
    );
    let output = run_in(&scratch, &job, &[]).failure();
    output.stderr_has(&[
        "job `gives-up` failed: the restart strategy `fixed-delay` (2 attempts) gave up after 3 failures; the last one: operator `faulty` (subtask 1/1) failed:",
        "faulty guest: found boom",
    ]);
    assert_eq!(
        output.stderr.matches("restarting in 10ms").count(),
        2,
        "{}",
        output.stderr
    );
}

#[test]
fn killed_with_rocksdb_state_the_job_commits_exactly_the_failure_free_output() {
    let rocksdb = |scratch: &Scratch| {
        format!(
            "{CRASH_CHECKPOINTS}[state]\nbackend = \"rocksdb\"\nlocal_dir = {}\n",
            toml_path(&scratch.path("rocksdb"))
        )
    };
    let reference = Scratch::new();
    write_input(&reference, INPUT_LINES);
    let job = harness_job(&reference, "rocksdb-harness", &rocksdb(&reference), None);
    run_in(&reference, &job, &[]).success();
    let expected = outputs(&reference);

    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, "rocksdb-harness", &rocksdb(&scratch), None);
    // A RocksDB run takes longer to reach its first checkpoint.
    let kills = Kills {
        after_ms: (300, 1500),
        ..Kills::soon(8)
    };
    run_with_kills(&scratch, &job, kills, finished_early(&scratch, &expected));
    assert_same_output(&expected, &outputs(&scratch));
}

/// `[checkpoints]` every 50 ms keeping `retain`, incremental, with RocksDB
/// state below `scratch`.
fn incremental_rocksdb(scratch: &Scratch, retain: u32) -> String {
    format!(
        "[checkpoints]\ninterval = \"50ms\"\nretain = {retain}\nincremental = true\n[restart]\nstrategy = \"none\"\n[state]\nbackend = \"rocksdb\"\nlocal_dir = {}\n",
        toml_path(&scratch.path("rocksdb"))
    )
}

/// What a run logs when a subtask's database opens on an incremental
/// checkpoint's files (rather than reading its entries).
const OPENED_NATIVE: &str = "RocksDB state opened on";

/// The manifests of every complete checkpoint below `dir`, by id.
fn manifests(dir: &Path) -> BTreeMap<u64, serde_json::Value> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("chk-").and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(entry.path().join("_manifest.json")) {
            found.insert(id, serde_json::from_str(&text).unwrap());
        }
    }
    found
}

/// The shared files a manifest refers to: (path below `shared/`, bytes).
fn shared_files(manifest: &serde_json::Value) -> Vec<(String, u64)> {
    let Some(shared) = manifest["shared"].as_array() else {
        return Vec::new();
    };
    shared
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The checkpoint that first wrote a shared file (`<id>-<name>`).
fn written_by(path: &str) -> u64 {
    let name = path.rsplit('/').next().unwrap();
    name.split_once('-').unwrap().0.parse().unwrap()
}

/// Every file below `dir/shared`, as paths below it.
fn files_in_shared(dir: &Path) -> BTreeMap<String, u64> {
    let shared = dir.join("shared");
    walk(&shared)
        .into_iter()
        .filter(|path| path.is_file())
        .map(|path| {
            let relative = path.strip_prefix(&shared).unwrap();
            (
                path_str(relative).to_string(),
                path.metadata().unwrap().len(),
            )
        })
        .collect()
}

/// The shared folder holds exactly the files that the complete checkpoints
/// left below `dir` refer to, each whole: retention removed the others and
/// none that is still needed.
#[track_caller]
fn assert_shared_files_are_those_referred_to(dir: &Path) {
    let referred: BTreeMap<String, u64> = manifests(dir).values().flat_map(shared_files).collect();
    assert!(
        !referred.is_empty(),
        "no checkpoint refers to a shared file"
    );
    assert_eq!(files_in_shared(dir), referred);
}

#[test]
fn killed_with_incremental_rocksdb_checkpoints_the_job_commits_exactly_the_failure_free_output() {
    let reference = Scratch::new();
    write_input(&reference, INPUT_LINES);
    let extra = incremental_rocksdb(&reference, 2);
    let job = harness_job(&reference, "incremental-harness", &extra, None);
    run_in(&reference, &job, &[]).success();
    let expected = outputs(&reference);

    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let extra = incremental_rocksdb(&scratch, 2);
    let job = harness_job(&scratch, "incremental-harness", &extra, None);
    let kills = Kills {
        after_ms: (300, 1500),
        ..Kills::soon(8)
    };
    let logs = run_with_kills(&scratch, &job, kills, finished_early(&scratch, &expected));
    assert_same_output(&expected, &outputs(&scratch));
    // Restores opened the databases on the checkpoints' files.
    let opened = logs
        .iter()
        .filter(|log| log.contains(OPENED_NATIVE))
        .count();
    assert!(
        opened >= 2,
        "only {opened} runs opened RocksDB on a checkpoint's files:\n{}",
        logs.join("\n---\n")
    );
    assert_shared_files_are_those_referred_to(&scratch.path("checkpoints"));
}

#[test]
fn an_incremental_checkpoint_writes_only_new_files_and_refers_to_those_before() {
    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let extra = incremental_rocksdb(&scratch, 100);
    harness_job(&scratch, "incremental-files", &extra, None);
    let output = common::eddy_with_env(
        &["run", "--quiet", "incremental-files.toml"],
        scratch.dir.path(),
        None,
        Duration::from_secs(300),
        &[("EDDY_LOG", "eddy=info")],
    )
    .success();
    let dir = scratch.path("checkpoints");
    let manifests = manifests(&dir);
    let mut reused = 0;
    let mut incremental = 0;
    for (id, manifest) in &manifests {
        assert_eq!(manifest["format_version"], 3);
        let shared = shared_files(manifest);
        let written: Vec<_> = shared
            .iter()
            .filter(|(p, _)| written_by(p) == *id)
            .collect();
        assert!(
            shared.iter().all(|(p, _)| written_by(p) <= *id),
            "checkpoint {id} refers to a file of a later one: {shared:?}"
        );
        reused += shared.len() - written.len();
        if !shared.is_empty() && written.len() < shared.len() {
            incremental += 1;
        }
        // Keyed state is kept natively: SST files shared, the database's
        // manifest and options in the checkpoint itself.
        for part in manifest["operators"].as_array().unwrap() {
            let uid = part["uid"].as_str().unwrap();
            if uid == "split" {
                assert!(part.get("native").is_none(), "{part}");
                continue;
            }
            let files = part["native"]["files"].as_array().unwrap_or_else(|| {
                panic!("checkpoint {id}: operator {uid} is not kept natively: {part}")
            });
            for file in files {
                let name = file["name"].as_str().unwrap();
                assert_eq!(
                    file["shared"].as_bool().unwrap(),
                    name.ends_with(".sst"),
                    "{file}"
                );
                if name == "CURRENT" {
                    let path = chk(&dir, *id).join(file["path"].as_str().unwrap());
                    assert!(path.is_file(), "{}", path.display());
                }
            }
        }
    }
    assert!(
        incremental >= 2 && reused > 0,
        "of {} checkpoints, {incremental} referred to files written before ({reused} references):\n{}",
        manifests.len(),
        output.stderr
    );
    assert_shared_files_are_those_referred_to(&dir);
    // `eddy inspect` reads the native files: every word's count is there.
    let (&id, _) = (manifests.iter())
        .rfind(|(_, m)| !shared_files(m).is_empty())
        .unwrap();
    let shown = eddy_within(
        &["inspect", path_str(&chk(&dir, id))],
        scratch.dir.path(),
        None,
        Duration::from_secs(60),
    )
    .success();
    for line in ["operator `count` (keyed-process", ": 12 keys, 12 entries"] {
        assert!(
            shown.stdout.contains(line),
            "no `{line}` in:\n{}",
            shown.stdout
        );
    }
}

#[test]
fn an_incremental_checkpoint_restores_at_another_parallelism_and_into_the_memory_backend() {
    let expected = reference_output("incremental-changed", CRASH_CHECKPOINTS);
    /// A change to the job file, named.
    type Change = (&'static str, fn(String) -> String);
    let changes: [Change; 2] = [
        ("parallelism 2 to 3", |text| {
            text.replace("parallelism = 2", "parallelism = 3")
        }),
        ("RocksDB to memory", |text| {
            let (head, _) = text.split_once("[state]").unwrap();
            let (_, rest) = text.split_once("local_dir = ").unwrap();
            let (_, rest) = rest.split_once('\n').unwrap();
            format!("{head}[state]\nbackend = \"memory\"\n{rest}")
        }),
    ];
    for (change, apply) in changes {
        let scratch = Scratch::new();
        write_input(&scratch, INPUT_LINES);
        let extra = incremental_rocksdb(&scratch, 2);
        let job = harness_job(&scratch, "incremental-changed", &extra, None);
        kill_once_a_checkpoint_is_complete(&scratch, &job);
        let newest = newest_complete_checkpoint(&scratch.path("checkpoints")).unwrap();
        let manifest = &manifests(&scratch.path("checkpoints"))[&newest];
        assert!(
            manifest["operators"]
                .as_array()
                .unwrap()
                .iter()
                .any(|part| part.get("native").is_some()),
            "{change}: checkpoint {newest} keeps no state natively: {manifest}"
        );
        let text = apply(std::fs::read_to_string(&job).unwrap());
        std::fs::write(&job, text).unwrap();
        let output = restore_latest(&scratch, &job);
        assert!(
            !output.stderr.contains(OPENED_NATIVE),
            "{change}: a database opened on files of other key groups:\n{}",
            output.stderr
        );
        assert_same_output(&expected, &outputs(&scratch));
    }
}

#[test]
fn a_damaged_shared_file_of_an_incremental_checkpoint_is_refused_naming_it() {
    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let extra = incremental_rocksdb(&scratch, 2);
    let job = harness_job(&scratch, "incremental-damaged", &extra, None);
    kill_once_a_checkpoint_is_complete(&scratch, &job);
    let dir = scratch.path("checkpoints");
    let newest = newest_complete_checkpoint(&dir).unwrap();
    let (path, bytes) = shared_files(&manifests(&dir)[&newest])
        .into_iter()
        .max_by_key(|(_, bytes)| *bytes)
        .expect("the checkpoint refers to shared files");
    // Same size, other bytes: only the checksum tells.
    std::fs::write(dir.join("shared").join(&path), vec![0u8; bytes as usize]).unwrap();
    let file = job.file_name().unwrap().to_str().unwrap();
    let out = eddy_within(
        &["run", "--quiet", file, "--from-checkpoint", "latest"],
        scratch.dir.path(),
        None,
        Duration::from_secs(120),
    )
    .failure();
    out.stderr_has(&[
        &format!("checkpoint {newest}: state file shared/{path} is damaged (its contents do not match the manifest's checksum)"),
    ]);
}

/// Run `job` in `scratch` and kill it (SIGKILL) as soon as a checkpoint
/// with operator state is complete; fails if the job ended first.
fn kill_once_a_checkpoint_is_complete(scratch: &Scratch, job: &Path) {
    let mut child = Command::new(eddy_bin())
        .args(["run", "--quiet", job.file_name().unwrap().to_str().unwrap()])
        .current_dir(scratch.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start eddy");
    let started = Instant::now();
    let checkpointed = loop {
        if newest_complete_checkpoint(&scratch.path("checkpoints")).is_some() {
            break true;
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    child.kill().ok(); // SIGKILL
    child.wait().unwrap();
    assert!(checkpointed, "no checkpoint completed before the job ended");
}

/// Restart `job` from its latest checkpoint, and check that it restored
/// the newest complete one there (not silently started from the beginning).
fn restore_latest(scratch: &Scratch, job: &Path) -> common::Output {
    let newest = newest_complete_checkpoint(&scratch.path("checkpoints"))
        .expect("a complete checkpoint to restore");
    let file = job.file_name().unwrap().to_str().unwrap();
    let output = common::eddy_with_env(
        &["run", "--quiet", file, "--from-checkpoint", "latest"],
        scratch.dir.path(),
        None,
        Duration::from_secs(300),
        &[("EDDY_LOG", "eddy=info")],
    )
    .success();
    assert_eq!(
        restored_checkpoints(&output.stderr),
        [newest],
        "the second run did not restore checkpoint {newest}:\n{}",
        output.stderr
    );
    output
}

#[test]
fn a_restored_keyed_process_function_does_not_fire_due_timers_before_the_watermark_moves() {
    // After one early record the watermark stands still: every later record
    // is late and sets an event-time timer that is already due, which fires
    // only when the watermark moves again (at the end of the input). Only
    // each key's last timer finds its own record in state and emits. A
    // restore must not count as a move of the watermark: had the restored
    // operator started from no watermark, the first record after the
    // restore would fire every timer set before the checkpoint, and each
    // key's newest one would emit a line the failure-free run lacks.
    let mut input = String::from("{\"user\":\"user-0\",\"ts\":100000000}\n");
    for n in 0..400_000 {
        input.push_str(&format!("{{\"user\":\"user-{}\",\"ts\":{n}}}\n", n % 6));
    }
    let job = |scratch: &Scratch| {
        scratch.write("events.jsonl", &input);
        let text = format!(
            r#"[job]
name = "stalled-watermark"
parallelism = 2

{CRASH_CHECKPOINTS}
{source}
[[operator]]
uid = "timeouts"
kind = "keyed-process"
module = {timeouts}
input = "events"
key_by = {{ field = "user" }}
config = {{ timeout_ms = 1500 }}

[[sink]]
name = "quiet-users"
type = "file"
path = "out/quiet-users"
delivery = "exactly-once"
input = "timeouts"
"#,
            source = common::OUT_OF_ORDER_SOURCE,
            timeouts = toml_path(&wasm("count_with_timeout")),
        );
        scratch.write("stalled-watermark.toml", text)
    };

    let reference = Scratch::new();
    run_in(&reference, &job(&reference), &[]).success();
    let expected = outputs(&reference);
    assert_eq!(
        expected["quiet-users"].len(),
        6,
        "one line per key: {expected:?}"
    );

    let scratch = Scratch::new();
    let job = job(&scratch);
    kill_once_a_checkpoint_is_complete(&scratch, &job);
    restore_latest(&scratch, &job);
    let committed = outputs(&scratch);
    assert!(
        committed == expected,
        "the restored run differs from the failure-free one (line, expected, committed): {:?}",
        differences(&expected["quiet-users"], &committed["quiet-users"])
    );
}

#[test]
fn a_job_restored_at_another_parallelism_commits_exactly_the_failure_free_output() {
    let expected = reference_output("rescaled", CRASH_CHECKPOINTS);
    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, "rescaled", CRASH_CHECKPOINTS, None);
    kill_once_a_checkpoint_is_complete(&scratch, &job);
    // Operators from 2 subtasks to 3: each reads the key groups it now owns.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("parallelism = 2", "parallelism = 3");
    std::fs::write(&job, text).unwrap();
    restore_latest(&scratch, &job);
    assert_same_output(&expected, &outputs(&scratch));
}

#[test]
fn restoring_needs_a_complete_checkpoint_of_this_job_with_its_operators() {
    let scratch = Scratch::new();
    let (job, dir, ids) = run_keeping_every_checkpoint(&scratch, "restore-errors");
    let mid_run = chk(&dir, ids[ids.len() - 2]);

    let not_a_checkpoint = scratch.path("input.jsonl");
    run_in(
        &scratch,
        &job,
        &["--from-checkpoint", path_str(&not_a_checkpoint)],
    )
    .failure()
    .stderr_has(&[
        "is not a checkpoint or savepoint folder (named `chk-<number>` or `savepoint-<number>`)",
    ]);
    let never_completed = chk(&dir, 999);
    run_in(&scratch, &job, &["--from-checkpoint", path_str(&never_completed)])
        .failure()
        .stderr_has(&[
            "cannot restore from",
            "checkpoint 999: the manifest is truncated or corrupt (it is missing: the checkpoint never completed)",
        ]);
    // The job without its window operator (and that operator's sink).
    let text = std::fs::read_to_string(&job).unwrap();
    let cut = text.find("[[operator]]\nuid = \"per-second\"").unwrap();
    let sink = text.find("[[sink]]\nname = \"windows\"").unwrap();
    std::fs::write(
        &job,
        format!(
            "{}{}",
            &text[..cut],
            &text[text.find("[[sink]]").unwrap()..sink]
        ),
    )
    .unwrap();
    run_in(&scratch, &job, &["--from-checkpoint", path_str(&mid_run)])
        .failure()
        .stderr_has(&["holds state of operator `per-second`, which this job no longer has"]);
}

#[test]
fn a_source_cannot_change_parallelism_across_a_restore_and_latest_needs_checkpoints() {
    let scratch = Scratch::new();
    let job = scratch.write(
        "gen.toml",
        r#"[job]
name = "gen"
parallelism = 2

[checkpoints]
interval = "50ms"

[[source]]
name = "events"
type = "generator"
[source.generator]
count = 1000

[[sink]]
name = "out"
type = "discard"
input = "events"
"#,
    );
    run_in(&scratch, &job, &[]).success();
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(&job, text.replace("parallelism = 2", "parallelism = 3")).unwrap();
    run_in(&scratch, &job, &["--from-checkpoint", "latest"])
        .failure()
        .stderr_has(&[
            "source `events` ran with parallelism 2 when checkpoint",
            "and has 3 now; the parallelism of a generator source cannot change across a restore",
        ]);

    let text = std::fs::read_to_string(&job).unwrap();
    let without = text.replace("[checkpoints]\ninterval = \"50ms\"\n", "");
    std::fs::write(&job, without).unwrap();
    run_in(&scratch, &job, &["--from-checkpoint", "latest"])
        .failure()
        .stderr_has(&[
            "`--from-checkpoint latest` needs a `[checkpoints]` section in the job file",
        ]);
}
