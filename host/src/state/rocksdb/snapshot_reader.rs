//! The RocksDB backend's snapshot, a native RocksDB checkpoint (made by
//! [`RocksDbStateBackend::snapshot`](super::RocksDbStateBackend)), and
//! reading it back into logical entries and timers, so that the
//! checkpoint's state file does not depend on the backend that took it.
//!
//! The keys and values are decoded with the same layout helpers the backend
//! writes with (`split_key`, `split_length_prefixed`, `timers::decode`).

use std::path::{Path, PathBuf};

use rocksdb::{DB, IteratorMode, Options, ReadOptions};

use super::{EVENT_TIMERS, LIST_APPEND, PROCESSING_TIMERS, append_lists, rocks, split_key};
use crate::snapshot::{
    KeyedStateSnapshot, NativeDatabase, NativeFiles, SnapshotError, SnapshotSink, StoredEntry,
    StoredPayload, TimeDomain, Timer,
};
use crate::state::{StateDescriptor, StateError, StateKind};
use crate::wasm::layout::split_length_prefixed;

/// A native RocksDB checkpoint, the snapshot of a
/// [`RocksDbStateBackend`](super::RocksDbStateBackend): its SST files
/// hard-linked into `dir`, so a later checkpoint needs to upload only the
/// files that are new. It holds the backend's timers too.
#[derive(Debug)]
pub(crate) struct RocksDbCheckpoint {
    pub(crate) dir: PathBuf,
    /// The database's lineage and the states registered when it was taken:
    /// the column families to read and how (a list's values are merged, a
    /// map's keys grouped), since the checkpoint itself does not say what
    /// kind each state is.
    pub(crate) database: NativeDatabase,
}

impl KeyedStateSnapshot for RocksDbCheckpoint {
    fn read_into(self: Box<Self>, sink: &mut dyn SnapshotSink) -> Result<(), SnapshotError> {
        read_native_files(&self.dir, &self.database, sink)
    }

    fn scratch_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn native_files(&self) -> Option<NativeFiles<'_>> {
        Some(NativeFiles {
            dir: &self.dir,
            database: &self.database,
        })
    }
}

/// Read the native RocksDB checkpoint in `dir` (an incremental
/// checkpoint's files) into `sink` as logical entries and timers, for a
/// restore the files cannot serve directly (other key groups, another
/// backend) and for `eddy inspect`.
pub fn read_native_files(
    dir: &Path,
    database: &NativeDatabase,
    sink: &mut dyn SnapshotSink,
) -> Result<(), SnapshotError> {
    let states = super::native_descriptors(database)?;
    RocksDbCheckpointReader::open(dir, states)?.read_into(sink)
}

/// A RocksDB checkpoint opened read-only, with the states it holds.
struct RocksDbCheckpointReader {
    db: DB,
    states: Vec<StateDescriptor>,
}

impl RocksDbCheckpointReader {
    /// Open the checkpoint in `dir`, taken when `states` were registered.
    /// Every column family gets the list merge operator, as in the backend:
    /// list appends may still be merge operands in the checkpoint's files,
    /// and iterating them needs the operator. TTL compaction filters are
    /// left out: nothing is compacted while reading.
    fn open(dir: &Path, states: Vec<StateDescriptor>) -> Result<Self, StateError> {
        let mut options = Options::default();
        options.set_merge_operator_associative(LIST_APPEND, append_lists);
        options.set_max_open_files(256);
        let families = DB::list_cf(&options, dir).map_err(|e| {
            StateError::Storage(format!(
                "the RocksDB checkpoint in {} cannot be opened: {e}",
                dir.display()
            ))
        })?;
        for descriptor in &states {
            if descriptor.kind != StateKind::BroadcastMap && !families.contains(&descriptor.name) {
                return Err(StateError::Storage(format!(
                    "the RocksDB checkpoint in {} has no column family for state `{}`",
                    dir.display(),
                    descriptor.name
                )));
            }
        }
        let db = DB::open_cf_with_opts_for_read_only(
            &options,
            dir,
            families.iter().map(|name| (name.as_str(), options.clone())),
            false,
        )
        .map_err(rocks)?;
        Ok(RocksDbCheckpointReader { db, states })
    }

    /// Hand everything to `sink`: entries, then timers.
    fn read_into(self, sink: &mut dyn SnapshotSink) -> Result<(), SnapshotError> {
        self.for_each_entry(|entry| sink.entry(entry))?;
        self.for_each_timer(|domain, timer| sink.timer(domain, timer))
    }

    /// Sequential reads of everything once: keep them out of the block cache.
    fn scan_options() -> ReadOptions {
        let mut read = ReadOptions::default();
        read.fill_cache(false);
        read.set_readahead_size(2 << 20);
        read
    }

    /// Hand every entry of the keyed states to `visit`, state by state and,
    /// within a state, in key order (so key group by key group); a map's
    /// entries come as one [`StoredEntry`] per key and namespace. Broadcast
    /// maps are skipped (not keyed; [`crate::state::BroadcastState`] has them).
    fn for_each_entry<E: From<StateError>>(
        &self,
        mut visit: impl FnMut(StoredEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        for descriptor in &self.states {
            if descriptor.kind == StateKind::BroadcastMap {
                continue;
            }
            let malformed = |stored: &[u8], what: &str| {
                StateError::Storage(format!(
                    "the RocksDB checkpoint holds a {what} in state `{}`: {stored:02x?}",
                    descriptor.name
                ))
            };
            let cf = self.db.cf_handle(&descriptor.name).ok_or_else(|| {
                StateError::Storage(format!(
                    "the RocksDB checkpoint has no column family for state `{}`",
                    descriptor.name
                ))
            })?;
            // The map being gathered: its entry prefix and what it holds so far.
            let mut pending: Option<(Vec<u8>, StoredEntry)> = None;
            for item in self
                .db
                .iterator_cf_opt(cf, Self::scan_options(), IteratorMode::Start)
            {
                let (stored, value) = item.map_err(rocks)?;
                let split =
                    split_key(&stored).ok_or_else(|| malformed(&stored, "malformed key"))?;
                let entry = |payload| StoredEntry {
                    state: descriptor.name.clone(),
                    key_group: split.key_group,
                    key: split.key.to_vec(),
                    namespace: split.namespace.to_vec(),
                    payload,
                };
                match descriptor.kind {
                    StateKind::Value | StateKind::List if !split.rest.is_empty() => {
                        return Err(malformed(&stored, "key with trailing bytes").into());
                    }
                    StateKind::Value => visit(entry(StoredPayload::Value(value.into_vec())))?,
                    StateKind::List => {
                        let elements = split_length_prefixed(&value)
                            .map_err(|_| malformed(&value, "malformed list"))?;
                        visit(entry(StoredPayload::List(elements)))?;
                    }
                    StateKind::Map => {
                        let prefix = &stored[..split.prefix_len];
                        let map_entry = (split.rest.to_vec(), value.into_vec());
                        match &mut pending {
                            Some((pending_prefix, pending_entry))
                                if pending_prefix.as_slice() == prefix =>
                            {
                                if let StoredPayload::Map(entries) = &mut pending_entry.payload {
                                    entries.push(map_entry);
                                }
                            }
                            _ => {
                                let next =
                                    (prefix.to_vec(), entry(StoredPayload::Map(vec![map_entry])));
                                if let Some((_, done)) = pending.replace(next) {
                                    visit(done)?;
                                }
                            }
                        }
                    }
                    StateKind::BroadcastMap => unreachable!("skipped above"),
                }
            }
            if let Some((_, done)) = pending {
                visit(done)?;
            }
        }
        Ok(())
    }

    /// Hand every timer of both time domains to `visit`, in firing order per domain.
    fn for_each_timer<E: From<StateError>>(
        &self,
        mut visit: impl FnMut(TimeDomain, Timer) -> Result<(), E>,
    ) -> Result<(), E> {
        for (domain, column) in [
            (TimeDomain::EventTime, EVENT_TIMERS),
            (TimeDomain::ProcessingTime, PROCESSING_TIMERS),
        ] {
            let cf = self.db.cf_handle(column).ok_or_else(|| {
                StateError::Storage(format!(
                    "the RocksDB checkpoint has no column family {column} for its timers"
                ))
            })?;
            for item in self
                .db
                .iterator_cf_opt(cf, Self::scan_options(), IteratorMode::Start)
            {
                let (stored, _) = item.map_err(rocks)?;
                visit(domain, super::timers::decode(&stored)?)?;
            }
        }
        Ok(())
    }
}
