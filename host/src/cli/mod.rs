//! The `eddy` command line: run, validate, inspect and bench.

mod inspect;
mod logging;
pub mod new;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::job::load_job;
use crate::runtime::plan::{FromCheckpoint, load_modules};
use crate::runtime::{JobFailure, RunOptions, run_job};
use crate::wasm::GuestEngine;

/// eddy: a stream processor whose user functions are sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "eddy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a job file until its inputs end (or forever, for unbounded sources).
    Run {
        /// The job file (TOML).
        job: PathBuf,
        /// Print only the job's output and errors: no live progress, no summary.
        #[arg(long)]
        quiet: bool,
        /// Restore the job from a checkpoint: `latest` (the newest complete
        /// one in the job's checkpoint folder, or the beginning if there is
        /// none) or the path of a `chk-<n>` folder.
        #[arg(long, value_name = "latest|PATH")]
        from_checkpoint: Option<String>,
    },
    /// Check a job file and every module it names, without running anything.
    Validate {
        /// The job file (TOML).
        job: PathBuf,
    },
    /// Show a job file's graph (task groups, chained nodes, edges and their
    /// partitioning), or a component's world, kind, states, imports and exports.
    Inspect {
        /// A job file (`.toml`) or a component (`.wasm`).
        path: PathBuf,
        /// Print a job file's graph as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure records/s of the benchmark pipelines, WASM against native Rust.
    Bench(crate::bench::BenchArgs),
    /// Make a guest crate of one function kind, ready to build, test and run.
    New(new::NewArgs),
}

/// Entry point of the binary: run the command, print errors as a user should see them.
pub fn main() -> ExitCode {
    logging::init();
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", render_error(&error));
            ExitCode::FAILURE
        }
    }
}

/// `error: ...` with every cause on its own line; job-file diagnostics as they are.
pub fn render_error(error: &anyhow::Error) -> String {
    if let Some(job_error) = error.downcast_ref::<crate::job::JobError>() {
        return job_error.to_string();
    }
    let mut text = format!("error: {error}");
    for cause in error.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    text
}

fn execute(command: Command) -> Result<()> {
    match command {
        Command::Run {
            job,
            quiet,
            from_checkpoint,
        } => run(&job, quiet, from_checkpoint.as_deref()),
        Command::Validate { job } => validate(&job),
        Command::Inspect { path, json } => {
            let format = match json {
                true => inspect::GraphFormat::Json,
                false => inspect::GraphFormat::Text,
            };
            inspect::inspect(&path, format)
        }
        Command::Bench(args) => crate::bench::run(&args),
        Command::New(args) => new::run(&args),
    }
}

fn run(path: &std::path::Path, quiet: bool, from_checkpoint: Option<&str>) -> Result<()> {
    let job = load_job(path)?;
    let options = RunOptions {
        from_checkpoint: from_checkpoint.map(|from| match from {
            "latest" => FromCheckpoint::Latest,
            path => FromCheckpoint::Path(PathBuf::from(path)),
        }),
        ..RunOptions::default()
    };
    let live = !quiet && std::io::stderr().is_terminal();
    let mut display = progress::Progress::new(live);
    let started = std::time::Instant::now();
    let result = run_job(&job, &options, |metrics, checkpoints, elapsed| {
        display.tick(metrics, checkpoints, elapsed)
    });
    display.clear();
    let summary = |outcome, metrics, checkpoints, elapsed| {
        if !quiet {
            eprint!(
                "{}",
                progress::summary(&job.name, outcome, metrics, checkpoints, elapsed)
            );
        }
    };
    match result {
        Ok(report) => {
            summary(
                progress::Outcome::Finished,
                &report.metrics,
                &report.checkpoints,
                report.elapsed,
            );
            Ok(())
        }
        Err(JobFailure::Setup(error)) => {
            Err(error.context(format!("job `{}` could not start", job.name)))
        }
        Err(
            ref failure @ (JobFailure::Task {
                ref metrics,
                ref checkpoints,
                ..
            }
            | JobFailure::GaveUp {
                ref metrics,
                ref checkpoints,
                ..
            }),
        ) => {
            summary(
                progress::Outcome::Failed,
                metrics,
                checkpoints,
                started.elapsed(),
            );
            Err(anyhow::anyhow!("job `{}` failed: {failure}", job.name))
        }
    }
}

fn validate(path: &std::path::Path) -> Result<()> {
    let job = load_job(path)?;
    let engine = GuestEngine::shared()?;
    load_modules(&job, &engine, &RunOptions::default())
        .with_context(|| format!("job `{}` is not valid", job.name))?;
    println!(
        "{}: job `{}` is valid ({} sources, {} operators, {} sinks)",
        path.display(),
        job.name,
        job.sources.len(),
        job.operators.len(),
        job.sinks.len()
    );
    Ok(())
}
