//! Runs a planned job: one thread per subtask, the checkpoint coordinator
//! on the watching thread, cancellation of everything when one task fails,
//! and restarts from the latest checkpoint as the job's restart strategy
//! allows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use crossbeam_channel::{Receiver, RecvTimeoutError, select};

use super::handle::{JobCommand, JobHandle, JobPhase, JobState, RunningJob, Shared};
use super::metrics::JobMetrics;
use super::plan::JobGraph;
use super::plan::{
    CheckpointWiring, FromCheckpoint, LoadedModules, NonRestoredState, Plan, RestoreSource,
    RunOptions, load_modules, plan,
};
use super::restart::RestartTracker;
use super::swap::{self, held_states, state_records};
use super::task::{Stop, TaskError};
use crate::checkpoint::coordinator::{
    CheckpointStats, Coordinator, SavepointReport, SharedStats, SwapRequest,
};
use crate::checkpoint::{
    self, BarrierRequests, CheckpointStorage, FunctionRecord, Manifest, SnapshotKind, TaskAck,
};
use crate::connectors::{self, commit::Committers, commit::recover_sinks};
use crate::job::{Job, StateBackendConfig};
use crate::runtime::operator::OperatorError;
use crate::wasm::GuestEngine;
use crate::wasm::function_kind_name;
use crate::wasm::versions::{DroppedState, Takeover, check_compatibility};

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub metrics: JobMetrics,
    pub elapsed: Duration,
    pub checkpoints: CheckpointStats,
    /// Restarts after task failures.
    pub restarts: u32,
    /// How the run ended well.
    pub end: JobEnd,
}

/// How a run ended well.
#[derive(Debug, Clone)]
pub enum JobEnd {
    /// Every input ended and the output is committed.
    Finished,
    /// Stopped after this savepoint (`eddy stop --savepoint`).
    Stopped(SavepointReport),
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
    /// Cancelled by request: tasks stopped, nothing more was committed.
    #[error("the job was cancelled")]
    Cancelled {
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
    Cancelled {
        metrics: JobMetrics,
    },
}

/// Start `job` on a thread of its own; the returned [`RunningJob`] gives
/// handles to it and waits for its end. `on_tick` is called about once a
/// second with the live counters (on the job's thread).
pub fn start_job(
    job: Job,
    options: RunOptions,
    mut on_tick: impl FnMut(&JobMetrics, &CheckpointStats, Duration) + Send + 'static,
) -> Result<RunningJob> {
    let shared = new_shared(&job);
    let (handle, commands) = JobHandle::new(shared.clone());
    let thread = std::thread::Builder::new()
        .name(format!("job {}", job.name))
        .spawn(move || execute(&job, &options, &shared, &commands, &mut on_tick))
        .context("cannot start the job's thread")?;
    Ok(RunningJob { handle, thread })
}

/// Load, plan and run `job` to completion on this thread, restarting after
/// failures as its restart strategy allows, and calling `on_tick` about
/// once a second with the live counters. Nothing can talk to it; see
/// [`start_job`] for a job with a handle.
pub fn run_job(
    job: &Job,
    options: &RunOptions,
    mut on_tick: impl FnMut(&JobMetrics, &CheckpointStats, Duration),
) -> Result<JobReport, JobFailure> {
    let shared = new_shared(job);
    let (_handle, commands) = JobHandle::new(shared.clone());
    execute(job, options, &shared, &commands, &mut on_tick)
}

fn new_shared(job: &Job) -> Arc<Shared> {
    Arc::new(Shared {
        graph: JobGraph::of(job),
        state: Mutex::new(JobState::starting()),
        checkpoints: SharedStats::default(),
        started: Instant::now(),
        cancel_requested: AtomicBool::new(false),
    })
}

/// The executor: runs attempts until the job ends, serving `commands`.
fn execute(
    job: &Job,
    options: &RunOptions,
    shared: &Arc<Shared>,
    commands: &Receiver<JobCommand>,
    on_tick: &mut dyn FnMut(&JobMetrics, &CheckpointStats, Duration),
) -> Result<JobReport, JobFailure> {
    let result = execute_attempts(job, options, shared, commands, on_tick);
    let phase = match &result {
        Ok(JobReport {
            end: JobEnd::Finished,
            ..
        }) => JobPhase::Finished,
        Ok(JobReport {
            end: JobEnd::Stopped(_),
            ..
        }) => JobPhase::Stopped,
        Err(JobFailure::Cancelled { .. }) => JobPhase::Cancelled,
        Err(_) => JobPhase::Failed,
    };
    shared.update(|state| {
        state.phase = phase;
        if let Err(JobFailure::Setup(error)) = &result {
            state.record_failure(format!("{error:#}"));
        }
    });
    // Commands that came too late get a closed channel, not silence.
    for command in commands.try_iter() {
        match command {
            JobCommand::Savepoint(request) => {
                let _ = request
                    .reply
                    .send(Err("the job ended before the savepoint could start".into()));
            }
            JobCommand::Swap { reply, .. } => {
                let _ = reply.send(Err("the job ended before the swap could start".into()));
            }
            JobCommand::Cancel => {}
        }
    }
    result
}

fn execute_attempts(
    job: &Job,
    options: &RunOptions,
    shared: &Arc<Shared>,
    commands: &Receiver<JobCommand>,
    on_tick: &mut dyn FnMut(&JobMetrics, &CheckpointStats, Duration),
) -> Result<JobReport, JobFailure> {
    let engine = GuestEngine::shared().map_err(JobFailure::Setup)?;
    let modules = load_modules(job, &engine, options).map_err(JobFailure::Setup)?;
    let stats = shared.checkpoints.clone();
    // One for the whole run: a restart within this process can still
    // commit what the failed attempt pre-committed.
    let committers = connectors::committers(job, |sink| {
        shared.graph.node(sink).map_or(1, |node| node.parallelism)
    })
    .map_err(JobFailure::Setup)?;
    let mut restarts = RestartTracker::new(&job.restart);
    let started = Instant::now();
    let mut from = options.from_checkpoint.clone();
    // Checkpoints this run takes get ids from here on.
    let mut first_own_id = None;
    loop {
        let restore = find_checkpoint(job, from.as_ref(), options.non_restored_state)
            .map_err(JobFailure::Setup)?;
        // The modules this attempt runs: those a restored snapshot had
        // swapped to, checked against the state it holds.
        let running_modules = match &restore {
            Some((manifest, storage)) => {
                let location = storage.location(manifest.id);
                modules
                    .restored(manifest, &location, &engine)
                    .and_then(|restored| {
                        check_restored_states(manifest, &restored, options.non_restored_state)?;
                        Ok(restored)
                    })
                    .map_err(JobFailure::Setup)?
            }
            None => modules.clone(),
        };
        first_own_id.get_or_insert_with(|| {
            newest_checkpoint_id(job, restore.as_ref().map(|(m, _)| m.id)) + 1
        });
        stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .restored_from = restore.as_ref().map(|(manifest, _)| manifest.id);
        let restored_commits = restore.as_ref().map(|(m, _)| m.sinks.as_slice());
        recover_sinks(&committers, restored_commits).map_err(JobFailure::Setup)?;
        let attempt = Attempt {
            committers: &committers,
            job,
            modules: &running_modules,
            engine: &engine,
            options,
            stats: &stats,
            shared,
            commands,
            started,
        };
        let failure = match attempt.run(restore.as_ref(), on_tick) {
            Ok((metrics, end)) => {
                return Ok(JobReport {
                    metrics,
                    elapsed: started.elapsed(),
                    checkpoints: snapshot(&stats),
                    restarts: restarts.failures(),
                    end,
                });
            }
            Err(AttemptFailure::Setup(error)) => return Err(JobFailure::Setup(error)),
            Err(AttemptFailure::Cancelled { metrics }) => {
                return Err(JobFailure::Cancelled {
                    metrics,
                    checkpoints: Box::new(snapshot(&stats)),
                });
            }
            Err(AttemptFailure::Task { error, metrics }) => (error, metrics),
        };
        let (error, metrics) = failure;
        shared.update(|state| state.record_failure(error.to_string()));
        match restarts.after_failure(Instant::now()) {
            Some(delay) => {
                tracing::warn!(
                    "{error}; restarting in {} ({} so far)",
                    humantime::format_duration(delay),
                    restarts.failures()
                );
                shared.update(|state| {
                    state.phase = JobPhase::Restarting;
                    state.restarts = restarts.failures();
                });
                if wait_for_restart(delay, shared, commands) == Waited::Cancelled {
                    return Err(JobFailure::Cancelled {
                        metrics,
                        checkpoints: Box::new(snapshot(&stats)),
                    });
                }
                // The whole job restarts from its latest checkpoint, or from
                // where it started (the beginning, or what it restored).
                from = Some(FromCheckpoint::Restart {
                    since: first_own_id.unwrap_or(1),
                    initial: options.from_checkpoint.clone().map(Box::new),
                });
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

/// How the delay before a restart ended.
#[derive(Debug, PartialEq, Eq)]
enum Waited {
    Elapsed,
    Cancelled,
}

/// Sleep `delay` before a restart, answering commands meanwhile: a cancel
/// ends the wait (and the job), a savepoint is refused.
fn wait_for_restart(delay: Duration, shared: &Shared, commands: &Receiver<JobCommand>) -> Waited {
    let until = Instant::now() + delay;
    loop {
        if shared.cancel_requested.load(Ordering::Relaxed) {
            return Waited::Cancelled;
        }
        match commands.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(JobCommand::Cancel) => return Waited::Cancelled,
            Ok(JobCommand::Savepoint(request)) => {
                let _ = request.reply.send(Err(
                    "the job is restarting after a failure; try again when it runs".into(),
                ));
            }
            Ok(JobCommand::Swap { reply, .. }) => {
                let _ = reply.send(Err(
                    "the job is restarting after a failure; try again when it runs".into(),
                ));
            }
            Err(RecvTimeoutError::Timeout) => return Waited::Elapsed,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                return Waited::Elapsed;
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
    non_restored: NonRestoredState,
) -> Result<Option<(Manifest, Arc<dyn CheckpointStorage>)>> {
    let found = match from {
        None => return Ok(None),
        Some(FromCheckpoint::Restart { since, initial }) => {
            match own_latest_checkpoint(job, *since)? {
                Some(found) => found,
                None if initial.is_none() => {
                    tracing::warn!(
                        "job `{}` has taken no complete checkpoint since it started; starting from the beginning",
                        job.name
                    );
                    return Ok(None);
                }
                None => return find_checkpoint(job, initial.as_deref(), non_restored),
            }
        }
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
                    "{} is not a checkpoint or savepoint folder (named `chk-<number>` or `savepoint-<number>`)",
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
    let what = match manifest.kind {
        SnapshotKind::Checkpoint => "checkpoint",
        SnapshotKind::Savepoint => "savepoint",
    };
    if let Some(taken_with) = manifest.max_parallelism
        && taken_with != job.max_parallelism
    {
        bail!(
            "{what} {} was taken with max_parallelism = {taken_with}, and this job has {}: keyed state is partitioned into max_parallelism key groups, which is fixed for the life of a job; set `max_parallelism = {taken_with}` in `[job]`",
            manifest.id,
            job.max_parallelism
        );
    }
    if let Some(part) = manifest
        .operators
        .iter()
        .find(|p| !job.operators.iter().any(|o| o.uid == p.uid))
    {
        match non_restored {
            NonRestoredState::Refuse => bail!(
                "{what} {} holds state of operator `{}`, which this job no longer has; restore it with a job that has that operator (its `uid` is what state is kept under), or pass --allow-non-restored-state to start without that state",
                manifest.id,
                part.uid
            ),
            NonRestoredState::Drop => tracing::warn!(
                "{what} {} holds state of operator `{}`, which this job no longer has: it is not restored (--allow-non-restored-state)",
                manifest.id,
                part.uid
            ),
        }
    }
    tracing::info!("restoring {what} {}", manifest.id);
    Ok(Some((manifest, storage)))
}

/// Refuse a restore where the module cannot take over the snapshot's
/// state (the rules of `wasm::versions`: a
/// state whose kind changed, a version without a migration, a dropped
/// state without `--allow-non-restored-state`).
fn check_restored_states(
    manifest: &Manifest,
    modules: &LoadedModules,
    non_restored: NonRestoredState,
) -> Result<()> {
    let what = match manifest.kind {
        SnapshotKind::Checkpoint => "checkpoint",
        SnapshotKind::Savepoint => "savepoint",
    };
    let dropped = match non_restored {
        NonRestoredState::Refuse => DroppedState::Refuse,
        NonRestoredState::Drop => DroppedState::Allow,
    };
    for recorded in &manifest.functions {
        let Some(module) = modules.operator(&recorded.uid) else {
            continue;
        };
        let held = held_states(recorded).map_err(|e| anyhow!("{what} {}: {e}", manifest.id))?;
        let snapshot = format!("{what} {}", manifest.id);
        let path = module.path.display().to_string();
        let takeover = Takeover::Restore {
            snapshot: &snapshot,
            module: &path,
        };
        check_compatibility(
            &held,
            takeover,
            module.descriptor.kind,
            &module.descriptor.states,
            dropped,
        )
        .map_err(|incompatible| {
            anyhow!(
                "operator `{}`: cannot restore {snapshot}: {incompatible}",
                recorded.uid
            )
        })?;
    }
    Ok(())
}

/// What manifests record about the job's guest functions, and the modules
/// of swapped ones (stored with every snapshot), by SHA-256.
fn function_records(
    job: &Job,
    modules: &LoadedModules,
) -> (
    Vec<FunctionRecord>,
    std::collections::HashMap<String, Arc<Vec<u8>>>,
) {
    let mut swapped_modules = std::collections::HashMap::new();
    let records = job
        .operators
        .iter()
        .filter_map(|op| {
            let module = modules.operator(&op.uid)?;
            let swapped = modules.swapped(&op.uid);
            if let Some(swapped) = swapped {
                swapped_modules.insert(module.sha256.clone(), swapped.bytes.clone());
            }
            Some(FunctionRecord {
                uid: op.uid.clone(),
                module_sha256: module.sha256.clone(),
                kind: function_kind_name(module.descriptor.kind).to_string(),
                states: state_records(&module.descriptor),
                config: swapped.and_then(|s| s.config.clone()),
                swaps: swapped.map(|s| s.swaps.clone()).unwrap_or_default(),
            })
        })
        .collect();
    (records, swapped_modules)
}

/// The newest complete checkpoint of `job` with an id of at least `since`
/// (one this run took), if any.
fn own_latest_checkpoint(
    job: &Job,
    since: u64,
) -> Result<Option<(Manifest, Arc<dyn CheckpointStorage>)>> {
    let Some(config) = &job.checkpoints else {
        return Ok(None);
    };
    let storage = checkpoint::open_storage(config);
    for id in storage.ids()?.into_iter().rev().filter(|&id| id >= since) {
        match storage.verified_manifest(id, &job.name) {
            Ok(manifest) => return Ok(Some((manifest, storage))),
            Err(error) => tracing::warn!("{error}; trying an older checkpoint"),
        }
    }
    Ok(None)
}

/// Whether checkpoint `id` of `storage` is one of the job's own checkpoints
/// (not one from another folder, `--from-checkpoint PATH`): only then can
/// the job's next incremental checkpoint refer to its shared files.
fn restores_own_checkpoint(job: &Job, id: u64, storage: &dyn CheckpointStorage) -> bool {
    let Some(config) = &job.checkpoints else {
        return false;
    };
    let own = checkpoint::open_storage(config).location(id);
    let restored = storage.location(id);
    let canonical = |path: &Path| std::fs::canonicalize(path).ok();
    canonical(&own).is_some() && canonical(&own) == canonical(&restored)
}

/// One run of the job's tasks, from a checkpoint or from the beginning.
struct Attempt<'a> {
    job: &'a Job,
    /// The committers of two-phase-commit sinks, for the whole run.
    committers: &'a Committers,
    modules: &'a LoadedModules,
    engine: &'a GuestEngine,
    options: &'a RunOptions,
    stats: &'a SharedStats,
    shared: &'a Arc<Shared>,
    commands: &'a Receiver<JobCommand>,
    started: Instant,
}

impl Attempt<'_> {
    fn run(
        &self,
        restore: Option<&(Manifest, Arc<dyn CheckpointStorage>)>,
        on_tick: &mut dyn FnMut(&JobMetrics, &CheckpointStats, Duration),
    ) -> Result<(JobMetrics, JobEnd), AttemptFailure> {
        let job = self.job;
        let requests = Arc::new(BarrierRequests::default());
        let (acks, ack_rx) = crossbeam_channel::unbounded();
        let scratch = scratch_dir(job);
        let wiring = CheckpointWiring {
            requests: requests.clone(),
            acks,
            scratch: scratch.clone(),
            restore: restore.map(|(manifest, storage)| RestoreSource {
                manifest,
                storage: storage.clone(),
                scratch: scratch.clone(),
            }),
            committers: self.committers,
        };
        let Plan {
            tasks,
            metrics,
            cancelled,
        } = plan(job, &self.shared.graph, self.modules, self.options, &wiring)
            .map_err(AttemptFailure::Setup)?;
        drop(wiring);
        // After planning, so that a state folder that cannot be made is
        // reported by the backend that needs it. Jobs without checkpoints
        // need it too, for savepoints.
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))
            .map_err(AttemptFailure::Setup)?;
        let newest = newest_checkpoint_id(job, restore.map(|(m, _)| m.id));
        let (functions, swapped_modules) = function_records(job, self.modules);
        let mut coordinator = Coordinator::new(
            job,
            tasks.len(),
            requests,
            newest,
            self.stats.clone(),
            self.committers.clone(),
        );
        if let Some((manifest, storage)) = restore
            && restores_own_checkpoint(job, manifest.id, storage.as_ref())
        {
            coordinator = coordinator.restoring(manifest);
        }
        let mut coordinator = coordinator
            .with_functions(functions, swapped_modules)
            .on_functions_changed({
                let shared = self.shared.clone();
                Box::new(move |functions| {
                    let functions = functions.to_vec();
                    shared.update(|state| state.functions = functions);
                })
            });
        self.shared.update(|state| {
            state.phase = JobPhase::Running;
            state.metrics = Some(metrics.clone());
            state.functions = coordinator.functions().to_vec();
        });
        let never = crossbeam_channel::never();
        let mut commands = self.commands;
        let mut cancelled_by_request = false;
        if self.shared.cancel_requested.load(Ordering::Relaxed) {
            cancelled.store(true, Ordering::Relaxed);
            cancelled_by_request = true;
        }

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
                        if coordinator.stopped_at().is_some() {
                            self.shared.update(|state| state.phase = JobPhase::Stopping);
                        }
                    }
                }
                recv(commands) -> command => match command {
                    Ok(JobCommand::Savepoint(request)) => coordinator.savepoint(request),
                    Ok(JobCommand::Swap { order, reply }) => {
                        let running = coordinator.function(&order.operator);
                        let side_outputs = (self.modules.operator(&order.operator))
                            .map(|m| m.descriptor.side_outputs.as_slice());
                        match swap::prepare(&order, job, running, side_outputs, self.engine) {
                            Ok(swap) => coordinator.swap(SwapRequest { swap, reply }),
                            Err(refusal) => {
                                tracing::warn!("{refusal}");
                                let _ = reply.send(Err(refusal));
                            }
                        }
                    }
                    Ok(JobCommand::Cancel) => {
                        tracing::info!("cancelling the job, as requested");
                        cancelled.store(true, Ordering::Relaxed);
                        cancelled_by_request = true;
                    }
                    // No handle is left: nothing can ask any more.
                    Err(_) => commands = &never,
                },
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
            if let Some(reason) = coordinator.take_split_swap() {
                cancelled.store(true, Ordering::Relaxed);
                failure.get_or_insert(Box::new(TaskError {
                    node: "a live swap".into(),
                    subtask: 1,
                    parallelism: 1,
                    error: OperatorError::Record(reason),
                }));
            }
            if last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                self.shared.update(JobState::sample_rates);
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
        if cancelled_by_request {
            return Err(AttemptFailure::Cancelled { metrics });
        }
        take_acks(&mut coordinator, &ack_rx);
        coordinator
            .finish()
            .context("the job finished, but its output could not be committed")
            .map_err(AttemptFailure::Setup)?;
        let end = match coordinator.stopped_at() {
            Some(savepoint) => JobEnd::Stopped(savepoint.clone()),
            None => JobEnd::Finished,
        };
        Ok((metrics, end))
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
pub fn newest_checkpoint_id(job: &Job, restored: Option<u64>) -> u64 {
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
