//! Tasks from a job graph: a chain per task group and subtask, wired as the
//! graph's edges say, with guests instantiated (and restored from a
//! checkpoint) per subtask.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender};

use super::graph::{EdgePartitioning, GraphEdge, JobGraph, NodeId, Output};
use super::restore::{RestoreSource, native_database, restore_operator, restore_source};
use super::{CheckpointWiring, LoadedModules, Plan, PlannedTask, RunOptions};
use crate::checkpoint::CheckpointHandle;
use crate::checkpoint::NativeCheckpoint;
use crate::checkpoint::incremental::{self, NativeRestore};
use crate::connectors::SourceReader;
use crate::connectors::file::{FileReader, ThreadedLineReader};
use crate::connectors::generator::GeneratorReader;
use crate::connectors::sink::SinkWriter;
use crate::job::{CheckpointMode, FailurePolicy};
use crate::job::{
    InputSide, Job, KeyBy, OperatorDef, OperatorKind, SinkConnector, SourceConnector,
};
use crate::operators::join::IntervalJoin;
use crate::operators::keyed::{SecondInput, WasmKeyedProcess};
use crate::operators::keyed_guest::KeyedGuest;
use crate::operators::poison::{DeadLetterOutput, OnFailure};
use crate::operators::transform::WasmTransform;
use crate::operators::window::{AggregateGuest, WindowFunction, WindowOperator};
use crate::runtime::exchange::{
    self, Exchange, GuestKeySelector, KeySelector, Message, Partitioning,
};
use crate::runtime::metrics::{JobMetrics, NodeMetrics, NodeRole};
use crate::runtime::operator::Operator;
use crate::runtime::source_task::{RecordDecoder, SourceTask};
use crate::runtime::task::{Chain, ChainNode, ChainSink, InboxTask, SinkTime, Target};
use crate::state::{JobStateBackend, KeyGroupRange, StateBackend, StateDescriptor, StateError};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{InputWatermarks, SourceWatermarks};
use crate::wasm::{GuestInstance, GuestModule, GuestTag};

/// Where a node of the graph is defined in the job, by index.
#[derive(Clone, Copy)]
enum Definition {
    Source(usize),
    Operator(usize),
    Sink(usize),
}

/// Where a task group's input comes from.
#[derive(Clone, Copy)]
enum Head {
    Source(usize),
    Operator(usize),
}

/// An edge into an operator head, as its producers know it.
type InputStream<'g> = (InputSide, &'g NodeId, &'g Output);

/// A task group of the graph, its nodes found in the job, with the inbox
/// of an operator head.
struct Group<'g> {
    head: Head,
    parallelism: u32,
    /// Operators in chain order (an operator head comes first).
    operators: Vec<usize>,
    /// Sinks in chain order.
    sinks: Vec<usize>,
    /// Operator heads: the side each inbox channel feeds, by channel index.
    /// Every subtask of every producer of every input has a channel.
    channel_sides: Vec<InputSide>,
    /// Operator heads: first channel index of each input stream.
    channel_offsets: HashMap<InputStream<'g>, usize>,
    inboxes: Vec<(Sender<Message>, Receiver<Message>)>,
}

/// Every node of `job` by name.
fn definitions(job: &Job) -> HashMap<&str, Definition> {
    let sources =
        (job.sources.iter().enumerate()).map(|(i, s)| (s.name.as_str(), Definition::Source(i)));
    let operators =
        (job.operators.iter().enumerate()).map(|(i, o)| (o.uid.as_str(), Definition::Operator(i)));
    let sinks = (job.sinks.iter().enumerate()).map(|(i, k)| (k.name.as_str(), Definition::Sink(i)));
    sources.chain(operators).chain(sinks).collect()
}

/// The task groups of `graph`, with their inboxes.
fn groups<'g>(graph: &'g JobGraph, definitions: &HashMap<&str, Definition>) -> Vec<Group<'g>> {
    let mut groups = Vec::new();
    for group in &graph.task_groups {
        let head = match definitions[group.head.as_str()] {
            Definition::Source(s) => Head::Source(s),
            Definition::Operator(o) => Head::Operator(o),
            Definition::Sink(_) => unreachable!("a sink heads no task group"),
        };
        let mut operators = Vec::new();
        let mut sinks = Vec::new();
        for node in &group.nodes {
            match definitions[node.as_str()] {
                Definition::Source(_) => {}
                Definition::Operator(o) => operators.push(o),
                Definition::Sink(k) => sinks.push(k),
            }
        }
        let mut channel_sides = Vec::new();
        let mut channel_offsets = HashMap::new();
        let mut inboxes = Vec::new();
        if let Head::Operator(_) = head {
            for edge in graph.edges_into(group.head.as_str()) {
                let producers = graph
                    .node(edge.from.as_str())
                    .expect("edges join nodes of the graph")
                    .parallelism;
                channel_offsets.insert((edge.input, &edge.from, &edge.output), channel_sides.len());
                channel_sides.extend((0..producers).map(|_| edge.input));
            }
            inboxes = (0..group.parallelism)
                .map(|_| exchange::channel())
                .collect();
        }
        groups.push(Group {
            head,
            parallelism: group.parallelism,
            operators,
            sinks,
            channel_sides,
            channel_offsets,
            inboxes,
        });
    }
    groups
}

/// Build the tasks of `job` as `graph` chains and wires them, restored
/// from `checkpoints.restore` if set.
pub fn build_tasks(
    job: &Job,
    graph: &JobGraph,
    modules: &LoadedModules,
    options: &RunOptions,
    checkpoints: &CheckpointWiring<'_>,
) -> Result<Plan> {
    let definitions = definitions(job);
    let groups = groups(graph, &definitions);
    let group_headed_by: HashMap<&str, usize> = (graph.task_groups.iter().enumerate())
        .map(|(g, group)| (group.head.as_str(), g))
        .collect();

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
    for sink in &job.sinks {
        let writer = match &sink.connector {
            SinkConnector::Stdout => SinkWriter::stdout(),
            SinkConnector::File(path) => SinkWriter::file(path, checkpoints.restore.is_some())
                .with_context(|| {
                    format!("sink `{}`: cannot create {}", sink.name, path.display())
                })?,
            // Every subtask gets part files of its own (`Wiring::sink_writer`).
            SinkConnector::ExactlyOnceFiles(_)
            | SinkConnector::Kafka(_)
            | SinkConnector::Discard => SinkWriter::Discard,
            #[cfg(feature = "redis")]
            SinkConnector::Redis(config) => SinkWriter::Redis(Arc::new(std::sync::Mutex::new(
                crate::connectors::redis::RedisWriter::connect(&sink.name, config)
                    .with_context(|| format!("sink `{}`", sink.name))?,
            ))),
            #[cfg(not(feature = "redis"))]
            SinkConnector::Redis(_) => {
                anyhow::bail!(
                    "sink `{}`: {}",
                    sink.name,
                    crate::features::CargoFeature::Redis.missing("the Redis sink")
                )
            }
        };
        let parallelism = graph
            .node(&sink.name)
            .expect("every sink is a node of the graph")
            .parallelism;
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
        graph,
        definitions: &definitions,
        state_backend: &state_backend,
        modules,
        options,
        groups: &groups,
        group_headed_by: &group_headed_by,
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
                    let dead_letter = graph
                        .edges_from(&source.name, &Output::DeadLetters)
                        .next()
                        .map(|edge| sink_in_chain(&chain, &edge.to));
                    let attach_keys = job.operators.iter().any(|o| {
                        [InputSide::First, InputSide::Second]
                            .iter()
                            .any(|side| o.key_by_of(*side) == Some(&KeyBy::RecordKey))
                    }) || job.sinks.iter().any(|sink| {
                        matches!(&sink.connector, SinkConnector::Kafka(kafka)
                            if kafka.key == crate::job::kafka::MessageKey::RecordKey)
                    });
                    let mut reader = open_reader(
                        &source.connector,
                        source.format,
                        subtask,
                        group.parallelism,
                        attach_keys,
                    )
                    .with_context(|| format!("source `{}`", source.name))?;
                    let mut watermarks = SourceWatermarks::new(
                        source.watermark,
                        source.watermark_emission,
                        source.idle_timeout,
                        reader.split_count(),
                    );
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
                            key_fields: direct_key_fields(graph, &source.name),
                        },
                        watermarks,
                        reader,
                        chain,
                        dead_letter,
                        batch: job.batch,
                        metrics: source_metrics[s].clone(),
                        cancelled: cancelled.clone(),
                        uncompleted: Default::default(),
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

/// JSON key fields of keyed operators reading `source` directly (through
/// a hash exchange).
fn direct_key_fields(graph: &JobGraph, source: &str) -> Vec<Vec<String>> {
    let mut fields: Vec<Vec<String>> = Vec::new();
    for edge in graph.edges_from(source, &Output::Main) {
        if let EdgePartitioning::Hash {
            key: KeyBy::Field(path),
        } = &edge.partitioning
            && !fields.contains(path)
        {
            fields.push(path.clone());
        }
    }
    fields
}

/// The index of sink `sink` among the sinks of `chain`.
fn sink_in_chain(chain: &Chain, sink: &NodeId) -> usize {
    chain
        .sinks
        .iter()
        .position(|s| s.name == sink.as_str())
        .expect("the graph runs a sink in the chain of every node that writes to it")
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
        #[cfg(feature = "kafka")]
        SourceConnector::Kafka(config) => {
            Box::new(crate::connectors::kafka::source::KafkaReader::open(
                config,
                format,
                subtask,
                parallelism,
                attach_keys,
            )?)
        }
        #[cfg(not(feature = "kafka"))]
        SourceConnector::Kafka(_) => {
            anyhow::bail!(crate::features::CargoFeature::Kafka.missing("the Kafka source"))
        }
    })
}

/// What wiring one chain needs to know about the whole plan.
struct Wiring<'a> {
    checkpoints: &'a CheckpointWiring<'a>,
    job: &'a Job,
    graph: &'a JobGraph,
    definitions: &'a HashMap<&'a str, Definition>,
    /// Opens the keyed state of each operator subtask.
    state_backend: &'a JobStateBackend,
    modules: &'a LoadedModules,
    options: &'a RunOptions,
    groups: &'a [Group<'a>],
    group_headed_by: &'a HashMap<&'a str, usize>,
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
            let metrics = self.sink_writers[sink].1.clone();
            // A dead-letter sink runs in the chains of all that feed it.
            let chains = self
                .groups
                .iter()
                .filter(|g| g.sinks.contains(&sink))
                .count();
            let own_subtask = chains == 1 && metrics.parallelism == group.parallelism;
            chain.sinks.push(ChainSink {
                name: self.job.sinks[sink].name.clone(),
                writer: self.sink_writer(sink, subtask)?,
                metrics,
                time: if own_subtask {
                    SinkTime::ChainSubtask
                } else {
                    SinkTime::Shared
                },
            });
        }
        let mut node_ops = Vec::new();
        for &o in &group.operators {
            let def = &self.job.operators[o];
            let range =
                KeyGroupRange::for_subtask(subtask, def.parallelism, self.job.max_parallelism);
            let restore = self.checkpoints.restore.as_ref();
            // An incremental checkpoint's files of this very subtask: its
            // database opens on them.
            let native = restore
                .filter(|_| self.state_backend.opens_native_files())
                .and_then(|r| Some((r, native_database(r, &def.uid, &range)?)))
                .filter(|(_, files)| {
                    native_files_fit(files, &declared_storages(self.modules.operator(&def.uid)))
                });
            let opened_native = Cell::new(false);
            let mut op = self.instantiate(
                def,
                subtask,
                &self.operator_metrics[o],
                native.map(|n| (n, &opened_native)),
            )?;
            if let Some(restore) = restore {
                let context = || subtask_context(def, subtask);
                let native = if opened_native.get() {
                    NativeRestore::OpenedDirectly
                } else {
                    NativeRestore::ReadAsEntries
                };
                let mut state = restore_operator(restore, &def.uid, subtask, &range, native)
                    .with_context(context)?;
                if let Some(module) = self.modules.operator(&def.uid) {
                    drop_undeclared_states(&mut state, module);
                }
                op.restore_state(state).with_context(context)?;
            }
            node_ops.push(op);
        }
        if let Head::Source(s) = group.head {
            let source = &self.job.sources[s].name;
            chain.head = self.targets(g, subtask, source, &Output::Main, &mut chain)?;
        }
        for (local, op) in node_ops.into_iter().enumerate() {
            let def = &self.job.operators[group.operators[local]];
            let main = self.targets(g, subtask, &def.uid, &Output::Main, &mut chain)?;
            let mut side = Vec::new();
            for name in op.side_outputs().to_vec() {
                let output = Output::Side(name);
                side.push(self.targets(g, subtask, &def.uid, &output, &mut chain)?);
            }
            // The records its guest fails on: a side output after the
            // guest's own (`poison::DeadLetterOutput`).
            if def.on_failure.dead_letter_sink().is_some() {
                let output = Output::DeadLetters;
                side.push(self.targets(g, subtask, &def.uid, &output, &mut chain)?);
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

    /// The writer of sink `sink` for `subtask`: the job-wide one, or one of
    /// its own from a two-phase-commit sink's committer.
    fn sink_writer(&self, sink: usize, subtask: u32) -> Result<SinkWriter> {
        let name = &self.job.sinks[sink].name;
        match self.checkpoints.committers.get(name) {
            Some(committer) => {
                let writer = Arc::clone(committer)
                    .writer(subtask)
                    .with_context(|| format!("sink `{name}` subtask {}", subtask + 1))?;
                Ok(SinkWriter::TwoPhase(Arc::new(std::sync::Mutex::new(
                    writer,
                ))))
            }
            None => Ok(self.sink_writers[sink].0.clone()),
        }
    }

    /// Targets of `output` of node `from` in group `g`: chained operators,
    /// exchanges to other groups, and sinks, as the graph's edges say.
    fn targets(
        &self,
        g: usize,
        subtask: u32,
        from: &str,
        output: &Output,
        chain: &mut Chain,
    ) -> Result<Vec<Target>> {
        let group = &self.groups[g];
        let mut targets = Vec::new();
        for edge in self.graph.edges_from(from, output) {
            let target = match (self.definitions[edge.to.as_str()], &edge.partitioning) {
                (Definition::Operator(o), EdgePartitioning::Forward) => Target::Node(
                    (group.operators.iter().position(|&m| m == o))
                        .expect("a forward edge stays in its chain"),
                ),
                (Definition::Operator(o), _) => {
                    let op = &self.job.operators[o];
                    Target::Exchange(self.exchange(edge, op, subtask, chain)?)
                }
                (Definition::Sink(_), _) => Target::Sink(sink_in_chain(chain, &edge.to)),
                (Definition::Source(_), _) => unreachable!("no edge enters a source"),
            };
            targets.push(target);
        }
        Ok(targets)
    }

    /// A new exchange of `chain` for the records of `edge`, which enters
    /// `op`'s task group; its index among the chain's exchanges.
    fn exchange(
        &self,
        edge: &GraphEdge,
        op: &OperatorDef,
        subtask: u32,
        chain: &mut Chain,
    ) -> Result<usize> {
        let consumer = self.group_headed_by[edge.to.as_str()];
        let partitioning = match &edge.partitioning {
            EdgePartitioning::Broadcast => Partitioning::Broadcast,
            EdgePartitioning::Hash { key } => Partitioning::Keyed {
                selector: self.key_selector(op, key, edge.input, subtask)?,
                max_parallelism: self.job.max_parallelism,
            },
            EdgePartitioning::Rebalance => Partitioning::Rebalance {
                next: subtask as usize % self.senders[consumer].len().max(1),
            },
            EdgePartitioning::Forward => unreachable!("a forward edge has no exchange"),
        };
        let offset = self.groups[consumer].channel_offsets[&(edge.input, &edge.from, &edge.output)];
        chain.exchanges.push(Exchange::new(
            partitioning,
            self.senders[consumer].clone(),
            offset + subtask as usize,
            self.job.batch.max_records,
        ));
        Ok(chain.exchanges.len() - 1)
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
    /// `native`, when the run restores from an incremental checkpoint with
    /// this subtask's RocksDB files, opens its backend on them and says so.
    fn instantiate(
        &self,
        def: &OperatorDef,
        subtask: u32,
        metrics: &Arc<NodeMetrics>,
        native: Option<((&RestoreSource<'_>, &NativeCheckpoint), &Cell<bool>)>,
    ) -> Result<Box<dyn Operator>> {
        if let Some(factory) = self.options.native_operators.get(&def.uid) {
            return Ok(factory(subtask));
        }
        let backend = || -> Result<Box<dyn StateBackend>> {
            let range =
                KeyGroupRange::for_subtask(subtask, def.parallelism, self.job.max_parallelism);
            let Some(((restore, files), opened)) = native else {
                return self.state_backend.open(&def.uid, subtask, range);
            };
            let fill = |dir: &Path| {
                incremental::copy_native_files(
                    restore.storage.as_ref(),
                    restore.manifest,
                    files,
                    dir,
                )
                .map_err(|e| StateError::Storage(e.to_string()))
            };
            let backend = (self.state_backend).open_restored(
                &def.uid,
                subtask,
                range,
                &files.database,
                fill,
            )?;
            opened.set(true);
            tracing::info!(
                "operator `{}` subtask {}: RocksDB state opened on {} files of checkpoint {}",
                def.uid,
                subtask + 1,
                files.files.len(),
                restore.manifest.id
            );
            Ok(backend)
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
            guest.count_calls_in(metrics.subtask(subtask).guest.clone());
            guest
                .init(self.modules.config_of(&def.uid, &def.config))
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
                let function = WindowFunction::Process(Box::new(
                    KeyedGuest::new(guest, &module.descriptor, backend()?, max_parallelism)
                        .with_context(context)?,
                ));
                Box::new(
                    WindowOperator::new(function, window(), max_parallelism, max_batch)
                        .with_context(context)?,
                )
            }
        })
    }
}

/// Leave out entries of states that `descriptor` does not declare (in any
/// version it reads): states a swap or restore was allowed to drop. The
/// host's own states (`eddy.*`) stay.
/// Whether a database opened on `native` holds just what the operator's
/// function declares now, as it declares it: every state the checkpoint
/// lists is the host's own (`eddy.`) or a storage of a declared state,
/// with the same kind, and with a time-to-live if and only if it had one.
/// Otherwise (a state dropped, its kind or time-to-live changed) the files
/// are read as entries, through the checks and filters of a logical restore.
fn native_files_fit(native: &NativeCheckpoint, declared: &[StateDescriptor]) -> bool {
    native.database.states.iter().all(|state| {
        state.name.starts_with("eddy.")
            || declared.iter().any(|d| {
                d.name == state.name
                    && d.kind.name() == state.kind
                    && d.ttl.is_some() == state.ttl_ms.is_some()
            })
    })
}

/// What the backend stores for the states `module` declares: each
/// state's current storage and those of its older versions (none without
/// a module).
fn declared_storages(module: Option<&GuestModule>) -> Vec<StateDescriptor> {
    let states = module.into_iter().flat_map(|m| &m.descriptor.states);
    states
        .flat_map(|s| {
            let older = s.older_storages().into_iter().map(|(_, d)| d);
            std::iter::once(s.storage()).chain(older)
        })
        .collect()
}

fn drop_undeclared_states(
    state: &mut crate::snapshot::RestoredOperatorState,
    module: &GuestModule,
) {
    let declared: std::collections::HashSet<String> = (declared_storages(Some(module)).into_iter())
        .map(|d| d.name)
        .collect();
    let before = state.entries.len();
    state
        .entries
        .retain(|e| e.state.starts_with("eddy.") || declared.contains(&e.state));
    if state.entries.len() < before {
        tracing::info!(
            "{} entries of states the function no longer declares were not restored",
            before - state.entries.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{NativeDatabase, NativeState};
    use crate::state::{StateKind, StateTtl, TtlUpdate};

    fn checkpoint(states: &[(&str, &str, Option<u64>)]) -> NativeCheckpoint {
        NativeCheckpoint {
            database: NativeDatabase {
                lineage: "l".into(),
                states: (states.iter())
                    .map(|&(name, kind, ttl_ms)| NativeState {
                        name: name.into(),
                        kind: kind.into(),
                        ttl_ms,
                    })
                    .collect(),
            },
            files: Vec::new(),
        }
    }

    fn declared(name: &str, kind: StateKind, ttl: Option<u64>) -> StateDescriptor {
        StateDescriptor {
            name: name.into(),
            kind,
            ttl: ttl.map(|millis| StateTtl {
                millis,
                update: TtlUpdate::OnCreateAndWrite,
            }),
        }
    }

    #[test]
    fn native_files_are_opened_only_when_they_hold_what_the_function_declares_as_it_declares_it() {
        let host_states = checkpoint(&[("eddy.window-contents", "value", None)]);
        assert!(native_files_fit(&host_states, &[]));
        let count = checkpoint(&[("count", "value", Some(1000))]);
        // A time-to-live of another length is the same to RocksDB.
        assert!(native_files_fit(
            &count,
            &[declared("count", StateKind::Value, Some(5))]
        ));
        for (why, now) in [
            (
                "another kind",
                declared("count", StateKind::Map, Some(1000)),
            ),
            ("no time-to-live", declared("count", StateKind::Value, None)),
            (
                "not declared",
                declared("other", StateKind::Value, Some(1000)),
            ),
        ] {
            assert!(!native_files_fit(&count, &[now]), "{why}");
        }
    }
}
