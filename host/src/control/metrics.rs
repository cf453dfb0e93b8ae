//! `GET /metrics`: every job's counters in Prometheus's text format (the
//! OpenMetrics flavour `prometheus-client` writes), read from the live
//! counters at each scrape, so nothing is kept twice.
//!
//! Per operator subtask (labels `job`, `job_id`, `node`, `role`,
//! `subtask`): records in and out, idle, busy and back-pressured seconds,
//! watermark and watermark lag, guest calls, their time and failures. Per
//! job: phase, uptime, restarts, checkpoints completed and failed, and the
//! last checkpoint's duration, size, bytes written and alignment (its size
//! is the job's state size).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::jobs::ControlledJob;
use crate::runtime::handle::JobPhase;
use crate::runtime::metrics::{NodeMetrics, NodeRole, SubtaskMetrics};
use crate::time::processing_time_now;
use crate::time::watermark::END_OF_TIME;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The text of a scrape of `jobs`.
pub fn render(jobs: Vec<ControlledJob>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(JobsCollector(jobs)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// Every phase a job can be in, for `eddy_job_phase`.
const PHASES: [JobPhase; 8] = [
    JobPhase::Starting,
    JobPhase::Running,
    JobPhase::Restarting,
    JobPhase::Stopping,
    JobPhase::Finished,
    JobPhase::Stopped,
    JobPhase::Cancelled,
    JobPhase::Failed,
];

type Labels = Vec<(&'static str, String)>;

/// The jobs as a scrape sees them.
struct JobsCollector(Vec<ControlledJob>);

impl fmt::Debug for JobsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobsCollector")
            .field("jobs", &self.0.len())
            .finish()
    }
}

/// One subtask of one node of one job, with its labels.
struct SubtaskSample<'a> {
    labels: Labels,
    node: &'a NodeMetrics,
    subtask: &'a SubtaskMetrics,
}

impl Collector for JobsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let now = processing_time_now();
        let metrics: Vec<_> = (self.0.iter())
            .map(|job| (job, job.handle.metrics().unwrap_or_default()))
            .collect();
        let subtasks: Vec<SubtaskSample> = (metrics.iter())
            .flat_map(|(job, metrics)| {
                metrics.nodes.iter().flat_map(move |node| {
                    node.subtasks().enumerate().map(move |(index, subtask)| {
                        let mut labels = job_labels(job);
                        labels.push(("node", node.name.clone()));
                        labels.push(("role", node.role.name().to_string()));
                        labels.push(("subtask", index.to_string()));
                        SubtaskSample {
                            labels,
                            node,
                            subtask,
                        }
                    })
                })
            })
            .collect();
        let counter = |value: u64| ConstCounter::new(value);
        let seconds = |value: std::time::Duration| ConstCounter::new(value.as_secs_f64());
        family(
            &mut encoder,
            "eddy_records_in",
            "Records a subtask took in.",
            subtasks
                .iter()
                .map(|s| (&s.labels, counter(s.subtask.records_in()))),
        )?;
        family(
            &mut encoder,
            "eddy_records_out",
            "Records a subtask sent on (a source: records read).",
            subtasks
                .iter()
                .map(|s| (&s.labels, counter(s.subtask.records_out()))),
        )?;
        family(
            &mut encoder,
            "eddy_idle_seconds",
            "Time a subtask's task waited for input.",
            subtasks
                .iter()
                .map(|s| (&s.labels, seconds(s.subtask.idle()))),
        )?;
        family(
            &mut encoder,
            "eddy_backpressured_seconds",
            "Time a subtask's task waited for room in a full channel downstream.",
            (subtasks.iter()).map(|s| (&s.labels, seconds(s.subtask.backpressured()))),
        )?;
        family(
            &mut encoder,
            "eddy_busy_seconds",
            "Time a subtask's task worked: from the attempt's start to the task's end (or now), less idle and back-pressured time.",
            subtasks
                .iter()
                .map(|s| (&s.labels, seconds(s.subtask.busy()))),
        )?;
        // At the end of its input a subtask's watermark is the end of time,
        // which is no time to show or to lag behind.
        let with_watermark: Vec<(&SubtaskSample, i64)> = (subtasks.iter())
            .filter_map(|s| s.subtask.watermark().map(|w| (s, w)))
            .filter(|(_, w)| *w != END_OF_TIME)
            .collect();
        family(
            &mut encoder,
            "eddy_watermark_milliseconds",
            "The event-time watermark a subtask reached, in ms since the Unix epoch.",
            (with_watermark.iter()).map(|(s, w)| (&s.labels, ConstGauge::new(*w))),
        )?;
        family(
            &mut encoder,
            "eddy_watermark_lag_milliseconds",
            "How far a subtask's watermark is behind the wall clock.",
            (with_watermark.iter()).map(|(s, w)| (&s.labels, ConstGauge::new(now - *w))),
        )?;
        let guests: Vec<&SubtaskSample> = (subtasks.iter())
            .filter(|s| s.node.role == NodeRole::Operator && s.subtask.guest.calls() > 0)
            .collect();
        family(
            &mut encoder,
            "eddy_guest_calls",
            "Calls a subtask made into its guest function.",
            guests
                .iter()
                .map(|s| (&s.labels, counter(s.subtask.guest.calls()))),
        )?;
        family(
            &mut encoder,
            "eddy_guest_call_seconds",
            "Time a subtask spent inside its guest function's calls.",
            guests
                .iter()
                .map(|s| (&s.labels, seconds(s.subtask.guest.time()))),
        )?;
        family(
            &mut encoder,
            "eddy_guest_call_failures",
            "Guest calls that trapped, panicked, timed out or returned an error.",
            (guests.iter()).map(|s| (&s.labels, counter(s.subtask.guest.failures()))),
        )?;
        let nodes: Vec<(Labels, &NodeMetrics)> = (metrics.iter())
            .flat_map(|(job, metrics)| {
                metrics.nodes.iter().map(move |node| {
                    let mut labels = job_labels(job);
                    labels.push(("node", node.name.clone()));
                    (labels, &**node)
                })
            })
            .collect();
        family(
            &mut encoder,
            "eddy_dead_letters",
            "Malformed or failing records a node set aside in a dead-letter sink.",
            nodes.iter().map(|(labels, node)| {
                let value = node.dead_letters.load(std::sync::atomic::Ordering::Relaxed);
                (labels, counter(value))
            }),
        )?;
        self.job_families(&mut encoder)
    }
}

impl JobsCollector {
    fn job_families(&self, encoder: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
        let jobs: Vec<_> = (self.0.iter())
            .map(|job| {
                let status = job.handle.status();
                let stats = job.handle.checkpoint_stats();
                (job_labels(job), status, stats)
            })
            .collect();
        let phases: Vec<(Labels, i64)> = (jobs.iter())
            .flat_map(|(labels, status, _)| {
                PHASES.iter().map(move |phase| {
                    let mut labels = labels.clone();
                    labels.push(("phase", phase.name().to_string()));
                    (labels, i64::from(status.phase == *phase))
                })
            })
            .collect();
        family(
            encoder,
            "eddy_job_phase",
            "1 for the phase a job is in, 0 for the others.",
            (phases.iter()).map(|(labels, value)| (labels, ConstGauge::new(*value))),
        )?;
        family(
            encoder,
            "eddy_job_uptime_seconds",
            "Time since the job started on this server.",
            (jobs.iter()).map(|(l, s, _)| (l, ConstGauge::new(s.uptime_ms as f64 / 1000.0))),
        )?;
        family(
            encoder,
            "eddy_job_restarts",
            "Restarts of the job after failures.",
            (jobs.iter()).map(|(l, s, _)| (l, ConstCounter::new(u64::from(s.restarts)))),
        )?;
        family(
            encoder,
            "eddy_checkpoints_completed",
            "Checkpoints (and savepoints and swap barriers) completed.",
            (jobs.iter()).map(|(l, _, c)| (l, ConstCounter::new(c.completed))),
        )?;
        family(
            encoder,
            "eddy_checkpoints_failed",
            "Checkpoints abandoned: timed out, or a task ended before taking part.",
            (jobs.iter()).map(|(l, _, c)| (l, ConstCounter::new(c.failed))),
        )?;
        let last: Vec<_> = (jobs.iter())
            .filter_map(|(labels, _, stats)| stats.last.as_ref().map(|last| (labels, last)))
            .collect();
        family(
            encoder,
            "eddy_checkpoint_duration_seconds",
            "How long the last completed checkpoint took, from its trigger to its manifest.",
            (last.iter()).map(|(l, c)| (*l, ConstGauge::new(c.duration.as_secs_f64()))),
        )?;
        family(
            encoder,
            "eddy_checkpoint_alignment_seconds",
            "The longest barrier alignment of any task in the last completed checkpoint.",
            (last.iter()).map(|(l, c)| (*l, ConstGauge::new(c.alignment.as_secs_f64()))),
        )?;
        family(
            encoder,
            "eddy_checkpoint_size_bytes",
            "Bytes of state the last completed checkpoint holds: the job's state size.",
            (last.iter()).map(|(l, c)| (*l, ConstGauge::new(c.bytes))),
        )?;
        family(
            encoder,
            "eddy_checkpoint_written_bytes",
            "Bytes the last completed checkpoint wrote (less than its size when incremental).",
            (last.iter()).map(|(l, c)| (*l, ConstGauge::new(c.written_bytes))),
        )
    }
}

/// The labels naming a job.
fn job_labels(job: &ControlledJob) -> Labels {
    vec![
        ("job", job.summary.name.clone()),
        ("job_id", job.summary.id.clone()),
    ]
}

/// One metric family: its name and help, then one sample per label set.
fn family<'l, M: EncodeMetric + 'l>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (&'l Labels, M)>,
) -> Result<(), fmt::Error> {
    let mut samples = samples.peekable();
    let Some((_, first)) = samples.peek() else {
        return Ok(());
    };
    let metric_type: MetricType = first.metric_type();
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, metric) in samples {
        metric.encode(family.encode_family(labels)?)?;
    }
    Ok(())
}
