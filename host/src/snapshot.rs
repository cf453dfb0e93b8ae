//! What an operator subtask hands over at a barrier and gets back at a
//! restore, as plain data: keyed entries exactly as stored, timers,
//! broadcast entries and the watermark, and [`KeyedStateSnapshot`], the one
//! thing a state backend's snapshot must offer to be written out.
//!
//! This module is a leaf: it imports nothing from the rest of eddy, so the
//! backends (`state/`), the timers (`time/`), the operators and the
//! checkpoint codec (`checkpoint::state_file`) all depend on it and none
//! of them on another for these types. The codec turns this data into
//! bytes without knowing which backend took the snapshot.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Which clock a timer follows.
///
/// The plain data of a timer lives here rather than in `time/` so that this
/// module stays a leaf: `time/` builds its queues over these types and
/// needs `state/` (whose errors its queues return), and `state/` needs this
/// module, so a snapshot that imported `time/` would close a cycle.
/// `crate::time` re-exports both types, which is where the runtime names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeDomain {
    EventTime,
    ProcessingTime,
}

/// One registered timer. Its order is the firing order: timestamp, then
/// key group, key and namespace (the heap queue's `TimerKey` and the
/// RocksDB queue's key encoding follow it); registering an equal timer
/// again is a no-op. (Defined here for the reason given at [`TimeDomain`].)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timer {
    pub timestamp: i64,
    pub key_group: u16,
    pub key: Vec<u8>,
    /// What the timer is for within its key: a window's namespace for
    /// window timers, empty for timers of process functions.
    pub namespace: Vec<u8>,
}

impl Timer {
    /// A timer of a process function (no namespace).
    pub fn keyed(timestamp: i64, key_group: u16, key: Vec<u8>) -> Self {
        Timer {
            timestamp,
            key_group,
            key,
            namespace: Vec::new(),
        }
    }
}

/// One keyed entry as a backend stores it (TTL stamps included), detached
/// from any backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// The state's registered name (ids are per run; names are what the
    /// operator declares, so they survive a restart).
    pub state: String,
    /// The key group of `key`, which decides the subtask that restores it.
    pub key_group: u16,
    /// The key, as the operator's key selector produced it.
    pub key: Vec<u8>,
    /// A window's namespace, empty for plain keyed state.
    pub namespace: Vec<u8>,
    /// What the key holds, with TTL stamps if the state has a TTL.
    pub payload: StoredPayload,
}

/// What a key holds in one state.
///
/// Its serde form is part of the state file format
/// (`checkpoint::state_file`), encoded by variant index: reordering or
/// removing a variant changes the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredPayload {
    /// A value state's value.
    Value(Vec<u8>),
    /// A list state's elements, in order.
    List(Vec<Vec<u8>>),
    /// Ordered by map key.
    Map(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Heap timers taken at the barrier (RocksDB timers are in its checkpoint).
#[derive(Debug, Default)]
pub struct TimerSnapshot {
    /// The timers of each time domain that has a heap queue.
    pub domains: Vec<(TimeDomain, Box<dyn HeapTimersSnapshot>)>,
}

impl TimerSnapshot {
    /// Every timer with its time domain, each domain in firing order.
    pub fn into_timers(self) -> impl Iterator<Item = (TimeDomain, Timer)> {
        self.domains.into_iter().flat_map(|(domain, timers)| {
            timers
                .into_timers()
                .into_iter()
                .map(move |timer| (domain, timer))
        })
    }
}

/// The heap timers of one time domain as they were at a barrier. Taking
/// one shares the queue's storage (copy on write) rather than copying it,
/// so that the task pauses for a pointer copy, not for every timer; the
/// timers are read out later, off the task thread.
pub trait HeapTimersSnapshot: Send + std::fmt::Debug {
    /// Every timer, in firing order.
    fn into_timers(self: Box<Self>) -> Vec<Timer>;
}

/// Broadcast maps copied at the barrier: (state name, key, value).
#[derive(Debug, Clone, Default)]
pub struct BroadcastSnapshot {
    /// Every entry of every broadcast map.
    pub entries: Vec<(String, Vec<u8>, Vec<u8>)>,
}

/// Why a snapshot could not be handed over to its sink.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot could not be read (a RocksDB checkpoint that cannot be
    /// opened or holds malformed keys).
    #[error("the state snapshot cannot be read: {0}")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The sink could not take what was read (writing it out failed).
    #[error("the state snapshot cannot be written out: {0}")]
    Write(#[source] std::io::Error),
}

/// Where a [`KeyedStateSnapshot`] puts what it holds: the checkpoint codec,
/// which writes each item into a state file as it comes.
pub trait SnapshotSink {
    /// Take one keyed entry.
    fn entry(&mut self, entry: StoredEntry) -> Result<(), SnapshotError>;
    /// Take one timer of `domain`.
    fn timer(&mut self, domain: TimeDomain, timer: Timer) -> Result<(), SnapshotError>;
}

/// A backend's consistent copy of one operator subtask's keyed state, taken
/// at a barrier on the task thread and read once, elsewhere, to be written
/// out. Each backend has its own (a copy of the memory backend's tables, a
/// native RocksDB checkpoint); the codec sees only this trait, so a
/// checkpoint does not depend on the backend that took it.
pub trait KeyedStateSnapshot: Send + std::fmt::Debug {
    /// Hand every keyed entry to `sink`, state by state and, within a state,
    /// key group by key group, in an order fixed by the contents (so the
    /// same state gives the same file); then every timer the snapshot holds
    /// (timers kept on the heap come apart, in a [`TimerSnapshot`]).
    /// Broadcast maps are not keyed state and are left out. Consumes the
    /// snapshot, so nothing is copied twice.
    fn read_into(self: Box<Self>, sink: &mut dyn SnapshotSink) -> Result<(), SnapshotError>;

    /// The folder of files the backend made for this snapshot, scratch to
    /// be removed once the snapshot is written out (`None` for a copy in
    /// memory).
    fn scratch_dir(&self) -> Option<&Path> {
        None
    }

    /// The snapshot as the backend's own files, which an incremental
    /// checkpoint keeps as they are (`None` for a backend without any: the
    /// memory backend's tables are written out logically).
    fn native_files(&self) -> Option<NativeFiles<'_>> {
        None
    }
}

/// A backend's snapshot as its own files (a native RocksDB checkpoint): the
/// folder holding them and the database they describe.
#[derive(Debug, Clone, Copy)]
pub struct NativeFiles<'a> {
    /// The folder of the files (the snapshot's scratch folder).
    pub dir: &'a Path,
    /// The database they are of.
    pub database: &'a NativeDatabase,
}

/// What a checkpoint keeps beside a database's own files so that they can
/// be used again: the database instance they come from (a file name means
/// the same contents only within one), and the states they hold, so that
/// they can be opened, or read back logically, without the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeDatabase {
    /// Random id of the database instance, kept by a database restored
    /// from the files (its new files are numbered after theirs).
    pub lineage: String,
    /// The states registered when the snapshot was taken.
    pub states: Vec<NativeState>,
}

/// One state of a [`NativeDatabase`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeState {
    /// The stored name (with its version suffix).
    pub name: String,
    /// `value`, `list`, `map` or `broadcast-map`.
    pub kind: String,
    /// Time-to-live in milliseconds, if the state has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

/// What one operator subtask hands over at a barrier: cheap to take on the
/// task thread, written out elsewhere (`checkpoint::state_file::encode`).
#[derive(Debug, Default)]
pub struct OperatorSnapshot {
    /// The keyed state backend's snapshot (`None` for operators without keyed state).
    pub keyed: Option<Box<dyn KeyedStateSnapshot>>,
    /// Heap timers (`None` when the keyed snapshot holds them).
    pub timers: Option<TimerSnapshot>,
    /// Broadcast maps (`None` for operators without broadcast state).
    pub broadcast: Option<BroadcastSnapshot>,
    /// The operator's event-time watermark at the barrier. A restored
    /// operator starts from it, so that a timer which was already due but
    /// waited for the watermark to move fires where it would have without
    /// the restore (after the next move, not before the first record).
    pub watermark: Option<i64>,
}

/// State read back from checkpoint files for one restoring subtask
/// (`checkpoint::state_file::decode_into` fills it, the operator puts it back).
#[derive(Debug, Default)]
pub struct RestoredOperatorState {
    pub entries: Vec<StoredEntry>,
    pub timers: Vec<(TimeDomain, Timer)>,
    /// (state name, key, value).
    pub broadcast: Vec<(String, Vec<u8>, Vec<u8>)>,
    /// The lowest watermark of the files read (several when the
    /// parallelism changed): the restored operator may not fire a timer
    /// before any of the subtasks it continues would have.
    pub watermark: Option<i64>,
}
