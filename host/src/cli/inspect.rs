//! `eddy inspect PATH`: what a job file, a module or a snapshot holds. A
//! job file shows its job graph (task groups with their chained nodes,
//! edges with their partitioning), as text or as JSON; a module its world,
//! kind, states, side outputs, imports and exports; a savepoint or
//! checkpoint folder what `inspect_snapshot` says.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::job::GuestLimits;
use crate::job::{InputSide, KeyBy, load_job};
use crate::runtime::plan::JobGraph;
use crate::runtime::plan::graph::{EdgePartitioning, GraphEdge, GraphNode, NodeKind, Output};
use crate::wasm::{GuestEngine, GuestInstance, GuestModule, GuestTag, function_kind_name};

/// How a job graph is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// For people: task groups, then edges.
    Text,
    /// The serialised graph, as the control API will serve it.
    Json,
}

/// What `eddy inspect` was given.
enum Inspected {
    JobFile,
    Module,
    /// A `savepoint-<n>` or `chk-<n>` folder.
    Snapshot,
}

/// The first bytes of every WebAssembly binary, component or core module.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Print what `path` holds: a job file's graph in `format`, or a module.
pub fn inspect(path: &Path, format: GraphFormat) -> Result<()> {
    match what_is(path)? {
        Inspected::JobFile => {
            let job = load_job(path)?;
            let graph = JobGraph::of(&job);
            match format {
                GraphFormat::Text => print!("{}", graph_text(&graph)),
                GraphFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&graph).context("cannot serialise the graph")?
                ),
            }
            Ok(())
        }
        Inspected::Module if format == GraphFormat::Json => bail!(
            "{} is a WebAssembly module; `--json` prints the graph of a job file (.toml)",
            path.display()
        ),
        Inspected::Module => inspect_module(path),
        Inspected::Snapshot if format == GraphFormat::Json => bail!(
            "{} is a savepoint or checkpoint; `--json` prints the graph of a job file (.toml)",
            path.display()
        ),
        Inspected::Snapshot => super::inspect_snapshot::inspect_snapshot(path),
    }
}

/// A job file by its `.toml` extension, a module by its `.wasm` extension
/// or, without one, by its first bytes.
fn what_is(path: &Path) -> Result<Inspected> {
    let metadata =
        std::fs::metadata(path).map_err(|error| anyhow!("{}: {error}", path.display()))?;
    if metadata.is_dir() && super::inspect_snapshot::is_snapshot(path) {
        return Ok(Inspected::Snapshot);
    }
    if metadata.is_dir() {
        bail!(
            "{} is a folder, but not a savepoint or checkpoint (`savepoint-<n>`, `chk-<n>`); expected one of those, a job file (.toml) or a WebAssembly module (.wasm)",
            path.display()
        );
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => return Ok(Inspected::JobFile),
        Some("wasm") => return Ok(Inspected::Module),
        _ => {}
    }
    let mut magic = Vec::with_capacity(WASM_MAGIC.len());
    std::fs::File::open(path)
        .and_then(|file| file.take(WASM_MAGIC.len() as u64).read_to_end(&mut magic))
        .map_err(|error| anyhow!("{}: {error}", path.display()))?;
    if magic == WASM_MAGIC {
        return Ok(Inspected::Module);
    }
    bail!(
        "{} is neither a job file nor a WebAssembly module: expected a `.toml` job file, or a `.wasm` file (or one starting with the WebAssembly magic bytes `\\0asm`)",
        path.display()
    )
}

/// Instances `eddy inspect` makes of a module to time them.
const INSTANCES_MEASURED: usize = 5;

/// What one instance of a module costs: the time to instantiate it (the
/// first instance of a process, and later ones), and its linear memory
/// once initialised with an empty config.
struct InstanceCost {
    first: Duration,
    later: Duration,
    linear_memory_bytes: usize,
}

fn measure_instances(module: &GuestModule) -> Result<InstanceCost, String> {
    let tag = GuestTag {
        operator: "inspect".into(),
        subtask: 0,
        parallelism: 1,
    };
    let mut times = Vec::with_capacity(INSTANCES_MEASURED);
    let mut linear_memory_bytes = 0;
    for _ in 0..INSTANCES_MEASURED {
        let started = Instant::now();
        let mut instance = GuestInstance::new(module, tag.clone(), GuestLimits::default())
            .map_err(|error| error.to_string())?;
        times.push(started.elapsed());
        // A function that needs its config says so: the instance's memory
        // is then measured by a job run, not here.
        instance
            .init("")
            .map_err(|error| format!("`init` with an empty config failed: {error}"))?;
        linear_memory_bytes = instance.linear_memory_bytes();
    }
    let first = times.remove(0);
    times.sort();
    Ok(InstanceCost {
        first,
        later: times[times.len() / 2],
        linear_memory_bytes,
    })
}

/// The job graph for people: each task group with its parallelism and its
/// nodes in chain order, then every edge with its partitioning.
fn graph_text(graph: &JobGraph) -> String {
    let mut text = String::new();
    let groups = graph.task_groups.len();
    let _ = writeln!(
        text,
        "job `{}`: {groups} task group{}, max parallelism {}",
        graph.job,
        if groups == 1 { "" } else { "s" },
        graph.max_parallelism
    );
    for group in &graph.task_groups {
        let _ = writeln!(
            text,
            "\ntask group `{}` (parallelism {})",
            group.head, group.parallelism
        );
        for id in &group.nodes {
            if let Some(node) = graph.node(id.as_str()) {
                let _ = writeln!(text, "  {}", node_text(node));
            }
        }
    }
    let _ = writeln!(text, "\nedges");
    let ends: Vec<String> = graph.edges.iter().map(edge_ends).collect();
    let width = ends.iter().map(|e| e.chars().count()).max().unwrap_or(0);
    for (edge, ends) in graph.edges.iter().zip(&ends) {
        let _ = writeln!(
            text,
            "  {ends:<width$}  {}",
            partitioning_text(&edge.partitioning)
        );
    }
    text
}

/// `operator  count (keyed-process), side outputs: late`
fn node_text(node: &GraphNode) -> String {
    let (role, what) = match &node.kind {
        NodeKind::Source { connector } => ("source", *connector),
        NodeKind::Operator { kind } => ("operator", kind.as_str()),
        NodeKind::Sink { connector } => ("sink", *connector),
    };
    let mut text = format!("{role:<9} {} ({what})", node.id);
    if !node.side_outputs.is_empty() {
        let _ = write!(text, ", side outputs: {}", node.side_outputs.join(", "));
    }
    text
}

/// `count/late -> late`, `a -> join (second input)`, `parse (dead letters) -> bad`
fn edge_ends(edge: &GraphEdge) -> String {
    let from = match &edge.output {
        Output::Main => edge.from.to_string(),
        Output::Side(name) => format!("{}/{name}", edge.from),
        Output::DeadLetters => format!("{} (dead letters)", edge.from),
    };
    let to = match edge.input {
        InputSide::First => edge.to.to_string(),
        InputSide::Second => format!("{} (second input)", edge.to),
    };
    format!("{from} -> {to}")
}

fn partitioning_text(partitioning: &EdgePartitioning) -> String {
    match partitioning {
        EdgePartitioning::Forward => "forward (chained)".to_string(),
        EdgePartitioning::Hash { key } => {
            let key = match key {
                KeyBy::RecordKey => "the record key".to_string(),
                KeyBy::Field(path) => format!("field `{}`", path.join(".")),
                KeyBy::Selector(module) => format!("key selector {}", module.display()),
            };
            format!("hash exchange by {key}")
        }
        EdgePartitioning::Rebalance => "rebalance exchange (round-robin)".to_string(),
        EdgePartitioning::Broadcast => "broadcast exchange (to every subtask)".to_string(),
    }
}

/// A component's world, kind, states, side outputs, exports and imports.
fn inspect_module(path: &Path) -> Result<()> {
    let engine = GuestEngine::shared()?;
    let was_cached = std::fs::read(path).is_ok_and(|bytes| engine.is_cached(&bytes));
    let started = Instant::now();
    let module = GuestModule::load_any(&engine, path)?;
    let load_time = started.elapsed();
    let d = &module.descriptor;
    println!("module:       {}", path.display());
    println!("size:         {}", bytesize::ByteSize::b(module.size));
    if was_cached {
        println!(
            "load:         {:.2} s, from the compiled-module cache",
            load_time.as_secs_f64()
        );
    } else {
        println!(
            "load:         {:.2} s, compiled (now in the compiled-module cache)",
            load_time.as_secs_f64()
        );
    }
    match measure_instances(&module) {
        Ok(cost) => {
            println!(
                "instantiate:  first {:.2} ms, then {:.2} ms (median of {INSTANCES_MEASURED})",
                cost.first.as_secs_f64() * 1e3,
                cost.later.as_secs_f64() * 1e3
            );
            println!(
                "memory:       {} of linear memory after `init`",
                bytesize::ByteSize::b(cost.linear_memory_bytes as u64)
            );
        }
        Err(error) => println!("instantiate:  not measured: {error}"),
    }
    println!("world:        eddy:dataflow/{}", module.world.name());
    println!("kind:         {}", function_kind_name(d.kind));
    if d.states.is_empty() {
        println!("states:       none");
    }
    for state in &d.states {
        let ttl = state
            .ttl
            .map(|t| format!(", ttl {} ms ({:?})", t.millis, t.update))
            .unwrap_or_default();
        let migrates = match state.migrates_from.as_slice() {
            [] => String::new(),
            from => format!(
                ", migrates from {}",
                from.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        println!(
            "state:        {} ({:?}, version {}{migrates}{ttl})",
            state.name, state.kind, state.version
        );
    }
    if !d.side_outputs.is_empty() {
        println!("side outputs: {}", d.side_outputs.join(", "));
    }
    for export in module.export_names() {
        println!("export:       {export}");
    }
    for import in module.import_names() {
        println!("import:       {import}");
    }
    Ok(())
}
