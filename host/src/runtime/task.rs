//! Tasks: one thread per subtask, running a chain of operators (no channel
//! hop between chained operators) fed by a source reader or by an inbox.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use thiserror::Error;

use super::exchange::{Element, Exchange, ExchangeError, Message};
use super::metrics::{NodeMetrics, SubtaskMetrics};
use super::operator::{Collector, FunctionReplacement, Operator, OperatorError};
use super::record::Record;
use crate::checkpoint::protocol::{OperatorPart, SinkCommit, SourceState};
use crate::checkpoint::{Barrier, CheckpointHandle, CheckpointTag, SwappedSubtask, TaskAck};
use crate::connectors::sink::SinkWriter;
use crate::job::CheckpointMode;
use crate::job::InputSide;
use crate::time::watermark::END_OF_TIME;
use crate::time::{InputWatermarks, processing_time_now};

/// A failure of one subtask, with what failed.
#[derive(Debug, Error)]
#[error("{node} (subtask {subtask}/{parallelism}) failed: {error}")]
pub struct TaskError {
    /// `operator `x``, `source `y``, `sink `z``.
    pub node: String,
    /// 1-based.
    pub subtask: u32,
    pub parallelism: u32,
    pub error: OperatorError,
}

/// Why a task stopped early.
#[derive(Debug)]
pub enum Stop {
    /// It failed; the job fails with this.
    Failed(Box<TaskError>),
    /// Another task failed or the job was cancelled; this one just stops.
    Cancelled,
}

impl From<TaskError> for Stop {
    fn from(error: TaskError) -> Self {
        Stop::Failed(Box::new(error))
    }
}

/// Where a stream of a chained node goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A later node of the same chain.
    Node(usize),
    /// An exchange to another task.
    Exchange(usize),
    /// A sink writer.
    Sink(usize),
}

/// One operator in a chain, with where its outputs go.
pub struct ChainNode {
    pub op: Box<dyn Operator>,
    pub main: Vec<Target>,
    /// By side-output index.
    pub side: Vec<Vec<Target>>,
    pub metrics: Arc<NodeMetrics>,
}

/// A sink as seen from one chain.
pub struct ChainSink {
    pub name: String,
    pub writer: SinkWriter,
    pub metrics: Arc<NodeMetrics>,
    /// Whether the chain's idle and back-pressured time is this sink
    /// subtask's.
    pub time: SinkTime,
}

/// Whose time a chain's sink spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTime {
    /// The sink subtask runs in this chain only: its time is the chain's.
    ChainSubtask,
    /// A dead-letter sink, fed by the chains of several nodes: no one
    /// chain's time is its own, so none is counted for it.
    Shared,
}

/// The operators, exchanges and sinks of one subtask, and how they connect.
pub struct Chain {
    pub subtask: u32,
    pub parallelism: u32,
    /// Where the task's input goes.
    pub head: Vec<Target>,
    pub nodes: Vec<ChainNode>,
    pub exchanges: Vec<Exchange>,
    pub sinks: Vec<ChainSink>,
    /// How this task takes part in checkpoints (`None` in tests that run a
    /// chain alone).
    pub checkpoints: Option<CheckpointHandle>,
    /// The last watermark given to every node and exchange of the chain.
    pub watermark: i64,
}

impl Chain {
    fn task_error(&self, node: String, error: OperatorError) -> Stop {
        Stop::Failed(Box::new(TaskError {
            node,
            subtask: self.subtask + 1,
            parallelism: self.parallelism,
            error,
        }))
    }

    fn exchange_error(&self, error: ExchangeError) -> Stop {
        match error {
            ExchangeError::ConsumerGone => Stop::Cancelled,
            ExchangeError::Key(error) => {
                self.task_error("key_by of the next keyed operator".into(), error)
            }
        }
    }

    fn sink_error(&self, sink: usize, error: std::io::Error) -> Stop {
        let name = format!("sink `{}`", self.sinks[sink].name);
        self.task_error(
            name,
            OperatorError::Record(format!("write failed: {error}")),
        )
    }

    /// The counters of this subtask of every node and sink in the chain:
    /// they share the task's thread, so its idle and back-pressured time.
    fn subtask_metrics(&self) -> impl Iterator<Item = &SubtaskMetrics> {
        let nodes = self.nodes.iter().map(|n| &n.metrics);
        let sinks = (self.sinks.iter())
            .filter(|s| s.time == SinkTime::ChainSubtask)
            .map(|s| &s.metrics);
        nodes.chain(sinks).map(|m| m.subtask(self.subtask))
    }

    /// The task ends: its subtasks' time stops counting.
    pub fn mark_ended(&self) {
        self.subtask_metrics().for_each(SubtaskMetrics::end);
    }

    /// The task waited `waited` for input.
    pub fn add_idle(&self, waited: Duration) {
        self.subtask_metrics().for_each(|m| m.add_idle(waited));
    }

    /// Count the time the chain's exchanges waited for room downstream
    /// since the last call, and say how long it was.
    pub fn account_backpressure(&self) -> Duration {
        let blocked: Duration = self.exchanges.iter().map(Exchange::take_blocked).sum();
        if !blocked.is_zero() {
            self.subtask_metrics()
                .for_each(|m| m.add_backpressured(blocked));
        }
        blocked
    }

    /// Queue `records` for every target (cloned for all but the last).
    fn fan_out(targets: &[Target], records: Vec<Record>, work: &mut Vec<(Target, Vec<Record>)>) {
        if records.is_empty() {
            return;
        }
        if let Some((last, rest)) = targets.split_last() {
            for target in rest {
                work.push((*target, records.clone()));
            }
            work.push((*last, records));
        }
    }

    fn queue_output(&self, node: usize, out: Collector, work: &mut Vec<(Target, Vec<Record>)>) {
        let metrics = &self.nodes[node].metrics;
        let produced = out.main.len() + out.side.iter().map(Vec::len).sum::<usize>();
        metrics.add_out(self.subtask, produced);
        for (side, records) in out.side.into_iter().enumerate().rev() {
            let targets = &self.nodes[node].side[side];
            if targets.is_empty() {
                metrics
                    .unread_side_output
                    .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Self::fan_out(targets, records, work);
        }
        Self::fan_out(&self.nodes[node].main, out.main, work);
    }

    /// Run queued batches depth-first, so each target sees its batches in order.
    fn drain(&mut self, work: &mut Vec<(Target, Vec<Record>)>) -> Result<(), Stop> {
        while let Some((target, records)) = work.pop() {
            match target {
                Target::Node(i) => {
                    let node = &mut self.nodes[i];
                    node.metrics.add_in(self.subtask, records.len());
                    let mut out = Collector::with_side_outputs(node.side.len());
                    if let Err(error) = node.op.process(records, &mut out) {
                        let name = format!("operator `{}`", node.metrics.name);
                        return Err(self.task_error(name, error));
                    }
                    self.queue_output(i, out, work);
                }
                Target::Exchange(e) => {
                    if let Err(error) = self.exchanges[e].push(records) {
                        return Err(self.exchange_error(error));
                    }
                }
                Target::Sink(s) => {
                    let sink = &self.sinks[s];
                    sink.metrics.add_in(self.subtask, records.len());
                    if let Err(error) = sink.writer.write(&records) {
                        return Err(self.sink_error(s, error));
                    }
                }
            }
        }
        Ok(())
    }

    /// Push records of the head operator's second input through the chain.
    pub fn second_records(&mut self, records: Vec<Record>) -> Result<(), Stop> {
        self.nodes[0].metrics.add_in(self.subtask, records.len());
        self.run_callback(0, |op, out| op.process_second(records, out))?;
        self.flush_exchanges()
    }

    /// Push the task's input records through the chain.
    pub fn records(&mut self, records: Vec<Record>) -> Result<(), Stop> {
        let mut work = Vec::new();
        let head = std::mem::take(&mut self.head);
        Self::fan_out(&head, records, &mut work);
        self.head = head;
        self.drain(&mut work)?;
        self.flush_exchanges()
    }

    /// Send records buffered in exchanges, so batches do not wait for more input.
    fn flush_exchanges(&mut self) -> Result<(), Stop> {
        for e in 0..self.exchanges.len() {
            if let Err(error) = self.exchanges[e].flush() {
                return Err(self.exchange_error(error));
            }
        }
        Ok(())
    }

    /// Give a callback's output (timers) to the rest of the chain.
    fn run_callback(
        &mut self,
        node: usize,
        callback: impl FnOnce(&mut dyn Operator, &mut Collector) -> Result<(), OperatorError>,
    ) -> Result<(), Stop> {
        let mut out = Collector::with_side_outputs(self.nodes[node].side.len());
        if let Err(error) = callback(self.nodes[node].op.as_mut(), &mut out) {
            let name = format!("operator `{}`", self.nodes[node].metrics.name);
            return Err(self.task_error(name, error));
        }
        let mut work = Vec::new();
        self.queue_output(node, out, &mut work);
        self.drain(&mut work)
    }

    /// The watermark advanced: every node in chain order, then the
    /// exchanges. Nothing happens unless it is ahead of the last one.
    pub fn watermark(&mut self, watermark: i64) -> Result<(), Stop> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        for node in 0..self.nodes.len() {
            self.run_callback(node, |op, out| op.on_watermark(watermark, out))?;
            self.nodes[node]
                .metrics
                .set_watermark(self.subtask, watermark);
        }
        for e in 0..self.exchanges.len() {
            if let Err(error) = self.exchanges[e].watermark(watermark) {
                return Err(self.exchange_error(error));
            }
        }
        Ok(())
    }

    /// Fire due processing-time timers.
    pub fn processing_time(&mut self, now: i64) -> Result<(), Stop> {
        for node in 0..self.nodes.len() {
            if self.nodes[node]
                .op
                .next_processing_time()
                .is_some_and(|t| t <= now)
            {
                self.run_callback(node, |op, out| op.on_processing_time(now, out))?;
            }
        }
        self.flush_exchanges()
    }

    /// The earliest processing-time timer of the chain.
    pub fn next_processing_time(&self) -> Option<i64> {
        self.nodes
            .iter()
            .filter_map(|n| n.op.next_processing_time())
            .min()
    }

    /// Every input of the task is idle: tell consumers, so they stop
    /// waiting for this task's watermark.
    pub fn idle(&mut self) -> Result<(), Stop> {
        for e in 0..self.exchanges.len() {
            if let Err(error) = self.exchanges[e].idle() {
                return Err(self.exchange_error(error));
            }
        }
        Ok(())
    }

    /// `barrier` passed every input of the task: a swap barrier first
    /// puts the new version of its operator's function in place; then
    /// every operator is snapshotted (in chain order, all records before
    /// the barrier having gone through), the barrier forwarded, the sinks
    /// pre-committed, and the task's part handed to the coordinator.
    /// `source` is where a source task's reader was; `alignment`, how long
    /// the task waited for the barrier on all its inputs.
    pub fn barrier(
        &mut self,
        barrier: Barrier,
        source: Option<SourceState>,
        alignment: Duration,
    ) -> Result<(), Stop> {
        let id = barrier.id;
        let started = Instant::now();
        let Some(handle) = self.checkpoints.clone() else {
            return Ok(());
        };
        let swapped = self.swap_function(&handle, barrier)?;
        let mut operators = Vec::new();
        for node in (0..self.nodes.len()).filter(|_| barrier.snapshots()) {
            let uid = self.nodes[node].metrics.name.clone();
            let scratch = handle
                .scratch
                .join(format!("{uid}-{}-{id}", self.subtask + 1));
            match self.nodes[node].op.snapshot_state(&scratch) {
                Ok(Some(snapshot)) => {
                    let range = crate::state::KeyGroupRange::for_subtask(
                        self.subtask,
                        self.parallelism,
                        handle.max_parallelism,
                    );
                    operators.push(OperatorPart {
                        uid,
                        subtask: self.subtask,
                        parallelism: self.parallelism,
                        key_groups: (range.groups.start, range.groups.end),
                        snapshot,
                    });
                }
                Ok(None) => {}
                Err(error) => return Err(self.task_error(format!("operator `{uid}`"), error)),
            }
        }
        for e in 0..self.exchanges.len() {
            if let Err(error) = self.exchanges[e].barrier(barrier) {
                return Err(self.exchange_error(error));
            }
        }
        let tag = CheckpointTag::Barrier(id);
        let sinks = if barrier.snapshots() {
            self.pre_commit_sinks(tag)?
        } else {
            Vec::new()
        };
        // The new instance takes the next record after this.
        let swapped = swapped
            .then(|| SwappedSubtask {
                subtask: self.subtask,
                pause: alignment + started.elapsed(),
            })
            .into_iter()
            .collect();
        handle.acknowledge(TaskAck {
            task: handle.task,
            checkpoint: tag,
            operators,
            source,
            sinks,
            alignment,
            pause: started.elapsed(),
            swapped,
        });
        Ok(())
    }

    /// At a swap barrier: give the operator being swapped, if it is in
    /// this chain, its new instance for this subtask; whether it did. A
    /// failure here fails the task, and the job restarts from its latest
    /// checkpoint, on the version that checkpoint records.
    fn swap_function(&mut self, handle: &CheckpointHandle, barrier: Barrier) -> Result<bool, Stop> {
        let Some(swap) = (barrier.always_aligned())
            .then(|| handle.requests.swap(barrier.id))
            .flatten()
        else {
            return Ok(false);
        };
        let Some(node) = (self.nodes.iter()).position(|n| n.metrics.name == swap.operator) else {
            return Ok(false);
        };
        let name = format!("operator `{}`", swap.operator);
        let Some(mut instance) = swap.take_instance(self.subtask) else {
            let error = OperatorError::Record(format!(
                "swap at barrier {}: no new instance was prepared for this subtask",
                barrier.id
            ));
            return Err(self.task_error(name, error));
        };
        let calls = self.nodes[node].metrics.subtask(self.subtask).guest.clone();
        instance.count_calls_in(calls);
        let replacement = FunctionReplacement {
            instance,
            descriptor: swap.descriptor.clone(),
        };
        if let Err(error) = self.nodes[node].op.replace_function(replacement) {
            return Err(self.task_error(name, error));
        }
        Ok(true)
    }

    /// Make every sink's output durable; what two-phase-commit sinks
    /// publish when checkpoint `tag` completes.
    fn pre_commit_sinks(&mut self, tag: CheckpointTag) -> Result<Vec<SinkCommit>, Stop> {
        let mut commits = Vec::new();
        for s in 0..self.sinks.len() {
            match self.sinks[s].writer.pre_commit(&tag.file_tag()) {
                Ok(None) => {}
                Ok(Some(committable)) => commits.push(SinkCommit {
                    sink: self.sinks[s].name.clone(),
                    committable,
                }),
                Err(error) => return Err(self.sink_error(s, error)),
            }
        }
        Ok(commits)
    }

    /// The job stops after a savepoint that holds everything so far: tell
    /// consumers, without the end of input (no final watermark, no
    /// `on_end_of_input`: timers and open windows are in the savepoint, and
    /// the sinks pre-committed everything at its barrier).
    pub fn stop(&mut self) -> Result<(), Stop> {
        self.mark_ended();
        for e in 0..self.exchanges.len() {
            if let Err(error) = self.exchanges[e].stop() {
                return Err(self.exchange_error(error));
            }
        }
        Ok(())
    }

    /// The input ended: a final watermark fires every event-time timer,
    /// operators finish in chain order, then consumers are told, sinks
    /// pre-commit what they hold, and the coordinator gets the task's last
    /// part (`source`: where a source task's reader ended).
    pub fn end(&mut self, source: Option<SourceState>) -> Result<(), Stop> {
        self.watermark(END_OF_TIME)?;
        for node in 0..self.nodes.len() {
            self.run_callback(node, |op, out| op.on_end_of_input(out))?;
        }
        for e in 0..self.exchanges.len() {
            if let Err(error) = self.exchanges[e].end() {
                return Err(self.exchange_error(error));
            }
        }
        let sinks = self.pre_commit_sinks(CheckpointTag::Final)?;
        self.mark_ended();
        if let Some(handle) = &self.checkpoints {
            handle.acknowledge(TaskAck {
                task: handle.task,
                checkpoint: CheckpointTag::Final,
                operators: Vec::new(),
                source,
                sinks,
                alignment: Duration::ZERO,
                pause: Duration::ZERO,
                swapped: Vec::new(),
            });
        }
        Ok(())
    }
}

/// Where an inbox task is with the barriers of its input channels.
///
/// Exactly-once: once barrier `n` came on a channel, what that channel
/// sends next is held back until barrier `n` has come on every channel
/// still open, so the snapshot sees exactly the records before the barrier
/// (Flink's aligned checkpoints). At-least-once: nothing is held back; the
/// snapshot is taken when the last barrier comes, so records after the
/// barrier on faster channels are already in it and replay twice after a
/// restore.
struct BarrierAligner {
    mode: CheckpointMode,
    /// Channels that ended or stopped: they take part in no alignment.
    ended: Vec<bool>,
    /// Channels that stopped after a savepoint (a subset of `ended`).
    stopped: Vec<bool>,
    /// The barrier being aligned, the channels it came on, and when the
    /// first came.
    current: Option<(Barrier, Vec<bool>, Instant)>,
    /// The newest checkpoint this task snapshotted.
    last_done: u64,
    /// Messages of channels whose barrier came, in arrival order.
    held: VecDeque<Message>,
}

/// What a barrier or the end of a channel did to an alignment.
enum Alignment {
    /// Waiting for more channels.
    Waiting,
    /// Every open channel delivered `barrier`: snapshot now.
    Complete { barrier: Barrier, waited: Duration },
    /// A newer barrier came while an older one was still aligning (the
    /// older checkpoint was abandoned): release what was held, then look at
    /// the newer barrier again.
    Superseded,
}

impl BarrierAligner {
    fn new(mode: CheckpointMode, channels: usize) -> Self {
        BarrierAligner {
            mode,
            ended: vec![false; channels],
            stopped: vec![false; channels],
            current: None,
            last_done: 0,
            held: VecDeque::new(),
        }
    }

    /// Whether messages of `channel` must wait for the alignment.
    fn holds(&self, channel: usize) -> bool {
        self.current.as_ref().is_some_and(|(barrier, arrived, _)| {
            arrived[channel]
                && (self.mode == CheckpointMode::ExactlyOnce || barrier.always_aligned())
        })
    }

    fn barrier(&mut self, channel: usize, barrier: Barrier) -> Alignment {
        let id = barrier.id;
        if id <= self.last_done {
            return Alignment::Waiting;
        }
        match &mut self.current {
            Some((current, _, _)) if id < current.id => return Alignment::Waiting,
            Some((current, _, _)) if id > current.id => {
                self.current = None;
                return Alignment::Superseded;
            }
            Some((_, arrived, _)) => arrived[channel] = true,
            None => {
                let mut arrived = vec![false; self.ended.len()];
                arrived[channel] = true;
                self.current = Some((barrier, arrived, Instant::now()));
            }
        }
        self.check()
    }

    fn end(&mut self, channel: usize) -> Alignment {
        self.ended[channel] = true;
        self.check()
    }

    /// Whether every channel ended or stopped.
    fn all_closed(&self) -> bool {
        self.ended.iter().all(|&ended| ended)
    }

    fn check(&mut self) -> Alignment {
        let Some((barrier, arrived, started)) = &self.current else {
            return Alignment::Waiting;
        };
        if arrived.iter().zip(&self.ended).all(|(a, e)| *a || *e) {
            let complete = Alignment::Complete {
                barrier: *barrier,
                waited: started.elapsed(),
            };
            self.last_done = barrier.id;
            self.current = None;
            complete
        } else {
            Alignment::Waiting
        }
    }
}

/// Runs a chain fed by the inbox of a consumer subtask.
pub struct InboxTask {
    pub inbox: Receiver<Message>,
    /// Per input channel.
    pub watermarks: InputWatermarks,
    /// The input side each channel feeds.
    pub channel_sides: Vec<InputSide>,
    pub chain: Chain,
    pub max_batch: usize,
    pub cancelled: Arc<AtomicBool>,
    /// Whether barriers are aligned.
    pub mode: CheckpointMode,
}

impl InboxTask {
    /// Process messages until every input ended.
    pub fn run(mut self) -> Result<(), Stop> {
        // Messages taken from the inbox but not processed yet, in order:
        // one read ahead while coalescing, or those held for an alignment.
        let mut replay: VecDeque<Message> = VecDeque::new();
        let mut aligner = BarrierAligner::new(self.mode, self.channel_sides.len());
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(Stop::Cancelled);
            }
            let message = match replay.pop_front() {
                Some(message) => message,
                None => match self.receive()? {
                    Some(message) => message,
                    None => continue,
                },
            };
            if aligner.holds(message.input) {
                aligner.held.push_back(message);
                continue;
            }
            let side = self.channel_sides[message.input];
            match message.element {
                Element::Records(mut records) => {
                    self.combine_watermarks(message.input, &mut records);
                    // Coalesce what is already waiting for the same input
                    // into one batch (adaptive batching), unless earlier
                    // messages wait in `replay`.
                    while records.len() < self.max_batch && replay.is_empty() {
                        match self.inbox.try_recv() {
                            Ok(Message {
                                element: Element::Records(mut more),
                                input,
                            }) if self.channel_sides[input] == side && !aligner.holds(input) => {
                                self.combine_watermarks(input, &mut more);
                                records.extend(more)
                            }
                            Ok(other) => {
                                replay.push_back(other);
                                break;
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => break,
                        }
                    }
                    match side {
                        InputSide::First => self.chain.records(records)?,
                        InputSide::Second => self.chain.second_records(records)?,
                    }
                }
                Element::Watermark(watermark) => {
                    self.watermarks.update(message.input, watermark);
                    self.chain.watermark(self.watermarks.current())?;
                }
                Element::Idle => {
                    self.watermarks.idle(message.input);
                    self.chain.watermark(self.watermarks.current())?;
                    if self.watermarks.all_idle() {
                        self.chain.idle()?;
                    }
                }
                Element::Barrier(barrier) => match aligner.barrier(message.input, barrier) {
                    Alignment::Waiting => {}
                    Alignment::Complete { barrier, waited } => {
                        self.chain.barrier(barrier, None, waited)?;
                        release(&mut aligner, &mut replay);
                    }
                    Alignment::Superseded => {
                        // Look at this barrier again once the held
                        // messages, which came before it, are processed.
                        replay.push_front(Message {
                            input: message.input,
                            element: Element::Barrier(barrier),
                        });
                        release(&mut aligner, &mut replay);
                    }
                },
                Element::End => {
                    if let Alignment::Complete { barrier, waited } = aligner.end(message.input) {
                        self.chain.barrier(barrier, None, waited)?;
                        release(&mut aligner, &mut replay);
                    }
                    self.watermarks.end(message.input);
                    if aligner.all_closed() {
                        return self.close(&aligner);
                    }
                    self.chain.watermark(self.watermarks.current())?;
                }
                Element::Stop => {
                    // The channel's watermark stays as it was: a stopping
                    // job fires no more timers.
                    aligner.stopped[message.input] = true;
                    if let Alignment::Complete { barrier, waited } = aligner.end(message.input) {
                        self.chain.barrier(barrier, None, waited)?;
                        release(&mut aligner, &mut replay);
                    }
                    if aligner.all_closed() {
                        return self.close(&aligner);
                    }
                }
            }
        }
    }

    /// Every input channel ended or stopped: the task ends as its inputs
    /// did; if any stopped after a savepoint, it stops too (no end of input).
    fn close(mut self, aligner: &BarrierAligner) -> Result<(), Stop> {
        if aligner.stopped.iter().any(|&stopped| stopped) {
            self.chain.stop()
        } else {
            self.chain.end(None)
        }
    }

    /// Turn the watermark each record of `input` carries (its producer's)
    /// into this task's: the minimum over its inputs as it stands when the
    /// record arrives.
    fn combine_watermarks(&mut self, input: usize, records: &mut [Record]) {
        self.watermarks.activate(input);
        for record in records {
            record.watermark = self.watermarks.at_record(input, record.watermark);
        }
    }

    /// The next message, waking for processing-time timers; `None` on a timeout.
    fn receive(&mut self) -> Result<Option<Message>, Stop> {
        let now = processing_time_now();
        if self.chain.next_processing_time().is_some_and(|t| t <= now) {
            self.chain.processing_time(now)?;
        }
        let wait = self
            .chain
            .next_processing_time()
            .map(|t| Duration::from_millis((t - now).clamp(1, 100) as u64))
            .unwrap_or(Duration::from_millis(100));
        self.chain.account_backpressure();
        if let Ok(message) = self.inbox.try_recv() {
            return Ok(Some(message));
        }
        let waiting = Instant::now();
        let received = self.inbox.recv_timeout(wait);
        self.chain.add_idle(waiting.elapsed());
        match received {
            Ok(message) => Ok(Some(message)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            // Every producer is gone without `End`: they were cancelled.
            Err(RecvTimeoutError::Disconnected) => Err(Stop::Cancelled),
        }
    }
}

/// Put the messages held for an alignment before those still to replay:
/// they came first.
fn release(aligner: &mut BarrierAligner, replay: &mut VecDeque<Message>) {
    let mut held = std::mem::take(&mut aligner.held);
    held.append(replay);
    *replay = held;
}
