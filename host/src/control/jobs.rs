//! The jobs a control server answers for ([`JobTable`]: one for `eddy
//! run`, any number for `eddy serve`), and what a server that takes new
//! jobs does with them ([`JobSubmitter`], implemented by `serve`, so that
//! the server does not depend on the session host it fronts).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::api::{JobSummary, SubmitBody, UploadedModule};
use crate::runtime::JobHandle;
use crate::runtime::handle::JobPhase;

/// A job the server answers for.
#[derive(Debug, Clone)]
pub struct ControlledJob {
    pub summary: JobSummary,
    pub handle: JobHandle,
    /// Where savepoints go when a request names no folder.
    pub savepoint_dir: PathBuf,
}

/// The jobs of a server, in the order they were started.
#[derive(Debug, Default)]
pub struct JobTable {
    jobs: RwLock<Vec<ControlledJob>>,
}

impl JobTable {
    /// A table holding `jobs`.
    pub fn new(jobs: Vec<ControlledJob>) -> Arc<Self> {
        Arc::new(JobTable {
            jobs: RwLock::new(jobs),
        })
    }

    /// Answer for `job` too.
    pub fn add(&self, job: ControlledJob) {
        self.jobs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
    }

    /// The job with id `id`.
    pub fn find(&self, id: &str) -> Option<ControlledJob> {
        let jobs = self.jobs.read().unwrap_or_else(|e| e.into_inner());
        jobs.iter().find(|job| job.summary.id == id).cloned()
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Vec<ControlledJob> {
        self.jobs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Why a submission or an upload was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Something the client sent is wrong (answered 400, with the message).
    #[error("{0}")]
    Invalid(String),
    /// The server could not do it (answered 500).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// What `eddy serve` does with new jobs and modules; the control server
/// calls it off its own thread (submissions load and compile modules).
pub trait JobSubmitter: Send + Sync + std::fmt::Debug {
    /// Check and start a job; it is in the table when this returns.
    fn submit(&self, body: SubmitBody) -> Result<JobSummary, Refusal>;
    /// Check and keep a guest component.
    fn upload_module(&self, bytes: &[u8]) -> Result<UploadedModule, Refusal>;
    /// Where an uploaded module is, by its SHA-256.
    fn uploaded_module(&self, sha256: &str) -> Option<PathBuf>;
    /// The largest module upload taken, in bytes.
    fn max_module_bytes(&self) -> usize;
    /// A user asked job `id` to end (`phase`: a stop whose savepoint is
    /// complete, or a cancel): it must not be started again when the
    /// server restarts, even if the server dies before the job has ended.
    fn ending(&self, id: &str, phase: JobPhase);
}
