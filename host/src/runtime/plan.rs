//! From a validated job to runnable tasks: load and check every module,
//! chain operators, wire exchanges and sinks, instantiate guests per subtask.
//!
//! Chaining follows Flink: a stateless operator with the parallelism of its
//! input runs in its input's task; a keyed operator, or a change of
//! parallelism, starts a new task group behind an exchange. Sinks run in the
//! task of their input.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use crossbeam_channel::{Receiver, Sender};

use super::exchange::{self, Exchange, GuestKeySelector, KeySelector, Message, Partitioning};
use super::keyed::{SecondInput, WasmKeyedProcess};
use super::keyed_guest::KeyedGuest;
use super::metrics::{JobMetrics, NodeMetrics, NodeRole};
use super::operator::Operator;
use super::poison::{DeadLetterOutput, OnFailure};
use super::source_task::{IdleDetector, RecordDecoder, SourceTask};
use super::task::{Chain, ChainNode, ChainSink, InboxTask, Stop, Target};
use super::transform::WasmTransform;
use crate::checkpoint::state_file;
use crate::checkpoint::{BarrierRequests, CheckpointHandle, CheckpointStorage, Manifest, TaskAck};
use crate::connectors::SourceReader;
use crate::connectors::file::{FileReader, ThreadedLineReader};
use crate::connectors::generator::GeneratorReader;
use crate::connectors::sink::SinkWriter;
use crate::connectors::staged_file::StagedFileWriter;
use crate::job::{CheckpointMode, FailurePolicy, JobError};
use crate::job::{
    InputSide, Job, KeyBy, LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT, OperatorDef, OperatorKind,
    SinkConnector, SourceConnector, StreamRef,
};
use crate::join::IntervalJoin;
use crate::snapshot::RestoredOperatorState;
use crate::state::{JobStateBackend, KeyGroupRange, StateBackend};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{InputWatermarks, WatermarkGenerator};
use crate::wasm::bindings::FunctionKind;
use crate::wasm::{GuestEngine, GuestInstance, GuestModule, GuestTag, function_kind_of};
use crate::window::{AggregateGuest, WindowFunction, WindowOperator};

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

/// The checkpoint a run starts from, read and checked.
pub struct RestoreSource<'a> {
    pub manifest: &'a Manifest,
    pub storage: Arc<dyn CheckpointStorage>,
}

/// How the tasks of a run reach the checkpoint coordinator.
pub struct CheckpointWiring<'a> {
    pub requests: Arc<BarrierRequests>,
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

/// The modules of a job, loaded and checked.
pub struct LoadedModules {
    operators: HashMap<String, GuestModule>,
    /// Key selectors by operator uid and the input they key.
    selectors: HashMap<(String, InputSide), GuestModule>,
}

impl LoadedModules {
    /// The module of WASM operator `uid` (none for host operators and
    /// native twins).
    pub fn operator(&self, uid: &str) -> Option<&GuestModule> {
        self.operators.get(uid)
    }
}

/// Load and check every module of `job` (what `eddy validate` does), and
/// check that side outputs read by the job are declared by their operators.
pub fn load_modules(
    job: &Job,
    engine: &GuestEngine,
    options: &RunOptions,
) -> Result<LoadedModules> {
    let mut modules = LoadedModules {
        operators: HashMap::new(),
        selectors: HashMap::new(),
    };
    for op in &job.operators {
        if let (Some(path), Some(kind)) = (&op.module, function_kind_of(op.kind))
            && !options.native_operators.contains_key(&op.uid)
        {
            let module = GuestModule::load(engine, path, kind)
                .with_context(|| format!("operator `{}`", op.uid))?;
            modules.operators.insert(op.uid.clone(), module);
        }
        for side in [InputSide::First, InputSide::Second] {
            if let Some(KeyBy::Selector(path)) = op.key_by_of(side) {
                let module = GuestModule::load(engine, path, FunctionKind::KeySelector)
                    .with_context(|| format!("operator `{}`: key_by selector", op.uid))?;
                modules.selectors.insert((op.uid.clone(), side), module);
            }
        }
    }
    for read in &job.side_output_reads {
        let (node, side) = (&read.stream.node, read.stream.side_output.as_deref());
        let available = side_outputs_of(job, &modules, node);
        if side.is_some_and(|side| !available.iter().any(|(name, _)| name == side)) {
            let has = if available.is_empty() {
                format!(
                    "operator `{node}` has none (it has no window and its module declares none)"
                )
            } else {
                let list: Vec<String> = available
                    .iter()
                    .map(|(name, origin)| format!("`{name}` ({origin})"))
                    .collect();
                format!("operator `{node}` has: {}", list.join(", "))
            };
            let message = format!(
                "{}: input `{}` names no side output of operator `{node}`; {has}",
                read.reader, read.stream
            );
            return Err(JobError::at(&job.file, &read.at, message).into());
        }
    }
    Ok(modules)
}

/// The side outputs of operator `uid`, each with where it comes from: the
/// host's (a window's late-data output, an interval join's late records),
/// then what its module declares.
fn side_outputs_of(job: &Job, modules: &LoadedModules, uid: &str) -> Vec<(String, &'static str)> {
    let operator = job.operators.iter().find(|o| o.uid == uid);
    let window_late = operator
        .and_then(|o| o.window.as_ref())
        .map(|w| (w.late_output.clone(), "the window's `late_output`"));
    let join_late = operator
        .filter(|o| o.kind == OperatorKind::IntervalJoin)
        .map(|_| {
            [LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT]
                .map(|name| (name.to_string(), "the interval join's late records"))
        });
    let declared = modules
        .operators
        .get(uid)
        .map(|m| m.descriptor.side_outputs.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|name| (name, "declared by its module"));
    window_late
        .into_iter()
        .chain(join_late.into_iter().flatten())
        .chain(declared)
        .collect()
}

/// Where a task group's input comes from.
#[derive(Clone, Copy)]
enum Head {
    Source(usize),
    Operator(usize),
}

/// Nodes that run together in one task per subtask.
struct Group {
    head: Head,
    parallelism: u32,
    /// Operators in chain order (an operator head comes first).
    operators: Vec<usize>,
    sinks: Vec<usize>,
    /// Operator heads: the side each inbox channel feeds, by channel index.
    /// Every subtask of every producer of every input has a channel.
    channel_sides: Vec<InputSide>,
    /// Operator heads: first channel index of each input stream.
    channel_offsets: HashMap<(InputSide, StreamRef), usize>,
    inboxes: Vec<(Sender<Message>, Receiver<Message>)>,
}

/// Build the tasks of `job`, restored from `checkpoints.restore` if set.
pub fn plan(
    job: &Job,
    modules: &LoadedModules,
    options: &RunOptions,
    checkpoints: &CheckpointWiring<'_>,
) -> Result<Plan> {
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (i, source) in job.sources.iter().enumerate() {
        group_of.insert(&source.name, groups.len());
        groups.push(Group {
            head: Head::Source(i),
            parallelism: source.parallelism,
            operators: Vec::new(),
            sinks: Vec::new(),
            channel_sides: Vec::new(),
            channel_offsets: HashMap::new(),
            inboxes: Vec::new(),
        });
    }
    for (i, op) in job.operators.iter().enumerate() {
        let streams: Vec<(InputSide, &StreamRef)> = op.input_streams().collect();
        let input_group = group_of[streams[0].1.node.as_str()];
        let input_parallelism = groups[input_group].parallelism;
        if op.kind.is_keyed() || streams.len() > 1 || op.parallelism != input_parallelism {
            let mut channel_sides = Vec::new();
            let mut channel_offsets = HashMap::new();
            for (side, stream) in streams {
                let producers = groups[group_of[stream.node.as_str()]].parallelism;
                channel_offsets.insert((side, stream.clone()), channel_sides.len());
                channel_sides.extend((0..producers).map(|_| side));
            }
            group_of.insert(&op.uid, groups.len());
            groups.push(Group {
                head: Head::Operator(i),
                parallelism: op.parallelism,
                operators: vec![i],
                sinks: Vec::new(),
                channel_sides,
                channel_offsets,
                inboxes: (0..op.parallelism).map(|_| exchange::channel()).collect(),
            });
        } else {
            groups[input_group].operators.push(i);
            group_of.insert(&op.uid, input_group);
        }
    }

    let mut metrics = JobMetrics::default();
    let source_metrics: Vec<_> = job
        .sources
        .iter()
        .map(|s| metrics.add(&s.name, NodeRole::Source, s.parallelism))
        .collect();
    let operator_metrics: Vec<_> = job
        .operators
        .iter()
        .map(|o| metrics.add(&o.uid, NodeRole::Operator, o.parallelism))
        .collect();
    let mut sink_writers = Vec::new();
    for (i, sink) in job.sinks.iter().enumerate() {
        let writer = match &sink.connector {
            SinkConnector::Stdout => SinkWriter::stdout(),
            SinkConnector::File(path) => SinkWriter::file(path, checkpoints.restore.is_some())
                .with_context(|| {
                    format!("sink `{}`: cannot create {}", sink.name, path.display())
                })?,
            // Every subtask gets part files of its own (`Wiring::sink_writer`).
            SinkConnector::ExactlyOnceFiles(_) | SinkConnector::Discard => SinkWriter::Discard,
        };
        // Sinks run with the task of their input; dead-letter-only sinks with their sources.
        let parallelism = match &sink.input {
            Some(input) => {
                let group = group_of[input.node.as_str()];
                groups[group].sinks.push(i);
                groups[group].parallelism
            }
            None => 1,
        };
        sink_writers.push((writer, metrics.add(&sink.name, NodeRole::Sink, parallelism)));
    }

    let cancelled = Arc::new(AtomicBool::new(false));
    let senders: Vec<Vec<Sender<Message>>> = groups
        .iter()
        .map(|g| g.inboxes.iter().map(|(tx, _)| tx.clone()).collect())
        .collect();
    let state_backend = JobStateBackend::new(&job.state)?;
    let mode = job
        .checkpoints
        .as_ref()
        .map_or(CheckpointMode::ExactlyOnce, |c| c.mode);
    let wiring = Wiring {
        checkpoints,
        job,
        state_backend: &state_backend,
        modules,
        options,
        groups: &groups,
        group_of: &group_of,
        senders: &senders,
        sink_writers: &sink_writers,
        operator_metrics: &operator_metrics,
    };

    let mut tasks = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for subtask in 0..group.parallelism {
            let mut chain = wiring.chain(g, subtask)?;
            chain.checkpoints = Some(CheckpointHandle {
                requests: checkpoints.requests.clone(),
                acks: checkpoints.acks.clone(),
                mode,
                scratch: checkpoints.scratch.clone(),
                task: tasks.len(),
                max_parallelism: job.max_parallelism,
            });
            match group.head {
                Head::Source(s) => {
                    let source = job.sources[s].clone();
                    let dead_letter = source
                        .dead_letter
                        .as_ref()
                        .map(|name| wiring.chain_sink(name, subtask, &mut chain));
                    let attach_keys = job.operators.iter().any(|o| {
                        [InputSide::First, InputSide::Second]
                            .iter()
                            .any(|side| o.key_by_of(*side) == Some(&KeyBy::RecordKey))
                    });
                    let mut reader = open_reader(
                        &source.connector,
                        source.format,
                        subtask,
                        group.parallelism,
                        attach_keys,
                    )
                    .with_context(|| format!("source `{}`", source.name))?;
                    let mut watermarks =
                        WatermarkGenerator::new(source.watermark, source.watermark_emission);
                    if let Some(restore) = &checkpoints.restore {
                        restore_source(
                            restore,
                            &source.name,
                            subtask,
                            group.parallelism,
                            reader.as_mut(),
                            &mut watermarks,
                        )?;
                    }
                    let task = SourceTask {
                        last_barrier: 0,
                        decoder: RecordDecoder {
                            format: source.format,
                            timestamp: source.timestamp.clone(),
                            key_fields: direct_key_fields(job, &source.name),
                        },
                        watermarks,
                        reader,
                        chain,
                        dead_letter,
                        batch: job.batch,
                        metrics: source_metrics[s].clone(),
                        cancelled: cancelled.clone(),
                        idleness: IdleDetector::new(source.idle_timeout),
                        source,
                    };
                    tasks.push(PlannedTask {
                        name: format!("{}#{}", job.sources[s].name, subtask + 1),
                        run: Box::new(move || task.run()),
                    });
                }
                Head::Operator(o) => {
                    chain.head = vec![Target::Node(0)];
                    let task = InboxTask {
                        inbox: group.inboxes[subtask as usize].1.clone(),
                        watermarks: InputWatermarks::new(group.channel_sides.len()),
                        channel_sides: group.channel_sides.clone(),
                        chain,
                        max_batch: job.batch.max_records,
                        cancelled: cancelled.clone(),
                        mode,
                    };
                    tasks.push(PlannedTask {
                        name: format!("{}#{}", job.operators[o].uid, subtask + 1),
                        run: Box::new(move || task.run()),
                    });
                }
            }
        }
    }
    Ok(Plan {
        tasks,
        metrics,
        cancelled,
    })
}

/// Rewind a source subtask's reader to where checkpoint `restore` has it.
/// A source the checkpoint does not know (new in the job) starts at the beginning.
fn restore_source(
    restore: &RestoreSource<'_>,
    source: &str,
    subtask: u32,
    parallelism: u32,
    reader: &mut dyn SourceReader,
    watermarks: &mut WatermarkGenerator,
) -> Result<()> {
    let id = restore.manifest.id;
    let states: Vec<_> = restore
        .manifest
        .sources
        .iter()
        .filter(|s| s.source == source)
        .collect();
    if let Some(other) = states.iter().find(|s| s.parallelism != parallelism) {
        bail!(
            "source `{source}` ran with parallelism {} when checkpoint {id} was taken and has {parallelism} now; a source's parallelism cannot change across a restore",
            other.parallelism
        );
    }
    if let Some(state) = states.iter().find(|s| s.subtask == subtask) {
        reader.seek(state.position).with_context(|| {
            format!(
                "source `{source}`: cannot go back to where checkpoint {id} read up to in {}",
                reader.describe()
            )
        })?;
        watermarks.restore(state.max_timestamp);
    }
    Ok(())
}

/// The state of operator `uid`'s subtask owning `range`, read from every
/// file of checkpoint `restore` that holds some of its key groups (any
/// number of them if the parallelism changed); broadcast state from the old
/// subtask with the same index (modulo the old parallelism), as Flink does.
fn restore_operator(
    restore: &RestoreSource<'_>,
    uid: &str,
    subtask: u32,
    range: &KeyGroupRange,
) -> Result<RestoredOperatorState> {
    let manifest = restore.manifest;
    let mut state = RestoredOperatorState::default();
    for part in manifest.operators.iter().filter(|p| p.uid == uid) {
        let (start, end) = part.key_groups;
        let with_broadcast = subtask % part.parallelism.max(1) == part.subtask;
        if !with_broadcast && (end <= range.groups.start || start >= range.groups.end) {
            continue;
        }
        let file = manifest
            .files
            .iter()
            .find(|f| f.path == part.file)
            .with_context(|| {
                format!(
                    "checkpoint {}: the manifest names state file {} for operator `{uid}` but does not list it",
                    manifest.id, part.file
                )
            })?;
        let bytes = restore.storage.read_file(manifest.id, file)?;
        state_file::decode_into(&mut state, &bytes, range, with_broadcast)
            .with_context(|| format!("checkpoint {}: state file {}", manifest.id, part.file))?;
    }
    Ok(state)
}

/// `operator `uid` (subtask i/p)`, what errors about one operator subtask start with.
fn subtask_context(def: &OperatorDef, subtask: u32) -> String {
    format!(
        "operator `{}` (subtask {}/{})",
        def.uid,
        subtask + 1,
        def.parallelism
    )
}

/// JSON key fields of keyed operators reading `source` directly.
fn direct_key_fields(job: &Job, source: &str) -> Vec<Vec<String>> {
    let mut fields: Vec<Vec<String>> = Vec::new();
    for op in &job.operators {
        for (side, stream) in op.input_streams() {
            if stream.node == source
                && let Some(KeyBy::Field(path)) = op.key_by_of(side)
                && !fields.contains(path)
            {
                fields.push(path.clone());
            }
        }
    }
    fields
}

fn open_reader(
    connector: &SourceConnector,
    format: crate::job::RecordFormat,
    subtask: u32,
    parallelism: u32,
    attach_keys: bool,
) -> Result<Box<dyn SourceReader>> {
    Ok(match connector {
        SourceConnector::Generator(spec) => Box::new(GeneratorReader::new(
            spec.clone(),
            format,
            subtask,
            parallelism,
            attach_keys,
        )),
        SourceConnector::File(path) => {
            FileReader::open(path).with_context(|| format!("cannot open {}", path.display()))?
        }
        SourceConnector::Stdin => Box::new(ThreadedLineReader::stdin()),
    })
}

/// What wiring one chain needs to know about the whole plan.
struct Wiring<'a> {
    checkpoints: &'a CheckpointWiring<'a>,
    job: &'a Job,
    /// Opens the keyed state of each operator subtask.
    state_backend: &'a JobStateBackend,
    modules: &'a LoadedModules,
    options: &'a RunOptions,
    groups: &'a [Group],
    group_of: &'a HashMap<&'a str, usize>,
    senders: &'a [Vec<Sender<Message>>],
    sink_writers: &'a [(SinkWriter, Arc<NodeMetrics>)],
    operator_metrics: &'a [Arc<NodeMetrics>],
}

impl Wiring<'_> {
    /// The chain of group `g` for `subtask`.
    fn chain(&self, g: usize, subtask: u32) -> Result<Chain> {
        let group = &self.groups[g];
        let mut chain = Chain {
            subtask,
            parallelism: group.parallelism,
            head: Vec::new(),
            nodes: Vec::new(),
            exchanges: Vec::new(),
            sinks: Vec::new(),
            checkpoints: None,
            watermark: NO_WATERMARK,
        };
        for &sink in &group.sinks {
            chain.sinks.push(ChainSink {
                name: self.job.sinks[sink].name.clone(),
                writer: self.sink_writer(sink, subtask),
                metrics: self.sink_writers[sink].1.clone(),
            });
        }
        let mut node_ops = Vec::new();
        for &o in &group.operators {
            let def = &self.job.operators[o];
            let mut op = self.instantiate(def, subtask, &self.operator_metrics[o])?;
            if let Some(restore) = &self.checkpoints.restore {
                let range =
                    KeyGroupRange::for_subtask(subtask, def.parallelism, self.job.max_parallelism);
                let context = || subtask_context(def, subtask);
                let state =
                    restore_operator(restore, &def.uid, subtask, &range).with_context(context)?;
                op.restore_state(state).with_context(context)?;
            }
            node_ops.push(op);
        }
        if let Head::Source(s) = group.head {
            let stream = StreamRef {
                node: self.job.sources[s].name.clone(),
                side_output: None,
            };
            chain.head = self.targets(g, subtask, &stream, &mut chain)?;
        }
        for (local, op) in node_ops.into_iter().enumerate() {
            let def = &self.job.operators[group.operators[local]];
            let main = self.targets(
                g,
                subtask,
                &StreamRef {
                    node: def.uid.clone(),
                    side_output: None,
                },
                &mut chain,
            )?;
            let mut side = Vec::new();
            for name in op.side_outputs().to_vec() {
                let stream = StreamRef {
                    node: def.uid.clone(),
                    side_output: Some(name),
                };
                side.push(self.targets(g, subtask, &stream, &mut chain)?);
            }
            // The records its guest fails on: a side output after the
            // guest's own (`poison::DeadLetterOutput`).
            if let Some(sink) = def.on_failure.dead_letter_sink() {
                side.push(vec![Target::Sink(
                    self.chain_sink(sink, subtask, &mut chain),
                )]);
            }
            chain.nodes.push(ChainNode {
                op,
                main,
                side,
                metrics: self.operator_metrics[group.operators[local]].clone(),
            });
        }
        Ok(chain)
    }

    /// The index of sink `name` among the sinks of `chain`, added if the
    /// chain does not write it yet: a dead-letter sink, which takes records
    /// from every task that sets some aside, besides its `input` if any.
    fn chain_sink(&self, name: &str, subtask: u32, chain: &mut Chain) -> usize {
        if let Some(index) = chain.sinks.iter().position(|s| s.name == name) {
            return index;
        }
        let sink = self
            .job
            .sinks
            .iter()
            .position(|k| k.name == name)
            .expect("validated: dead letters go to a sink of the job");
        chain.sinks.push(ChainSink {
            name: name.to_string(),
            writer: self.sink_writer(sink, subtask),
            metrics: self.sink_writers[sink].1.clone(),
        });
        chain.sinks.len() - 1
    }

    /// The writer of sink `sink` for `subtask`: the job-wide one, or part
    /// files of its own for an exactly-once file sink.
    fn sink_writer(&self, sink: usize, subtask: u32) -> SinkWriter {
        match &self.job.sinks[sink].connector {
            SinkConnector::ExactlyOnceFiles(dir) => SinkWriter::Staged(Arc::new(
                std::sync::Mutex::new(StagedFileWriter::new(dir, subtask)),
            )),
            _ => self.sink_writers[sink].0.clone(),
        }
    }

    /// Targets of `stream` as produced in group `g`: chained operators,
    /// exchanges to other groups, and sinks.
    fn targets(
        &self,
        g: usize,
        subtask: u32,
        stream: &StreamRef,
        chain: &mut Chain,
    ) -> Result<Vec<Target>> {
        let group = &self.groups[g];
        let mut targets = Vec::new();
        for (o, op) in self.job.operators.iter().enumerate() {
            for (side, input) in op.input_streams() {
                if input != stream {
                    continue;
                }
                if let Some(local) = group.operators.iter().position(|&m| m == o)
                    && !matches!(group.head, Head::Operator(h) if h == o)
                {
                    targets.push(Target::Node(local));
                    continue;
                }
                let consumer = self.group_of[op.uid.as_str()];
                let partitioning = match op.key_by_of(side) {
                    _ if op.is_broadcast(side) => Partitioning::Broadcast,
                    Some(key_by) => Partitioning::Keyed {
                        selector: self.key_selector(op, key_by, side, subtask)?,
                        max_parallelism: self.job.max_parallelism,
                    },
                    None => Partitioning::Rebalance {
                        next: subtask as usize % self.senders[consumer].len().max(1),
                    },
                };
                let offset = self.groups[consumer].channel_offsets[&(side, stream.clone())];
                chain.exchanges.push(Exchange::new(
                    partitioning,
                    self.senders[consumer].clone(),
                    offset + subtask as usize,
                    self.job.batch.max_records,
                ));
                targets.push(Target::Exchange(chain.exchanges.len() - 1));
            }
        }
        for (k, sink) in self.job.sinks.iter().enumerate() {
            if sink.input.as_ref() == Some(stream) {
                let local = group
                    .sinks
                    .iter()
                    .position(|&s| s == k)
                    .expect("sink in its input's group");
                targets.push(Target::Sink(local));
            }
        }
        Ok(targets)
    }

    fn key_selector(
        &self,
        op: &OperatorDef,
        key_by: &KeyBy,
        side: InputSide,
        subtask: u32,
    ) -> Result<KeySelector> {
        Ok(match key_by {
            KeyBy::RecordKey => KeySelector::RecordKey,
            KeyBy::Field(path) => KeySelector::Field(path.clone()),
            KeyBy::Selector(_) => {
                let module = &self.modules.selectors[&(op.uid.clone(), side)];
                let tag = GuestTag {
                    operator: format!("{}/key_by", op.uid),
                    subtask,
                    parallelism: op.parallelism,
                };
                let mut guest = GuestInstance::new(module, tag, op.limits)
                    .with_context(|| format!("operator `{}`: key_by selector", op.uid))?;
                guest
                    .init("")
                    .with_context(|| format!("operator `{}`: key_by selector init", op.uid))?;
                KeySelector::Guest(Box::new(GuestKeySelector::new(guest)))
            }
        })
    }

    /// The operator of `def` for one subtask: its guest (initialised with the
    /// operator's config) or its native twin.
    fn instantiate(
        &self,
        def: &OperatorDef,
        subtask: u32,
        metrics: &Arc<NodeMetrics>,
    ) -> Result<Box<dyn Operator>> {
        if let Some(factory) = self.options.native_operators.get(&def.uid) {
            return Ok(factory(subtask));
        }
        let backend = || -> Result<Box<dyn StateBackend>> {
            let range =
                KeyGroupRange::for_subtask(subtask, def.parallelism, self.job.max_parallelism);
            self.state_backend.open(&def.uid, subtask, range)
        };
        let max_parallelism = self.job.max_parallelism;
        let max_batch = self.job.batch.max_records;
        let context = || subtask_context(def, subtask);
        // The guest of this subtask with its module, initialised with the config.
        let guest = || -> Result<(GuestInstance, &GuestModule)> {
            let module = &self.modules.operators[&def.uid];
            let tag = GuestTag {
                operator: def.uid.clone(),
                subtask,
                parallelism: def.parallelism,
            };
            let mut guest = GuestInstance::new(module, tag, def.limits).with_context(context)?;
            guest
                .init(&def.config)
                .with_context(|| format!("{}: init", context()))?;
            Ok((guest, module))
        };
        // Dead letters follow the side outputs the module declares.
        let on_failure = |module: &GuestModule| match &def.on_failure {
            FailurePolicy::Fail => OnFailure::Fail,
            FailurePolicy::DeadLetter { .. } => OnFailure::DeadLetter(DeadLetterOutput {
                uid: def.uid.clone(),
                subtask: subtask + 1,
                side_output: module.descriptor.side_outputs.len(),
                metrics: metrics.clone(),
            }),
        };
        let window = || {
            def.window
                .clone()
                .expect("validated: windowed kinds have a window")
        };
        Ok(match def.kind {
            OperatorKind::Map | OperatorKind::Filter | OperatorKind::FlatMap => {
                let (guest, module) = guest()?;
                Box::new(WasmTransform::new(
                    guest,
                    module.descriptor.side_outputs.clone(),
                    on_failure(module),
                ))
            }
            OperatorKind::IntervalJoin => {
                let interval = def.between.expect("validated: interval joins have bounds");
                Box::new(IntervalJoin::new(backend()?, interval, max_parallelism)?)
            }
            OperatorKind::KeyedProcess
            | OperatorKind::CoProcess
            | OperatorKind::BroadcastProcess => {
                let (guest, module) = guest()?;
                let second_input = match def.kind {
                    OperatorKind::BroadcastProcess => SecondInput::Broadcast,
                    _ => SecondInput::Keyed,
                };
                Box::new(
                    WasmKeyedProcess::new(
                        guest,
                        second_input,
                        &module.descriptor,
                        backend()?,
                        max_parallelism,
                        max_batch,
                        on_failure(module),
                    )
                    .with_context(context)?,
                )
            }
            OperatorKind::Aggregate => {
                let (guest, _) = guest()?;
                let function = WindowFunction::Aggregate(
                    AggregateGuest::new(Box::new(guest), backend()?).with_context(context)?,
                );
                Box::new(
                    WindowOperator::new(function, window(), max_parallelism, max_batch)
                        .with_context(context)?,
                )
            }
            OperatorKind::WindowProcess => {
                let (guest, module) = guest()?;
                let function = WindowFunction::Process(
                    KeyedGuest::new(guest, &module.descriptor, backend()?, max_parallelism)
                        .with_context(context)?,
                );
                Box::new(
                    WindowOperator::new(function, window(), max_parallelism, max_batch)
                        .with_context(context)?,
                )
            }
        })
    }
}
