//! Live progress on a terminal and the end-of-run summary.

use std::io::Write;
use std::time::Duration;

use crate::checkpoint::coordinator::CheckpointStats;
use crate::runtime::metrics::{JobMetrics, NodeRole};

/// Redraws one block of lines per tick on stderr, when it is a terminal.
pub struct Progress {
    live: bool,
    lines_drawn: usize,
    last: Vec<u64>,
    last_elapsed: Duration,
}

impl Progress {
    pub fn new(live: bool) -> Self {
        Progress {
            live,
            lines_drawn: 0,
            last: Vec::new(),
            last_elapsed: Duration::ZERO,
        }
    }

    /// Draw the counters and the rate since the last tick.
    pub fn tick(&mut self, metrics: &JobMetrics, checkpoints: &CheckpointStats, elapsed: Duration) {
        if !self.live {
            return;
        }
        let seconds = (elapsed - self.last_elapsed).as_secs_f64().max(1e-3);
        let mut text = String::new();
        self.erase(&mut text);
        text.push_str(&format!("running {:.0?}\n", elapsed));
        let mut counts = Vec::new();
        for (i, node) in metrics.nodes.iter().enumerate() {
            let count = match node.role {
                NodeRole::Sink => node.records_in(),
                _ => node.records_out(),
            };
            let rate = (count - self.last.get(i).copied().unwrap_or(0)) as f64 / seconds;
            text.push_str(&format!(
                "  {:<8} {:<20} in {:>12}  out {:>12}  {:>12}/s\n",
                role_name(node.role),
                node.name,
                node.records_in(),
                node.records_out(),
                format_count(rate as u64)
            ));
            counts.push(count);
        }
        self.lines_drawn = metrics.nodes.len() + 1;
        if let Some(line) = checkpoint_line(checkpoints) {
            text.push_str(&format!("  {line}\n"));
            self.lines_drawn += 1;
        }
        self.last = counts;
        self.last_elapsed = elapsed;
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
        let _ = stderr.flush();
    }

    fn erase(&self, text: &mut String) {
        for _ in 0..self.lines_drawn {
            text.push_str("\x1b[1A\x1b[2K");
        }
    }

    /// Remove the live block before the summary.
    pub fn clear(&mut self) {
        if self.live && self.lines_drawn > 0 {
            let mut text = String::new();
            self.erase(&mut text);
            eprint!("{text}");
            self.lines_drawn = 0;
        }
    }
}

fn role_name(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Source => "source",
        NodeRole::Operator => "operator",
        NodeRole::Sink => "sink",
    }
}

fn format_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// Checkpoints in one line: how many, the last one's figures, and how long
/// ago it completed; `None` when the run has taken and restored none.
fn checkpoint_line(stats: &CheckpointStats) -> Option<String> {
    if stats.completed == 0
        && stats.failed == 0
        && stats.restored_from.is_none()
        && stats.in_progress.is_none()
    {
        return None;
    }
    let mut line = format!("checkpoints {} completed", stats.completed);
    if stats.failed > 0 {
        line.push_str(&format!(", {} failed", stats.failed));
    }
    if let Some(last) = &stats.last {
        let size = if last.written_bytes == last.bytes {
            bytesize::ByteSize::b(last.bytes).to_string()
        } else {
            format!(
                "{} ({} new)",
                bytesize::ByteSize::b(last.bytes),
                bytesize::ByteSize::b(last.written_bytes)
            )
        };
        line.push_str(&format!(
            "; last #{} {:.0?} ago: took {:.0?}, {size}, alignment {:.0?}, pause {:.1?}",
            last.id,
            last.completed_at.elapsed(),
            last.duration,
            last.alignment,
            last.pause,
        ));
    }
    if let Some(id) = stats.in_progress {
        line.push_str(&format!("; #{id} in progress"));
    }
    if let Some(id) = stats.restored_from {
        line.push_str(&format!("; restored from #{id}"));
    }
    Some(line)
}

/// How a run ended, for the summary's first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    /// Stopped after a savepoint (`eddy stop --savepoint`).
    Stopped,
    Cancelled,
    Failed,
}

/// The end-of-run table: records in and out per node, and the overall rate.
pub fn summary(
    job: &str,
    outcome: Outcome,
    metrics: &JobMetrics,
    checkpoints: &CheckpointStats,
    elapsed: Duration,
) -> String {
    let verb = match outcome {
        Outcome::Finished => "finished in",
        Outcome::Stopped => "stopped with a savepoint after",
        Outcome::Cancelled => "cancelled after",
        Outcome::Failed => "failed after",
    };
    let mut text = format!("job `{job}` {verb} {:.2?}\n", elapsed);
    for node in &metrics.nodes {
        let dead = node.dead_letters.load(std::sync::atomic::Ordering::Relaxed);
        let unread = node
            .unread_side_output
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut notes = String::new();
        if dead > 0 {
            notes.push_str(&format!("  dead letters {dead}"));
        }
        if unread > 0 {
            notes.push_str(&format!("  unread side output {unread}"));
        }
        text.push_str(&format!(
            "  {:<8} {:<20} x{:<3} in {:>12}  out {:>12}{notes}\n",
            role_name(node.role),
            node.name,
            node.parallelism,
            node.records_in(),
            node.records_out(),
        ));
    }
    if let Some(source_total) = metrics
        .nodes
        .iter()
        .filter(|n| n.role == NodeRole::Source)
        .map(|n| n.records_out())
        .reduce(|a, b| a + b)
        && elapsed > Duration::ZERO
    {
        text.push_str(&format!(
            "  {} records/s from sources\n",
            format_count((source_total as f64 / elapsed.as_secs_f64()) as u64)
        ));
    }
    if let Some(line) = checkpoint_line(checkpoints) {
        text.push_str(&format!("  {line}\n"));
        if checkpoints.completed > 0 {
            text.push_str(&format!(
                "  longest snapshot pause {:.1?}, longest alignment {:.0?}\n",
                checkpoints.longest_pause, checkpoints.longest_alignment
            ));
        }
    }
    if let Some(peak) = peak_resident_bytes() {
        text.push_str(&format!("  peak memory (RSS) {} MiB\n", peak >> 20));
    }
    text
}

/// The most memory this process has held resident (Linux `VmHWM`), so a
/// run shows what it cost, e.g. with state larger than memory in RocksDB.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
