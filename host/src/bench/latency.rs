//! `eddy bench --pipeline latency`: Flink's job L. A rate-limited generator
//! stamps each record with the time it was made; the records go through a
//! keyed exchange into a map and a filter, and a probe at the end of the
//! chain measures how long every fourth took to arrive. Run once with the default
//! flush interval and once with 1 ms (Flink: `execution.buffer-timeout`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{BenchArgs, Rate, guest_module, measure, native, operator};
use crate::job::{
    BatchConfig, GeneratorSpec, Job, KeyBy, OperatorKind, RecordFormat, SinkConnector, SinkDef,
    SourceConnector, SourceDef, StateBackendConfig, StreamRef, TimeField, TimestampSource,
    WatermarkEmission, WatermarkStrategy,
};
use crate::runtime::operator::{Collector, Operator, OperatorError};
use crate::runtime::record::Record;
use crate::runtime::{NativeOperatorFactory, RunOptions};

/// Where the binary event keeps its creation stamp (its time field).
const CREATED_AT: std::ops::Range<usize> = 8..16;

/// The flush intervals each run compares: eddy's default and Flink's
/// low-latency setting.
const FLUSH_INTERVALS: [Duration; 2] =
    [crate::job::DEFAULT_FLUSH_INTERVAL, Duration::from_millis(1)];

/// Run job L with each flush interval, WASM and native, and print the
/// latency percentiles beside the rates.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.rate == 0 {
        bail!("--rate must be at least 1 record/s");
    }
    let seconds = args.records as f64 / args.rate as f64;
    println!(
        "latency: rate-limited generator ({} records/s) -> key-by -> map -> filter -> probe, about {seconds:.0} s per run",
        args.rate
    );
    for flush_interval in FLUSH_INTERVALS {
        let job = latency_job(args, flush_interval)?;
        let mut wasm = Vec::new();
        let mut native = Vec::new();
        for _ in 0..args.rounds.max(1) {
            wasm.push(probe_run(&job, args, Guests::Wasm)?);
            native.push(probe_run(&job, args, Guests::Native)?);
        }
        println!(
            "  flush interval {}",
            humantime::format_duration(flush_interval)
        );
        println!("    wasm    {}", Latencies::median(&wasm));
        println!("    native  {}", Latencies::median(&native));
    }
    Ok(())
}

/// Which functions a run uses.
#[derive(Debug, Clone, Copy)]
enum Guests {
    Wasm,
    Native,
}

/// One run's latency percentiles, in ms, and its rate.
#[derive(Debug, Clone, Copy)]
struct Latencies {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    samples: usize,
    rate: Rate,
}

impl Latencies {
    /// Percentiles as Flink's job L takes them: of the sorted samples, the
    /// one at `fraction` of their count.
    fn of(mut samples: Vec<u64>, rate: Rate) -> Option<Latencies> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |fraction: f64| {
            let index = ((samples.len() as f64 * fraction) as usize).min(samples.len() - 1);
            samples[index] as f64 / 1e6
        };
        Some(Latencies {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
            samples: samples.len(),
            rate,
        })
    }

    /// The run with the median p99 (each run's percentiles stay together).
    fn median(runs: &[Latencies]) -> Latencies {
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.p99.total_cmp(&b.p99));
        sorted[sorted.len() / 2]
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  ({} samples; {:.0} records per CPU-second)",
            self.p50, self.p99, self.p999, self.max, self.samples, self.rate.per_cpu_second
        )
    }
}

fn probe_run(job: &Job, args: &BenchArgs, guests: Guests) -> Result<Latencies> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    // As Flink's LatencySink: about half the records pass the filter; the
    // first tenth of each subtask's share is warm-up.
    let expected_per_subtask = args.records / 2 / u64::from(args.parallelism.max(1));
    let probe: NativeOperatorFactory = {
        let samples = samples.clone();
        Arc::new(move |_| {
            Box::new(LatencyProbe {
                seen: 0,
                warm_up: expected_per_subtask / 10,
                samples: samples.clone(),
            })
        })
    };
    let mut native_operators: HashMap<String, NativeOperatorFactory> = HashMap::new();
    native_operators.insert("probe".into(), probe);
    if let Guests::Native = guests {
        native_operators.insert("map".into(), Arc::new(|_| Box::new(native::UppercaseMap)));
        native_operators.insert(
            "filter".into(),
            Arc::new(|_| Box::new(native::EvenAmountFilter)),
        );
    }
    let options = RunOptions {
        native_operators,
        ..RunOptions::default()
    };
    let (rate, _) = measure(job, &options, args.records)?;
    let samples = std::mem::take(&mut *samples.lock().expect("probe poisoned"));
    Latencies::of(samples, rate).context("the latency probe saw no records; raise --records")
}

/// The end of job L's chain: the time since each 4th record was made.
struct LatencyProbe {
    seen: u64,
    warm_up: u64,
    samples: Arc<Mutex<Vec<u64>>>,
}

impl Operator for LatencyProbe {
    fn process(&mut self, input: Vec<Record>, _out: &mut Collector) -> Result<(), OperatorError> {
        let now = crate::time::monotonic_nanos();
        let mut taken = Vec::new();
        for record in &input {
            self.seen += 1;
            if self.seen.is_multiple_of(4) && self.seen > self.warm_up {
                let stamp = record
                    .value
                    .get(CREATED_AT)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
                    .ok_or_else(|| {
                        OperatorError::Record("the latency probe needs binary events".into())
                    })?;
                taken.push(now.saturating_sub(stamp));
            }
        }
        self.samples
            .lock()
            .expect("probe poisoned")
            .extend_from_slice(&taken);
        Ok(())
    }
}

/// generator (rate-limited, stamped) → key-by → map → filter → probe → discard.
fn latency_job(args: &BenchArgs, flush_interval: Duration) -> Result<Job> {
    // Keyed as Flink's `keyBy().map()`, which job files allow only for
    // keyed kinds: the map runs behind a hash exchange.
    let mut map = operator(
        "map",
        OperatorKind::Map,
        guest_module(args, "bench_map")?,
        "events",
        args,
    );
    map.key_by = Some(KeyBy::RecordKey);
    let filter = operator(
        "filter",
        OperatorKind::Filter,
        guest_module(args, "bench_filter")?,
        "map",
        args,
    );
    // Native only (see `probe_run`): no module.
    let mut probe = operator("probe", OperatorKind::Map, PathBuf::new(), "filter", args);
    probe.module = None;
    Ok(Job {
        name: "bench-latency".into(),
        file: PathBuf::from("<bench>"),
        max_parallelism: 128,
        batch: BatchConfig {
            flush_interval,
            ..BatchConfig::default()
        },
        state: StateBackendConfig::Memory,
        checkpoints: None,
        restart: crate::job::RestartStrategy::None,
        sources: vec![SourceDef {
            name: "events".into(),
            connector: SourceConnector::Generator(GeneratorSpec {
                count: Some(args.records),
                rate: Some(args.rate),
                keys: args.keys,
                value_size: 100,
                time_field: TimeField::CreatedAt,
                ..GeneratorSpec::default()
            }),
            format: RecordFormat::BinaryEvent,
            timestamp: TimestampSource::Source,
            watermark: WatermarkStrategy::None,
            watermark_emission: WatermarkEmission::PerRecord,
            dead_letter: None,
            parallelism: args.parallelism,
            idle_timeout: None,
        }],
        operators: vec![map, filter, probe],
        sinks: vec![SinkDef {
            name: "discard".into(),
            input: Some(StreamRef {
                node: "probe".into(),
                side_output: None,
            }),
            connector: SinkConnector::Discard,
        }],
        side_output_reads: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_taken_as_flinks_job_l_takes_them() {
        let rate = Rate {
            per_second: 1.0,
            per_cpu_second: 1.0,
        };
        let samples = (1..=1000).rev().map(|ms| ms * 1_000_000).collect();
        let l = Latencies::of(samples, rate).expect("samples");
        assert_eq!(
            (l.p50, l.p99, l.p999, l.max),
            (501.0, 991.0, 1000.0, 1000.0)
        );
        assert!(Latencies::of(Vec::new(), rate).is_none());
    }

    #[test]
    fn the_probe_times_every_fourth_record_past_the_warm_up() {
        // Native twins stand in for the guests, whose files need only exist.
        let guests = tempfile::tempdir().unwrap();
        for name in ["bench_map", "bench_filter"] {
            std::fs::write(guests.path().join(format!("{name}.wasm")), b"").unwrap();
        }
        let args = BenchArgs {
            records: 20_000,
            rate: 1_000_000,
            ..super::super::tests::args("latency", guests.path())
        };
        let job = latency_job(&args, Duration::from_millis(1)).unwrap();
        let latencies = probe_run(&job, &args, Guests::Native).unwrap();

        let spec = match &job.sources[0].connector {
            SourceConnector::Generator(spec) => spec,
            _ => unreachable!("the latency job reads the generator"),
        };
        // The filter keeps records whose mapped amount (3a + 7) is even.
        let passed = (0..args.records)
            .filter(|&i| crate::connectors::generator::event_at(spec, i).amount % 2 == 1)
            .count();
        let warm_up = (args.records / 2 / 10) as usize;
        assert_eq!(latencies.samples, passed / 4 - warm_up / 4);
        // Stamps are the monotonic clock's: event times (ms since 1970)
        // would read as no time at all or as decades.
        assert!(latencies.p50 > 0.0, "{latencies}");
        assert!(latencies.max < 60_000.0, "{latencies}");
    }
}
