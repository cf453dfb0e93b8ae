//! Counters per node of the job, shared by its subtasks and read by the
//! progress display.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::time::watermark::NO_WATERMARK;

/// What a node is, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Source,
    Operator,
    Sink,
}

/// Counters of one source, operator or sink (all its subtasks).
#[derive(Debug)]
pub struct NodeMetrics {
    pub name: String,
    pub role: NodeRole,
    pub parallelism: u32,
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Malformed records sent to a dead-letter sink.
    pub dead_letters: AtomicU64,
    /// Records emitted to side outputs that nothing reads (late records of
    /// a window nobody routed, for one), counted so they are never lost unseen.
    pub unread_side_output: AtomicU64,
    /// The event-time watermark of each subtask.
    watermarks: Vec<AtomicI64>,
}

impl NodeMetrics {
    pub fn add_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn records_in(&self) -> u64 {
        self.records_in.load(Ordering::Relaxed)
    }
    pub fn records_out(&self) -> u64 {
        self.records_out.load(Ordering::Relaxed)
    }

    /// Subtask `subtask` (0-based) reached `watermark`.
    pub fn set_watermark(&self, subtask: u32, watermark: i64) {
        if let Some(slot) = self.watermarks.get(subtask as usize) {
            slot.store(watermark, Ordering::Relaxed);
        }
    }

    /// The node's watermark: the lowest of its subtasks' (Flink's low
    /// watermark), `None` before every subtask has one.
    pub fn watermark(&self) -> Option<i64> {
        self.watermarks
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
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
        let metrics = Arc::new(NodeMetrics {
            name: name.to_string(),
            role,
            parallelism,
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            unread_side_output: AtomicU64::new(0),
            watermarks: (0..parallelism)
                .map(|_| AtomicI64::new(NO_WATERMARK))
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
