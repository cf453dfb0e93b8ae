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

use super::manifest::{OperatorFile, SnapshotKind};
use super::protocol::{SinkCommit, SourceState};
use super::state_file;
use super::{
    AfterSavepoint, Barrier, BarrierKind, BarrierRequests, CheckpointStorage, CheckpointTag,
    EDDY_VERSION, FORMAT_VERSION, FunctionRecord, Manifest, StateFile, StopVerdict, TaskAck,
    open_savepoint_storage, open_storage,
};
use crate::connectors::staged_file;
use crate::job::{CheckpointConfig, Job, SinkConnector, SourceConnector};
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
}

/// Figures of one completed checkpoint.
#[derive(Debug, Clone)]
pub struct CompletedCheckpoint {
    pub id: u64,
    /// From the request to the manifest.
    pub duration: Duration,
    /// Bytes of state files.
    pub bytes: u64,
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

/// Savepoints time out after this long when the job has no
/// `[checkpoints]` timeout of its own.
const SAVEPOINT_TIMEOUT: Duration = Duration::from_secs(600);

/// The shared view of [`CheckpointStats`].
pub type SharedStats = Arc<Mutex<CheckpointStats>>;

/// A checkpoint or savepoint collecting acknowledgements.
struct InFlight {
    id: u64,
    kind: BarrierKind,
    /// Where its files go: the job's checkpoints, or a savepoint folder.
    storage: Arc<dyn CheckpointStorage>,
    /// Who asked for a savepoint.
    reply: Option<Sender<Result<SavepointReport, String>>>,
    started: Instant,
    acked: Vec<bool>,
    files: Vec<StateFile>,
    operators: Vec<OperatorFile>,
    sources: Vec<SourceState>,
    sinks: Vec<SinkCommit>,
    alignment: Duration,
    pause: Duration,
}

/// Starts, collects and completes the checkpoints of one run.
pub struct Coordinator {
    job: String,
    max_parallelism: u32,
    /// What every manifest records about the job's guest functions.
    functions: Vec<FunctionRecord>,
    /// A source that cannot be read again from a position (stdin), if the
    /// job has one: its snapshots could never be restored.
    unrereadable_source: Option<String>,
    config: Option<CheckpointConfig>,
    storage: Option<Arc<dyn CheckpointStorage>>,
    /// Exactly-once file sinks, by name: their folders.
    staged_sinks: HashMap<String, PathBuf>,
    requests: Arc<BarrierRequests>,
    tasks: usize,
    next_id: u64,
    in_flight: Option<InFlight>,
    /// A savepoint asked for while a checkpoint was in flight.
    waiting: Option<SavepointRequest>,
    /// The stopping savepoint the job stopped at.
    stopped_at: Option<SavepointReport>,
    /// When the last checkpoint started, and when the last one ended.
    last_started: Instant,
    last_ended: Option<Instant>,
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
    ) -> Self {
        let staged_sinks = job
            .sinks
            .iter()
            .filter_map(|s| match &s.connector {
                SinkConnector::ExactlyOnceFiles(dir) => Some((s.name.clone(), dir.clone())),
                _ => None,
            })
            .collect();
        Coordinator {
            job: job.name.clone(),
            max_parallelism: job.max_parallelism,
            functions: Vec::new(),
            unrereadable_source: job
                .sources
                .iter()
                .find(|s| matches!(s.connector, SourceConnector::Stdin))
                .map(|s| s.name.clone()),
            storage: job.checkpoints.as_ref().map(open_storage),
            config: job.checkpoints.clone(),
            staged_sinks,
            requests,
            tasks,
            next_id: after + 1,
            in_flight: None,
            waiting: None,
            stopped_at: None,
            last_started: Instant::now(),
            last_ended: None,
            any_task_finished: false,
            finished: vec![false; tasks],
            final_parts: Vec::new(),
            stats,
        }
    }

    /// Record `functions` in every manifest from now on.
    pub fn with_functions(mut self, functions: Vec<FunctionRecord>) -> Self {
        self.functions = functions;
        self
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
        } else if self.waiting.is_some()
            || self
                .in_flight
                .as_ref()
                .is_some_and(|f| f.kind != BarrierKind::Checkpoint)
        {
            Some("another savepoint is in progress; try again when it is done".to_string())
        } else {
            None
        };
        match refusal {
            Some(reason) => {
                let _ = request.reply.send(Err(reason));
            }
            None => self.waiting = Some(request),
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
        if let Some(request) = self.waiting.take() {
            self.start_savepoint(request, now);
            return;
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
        self.start(BarrierKind::Checkpoint, storage, None, now);
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
        self.start(kind, storage, Some(request.reply), now);
    }

    /// Ask the sources for barrier `kind` with the next id.
    fn start(
        &mut self,
        kind: BarrierKind,
        storage: Arc<dyn CheckpointStorage>,
        reply: Option<Sender<Result<SavepointReport, String>>>,
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
            started: now,
            acked: vec![false; self.tasks],
            files: Vec::new(),
            operators: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            alignment: Duration::ZERO,
            pause: Duration::ZERO,
        });
        self.stats().in_progress = Some(id);
        self.requests.request(Barrier { id, kind });
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
        let storage = &flight.storage;
        for part in ack.operators {
            let path = format!(
                "{}/key-groups-{:05}-{:05}.state",
                part.uid, part.key_groups.0, part.key_groups.1
            );
            let mut bytes = Vec::new();
            state_file::encode(part.snapshot, &mut bytes)
                .with_context(|| format!("checkpoint {id}: operator `{}`", part.uid))?;
            flight.files.push(storage.write_file(id, &path, &bytes)?);
            flight.operators.push(OperatorFile {
                uid: part.uid,
                subtask: part.subtask,
                parallelism: part.parallelism,
                key_groups: part.key_groups,
                file: path,
            });
        }
        flight.sources.extend(ack.source);
        flight.sinks.extend(ack.sinks);
        flight.alignment = flight.alignment.max(ack.alignment);
        flight.pause = flight.pause.max(ack.pause);
        flight.acked[ack.task] = true;
        if flight.acked.iter().all(|&a| a) {
            self.complete()?;
        }
        Ok(())
    }

    /// Write the manifest of the checkpoint or savepoint in flight, publish
    /// its sink files, and drop checkpoints beyond retention.
    fn complete(&mut self) -> Result<()> {
        let flight = self.in_flight.as_ref().expect("a checkpoint in flight");
        let bytes = flight.files.iter().map(|f| f.bytes).sum();
        let savepoint = flight.kind != BarrierKind::Checkpoint;
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
            operators: flight.operators.clone(),
            sources: flight.sources.clone(),
            sinks: flight.sinks.clone(),
            functions: self.functions.clone(),
        };
        flight.storage.complete(&manifest)?;
        self.publish(&manifest.sinks)?;
        let flight = self.in_flight.take().expect("a checkpoint in flight");
        let now = Instant::now();
        if let Some(reply) = flight.reply {
            let stops = flight.kind == BarrierKind::Savepoint(AfterSavepoint::Stop);
            let report = SavepointReport {
                id: flight.id,
                path: flight.storage.location(flight.id),
                bytes,
                duration_ms: now.duration_since(flight.started).as_millis() as u64,
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
        if let (Some(config), Some(storage)) = (&self.config, &self.storage) {
            storage.retain(&self.job, config.retain)?;
        }
        self.last_ended = Some(now);
        let mut stats = self.stats();
        stats.completed += 1;
        stats.in_progress = None;
        stats.longest_pause = stats.longest_pause.max(flight.pause);
        stats.longest_alignment = stats.longest_alignment.max(flight.alignment);
        stats.last = Some(CompletedCheckpoint {
            id: flight.id,
            duration: now.duration_since(flight.started),
            bytes,
            alignment: flight.alignment,
            pause: flight.pause,
            completed_at: now,
        });
        Ok(())
    }

    /// Give up the checkpoint or savepoint in flight (a stopping
    /// savepoint's sources read on).
    fn abandon(&mut self, reason: &str) {
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        let what = match flight.kind {
            BarrierKind::Checkpoint => "checkpoint",
            BarrierKind::Savepoint(_) => "savepoint",
        };
        tracing::info!("{what} {} abandoned: {reason}", flight.id);
        if let Err(error) = flight.storage.discard(flight.id) {
            tracing::warn!("cannot remove abandoned {what} {}: {error}", flight.id);
        }
        if flight.kind == BarrierKind::Savepoint(AfterSavepoint::Stop) {
            self.requests.decide(StopVerdict::ReadOn(flight.id));
        }
        let mut stats = self.stats();
        stats.in_progress = None;
        match flight.reply {
            Some(reply) => {
                drop(stats);
                let _ = reply.send(Err(format!("savepoint {} failed: {reason}", flight.id)));
            }
            None => {
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
        if let Some(request) = self.waiting.take() {
            let _ = request.reply.send(Err(
                "the job is finishing: a savepoint needs every task running".into(),
            ));
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

    /// Publish the pending files of two-phase-commit sinks.
    fn publish(&self, commits: &[SinkCommit]) -> Result<()> {
        for commit in commits {
            let dir = self.staged_sinks.get(&commit.sink).with_context(|| {
                format!("the checkpoint has files of sink `{}`, which is not an exactly-once file sink of this job", commit.sink)
            })?;
            staged_file::publish(dir, &commit.files)
                .with_context(|| format!("sink `{}`", commit.sink))?;
        }
        Ok(())
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, CheckpointStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::LocalCheckpointStorage;
    use crate::checkpoint::protocol::SourceState;
    use crate::connectors::SourcePosition;

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
                position: SourcePosition::Generator { next: id },
                max_timestamp: 0,
            }),
            sinks: Vec::new(),
            alignment: Duration::ZERO,
            pause: Duration::ZERO,
        }
    }

    #[test]
    fn checkpoints_start_on_the_interval_one_at_a_time_after_the_pause_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let requests = Arc::new(BarrierRequests::default());
        let stats = SharedStats::default();
        let mut c = Coordinator::new(&job(dir.path()), 2, requests.clone(), 4, stats.clone());
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
        let mut c = Coordinator::new(&job(dir.path()), 2, requests.clone(), 0, stats.clone());
        let t0 = c.last_started;
        c.tick(t0 + Duration::from_secs(10));
        assert_eq!(requests.newest(), 1);
        c.acknowledge(ack(0, 1)).unwrap();
        c.task_finished(1);
        assert!(c.in_flight.is_none());
        assert_eq!(stats.lock().unwrap().failed, 1);
        c.tick(t0 + Duration::from_secs(100));
        assert_eq!(requests.newest(), 1, "no checkpoint once a task finished");
    }
}
