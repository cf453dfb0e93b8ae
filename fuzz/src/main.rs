//! `eddy-fuzz`: mutation fuzzing of eddy's readers of untrusted files (job
//! files, checkpoint manifests, operator state files) on stable Rust.
//! `scripts/fuzz.sh` runs it; a short run is part of `cargo test`.
//!
//! ```text
//! eddy-fuzz [--seconds N] [--input-seconds N] [--seed N] [--failures DIR] [TARGET...]
//! eddy-fuzz --replay TARGET FILE...
//! eddy-fuzz --list
//! ```

mod alloc;
mod driver;
mod mutate;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use alloc::CountingAllocator;

/// Counts every allocation, so that the driver can check each input's.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

/// What the command line asked for.
struct Options {
    seconds: u64,
    /// Longest time one input may take before it counts as a hang.
    input_seconds: u64,
    seed: u64,
    failures: PathBuf,
    list: bool,
    replay: bool,
    names: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        seconds: 10,
        input_seconds: 5,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        failures: std::env::temp_dir().join("eddy-fuzz-failures"),
        list: false,
        replay: false,
        names: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                options.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--input-seconds" => {
                options.input_seconds = value("--input-seconds")?
                    .parse()
                    .map_err(|e| format!("--input-seconds: {e}"))?
            }
            "--seed" => {
                options.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--failures" => options.failures = value("--failures")?.into(),
            "--list" => options.list = true,
            "--replay" => options.replay = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            name => options.names.push(name.to_string()),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("eddy-fuzz: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs what `parse_args` asked for; `Ok(false)` when a target failed.
fn run() -> Result<bool, String> {
    let options = parse_args()?;
    let mut targets = targets::all()?;
    if options.list {
        for target in &targets {
            println!("{}", target.name());
        }
        return Ok(true);
    }
    // Canaries only when named, so a plain run never includes them.
    for canary in targets::canaries() {
        if options.names.iter().any(|n| n == canary.name()) {
            targets.push(canary);
        }
    }
    if options.replay {
        let (name, files) = options
            .names
            .split_first()
            .ok_or("--replay needs a target and files")?;
        let target = targets
            .iter_mut()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("no target {name}"))?;
        let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        driver::replay(target.as_mut(), &files)?;
        return Ok(true);
    }
    for name in &options.names {
        if !targets.iter().any(|t| t.name() == name) {
            return Err(format!("no target {name} (see --list)"));
        }
    }
    driver::quiet_panics();
    let limits = driver::Limits {
        per_input: Duration::from_secs(options.input_seconds),
        ..driver::Limits::default()
    };
    println!("seed {}", options.seed);
    let mut all_passed = true;
    for target in targets.iter_mut() {
        if !options.names.is_empty() && !options.names.iter().any(|n| n == target.name()) {
            continue;
        }
        let report = driver::fuzz(
            target.as_mut(),
            Duration::from_secs(options.seconds),
            options.seed,
            &options.failures,
            &limits,
        )?;
        let seconds = report.elapsed.as_secs_f64();
        println!(
            "{}: {} inputs in {:.1} s ({:.0}/s), {} kept, largest allocation {} KiB, {} failures",
            report.target,
            report.inputs,
            seconds,
            report.inputs as f64 / seconds.max(1e-9),
            report.corpus,
            report.largest_allocation / 1024,
            report.failures.len()
        );
        for failure in &report.failures {
            println!(
                "{}: FAILURE {} (input saved in {})",
                report.target,
                failure.problem,
                failure.saved.display()
            );
        }
        all_passed &= report.failures.is_empty();
    }
    Ok(all_passed)
}
