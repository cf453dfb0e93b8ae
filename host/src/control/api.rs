//! What travels over the control API, written once for the server and the
//! client (and described in `docs/control-api.openapi.json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::checkpoint::coordinator::{SavepointReport, SwapReport};
use crate::runtime::JobStatus;

/// The version prefix of every path.
pub const PREFIX: &str = "/v1";

/// One job in `GET /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    pub name: String,
    /// The job file the run was started with.
    pub job_file: PathBuf,
    pub pid: u32,
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
    /// The new module: an absolute path on the server's machine.
    pub module: PathBuf,
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
