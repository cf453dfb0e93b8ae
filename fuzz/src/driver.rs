//! The mutation loop: start from a target's seeds, mutate, feed the
//! reader, and check each input for the three failures a reader of
//! untrusted files must not have: a panic, a hang, and memory out of
//! proportion to the input.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ALLOCATOR;
use crate::mutate::{Rng, mutate};
use crate::targets::FuzzTarget;

/// What one input may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest time one input may take; longer is a hang and ends the run.
    pub per_input: Duration,
    /// Largest input a mutation may produce.
    pub max_input_len: usize,
    /// Memory an input may hold at its peak, beyond what was live before
    /// it: `fixed_allocation + allocation_per_input_byte × input length`.
    pub fixed_allocation: usize,
    pub allocation_per_input_byte: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_input: Duration::from_secs(5),
            max_input_len: 1 << 20,
            fixed_allocation: 32 << 20,
            allocation_per_input_byte: 64,
        }
    }
}

/// The outcome of fuzzing one target.
#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
    /// Inputs kept for mutation: seeds plus those with a new outcome.
    pub corpus: usize,
    /// Largest peak allocation of one input, in bytes.
    pub largest_allocation: usize,
    /// Distinct failures, each saved to a file.
    pub failures: Vec<Failure>,
}

/// One input that made the reader fail, saved for `--replay`.
#[derive(Debug)]
pub struct Failure {
    pub problem: String,
    pub saved: PathBuf,
}

/// At most this many inputs are kept beyond the seeds.
const MAX_KEPT: usize = 4096;

/// Fuzz `target` for `duration`. Failures are saved below
/// `failures/<target>/`; the input in hand is also written to
/// `failures/<target>/last-input` before it runs, so that a hang or an
/// abort (stack overflow, failed allocation) leaves it behind.
pub fn fuzz(
    target: &mut dyn FuzzTarget,
    duration: Duration,
    seed: u64,
    failures: &Path,
    limits: &Limits,
) -> Result<Report, String> {
    let name = target.name();
    let seeds = target.seeds()?;
    if seeds.is_empty() {
        return Err(format!("{name}: no seed inputs"));
    }
    let dir = failures.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let last_input_path = dir.join("last-input");
    let last_input = File::create(&last_input_path)
        .map_err(|e| format!("creating {}: {e}", last_input_path.display()))?;
    let watchdog = Watchdog::start(name, limits.per_input, last_input_path.clone());
    let dictionary = target.dictionary().to_vec();

    let mut rng = Rng::new(seed);
    let mut corpus = seeds.clone();
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    let mut seen_problems = HashSet::new();
    let mut largest_allocation = 0;
    let mut inputs = 0u64;
    let started = Instant::now();
    let mut input = Vec::new();
    while inputs < seeds.len() as u64 || started.elapsed() < duration {
        input.clear();
        match seeds.get(inputs as usize) {
            // Every seed once as it is: a seed that fails is a bug too.
            Some(seed) => input.extend_from_slice(seed),
            None => {
                let start = &corpus[rng.below(corpus.len())];
                input.extend_from_slice(start);
                mutate(&mut rng, &mut input, &dictionary, &corpus);
                input.truncate(limits.max_input_len);
            }
        }
        inputs += 1;
        last_input
            .set_len(0)
            .and_then(|()| last_input.write_all_at(&input, 0))
            .map_err(|e| format!("writing {}: {e}", last_input_path.display()))?;

        let before = ALLOCATOR.live();
        ALLOCATOR.reset_peak();
        watchdog.arm();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        watchdog.disarm();
        let allocated = ALLOCATOR.peak().saturating_sub(before);
        largest_allocation = largest_allocation.max(allocated);

        let cap = limits.fixed_allocation + limits.allocation_per_input_byte * input.len();
        let problem = match outcome {
            Err(payload) => Some(format!("panic: {}", panic_message(&payload))),
            Ok(_) if allocated > cap => Some(format!(
                "allocation: {allocated} bytes at the peak for an input of {} bytes (the cap is {cap})",
                input.len()
            )),
            Ok(signature) => {
                if seen.insert(signature) && corpus.len() < seeds.len() + MAX_KEPT {
                    corpus.push(input.clone());
                }
                None
            }
        };
        if let Some(problem) = problem {
            let kind = problem.split(':').next().unwrap_or("failure");
            if seen_problems.insert(without_digits(&problem)) {
                let hash = xxhash_rust::xxh3::xxh3_64(&input);
                let saved = dir.join(format!("{kind}-{hash:016x}"));
                std::fs::write(&saved, &input)
                    .map_err(|e| format!("writing {}: {e}", saved.display()))?;
                failures.push(Failure { problem, saved });
            }
        }
    }
    drop(last_input);
    let _ = std::fs::remove_file(&last_input_path);
    Ok(Report {
        target: name,
        inputs,
        elapsed: started.elapsed(),
        corpus: corpus.len(),
        largest_allocation,
        failures,
    })
}

/// Run saved inputs through `target` once each, letting a panic show as
/// usual: to reproduce a failure under a debugger or with a backtrace.
pub fn replay(target: &mut dyn FuzzTarget, files: &[PathBuf]) -> Result<(), String> {
    for file in files {
        let input = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        let before = ALLOCATOR.live();
        ALLOCATOR.reset_peak();
        let started = Instant::now();
        target.run(&input);
        println!(
            "{}: no panic, {:.3} s, {} bytes at the peak",
            file.display(),
            started.elapsed().as_secs_f64(),
            ALLOCATOR.peak().saturating_sub(before)
        );
    }
    Ok(())
}

/// The message of a caught panic, with where it happened.
fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(not a string)");
    match LAST_PANIC_AT.with(|at| at.take()) {
        Some(at) => format!("{message} at {at}"),
        None => message.to_string(),
    }
}

thread_local! {
    /// Where the last panic on this thread happened, noted by the hook.
    static LAST_PANIC_AT: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Replace the default panic output (one message per failing input would
/// flood the terminal) with a note of the panic's location for the report.
pub fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        LAST_PANIC_AT.with(|cell| cell.set(at));
    }));
}

fn without_digits(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// A thread that ends the process when one input runs past the limit: a
/// hung reader cannot be interrupted, but the input is on disk already.
struct Watchdog {
    /// Milliseconds since `epoch` by which the input in hand must be done;
    /// 0 while none runs.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    limit: Duration,
}

impl Watchdog {
    fn start(target: &'static str, limit: Duration, last_input: PathBuf) -> Self {
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = Arc::clone(&deadline);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let due = watched.load(Ordering::Relaxed);
                if due != 0 && epoch.elapsed().as_millis() as u64 > due {
                    eprintln!(
                        "{target}: FAILURE hang: an input ran longer than {limit:?}; it is in {}",
                        last_input.display()
                    );
                    std::process::exit(3);
                }
            }
        });
        Watchdog {
            deadline,
            epoch,
            limit,
        }
    }

    fn arm(&self) {
        let due = (self.epoch.elapsed() + self.limit).as_millis() as u64;
        self.deadline.store(due.max(1), Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.deadline.store(0, Ordering::Relaxed);
    }
}
