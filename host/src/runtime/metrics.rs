//! Counters per node of the job, shared by its subtasks and read by the
//! progress display.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
        });
        self.nodes.push(metrics.clone());
        metrics
    }

    /// The counters of `name`.
    pub fn node(&self, name: &str) -> Option<&Arc<NodeMetrics>> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
