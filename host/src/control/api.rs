//! What travels over the control API, written once for the server and the
//! client (and described in `docs/control-api.openapi.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::coordinator::{SavepointReport, SwapReport};
use crate::runtime::JobStatus;

/// The version prefix of every path.
pub const PREFIX: &str = "/v1";

/// What is wrong with `path` as body field `field`: it must be absolute,
/// since the server does not share the client's working directory.
pub fn relative_path_problem(field: &str, path: &Path) -> Option<String> {
    path.is_relative().then(|| {
        format!(
            "`{field}` must be an absolute path (the server does not share the client's working directory), got {}",
            path.display()
        )
    })
}

/// One job in `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    pub name: String,
    /// The job file the run was started with.
    pub job_file: PathBuf,
    pub pid: u32,
}

/// One job in `GET /v1/jobs`, with where it is in its life.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobListing {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub phase: crate::runtime::handle::JobPhase,
}

/// `GET /v1/jobs/{id}`: the job, its graph and its live status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobDetails {
    #[serde(flatten)]
    pub summary: JobSummary,
    /// The job graph (`JobHandle::graph`, as `eddy inspect --json` prints
    /// it): nodes, task groups, edges with their partitioning.
    pub graph: serde_json::Value,
    pub status: JobStatus,
}

/// `POST /v1/jobs/{id}/savepoints` and `POST /v1/jobs/{id}/stop`: where
/// the savepoint goes (an absolute path; the run's default when absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavepointBody {
    pub dir: Option<PathBuf>,
}

/// The answer to a savepoint or stop request.
pub type SavepointAnswer = SavepointReport;

/// `POST /v1/jobs/{id}/swaps`: replace an operator's guest function live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapBody {
    /// The operator's uid.
    pub operator: String,
    /// The new module: an absolute path on the server's machine...
    #[serde(default)]
    pub module: Option<PathBuf>,
    /// ...or the SHA-256 of a module uploaded to `POST /v1/modules`
    /// (`eddy serve` only).
    #[serde(default)]
    pub module_sha256: Option<String>,
    /// The config to initialise it with (the operator's current one if absent).
    #[serde(default)]
    pub config: Option<String>,
    /// Let the swap drop states the new version no longer declares.
    #[serde(default)]
    pub allow_dropped_state: bool,
}

/// The answer to a swap request.
pub type SwapAnswer = SwapReport;

/// Every error answer: what went wrong, for the user to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `POST /v1/modules` answers with what was stored: uploads are checked
/// (a component of an eddy world) before they are kept, and kept by content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadedModule {
    pub sha256: String,
    pub bytes: u64,
    /// The eddy world it implements (`transform`, `keyed-process`, ...).
    pub world: String,
}

/// `POST /v1/jobs` (`eddy serve` only): run a job. The job file is given
/// either as text (`job`, with its guest components uploaded first) or as a
/// path on the server's machine (`job_file`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// The job file's text...
    #[serde(default)]
    pub job: Option<String>,
    /// ...or the absolute path of a job file on the server's machine.
    #[serde(default)]
    pub job_file: Option<PathBuf>,
    /// With `job`: the absolute folder on the server's machine its relative
    /// paths (inputs, outputs, checkpoints) resolve against; by default the
    /// job's own folder in the server's directory.
    #[serde(default)]
    pub base_dir: Option<PathBuf>,
    /// Guest components as written in the job file (`module = "..."`, key
    /// selectors), each the SHA-256 of an upload to `POST /v1/modules`;
    /// those absent are read from the server's disk (relative to the job
    /// file's folder, or `base_dir`), and kept by the server.
    #[serde(default)]
    pub modules: BTreeMap<String, String>,
    /// Start from this savepoint (or checkpoint) folder, an absolute path.
    #[serde(default)]
    pub from_savepoint: Option<PathBuf>,
    /// Start even if the savepoint holds state of operators the job no longer has.
    #[serde(default)]
    pub allow_non_restored_state: bool,
}

/// `GET /v1/jobs/{id}/throughput`: every node's rates about once a second
/// over the last minutes, for the dashboard's charts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    /// The nodes, in the order of each sample's rates.
    pub nodes: Vec<String>,
    pub samples: Vec<crate::runtime::metrics::RateSample>,
}
