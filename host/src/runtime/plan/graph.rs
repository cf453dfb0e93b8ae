//! The job graph: which nodes run chained in one task per subtask (task
//! groups) and how records travel between them (edges, each with its
//! partitioning). Computed from the job alone, so that what `eddy inspect`
//! prints, what the control API and the dashboard will show, and what a run
//! builds (`build`) are one and the same decision.
//!
//! Chaining follows Flink: a stateless operator with the parallelism of its
//! input runs in its input's chain; a keyed operator, an operator with
//! several input streams (a union, or `connect`), or a change of
//! parallelism starts a new task group behind an exchange. Sinks run in the
//! chain of their input, and a dead-letter sink also in the chain of every
//! source and operator that sends it records.

use std::collections::HashMap;

use serde::Serialize;

use crate::job::{InputSide, Job, KeyBy, LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT, OperatorKind};
use crate::job::{SinkConnector, SourceConnector, StreamRef};

/// A source name, operator uid or sink name (one namespace in a job file):
/// the id that stays the same from run to run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    /// The name, to look the node up in the job.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The topology of a job as plain data: what a run builds its tasks from,
/// and what is shown of it (`eddy inspect`, later the control API's
/// `GET /jobs/{id}` and the dashboard).
#[derive(Debug, Clone, Serialize)]
pub struct JobGraph {
    /// The job's name.
    pub job: String,
    /// The number of key groups every hash exchange partitions into.
    pub max_parallelism: u32,
    /// Sources, then operators, then sinks, each in job-file order.
    pub nodes: Vec<GraphNode>,
    /// Every group comes after the groups it reads from.
    pub task_groups: Vec<TaskGroup>,
    /// Grouped by consumer: operators in job order (each input in order,
    /// first input first), then sinks, then dead letters.
    pub edges: Vec<GraphEdge>,
}

/// A source, operator or sink.
#[derive(Debug, Clone, Serialize)]
pub struct GraphNode {
    pub id: NodeId,
    #[serde(flatten)]
    pub kind: NodeKind,
    /// A sink's is that of its input's task group (1 for a sink that only
    /// receives dead letters).
    pub parallelism: u32,
    /// Named side outputs this job knows of: the host's (a window's late
    /// output, an interval join's late records) and those read by an input.
    /// A module may declare more, which only loading it tells.
    pub side_outputs: Vec<String>,
}

/// What a node is.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum NodeKind {
    /// `connector` is the source's `type` in the job file.
    Source {
        connector: &'static str,
    },
    Operator {
        kind: OperatorKind,
    },
    /// `connector` is the sink's `type` in the job file.
    Sink {
        connector: &'static str,
    },
}

/// Nodes that run together, in one thread per subtask (Flink's chain).
#[derive(Debug, Clone, Serialize)]
pub struct TaskGroup {
    /// Where the group's input enters: a source, or the operator behind the
    /// group's exchanges. Unique among groups; tasks are named after it.
    pub head: NodeId,
    pub parallelism: u32,
    /// In chain order: the head, the operators chained to it, then sinks.
    pub nodes: Vec<NodeId>,
}

/// One stream of records from a node's output to a node's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphEdge {
    pub from: NodeId,
    pub output: Output,
    pub to: NodeId,
    /// The consumer's input this feeds (`first` for sinks).
    pub input: InputSide,
    pub partitioning: EdgePartitioning,
}

/// Which output of a node an edge carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    Main,
    /// A side output, by name.
    Side(String),
    /// Records set aside: malformed at a source (`dead_letter`), or failed
    /// by a guest (`on_failure = "dead-letter"`).
    DeadLetters,
}

impl Output {
    /// The output a job file's `input = "node"` or `"node/side"` reads.
    fn of(stream: &StreamRef) -> Output {
        match &stream.side_output {
            Some(name) => Output::Side(name.clone()),
            None => Output::Main,
        }
    }
}

/// How the records of an edge reach the consumer's subtasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EdgePartitioning {
    /// Chained: the consumer runs in the producer's thread, no channel.
    Forward,
    /// A hash exchange: each record goes to the subtask owning its key's
    /// key group.
    Hash { key: KeyBy },
    /// An exchange that deals batches round-robin over the consumer's subtasks.
    Rebalance,
    /// An exchange that sends every record to every consumer subtask.
    Broadcast,
}

impl JobGraph {
    /// Chain and wire the nodes of `job` (validated: inputs exist and come
    /// first, dead-letter sinks are sinks of the job).
    pub fn of(job: &Job) -> JobGraph {
        let mut planner = Planner::default();
        for source in &job.sources {
            planner.start_group(&source.name, source.parallelism);
        }
        for op in &job.operators {
            let streams: Vec<(InputSide, &StreamRef)> = op.input_streams().collect();
            let input_group = planner.group_of[streams[0].1.node.as_str()];
            // Chained only where records stay in their subtask: a key
            // repartitions them (job files key only keyed kinds; the
            // latency probe of `eddy bench` also keys a map, as Flink's
            // `keyBy().map()`).
            let chained = !op.kind.is_keyed()
                && op.key_by.is_none()
                && streams.len() == 1
                && op.parallelism == planner.groups[input_group].parallelism;
            if chained {
                planner.join_group(input_group, &op.uid);
            } else {
                planner.start_group(&op.uid, op.parallelism);
            }
            for (side, stream) in streams {
                let partitioning = if chained {
                    EdgePartitioning::Forward
                } else if op.is_broadcast(side) {
                    EdgePartitioning::Broadcast
                } else {
                    match op.key_by_of(side) {
                        Some(key) => EdgePartitioning::Hash { key: key.clone() },
                        None => EdgePartitioning::Rebalance,
                    }
                };
                planner.edges.push(GraphEdge {
                    from: NodeId(stream.node.clone()),
                    output: Output::of(stream),
                    to: NodeId(op.uid.clone()),
                    input: side,
                    partitioning,
                });
            }
        }
        for sink in &job.sinks {
            if let Some(input) = &sink.input {
                planner.chain_sink(&input.node, Output::of(input), &sink.name);
            }
        }
        for source in &job.sources {
            if let Some(sink) = &source.dead_letter {
                planner.chain_sink(&source.name, Output::DeadLetters, sink);
            }
        }
        for op in &job.operators {
            if let Some(sink) = op.on_failure.dead_letter_sink() {
                planner.chain_sink(&op.uid, Output::DeadLetters, sink);
            }
        }
        planner.finish(job)
    }

    /// The node named `id`.
    pub fn node(&self, id: &str) -> Option<&GraphNode> {
        self.nodes.iter().find(|n| n.id.as_str() == id)
    }

    /// The edges leaving `output` of node `from`, in the order its records
    /// are handed on.
    pub fn edges_from<'a>(
        &'a self,
        from: &'a str,
        output: &'a Output,
    ) -> impl Iterator<Item = &'a GraphEdge> + 'a {
        self.edges
            .iter()
            .filter(move |e| e.from.as_str() == from && e.output == *output)
    }

    /// The edges entering node `to`, first input first.
    pub fn edges_into<'a>(&'a self, to: &'a str) -> impl Iterator<Item = &'a GraphEdge> + 'a {
        self.edges.iter().filter(move |e| e.to.as_str() == to)
    }
}

/// The graph while it is being built.
#[derive(Default)]
struct Planner {
    groups: Vec<TaskGroup>,
    /// The group of every source and operator.
    group_of: HashMap<String, usize>,
    edges: Vec<GraphEdge>,
}

impl Planner {
    fn start_group(&mut self, head: &str, parallelism: u32) {
        self.group_of.insert(head.to_string(), self.groups.len());
        self.groups.push(TaskGroup {
            head: NodeId(head.to_string()),
            parallelism,
            nodes: vec![NodeId(head.to_string())],
        });
    }

    fn join_group(&mut self, group: usize, node: &str) {
        self.group_of.insert(node.to_string(), group);
        self.groups[group].nodes.push(NodeId(node.to_string()));
    }

    /// Sink `sink` reads `output` of `from`, in `from`'s chain.
    fn chain_sink(&mut self, from: &str, output: Output, sink: &str) {
        let group = &mut self.groups[self.group_of[from]];
        if !group.nodes.iter().any(|n| n.as_str() == sink) {
            group.nodes.push(NodeId(sink.to_string()));
        }
        self.edges.push(GraphEdge {
            from: NodeId(from.to_string()),
            output,
            to: NodeId(sink.to_string()),
            input: InputSide::First,
            partitioning: EdgePartitioning::Forward,
        });
    }

    /// The side outputs of `node` that edges carry.
    fn side_outputs_read(&self, node: &str) -> Vec<String> {
        self.edges
            .iter()
            .filter_map(|e| match &e.output {
                Output::Side(name) if e.from.as_str() == node => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    fn finish(self, job: &Job) -> JobGraph {
        let sources = job.sources.iter().map(|source| GraphNode {
            id: NodeId(source.name.clone()),
            kind: NodeKind::Source {
                connector: source_type(&source.connector),
            },
            parallelism: source.parallelism,
            side_outputs: Vec::new(),
        });
        let operators = job.operators.iter().map(|op| {
            let window_late = op.window.iter().map(|w| w.late_output.clone());
            let join_late = (op.kind == OperatorKind::IntervalJoin)
                .then_some([LATE_LEFT_OUTPUT, LATE_RIGHT_OUTPUT].map(String::from))
                .into_iter()
                .flatten();
            let mut side_outputs: Vec<String> = Vec::new();
            for name in window_late
                .chain(join_late)
                .chain(self.side_outputs_read(&op.uid))
            {
                if !side_outputs.contains(&name) {
                    side_outputs.push(name);
                }
            }
            GraphNode {
                id: NodeId(op.uid.clone()),
                kind: NodeKind::Operator { kind: op.kind },
                parallelism: op.parallelism,
                side_outputs,
            }
        });
        let sinks = job.sinks.iter().map(|sink| GraphNode {
            id: NodeId(sink.name.clone()),
            kind: NodeKind::Sink {
                connector: sink_type(&sink.connector),
            },
            parallelism: sink.input.as_ref().map_or(1, |input| {
                self.groups[self.group_of[input.node.as_str()]].parallelism
            }),
            side_outputs: Vec::new(),
        });
        let nodes = sources.chain(operators).chain(sinks).collect();
        JobGraph {
            job: job.name.clone(),
            max_parallelism: job.max_parallelism,
            nodes,
            task_groups: self.groups,
            edges: self.edges,
        }
    }
}

/// A source's `type` as the job file writes it.
fn source_type(connector: &SourceConnector) -> &'static str {
    match connector {
        SourceConnector::Generator(_) => "generator",
        SourceConnector::File(_) => "file",
        SourceConnector::Stdin => "stdin",
        SourceConnector::Kafka(_) => "kafka",
    }
}

/// A sink's `type` as the job file writes it, with its delivery when
/// that makes it another writer.
fn sink_type(connector: &SinkConnector) -> &'static str {
    match connector {
        SinkConnector::Stdout => "stdout",
        SinkConnector::File(_) => "file",
        SinkConnector::ExactlyOnceFiles(_) => "file (exactly-once)",
        SinkConnector::Discard => "discard",
        SinkConnector::Redis(_) => "redis",
        SinkConnector::Kafka(k) if k.delivery == crate::job::kafka::KafkaDelivery::ExactlyOnce => {
            "kafka (exactly-once)"
        }
        SinkConnector::Kafka(_) => "kafka",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph of a job file made of `[job]` with parallelism 2 and
    /// `body`; `f.wasm` and `in.jsonl` exist next to it.
    fn graph(body: &str) -> JobGraph {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.wasm"), b"").unwrap();
        std::fs::write(dir.path().join("in.jsonl"), b"").unwrap();
        let text = format!("[job]\nname = \"graph\"\nparallelism = 2\n{body}");
        let job = crate::job::parse_job(&text, &dir.path().join("job.toml"))
            .unwrap_or_else(|error| panic!("{error}"));
        JobGraph::of(&job)
    }

    /// Each task group as (head, parallelism, nodes in chain order).
    fn groups(graph: &JobGraph) -> Vec<(&str, u32, Vec<&str>)> {
        graph
            .task_groups
            .iter()
            .map(|g| {
                let nodes = g.nodes.iter().map(NodeId::as_str).collect();
                (g.head.as_str(), g.parallelism, nodes)
            })
            .collect()
    }

    /// The edges from `from` to `to` as (output, input side, partitioning).
    fn edges<'a>(
        graph: &'a JobGraph,
        from: &str,
        to: &str,
    ) -> Vec<(&'a Output, InputSide, &'a EdgePartitioning)> {
        graph
            .edges
            .iter()
            .filter(|e| e.from.as_str() == from && e.to.as_str() == to)
            .map(|e| (&e.output, e.input, &e.partitioning))
            .collect()
    }

    fn hash_by_field(field: &str) -> EdgePartitioning {
        EdgePartitioning::Hash {
            key: KeyBy::Field(vec![field.to_string()]),
        }
    }

    const GENERATOR: &str = "[[source]]\nname = \"src\"\ntype = \"generator\"\n";

    #[test]
    fn a_stateless_operator_with_its_inputs_parallelism_is_chained() {
        let graph = graph(&format!(
            r#"{GENERATOR}
[[operator]]
uid = "enrich"
kind = "map"
module = "f.wasm"
input = "src"

[[operator]]
uid = "keep"
kind = "filter"
module = "f.wasm"
input = "enrich"

[[sink]]
name = "out"
type = "discard"
input = "keep"
"#
        ));
        assert_eq!(
            groups(&graph),
            [("src", 2, vec!["src", "enrich", "keep", "out"])]
        );
        let forward = (&Output::Main, InputSide::First, &EdgePartitioning::Forward);
        assert_eq!(edges(&graph, "src", "enrich"), [forward]);
        assert_eq!(edges(&graph, "enrich", "keep"), [forward]);
        assert_eq!(edges(&graph, "keep", "out"), [forward]);
        assert_eq!(graph.edges.len(), 3);
    }

    #[test]
    fn a_keyed_operator_starts_a_task_group_behind_a_hash_exchange() {
        let graph = graph(&format!(
            r#"{GENERATOR}
[[operator]]
uid = "count"
kind = "keyed-process"
module = "f.wasm"
input = "src"
key_by = {{ field = "user" }}

[[operator]]
uid = "label"
kind = "map"
module = "f.wasm"
input = "count"

[[sink]]
name = "out"
type = "stdout"
input = "label"
"#
        ));
        assert_eq!(
            groups(&graph),
            [
                ("src", 2, vec!["src"]),
                ("count", 2, vec!["count", "label", "out"])
            ]
        );
        assert_eq!(
            edges(&graph, "src", "count"),
            [(&Output::Main, InputSide::First, &hash_by_field("user"))]
        );
        assert_eq!(
            edges(&graph, "count", "label"),
            [(&Output::Main, InputSide::First, &EdgePartitioning::Forward)]
        );
    }

    const TWO_GENERATORS: &str = "[[source]]\nname = \"a\"\ntype = \"generator\"\n\n[[source]]\nname = \"b\"\ntype = \"generator\"\n";

    #[test]
    fn a_union_starts_a_task_group_behind_rebalancing_exchanges() {
        let graph = graph(&format!(
            r#"{TWO_GENERATORS}
[[operator]]
uid = "both"
kind = "map"
module = "f.wasm"
input = ["a", "b"]

[[sink]]
name = "out"
type = "discard"
input = "both"
"#
        ));
        assert_eq!(
            groups(&graph),
            [
                ("a", 2, vec!["a"]),
                ("b", 2, vec!["b"]),
                ("both", 2, vec!["both", "out"])
            ]
        );
        for from in ["a", "b"] {
            assert_eq!(
                edges(&graph, from, "both"),
                [(
                    &Output::Main,
                    InputSide::First,
                    &EdgePartitioning::Rebalance
                )]
            );
        }
    }

    #[test]
    fn a_connect_starts_a_task_group_fed_on_both_sides_by_key() {
        let graph = graph(&format!(
            r#"{TWO_GENERATORS}
[[operator]]
uid = "join"
kind = "co-process"
module = "f.wasm"
input = "a"
key_by = {{ field = "id" }}
connect = {{ input = "b", key_by = {{ field = "order" }} }}

[[sink]]
name = "out"
type = "discard"
input = "join"
"#
        ));
        assert_eq!(groups(&graph)[2], ("join", 2, vec!["join", "out"]));
        assert_eq!(
            edges(&graph, "a", "join"),
            [(&Output::Main, InputSide::First, &hash_by_field("id"))]
        );
        assert_eq!(
            edges(&graph, "b", "join"),
            [(&Output::Main, InputSide::Second, &hash_by_field("order"))]
        );
        let into: Vec<&str> = graph.edges_into("join").map(|e| e.from.as_str()).collect();
        assert_eq!(into, ["a", "b"], "first input first");
    }

    #[test]
    fn a_change_of_parallelism_starts_a_task_group() {
        let graph = graph(&format!(
            r#"{GENERATOR}
[[operator]]
uid = "wide"
kind = "map"
module = "f.wasm"
input = "src"
parallelism = 3

[[sink]]
name = "out"
type = "discard"
input = "wide"
"#
        ));
        assert_eq!(
            groups(&graph),
            [("src", 2, vec!["src"]), ("wide", 3, vec!["wide", "out"])]
        );
        assert_eq!(
            edges(&graph, "src", "wide"),
            [(
                &Output::Main,
                InputSide::First,
                &EdgePartitioning::Rebalance
            )]
        );
        assert_eq!(graph.node("out").unwrap().parallelism, 3);
    }

    #[test]
    fn sinks_run_in_the_chain_of_their_input() {
        let graph = graph(&format!(
            r#"{GENERATOR}
[[operator]]
uid = "count"
kind = "keyed-process"
module = "f.wasm"
input = "src"
key_by = "record-key"
parallelism = 4

[[sink]]
name = "raw"
type = "discard"
input = "src"

[[sink]]
name = "counts"
type = "stdout"
input = "count"
"#
        ));
        assert_eq!(
            groups(&graph),
            [
                ("src", 2, vec!["src", "raw"]),
                ("count", 4, vec!["count", "counts"])
            ]
        );
        assert_eq!(graph.node("raw").unwrap().parallelism, 2);
        assert_eq!(graph.node("counts").unwrap().parallelism, 4);
        assert_eq!(
            edges(&graph, "count", "counts"),
            [(&Output::Main, InputSide::First, &EdgePartitioning::Forward)]
        );
    }

    #[test]
    fn a_broadcast_input_gets_a_broadcast_edge() {
        let graph = graph(&format!(
            r#"{TWO_GENERATORS}
[[operator]]
uid = "rules"
kind = "broadcast-process"
module = "f.wasm"
input = "a"
key_by = {{ field = "user" }}
broadcast = {{ input = "b" }}

[[sink]]
name = "out"
type = "discard"
input = "rules"
"#
        ));
        assert_eq!(groups(&graph)[2], ("rules", 2, vec!["rules", "out"]));
        assert_eq!(
            edges(&graph, "a", "rules"),
            [(&Output::Main, InputSide::First, &hash_by_field("user"))]
        );
        assert_eq!(
            edges(&graph, "b", "rules"),
            [(
                &Output::Main,
                InputSide::Second,
                &EdgePartitioning::Broadcast
            )]
        );
    }

    #[test]
    fn side_outputs_become_edges_named_by_the_output() {
        let graph = graph(&format!(
            r#"{GENERATOR}
[[operator]]
uid = "win"
kind = "aggregate"
module = "f.wasm"
input = "src"
key_by = "record-key"
window = {{ type = "tumbling", size = "1m", late_output = "too-late" }}

[[operator]]
uid = "alerts"
kind = "keyed-process"
module = "f.wasm"
input = "src"
key_by = "record-key"

[[operator]]
uid = "format"
kind = "map"
module = "f.wasm"
input = "alerts/suspicious"

[[sink]]
name = "late"
type = "discard"
input = "win/too-late"

[[sink]]
name = "out"
type = "stdout"
input = "format"
"#
        ));
        assert_eq!(
            edges(&graph, "win", "late"),
            [(
                &Output::Side("too-late".into()),
                InputSide::First,
                &EdgePartitioning::Forward
            )]
        );
        assert_eq!(
            edges(&graph, "alerts", "format"),
            [(
                &Output::Side("suspicious".into()),
                InputSide::First,
                &EdgePartitioning::Forward
            )]
        );
        assert_eq!(graph.edges_from("alerts", &Output::Main).count(), 0);
        assert_eq!(
            groups(&graph)[1..],
            [
                ("win", 2, vec!["win", "late"]),
                ("alerts", 2, vec!["alerts", "format", "out"])
            ]
        );
        assert_eq!(graph.node("win").unwrap().side_outputs, ["too-late"]);
        assert_eq!(graph.node("alerts").unwrap().side_outputs, ["suspicious"]);
    }

    #[test]
    fn an_interval_join_has_its_late_side_outputs_read_or_not() {
        let graph = graph(&format!(
            r#"{TWO_GENERATORS}
[[operator]]
uid = "join"
kind = "interval-join"
input = "a"
key_by = "record-key"
connect = {{ input = "b" }}
between = {{ lower = "-1s", upper = "1s" }}

[[sink]]
name = "late"
type = "discard"
input = "join/late-right"
"#
        ));
        assert_eq!(
            graph.node("join").unwrap().side_outputs,
            ["late-left", "late-right"]
        );
        assert_eq!(
            edges(&graph, "join", "late"),
            [(
                &Output::Side("late-right".into()),
                InputSide::First,
                &EdgePartitioning::Forward
            )]
        );
    }

    #[test]
    fn a_dead_letter_sink_runs_in_every_chain_that_sends_it_records() {
        let graph = graph(
            r#"[[source]]
name = "src"
type = "file"
path = "in.jsonl"
dead_letter = "bad"

[[operator]]
uid = "parse"
kind = "map"
module = "f.wasm"
input = "src"
on_failure = "dead-letter"
dead_letter = "bad"

[[sink]]
name = "bad"
type = "discard"
"#,
        );
        assert_eq!(
            groups(&graph),
            [
                ("src", 1, vec!["src", "bad"]),
                ("parse", 2, vec!["parse", "bad"])
            ]
        );
        for from in ["src", "parse"] {
            assert_eq!(
                edges(&graph, from, "bad"),
                [(
                    &Output::DeadLetters,
                    InputSide::First,
                    &EdgePartitioning::Forward
                )]
            );
        }
        assert_eq!(graph.node("bad").unwrap().parallelism, 1);
    }

    #[test]
    fn the_graph_serialises_as_plain_data_with_names_for_ids() {
        let graph = graph(&format!(
            r#"{GENERATOR}
[[operator]]
uid = "count"
kind = "keyed-process"
module = "f.wasm"
input = "src"
key_by = {{ field = "user.id" }}

[[sink]]
name = "out"
type = "stdout"
input = "count"
"#
        ));
        let json = serde_json::to_value(&graph).unwrap();
        assert_eq!(json["job"], "graph");
        assert_eq!(json["max_parallelism"], 128);
        assert_eq!(
            json["nodes"],
            serde_json::json!([
                { "id": "src", "role": "source", "connector": "generator", "parallelism": 2, "side_outputs": [] },
                { "id": "count", "role": "operator", "kind": "keyed-process", "parallelism": 2, "side_outputs": [] },
                { "id": "out", "role": "sink", "connector": "stdout", "parallelism": 2, "side_outputs": [] },
            ])
        );
        assert_eq!(
            json["task_groups"],
            serde_json::json!([
                { "head": "src", "parallelism": 2, "nodes": ["src"] },
                { "head": "count", "parallelism": 2, "nodes": ["count", "out"] },
            ])
        );
        assert_eq!(
            json["edges"],
            serde_json::json!([
                { "from": "src", "output": "main", "to": "count", "input": "first",
                  "partitioning": { "type": "hash", "key": { "field": ["user", "id"] } } },
                { "from": "count", "output": "main", "to": "out", "input": "first",
                  "partitioning": { "type": "forward" } },
            ])
        );
    }
}
