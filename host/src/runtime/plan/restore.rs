//! Restoring a run from a checkpoint: source readers rewound to their
//! positions, operator subtasks given the state of their key groups.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::checkpoint::incremental::{self, NativeRestore};
use crate::checkpoint::protocol::SplitState;
use crate::checkpoint::{CheckpointStorage, Manifest, NativeCheckpoint};
use crate::connectors::{SourceReader, SplitAssignment, SplitPosition};
use crate::snapshot::RestoredOperatorState;
use crate::state::KeyGroupRange;
use crate::time::SourceWatermarks;

/// The checkpoint a run starts from, read and checked.
pub struct RestoreSource<'a> {
    pub manifest: &'a Manifest,
    pub storage: Arc<dyn CheckpointStorage>,
    /// Where native files read as entries are copied to first (the run's
    /// scratch folder, beside the state it restores into).
    pub scratch: PathBuf,
}

/// Rewind a source subtask's reader to where checkpoint `restore` has it,
/// and its splits' watermarks. A source the checkpoint does not know (new
/// in the job) starts at the beginning. A reader that owns splits by id
/// gets every split of the source, whatever the parallelism then; one that
/// reads the split of its subtask index needs the same parallelism.
pub(super) fn restore_source(
    restore: &RestoreSource<'_>,
    source: &str,
    subtask: u32,
    parallelism: u32,
    reader: &mut dyn SourceReader,
    watermarks: &mut SourceWatermarks,
) -> Result<()> {
    let id = restore.manifest.id;
    let states: Vec<_> = restore
        .manifest
        .sources
        .iter()
        .filter(|s| s.source == source)
        .collect();
    let splits: Vec<&SplitState> = match reader.assignment() {
        SplitAssignment::ById => states.iter().flat_map(|s| &s.splits).collect(),
        SplitAssignment::PerSubtask => {
            if let Some(other) = states.iter().find(|s| s.parallelism != parallelism) {
                bail!(
                    "source `{source}` ran with parallelism {} when checkpoint {id} was taken and has {parallelism} now; the parallelism of a {} source cannot change across a restore",
                    other.parallelism,
                    reader.describe()
                );
            }
            (states.iter())
                .filter(|s| s.subtask == subtask)
                .flat_map(|s| &s.splits)
                .collect()
        }
    };
    let positions: Vec<SplitPosition> = splits.iter().map(|s| s.position.clone()).collect();
    reader.restore(&positions).with_context(|| {
        format!(
            "source `{source}`: cannot go back to where checkpoint {id} read up to in {}",
            reader.describe()
        )
    })?;
    watermarks.ensure_splits(reader.split_count());
    for index in 0..reader.split_count() {
        let split = reader.split_id(index);
        if let Some(state) = splits.iter().find(|s| s.position.split == split) {
            watermarks.restore(index, state.max_timestamp);
        }
    }
    Ok(())
}

/// The native files of operator `uid`'s subtask owning exactly `range`,
/// if checkpoint `restore` kept its keyed state as RocksDB files: a RocksDB
/// backend opens its database on them instead of reading entries.
pub(super) fn native_database<'r>(
    restore: &'r RestoreSource<'_>,
    uid: &str,
    range: &KeyGroupRange,
) -> Option<&'r NativeCheckpoint> {
    (restore.manifest.operators.iter())
        .filter(|p| p.uid == uid)
        .find(|p| p.key_groups == (range.groups.start, range.groups.end))
        .and_then(|p| p.native.as_ref())
}

/// The state of operator `uid`'s subtask owning `range`, read from every
/// file of checkpoint `restore` that holds some of its key groups (any
/// number of them if the parallelism changed); broadcast state from the old
/// subtask with the same index (modulo the old parallelism), as Flink does.
/// Native files of exactly `range` are left out when `native` says the
/// subtask's database was opened on them.
pub(super) fn restore_operator(
    restore: &RestoreSource<'_>,
    uid: &str,
    subtask: u32,
    range: &KeyGroupRange,
    native: NativeRestore,
) -> Result<RestoredOperatorState> {
    let manifest = restore.manifest;
    let mut state = RestoredOperatorState::default();
    for part in manifest.operators.iter().filter(|p| p.uid == uid) {
        let (start, end) = part.key_groups;
        let with_broadcast = subtask % part.parallelism.max(1) == part.subtask;
        if !with_broadcast && (end <= range.groups.start || start >= range.groups.end) {
            continue;
        }
        let exact = part.key_groups == (range.groups.start, range.groups.end);
        let native = if exact {
            native
        } else {
            NativeRestore::ReadAsEntries
        };
        incremental::read_operator_part(
            restore.storage.as_ref(),
            manifest,
            part,
            range,
            with_broadcast,
            native,
            &restore.scratch,
            &mut state,
        )
        .with_context(|| format!("checkpoint {}: state file {}", manifest.id, part.file))?;
    }
    Ok(state)
}
