//! Killing a job (SIGKILL) at random moments, again and again, each run
//! restoring the latest checkpoint: the harness of the recovery tests
//! (checkpoints, Kafka).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Scratch, eddy_bin};

/// A small xorshift generator seeded from the clock; the seed is printed so
/// that a failing sequence of kills can be replayed.
pub struct Moments(u64);

impl Moments {
    pub fn new() -> Self {
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

    fn step(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A delay in `[low, high)` milliseconds.
    pub fn next(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.step() % (high - low))
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.step() % items.len() as u64) as usize]
    }
}

/// How [`run_with_kills`] kills a job.
pub struct Kills {
    /// How many times.
    pub count: u32,
    /// A kill comes this many milliseconds into a run, at random in `[low, high)`.
    pub after_ms: (u64, u64),
    /// When not empty, each run first sets the job's `max_records` to one
    /// of these at random, so batches start at other records than before.
    pub batch_sizes: &'static [usize],
}

impl Kills {
    /// `count` kills 30–300 ms into each run, batches as the job says.
    pub const fn soon(count: u32) -> Self {
        Kills {
            count,
            after_ms: (30, 300),
            batch_sizes: &[],
        }
    }
}

/// Run `job` in `scratch` again and again with `--from-checkpoint latest`,
/// killing it (SIGKILL) at a random moment each time (a run with nothing
/// to restore: at a random moment after its first complete checkpoint),
/// until it has been killed `kills.count` times, then let it finish. A job that finishes
/// before that is checked against `expected` (when given) and started over
/// from the beginning, so every kill lands in a running job. Every run that
/// starts while a complete checkpoint is there must say it restored it, and
/// at least half of the runs must have restored one.
/// Returns the log of every run, in order.
pub fn run_with_kills(
    scratch: &Scratch,
    job: &Path,
    kills: Kills,
    mut finished_early: impl FnMut(&Scratch),
) -> Vec<String> {
    let mut logs = Vec::new();
    let file = job.file_name().unwrap().to_str().unwrap();
    let mut moments = Moments::new();
    let mut killed = 0;
    let mut runs = 0;
    let mut restored = 0;
    let started = Instant::now();
    loop {
        runs += 1;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the harness hangs after {runs} runs"
        );
        if !kills.batch_sizes.is_empty() {
            let size = moments.pick(kills.batch_sizes);
            let text = std::fs::read_to_string(job).unwrap();
            let (head, tail) = text
                .split_once("max_records = ")
                .expect("the job sets max_records");
            let tail = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            std::fs::write(job, format!("{head}max_records = {size}{tail}")).unwrap();
        }
        let restorable = newest_complete_checkpoint(&scratch.path("checkpoints"));
        let mut child = Command::new(eddy_bin())
            .args(["run", "--quiet", file, "--from-checkpoint", "latest"])
            .current_dir(scratch.dir.path())
            .env("EDDY_LOG", "eddy=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eddy");
        let (low, high) = kills.after_ms;
        let delay = moments.next(low, high);
        // A run with nothing to restore is killed only once it completed a
        // checkpoint, so that the next run restores one however slowly
        // this run started (a loaded machine).
        let mut kill_at =
            (killed < kills.count && restorable.is_some()).then(|| Instant::now() + delay);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if killed < kills.count
                && kill_at.is_none()
                && newest_complete_checkpoint(&scratch.path("checkpoints")).is_some()
            {
                kill_at = Some(Instant::now() + delay);
            }
            if kill_at.is_some_and(|at| Instant::now() >= at) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        if let Some(id) = restorable {
            // A run killed before it logged anything proves nothing either way.
            if status.is_some() || !stderr.is_empty() {
                assert_eq!(
                    restored_checkpoints(&stderr),
                    [id],
                    "run {runs} started with checkpoint {id} complete but did not restore it:\n{stderr}"
                );
                restored += 1;
            }
        }
        logs.push(stderr.clone());
        let Some(status) = status else { continue };
        assert!(
            status.success(),
            "a run failed on its own: {status}\n{stderr}"
        );
        if killed >= kills.count {
            break;
        }
        // Finished before every kill was spent: check, and start over.
        finished_early(scratch);
        for dir in ["checkpoints", "out"] {
            let _ = std::fs::remove_dir_all(scratch.path(dir));
        }
    }
    eprintln!("{killed} kills in {runs} runs, {restored} of them restored from a checkpoint");
    assert!(
        restored >= kills.count / 2,
        "only {restored} of {runs} runs restored from a checkpoint"
    );
    logs
}

/// The id of the newest checkpoint in `dir` with a manifest, if any.
pub fn newest_complete_checkpoint(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let id = entry
                .file_name()
                .to_str()?
                .strip_prefix("chk-")?
                .parse()
                .ok()?;
            entry.path().join("_manifest.json").is_file().then_some(id)
        })
        .max()
}

/// The id in a log line saying a run restores a checkpoint
/// (`EDDY_LOG=eddy=info`), if it is one.
pub fn restored_id(line: &str) -> Option<u64> {
    let (_, id) = line.split_once("restoring checkpoint ")?;
    Some(
        id.trim()
            .parse()
            .expect("a checkpoint id after `restoring checkpoint`"),
    )
}

/// The ids of the checkpoints a run's log says it restored, in order.
pub fn restored_checkpoints(log: &str) -> Vec<u64> {
    log.lines().filter_map(restored_id).collect()
}
