//! Two-phase commit, the way sinks are exactly-once (Flink's
//! `TwoPhaseCommittingSink`): each subtask's [`TransactionalWriter`] makes
//! its output durable but invisible at a barrier and hands a committable to
//! the checkpoint; the sink's [`Committer`] publishes the committables of a
//! checkpoint once it is complete, and again on a restore from it.
//! Committables are opaque JSON to the coordinator and the manifest: only
//! the sink that wrote one reads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::checkpoint::protocol::SinkCommit;
use crate::runtime::record::Record;

/// One subtask's writer of a two-phase-commit sink.
pub trait TransactionalWriter: Send {
    /// Write records into what the next pre-commit closes.
    fn write(&mut self, records: &[Record]) -> std::io::Result<()>;

    /// At a barrier (`tag`: the checkpoint id, or `end`): make what was
    /// written durable but not yet visible, and return the committable of
    /// everything this writer pre-committed that is not published yet
    /// (`None`: nothing), which the checkpoint being taken carries.
    fn pre_commit(&mut self, tag: &str) -> std::io::Result<Option<serde_json::Value>>;
}

/// The publishing side of one two-phase-commit sink, one for a job's whole
/// run (across restarts), shared by its writers.
pub trait Committer: Send + Sync {
    /// The writer of `subtask` (which may keep the committer, to hand it
    /// what it pre-commits).
    fn writer(self: Arc<Self>, subtask: u32) -> std::io::Result<Box<dyn TransactionalWriter>>;

    /// Publish what a completed checkpoint's subtasks pre-committed. It
    /// runs again for the same committables after a crash between a
    /// checkpoint's completion and its publication, so it is idempotent.
    fn commit(&self, committables: &[serde_json::Value]) -> Result<()>;

    /// Before each attempt of the job: publish the committables of the
    /// checkpoint it restores (`Some`) and discard everything staged or
    /// open after it, or start the output over (`None`).
    fn recover(&self, restored: Option<&[serde_json::Value]>) -> Result<()>;
}

/// The committers of a job's two-phase-commit sinks, by sink name.
pub type Committers = HashMap<String, Arc<dyn Committer>>;

/// Publish `commits` (a completed checkpoint's), each sink's committables
/// through its committer, in one call per sink.
pub fn publish_commits(committers: &Committers, commits: &[SinkCommit]) -> Result<()> {
    for (sink, committables) in by_sink(commits) {
        committer(committers, sink)?
            .commit(&committables)
            .with_context(|| format!("sink `{sink}`: cannot commit"))?;
    }
    Ok(())
}

/// Before an attempt of the job: every two-phase-commit sink recovers to
/// the checkpoint it restores (`restore`: its commits), or starts over.
pub fn recover_sinks(committers: &Committers, restore: Option<&[SinkCommit]>) -> Result<()> {
    let restored = restore.map(by_sink).unwrap_or_default();
    for sink in restored.keys() {
        committer(committers, sink)?;
    }
    let mut names: Vec<&String> = committers.keys().collect();
    names.sort();
    for sink in names {
        let committables =
            restore.map(|_| restored.get(sink.as_str()).cloned().unwrap_or_default());
        committers[sink]
            .recover(committables.as_deref())
            .with_context(|| format!("sink `{sink}`: cannot recover its output"))?;
    }
    Ok(())
}

fn by_sink(commits: &[SinkCommit]) -> BTreeMap<&str, Vec<serde_json::Value>> {
    let mut by_sink: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for commit in commits {
        by_sink
            .entry(&commit.sink)
            .or_default()
            .push(commit.committable.clone());
    }
    by_sink
}

fn committer<'a>(committers: &'a Committers, sink: &str) -> Result<&'a Arc<dyn Committer>> {
    committers.get(sink).with_context(|| {
        format!("the checkpoint holds committables of sink `{sink}`, which is not a two-phase-commit sink of this job")
    })
}
