//! What travels between tasks and the checkpoint coordinator: the request
//! that starts a checkpoint at the sources, and each task's part of it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use crate::connectors::SplitPosition;
use crate::job::CheckpointMode;
use crate::snapshot::OperatorSnapshot;
use crate::wasm::{FunctionDescriptor, GuestInstance};

/// What a barrier asks of the tasks it passes (Flink's checkpoint types).
/// Every kind is aligned and forwarded the same way; they differ in where
/// the snapshot goes and what the job does after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierKind {
    /// A checkpoint for recovery, kept as long as retention allows.
    Checkpoint,
    /// A savepoint a user asked for: kept until they delete it.
    Savepoint(AfterSavepoint),
    /// A live swap of one operator's function ([`BarrierRequests::swap`]
    /// holds the new instances): always aligned, so the old version sees
    /// exactly the records before it and the new one those after.
    Swap(SwapDurability),
}

impl BarrierKind {
    /// `checkpoint`, `savepoint` or `swap`, in messages and histories.
    pub fn name(self) -> &'static str {
        match self {
            BarrierKind::Checkpoint => "checkpoint",
            BarrierKind::Savepoint(_) => "savepoint",
            BarrierKind::Swap(_) => "swap",
        }
    }
}

/// Whether a swap's barrier is also a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapDurability {
    /// The job has checkpoints: one is taken at the swap's barrier, and
    /// records the new module, so a crash after the swap recovers onto it.
    Checkpointed,
    /// The job has none: nothing is written, and the swap does not survive
    /// a crash or a restart.
    Volatile,
}

/// What the job does once a savepoint is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSavepoint {
    /// Go on running (`eddy savepoint`).
    Continue,
    /// Stop (`eddy stop --savepoint`): sources read nothing after the
    /// barrier, no end-of-input watermark fires timers, sinks publish what
    /// the savepoint holds, and the run ends. If the savepoint fails, the
    /// sources go on reading instead.
    Stop,
}

/// A barrier: everything a producer sent before it belongs to snapshot
/// `id`, nothing after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    pub id: u64,
    pub kind: BarrierKind,
}

impl Barrier {
    /// A plain checkpoint barrier.
    pub fn checkpoint(id: u64) -> Self {
        Barrier {
            id,
            kind: BarrierKind::Checkpoint,
        }
    }

    /// Whether the job stops after this barrier's savepoint completes.
    pub fn stops(&self) -> bool {
        self.kind == BarrierKind::Savepoint(AfterSavepoint::Stop)
    }

    /// Whether tasks snapshot their state and pre-commit their sinks at it
    /// (every barrier but that of a swap without checkpoints).
    pub fn snapshots(&self) -> bool {
        self.kind != BarrierKind::Swap(SwapDurability::Volatile)
    }

    /// Whether inputs are aligned at it whatever the checkpoint mode: a
    /// swap must cut every input at the barrier.
    pub fn always_aligned(&self) -> bool {
        matches!(self.kind, BarrierKind::Swap(_))
    }
}

/// How the coordinator talks to sources: the newest barrier to inject,
/// read between batches, and the verdict on a stopping savepoint, which
/// sources wait for before they stop or read on.
#[derive(Debug, Default)]
pub struct BarrierRequests {
    /// Id of the newest requested barrier (0: none), read without a lock.
    newest: AtomicU64,
    /// Id of the newest completed checkpoint or savepoint (0: none), for
    /// sources that report their progress elsewhere.
    completed: AtomicU64,
    barrier: Mutex<Option<Barrier>>,
    /// The function swap of the newest swap barrier.
    swap: Mutex<Option<Arc<PreparedSwap>>>,
    verdict: Mutex<Option<StopVerdict>>,
    decided: Condvar,
}

/// What became of a stopping savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopVerdict {
    /// Savepoint `id` is complete: stop.
    Stop(u64),
    /// Savepoint `id` failed: read on.
    ReadOn(u64),
}

impl BarrierRequests {
    /// Ask every source to inject `barrier`.
    pub fn request(&self, barrier: Barrier) {
        *lock(&self.barrier) = Some(barrier);
        self.newest.store(barrier.id, Ordering::Release);
    }

    /// Ask every source to inject the barrier of `swap`.
    pub fn request_swap(&self, barrier: Barrier, swap: Arc<PreparedSwap>) {
        *lock(&self.swap) = Some(swap);
        self.request(barrier);
    }

    /// Withdraw the swap of barrier `id` (it failed): subtasks that the
    /// barrier reaches later keep their version. Whether it was still there.
    pub fn withdraw_swap(&self, id: u64) -> bool {
        let mut swap = lock(&self.swap);
        let present = swap.as_ref().is_some_and(|s| s.barrier == id);
        if present {
            *swap = None;
        }
        present
    }

    /// The swap of swap barrier `id`, if it is the newest one.
    pub fn swap(&self, id: u64) -> Option<Arc<PreparedSwap>> {
        lock(&self.swap).clone().filter(|swap| swap.barrier == id)
    }

    /// Note that snapshot `id` completed.
    pub fn complete(&self, id: u64) {
        self.completed.fetch_max(id, Ordering::AcqRel);
    }

    /// Id of the newest completed snapshot (0: none).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Acquire)
    }

    /// Id of the newest requested barrier (0: none).
    pub fn newest(&self) -> u64 {
        self.newest.load(Ordering::Acquire)
    }

    /// The barrier a source should inject, if one is newer than `last_injected`.
    pub fn due(&self, last_injected: u64) -> Option<Barrier> {
        if self.newest() <= last_injected {
            return None;
        }
        (*lock(&self.barrier)).filter(|b| b.id > last_injected)
    }

    /// Tell sources waiting after a stopping savepoint's barrier what to do.
    pub fn decide(&self, verdict: StopVerdict) {
        *lock(&self.verdict) = Some(verdict);
        self.decided.notify_all();
    }

    /// Wait for the verdict on stopping savepoint `id`; `None` if
    /// `cancelled` is set first.
    pub fn await_verdict(&self, id: u64, cancelled: &AtomicBool) -> Option<StopVerdict> {
        let mut verdict = lock(&self.verdict);
        loop {
            match *verdict {
                Some(v @ (StopVerdict::Stop(at) | StopVerdict::ReadOn(at))) if at == id => {
                    return Some(v);
                }
                _ if cancelled.load(Ordering::Relaxed) => return None,
                _ => {
                    verdict = self
                        .decided
                        .wait_timeout(verdict, Duration::from_millis(50))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

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
    /// The barriers the coordinator asks for; sources inject one when it
    /// is newer than the last one they injected.
    pub requests: Arc<BarrierRequests>,
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
    /// The barrier a source should inject, if any.
    pub fn due(&self, last_injected: u64) -> Option<Barrier> {
        self.requests.due(last_injected)
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
    /// The subtasks of a swapped operator in this task, at a swap barrier.
    pub swapped: Vec<SwappedSubtask>,
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
#[serde(from = "SourceStateOnDisk")]
pub struct SourceState {
    pub source: String,
    pub subtask: u32,
    pub parallelism: u32,
    /// Every split the subtask reads, with its position.
    pub splits: Vec<SplitState>,
}

/// One split of a source subtask at a barrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitState {
    #[serde(flatten)]
    pub position: SplitPosition,
    /// The largest event time read from the split so far, so that the
    /// restored split derives the same watermarks.
    pub max_timestamp: i64,
}

/// A source subtask's state as manifests hold it: since format 2 a list of
/// splits; format 1 had one `position` tagged by connector (`{"file":
/// {...}}`), whose tag is the split id of the single-split readers.
#[derive(Deserialize)]
struct SourceStateOnDisk {
    source: String,
    subtask: u32,
    parallelism: u32,
    #[serde(default)]
    splits: Vec<SplitState>,
    #[serde(default)]
    position: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    max_timestamp: Option<i64>,
}

impl From<SourceStateOnDisk> for SourceState {
    fn from(disk: SourceStateOnDisk) -> Self {
        let mut splits = disk.splits;
        for (split, position) in disk.position.into_iter().flatten() {
            splits.push(SplitState {
                position: SplitPosition { split, position },
                max_timestamp: disk.max_timestamp.unwrap_or(i64::MIN),
            });
        }
        SourceState {
            source: disk.source,
            subtask: disk.subtask,
            parallelism: disk.parallelism,
            splits,
        }
    }
}

impl std::fmt::Display for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let splits: Vec<String> = self.splits.iter().map(|s| s.position.to_string()).collect();
        write!(f, "{}", splits.join(", "))
    }
}

/// What a two-phase-commit sink subtask pre-committed at a barrier: its
/// committable, opaque to the coordinator and the manifest, which the
/// sink's [`crate::connectors::commit::Committer`] publishes once the
/// checkpoint is complete (and again on a restore from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SinkCommitOnDisk")]
pub struct SinkCommit {
    pub sink: String,
    pub committable: serde_json::Value,
}

/// A sink commit as manifests hold it: format 1 had only the exactly-once
/// file sink, and its pending `files` in place of a committable.
#[derive(Deserialize)]
struct SinkCommitOnDisk {
    sink: String,
    #[serde(default)]
    committable: Option<serde_json::Value>,
    #[serde(default)]
    files: Option<Vec<String>>,
}

impl From<SinkCommitOnDisk> for SinkCommit {
    fn from(disk: SinkCommitOnDisk) -> Self {
        let committable = disk
            .committable
            .unwrap_or_else(|| serde_json::json!({ "files": disk.files.unwrap_or_default() }));
        SinkCommit {
            sink: disk.sink,
            committable,
        }
    }
}

/// A new version of one operator's function, ready before its barrier is
/// injected: compiled, checked, and instantiated and initialised for every
/// subtask (so a failing `init` refuses the swap before anything changed,
/// and the swap at the barrier is only the exchange of instances).
pub struct PreparedSwap {
    /// The id of its barrier.
    pub barrier: u64,
    /// The operator's uid.
    pub operator: String,
    pub descriptor: FunctionDescriptor,
    /// One initialised instance per subtask, taken by the subtask at the barrier.
    instances: Mutex<Vec<Option<GuestInstance>>>,
}

impl std::fmt::Debug for PreparedSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSwap")
            .field("barrier", &self.barrier)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl PreparedSwap {
    /// The swap of `operator` to `instances` (by subtask) at barrier `barrier`.
    pub fn new(
        barrier: u64,
        operator: String,
        descriptor: FunctionDescriptor,
        instances: Vec<GuestInstance>,
    ) -> Self {
        PreparedSwap {
            barrier,
            operator,
            descriptor,
            instances: Mutex::new(instances.into_iter().map(Some).collect()),
        }
    }

    /// The instance of `subtask` (once).
    pub fn take_instance(&self, subtask: u32) -> Option<GuestInstance> {
        lock(&self.instances).get_mut(subtask as usize)?.take()
    }
}

/// How long one subtask of a swapped operator stopped for the swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwappedSubtask {
    pub subtask: u32,
    /// From the barrier's first arrival at the task (alignment included)
    /// until the task goes on with the next record, on the new instance:
    /// the exchange of instances and, when the swap is also a checkpoint,
    /// the snapshot and the sinks' pre-commit.
    pub pause: Duration,
}
