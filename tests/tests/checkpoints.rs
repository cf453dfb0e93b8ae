//! Checkpoints and recovery: a job killed at random moments (SIGKILL), or
//! whose guest traps at random records, and restarted from its latest
//! checkpoint each time, commits exactly the output of a run that never
//! failed; damaged checkpoints are refused with a clear message and the
//! previous complete one is used; at-least-once mode loses nothing; a
//! restart strategy that gives up says so and names the last failure.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Scratch, eddy_bin, eddy_within, path_str, toml_path, wasm};

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

/// Both sinks' committed output of a run in `scratch`.
fn outputs(scratch: &Scratch) -> (Vec<String>, Vec<String>) {
    (
        committed(&scratch.path("out/counts")),
        committed(&scratch.path("out/windows")),
    )
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

#[track_caller]
fn assert_same_output(expected: &(Vec<String>, Vec<String>), actual: &(Vec<String>, Vec<String>)) {
    assert!(
        !expected.0.is_empty() && !expected.1.is_empty(),
        "the reference run committed output"
    );
    assert!(
        actual.0 == expected.0,
        "word counts differ from the failure-free run ({} lines expected, {} committed); first differences (line, expected, committed): {:?}",
        expected.0.len(),
        actual.0.len(),
        differences(&expected.0, &actual.0)
    );
    assert!(
        actual.1 == expected.1,
        "window counts differ from the failure-free run ({} lines expected, {} committed); first differences: {:?}",
        expected.1.len(),
        actual.1.len(),
        differences(&expected.1, &actual.1)
    );
}

/// The output of the job run once without failures, in its own folder.
fn reference_output(name: &str, extra: &str) -> (Vec<String>, Vec<String>) {
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

/// A small xorshift generator seeded from the clock; the seed is printed so
/// that a failing sequence of kills can be replayed.
struct Moments(u64);

impl Moments {
    fn new() -> Self {
        let seed = std::env::var("EDDY_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill moments seeded with EDDY_CRASH_SEED={seed}");
        Moments(seed)
    }

    /// A delay in `[low, high)` milliseconds.
    fn next(&mut self, low: u64, high: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(low + self.0 % (high - low))
    }
}

const CRASH_CHECKPOINTS: &str =
    "[checkpoints]\ninterval = \"50ms\"\nretain = 2\n[restart]\nstrategy = \"none\"\n";

/// Run `job` in `scratch` again and again with `--from-checkpoint latest`,
/// killing it (SIGKILL) at a random moment each time, until it has been
/// killed `kills` times, then let it finish. A job that finishes before
/// that is checked against `expected` (when given) and started over from
/// the beginning, so every kill lands in a running job.
fn run_with_kills(
    scratch: &Scratch,
    job: &Path,
    kills: u32,
    expected: Option<&(Vec<String>, Vec<String>)>,
) {
    let file = job.file_name().unwrap().to_str().unwrap();
    let mut moments = Moments::new();
    let mut killed = 0;
    let mut runs = 0;
    let started = Instant::now();
    loop {
        runs += 1;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the harness hangs after {runs} runs"
        );
        let mut child = Command::new(eddy_bin())
            .args(["run", "--quiet", file, "--from-checkpoint", "latest"])
            .current_dir(scratch.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eddy");
        let kill_at = (killed < kills).then(|| Instant::now() + moments.next(30, 300));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if kill_at.is_some_and(|at| Instant::now() >= at) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let Some(status) = status else { continue };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            status.success(),
            "a run failed on its own: {status}\n{stderr}"
        );
        if killed >= kills {
            break;
        }
        // Finished before every kill was spent: check, and start over.
        if let Some(expected) = expected {
            assert_same_output(expected, &outputs(scratch));
        }
        for dir in ["checkpoints", "out"] {
            let _ = std::fs::remove_dir_all(scratch.path(dir));
        }
    }
    eprintln!("{killed} kills in {runs} runs");
}

#[test]
fn killed_twenty_times_at_random_moments_the_job_commits_exactly_the_failure_free_output() {
    let expected = reference_output("crash-harness", CRASH_CHECKPOINTS);

    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, "crash-harness", CRASH_CHECKPOINTS, None);
    run_with_kills(&scratch, &job, 20, Some(&expected));
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
    run_with_kills(&scratch, &job, 5, None);
    let (counts, _) = outputs(&scratch);
    // A record counted twice shifts a word's later counts up, but every
    // count the failure-free run emitted is still emitted at least once.
    let missing: Vec<&String> = expected
        .0
        .iter()
        .filter(|line| counts.binary_search(line).is_err())
        .take(10)
        .collect();
    assert!(missing.is_empty(), "lost after kills: {missing:?}");
    assert!(counts.len() >= expected.0.len());
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
    let output = eddy_within(
        &["run", file],
        scratch.dir.path(),
        None,
        Duration::from_secs(300),
    );
    let output = output.success();
    let restarts = output.stderr.matches("restarting in").count();
    eprintln!("{restarts} restarts after traps");
    assert!(restarts >= 1, "no trap happened:\n{}", output.stderr);
    output.stderr_has(&["wasm trap", "operator `faulty`"]);
    assert_same_output(&expected, &outputs(&scratch));
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
    let output = eddy_within(
        &["run", file, "--from-checkpoint", "latest"],
        scratch.dir.path(),
        None,
        Duration::from_secs(300),
    )
    .success();
    output.stderr_has(&[
        &format!("checkpoint {foreign} belongs to job `another-job`, not to this job `damaged`"),
        &format!("checkpoint {truncated}: the manifest is truncated or corrupt"),
        &format!("checkpoint {missing_file}: state file "),
        "is missing",
        &format!("restored from #{good}"),
    ]);
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
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
    run_with_kills(&scratch, &job, 8, Some(&expected));
    assert_same_output(&expected, &outputs(&scratch));
}

#[test]
fn a_job_restored_at_another_parallelism_commits_exactly_the_failure_free_output() {
    let expected = reference_output("rescaled", CRASH_CHECKPOINTS);
    let scratch = Scratch::new();
    write_input(&scratch, INPUT_LINES);
    let job = harness_job(&scratch, "rescaled", CRASH_CHECKPOINTS, None);
    // Kill the job once a checkpoint with operator state is complete.
    let mut child = Command::new(eddy_bin())
        .args(["run", "--quiet", "rescaled.toml"])
        .current_dir(scratch.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start eddy");
    let started = Instant::now();
    let checkpointed = loop {
        let complete = std::fs::read_dir(scratch.path("checkpoints"))
            .into_iter()
            .flatten()
            .any(|e| e.unwrap().path().join("_manifest.json").exists());
        if complete {
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
    // Operators from 2 subtasks to 3: each reads the key groups it now owns.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("parallelism = 2", "parallelism = 3");
    std::fs::write(&job, text).unwrap();
    let output = run_in(&scratch, &job, &["--from-checkpoint", "latest"]).success();
    assert!(
        !output.stderr.contains("starting from the beginning"),
        "{}",
        output.stderr
    );
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
    .stderr_has(&["is not a checkpoint folder (named `chk-<number>`)"]);
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
            "and has 3 now; a source's parallelism cannot change across a restore",
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
