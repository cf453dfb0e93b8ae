//! Runs a planned job: one thread per subtask, cancellation of everything
//! when one task fails, and the first failure as the job's error.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::metrics::JobMetrics;
use super::plan::{Plan, RunOptions, load_modules, plan};
use super::task::{Stop, TaskError};
use crate::job::Job;
use crate::wasm::GuestEngine;

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub metrics: JobMetrics,
    pub elapsed: Duration,
}

/// How a run ended badly.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// The job could not start (a module, a file, a guest's init).
    #[error("{0:#}")]
    Setup(anyhow::Error),
    /// A task failed while running.
    #[error("{error}")]
    Task {
        error: Box<TaskError>,
        metrics: JobMetrics,
    },
}

/// Load, plan and run `job` to completion, calling `on_tick` about once a
/// second with the live counters.
pub fn run_job(
    job: &Job,
    options: &RunOptions,
    mut on_tick: impl FnMut(&JobMetrics, Duration),
) -> Result<JobReport, JobFailure> {
    let engine = GuestEngine::shared().map_err(JobFailure::Setup)?;
    let modules = load_modules(job, &engine, options).map_err(JobFailure::Setup)?;
    let Plan {
        tasks,
        metrics,
        cancelled,
    } = plan(job, &modules, options).map_err(JobFailure::Setup)?;

    let started = Instant::now();
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let mut handles = Vec::new();
    for task in tasks {
        let done = done_tx.clone();
        let handle = std::thread::Builder::new()
            .name(task.name.clone())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task.run));
                let _ = done.send((task.name, result));
            })
            .map_err(|e| JobFailure::Setup(anyhow::anyhow!("cannot start a task thread: {e}")))?;
        handles.push(handle);
    }
    drop(done_tx);

    let mut failure: Option<Box<TaskError>> = None;
    let mut host_panic: Option<String> = None;
    let mut remaining = handles.len();
    while remaining > 0 {
        match done_rx.recv_timeout(Duration::from_secs(1)) {
            Ok((name, result)) => {
                remaining -= 1;
                match result {
                    Ok(Ok(())) | Ok(Err(Stop::Cancelled)) => {}
                    Ok(Err(Stop::Failed(error))) => {
                        cancelled.store(true, Ordering::Relaxed);
                        failure.get_or_insert(error);
                    }
                    Err(panic) => {
                        cancelled.store(true, Ordering::Relaxed);
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        host_panic.get_or_insert(format!("task {name} panicked: {message}"));
                    }
                }
            }
            Err(_) => on_tick(&metrics, started.elapsed()),
        }
    }
    for handle in handles {
        let _ = handle.join();
    }
    if let Some(error) = failure {
        return Err(JobFailure::Task { error, metrics });
    }
    if let Some(message) = host_panic {
        return Err(JobFailure::Setup(anyhow::anyhow!(
            "internal error: {message}"
        )));
    }
    Ok(JobReport {
        metrics,
        elapsed: started.elapsed(),
    })
}
