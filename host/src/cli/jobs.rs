//! The CLI's side of running jobs: `eddy run` serves the control API and
//! registers itself; `eddy list / status / savepoint / stop / cancel` find
//! a run in the run directory and talk to it (Flink's `flink list`,
//! `flink savepoint`, `flink stop --savepointPath`, `flink cancel`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::control::api::{JobSummary, SavepointBody, SwapBody};
use crate::control::client::ControlClient;
use crate::control::registry::{self, Registration, RunEntry};
use crate::control::server::{ControlServer, ControlledJob};
use crate::job::Job;
use crate::runtime::RunningJob;

/// Where a run's control API may listen.
#[derive(Debug, Clone, Copy)]
pub struct ControlBind(SocketAddr);

impl ControlBind {
    /// `address`, refused off loopback unless `allow_remote` (the token is
    /// always required; a remote bind must be asked for explicitly).
    pub fn new(address: SocketAddr, allow_remote: bool) -> Result<Self> {
        if !address.ip().is_loopback() && !allow_remote {
            bail!(
                "--control {address} is not a loopback address: anyone who can reach it can try the API; add --allow-remote-control if that is meant (every request still needs the run's token)"
            );
        }
        Ok(ControlBind(address))
    }
}

/// What keeps a run reachable: its server and its run-directory entry,
/// both gone when this is dropped.
pub struct Controlled {
    _registration: Registration,
    _server: ControlServer,
}

/// Serve the control API of `running` and register the run; prints the
/// job id and address unless `quiet`.
pub fn serve_control(
    job: &Job,
    job_file: &Path,
    running: &RunningJob,
    bind: ControlBind,
    quiet: bool,
) -> Result<Controlled> {
    let id = random_hex(16)?;
    let token = random_hex(32)?;
    let job_file = std::path::absolute(job_file).unwrap_or_else(|_| job_file.to_path_buf());
    let savepoint_dir = std::path::absolute("savepoints").context("no working directory")?;
    let summary = JobSummary {
        id: id.clone(),
        name: job.name.clone(),
        job_file: job_file.clone(),
        pid: std::process::id(),
    };
    let server = ControlServer::start(
        bind.0,
        token.clone(),
        vec![ControlledJob {
            summary,
            handle: running.handle(),
            savepoint_dir: savepoint_dir.clone(),
        }],
    )?;
    let entry = RunEntry {
        id: id.clone(),
        name: job.name.clone(),
        pid: std::process::id(),
        process_start: registry::process_start(std::process::id()).unwrap_or(0),
        address: server.address(),
        token,
        job_file,
        savepoint_dir,
    };
    let registration = registry::register(&registry::run_dir(), &entry)?;
    if !quiet {
        eprintln!(
            "job `{}` is running: id {id}, control API on {} (eddy status {})",
            job.name,
            entry.url(),
            &id[..8]
        );
    }
    Ok(Controlled {
        _registration: registration,
        _server: server,
    })
}

/// `count` random bytes as hex, from the operating system.
fn random_hex(count: usize) -> Result<String> {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// `eddy list`.
pub fn list() -> Result<()> {
    let runs = registry::live_runs(&registry::run_dir())?;
    if runs.is_empty() {
        println!("no jobs are running");
        return Ok(());
    }
    println!(
        "{:<32}  {:<24} {:>8}  {:<22} JOB FILE",
        "ID", "NAME", "PID", "CONTROL"
    );
    for run in runs {
        println!(
            "{:<32}  {:<24} {:>8}  {:<22} {}",
            run.id,
            run.name,
            run.pid,
            run.address,
            run.job_file.display()
        );
    }
    Ok(())
}

fn client(wanted: &str) -> Result<ControlClient> {
    Ok(ControlClient::new(registry::find_run(
        &registry::run_dir(),
        wanted,
    )?))
}

/// `eddy status JOB`.
pub fn status(wanted: &str) -> Result<()> {
    let client = client(wanted)?;
    let details = client.details()?;
    let status = &details.status;
    println!(
        "job `{}` ({}): {:?}, up {:.1}s, {} restarts",
        details.summary.name,
        details.summary.id,
        status.phase,
        status.uptime_ms as f64 / 1000.0,
        status.restarts
    );
    for node in &status.nodes {
        let watermark = node
            .watermark
            .map(|w| format!("  watermark {w}"))
            .unwrap_or_default();
        println!(
            "  {:<8} {:<24} x{:<3} in {:>12}  out {:>12}  {:>10.0}/s{watermark}",
            node.role,
            node.name,
            node.parallelism,
            node.records_in,
            node.records_out,
            node.records_out_per_second.max(node.records_in_per_second),
        );
    }
    let checkpoints = &status.checkpoints;
    println!(
        "  checkpoints: {} completed, {} failed{}{}",
        checkpoints.completed,
        checkpoints.failed,
        checkpoints
            .last_id
            .map(|id| format!(", last #{id}"))
            .unwrap_or_default(),
        checkpoints
            .restored_from
            .map(|id| format!(", restored from #{id}"))
            .unwrap_or_default()
    );
    for function in &status.functions {
        println!(
            "  function {:<24} {} module {}{}",
            function.operator,
            function.kind,
            short(&function.module_sha256),
            match function.swaps.len() {
                0 => String::new(),
                1 => ", 1 live swap".into(),
                n => format!(", {n} live swaps"),
            }
        );
        for swap in &function.swaps {
            println!(
                "    swapped at barrier {}: {} -> {} ({})",
                swap.barrier,
                short(&swap.from_sha256),
                short(&swap.to_sha256),
                swap.module
            );
        }
    }
    if let Some(failure) = &status.last_failure {
        println!("  last failure: {failure}");
    }
    Ok(())
}

/// `eddy savepoint JOB [DIR]` and `eddy stop JOB --savepoint [DIR]`.
pub fn savepoint(wanted: &str, dir: Option<&Path>, stop: bool) -> Result<()> {
    let client = client(wanted)?;
    let dir: Option<PathBuf> = dir
        .map(std::path::absolute)
        .transpose()
        .context("no working directory")?;
    let report = client.savepoint(&SavepointBody { dir }, stop)?;
    let run = client.run();
    println!("{}", report.path.display());
    eprintln!(
        "savepoint {} of job `{}` complete in {} ms ({} bytes){}",
        report.id,
        run.name,
        report.duration_ms,
        report.bytes,
        if report.stopped {
            "; the job is stopping"
        } else {
            ""
        }
    );
    Ok(())
}

/// `eddy swap JOB --operator UID --module NEW.wasm [--config JSON]`.
pub fn swap(
    wanted: &str,
    operator: String,
    module: &Path,
    config: Option<String>,
    allow_dropped_state: bool,
) -> Result<()> {
    let client = client(wanted)?;
    let module = std::path::absolute(module).context("no working directory")?;
    let report = client.swap(&SwapBody {
        operator,
        module,
        config,
        allow_dropped_state,
    })?;
    let run = client.run();
    let pauses: Vec<String> = (report.subtasks.iter())
        .map(|s| format!("{}: {:.2} ms", s.subtask + 1, s.pause_us as f64 / 1000.0))
        .collect();
    let mut sources = report.sources.clone();
    sources.sort_by(|a, b| (&a.source, a.subtask).cmp(&(&b.source, b.subtask)));
    let positions: Vec<String> = (sources.iter())
        .map(|s| format!("{} {}/{}: {}", s.source, s.subtask + 1, s.parallelism, s))
        .collect();
    println!("{}", report.module_sha256);
    eprintln!(
        "operator `{}` of job `{}` runs module {} (was {}) from barrier {}",
        report.operator,
        run.name,
        short(&report.module_sha256),
        short(&report.previous_sha256),
        report.barrier
    );
    eprintln!("  pause per subtask: {}", pauses.join(", "));
    if !positions.is_empty() {
        eprintln!("  sources at the barrier: {}", positions.join("; "));
    }
    for state in &report.states {
        eprintln!("  state {state}");
    }
    match report.checkpoint {
        Some(id) => eprintln!("  checkpoint {id} at the barrier records the new version"),
        None => eprintln!(
            "  the job has no checkpoints: this swap will not survive a crash or a restart"
        ),
    }
    Ok(())
}

/// The first 12 hex digits of a SHA-256.
fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

/// `eddy cancel JOB`.
pub fn cancel(wanted: &str) -> Result<()> {
    let client = client(wanted)?;
    client.cancel()?;
    eprintln!(
        "job `{}` ({}) is cancelling",
        client.run().name,
        client.run().id
    );
    Ok(())
}
