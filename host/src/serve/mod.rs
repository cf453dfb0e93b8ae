//! `eddy serve`: a long-running host for several jobs at once (Flink's
//! session cluster, on one machine), behind the control API with job
//! submission, module uploads and `/metrics`.
//!
//! - [`store`]: the server's directory (token, modules by content, the
//!   jobs it runs), which outlives the process;
//! - [`session`]: the [`SessionHost`] that starts submitted jobs, and
//!   resumes them from their latest checkpoints when the server restarts.

pub mod session;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::control::jobs::JobTable;
use crate::control::registry::{self, ServerEntry};
use crate::control::server::ControlServer;
pub use session::SessionHost;
use store::ServerDir;

/// How `eddy serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: SocketAddr,
    /// The server's directory.
    pub dir: PathBuf,
    /// Allow a bind off loopback (every request still needs the token).
    pub allow_remote: bool,
    /// The largest module upload taken, in bytes.
    pub max_module_bytes: usize,
}

/// Serve until the process is stopped; jobs that were running resume
/// from their latest checkpoints at the next start.
pub fn serve(options: &ServeOptions) -> Result<()> {
    if !options.bind.ip().is_loopback() && !options.allow_remote {
        bail!(
            "--bind {} is not a loopback address: anyone who can reach it can try the API and the dashboard; add --allow-remote if that is meant (every request still needs the server's token)",
            options.bind
        );
    }
    let dir = ServerDir::open(&options.dir)?;
    let token = dir.token()?;
    let jobs = JobTable::new(Vec::new());
    let host = Arc::new(SessionHost::new(
        dir.clone(),
        jobs.clone(),
        token.clone(),
        options.max_module_bytes,
    )?);
    let server = ControlServer::start(options.bind, token.clone(), jobs, Some(host.clone()))?;
    host.listening_on(server.address());
    let entry = ServerEntry {
        pid: std::process::id(),
        process_start: registry::process_start(std::process::id()).unwrap_or(0),
        address: server.address(),
        token,
        dir: dir.root().to_path_buf(),
    };
    let _registration = registry::register_server(&registry::run_dir(), &entry)?;
    let resumed = host.resume()?;
    let token_file = dir.root().join("token");
    eprintln!(
        "eddy serve: control API and dashboard on {} (token in {}); {resumed} job(s) resumed",
        entry.url(),
        token_file.display(),
    );
    // A terminal is the user's own: give them the link that logs in.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("dashboard: {}/?token={}", entry.url(), entry.token);
    }
    loop {
        std::thread::park();
    }
}
