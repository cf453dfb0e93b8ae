//! The CLI's side of running jobs: `eddy run` serves the control API and
//! registers itself; `eddy list / status / savepoint / stop / cancel` find
//! a run in the run directory and talk to it (Flink's `flink list`,
//! `flink savepoint`, `flink stop --savepointPath`, `flink cancel`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::control::api::{JobSummary, SavepointBody, SubmitBody, SwapBody};
use crate::control::client::{ControlClient, ServerClient};
use crate::control::jobs::{ControlledJob, JobTable};
use crate::control::random_hex;
use crate::control::registry::{self, Registration, RunEntry};
use crate::control::server::ControlServer;
use crate::job::{GuestFiles, Job, parse_job_with_guest_files};
use crate::runtime::RunningJob;
use crate::runtime::handle::JobPhase;

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
    let jobs = JobTable::new(vec![ControlledJob {
        summary,
        handle: running.handle(),
        savepoint_dir: savepoint_dir.clone(),
    }]);
    let server = ControlServer::start(bind.0, token.clone(), jobs, None)?;
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

/// Which server the verbs talk to: by default the runs and servers on
/// this machine (found in the run directory); `--server` names one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// The control API of an `eddy serve` (`http://HOST:PORT`).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The server's token (default: $EDDY_TOKEN, else that of the server
    /// on this machine at that address; `eddy serve` keeps it in
    /// `<dir>/token`).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// The base URL `http://host:port` of what the user wrote as `--server`
/// (`http://host:port`, with or without a path, or `host:port`), and the
/// address it names.
fn server_address(server: &str) -> Result<(String, SocketAddr)> {
    let with_scheme = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    let uri: ureq::http::Uri =
        (with_scheme.parse()).with_context(|| format!("--server {server} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!(
            "--server {server}: eddy's client speaks plain HTTP (the server has no TLS; put a proxy in front of it for remote use)"
        );
    }
    let authority =
        (uri.authority()).with_context(|| format!("--server {server} names no host"))?;
    let address = (authority.as_str().to_socket_addrs().ok())
        .and_then(|mut addresses| addresses.next())
        .with_context(|| format!("--server {server}: cannot resolve {authority}"))?;
    Ok((format!("http://{authority}"), address))
}

/// A client of the server `args` names, or of the one server on this machine.
fn server_client(args: &ServerArgs) -> Result<ServerClient> {
    let servers = registry::live_servers(&registry::run_dir())?;
    let Some(server) = &args.server else {
        return match servers.as_slice() {
            [one] => Ok(ServerClient::new(&one.url(), one.token.clone())),
            [] => bail!(
                "no `eddy serve` is running on this machine (for this user): start one, or name one with --server URL"
            ),
            many => bail!(
                "{} servers run on this machine ({}): name one with --server URL",
                many.len(),
                many.iter().map(|s| s.url()).collect::<Vec<_>>().join(", ")
            ),
        };
    };
    let (url, _) = server_address(server)?;
    let token = (args.token.clone())
        .or_else(|| std::env::var("EDDY_TOKEN").ok().filter(|t| !t.is_empty()))
        .or_else(|| {
            (servers.iter())
                .find(|s| s.url() == url)
                .map(|s| s.token.clone())
        });
    match token {
        Some(token) => Ok(ServerClient::new(&url, token)),
        None => bail!(
            "no token for the server at {url}: pass --token or set EDDY_TOKEN (the server keeps it in `<dir>/token`)"
        ),
    }
}

/// The run entries of the jobs of the server `args` names.
fn server_runs(args: &ServerArgs) -> Result<(ServerClient, Vec<(RunEntry, JobPhase)>)> {
    let client = server_client(args)?;
    let (_, address) = server_address(client.url())?;
    let runs = (client.jobs()?.into_iter())
        .map(|listing| {
            let run = RunEntry {
                id: listing.summary.id,
                name: listing.summary.name,
                pid: listing.summary.pid,
                process_start: 0,
                address,
                token: client.token().to_string(),
                job_file: listing.summary.job_file,
                savepoint_dir: PathBuf::new(),
            };
            (run, listing.phase)
        })
        .collect();
    Ok((client, runs))
}

/// `eddy list`.
pub fn list(args: &ServerArgs) -> Result<()> {
    let runs: Vec<(RunEntry, Option<JobPhase>)> = if args.server.is_some() {
        let (_, runs) = server_runs(args)?;
        runs.into_iter()
            .map(|(run, phase)| (run, Some(phase)))
            .collect()
    } else {
        let runs = registry::live_runs(&registry::run_dir())?;
        runs.into_iter().map(|run| (run, None)).collect()
    };
    if runs.is_empty() {
        println!("no jobs are running");
        return Ok(());
    }
    println!(
        "{:<32}  {:<24} {:>8}  {:<10} {:<22} JOB FILE",
        "ID", "NAME", "PID", "PHASE", "CONTROL"
    );
    for (run, phase) in runs {
        let phase = phase.unwrap_or(JobPhase::Running).name();
        println!(
            "{:<32}  {:<24} {:>8}  {:<10} {:<22} {}",
            run.id,
            run.name,
            run.pid,
            phase,
            run.address,
            run.job_file.display()
        );
    }
    Ok(())
}

/// The client of the job `wanted` names: on the server `args` names, or
/// among the runs on this machine.
fn client(wanted: &str, args: &ServerArgs) -> Result<ControlClient> {
    if args.server.is_none() {
        return Ok(ControlClient::new(registry::find_run(
            &registry::run_dir(),
            wanted,
        )?));
    }
    let (server, runs) = server_runs(args)?;
    if runs.is_empty() {
        bail!("the server at {} has no jobs", server.url());
    }
    // A job that ended keeps its name on the server: a running one is
    // meant if there is one, else an ended one (for its status).
    let running: Vec<RunEntry> = (runs.iter())
        .filter(|(_, phase)| !phase.is_final())
        .map(|(run, _)| run.clone())
        .collect();
    let all: Vec<RunEntry> = runs.into_iter().map(|(run, _)| run).collect();
    let picked =
        registry::pick_run(running, wanted).or_else(|_| registry::pick_run(all, wanted))?;
    Ok(ControlClient::new(picked))
}

/// `eddy deploy JOB.toml`: check the job file here, upload its guest
/// components, and have the server run it.
pub fn deploy(
    path: &Path,
    args: &ServerArgs,
    from_savepoint: Option<&Path>,
    allow_non_restored_state: bool,
) -> Result<()> {
    let job_file = std::path::absolute(path).context("no working directory")?;
    let text = std::fs::read_to_string(&job_file)
        .with_context(|| format!("cannot read job file {}", job_file.display()))?;
    // Check it here first, so mistakes point at the file the user has.
    let (job, found) = parse_job_with_guest_files(&text, &job_file, &GuestFiles::default())?;
    let client = server_client(args)?;
    let mut modules = std::collections::BTreeMap::new();
    for (written, file) in found.0 {
        let bytes = std::fs::read(&file)
            .with_context(|| format!("cannot read module {}", file.display()))?;
        let uploaded = client
            .upload_module(&bytes)
            .with_context(|| format!("cannot upload module `{written}` ({})", file.display()))?;
        modules.insert(written, uploaded.sha256);
    }
    let summary = client.submit(&SubmitBody {
        job: Some(text),
        job_file: None,
        base_dir: job_file.parent().map(Path::to_path_buf),
        modules,
        from_savepoint: from_savepoint
            .map(std::path::absolute)
            .transpose()
            .context("no working directory")?,
        allow_non_restored_state,
    })?;
    println!("{}", summary.id);
    eprintln!(
        "job `{}` is running on {}: id {} (eddy status {})",
        job.name,
        client.url(),
        summary.id,
        &summary.id[..8.min(summary.id.len())]
    );
    Ok(())
}

/// `eddy status JOB`.
pub fn status(wanted: &str, args: &ServerArgs) -> Result<()> {
    let client = client(wanted, args)?;
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
pub fn savepoint(wanted: &str, dir: Option<&Path>, stop: bool, args: &ServerArgs) -> Result<()> {
    let client = client(wanted, args)?;
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
    args: &ServerArgs,
) -> Result<()> {
    let client = client(wanted, args)?;
    let module = std::path::absolute(module).context("no working directory")?;
    // A server named by URL may be on another machine: upload the module.
    let (module, module_sha256) = if args.server.is_some() {
        let bytes = std::fs::read(&module)
            .with_context(|| format!("cannot read module {}", module.display()))?;
        let uploaded = server_client(args)?
            .upload_module(&bytes)
            .with_context(|| format!("cannot upload module {}", module.display()))?;
        (None, Some(uploaded.sha256))
    } else {
        (Some(module), None)
    };
    let report = client.swap(&SwapBody {
        operator,
        module,
        module_sha256,
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
pub fn cancel(wanted: &str, args: &ServerArgs) -> Result<()> {
    let client = client(wanted, args)?;
    client.cancel()?;
    eprintln!(
        "job `{}` ({}) is cancelling",
        client.run().name,
        client.run().id
    );
    Ok(())
}
