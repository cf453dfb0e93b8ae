//! Tasks from a job: chain operators, wire exchanges and sinks,
//! instantiate guests per subtask.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender};

use super::restore::{restore_operator, restore_source};
use super::{CheckpointWiring, LoadedModules, Plan, PlannedTask, RunOptions};
use crate::checkpoint::CheckpointHandle;
use crate::connectors::SourceReader;
use crate::connectors::file::{FileReader, ThreadedLineReader};
use crate::connectors::generator::GeneratorReader;
use crate::connectors::sink::SinkWriter;
use crate::connectors::staged_file::StagedFileWriter;
use crate::job::{CheckpointMode, FailurePolicy};
use crate::job::{
    InputSide, Job, KeyBy, OperatorDef, OperatorKind, SinkConnector, SourceConnector, StreamRef,
};
use crate::join::IntervalJoin;
use crate::runtime::exchange::{
    self, Exchange, GuestKeySelector, KeySelector, Message, Partitioning,
};
use crate::runtime::keyed::{SecondInput, WasmKeyedProcess};
use crate::runtime::keyed_guest::KeyedGuest;
use crate::runtime::metrics::{JobMetrics, NodeMetrics, NodeRole};
use crate::runtime::operator::Operator;
use crate::runtime::poison::{DeadLetterOutput, OnFailure};
use crate::runtime::source_task::{IdleDetector, RecordDecoder, SourceTask};
use crate::runtime::task::{Chain, ChainNode, ChainSink, InboxTask, Target};
use crate::runtime::transform::WasmTransform;
use crate::state::{JobStateBackend, KeyGroupRange, StateBackend};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{InputWatermarks, WatermarkGenerator};
use crate::wasm::{GuestInstance, GuestModule, GuestTag};
use crate::window::{AggregateGuest, WindowFunction, WindowOperator};

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
                requested: checkpoints.requested.clone(),
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
