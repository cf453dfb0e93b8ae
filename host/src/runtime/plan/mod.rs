//! From a validated job to runnable tasks: load and check every module,
//! chain operators, wire exchanges and sinks, instantiate guests per subtask,
//! and restore them from a checkpoint.
//!
//! Chaining follows Flink: a stateless operator with the parallelism of its
//! input runs in its input's task; a keyed operator, or a change of
//! parallelism, starts a new task group behind an exchange. Sinks run in the
//! task of their input.

mod build;
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
use crate::checkpoint::TaskAck;

pub use build::plan;
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
}

/// Which checkpoint `eddy run --from-checkpoint` restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromCheckpoint {
    /// The newest complete checkpoint in the job's checkpoint folder
    /// (the beginning if there is none).
    Latest,
    /// The checkpoint in this folder (a `chk-<n>` folder).
    Path(std::path::PathBuf),
}

/// How the tasks of a run reach the checkpoint coordinator.
pub struct CheckpointWiring<'a> {
    pub requested: Arc<std::sync::atomic::AtomicU64>,
    pub acks: Sender<TaskAck>,
    pub scratch: std::path::PathBuf,
    pub restore: Option<RestoreSource<'a>>,
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
