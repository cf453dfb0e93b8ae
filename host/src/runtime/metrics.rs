//! Counters per node of the job and per subtask of each node, shared by
//! the subtasks that write them and read by the progress display, the
//! control API's status and `/metrics` (Flink's task metrics: records in
//! and out, idle, busy and back-pressured time, watermarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::time::watermark::NO_WATERMARK;
use crate::wasm::GuestCallStats;

/// What a node is, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Source,
    Operator,
    Sink,
}

impl NodeRole {
    /// `source`, `operator` or `sink`.
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Source => "source",
            NodeRole::Operator => "operator",
            NodeRole::Sink => "sink",
        }
    }
}

/// The counters of one subtask of a node, written by the thread that runs
/// it (a dead-letter sink's, by those of every node that feeds it).
#[derive(Debug)]
pub struct SubtaskMetrics {
    /// When the attempt these counters belong to started.
    started: Instant,
    /// How long after `started` its task ended; 0 while it runs.
    ended_after_ns: AtomicU64,
    records_in: AtomicU64,
    records_out: AtomicU64,
    /// Time the subtask's task waited for input (Flink's idle time).
    idle_ns: AtomicU64,
    /// Time it waited for room in a full channel downstream (Flink's
    /// back-pressured time).
    backpressured_ns: AtomicU64,
    /// The event-time watermark it reached.
    watermark: AtomicI64,
    /// Calls into its guest function (operators with one).
    pub guest: Arc<GuestCallStats>,
}

impl SubtaskMetrics {
    fn new(started: Instant) -> Self {
        SubtaskMetrics {
            started,
            ended_after_ns: AtomicU64::new(0),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            watermark: AtomicI64::new(NO_WATERMARK),
            guest: Arc::default(),
        }
    }
    /// Records it took in.
    pub fn records_in(&self) -> u64 {
        self.records_in.load(Ordering::Relaxed)
    }
    /// Records it sent on (a source: records read).
    pub fn records_out(&self) -> u64 {
        self.records_out.load(Ordering::Relaxed)
    }
    /// Time its task waited for input.
    pub fn idle(&self) -> Duration {
        Duration::from_nanos(self.idle_ns.load(Ordering::Relaxed))
    }
    /// Time its task waited for room in a full channel downstream.
    pub fn backpressured(&self) -> Duration {
        Duration::from_nanos(self.backpressured_ns.load(Ordering::Relaxed))
    }
    /// Time its task has run: since the attempt started, until it ended.
    pub fn active(&self) -> Duration {
        match self.ended_after_ns.load(Ordering::Relaxed) {
            0 => self.started.elapsed(),
            ended => Duration::from_nanos(ended),
        }
    }
    /// Time its task worked: its active time less idle and back-pressured time.
    pub fn busy(&self) -> Duration {
        (self.active()).saturating_sub(self.idle() + self.backpressured())
    }
    /// Its task ended (its input did, or it stopped at a savepoint).
    pub fn end(&self) {
        let after = self.started.elapsed().as_nanos().max(1) as u64;
        self.ended_after_ns.store(after, Ordering::Relaxed);
    }
    /// The watermark it reached, `None` before it has one.
    pub fn watermark(&self) -> Option<i64> {
        Some(self.watermark.load(Ordering::Relaxed)).filter(|&w| w != NO_WATERMARK)
    }
    /// Its task waited `waited` for input.
    pub fn add_idle(&self, waited: Duration) {
        (self.idle_ns).fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }
    /// Its task waited `waited` for room downstream.
    pub fn add_backpressured(&self, waited: Duration) {
        (self.backpressured_ns).fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Counters of one source, operator or sink (all its subtasks).
#[derive(Debug)]
pub struct NodeMetrics {
    pub name: String,
    pub role: NodeRole,
    pub parallelism: u32,
    /// Malformed records sent to a dead-letter sink.
    pub dead_letters: AtomicU64,
    /// Records emitted to side outputs that nothing reads (late records of
    /// a window nobody routed, for one), counted so they are never lost unseen.
    pub unread_side_output: AtomicU64,
    subtasks: Box<[CachePadded<SubtaskMetrics>]>,
}

impl NodeMetrics {
    /// The counters of subtask `subtask` (0-based). A node that runs in
    /// chains of another parallelism (a dead-letter sink fed by several
    /// nodes) folds the extra subtasks onto its own.
    pub fn subtask(&self, subtask: u32) -> &SubtaskMetrics {
        &self.subtasks[subtask as usize % self.subtasks.len()]
    }

    /// Every subtask's counters, by subtask index.
    pub fn subtasks(&self) -> impl Iterator<Item = &SubtaskMetrics> {
        self.subtasks.iter().map(|s| &**s)
    }

    /// Subtask `subtask` took in `n` records.
    pub fn add_in(&self, subtask: u32, n: usize) {
        (self.subtask(subtask).records_in).fetch_add(n as u64, Ordering::Relaxed);
    }
    /// Subtask `subtask` sent on `n` records.
    pub fn add_out(&self, subtask: u32, n: usize) {
        (self.subtask(subtask).records_out).fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Records in over all subtasks.
    pub fn records_in(&self) -> u64 {
        self.subtasks().map(SubtaskMetrics::records_in).sum()
    }
    /// Records out over all subtasks.
    pub fn records_out(&self) -> u64 {
        self.subtasks().map(SubtaskMetrics::records_out).sum()
    }

    /// Subtask `subtask` (0-based) reached `watermark`.
    pub fn set_watermark(&self, subtask: u32, watermark: i64) {
        (self.subtask(subtask).watermark).store(watermark, Ordering::Relaxed);
    }

    /// The node's watermark: the lowest of its subtasks' (Flink's low
    /// watermark), `None` before every subtask has one.
    pub fn watermark(&self) -> Option<i64> {
        self.subtasks()
            .map(|s| s.watermark.load(Ordering::Relaxed))
            .min()
            .filter(|&w| w != NO_WATERMARK)
    }
}

/// Every node's counters, in job-file order (sources, operators, sinks).
#[derive(Debug, Default, Clone)]
pub struct JobMetrics {
    pub nodes: Vec<Arc<NodeMetrics>>,
}

impl JobMetrics {
    /// Add a node and return its counters.
    pub fn add(&mut self, name: &str, role: NodeRole, parallelism: u32) -> Arc<NodeMetrics> {
        let started = Instant::now();
        let metrics = Arc::new(NodeMetrics {
            name: name.to_string(),
            role,
            parallelism,
            dead_letters: AtomicU64::new(0),
            unread_side_output: AtomicU64::new(0),
            subtasks: (0..parallelism.max(1))
                .map(|_| CachePadded::new(SubtaskMetrics::new(started)))
                .collect(),
        });
        self.nodes.push(metrics.clone());
        metrics
    }

    /// The counters of `name`.
    pub fn node(&self, name: &str) -> Option<&Arc<NodeMetrics>> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// A node's rates over the last sample period (about a second): records
/// per second, and the share of time its busiest subtask worked, and its
/// most back-pressured subtask waited for room downstream (Flink's
/// `busyTimeMsPerSecond` and `backPressuredTimeMsPerSecond`, as 0..1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeRates {
    /// Records in per second, over all subtasks.
    pub records_in_per_second: f64,
    /// Records out per second, over all subtasks.
    pub records_out_per_second: f64,
    /// The largest share of time (0..1) a subtask worked.
    pub busy: f64,
    /// The largest share of time (0..1) a subtask waited for room downstream.
    pub backpressured: f64,
}

/// The rates of every node at one moment, for the throughput history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSample {
    /// When, in ms since the Unix epoch.
    pub at: i64,
    /// By node, in [`JobMetrics::nodes`] order.
    pub nodes: Vec<NodeRates>,
}

/// How many samples [`RateSampler`] keeps: five minutes at one a second.
pub const RATE_HISTORY: usize = 300;

/// One subtask's counters at a sample.
#[derive(Debug, Clone, Copy)]
struct SubtaskCounts {
    records_in: u64,
    records_out: u64,
    active: Duration,
    idle: Duration,
    backpressured: Duration,
}

/// The counters read last, when, and what they read (by node, by subtask).
#[derive(Debug)]
struct Sample {
    nodes: Vec<Arc<NodeMetrics>>,
    at: Instant,
    counts: Vec<Vec<SubtaskCounts>>,
}

/// Turns the counters, read about once a second, into rates, and keeps
/// the last [`RATE_HISTORY`] of them.
#[derive(Debug, Default)]
pub struct RateSampler {
    last: Option<Sample>,
    history: std::collections::VecDeque<RateSample>,
}

impl RateSampler {
    /// Read `metrics` now; the rates since the last read (none at the
    /// first, or when the nodes changed).
    pub fn sample(&mut self, metrics: &JobMetrics) -> Option<Vec<NodeRates>> {
        let now = Instant::now();
        let counts: Vec<Vec<SubtaskCounts>> = (metrics.nodes.iter())
            .map(|node| {
                (node.subtasks())
                    .map(|s| SubtaskCounts {
                        records_in: s.records_in(),
                        records_out: s.records_out(),
                        active: s.active(),
                        idle: s.idle(),
                        backpressured: s.backpressured(),
                    })
                    .collect()
            })
            .collect();
        // A restart brings new counters: rates start again from them.
        let rates = match &self.last {
            Some(last) if same_counters(&last.nodes, &metrics.nodes) => {
                let (at, before) = (last.at, &last.counts);
                let period = now.duration_since(at).max(Duration::from_millis(1));
                Some(
                    (counts.iter().zip(before))
                        .map(|(n, b)| node_rates(n, b, period))
                        .collect(),
                )
            }
            _ => None,
        };
        self.last = Some(Sample {
            nodes: metrics.nodes.clone(),
            at: now,
            counts,
        });
        if let Some(rates) = &rates {
            if self.history.len() == RATE_HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(RateSample {
                at: crate::time::processing_time_now(),
                nodes: Vec::clone(rates),
            });
        }
        rates
    }

    /// The samples kept, oldest first.
    pub fn history(&self) -> Vec<RateSample> {
        self.history.iter().cloned().collect()
    }
}

fn same_counters(a: &[Arc<NodeMetrics>], b: &[Arc<NodeMetrics>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

/// A node's rates from its subtasks' counts now and at the last sample.
fn node_rates(now: &[SubtaskCounts], before: &[SubtaskCounts], period: Duration) -> NodeRates {
    let seconds = period.as_secs_f64();
    let mut rates = NodeRates::default();
    for (n, b) in now.iter().zip(before) {
        rates.records_in_per_second += n.records_in.saturating_sub(b.records_in) as f64 / seconds;
        rates.records_out_per_second +=
            n.records_out.saturating_sub(b.records_out) as f64 / seconds;
        let share = |d: Duration| (d.as_secs_f64() / seconds).clamp(0.0, 1.0);
        let active = share(n.active.saturating_sub(b.active));
        let idle = share(n.idle.saturating_sub(b.idle));
        let backpressured = share(n.backpressured.saturating_sub(b.backpressured));
        rates.backpressured = rates.backpressured.max(backpressured);
        rates.busy = rates.busy.max((active - idle - backpressured).max(0.0));
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_node(parallelism: u32) -> JobMetrics {
        let mut metrics = JobMetrics::default();
        metrics.add("op", NodeRole::Operator, parallelism);
        metrics
    }

    #[test]
    fn rates_come_from_the_counts_between_two_samples_of_the_same_counters() {
        let metrics = one_node(2);
        let mut sampler = RateSampler::default();
        assert_eq!(sampler.sample(&metrics), None, "no rate from one sample");
        metrics.nodes[0].add_in(0, 300);
        metrics.nodes[0].add_in(1, 100);
        std::thread::sleep(Duration::from_millis(50));
        let rates = sampler.sample(&metrics).unwrap();
        assert!(rates[0].records_in_per_second > 0.0);
        assert_eq!(sampler.history().len(), 1);

        // A restart brings new counters: no rate from old against new.
        let restarted = one_node(2);
        assert_eq!(sampler.sample(&restarted), None);
    }

    #[test]
    fn a_subtask_that_ended_is_not_busy_and_one_that_waits_is_not_either() {
        let metrics = one_node(2);
        let node = &metrics.nodes[0];
        let mut sampler = RateSampler::default();
        sampler.sample(&metrics);
        node.subtask(0).end();
        let period = Duration::from_millis(100);
        std::thread::sleep(period);
        // Subtask 1 waited the whole period for input.
        node.subtask(1).add_idle(period * 2);
        let rates = sampler.sample(&metrics).unwrap();
        // Subtask 0 ran only between the first sample and its end.
        assert!(rates[0].busy < 0.01, "{rates:?}");
        let ended_busy = node.subtask(0).busy();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            node.subtask(0).busy(),
            ended_busy,
            "an ended subtask's time stops"
        );
    }

    #[test]
    fn a_node_in_chains_of_another_parallelism_folds_them_onto_its_subtasks() {
        let metrics = one_node(1);
        metrics.nodes[0].add_in(0, 1);
        metrics.nodes[0].add_in(3, 2);
        assert_eq!(metrics.nodes[0].records_in(), 3);
        assert_eq!(metrics.nodes[0].subtasks().count(), 1);
    }
}
