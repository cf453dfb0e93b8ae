//! The run directory: one file per running job (`<job-id>.json`, mode
//! 0600, in a 0700 directory) with its process, control address and token,
//! so that `eddy list / status / savepoint / stop / cancel` can find and
//! reach it. A run removes its entry when it ends; entries of processes
//! that died without cleaning up (`kill -9`) are recognised by their
//! process id and start time, and removed when the directory is read.
//!
//! Where: `$EDDY_RUN_DIR` if set (tests), else `$XDG_RUNTIME_DIR/eddy/jobs`,
//! else `/tmp/eddy-<uid>/jobs`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// What a run tells the CLI about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEntry {
    pub id: String,
    pub name: String,
    pub pid: u32,
    /// The process's start time (clock ticks after boot, from
    /// `/proc/<pid>/stat`), so a reused process id is not taken for the run.
    pub process_start: u64,
    /// Where the control API listens.
    pub address: SocketAddr,
    /// The bearer token every request needs.
    pub token: String,
    pub job_file: PathBuf,
    /// Where savepoints go when a request names no folder.
    pub savepoint_dir: PathBuf,
}

impl RunEntry {
    /// The control API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// The run directory of this user.
pub fn run_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EDDY_RUN_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(runtime).join("eddy").join("jobs");
    }
    // `/proc/self` belongs to this process's user.
    let uid = fs::metadata("/proc/self").map_or(0, |meta| meta.uid());
    std::env::temp_dir()
        .join(format!("eddy-{uid}"))
        .join("jobs")
}

/// A registered run; its entry is removed when this is dropped.
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
}

impl Registration {
    /// Where the entry is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// What `eddy serve` tells the CLI about itself, so that `eddy deploy`
/// finds it and its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerEntry {
    pub pid: u32,
    /// As in [`RunEntry::process_start`].
    pub process_start: u64,
    pub address: SocketAddr,
    pub token: String,
    /// The server's directory (its jobs, modules and token).
    pub dir: PathBuf,
}

impl ServerEntry {
    /// The control API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// An entry of a live process, which [`live_entries`] can tell from a stale one.
pub trait ProcessEntry: Serialize + serde::de::DeserializeOwned {
    fn pid(&self) -> u32;
    fn process_start(&self) -> u64;
}

impl ProcessEntry for RunEntry {
    fn pid(&self) -> u32 {
        self.pid
    }
    fn process_start(&self) -> u64 {
        self.process_start
    }
}

impl ProcessEntry for ServerEntry {
    fn pid(&self) -> u32 {
        self.pid
    }
    fn process_start(&self) -> u64 {
        self.process_start
    }
}

/// Where servers register: a folder of the run directory.
pub fn server_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("servers")
}

/// Write `entry` into `dir` (made 0700 if missing), readable by this user only.
pub fn register(dir: &Path, entry: &RunEntry) -> Result<Registration> {
    register_as(dir, &entry.id, entry)
}

/// Register the server of `entry` in `server_dir(run_dir)`.
pub fn register_server(run_dir: &Path, entry: &ServerEntry) -> Result<Registration> {
    register_as(&server_dir(run_dir), &entry.pid.to_string(), entry)
}

/// Write `entry` as `<name>.json` into `dir` (made 0700 if missing),
/// readable by this user only.
fn register_as(dir: &Path, name: &str, entry: &impl Serialize) -> Result<Registration> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the run directory {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let json = serde_json::to_vec_pretty(entry).expect("an entry serialises");
    write_private(&path, &json)?;
    Ok(Registration { path })
}

/// Write `bytes` to `path`, readable by this user only (0600), through a
/// staged file beside it, so a reader (or a crash) sees the old content or
/// the new, never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let staged = path.with_file_name(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staged)
        .with_context(|| format!("cannot write {}", staged.display()))?;
    // `mode` applies only to a new file: make sure of it.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", staged.display()))?;
    fs::rename(&staged, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Every live run in `dir`, oldest process first; entries of dead
/// processes and unreadable entries are removed.
pub fn live_runs(dir: &Path) -> Result<Vec<RunEntry>> {
    live_entries(dir)
}

/// Every live server registered below `run_dir`, oldest first.
pub fn live_servers(run_dir: &Path) -> Result<Vec<ServerEntry>> {
    live_entries(&server_dir(run_dir))
}

/// Every live entry in `dir`, oldest process first; entries of dead
/// processes and unreadable entries are removed.
fn live_entries<T: ProcessEntry>(dir: &Path) -> Result<Vec<T>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read the run directory {}", dir.display()));
        }
    };
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let parsed = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<T>(&bytes).ok());
        match parsed {
            Some(run) if is_alive(run.pid(), run.process_start()) => runs.push(run),
            _ => {
                tracing::debug!("removing stale run entry {}", path.display());
                let _ = fs::remove_file(&path);
            }
        }
    }
    runs.sort_by_key(|run| (run.process_start(), run.pid()));
    Ok(runs)
}

/// The one live run `wanted` names: a job id, a unique prefix of one, or
/// a job name.
pub fn find_run(dir: &Path, wanted: &str) -> Result<RunEntry> {
    let runs = live_runs(dir)?;
    if runs.is_empty() {
        bail!(
            "no eddy job is running (for this user; run directory {})",
            dir.display()
        );
    }
    pick_run(runs, wanted)
}

/// The one of `runs` that `wanted` names: a job id, a unique prefix of one,
/// or a job name.
pub fn pick_run(runs: Vec<RunEntry>, wanted: &str) -> Result<RunEntry> {
    let by_id: Vec<&RunEntry> = runs.iter().filter(|r| r.id.starts_with(wanted)).collect();
    let by_name: Vec<&RunEntry> = runs.iter().filter(|r| r.name == wanted).collect();
    let candidates = if by_id.is_empty() { by_name } else { by_id };
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no running job has the id or name `{wanted}`; running: {}",
            describe(&runs)
        ),
        many => bail!(
            "`{wanted}` names {} running jobs ({}); give more of the job id",
            many.len(),
            describe(&many.iter().map(|r| (*r).clone()).collect::<Vec<_>>())
        ),
    }
}

fn describe(runs: &[RunEntry]) -> String {
    runs.iter()
        .map(|r| format!("{} `{}`", r.id, r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether process `pid` runs and started at `start`.
fn is_alive(pid: u32, start: u64) -> bool {
    process_start(pid).is_some_and(|found| found == start)
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after its closing parenthesis.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, name: &str, pid: u32) -> RunEntry {
        RunEntry {
            id: id.into(),
            name: name.into(),
            pid,
            process_start: process_start(pid).unwrap_or(0),
            address: "127.0.0.1:1".parse().unwrap(),
            token: "t".into(),
            job_file: "job.toml".into(),
            savepoint_dir: "savepoints".into(),
        }
    }

    #[test]
    fn entries_are_private_found_by_id_prefix_or_name_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("jobs");
        let me = std::process::id();
        let a = register(&runs, &entry("a1b2c3", "orders", me)).unwrap();
        let _b = register(&runs, &entry("a1ffff", "clicks", me)).unwrap();
        let mode = fs::metadata(a.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&runs).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        assert_eq!(find_run(&runs, "a1b").unwrap().name, "orders");
        assert_eq!(find_run(&runs, "clicks").unwrap().id, "a1ffff");
        let ambiguous = find_run(&runs, "a1").unwrap_err().to_string();
        assert!(ambiguous.contains("names 2 running jobs"), "{ambiguous}");
        let unknown = find_run(&runs, "zzz").unwrap_err().to_string();
        assert!(
            unknown.contains("no running job has the id or name `zzz`"),
            "{unknown}"
        );

        drop(a);
        assert_eq!(live_runs(&runs).unwrap().len(), 1);
    }

    #[test]
    fn entries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let mut dead = entry("dead", "gone", pid);
        child.wait().unwrap();
        dead.process_start = dead.process_start.max(1);
        let registration = register(dir.path(), &dead).unwrap();
        let path = registration.path().to_path_buf();
        std::mem::forget(registration);
        // A live process with another start time is a reused id, not the run.
        let reused = RunEntry {
            process_start: 1,
            ..entry("reused", "other", std::process::id())
        };
        std::mem::forget(register(dir.path(), &reused).unwrap());
        assert!(live_runs(dir.path()).unwrap().is_empty());
        assert!(!path.exists());
    }
}
