//! The session host (Flink's session cluster on one machine): takes jobs
//! and modules through the control API ([`JobSubmitter`]), runs each job on
//! its own executor thread, keeps what it needs in the [`ServerDir`], and
//! after a restart of the server resumes the jobs that were running from
//! their latest checkpoints.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};

use super::store::{JobEnded, ServerDir, Submission};
use crate::control::api::{JobSummary, SubmitBody, UploadedModule, relative_path_problem};
use crate::control::jobs::{ControlledJob, JobSubmitter, JobTable, Refusal};
use crate::control::random_hex;
use crate::control::registry::{self, RunEntry};
use crate::job::{GuestFiles, Job, parse_job_with_guest_files};
use crate::runtime::handle::JobPhase;
use crate::runtime::plan::{FromCheckpoint, NonRestoredState, load_modules};
use crate::runtime::{RunOptions, newest_checkpoint_id, start_job};
use crate::time::processing_time_now;
use crate::wasm::{GuestEngine, GuestModule};

/// The largest job file a submission by path may name.
const MAX_JOB_FILE_BYTES: u64 = 1024 * 1024;

/// Runs the jobs of one `eddy serve`.
pub struct SessionHost {
    dir: ServerDir,
    jobs: Arc<JobTable>,
    engine: GuestEngine,
    token: String,
    max_module_bytes: usize,
    /// Where the control API listens, once it does: each job gets an entry
    /// in the run directory with it, so `eddy list / status ...` find it.
    address: OnceLock<SocketAddr>,
    run_dir: PathBuf,
    /// Held while a submission checks that no job of its name runs and
    /// starts, so two submissions cannot both pass the check.
    submitting: Mutex<()>,
}

impl std::fmt::Debug for SessionHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHost")
            .field("dir", &self.dir.root())
            .field("address", &self.address.get())
            .finish_non_exhaustive()
    }
}

impl SessionHost {
    /// A host keeping its jobs in `dir`, answering in `jobs`.
    pub fn new(
        dir: ServerDir,
        jobs: Arc<JobTable>,
        token: String,
        max_module_bytes: usize,
    ) -> Result<Self> {
        Ok(SessionHost {
            dir,
            jobs,
            engine: GuestEngine::shared()?,
            token,
            max_module_bytes,
            address: OnceLock::new(),
            run_dir: registry::run_dir(),
            submitting: Mutex::new(()),
        })
    }

    /// The control API listens on `address`.
    pub fn listening_on(&self, address: SocketAddr) {
        let _ = self.address.set(address);
    }

    /// Start again every kept job that had not ended: from its newest
    /// checkpoint, else from where it first started. Says how many.
    pub fn resume(&self) -> Result<usize> {
        // No submission may start a job of the same name meanwhile.
        let _submitting = self.submitting.lock().unwrap_or_else(|e| e.into_inner());
        let mut resumed = 0;
        for (mut submission, text) in self.dir.jobs()? {
            if submission.ended.is_some() {
                continue;
            }
            let started = self.load(&submission, &text).and_then(|job| {
                let from = FromCheckpoint::Restart {
                    since: submission.first_checkpoint_id,
                    initial: (submission.from_savepoint.clone())
                        .map(|path| Box::new(FromCheckpoint::Path(path))),
                };
                self.start(&submission, job, Some(from))
            });
            match started {
                Ok(_) => {
                    tracing::info!(
                        "job `{}` ({}) resumed: from its newest checkpoint if it has one",
                        submission.name,
                        submission.id
                    );
                    resumed += 1;
                }
                Err(error) => {
                    let failure = format!("{error:#}");
                    tracing::error!(
                        "job `{}` ({}) cannot resume: {failure}",
                        submission.name,
                        submission.id
                    );
                    submission.ended = Some(JobEnded {
                        phase: JobPhase::Failed,
                        at: processing_time_now(),
                        failure: Some(failure),
                    });
                    self.dir.save(&submission)?;
                }
            }
        }
        Ok(resumed)
    }

    /// The job of `submission`, its guest components read from the store.
    fn load(&self, submission: &Submission, text: &str) -> Result<Job> {
        let mut stored = GuestFiles::default();
        for (written, sha256) in &submission.modules {
            let path = self.dir.module(sha256).with_context(|| {
                format!(
                    "module `{written}` ({sha256}) is missing from {}",
                    self.dir.root().join("modules").display()
                )
            })?;
            stored.0.insert(written.clone(), path);
        }
        let (job, _) = parse_job_with_guest_files(text, &submission.job_file, &stored)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        Ok(job)
    }

    /// Run `job` of `submission`, answer for it, register it, and record
    /// how it ends.
    fn start(
        &self,
        submission: &Submission,
        job: Job,
        from: Option<FromCheckpoint>,
    ) -> Result<JobSummary> {
        let options = RunOptions {
            from_checkpoint: from,
            non_restored_state: if submission.allow_non_restored_state {
                NonRestoredState::Drop
            } else {
                NonRestoredState::Refuse
            },
            ..RunOptions::default()
        };
        let running = start_job(job, options, |_, _, _| {})?;
        let summary = JobSummary {
            id: submission.id.clone(),
            name: submission.name.clone(),
            job_file: submission.job_file.clone(),
            pid: std::process::id(),
        };
        let savepoint_dir = self
            .dir
            .root()
            .join("jobs")
            .join(&submission.id)
            .join("savepoints");
        self.jobs.add(ControlledJob {
            summary: summary.clone(),
            handle: running.handle(),
            savepoint_dir: savepoint_dir.clone(),
        });
        let registration = self.address.get().and_then(|address| {
            let entry = RunEntry {
                id: submission.id.clone(),
                name: submission.name.clone(),
                pid: std::process::id(),
                process_start: registry::process_start(std::process::id()).unwrap_or(0),
                address: *address,
                token: self.token.clone(),
                job_file: submission.job_file.clone(),
                savepoint_dir,
            };
            registry::register(&self.run_dir, &entry)
                .inspect_err(|error| {
                    tracing::warn!("cannot register job `{}`: {error:#}", entry.name)
                })
                .ok()
        });
        let dir = self.dir.clone();
        let mut record = submission.clone();
        let handle = running.handle();
        std::thread::Builder::new()
            .name(format!("end of {}", submission.id))
            .spawn(move || {
                let result = running.wait();
                drop(registration);
                let phase = handle.status().phase;
                let failure = result.err().map(|failure| failure.to_string());
                match &failure {
                    Some(failure) => tracing::warn!("job `{}` ended: {failure}", record.name),
                    None => tracing::info!("job `{}` ended: {}", record.name, phase.name()),
                }
                record.ended = Some(JobEnded {
                    phase,
                    at: processing_time_now(),
                    failure,
                });
                if let Err(error) = dir.save(&record) {
                    tracing::error!("cannot record the end of job `{}`: {error:#}", record.name);
                }
            })
            .context("cannot start the thread that waits for the job")?;
        Ok(summary)
    }

    /// Refuse the guest component at `path` on the server's disk (named
    /// `written` in the job file) if it is larger than an upload may be.
    fn check_module_size(&self, written: &str, path: &Path) -> Result<(), Refusal> {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size > self.max_module_bytes as u64 {
            return Err(Refusal::Invalid(format!(
                "module `{written}` ({}) has {size} bytes, and this server takes modules of at most {} (--max-module-size)",
                path.display(),
                self.max_module_bytes
            )));
        }
        Ok(())
    }

    /// The job file's text and where it stands for, from a submission body.
    fn job_text(&self, body: &SubmitBody, id: &str) -> Result<(String, PathBuf), Refusal> {
        let absolute = |field: &str, path: &Path| match relative_path_problem(field, path) {
            Some(problem) => Err(Refusal::Invalid(problem)),
            None => Ok(()),
        };
        match (&body.job, &body.job_file) {
            (Some(text), None) => {
                let base = match &body.base_dir {
                    Some(base) => {
                        absolute("base_dir", base)?;
                        base.clone()
                    }
                    None => self.dir.job_dir(id),
                };
                Ok((text.clone(), base.join("job.toml")))
            }
            (None, Some(path)) => {
                absolute("job_file", path)?;
                if body.base_dir.is_some() {
                    return Err(Refusal::Invalid(
                        "`base_dir` goes with `job`: a `job_file`'s relative paths resolve against its own folder".into(),
                    ));
                }
                let cannot = |problem: String| {
                    Refusal::Invalid(format!("cannot read job file {}: {problem}", path.display()))
                };
                // Not a pipe or a device: reading one could block or never end.
                let size = match std::fs::metadata(path) {
                    Ok(metadata) if metadata.is_file() => metadata.len(),
                    Ok(_) => return Err(cannot("it is not a regular file".into())),
                    Err(error) => return Err(cannot(error.to_string())),
                };
                if size > MAX_JOB_FILE_BYTES {
                    return Err(cannot(format!(
                        "it has {size} bytes, and a job file may have {MAX_JOB_FILE_BYTES}"
                    )));
                }
                let text = std::fs::read_to_string(path).map_err(|e| cannot(e.to_string()))?;
                Ok((text, path.clone()))
            }
            _ => Err(Refusal::Invalid(
                "give the job as exactly one of `job` (the job file's text) and `job_file` (a path on the server)".into(),
            )),
        }
    }
}

impl JobSubmitter for SessionHost {
    fn submit(&self, body: SubmitBody) -> Result<JobSummary, Refusal> {
        let id = random_hex(16).map_err(Refusal::Failed)?;
        let (text, job_file) = self.job_text(&body, &id)?;
        let mut uploaded = GuestFiles::default();
        for (written, sha256) in &body.modules {
            let path = self.dir.module(sha256).ok_or_else(|| {
                Refusal::Invalid(format!(
                    "module `{written}`: no module with SHA-256 `{sha256}` was uploaded (POST /v1/modules)"
                ))
            })?;
            uploaded.0.insert(written.clone(), path);
        }
        let invalid = |error: crate::job::JobError| Refusal::Invalid(error.to_string());
        let (job, named) =
            parse_job_with_guest_files(&text, &job_file, &uploaded).map_err(invalid)?;
        // Everything is checked before anything is kept: a refused
        // submission leaves nothing in the server's directory.
        for (written, path) in &named.0 {
            if !body.modules.contains_key(written) {
                self.check_module_size(written, path)?;
            }
        }
        load_modules(&job, &self.engine, &RunOptions::default()).map_err(|error| {
            Refusal::Invalid(format!("job `{}` is not valid: {error:#}", job.name))
        })?;
        if let Some(path) = &body.from_savepoint
            && (!path.is_absolute() || crate::checkpoint::open_checkpoint_at(path).is_none())
        {
            return Err(Refusal::Invalid(format!(
                "`from_savepoint` must be the absolute path of a `savepoint-<n>` or `chk-<n>` folder on the server, got {}",
                path.display()
            )));
        }
        let _submitting = self.submitting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = (self.jobs.list().into_iter())
            .find(|j| j.summary.name == job.name && !j.handle.status().phase.is_final())
        {
            return Err(Refusal::Invalid(format!(
                "a job named `{}` already runs on this server (id {}): its checkpoints and sinks would clash; stop it first, or give this one another `[job] name`",
                job.name, running.summary.id
            )));
        }
        // Keep a copy of every component read from disk, so the job runs
        // the same code after a restart of the server.
        let mut modules = BTreeMap::new();
        let mut stored = GuestFiles::default();
        for (written, path) in named.0 {
            let sha256 = match body.modules.get(&written) {
                Some(sha256) => sha256.clone(),
                None => self.dir.copy_module(&path).map_err(Refusal::Failed)?,
            };
            let kept = self.dir.module(&sha256).unwrap_or(path);
            stored.0.insert(written.clone(), kept);
            modules.insert(written, sha256);
        }
        let (job, _) = parse_job_with_guest_files(&text, &job_file, &stored).map_err(invalid)?;
        let submission = Submission {
            id,
            name: job.name.clone(),
            job_file,
            modules,
            from_savepoint: body.from_savepoint.clone(),
            allow_non_restored_state: body.allow_non_restored_state,
            first_checkpoint_id: newest_checkpoint_id(&job, None) + 1,
            submitted_at: processing_time_now(),
            ended: None,
        };
        self.dir
            .add_job(&submission, &text)
            .map_err(Refusal::Failed)?;
        let from = body.from_savepoint.map(FromCheckpoint::Path);
        let summary = match self.start(&submission, job, from) {
            Ok(summary) => summary,
            Err(error) => {
                // Not resumed at the next start: it never ran.
                let mut record = submission;
                record.ended = Some(JobEnded {
                    phase: JobPhase::Failed,
                    at: processing_time_now(),
                    failure: Some(format!("{error:#}")),
                });
                let _ = self.dir.save(&record);
                return Err(Refusal::Failed(error));
            }
        };
        tracing::info!("job `{}` ({}) submitted", summary.name, summary.id);
        Ok(summary)
    }

    fn upload_module(&self, bytes: &[u8]) -> Result<UploadedModule, Refusal> {
        if bytes.is_empty() {
            return Err(Refusal::Invalid(
                "the upload is empty: send the component's bytes as the request body".into(),
            ));
        }
        let mut staged = self.dir.staging_file().map_err(Refusal::Failed)?;
        staged
            .write_all(bytes)
            .context("cannot stage the upload")
            .map_err(Refusal::Failed)?;
        let module = GuestModule::load_any(&self.engine, staged.path()).map_err(|error| {
            let message = error.to_string();
            let staged_name = staged.path().display().to_string();
            Refusal::Invalid(format!(
                "the upload is not a module eddy can run: {}",
                message.replace(&staged_name, "the uploaded module")
            ))
        })?;
        self.dir
            .keep_module(staged, &module.sha256)
            .map_err(Refusal::Failed)?;
        Ok(UploadedModule {
            sha256: module.sha256.clone(),
            bytes: bytes.len() as u64,
            world: module.world.name().to_string(),
        })
    }

    fn uploaded_module(&self, sha256: &str) -> Option<PathBuf> {
        self.dir.module(sha256)
    }

    fn max_module_bytes(&self) -> usize {
        self.max_module_bytes
    }

    fn ending(&self, id: &str, phase: JobPhase) {
        let marked = self.dir.submission(id).and_then(|mut record| {
            if record.ended.is_none() {
                record.ended = Some(JobEnded {
                    phase,
                    at: processing_time_now(),
                    failure: None,
                });
                self.dir.save(&record)?;
            }
            Ok(())
        });
        if let Err(error) = marked {
            tracing::warn!("cannot record that job {id} is ending: {error:#}");
        }
    }
}
