//! Runs a planned job: one thread per subtask, the checkpoint coordinator
//! on the watching thread, cancellation of everything when one task fails,
//! and restarts from the latest checkpoint as the job's restart strategy
//! allows.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use crossbeam_channel::{Receiver, select};

use super::metrics::JobMetrics;
use super::plan::{
    CheckpointWiring, FromCheckpoint, LoadedModules, Plan, RestoreSource, RunOptions, load_modules,
    plan,
};
use super::restart::RestartTracker;
use super::task::{Stop, TaskError};
use crate::checkpoint::coordinator::{CheckpointStats, Coordinator, SharedStats};
use crate::checkpoint::{self, CheckpointStorage, Manifest, TaskAck};
use crate::connectors::staged_file;
use crate::job::{Job, SinkConnector, StateBackendConfig};
use crate::wasm::GuestEngine;

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub metrics: JobMetrics,
    pub elapsed: Duration,
    pub checkpoints: CheckpointStats,
    /// Restarts after task failures.
    pub restarts: u32,
}

/// How a run ended badly.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// The job could not start (a module, a file, a guest's init, a checkpoint).
    #[error("{0:#}")]
    Setup(anyhow::Error),
    /// A task failed and the job does not restart.
    #[error("{error}")]
    Task {
        error: Box<TaskError>,
        metrics: JobMetrics,
        checkpoints: Box<CheckpointStats>,
    },
    /// Tasks failed until the restart strategy gave up.
    #[error(
        "the restart strategy {strategy} gave up after {failures} failures; the last one: {error}"
    )]
    GaveUp {
        strategy: String,
        failures: u32,
        error: Box<TaskError>,
        metrics: JobMetrics,
        checkpoints: Box<CheckpointStats>,
    },
}

/// How one attempt at running the job ended badly.
enum AttemptFailure {
    Setup(anyhow::Error),
    Task {
        error: Box<TaskError>,
        metrics: JobMetrics,
    },
}

/// Load, plan and run `job` to completion, restarting after failures as its
/// restart strategy allows, and calling `on_tick` about once a second with
/// the live counters.
pub fn run_job(
    job: &Job,
    options: &RunOptions,
    mut on_tick: impl FnMut(&JobMetrics, &CheckpointStats, Duration),
) -> Result<JobReport, JobFailure> {
    let engine = GuestEngine::shared().map_err(JobFailure::Setup)?;
    let modules = load_modules(job, &engine, options).map_err(JobFailure::Setup)?;
    let stats = SharedStats::default();
    let mut restarts = RestartTracker::new(&job.restart);
    let started = Instant::now();
    let mut from = options.from_checkpoint.clone();
    loop {
        let restore = find_checkpoint(job, from.as_ref()).map_err(JobFailure::Setup)?;
        stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .restored_from = restore.as_ref().map(|(manifest, _)| manifest.id);
        prepare_sinks(job, restore.as_ref().map(|(m, _)| m)).map_err(JobFailure::Setup)?;
        let attempt = Attempt {
            job,
            modules: &modules,
            options,
            stats: &stats,
            started,
        };
        let failure = match attempt.run(restore.as_ref(), &mut on_tick) {
            Ok(metrics) => {
                return Ok(JobReport {
                    metrics,
                    elapsed: started.elapsed(),
                    checkpoints: snapshot(&stats),
                    restarts: restarts.failures(),
                });
            }
            Err(AttemptFailure::Setup(error)) => return Err(JobFailure::Setup(error)),
            Err(AttemptFailure::Task { error, metrics }) => (error, metrics),
        };
        let (error, metrics) = failure;
        match restarts.after_failure(Instant::now()) {
            Some(delay) => {
                tracing::warn!(
                    "{error}; restarting in {} ({} so far)",
                    humantime::format_duration(delay),
                    restarts.failures()
                );
                std::thread::sleep(delay);
                // The whole job restarts from its latest checkpoint, or from
                // the beginning without checkpoints.
                if job.checkpoints.is_some() {
                    from = Some(FromCheckpoint::Latest);
                }
            }
            None if restarts.failures() == 1 => {
                return Err(JobFailure::Task {
                    error,
                    metrics,
                    checkpoints: Box::new(snapshot(&stats)),
                });
            }
            None => {
                return Err(JobFailure::GaveUp {
                    strategy: restarts.describe(),
                    failures: restarts.failures(),
                    error,
                    metrics,
                    checkpoints: Box::new(snapshot(&stats)),
                });
            }
        }
    }
}

fn snapshot(stats: &SharedStats) -> CheckpointStats {
    stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The checkpoint to restore, checked, with the storage holding it.
fn find_checkpoint(
    job: &Job,
    from: Option<&FromCheckpoint>,
) -> Result<Option<(Manifest, Arc<dyn CheckpointStorage>)>> {
    let found = match from {
        None => return Ok(None),
        Some(FromCheckpoint::Latest) => {
            let config = job.checkpoints.as_ref().with_context(|| {
                "`--from-checkpoint latest` needs a `[checkpoints]` section in the job file, to know where checkpoints are"
            })?;
            let storage = checkpoint::open_storage(config);
            let restorable = storage.latest_restorable(&job.name)?;
            let Some(restorable) = restorable else {
                tracing::warn!(
                    "no complete checkpoint of job `{}` in {}; starting from the beginning",
                    job.name,
                    config.dir.display()
                );
                return Ok(None);
            };
            for refused in &restorable.refused {
                tracing::warn!("{}; trying an older checkpoint", refused.error);
            }
            (restorable.manifest, storage)
        }
        Some(FromCheckpoint::Path(path)) => {
            let (storage, id) = checkpoint::open_checkpoint_at(path).with_context(|| {
                format!(
                    "{} is not a checkpoint folder (named `chk-<number>`)",
                    path.display()
                )
            })?;
            let manifest = storage
                .verified_manifest(id, &job.name)
                .with_context(|| format!("cannot restore from {}", path.display()))?;
            (manifest, storage)
        }
    };
    let (manifest, storage) = found;
    if let Some(part) = manifest
        .operators
        .iter()
        .find(|p| !job.operators.iter().any(|o| o.uid == p.uid))
    {
        bail!(
            "checkpoint {} holds state of operator `{}`, which this job no longer has; restore it with a job that has that operator (its `uid` is what state is kept under)",
            manifest.id,
            part.uid
        );
    }
    tracing::info!("restoring checkpoint {}", manifest.id);
    Ok(Some((manifest, storage)))
}

/// Before a run: exactly-once file sinks publish what the restored
/// checkpoint commits and drop everything staged after it, or start over.
fn prepare_sinks(job: &Job, restore: Option<&Manifest>) -> Result<()> {
    for sink in &job.sinks {
        let SinkConnector::ExactlyOnceFiles(dir) = &sink.connector else {
            continue;
        };
        let result = match restore {
            Some(manifest) => {
                let committed: Vec<String> = manifest
                    .sinks
                    .iter()
                    .filter(|c| c.sink == sink.name)
                    .flat_map(|c| c.files.iter().cloned())
                    .collect();
                staged_file::recover(dir, &committed)
            }
            None => staged_file::prepare_fresh(dir),
        };
        result
            .with_context(|| format!("sink `{}`: cannot prepare {}", sink.name, dir.display()))?;
    }
    Ok(())
}

/// One run of the job's tasks, from a checkpoint or from the beginning.
struct Attempt<'a> {
    job: &'a Job,
    modules: &'a LoadedModules,
    options: &'a RunOptions,
    stats: &'a SharedStats,
    started: Instant,
}

impl Attempt<'_> {
    fn run(
        &self,
        restore: Option<&(Manifest, Arc<dyn CheckpointStorage>)>,
        on_tick: &mut impl FnMut(&JobMetrics, &CheckpointStats, Duration),
    ) -> Result<JobMetrics, AttemptFailure> {
        let job = self.job;
        let requested = Arc::new(AtomicU64::new(0));
        let (acks, ack_rx) = crossbeam_channel::unbounded();
        let scratch = scratch_dir(job);
        let wiring = CheckpointWiring {
            requested: requested.clone(),
            acks,
            scratch: scratch.clone(),
            restore: restore.map(|(manifest, storage)| RestoreSource {
                manifest,
                storage: storage.clone(),
            }),
        };
        let Plan {
            tasks,
            metrics,
            cancelled,
        } = plan(job, self.modules, self.options, &wiring).map_err(AttemptFailure::Setup)?;
        drop(wiring);
        // After planning, so that a state folder that cannot be made is
        // reported by the backend that needs it.
        if job.checkpoints.is_some() {
            std::fs::create_dir_all(&scratch)
                .with_context(|| format!("cannot create {}", scratch.display()))
                .map_err(AttemptFailure::Setup)?;
        }
        let newest = newest_checkpoint_id(job, restore.map(|(m, _)| m.id));
        let mut coordinator =
            Coordinator::new(job, tasks.len(), requested, newest, self.stats.clone());

        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let mut handles = Vec::new();
        for (index, task) in tasks.into_iter().enumerate() {
            let done = done_tx.clone();
            let handle = std::thread::Builder::new()
                .name(task.name.clone())
                .spawn(move || {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task.run));
                    let _ = done.send((index, task.name, result));
                })
                .map_err(|e| AttemptFailure::Setup(anyhow!("cannot start a task thread: {e}")))?;
            handles.push(handle);
        }
        drop(done_tx);

        let mut failure: Option<Box<TaskError>> = None;
        let mut host_panic: Option<String> = None;
        let mut remaining = handles.len();
        let mut last_tick = Instant::now();

        while remaining > 0 {
            let wait = coordinator.next_wakeup(Instant::now());
            select! {
                recv(ack_rx) -> ack => {
                    if let Ok(ack) = ack {
                        acknowledge(&mut coordinator, ack);
                    }
                }
                recv(done_rx) -> done => {
                    let Ok((index, name, result)) = done else { break };
                    remaining -= 1;
                    // The task's last parts were sent before it ended.
                    take_acks(&mut coordinator, &ack_rx);
                    match result {
                        Ok(Ok(())) => coordinator.task_finished(index),
                        Ok(Err(Stop::Cancelled)) => {}
                        Ok(Err(Stop::Failed(error))) => {
                            cancelled.store(true, Ordering::Relaxed);
                            failure.get_or_insert(error);
                        }
                        Err(panic) => {
                            cancelled.store(true, Ordering::Relaxed);
                            let message = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            host_panic.get_or_insert(format!("task {name} panicked: {message}"));
                        }
                    }
                }
                default(wait) => {}
            }
            if failure.is_none() && host_panic.is_none() {
                coordinator.tick(Instant::now());
            }
            if last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                let stats = snapshot(self.stats);
                on_tick(&metrics, &stats, self.started.elapsed());
            }
        }
        for handle in handles {
            let _ = handle.join();
        }
        let _ = std::fs::remove_dir_all(&scratch);
        if let Some(error) = failure {
            return Err(AttemptFailure::Task { error, metrics });
        }
        if let Some(message) = host_panic {
            return Err(AttemptFailure::Setup(anyhow!("internal error: {message}")));
        }
        take_acks(&mut coordinator, &ack_rx);
        coordinator
            .finish()
            .context("the job finished, but its output could not be committed")
            .map_err(AttemptFailure::Setup)?;
        Ok(metrics)
    }
}

/// Hand a task's part to the coordinator; a checkpoint that fails is
/// logged and abandoned, and the job goes on.
fn acknowledge(coordinator: &mut Coordinator, ack: TaskAck) {
    if let Err(error) = coordinator.acknowledge(ack) {
        tracing::warn!("checkpoint failed: {error:#}");
    }
}

/// Every part waiting in `acks` (a finished task sent its last before ending).
fn take_acks(coordinator: &mut Coordinator, acks: &Receiver<TaskAck>) {
    for ack in acks.try_iter() {
        acknowledge(coordinator, ack);
    }
}

/// The newest checkpoint id in the job's checkpoint folder (or restored),
/// so new checkpoints never reuse a number.
fn newest_checkpoint_id(job: &Job, restored: Option<u64>) -> u64 {
    let stored = job
        .checkpoints
        .as_ref()
        .and_then(|c| checkpoint::open_storage(c).ids().ok())
        .and_then(|ids| ids.last().copied());
    stored.unwrap_or(0).max(restored.unwrap_or(0))
}

/// Where operators keep snapshot files until they are written out: next
/// to RocksDB's databases (native checkpoints are hard links, which need
/// the same file system), one folder per run.
fn scratch_dir(job: &Job) -> PathBuf {
    let base = match &job.state {
        StateBackendConfig::RocksDb(config) => config.local_dir.clone(),
        StateBackendConfig::Memory => std::env::temp_dir(),
    };
    base.join(format!(
        "eddy-checkpoint-scratch-{}-{}",
        job.name.replace(['/', '\\', ' '], "_"),
        std::process::id()
    ))
}
