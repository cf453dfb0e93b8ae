//! The checkpoint coordinator (Flink's `CheckpointCoordinator`): starts
//! checkpoints on an interval, collects every task's part, writes the state
//! files, completes a checkpoint with its manifest once every task has
//! acknowledged, and then lets two-phase-commit sinks publish.
//!
//! It runs on the thread that watches the job (the executor's), so writing
//! state files never stops a task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use super::incremental::SharedFiles;
use super::manifest::{OperatorFile, SnapshotKind};
use super::protocol::{SinkCommit, SourceState};
use super::state_file;
use super::{
    AfterSavepoint, Barrier, BarrierKind, BarrierRequests, CheckpointStorage, CheckpointTag,
    EDDY_VERSION, FORMAT_VERSION, FunctionRecord, Manifest, PreparedSwap, StateFile, StopVerdict,
    SwapDurability, SwapRecord, SwappedSubtask, TaskAck, open_savepoint_storage, open_storage,
};
use crate::connectors::commit::{Committers, publish_commits};
use crate::job::{CheckpointConfig, Job, SourceConnector};
use crate::time::processing_time_now;

/// What the progress display and summary show about checkpoints.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    pub completed: u64,
    /// Abandoned: timed out, or a task finished before taking part.
    pub failed: u64,
    /// The checkpoint the run started from, if any.
    pub restored_from: Option<u64>,
    pub in_progress: Option<u64>,
    pub last: Option<CompletedCheckpoint>,
    /// The longest a task stopped processing for a snapshot, over all
    /// checkpoints of the run.
    pub longest_pause: Duration,
    /// The longest alignment, over all checkpoints of the run.
    pub longest_alignment: Duration,
    /// The latest barriers (checkpoints, savepoints, swaps), oldest first,
    /// at most [`HISTORY_LENGTH`] (Flink's checkpoint history).
    pub history: std::collections::VecDeque<BarrierRecord>,
}

/// How many barriers [`CheckpointStats::history`] keeps.
pub const HISTORY_LENGTH: usize = 100;

/// One checkpoint, savepoint or swap barrier of a job, for its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarrierRecord {
    pub id: u64,
    /// `checkpoint`, `savepoint` or `swap`.
    pub kind: String,
    /// Why it was abandoned; `None` when it completed.
    pub failure: Option<String>,
    /// When it started, in ms since the Unix epoch.
    pub started_at: i64,
    pub duration_ms: u64,
    /// Bytes of state it holds (completed ones).
    pub bytes: u64,
    /// Bytes written for it (less than `bytes` when incremental).
    pub written_bytes: u64,
    /// Longest alignment and longest snapshot pause of any task.
    pub alignment_ms: u64,
    pub pause_ms: u64,
}

impl CheckpointStats {
    fn remember(&mut self, record: BarrierRecord) {
        if self.history.len() == HISTORY_LENGTH {
            self.history.pop_front();
        }
        self.history.push_back(record);
    }
}

/// Figures of one completed checkpoint.
#[derive(Debug, Clone)]
pub struct CompletedCheckpoint {
    pub id: u64,
    /// From the request to the manifest.
    pub duration: Duration,
    /// Bytes of state it holds, including shared files it refers to.
    pub bytes: u64,
    /// Bytes written for it: all of them, or for an incremental
    /// checkpoint, those not held by the one before.
    pub written_bytes: u64,
    /// Longest alignment of any task.
    pub alignment: Duration,
    /// Longest pause of any task for its snapshot.
    pub pause: Duration,
    pub completed_at: Instant,
}

/// A user's request for a savepoint, with where to answer.
#[derive(Debug)]
pub struct SavepointRequest {
    /// The folder the savepoint's own folder (`savepoint-<id>`) goes into.
    pub dir: PathBuf,
    pub after: AfterSavepoint,
    pub reply: Sender<Result<SavepointReport, String>>,
}

/// A completed savepoint, as the CLI and the control API report it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavepointReport {
    pub id: u64,
    /// The savepoint's folder: what `--from-savepoint` takes.
    pub path: PathBuf,
    /// Bytes of its state files.
    pub bytes: u64,
    /// From the request to the manifest, in milliseconds.
    pub duration_ms: u64,
    /// Where every source subtask was at the barrier.
    pub sources: Vec<SourceState>,
    /// Whether the job stops now (`eddy stop --savepoint`).
    pub stopped: bool,
}

/// A live swap, checked and with its instances ready, waiting for its barrier.
#[derive(Debug)]
pub struct SwapRequest {
    pub swap: PreparedSwapParts,
    pub reply: Sender<Result<SwapReport, String>>,
}

/// What a swap brings: the new instances and how manifests record the new
/// function (the swap itself is appended to its history at the barrier).
pub struct PreparedSwapParts {
    pub operator: String,
    pub descriptor: crate::wasm::FunctionDescriptor,
    pub instances: Vec<crate::wasm::GuestInstance>,
    /// The function record after the swap, without this swap in `swaps`.
    pub record: FunctionRecord,
    /// The new module's bytes, stored with every snapshot from now on.
    pub module: Arc<Vec<u8>>,
    /// The file it was read from.
    pub module_path: PathBuf,
    /// What becomes of each state, for the answer (`count: migrated from version 1`).
    pub state_changes: Vec<String>,
}

impl std::fmt::Debug for PreparedSwapParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSwapParts")
            .field("operator", &self.operator)
            .field("module_path", &self.module_path)
            .finish_non_exhaustive()
    }
}

/// A completed live swap, as the CLI and the control API report it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwapReport {
    /// The id of the swap's barrier: records before it went to the old
    /// version, records after it to the new one.
    pub barrier: u64,
    pub operator: String,
    pub module_sha256: String,
    pub previous_sha256: String,
    /// Where every source subtask was at the barrier.
    pub sources: Vec<SourceState>,
    /// How long each subtask of the operator stopped: from the barrier's
    /// first arrival (alignment included) until it goes on with the next
    /// record on the new instance (its snapshot included, when the swap is
    /// also a checkpoint).
    pub subtasks: Vec<SubtaskPause>,
    /// The checkpoint taken at the swap's barrier, which records the new
    /// module: `None` when the job has no checkpoints, and the swap will
    /// not survive a crash or a restart.
    pub checkpoint: Option<u64>,
    /// What became of each state of the function.
    pub states: Vec<String>,
    /// From the request reaching the coordinator to the answer, in milliseconds.
    pub duration_ms: u64,
}

/// One subtask's pause for a swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskPause {
    /// 0-based.
    pub subtask: u32,
    pub pause_us: u64,
}

/// Who waits for the checkpoint, savepoint or swap in flight.
enum Reply {
    /// A periodic checkpoint: nobody.
    Nobody,
    Savepoint(Sender<Result<SavepointReport, String>>),
    Swap {
        reply: Sender<Result<SwapReport, String>>,
        record: FunctionRecord,
        module_path: PathBuf,
        state_changes: Vec<String>,
        /// How many subtasks the operator has.
        parallelism: usize,
    },
}

/// What waits for the checkpoint in flight to end.
#[derive(Debug)]
enum Waiting {
    Savepoint(SavepointRequest),
    Swap(Box<SwapRequest>),
}

/// Savepoints time out after this long when the job has no
/// `[checkpoints]` timeout of its own.
const SAVEPOINT_TIMEOUT: Duration = Duration::from_secs(600);

/// The shared view of [`CheckpointStats`].
pub type SharedStats = Arc<Mutex<CheckpointStats>>;

/// Who is told what manifests record about the job's functions whenever a
/// swap changes it (the job's live status).
pub type FunctionsObserver = Box<dyn Fn(&[FunctionRecord]) + Send>;

/// A checkpoint or savepoint collecting acknowledgements.
struct InFlight {
    id: u64,
    kind: BarrierKind,
    /// Where its files go: the job's checkpoints, or a savepoint folder
    /// (none for a swap of a job without checkpoints).
    storage: Option<Arc<dyn CheckpointStorage>>,
    /// Who asked for it.
    reply: Reply,
    /// The subtasks that switched to a swap's new version.
    swapped: Vec<SwappedSubtask>,
    started: Instant,
    acked: Vec<bool>,
    files: Vec<StateFile>,
    /// Shared files it refers to (incremental checkpoints).
    shared: Vec<StateFile>,
    /// Bytes of shared files written for it (the rest were there).
    uploaded: u64,
    operators: Vec<OperatorFile>,
    sources: Vec<SourceState>,
    sinks: Vec<SinkCommit>,
    alignment: Duration,
    pause: Duration,
}

impl InFlight {
    /// Its history entry so far (no bytes), with `failure` if abandoned.
    fn record(&self, failure: Option<String>) -> BarrierRecord {
        let elapsed = self.started.elapsed();
        BarrierRecord {
            id: self.id,
            kind: self.kind.name().to_string(),
            failure,
            started_at: processing_time_now() - elapsed.as_millis() as i64,
            duration_ms: elapsed.as_millis() as u64,
            bytes: 0,
            written_bytes: 0,
            alignment_ms: self.alignment.as_millis() as u64,
            pause_ms: self.pause.as_millis() as u64,
        }
    }
}

/// Starts, collects and completes the checkpoints of one run.
pub struct Coordinator {
    job: String,
    max_parallelism: u32,
    /// What every manifest records about the job's guest functions.
    functions: Vec<FunctionRecord>,
    /// The modules of swapped functions by SHA-256, stored with every snapshot.
    swapped_modules: HashMap<String, Arc<Vec<u8>>>,
    /// A swap that did not reach every subtask of its operator: the job
    /// must restart, so that all subtasks run one version.
    split_swap: Option<String>,
    /// Told of every change to `functions`, before the swap's answer goes
    /// out, so whoever sees the answer sees the new history too.
    on_functions_changed: Option<FunctionsObserver>,
    /// A source that cannot be read again from a position (stdin), if the
    /// job has one: its snapshots could never be restored.
    unrereadable_source: Option<String>,
    config: Option<CheckpointConfig>,
    storage: Option<Arc<dyn CheckpointStorage>>,
    /// The committers of two-phase-commit sinks, by sink name.
    committers: Committers,
    requests: Arc<BarrierRequests>,
    tasks: usize,
    next_id: u64,
    in_flight: Option<InFlight>,
    /// A savepoint or swap asked for while a checkpoint was in flight.
    waiting: Option<Waiting>,
    /// The stopping savepoint the job stopped at.
    stopped_at: Option<SavepointReport>,
    /// When the last checkpoint started, and when the last one ended.
    last_started: Instant,
    last_ended: Option<Instant>,
    /// The SST files the newest complete checkpoint holds, which the next
    /// incremental one refers to.
    shared_files: SharedFiles,
    /// A task finished: no checkpoint can include it any more.
    any_task_finished: bool,
    finished: Vec<bool>,
    /// The parts of tasks that finished, for the final checkpoint.
    final_parts: Vec<TaskAck>,
    stats: SharedStats,
}

impl Coordinator {
    /// The coordinator of a run of `job` with `tasks` tasks, numbering
    /// checkpoints after `after` (the newest id that exists).
    pub fn new(
        job: &Job,
        tasks: usize,
        requests: Arc<BarrierRequests>,
        after: u64,
        stats: SharedStats,
        committers: Committers,
    ) -> Self {
        Coordinator {
            job: job.name.clone(),
            max_parallelism: job.max_parallelism,
            functions: Vec::new(),
            swapped_modules: HashMap::new(),
            split_swap: None,
            on_functions_changed: None,
            unrereadable_source: job
                .sources
                .iter()
                .find(|s| matches!(s.connector, SourceConnector::Stdin))
                .map(|s| s.name.clone()),
            storage: job.checkpoints.as_ref().map(open_storage),
            config: job.checkpoints.clone(),
            committers,
            requests,
            tasks,
            next_id: after + 1,
            in_flight: None,
            waiting: None,
            stopped_at: None,
            last_started: Instant::now(),
            last_ended: None,
            shared_files: SharedFiles::default(),
            any_task_finished: false,
            finished: vec![false; tasks],
            final_parts: Vec::new(),
            stats,
        }
    }

    /// The run restores from `manifest`: its shared files need not be
    /// written again by the next incremental checkpoint.
    pub fn restoring(mut self, manifest: &Manifest) -> Self {
        self.shared_files.confirm(manifest);
        self
    }

    /// Record `functions` in every manifest from now on, storing the
    /// modules of swapped ones (`swapped_modules`, by SHA-256) with every
    /// snapshot.
    pub fn with_functions(
        mut self,
        functions: Vec<FunctionRecord>,
        swapped_modules: HashMap<String, Arc<Vec<u8>>>,
    ) -> Self {
        self.functions = functions;
        self.swapped_modules = swapped_modules;
        self
    }

    /// What manifests record now about the function of operator `uid`.
    pub fn function(&self, uid: &str) -> Option<&FunctionRecord> {
        self.functions.iter().find(|f| f.uid == uid)
    }

    /// What manifests record now about every guest function.
    pub fn functions(&self) -> &[FunctionRecord] {
        &self.functions
    }

    /// Have `observer` told of every change to [`Self::functions`] (a
    /// recorded swap), before the swap is answered.
    pub fn on_functions_changed(mut self, observer: FunctionsObserver) -> Self {
        self.on_functions_changed = Some(observer);
        self
    }

    /// A swap that reached only some subtasks of its operator before it
    /// was abandoned: the reason the job must restart (once).
    pub fn take_split_swap(&mut self) -> Option<String> {
        self.split_swap.take()
    }

    /// How long until [`Self::tick`] has something to do.
    pub fn next_wakeup(&self, now: Instant) -> Duration {
        if self.waiting.is_some() {
            return Duration::from_millis(1);
        }
        let due = match (&self.in_flight, &self.config) {
            (Some(flight), _) => flight.started + self.timeout(),
            (None, None) => return Duration::from_secs(1),
            (None, Some(config)) => {
                let after_pause = self.last_ended.map(|t| t + config.min_pause);
                (self.last_started + config.interval).max(after_pause.unwrap_or(now))
            }
        };
        due.saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_secs(1))
    }

    /// How long a checkpoint or savepoint may take.
    fn timeout(&self) -> Duration {
        self.config
            .as_ref()
            .map_or(SAVEPOINT_TIMEOUT, |config| config.timeout)
    }

    /// Take a savepoint: at once, or after the checkpoint in flight. The
    /// answer goes to `request.reply` when it completes or fails.
    pub fn savepoint(&mut self, request: SavepointRequest) {
        let refusal = if let Some(source) = &self.unrereadable_source {
            Some(format!(
                "source `{source}` reads stdin, which cannot be read again from a position, so a savepoint of this job could never be restored"
            ))
        } else if self.any_task_finished {
            Some("the job is finishing: a savepoint needs every task running".to_string())
        } else if self.stopped_at.is_some() {
            Some("the job is stopping after a savepoint".to_string())
        } else {
            self.busy()
        };
        match refusal {
            Some(reason) => {
                let _ = request.reply.send(Err(reason));
            }
            None => self.waiting = Some(Waiting::Savepoint(request)),
        }
    }

    /// Why a savepoint or swap cannot wait for its turn now: another one
    /// is waiting or in flight.
    fn busy(&self) -> Option<String> {
        let in_flight = self
            .in_flight
            .as_ref()
            .filter(|f| f.kind != BarrierKind::Checkpoint)
            .map(|f| f.kind);
        let waiting = self.waiting.as_ref().map(|w| match w {
            Waiting::Savepoint(_) => "savepoint",
            Waiting::Swap(_) => "swap",
        });
        let what = match in_flight {
            Some(BarrierKind::Swap(_)) => Some("swap"),
            Some(_) => Some("savepoint"),
            None => waiting,
        };
        what.map(|what| format!("another {what} is in progress; try again when it is done"))
    }

    /// Swap an operator's function at a barrier: at once, or after the
    /// checkpoint in flight. With checkpoints, the barrier is also a
    /// checkpoint recording the new module. The answer goes to
    /// `request.reply` when every subtask switched, or the swap failed.
    pub fn swap(&mut self, request: SwapRequest) {
        let refusal = if self.any_task_finished {
            Some("the job is finishing: a swap needs every task running".to_string())
        } else if self.stopped_at.is_some() {
            Some("the job is stopping after a savepoint".to_string())
        } else {
            self.busy()
        };
        match refusal {
            Some(reason) => {
                let _ = request.reply.send(Err(reason));
            }
            None => self.waiting = Some(Waiting::Swap(Box::new(request))),
        }
    }

    /// Start a checkpoint when one is due, or a waiting savepoint; abandon
    /// one that timed out.
    pub fn tick(&mut self, now: Instant) {
        if let Some(flight) = &self.in_flight {
            let timeout = self.timeout();
            if now.duration_since(flight.started) >= timeout {
                let id = flight.id;
                self.abandon(&format!(
                    "not every task acknowledged it within the timeout ({})",
                    humantime::format_duration(timeout)
                ));
                tracing::warn!("checkpoint {id} timed out after {timeout:?}");
            }
            return;
        }
        match self.waiting.take() {
            Some(Waiting::Savepoint(request)) => return self.start_savepoint(request, now),
            Some(Waiting::Swap(request)) => return self.start_swap(*request, now),
            None => {}
        }
        let Some(config) = &self.config else {
            return;
        };
        let paused = self
            .last_ended
            .is_none_or(|ended| now.duration_since(ended) >= config.min_pause);
        if self.any_task_finished
            || !paused
            || now.duration_since(self.last_started) < config.interval
        {
            return;
        }
        let Some(storage) = self.storage.clone() else {
            return;
        };
        self.start(BarrierKind::Checkpoint, Some(storage), Reply::Nobody, now);
    }

    fn start_savepoint(&mut self, request: SavepointRequest, now: Instant) {
        if self.any_task_finished {
            let _ = request.reply.send(Err(
                "the job is finishing: a savepoint needs every task running".into(),
            ));
            return;
        }
        let storage = open_savepoint_storage(&request.dir);
        let kind = BarrierKind::Savepoint(request.after);
        self.start(kind, Some(storage), Reply::Savepoint(request.reply), now);
    }

    fn start_swap(&mut self, request: SwapRequest, now: Instant) {
        if self.any_task_finished {
            let _ = request.reply.send(Err(
                "the job is finishing: a swap needs every task running".into(),
            ));
            return;
        }
        let SwapRequest { swap, reply } = request;
        let (durability, storage) = match &self.storage {
            Some(storage) => (SwapDurability::Checkpointed, Some(storage.clone())),
            None => (SwapDurability::Volatile, None),
        };
        let parallelism = swap.instances.len();
        self.swapped_modules
            .insert(swap.record.module_sha256.clone(), swap.module);
        let id = self.next_id;
        let prepared = Arc::new(PreparedSwap::new(
            id,
            swap.operator,
            swap.descriptor,
            swap.instances,
        ));
        let reply = Reply::Swap {
            reply,
            record: swap.record,
            module_path: swap.module_path,
            state_changes: swap.state_changes,
            parallelism,
        };
        if durability == SwapDurability::Checkpointed {
            self.last_started = now;
        }
        self.start(BarrierKind::Swap(durability), storage, reply, now);
        // `start` answers and gives up if the snapshot cannot be begun.
        if self.in_flight.as_ref().is_some_and(|f| f.id == id) {
            let barrier = Barrier {
                id,
                kind: BarrierKind::Swap(durability),
            };
            self.requests.request_swap(barrier, prepared);
        }
    }

    /// Make barrier `kind` with the next id the one in flight, with the
    /// modules of swapped functions already written to its storage, and
    /// ask the sources for it (a swap's barrier is asked for by the caller,
    /// with its instances).
    fn start(
        &mut self,
        kind: BarrierKind,
        storage: Option<Arc<dyn CheckpointStorage>>,
        reply: Reply,
        now: Instant,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        if kind == BarrierKind::Checkpoint {
            self.last_started = now;
        }
        self.in_flight = Some(InFlight {
            id,
            kind,
            storage,
            reply,
            swapped: Vec::new(),
            started: now,
            acked: vec![false; self.tasks],
            files: Vec::new(),
            shared: Vec::new(),
            uploaded: 0,
            operators: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            alignment: Duration::ZERO,
            pause: Duration::ZERO,
        });
        self.stats().in_progress = Some(id);
        if let Err(error) = self.store_modules() {
            self.abandon(&format!("{error:#}"));
            return;
        }
        if !matches!(kind, BarrierKind::Swap(_)) {
            self.requests.request(Barrier { id, kind });
        }
    }

    /// Write the modules of swapped functions into the snapshot in flight,
    /// so that it can be restored without the files they came from.
    fn store_modules(&mut self) -> Result<()> {
        let Some(flight) = self.in_flight.as_mut() else {
            return Ok(());
        };
        let Some(storage) = &flight.storage else {
            return Ok(());
        };
        let mut wanted: Vec<&str> = (self.functions.iter())
            .filter(|f| !f.swaps.is_empty())
            .map(|f| f.module_sha256.as_str())
            .collect();
        if let Reply::Swap { record, .. } = &flight.reply {
            wanted.push(&record.module_sha256);
        }
        wanted.sort_unstable();
        wanted.dedup();
        for sha in wanted {
            let bytes = self.swapped_modules.get(sha).with_context(|| {
                format!("the module {sha} of a swapped function is not at hand")
            })?;
            let path = FunctionRecord::module_file(sha);
            flight
                .files
                .push(storage.write_file(flight.id, &path, bytes)?);
        }
        Ok(())
    }

    /// Take a task's part: write its state files, and complete the
    /// checkpoint if it was the last one missing. A checkpoint whose files
    /// cannot be written is abandoned at once (the job goes on).
    pub fn acknowledge(&mut self, ack: TaskAck) -> Result<()> {
        let id = match ack.checkpoint {
            CheckpointTag::Final => {
                self.final_parts.push(ack);
                return Ok(());
            }
            CheckpointTag::Barrier(id) => id,
        };
        if self.in_flight.as_ref().is_none_or(|f| f.id != id) {
            return Ok(()); // A late part of an abandoned checkpoint.
        }
        let result = self.take_part(id, ack);
        if let Err(error) = &result {
            self.abandon(&format!("{error:#}"));
        }
        result
    }

    fn take_part(&mut self, id: u64, ack: TaskAck) -> Result<()> {
        let flight = self.in_flight.as_mut().expect("checked by the caller");
        // Savepoints stay logical: they must restore into any backend.
        let incremental = self.config.as_ref().is_some_and(|c| c.incremental)
            && !matches!(flight.kind, BarrierKind::Savepoint(_));
        for part in ack.operators {
            let storage = (flight.storage.as_ref())
                .context("a task sent state for a barrier that writes none")?;
            let folder = format!(
                "{}/key-groups-{:05}-{:05}",
                part.uid, part.key_groups.0, part.key_groups.1
            );
            let path = format!("{folder}.state");
            let context = || format!("checkpoint {id}: operator `{}`", part.uid);
            let mut snapshot = part.snapshot;
            // Incremental: the keyed state as the database's own files, the
            // rest in the state file.
            let native_files = (snapshot.keyed.as_deref())
                .filter(|_| incremental)
                .and_then(|keyed| keyed.native_files());
            let native = match native_files {
                Some(files) => {
                    let written =
                        (self.shared_files).write(storage.as_ref(), id, &part.uid, &folder, files);
                    let keyed = snapshot.keyed.take().expect("it has native files");
                    state_file::remove_scratch(keyed.as_ref());
                    Some(written.with_context(context)?)
                }
                None => None,
            };
            let file = storage
                .write_streamed(
                    id,
                    &path,
                    Box::new(|mut out| state_file::encode(snapshot, &mut out).map(drop)),
                )
                .with_context(context)?;
            flight.files.push(file);
            let native = native.map(|written| {
                flight.files.extend(written.files);
                flight.shared.extend(written.shared);
                flight.uploaded += written.uploaded_bytes;
                written.native
            });
            flight.operators.push(OperatorFile {
                uid: part.uid,
                subtask: part.subtask,
                parallelism: part.parallelism,
                key_groups: part.key_groups,
                file: path,
                native,
            });
        }
        flight.sources.extend(ack.source);
        flight.sinks.extend(ack.sinks);
        flight.alignment = flight.alignment.max(ack.alignment);
        flight.pause = flight.pause.max(ack.pause);
        flight.swapped.extend(ack.swapped);
        flight.acked[ack.task] = true;
        if flight.acked.iter().all(|&a| a) {
            self.complete()?;
        }
        Ok(())
    }

    /// Complete what is in flight: a swap's new function goes into the
    /// function records; with storage, the manifest is written and the
    /// sink files published, and checkpoints beyond retention dropped;
    /// whoever asked gets the answer.
    fn complete(&mut self) -> Result<()> {
        let flight = self.in_flight.as_ref().expect("a checkpoint in flight");
        let files_bytes: u64 = flight.files.iter().map(|f| f.bytes).sum();
        let bytes = files_bytes + flight.shared.iter().map(|f| f.bytes).sum::<u64>();
        let written_bytes = files_bytes + flight.uploaded;
        if let Reply::Swap {
            record,
            module_path,
            ..
        } = &flight.reply
        {
            let (id, record, module_path) = (flight.id, record.clone(), module_path.clone());
            self.record_swap(id, record, &module_path);
        }
        let flight = self.in_flight.as_ref().expect("a checkpoint in flight");
        let savepoint = matches!(flight.kind, BarrierKind::Savepoint(_));
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            kind: if savepoint {
                SnapshotKind::Savepoint
            } else {
                SnapshotKind::Checkpoint
            },
            eddy_version: EDDY_VERSION.into(),
            job: self.job.clone(),
            id: flight.id,
            max_parallelism: Some(self.max_parallelism),
            completed_at: processing_time_now(),
            files: flight.files.clone(),
            shared: flight.shared.clone(),
            operators: flight.operators.clone(),
            sources: flight.sources.clone(),
            sinks: flight.sinks.clone(),
            functions: self.functions.clone(),
        };
        if let Some(storage) = &flight.storage {
            storage.complete(&manifest)?;
            self.publish(&manifest.sinks)?;
            self.requests.complete(flight.id);
            if !savepoint {
                self.shared_files.confirm(&manifest);
            }
        }
        let flight = self.in_flight.take().expect("a checkpoint in flight");
        let now = Instant::now();
        let duration_ms = now.duration_since(flight.started).as_millis() as u64;
        self.stats().remember(BarrierRecord {
            bytes,
            written_bytes,
            ..flight.record(None)
        });
        match flight.reply {
            Reply::Savepoint(reply) => {
                let stops = flight.kind == BarrierKind::Savepoint(AfterSavepoint::Stop);
                let path = (flight.storage.as_ref())
                    .map(|s| s.location(flight.id))
                    .unwrap_or_default();
                let report = SavepointReport {
                    id: flight.id,
                    path,
                    bytes,
                    duration_ms,
                    sources: manifest.sources,
                    stopped: stops,
                };
                tracing::info!(
                    "savepoint {} complete: {}",
                    flight.id,
                    report.path.display()
                );
                if stops {
                    self.stopped_at = Some(report.clone());
                    self.requests.decide(StopVerdict::Stop(flight.id));
                }
                let _ = reply.send(Ok(report));
                self.stats().in_progress = None;
                return Ok(());
            }
            Reply::Swap {
                reply,
                record,
                state_changes,
                ..
            } => {
                let mut subtasks: Vec<SubtaskPause> = (flight.swapped.iter())
                    .map(|s| SubtaskPause {
                        subtask: s.subtask,
                        pause_us: s.pause.as_micros() as u64,
                    })
                    .collect();
                subtasks.sort_by_key(|s| s.subtask);
                let checkpointed = flight.storage.is_some();
                let report = SwapReport {
                    barrier: flight.id,
                    operator: record.uid.clone(),
                    module_sha256: record.module_sha256.clone(),
                    // `record_swap` put this swap last in the history.
                    previous_sha256: self
                        .function(&record.uid)
                        .and_then(|f| f.swaps.last())
                        .map(|s| s.from_sha256.clone())
                        .unwrap_or_default(),
                    sources: manifest.sources,
                    subtasks,
                    checkpoint: checkpointed.then_some(flight.id),
                    states: state_changes,
                    duration_ms,
                };
                tracing::info!(
                    "operator `{}` swapped to module {} at barrier {}",
                    report.operator,
                    &report.module_sha256[..12.min(report.module_sha256.len())],
                    flight.id
                );
                let _ = reply.send(Ok(report));
                if !checkpointed {
                    self.stats().in_progress = None;
                    return Ok(());
                }
            }
            Reply::Nobody => {}
        }
        if let (Some(config), Some(storage)) = (&self.config, &self.storage) {
            storage.retain(&self.job, config.retain)?;
        }
        self.last_ended = Some(now);
        let mut stats = self.stats();
        stats.completed += 1;
        stats.in_progress = None;
        stats.longest_pause = stats.longest_pause.max(flight.pause);
        stats.longest_alignment = stats.longest_alignment.max(flight.alignment);
        let duration = now.duration_since(flight.started);
        tracing::info!(
            "checkpoint {} complete in {duration:.0?}: {} of state, {} written",
            flight.id,
            bytesize::ByteSize::b(bytes),
            bytesize::ByteSize::b(written_bytes),
        );
        stats.last = Some(CompletedCheckpoint {
            id: flight.id,
            duration,
            bytes,
            written_bytes,
            alignment: flight.alignment,
            pause: flight.pause,
            completed_at: now,
        });
        Ok(())
    }

    /// The function of a swapped operator is `record` from barrier `id` on.
    fn record_swap(&mut self, id: u64, mut record: FunctionRecord, module_path: &std::path::Path) {
        let previous = self.function(&record.uid).cloned();
        let from_sha256 = (previous.as_ref())
            .map(|p| p.module_sha256.clone())
            .unwrap_or_default();
        record.swaps = previous.map(|p| p.swaps).unwrap_or_default();
        record.swaps.push(SwapRecord {
            barrier: id,
            at: processing_time_now(),
            from_sha256,
            to_sha256: record.module_sha256.clone(),
            module: module_path.display().to_string(),
        });
        match self.functions.iter_mut().find(|f| f.uid == record.uid) {
            Some(existing) => *existing = record,
            None => self.functions.push(record),
        }
        if let Some(observer) = &self.on_functions_changed {
            observer(&self.functions);
        }
    }

    /// Give up the checkpoint, savepoint or swap in flight (a stopping
    /// savepoint's sources read on; a swap's instances are dropped, and if
    /// some subtasks had switched already, the job must restart).
    fn abandon(&mut self, reason: &str) {
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        let what = flight.kind.name();
        tracing::info!("{what} {} abandoned: {reason}", flight.id);
        self.stats()
            .remember(flight.record(Some(reason.to_string())));
        if let Some(storage) = &flight.storage
            && let Err(error) = storage.discard(flight.id)
        {
            tracing::warn!("cannot remove abandoned {what} {}: {error}", flight.id);
        }
        if flight.kind == BarrierKind::Savepoint(AfterSavepoint::Stop) {
            self.requests.decide(StopVerdict::ReadOn(flight.id));
        }
        let mut stats = self.stats();
        stats.in_progress = None;
        match flight.reply {
            Reply::Savepoint(reply) => {
                drop(stats);
                let _ = reply.send(Err(format!("savepoint {} failed: {reason}", flight.id)));
            }
            Reply::Swap {
                reply,
                record,
                module_path,
                parallelism,
                ..
            } => {
                drop(stats);
                // Subtasks the barrier reaches from now on keep the old version.
                self.requests.withdraw_swap(flight.id);
                let switched = flight.swapped.len();
                let uid = record.uid.clone();
                let message = if switched == 0 {
                    format!(
                        "swap of operator `{uid}` failed at barrier {}: {reason}; every subtask runs the old version",
                        flight.id
                    )
                } else if switched == parallelism {
                    self.record_swap(flight.id, record, &module_path);
                    format!(
                        "operator `{uid}` switched to the new version on every subtask at barrier {}, but the checkpoint there failed: {reason}; the next checkpoint records the new version",
                        flight.id
                    )
                } else {
                    let split = format!(
                        "swap of operator `{uid}` failed at barrier {}: {reason}; {switched} of {parallelism} subtasks had switched to the new version",
                        flight.id
                    );
                    if !self.any_task_finished {
                        self.split_swap = Some(format!(
                            "{split}, so the job restarts from its latest checkpoint to run one version"
                        ));
                    }
                    split
                };
                let _ = reply.send(Err(message));
                if flight.kind == BarrierKind::Swap(SwapDurability::Checkpointed) {
                    self.stats().failed += 1;
                    self.last_ended = Some(Instant::now());
                }
            }
            Reply::Nobody => {
                stats.failed += 1;
                drop(stats);
                self.last_ended = Some(Instant::now());
            }
        }
    }

    /// The stopping savepoint the job stopped at, once it is complete.
    pub fn stopped_at(&self) -> Option<&SavepointReport> {
        self.stopped_at.as_ref()
    }

    /// Task `task` finished (its final part, sent before, has been taken).
    /// A checkpoint it did not take part in can no longer complete, and no
    /// new one starts: Flink, too, checkpoints only while every task runs.
    pub fn task_finished(&mut self, task: usize) {
        self.finished[task] = true;
        self.any_task_finished = true;
        match self.waiting.take() {
            Some(Waiting::Savepoint(request)) => {
                let _ = request.reply.send(Err(
                    "the job is finishing: a savepoint needs every task running".into(),
                ));
            }
            Some(Waiting::Swap(request)) => {
                let _ = request.reply.send(Err(
                    "the job is finishing: a swap needs every task running".into(),
                ));
            }
            None => {}
        }
        if self.in_flight.as_ref().is_some_and(|f| !f.acked[task]) {
            self.abandon("a task finished before the barrier reached it");
        }
    }

    /// Every task finished: complete the job's output. With checkpoints, a
    /// last checkpoint records the sources at their end and the sinks'
    /// final files, so that a crash while publishing them is recovered
    /// from; then the files are published.
    pub fn finish(&mut self) -> Result<()> {
        self.abandon("the job finished");
        if self.stopped_at.is_some() {
            // The savepoint holds the end: its sink files are published,
            // and a final checkpoint would claim the sources had ended.
            return Ok(());
        }
        let parts = std::mem::take(&mut self.final_parts);
        let sources: Vec<SourceState> = parts.iter().filter_map(|p| p.source.clone()).collect();
        let sinks: Vec<SinkCommit> = parts.into_iter().flat_map(|p| p.sinks).collect();
        if let (Some(storage), Some(config)) = (&self.storage, &self.config) {
            let manifest = Manifest {
                format_version: FORMAT_VERSION,
                kind: SnapshotKind::Checkpoint,
                eddy_version: EDDY_VERSION.into(),
                job: self.job.clone(),
                id: self.next_id,
                max_parallelism: Some(self.max_parallelism),
                completed_at: processing_time_now(),
                files: Vec::new(),
                shared: Vec::new(),
                operators: Vec::new(),
                sources,
                sinks: sinks.clone(),
                functions: self.functions.clone(),
            };
            self.next_id += 1;
            storage.complete(&manifest)?;
            storage.retain(&self.job, config.retain)?;
        }
        self.publish(&sinks)
    }

    /// Publish what two-phase-commit sinks pre-committed for a completed
    /// checkpoint, each sink's committables through its committer.
    fn publish(&self, commits: &[SinkCommit]) -> Result<()> {
        publish_commits(&self.committers, commits)
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, CheckpointStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LocalCheckpointStorage;
    use crate::checkpoint::protocol::{SourceState, SplitState};
    use crate::connectors::SplitPosition;

    fn job(dir: &std::path::Path) -> Job {
        let text = format!(
            "[job]\nname = \"c\"\n[checkpoints]\ninterval = \"10s\"\nmin_pause = \"3s\"\ntimeout = \"1m\"\ndir = {:?}\n[[source]]\nname = \"g\"\ntype = \"generator\"\n[[sink]]\nname = \"d\"\ntype = \"discard\"\ninput = \"g\"\n",
            dir.display().to_string()
        );
        crate::job::parse_job(&text, &dir.join("job.toml")).unwrap()
    }

    fn ack(task: usize, id: u64) -> TaskAck {
        TaskAck {
            task,
            checkpoint: CheckpointTag::Barrier(id),
            operators: Vec::new(),
            source: Some(SourceState {
                source: "g".into(),
                subtask: 0,
                parallelism: 1,
                splits: vec![SplitState {
                    position: SplitPosition {
                        split: "generator".into(),
                        position: serde_json::json!({ "next": id }),
                    },
                    max_timestamp: 0,
                }],
            }),
            sinks: Vec::new(),
            alignment: Duration::ZERO,
            pause: Duration::ZERO,
            swapped: Vec::new(),
        }
    }

    fn swap_request(
        sha: &str,
    ) -> (
        SwapRequest,
        crossbeam_channel::Receiver<Result<SwapReport, String>>,
    ) {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let swap = PreparedSwapParts {
            operator: "f".into(),
            descriptor: crate::wasm::FunctionDescriptor {
                kind: crate::wasm::bindings::FunctionKind::KeyedProcess,
                states: Vec::new(),
                side_outputs: Vec::new(),
            },
            instances: Vec::new(),
            record: FunctionRecord {
                uid: "f".into(),
                module_sha256: sha.into(),
                kind: "keyed-process".into(),
                states: Vec::new(),
                config: None,
                swaps: Vec::new(),
            },
            module: Arc::new(b"new module".to_vec()),
            module_path: "/new.wasm".into(),
            state_changes: vec!["count: kept".into()],
        };
        (SwapRequest { swap, reply }, answer)
    }

    #[test]
    fn a_swap_waits_for_the_checkpoint_in_flight_and_is_a_checkpoint_recording_the_new_module() {
        let dir = tempfile::tempdir().unwrap();
        let requests = Arc::new(BarrierRequests::default());
        let stats = SharedStats::default();
        let running = FunctionRecord {
            uid: "f".into(),
            module_sha256: "old".into(),
            kind: "keyed-process".into(),
            states: Vec::new(),
            config: None,
            swaps: Vec::new(),
        };
        let mut c = Coordinator::new(
            &job(dir.path()),
            2,
            requests.clone(),
            0,
            stats.clone(),
            Committers::new(),
        )
        .with_functions(vec![running], HashMap::new());
        let t0 = c.last_started;
        c.tick(t0 + Duration::from_secs(10));
        assert_eq!(requests.newest(), 1, "a checkpoint is in flight");

        let (request, answer) = swap_request("new");
        c.swap(request);
        let (second, refused) = swap_request("newer");
        c.swap(second);
        assert_eq!(
            refused.try_recv().unwrap().unwrap_err(),
            "another swap is in progress; try again when it is done"
        );
        c.tick(t0 + Duration::from_secs(11));
        assert_eq!(requests.newest(), 1, "the swap waits for the checkpoint");
        c.acknowledge(ack(0, 1)).unwrap();
        c.acknowledge(ack(1, 1)).unwrap();
        c.tick(t0 + Duration::from_secs(12));
        assert_eq!(requests.newest(), 2);
        let barrier = requests.due(1).unwrap();
        assert_eq!(
            barrier.kind,
            BarrierKind::Swap(SwapDurability::Checkpointed)
        );
        assert!(requests.swap(2).is_some(), "the instances wait beside it");
        assert!(answer.try_recv().is_err(), "no answer before every ack");

        let mut swapped = ack(0, 2);
        swapped.swapped = vec![SwappedSubtask {
            subtask: 0,
            pause: Duration::from_micros(250),
        }];
        c.acknowledge(swapped).unwrap();
        c.acknowledge(ack(1, 2)).unwrap();
        let report = answer.try_recv().unwrap().unwrap();
        assert_eq!((report.barrier, report.checkpoint), (2, Some(2)));
        assert_eq!(report.previous_sha256, "old");
        assert_eq!(
            report.subtasks,
            [SubtaskPause {
                subtask: 0,
                pause_us: 250
            }]
        );
        assert_eq!(
            stats.lock().unwrap().completed,
            2,
            "the swap is a checkpoint"
        );

        let storage = crate::checkpoint::LocalCheckpointStorage::new(dir.path());
        let manifest = storage.verified_manifest(2, "c").unwrap();
        let function = &manifest.functions[0];
        assert_eq!(function.module_sha256, "new");
        assert_eq!(function.swaps.len(), 1);
        assert_eq!(function.swaps[0].from_sha256, "old");
        let module = (manifest.files.iter())
            .find(|f| f.path == FunctionRecord::module_file("new"))
            .expect("the swap's checkpoint stores the module");
        assert_eq!(storage.read_file(2, module).unwrap(), b"new module");
    }

    #[test]
    fn checkpoints_start_on_the_interval_one_at_a_time_after_the_pause_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let requests = Arc::new(BarrierRequests::default());
        let stats = SharedStats::default();
        let mut c = Coordinator::new(
            &job(dir.path()),
            2,
            requests.clone(),
            4,
            stats.clone(),
            Committers::new(),
        );
        let t0 = c.last_started;
        let at = |s: u64| t0 + Duration::from_secs(s);

        c.tick(at(9));
        assert_eq!(requests.newest(), 0, "before the interval");
        c.tick(at(10));
        assert_eq!(requests.newest(), 5, "numbered after the newest");
        c.acknowledge(ack(0, 5)).unwrap();
        c.tick(at(25));
        assert_eq!(requests.newest(), 5, "one in flight at a time");
        c.acknowledge(ack(1, 5)).unwrap();
        assert_eq!(
            stats.lock().unwrap().completed,
            1,
            "complete with every ack"
        );
        let storage = LocalCheckpointStorage::new(dir.path());
        let manifest = storage.verified_manifest(5, "c").unwrap();
        assert_eq!(manifest.sources.len(), 2);

        // Had it taken until second 19, the next would wait for `min_pause`
        // after that, although the interval since the last start has passed.
        c.last_ended = Some(at(19));
        c.tick(at(21));
        assert_eq!(requests.newest(), 5, "within min_pause");
        c.tick(at(22));
        assert_eq!(requests.newest(), 6);

        // Nobody acknowledges 6: after the timeout it is abandoned and removed.
        c.acknowledge(ack(0, 6)).unwrap();
        let started = c.in_flight.as_ref().unwrap().started;
        c.tick(started + Duration::from_secs(59));
        assert!(c.in_flight.is_some());
        c.tick(started + Duration::from_secs(60));
        assert!(c.in_flight.is_none());
        assert_eq!(stats.lock().unwrap().failed, 1);
        assert!(
            !storage.checkpoint_dir(6).exists(),
            "a failed checkpoint is removed"
        );
        // A late part of it changes nothing.
        c.acknowledge(ack(1, 6)).unwrap();
        assert_eq!(stats.lock().unwrap().completed, 1);
    }

    #[test]
    fn a_task_that_finishes_before_the_barrier_abandons_the_checkpoint_and_stops_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let requests = Arc::new(BarrierRequests::default());
        let stats = SharedStats::default();
        let mut c = Coordinator::new(
            &job(dir.path()),
            2,
            requests.clone(),
            0,
            stats.clone(),
            Committers::new(),
        );
        let t0 = c.last_started;
        c.tick(t0 + Duration::from_secs(10));
        assert_eq!(requests.newest(), 1);
        c.acknowledge(ack(0, 1)).unwrap();
        c.task_finished(1);
        assert!(c.in_flight.is_none());
        assert_eq!(stats.lock().unwrap().failed, 1);
        c.tick(t0 + Duration::from_secs(100));
        assert_eq!(requests.newest(), 1, "no checkpoint once a task finished");
        let (request, answer) = swap_request("new");
        c.swap(request);
        assert_eq!(
            answer.try_recv().unwrap().unwrap_err(),
            "the job is finishing: a swap needs every task running"
        );
    }
}
