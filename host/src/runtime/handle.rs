//! A running job and what can be asked of it while it runs: tokio's
//! `Runtime`/`Handle` split. [`start_job`](super::executor::start_job)
//! gives back a [`RunningJob`] (the executor's thread, to wait for) whose
//! [`JobHandle`] can be cloned and used from anywhere (the control API,
//! the CLI): take a savepoint, stop with one, cancel, read the live status.
//! The executor serves the commands from a channel between its other work,
//! so a command never races with a checkpoint or a restart.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::executor::{JobFailure, JobReport};
use super::metrics::{JobMetrics, NodeRates, RateSample, RateSampler};
use super::plan::JobGraph;
use super::swap::SwapOrder;
use crate::checkpoint::AfterSavepoint;
use crate::checkpoint::FunctionRecord;
use crate::checkpoint::coordinator::{
    CheckpointStats, SavepointReport, SavepointRequest, SharedStats, SwapReport,
};

/// What the executor is asked to do while the job runs.
#[derive(Debug)]
pub enum JobCommand {
    /// Take a savepoint (and stop after it, if asked).
    Savepoint(SavepointRequest),
    /// Swap an operator's function at a barrier.
    Swap {
        order: SwapOrder,
        reply: Sender<Result<SwapReport, String>>,
    },
    /// Stop every task now; nothing more is committed.
    Cancel,
}

/// Where a job is in its life (Flink's job status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobPhase {
    /// Loading modules, planning, restoring.
    Starting,
    Running,
    /// A task failed; waiting to run again from the latest checkpoint.
    Restarting,
    /// A stopping savepoint is complete; tasks are ending.
    Stopping,
    /// Every input ended and the output is committed.
    Finished,
    /// Stopped after a savepoint (`eddy stop --savepoint`).
    Stopped,
    Cancelled,
    Failed,
}

impl JobPhase {
    /// As the API writes it: `running`, `failed`, ...
    pub fn name(self) -> &'static str {
        match self {
            JobPhase::Starting => "starting",
            JobPhase::Running => "running",
            JobPhase::Restarting => "restarting",
            JobPhase::Stopping => "stopping",
            JobPhase::Finished => "finished",
            JobPhase::Stopped => "stopped",
            JobPhase::Cancelled => "cancelled",
            JobPhase::Failed => "failed",
        }
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobPhase::Finished | JobPhase::Stopped | JobPhase::Cancelled | JobPhase::Failed
        )
    }
}

/// What the executor keeps up to date for handles to read.
#[derive(Debug)]
pub struct JobState {
    pub phase: JobPhase,
    /// The counters of the current attempt (live: they are atomics).
    pub metrics: Option<JobMetrics>,
    pub restarts: u32,
    /// The last task failure, as the user would see it.
    pub last_failure: Option<String>,
    /// The latest failures, oldest first (at most [`FAILURE_HISTORY`]).
    pub failures: VecDeque<FailureRecord>,
    /// Per node of `metrics`: its rates over the last second or so.
    pub rates: Vec<NodeRates>,
    /// Each guest function's module and swap history, as checkpoints
    /// record them now.
    pub functions: Vec<FunctionRecord>,
    /// Makes `rates` from the counters, and keeps their history.
    sampler: RateSampler,
}

impl JobState {
    /// The state of a job that has not started yet.
    pub(super) fn starting() -> Self {
        JobState {
            phase: JobPhase::Starting,
            metrics: None,
            restarts: 0,
            last_failure: None,
            failures: VecDeque::new(),
            rates: Vec::new(),
            functions: Vec::new(),
            sampler: RateSampler::default(),
        }
    }

    /// A failure of the job (of a task, or of its setup), as the user reads it.
    pub(super) fn record_failure(&mut self, message: String) {
        if self.failures.len() == FAILURE_HISTORY {
            self.failures.pop_front();
        }
        self.failures.push_back(FailureRecord {
            at: crate::time::processing_time_now(),
            restart: self.restarts,
            message: message.clone(),
        });
        self.last_failure = Some(message);
    }

    /// Work out the rates since the last sample (about once a second).
    pub(super) fn sample_rates(&mut self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        if let Some(rates) = self.sampler.sample(metrics) {
            self.rates = rates;
        }
    }
}

/// How many failures [`JobState::failures`] keeps.
pub const FAILURE_HISTORY: usize = 100;

/// One failure of a job (Flink's exception history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// When, in ms since the Unix epoch.
    pub at: i64,
    /// How many restarts the job had made before it.
    pub restart: u32,
    /// What failed and why: the operator, the guest's message, the record.
    pub message: String,
}

/// The parts of a job's state shared between the executor and its handles.
#[derive(Debug)]
pub(super) struct Shared {
    /// The job's graph, as planned (it does not change while the job runs).
    pub(super) graph: JobGraph,
    pub(super) state: Mutex<JobState>,
    pub(super) checkpoints: SharedStats,
    pub(super) started: Instant,
    /// Set by [`JobHandle::cancel`], so a cancel that comes while no
    /// attempt runs (a restart's delay) is not lost.
    pub(super) cancel_requested: AtomicBool,
}

impl Shared {
    /// Change the state under its lock.
    pub(super) fn update(&self, change: impl FnOnce(&mut JobState)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A cheap, cloneable way to talk to a running job.
#[derive(Debug, Clone)]
pub struct JobHandle {
    commands: Sender<JobCommand>,
    shared: Arc<Shared>,
}

/// Why a command did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("the job is no longer running")]
    JobEnded,
    #[error("{0}")]
    Refused(String),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// A snapshot of a job's status, for `eddy status` and the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobStatus {
    pub phase: JobPhase,
    pub uptime_ms: u64,
    pub restarts: u32,
    pub last_failure: Option<String>,
    /// Per node (source, operator, sink): records in and out so far.
    pub nodes: Vec<NodeStatus>,
    pub checkpoints: CheckpointStatus,
    /// Every operator with a guest function: its module and swaps.
    #[serde(default)]
    pub functions: Vec<FunctionStatus>,
}

/// An operator's guest function now, and how it got there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionStatus {
    pub operator: String,
    pub kind: String,
    pub module_sha256: String,
    /// The live swaps of its function, oldest first.
    pub swaps: Vec<crate::checkpoint::SwapRecord>,
}

/// One node's counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub role: String,
    pub parallelism: u32,
    pub records_in: u64,
    pub records_out: u64,
    /// Over the last second or so.
    pub records_in_per_second: f64,
    pub records_out_per_second: f64,
    /// Over the last second or so: the share of time the busiest subtask
    /// worked, and the most back-pressured one waited for room downstream.
    #[serde(default)]
    pub busy: f64,
    #[serde(default)]
    pub backpressured: f64,
    /// The lowest watermark of the node's subtasks (ms since the Unix
    /// epoch), once every subtask has one.
    pub watermark: Option<i64>,
}

/// The checkpoint figures of [`CheckpointStats`], as plain data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointStatus {
    pub completed: u64,
    pub failed: u64,
    pub restored_from: Option<u64>,
    pub in_progress: Option<u64>,
    pub last_id: Option<u64>,
    pub last_duration_ms: Option<u64>,
    pub last_bytes: Option<u64>,
    /// Bytes the last checkpoint wrote (less than `last_bytes` when it was
    /// incremental and referred to files written before).
    #[serde(default)]
    pub last_written_bytes: Option<u64>,
}

impl From<&CheckpointStats> for CheckpointStatus {
    fn from(stats: &CheckpointStats) -> Self {
        CheckpointStatus {
            completed: stats.completed,
            failed: stats.failed,
            restored_from: stats.restored_from,
            in_progress: stats.in_progress,
            last_id: stats.last.as_ref().map(|l| l.id),
            last_duration_ms: stats.last.as_ref().map(|l| l.duration.as_millis() as u64),
            last_bytes: stats.last.as_ref().map(|l| l.bytes),
            last_written_bytes: stats.last.as_ref().map(|l| l.written_bytes),
        }
    }
}

impl JobHandle {
    /// A handle and the receiving end the executor serves.
    pub(super) fn new(shared: Arc<Shared>) -> (JobHandle, Receiver<JobCommand>) {
        let (commands, receiver) = crossbeam_channel::unbounded();
        (JobHandle { commands, shared }, receiver)
    }

    /// Take a savepoint into a `savepoint-<id>` folder below `dir`, and
    /// wait (up to `timeout`) until it is complete. With
    /// [`AfterSavepoint::Stop`] the job then stops: sources read nothing
    /// more, sinks publish what the savepoint holds, and the run ends.
    pub fn savepoint(
        &self,
        dir: PathBuf,
        after: AfterSavepoint,
        timeout: Duration,
    ) -> Result<SavepointReport, CommandError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.commands
            .send(JobCommand::Savepoint(SavepointRequest {
                dir,
                after,
                reply,
            }))
            .map_err(|_| CommandError::JobEnded)?;
        wait_for(&answer, timeout)
    }

    /// Swap the function of operator `order.operator` for the module
    /// `order.module` at a barrier, and wait (up to `timeout`) until every
    /// subtask runs it. A refusal (the module, its kind, its state, its
    /// `init`) leaves the job as it was.
    pub fn swap(&self, order: SwapOrder, timeout: Duration) -> Result<SwapReport, CommandError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.commands
            .send(JobCommand::Swap { order, reply })
            .map_err(|_| CommandError::JobEnded)?;
        wait_for(&answer, timeout)
    }

    /// Cancel the job: every task stops at once, nothing more is committed
    /// (exactly-once sinks keep what earlier checkpoints committed).
    pub fn cancel(&self) -> Result<(), CommandError> {
        self.shared.cancel_requested.store(true, Ordering::Relaxed);
        self.commands
            .send(JobCommand::Cancel)
            .map_err(|_| CommandError::JobEnded)
    }

    /// The latest checkpoints, savepoints and swap barriers, oldest first.
    pub fn checkpoint_history(&self) -> Vec<crate::checkpoint::coordinator::BarrierRecord> {
        let stats = self.shared.checkpoints.lock();
        let stats = stats.unwrap_or_else(|e| e.into_inner());
        stats.history.iter().cloned().collect()
    }

    /// The checkpoint figures now.
    pub fn checkpoint_stats(&self) -> CheckpointStats {
        let stats = self.shared.checkpoints.lock();
        stats.unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The latest failures, oldest first.
    pub fn failures(&self) -> Vec<FailureRecord> {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failures.iter().cloned().collect()
    }

    /// The rates of every node about once a second, over the last minutes
    /// (oldest first), and the nodes' names in the samples' order.
    pub fn throughput(&self) -> (Vec<String>, Vec<RateSample>) {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let names = (state.metrics.iter())
            .flat_map(|m| &m.nodes)
            .map(|n| n.name.clone())
            .collect();
        (names, state.sampler.history())
    }

    /// The live counters of the current attempt (none before the first).
    pub fn metrics(&self) -> Option<JobMetrics> {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.metrics.clone()
    }

    /// The job graph the run was planned from.
    pub fn graph(&self) -> &JobGraph {
        &self.shared.graph
    }

    /// The job's status now.
    pub fn status(&self) -> JobStatus {
        let checkpoints = CheckpointStatus::from(
            &*self
                .shared
                .checkpoints
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let nodes = state
            .metrics
            .iter()
            .flat_map(|m| &m.nodes)
            .enumerate()
            .map(|(i, node)| {
                let rates = state.rates.get(i).copied().unwrap_or_default();
                NodeStatus {
                    name: node.name.clone(),
                    role: node.role.name().to_string(),
                    parallelism: node.parallelism,
                    records_in: node.records_in(),
                    records_out: node.records_out(),
                    records_in_per_second: rates.records_in_per_second,
                    records_out_per_second: rates.records_out_per_second,
                    busy: rates.busy,
                    backpressured: rates.backpressured,
                    watermark: node.watermark(),
                }
            })
            .collect();
        JobStatus {
            phase: state.phase,
            uptime_ms: self.shared.started.elapsed().as_millis() as u64,
            restarts: state.restarts,
            last_failure: state.last_failure.clone(),
            nodes,
            checkpoints,
            functions: state
                .functions
                .iter()
                .map(|f| FunctionStatus {
                    operator: f.uid.clone(),
                    kind: f.kind.clone(),
                    module_sha256: f.module_sha256.clone(),
                    swaps: f.swaps.clone(),
                })
                .collect(),
        }
    }
}

/// The answer to a command, within `timeout`.
fn wait_for<T>(answer: &Receiver<Result<T, String>>, timeout: Duration) -> Result<T, CommandError> {
    match answer.recv_timeout(timeout) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(reason)) => Err(CommandError::Refused(reason)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(CommandError::TimedOut(timeout)),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(CommandError::JobEnded),
    }
}

/// A job running on the executor's thread.
#[derive(Debug)]
pub struct RunningJob {
    pub(super) handle: JobHandle,
    pub(super) thread: JoinHandle<Result<JobReport, JobFailure>>,
}

impl RunningJob {
    /// A handle to talk to the job.
    pub fn handle(&self) -> JobHandle {
        self.handle.clone()
    }

    /// Wait until the run is over.
    pub fn wait(self) -> Result<JobReport, JobFailure> {
        self.thread.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(JobFailure::Setup(anyhow::anyhow!(
                "internal error: the executor panicked: {message}"
            )))
        })
    }
}
