//! `eddy bench --swaps N`: the window pipeline (Flink's job B shape) runs
//! unbounded while its function is swapped live N times, one swap every
//! `--swap-every`; then the same job runs as long without swaps. Reported:
//! each swap's pause per subtask (barrier arrival, alignment included, to
//! the subtask going on with the next record on the new instance) as p50,
//! p99 and max, and records/s with and without swaps.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{BenchArgs, Pipeline, bench_job, guest_module};
use crate::job::{Job, SourceConnector};
use crate::runtime::handle::JobPhase;
use crate::runtime::{JobHandle, RunOptions, SwapOrder, start_job};
use crate::wasm::versions::DroppedState;

/// Run the swap benchmark and print its figures.
pub fn run(args: &BenchArgs) -> Result<()> {
    let mut job = bench_job(Pipeline::WindowCount, args)?;
    for source in &mut job.sources {
        if let SourceConnector::Generator(spec) = &mut source.connector {
            spec.count = None;
        }
    }
    let module = guest_module(args, "bench_window_count")?;
    println!(
        "eddy bench --swaps {}: {} every {}, keys {}, parallelism {}",
        args.swaps,
        Pipeline::WindowCount.title(),
        humantime::format_duration(args.swap_every),
        args.keys,
        args.parallelism
    );
    let order = SwapOrder {
        operator: "window".into(),
        module,
        config: None,
        dropped: DroppedState::Refuse,
    };
    let (swapping, mut pauses) = run_for(&job, Some((&order, args)), None)?;
    let (steady, _) = run_for(&job, None, Some(swapping.elapsed))?;
    pauses.sort_unstable();
    let percentile = |p: f64| {
        let index = ((pauses.len() as f64 * p).ceil() as usize).clamp(1, pauses.len()) - 1;
        pauses[index] as f64 / 1000.0
    };
    println!(
        "  swap pause over {} subtask swaps: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pauses.len(),
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    println!(
        "  swap answer (request to every subtask switched): median {:.1} ms",
        swapping.median_answer.as_secs_f64() * 1000.0
    );
    println!(
        "  records/s while swapping {:>12.0} (without swaps {:>12.0}, {:+.1}%)",
        swapping.rate,
        steady.rate,
        (swapping.rate / steady.rate - 1.0) * 100.0
    );
    Ok(())
}

/// What one unbounded run measured.
struct Measured {
    rate: f64,
    elapsed: Duration,
    median_answer: Duration,
}

/// Run `job` until `swaps` swaps are done (one every `--swap-every`) or
/// `duration` has passed; its rate from the first second on, and every
/// subtask's pause of every swap in microseconds.
fn run_for(
    job: &Job,
    swaps: Option<(&SwapOrder, &BenchArgs)>,
    duration: Option<Duration>,
) -> Result<(Measured, Vec<u64>)> {
    let running = start_job(job.clone(), RunOptions::default(), |_, _, _| {})?;
    let handle = running.handle();
    wait_running(&handle)?;
    std::thread::sleep(Duration::from_secs(1));
    let (started, from) = (Instant::now(), source_records(&handle));
    let mut pauses = Vec::new();
    let mut answers = Vec::new();
    match swaps {
        Some((order, args)) => {
            for n in 1..=args.swaps {
                let due = started + args.swap_every * n as u32;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let asked = Instant::now();
                let report = handle
                    .swap(order.clone(), Duration::from_secs(60))
                    .with_context(|| format!("swap {n}"))?;
                answers.push(asked.elapsed());
                pauses.extend(report.subtasks.iter().map(|s| s.pause_us));
            }
        }
        None => std::thread::sleep(duration.unwrap_or_default()),
    }
    let elapsed = started.elapsed();
    let records = source_records(&handle) - from;
    handle.cancel().ok();
    let _ = running.wait();
    answers.sort_unstable();
    let measured = Measured {
        rate: records as f64 / elapsed.as_secs_f64(),
        elapsed,
        median_answer: answers.get(answers.len() / 2).copied().unwrap_or_default(),
    };
    Ok((measured, pauses))
}

/// Wait until the job's tasks run.
fn wait_running(handle: &JobHandle) -> Result<()> {
    let started = Instant::now();
    loop {
        match handle.status().phase {
            JobPhase::Running => return Ok(()),
            phase if phase.is_final() => bail!("the benchmark job ended: {phase:?}"),
            _ if started.elapsed() > Duration::from_secs(60) => {
                bail!("the benchmark job did not start within a minute")
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Records the job's sources produced so far.
fn source_records(handle: &JobHandle) -> u64 {
    (handle.status().nodes.iter())
        .filter(|n| n.role == "source")
        .map(|n| n.records_out)
        .sum()
}
