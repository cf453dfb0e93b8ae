//! From a validated job to runnable tasks, one concern per step: `graph`
//! (pure: which nodes chain into task groups, and the edges between them
//! with their partitioning), `modules` (load and check every module),
//! `build` (a chain per task group and subtask, wired as the graph says,
//! guests instantiated) and `restore` (checkpoint state into sources and
//! operators).

mod build;
pub mod graph;
mod modules;
mod restore;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use crossbeam_channel::Sender;

use super::metrics::JobMetrics;
use super::operator::Operator;
use super::task::Stop;
use crate::checkpoint::{BarrierRequests, TaskAck};
use crate::job::Job;

pub use graph::JobGraph;
pub use modules::{LoadedModules, load_modules};
pub use restore::RestoreSource;

/// Makes the native-Rust twin of an operator for one subtask (benchmarks).
pub type NativeOperatorFactory = Arc<dyn Fn(u32) -> Box<dyn Operator> + Send + Sync>;

/// Options of one run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Operators (by uid) to run as native Rust instead of their module.
    pub native_operators: HashMap<String, NativeOperatorFactory>,
    /// Where to restore the job from, if not from the beginning.
    pub from_checkpoint: Option<FromCheckpoint>,
    /// What to do with state of operators the job no longer has.
    pub non_restored_state: NonRestoredState,
}

/// State in a checkpoint or savepoint for an operator the job no longer
/// has (Flink's `--allowNonRestoredState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonRestoredState {
    /// Refuse to start: the operator's `uid` may have been changed by mistake.
    #[default]
    Refuse,
    /// Start without it (`--allow-non-restored-state`).
    Drop,
}

/// Which checkpoint `eddy run --from-checkpoint` restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromCheckpoint {
    /// The newest complete checkpoint in the job's checkpoint folder
    /// (the beginning if there is none).
    Latest,
    /// The checkpoint or savepoint in this folder (a `chk-<n>` or
    /// `savepoint-<n>` folder).
    Path(std::path::PathBuf),
    /// After a failure: the newest complete checkpoint this run took (ids
    /// from `since` on), else where the run started (`initial`); never a
    /// checkpoint an earlier run left in the folder.
    Restart {
        since: u64,
        initial: Option<Box<FromCheckpoint>>,
    },
}

/// How the tasks of a run reach the checkpoint coordinator.
pub struct CheckpointWiring<'a> {
    pub requests: Arc<BarrierRequests>,
    pub acks: Sender<TaskAck>,
    pub scratch: std::path::PathBuf,
    pub restore: Option<RestoreSource<'a>>,
    /// The committers of two-phase-commit sinks, which make their
    /// subtasks' writers.
    pub committers: &'a crate::connectors::commit::Committers,
}

/// A task ready to run on a thread of its own.
pub struct PlannedTask {
    pub name: String,
    pub run: Box<dyn FnOnce() -> Result<(), Stop> + Send>,
}

/// Everything needed to run a job.
pub struct Plan {
    pub tasks: Vec<PlannedTask>,
    pub metrics: JobMetrics,
    pub cancelled: Arc<AtomicBool>,
}

/// Build the tasks of `job` as its `graph` (`JobGraph::of(job)`) says
/// (chaining and wiring), restored from `checkpoints.restore` if set.
pub fn plan(
    job: &Job,
    graph: &JobGraph,
    modules: &LoadedModules,
    options: &RunOptions,
    checkpoints: &CheckpointWiring<'_>,
) -> Result<Plan> {
    build::build_tasks(job, graph, modules, options, checkpoints)
}
