//! The server's directory: what `eddy serve` keeps so that a restarted
//! server finds its token, its modules and the jobs it was running.
//!
//! ```text
//! <dir>/token                      the bearer token (0600)
//! <dir>/modules/<sha256>.wasm      every guest component a job was submitted with, and every upload, by content
//! <dir>/jobs/<id>/job.toml         a job file as submitted
//! <dir>/jobs/<id>/submission.json  how it was submitted, and how it ended
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::control::registry::write_private;
use crate::runtime::handle::JobPhase;

/// How a job was submitted: enough to load and start it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The job's id on this server (32 hex digits).
    pub id: String,
    /// `[job] name`.
    pub name: String,
    /// Where the job file was (or says it was) on the submitter's side:
    /// its folder is the base of the job's relative paths, its name is
    /// used in messages.
    pub job_file: PathBuf,
    /// Every guest component the job names, as written, by SHA-256 in
    /// the module store.
    pub modules: BTreeMap<String, String>,
    /// The savepoint it first started from, if any.
    pub from_savepoint: Option<PathBuf>,
    /// Whether it may drop a savepoint's state of operators it lacks.
    pub allow_non_restored_state: bool,
    /// The first id a checkpoint of this job can have: a restarted server
    /// resumes from its newest checkpoint from here on, never from one an
    /// earlier run left in the folder.
    pub first_checkpoint_id: u64,
    /// When it was submitted, in ms since the Unix epoch.
    pub submitted_at: i64,
    /// How it ended; `None` while it runs (a restarted server resumes it).
    pub ended: Option<JobEnded>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnded {
    /// Finished, stopped, cancelled or failed.
    pub phase: JobPhase,
    /// When, in ms since the Unix epoch.
    pub at: i64,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// The server's directory.
#[derive(Debug, Clone)]
pub struct ServerDir {
    root: PathBuf,
}

impl ServerDir {
    /// Open `root`, making it (0700) and its folders if missing.
    pub fn open(root: &Path) -> Result<Self> {
        let root = std::path::absolute(root).context("no working directory")?;
        for dir in [root.clone(), root.join("modules"), root.join("jobs")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("cannot create the server directory {}", dir.display()))?;
        }
        Ok(ServerDir { root })
    }

    /// Where it is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server's token: the one kept here, or a new one, kept.
    pub fn token(&self) -> Result<String> {
        let path = self.root.join("token");
        match fs::read_to_string(&path) {
            Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_string()),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        }
        let token = crate::control::random_hex(32)?;
        write_private(&path, token.as_bytes())?;
        Ok(token)
    }

    /// Where the module with this SHA-256 is kept, if it is.
    pub fn module(&self, sha256: &str) -> Option<PathBuf> {
        let well_formed = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        let path = self.root.join("modules").join(format!("{sha256}.wasm"));
        (well_formed && path.is_file()).then_some(path)
    }

    /// A place to write an upload before it is checked.
    pub fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(".wasm")
            .tempfile_in(self.root.join("modules"))
            .context("cannot stage the upload")
    }

    /// Keep a checked module (staged at `staged`) under its SHA-256.
    pub fn keep_module(&self, staged: tempfile::NamedTempFile, sha256: &str) -> Result<PathBuf> {
        let path = self.root.join("modules").join(format!("{sha256}.wasm"));
        staged
            .persist(&path)
            .with_context(|| format!("cannot keep module {}", path.display()))?;
        Ok(path)
    }

    /// Copy the file at `path` (read whole: the caller checks its size)
    /// into the module store; its SHA-256.
    pub fn copy_module(&self, path: &Path) -> Result<String> {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if self.module(&sha256).is_none() {
            let mut staged = self.staging_file()?;
            staged
                .write_all(&bytes)
                .context("cannot stage the module")?;
            self.keep_module(staged, &sha256)?;
        }
        Ok(sha256)
    }

    /// The folder of job `id`: its file, submission and savepoints.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(id)
    }

    /// The submission of job `id`.
    pub fn submission(&self, id: &str) -> Result<Submission> {
        let path = self.job_dir(id).join("submission.json");
        let json =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&json).with_context(|| format!("{} is damaged", path.display()))
    }

    /// Keep a new job's file and submission.
    pub fn add_job(&self, submission: &Submission, job_text: &str) -> Result<()> {
        let dir = self.job_dir(&submission.id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        write_private(&dir.join("job.toml"), job_text.as_bytes())?;
        self.save(submission)
    }

    /// Write `submission` over the one kept.
    pub fn save(&self, submission: &Submission) -> Result<()> {
        let json = serde_json::to_vec_pretty(submission).expect("a submission serialises");
        write_private(&self.job_dir(&submission.id).join("submission.json"), &json)
    }

    /// Every job kept, oldest submission first, with its file's text.
    pub fn jobs(&self) -> Result<Vec<(Submission, String)>> {
        let dir = self.root.join("jobs");
        let mut jobs = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let job_dir = entry?.path();
            let read = |name: &str| {
                let path = job_dir.join(name);
                fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
            };
            let kept = read("submission.json").and_then(|json| {
                let submission: Submission = serde_json::from_str(&json)
                    .with_context(|| format!("{} is damaged", job_dir.display()))?;
                Ok((submission, read("job.toml")?))
            });
            match kept {
                Ok(job) => jobs.push(job),
                Err(error) => tracing::warn!("skipping a kept job: {error:#}"),
            }
        }
        jobs.sort_by_key(|(submission, _)| submission.submitted_at);
        Ok(jobs)
    }
}
