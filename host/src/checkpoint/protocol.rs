//! What travels between tasks and the checkpoint coordinator: the request
//! that starts a checkpoint at the sources, and each task's part of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use crate::connectors::SourcePosition;
use crate::job::CheckpointMode;
use crate::snapshot::OperatorSnapshot;

/// Which checkpoint a task's part belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointTag {
    /// Checkpoint `n`, taken at barrier `n`.
    Barrier(u64),
    /// The task finished: its last source positions and sink files, for the
    /// checkpoint that completes a finished job.
    Final,
}

impl CheckpointTag {
    /// How pending sink files of this checkpoint are named.
    pub fn file_tag(self) -> String {
        match self {
            CheckpointTag::Barrier(id) => format!("{id:012}"),
            CheckpointTag::Final => "end".into(),
        }
    }
}

/// How a task takes part in checkpoints; one per task, cloned from the
/// coordinator's.
#[derive(Debug, Clone)]
pub struct CheckpointHandle {
    /// The newest checkpoint the coordinator asked for (0: none); sources
    /// inject a barrier when it passes the last one they injected.
    pub requested: Arc<AtomicU64>,
    pub acks: Sender<TaskAck>,
    pub mode: CheckpointMode,
    /// Where operators put what their snapshot needs on local disk (RocksDB
    /// checkpoints), until it is written out.
    pub scratch: PathBuf,
    /// This task's index in the plan.
    pub task: usize,
    pub max_parallelism: u32,
}

impl CheckpointHandle {
    /// The checkpoint a source should inject a barrier for, if any.
    pub fn due(&self, last_injected: u64) -> Option<u64> {
        let requested = self.requested.load(Ordering::Acquire);
        (requested > last_injected).then_some(requested)
    }

    /// Send a task's part to the coordinator (gone only when the job is
    /// ending anyway).
    pub fn acknowledge(&self, ack: TaskAck) {
        let _ = self.acks.send(ack);
    }
}

/// One task's part of a checkpoint.
#[derive(Debug)]
pub struct TaskAck {
    pub task: usize,
    pub checkpoint: CheckpointTag,
    pub operators: Vec<OperatorPart>,
    /// Source tasks: where their reader was.
    pub source: Option<SourceState>,
    pub sinks: Vec<SinkCommit>,
    /// How long the task's inputs were blocked waiting for the barrier on
    /// every channel (exactly-once alignment).
    pub alignment: Duration,
    /// How long processing stopped for the snapshot on the task thread.
    pub pause: Duration,
}

/// The snapshot of one operator subtask.
#[derive(Debug)]
pub struct OperatorPart {
    pub uid: String,
    pub subtask: u32,
    pub parallelism: u32,
    /// `[start, end)` of the key groups it owns.
    pub key_groups: (u16, u16),
    pub snapshot: OperatorSnapshot,
}

/// Where one source subtask was when the barrier left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    pub source: String,
    pub subtask: u32,
    pub parallelism: u32,
    pub position: SourcePosition,
    /// The largest event time read so far, so the restored source derives
    /// the same watermarks.
    pub max_timestamp: i64,
}

/// Pending files a two-phase-commit sink publishes when the checkpoint completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkCommit {
    pub sink: String,
    pub files: Vec<String>,
}
