//! The `eddy` command line: run, validate, inspect and bench; and the
//! verbs that talk to running jobs (`jobs`).

mod inspect;
mod inspect_snapshot;
mod jobs;
mod kafka;
mod logging;
mod new;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::job::load_job;
use crate::runtime::plan::{FromCheckpoint, NonRestoredState, load_modules};
use crate::runtime::{JobEnd, JobFailure, RunOptions, start_job};
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
        /// Restore the job from a savepoint folder (`savepoint-<n>`, as
        /// `eddy savepoint` printed it), possibly with another parallelism
        /// or state backend.
        #[arg(long, value_name = "PATH", conflicts_with = "from_checkpoint")]
        from_savepoint: Option<PathBuf>,
        /// Start even if the checkpoint or savepoint holds state of
        /// operators the job no longer has (that state is dropped).
        #[arg(long)]
        allow_non_restored_state: bool,
        /// Where the control API listens (`eddy list` shows it); any free
        /// loopback port by default.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        control: std::net::SocketAddr,
        /// Allow `--control` on an address other than loopback (requests
        /// still need the run's token).
        #[arg(long)]
        allow_remote_control: bool,
    },
    /// Run a long-lived server for several jobs (Flink's session cluster on
    /// one machine): the control API and `/metrics`. Jobs it was running
    /// resume from their latest checkpoints when it starts again.
    Serve {
        /// Where the control API listens.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
        bind: std::net::SocketAddr,
        /// The server's directory: its token, uploaded modules, and the
        /// jobs it runs (kept across restarts).
        #[arg(long, value_name = "DIR", default_value = "eddy-server")]
        dir: PathBuf,
        /// Allow `--bind` on an address other than loopback (requests
        /// still need the server's token).
        #[arg(long)]
        allow_remote: bool,
        /// The largest guest component an upload may be.
        #[arg(long, value_name = "SIZE", default_value = "64MiB")]
        max_module_size: bytesize::ByteSize,
    },
    /// Run a job file on `eddy serve`: its guest components are uploaded,
    /// and its relative paths resolve against its folder on the server's
    /// machine.
    Deploy {
        /// The job file (TOML).
        job: PathBuf,
        #[command(flatten)]
        server: jobs::ServerArgs,
        /// Start from a savepoint folder on the server's machine.
        #[arg(long, value_name = "PATH")]
        from_savepoint: Option<PathBuf>,
        /// Start even if the savepoint holds state of operators the job no
        /// longer has (that state is dropped).
        #[arg(long)]
        allow_non_restored_state: bool,
    },
    /// List the jobs running on this machine for this user (or on a server).
    List {
        #[command(flatten)]
        server: jobs::ServerArgs,
    },
    /// Show a running job's state, counters and checkpoints.
    Status {
        /// A job id, a unique prefix of one, or a job name.
        job: String,
        #[command(flatten)]
        server: jobs::ServerArgs,
    },
    /// Take a savepoint of a running job; the job keeps running.
    Savepoint {
        /// A job id, a unique prefix of one, or a job name.
        job: String,
        /// Folder the savepoint's own folder goes into (default: the
        /// run's `savepoints` folder).
        dir: Option<PathBuf>,
        #[command(flatten)]
        server: jobs::ServerArgs,
    },
    /// Stop a running job with a final savepoint: sources stop, sinks
    /// commit what the savepoint holds, and the run exits 0.
    Stop {
        /// A job id, a unique prefix of one, or a job name.
        job: String,
        /// Take the final savepoint (required: eddy does not stop a job
        /// without one; use `cancel` for that).
        #[arg(long)]
        savepoint: bool,
        /// Folder the savepoint's own folder goes into.
        dir: Option<PathBuf>,
        #[command(flatten)]
        server: jobs::ServerArgs,
    },
    /// Replace the guest function of one operator of a running job with a
    /// new module, at a barrier, keeping its state: records before the
    /// barrier go to the old version, records after it to the new one.
    Swap {
        /// A job id, a unique prefix of one, or a job name.
        job: String,
        /// The operator's `uid`.
        #[arg(long)]
        operator: String,
        /// The new component (`.wasm`).
        #[arg(long)]
        module: PathBuf,
        /// Config for the new version's `init` (default: the operator's current one).
        #[arg(long)]
        config: Option<String>,
        /// Let the swap drop the contents of states the new version no
        /// longer declares.
        #[arg(long)]
        allow_dropped_state: bool,
        #[command(flatten)]
        server: jobs::ServerArgs,
    },
    /// Cancel a running job at once; nothing more is committed.
    Cancel {
        /// A job id, a unique prefix of one, or a job name.
        job: String,
        #[command(flatten)]
        server: jobs::ServerArgs,
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
    /// Kafka helpers for demos: create a topic, put a file's lines into one
    /// (builds with the cargo feature `kafka`).
    #[command(subcommand)]
    Kafka(kafka::KafkaCommand),
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
            from_savepoint,
            allow_non_restored_state,
            control,
            allow_remote_control,
        } => {
            let control = jobs::ControlBind::new(control, allow_remote_control)?;
            let from = match (from_checkpoint.as_deref(), from_savepoint) {
                (Some("latest"), _) => Some(FromCheckpoint::Latest),
                (Some(path), _) => Some(FromCheckpoint::Path(PathBuf::from(path))),
                (None, Some(path)) => Some(FromCheckpoint::Path(path)),
                (None, None) => None,
            };
            let options = RunOptions {
                from_checkpoint: from,
                non_restored_state: if allow_non_restored_state {
                    NonRestoredState::Drop
                } else {
                    NonRestoredState::Refuse
                },
                ..RunOptions::default()
            };
            run(&job, quiet, options, control)
        }
        Command::Serve {
            bind,
            dir,
            allow_remote,
            max_module_size,
        } => crate::serve::serve(&crate::serve::ServeOptions {
            bind,
            dir,
            allow_remote,
            max_module_bytes: max_module_size.as_u64().try_into().unwrap_or(usize::MAX),
        }),
        Command::Deploy {
            job,
            server,
            from_savepoint,
            allow_non_restored_state,
        } => jobs::deploy(
            &job,
            &server,
            from_savepoint.as_deref(),
            allow_non_restored_state,
        ),
        Command::List { server } => jobs::list(&server),
        Command::Status { job, server } => jobs::status(&job, &server),
        Command::Savepoint { job, dir, server } => {
            jobs::savepoint(&job, dir.as_deref(), false, &server)
        }
        Command::Stop {
            job,
            savepoint,
            dir,
            server,
        } => {
            if !savepoint {
                anyhow::bail!(
                    "`eddy stop` takes a final savepoint: pass `--savepoint` (to stop without one, use `eddy cancel`)"
                );
            }
            jobs::savepoint(&job, dir.as_deref(), true, &server)
        }
        Command::Swap {
            job,
            operator,
            module,
            config,
            allow_dropped_state,
            server,
        } => jobs::swap(
            &job,
            operator,
            &module,
            config,
            allow_dropped_state,
            &server,
        ),
        Command::Cancel { job, server } => jobs::cancel(&job, &server),
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
        Command::Kafka(command) => kafka::run(command),
    }
}

fn run(
    path: &std::path::Path,
    quiet: bool,
    options: RunOptions,
    control: jobs::ControlBind,
) -> Result<()> {
    let job = load_job(path)?;
    let live = !quiet && std::io::stderr().is_terminal();
    let display = std::sync::Arc::new(std::sync::Mutex::new(progress::Progress::new(live)));
    let started = std::time::Instant::now();
    let ticking = display.clone();
    let running = start_job(
        job.clone(),
        options,
        move |metrics, checkpoints, elapsed| {
            if let Ok(mut display) = ticking.lock() {
                display.tick(metrics, checkpoints, elapsed)
            }
        },
    )?;
    let controlled = jobs::serve_control(&job, path, &running, control, quiet)?;
    let result = running.wait();
    drop(controlled);
    if let Ok(mut display) = display.lock() {
        display.clear();
    }
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
            let outcome = match &report.end {
                JobEnd::Finished => progress::Outcome::Finished,
                JobEnd::Stopped(_) => progress::Outcome::Stopped,
            };
            summary(
                outcome,
                &report.metrics,
                &report.checkpoints,
                report.elapsed,
            );
            if let JobEnd::Stopped(savepoint) = &report.end {
                eprintln!(
                    "job `{}` stopped at savepoint {}: {}",
                    job.name,
                    savepoint.id,
                    savepoint.path.display()
                );
            }
            Ok(())
        }
        Err(JobFailure::Cancelled {
            ref metrics,
            ref checkpoints,
        }) => {
            summary(
                progress::Outcome::Cancelled,
                metrics,
                checkpoints,
                started.elapsed(),
            );
            Err(anyhow::anyhow!("job `{}` was cancelled", job.name))
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
