//! `eddy bench`: the benchmark pipelines of the Flink peer (jobs A and B
//! shapes), each run with the WASM guests and with native-Rust twins of the
//! same functions in the same process, alternating, reporting records/s.

mod cpu;
mod latency;
mod native;
mod swap;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::checkpoint::coordinator::CheckpointStats;
use crate::features::CargoFeature;
use crate::job::{
    BatchConfig, CheckpointConfig, CheckpointMode, DEFAULT_LATE_OUTPUT, DEFAULT_WATERMARK_INTERVAL,
    FailurePolicy, GeneratorSpec, GuestLimits, Job, KeyBy, OperatorDef, OperatorKind, RecordFormat,
    RocksDbConfig, SinkConnector, SinkDef, SourceConnector, SourceDef, StateBackendConfig,
    StreamRef, TimestampSource, WatermarkEmission, WatermarkStrategy, WindowAssigner, WindowDef,
    WindowKind, WindowTime,
};
use crate::runtime::{NativeOperatorFactory, RunOptions, run_job};
use crate::wasm::GuestLanguage;

/// Options of `eddy bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Records per run.
    #[arg(long, default_value_t = 5_000_000)]
    pub records: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Runs per variant (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Parallelism of every operator.
    #[arg(long, default_value_t = 1)]
    pub parallelism: u32,
    /// Which pipelines: `stateless`, `keyed`, `window`, or `all`; or
    /// `latency` alone (Flink's job L: `--records` at `--rate`, with the
    /// default flush interval and with 1 ms; try `--parallelism 2`).
    #[arg(long, default_value = "all")]
    pub pipeline: String,
    /// Records/s of the latency pipeline's source, across its subtasks.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Folder holding the benchmark components (bench_map.wasm, ...).
    #[arg(long, default_value = "examples-wasm/wasm")]
    pub wasm_dir: PathBuf,
    /// The language of the benchmark guests: `bench_map.wasm` (Rust),
    /// `bench_map_py.wasm` (Python) or `bench_map_js.wasm` (JavaScript).
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: GuestLanguage,
    /// The window pipeline also runs with exactly-once checkpoints at this
    /// interval (into a temporary folder), to show what they cost. Runs must
    /// last several intervals for that to mean anything.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub checkpoint_interval: Duration,
    /// Instead of the pipelines: swap the window pipeline's function live
    /// this many times, one swap every `--swap-every`, and report the
    /// pauses and the throughput while swapping (several minutes for 100).
    #[arg(long, default_value_t = 0)]
    pub swaps: usize,
    /// How often `--swaps` swaps.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub swap_every: Duration,
}

/// A benchmark pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipeline {
    /// generator → map → filter → discard (Flink job A).
    Stateless,
    /// generator → key-by → keyed count → discard.
    KeyedCount,
    /// generator → key-by → 1-minute tumbling event-time window count → discard (Flink job B).
    WindowCount,
}

impl Pipeline {
    fn title(self) -> &'static str {
        match self {
            Pipeline::Stateless => "stateless: generator -> map -> filter -> discard",
            Pipeline::KeyedCount => {
                "keyed: generator -> key-by -> keyed count (value state) -> discard"
            }
            Pipeline::WindowCount => {
                "window: generator -> key-by -> 1-minute tumbling event-time window, count aggregate -> discard"
            }
        }
    }
}

/// Run the selected pipelines and print records/s and the WASM/native ratio.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.swaps > 0 {
        return swap::run(args);
    }
    println!(
        "eddy bench: {} guests, {} records, {} keys, parallelism {}, {} rounds, {} cores",
        args.lang.name(),
        args.records,
        args.keys,
        args.parallelism,
        args.rounds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let pipelines = match args.pipeline.as_str() {
        "all" => vec![
            Pipeline::Stateless,
            Pipeline::KeyedCount,
            Pipeline::WindowCount,
        ],
        "stateless" => vec![Pipeline::Stateless],
        "keyed" => vec![Pipeline::KeyedCount],
        "window" => vec![Pipeline::WindowCount],
        "latency" => return latency::run(args),
        other => {
            bail!("unknown pipeline `{other}`: expected stateless, keyed, window, all or latency")
        }
    };
    for pipeline in pipelines {
        let job = bench_job(pipeline, args)?;
        let native = native_twins(pipeline, &job);
        // Checkpoints every `checkpoint_interval` into a temporary folder
        // (window pipeline only), measured in the same rounds as the rest.
        let checkpoint_dir = tempfile::tempdir().context("temporary folder for checkpoints")?;
        let checkpointed = (pipeline == Pipeline::WindowCount).then(|| {
            let mut job = job.clone();
            job.checkpoints = Some(CheckpointConfig {
                interval: args.checkpoint_interval,
                mode: CheckpointMode::ExactlyOnce,
                dir: checkpoint_dir.path().to_path_buf(),
                min_pause: Duration::ZERO,
                timeout: Duration::from_secs(600),
                retain: 1,
                incremental: false,
            });
            job
        });
        // Watermarks moved every 200 ms instead of after every record
        // (window pipeline only): what deterministic event time costs.
        let periodic = (pipeline == Pipeline::WindowCount).then(|| {
            let mut job = job.clone();
            for source in &mut job.sources {
                source.watermark_emission = WatermarkEmission::Periodic(DEFAULT_WATERMARK_INTERVAL);
            }
            job
        });
        let mut wasm_rates = Rates::default();
        let mut native_rates = Rates::default();
        let mut periodic_rates = Rates::default();
        let mut checkpointed_rates = Rates::default();
        let mut checkpoint_figures = CheckpointStats::default();
        for _ in 0..args.rounds.max(1) {
            wasm_rates.push(measure(&job, &RunOptions::default(), args.records)?.0);
            native_rates.push(measure(&job, &native, args.records)?.0);
            if let Some(job) = &periodic {
                periodic_rates.push(measure(job, &RunOptions::default(), args.records)?.0);
            }
            if let Some(job) = &checkpointed {
                let (rate, stats) = measure(job, &RunOptions::default(), args.records)?;
                checkpointed_rates.push(rate);
                checkpoint_figures.completed += stats.completed;
                checkpoint_figures.longest_pause =
                    checkpoint_figures.longest_pause.max(stats.longest_pause);
                checkpoint_figures.longest_alignment = checkpoint_figures
                    .longest_alignment
                    .max(stats.longest_alignment);
                checkpoint_figures.last = stats.last.or(checkpoint_figures.last);
            }
        }
        let wasm = wasm_rates.median();
        let native = native_rates.median();
        println!("{}", pipeline.title());
        println!("  wasm    {wasm}");
        println!("  native  {native}");
        println!(
            "  wasm/native time ratio {:.2}x, CPU time ratio {:.2}x",
            native.per_second / wasm.per_second,
            native.per_cpu_second / wasm.per_cpu_second
        );
        if !periodic_rates.is_empty() {
            let periodic = periodic_rates.median();
            println!(
                "  wasm, periodic watermarks (every {}) {periodic} (per-record watermarks: {:+.1}%)",
                humantime::format_duration(DEFAULT_WATERMARK_INTERVAL),
                (wasm.per_second / periodic.per_second - 1.0) * 100.0
            );
        }
        if !checkpointed_rates.is_empty() {
            let with = checkpointed_rates.median();
            println!(
                "  wasm, checkpoints every {} {with} ({:+.1}% against none)",
                humantime::format_duration(args.checkpoint_interval),
                (with.per_second / wasm.per_second - 1.0) * 100.0
            );
            let per_round = checkpoint_figures.completed as f64 / args.rounds.max(1) as f64;
            let size = checkpoint_figures
                .last
                .as_ref()
                .map(|l| bytesize::ByteSize::b(l.bytes).to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "    {per_round:.1} checkpoints per run (last {size}); longest snapshot pause {:.2?}, longest alignment {:.2?}",
                checkpoint_figures.longest_pause, checkpoint_figures.longest_alignment
            );
            if checkpoint_figures.completed == 0 {
                println!(
                    "    no checkpoint completed: runs are shorter than the interval; raise --records"
                );
            }
        }
        if pipeline == Pipeline::WindowCount {
            // The same job with its state in the embedded RocksDB (Flink's
            // job B with EmbeddedRocksDBStateBackend), if this build has it.
            if CargoFeature::RocksDb.in_this_build() {
                let rocksdb = rocksdb_rate(&job, args)?;
                println!("  wasm, RocksDB state {rocksdb}");
                println!(
                    "  RocksDB/memory time ratio {:.2}x",
                    wasm.per_second / rocksdb.per_second
                );
            } else {
                let missing = CargoFeature::RocksDb.missing("the RocksDB state backend");
                println!("  wasm, RocksDB state: skipped, {missing}");
            }
        }
    }
    Ok(())
}

/// Median rates of `job` with its state in the embedded RocksDB.
fn rocksdb_rate(job: &Job, args: &BenchArgs) -> Result<Rate> {
    let dir = tempfile::tempdir().context("temporary directory for RocksDB")?;
    let mut rocksdb_job = job.clone();
    rocksdb_job.state = StateBackendConfig::RocksDb(RocksDbConfig {
        local_dir: dir.path().to_path_buf(),
        ..RocksDbConfig::default()
    });
    let mut rates = Rates::default();
    for _ in 0..args.rounds.max(1) {
        rates.push(measure(&rocksdb_job, &RunOptions::default(), args.records)?.0);
    }
    Ok(rates.median())
}

/// How fast one run went: by the clock, and per second of this process's
/// CPU time (all threads), which is what "per core" comparisons use.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_second: f64,
    per_cpu_second: f64,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>12.0} records/s {:>12.0} records per CPU-second",
            self.per_second, self.per_cpu_second
        )
    }
}

/// The rates of several rounds of one variant.
#[derive(Debug, Default)]
struct Rates(Vec<Rate>);

impl Rates {
    fn push(&mut self, rate: Rate) {
        self.0.push(rate);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The median of each figure on its own.
    fn median(&self) -> Rate {
        let figure = |of: fn(&Rate) -> f64| median(&mut self.0.iter().map(of).collect::<Vec<_>>());
        Rate {
            per_second: figure(|r| r.per_second),
            per_cpu_second: figure(|r| r.per_cpu_second),
        }
    }
}

/// The rates of one run of `job`, and its checkpoint figures.
fn measure(job: &Job, options: &RunOptions, records: u64) -> Result<(Rate, CheckpointStats)> {
    let cpu_before = cpu::process_cpu_time();
    let report = run_job(job, options, |_, _, _| {}).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cpu = cpu::process_cpu_time().saturating_sub(cpu_before);
    let produced: u64 = report
        .metrics
        .nodes
        .iter()
        .filter(|n| n.role == crate::runtime::metrics::NodeRole::Source)
        .map(|n| n.records_out())
        .sum();
    if produced != records {
        bail!("benchmark source produced {produced} records, expected {records}");
    }
    Ok((
        Rate {
            per_second: records as f64 / report.elapsed.as_secs_f64(),
            per_cpu_second: records as f64 / cpu.as_secs_f64().max(1e-9),
        },
        report.checkpoints,
    ))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The benchmark component `name` in the language `--lang` chose, or what
/// builds it.
fn guest_module(args: &BenchArgs, name: &str) -> Result<PathBuf> {
    let path = args
        .wasm_dir
        .join(format!("{name}{}.wasm", args.lang.component_suffix()));
    if !path.exists() {
        let build = match args.lang {
            GuestLanguage::Rust => "scripts/build-guests.sh",
            GuestLanguage::Python => "scripts/build-python-guests.sh",
            GuestLanguage::Js => "scripts/build-js-guests.sh",
        };
        bail!(
            "{} not found; build the {} guests first with `bash {build}`",
            path.display(),
            args.lang.name()
        );
    }
    path.canonicalize()
        .with_context(|| path.display().to_string())
}

fn operator(
    uid: &str,
    kind: OperatorKind,
    module: PathBuf,
    input: &str,
    args: &BenchArgs,
) -> OperatorDef {
    OperatorDef {
        uid: uid.into(),
        kind,
        module: Some(module),
        inputs: vec![StreamRef {
            node: input.into(),
            side_output: None,
        }],
        key_by: kind.is_keyed().then_some(KeyBy::RecordKey),
        connect: None,
        between: None,
        window: None,
        parallelism: args.parallelism,
        config: String::new(),
        limits: GuestLimits::default(),
        on_failure: FailurePolicy::Fail,
    }
}

fn bench_job(pipeline: Pipeline, args: &BenchArgs) -> Result<Job> {
    let source = SourceDef {
        name: "events".into(),
        connector: SourceConnector::Generator(GeneratorSpec {
            count: Some(args.records),
            keys: args.keys,
            value_size: 100,
            max_lag: Some(Duration::from_secs(5)),
            ..GeneratorSpec::default()
        }),
        format: RecordFormat::BinaryEvent,
        timestamp: TimestampSource::Source,
        watermark: WatermarkStrategy::BoundedOutOfOrderness(Duration::from_secs(5)),
        watermark_emission: WatermarkEmission::PerRecord,
        dead_letter: None,
        parallelism: args.parallelism,
        idle_timeout: None,
    };
    let operators = match pipeline {
        Pipeline::Stateless => vec![
            operator(
                "map",
                OperatorKind::Map,
                guest_module(args, "bench_map")?,
                "events",
                args,
            ),
            operator(
                "filter",
                OperatorKind::Filter,
                guest_module(args, "bench_filter")?,
                "map",
                args,
            ),
        ],
        Pipeline::KeyedCount => vec![operator(
            "count",
            OperatorKind::KeyedProcess,
            guest_module(args, "bench_count")?,
            "events",
            args,
        )],
        Pipeline::WindowCount => {
            let mut window = operator(
                "window",
                OperatorKind::Aggregate,
                guest_module(args, "bench_window_count")?,
                "events",
                args,
            );
            window.window = Some(WindowDef {
                kind: WindowKind::Time(WindowAssigner::tumbling(Duration::from_secs(60))),
                time: WindowTime::Event,
                allowed_lateness: 0,
                late_output: DEFAULT_LATE_OUTPUT.into(),
            });
            vec![window]
        }
    };
    let last = operators.last().expect("at least one operator").uid.clone();
    Ok(Job {
        name: format!("bench-{pipeline:?}").to_lowercase(),
        file: PathBuf::from("<bench>"),
        max_parallelism: 128,
        batch: BatchConfig::default(),
        state: StateBackendConfig::Memory,
        checkpoints: None,
        restart: crate::job::RestartStrategy::None,
        sources: vec![source],
        operators,
        sinks: vec![SinkDef {
            name: "discard".into(),
            input: Some(StreamRef {
                node: last,
                side_output: None,
            }),
            connector: SinkConnector::Discard,
        }],
        side_output_reads: Vec::new(),
    })
}

fn native_twins(pipeline: Pipeline, job: &Job) -> RunOptions {
    let mut native: HashMap<String, NativeOperatorFactory> = HashMap::new();
    match pipeline {
        Pipeline::Stateless => {
            native.insert("map".into(), Arc::new(|_| Box::new(native::UppercaseMap)));
            native.insert(
                "filter".into(),
                Arc::new(|_| Box::new(native::EvenAmountFilter)),
            );
        }
        Pipeline::KeyedCount => {
            native.insert("count".into(), Arc::new(native::KeyedCount::factory(128)));
        }
        Pipeline::WindowCount => {
            let window = job
                .operators
                .iter()
                .find(|o| o.uid == "window")
                .and_then(|o| o.window.clone())
                .expect("the window pipeline has a window");
            native.insert(
                "window".into(),
                Arc::new(native::WindowCount::factory(window, job.batch.max_records)),
            );
        }
    }
    RunOptions {
        native_operators: native,
        ..RunOptions::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;

    /// `eddy bench`'s arguments for `pipeline`, small, with guests in `wasm_dir`.
    pub(crate) fn args(pipeline: &str, wasm_dir: &Path) -> BenchArgs {
        BenchArgs {
            records: 1000,
            keys: 1000,
            rounds: 1,
            parallelism: 1,
            pipeline: pipeline.into(),
            rate: 100_000,
            wasm_dir: wasm_dir.to_path_buf(),
            lang: GuestLanguage::Rust,
            checkpoint_interval: Duration::from_secs(10),
            swaps: 0,
            swap_every: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_guests_are_those_of_the_language_asked_for() {
        let guests = tempfile::tempdir().unwrap();
        std::fs::write(guests.path().join("bench_map_py.wasm"), b"").unwrap();
        let python = BenchArgs {
            lang: GuestLanguage::Python,
            ..args("stateless", guests.path())
        };
        assert!(
            guest_module(&python, "bench_map")
                .unwrap()
                .ends_with("bench_map_py.wasm")
        );
        let js = BenchArgs {
            lang: GuestLanguage::Js,
            ..args("stateless", guests.path())
        };
        let missing = guest_module(&js, "bench_map").unwrap_err().to_string();
        assert!(
            missing.ends_with(
                "bench_map_js.wasm not found; build the JavaScript guests first with `bash scripts/build-js-guests.sh`"
            ),
            "{missing}"
        );
    }

    #[test]
    fn an_unknown_pipeline_is_refused_with_the_ones_there_are() {
        let error = run(&args("windows", Path::new("."))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown pipeline `windows`: expected stateless, keyed, window, all or latency"
        );
    }

    #[test]
    fn missing_guests_are_named_with_the_command_that_builds_them() {
        let empty = tempfile::tempdir().unwrap();
        for pipeline in ["window", "latency"] {
            let error = run(&args(pipeline, empty.path())).unwrap_err().to_string();
            assert!(
                error.ends_with(
                    ".wasm not found; build the Rust guests first with `bash scripts/build-guests.sh`"
                ),
                "{pipeline}: {error}"
            );
        }
    }

    #[test]
    fn a_latency_run_needs_a_rate() {
        let error = run(&BenchArgs {
            rate: 0,
            ..args("latency", Path::new("."))
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "--rate must be at least 1 record/s");
    }
}
