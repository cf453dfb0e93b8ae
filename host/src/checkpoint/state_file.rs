//! The state file of one operator subtask in a checkpoint: its keyed state
//! (per key group), timers and broadcast state, in a logical format that
//! does not depend on the backend that wrote it, so a checkpoint taken with
//! one backend or parallelism restores into another.
//!
//! A file is a sequence of frames `[u32 LE length][postcard Frame]`; every
//! frame of keyed state or timers names its key group, so a restoring
//! subtask reads only the key groups it owns.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::CheckpointError;
use crate::state::{KeyGroupRange, StateBackend, StateError, StateSnapshot};
use crate::time::{TimeDomain, Timer, TimerService};

/// One keyed entry as a backend stores it (TTL stamps included), detached
/// from any backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// The state's registered name.
    pub state: String,
    pub key_group: u16,
    pub key: Vec<u8>,
    pub namespace: Vec<u8>,
    pub payload: StoredPayload,
}

/// What a key holds in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredPayload {
    Value(Vec<u8>),
    List(Vec<Vec<u8>>),
    /// Ordered by map key.
    Map(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Heap timers copied at the barrier (RocksDB timers are in its checkpoint).
#[derive(Debug, Clone, Default)]
pub struct TimerSnapshot {
    pub timers: Vec<(TimeDomain, Timer)>,
}

/// Broadcast maps copied at the barrier: (state name, key, value).
#[derive(Debug, Clone, Default)]
pub struct BroadcastSnapshot {
    pub entries: Vec<(String, Vec<u8>, Vec<u8>)>,
}

/// What one operator subtask hands over at a barrier: cheap to take on the
/// task thread, written out by [`OperatorSnapshot::write_to`] elsewhere.
#[derive(Debug, Default)]
pub struct OperatorSnapshot {
    pub keyed: Option<StateSnapshot>,
    pub timers: Option<TimerSnapshot>,
    pub broadcast: Option<BroadcastSnapshot>,
}

/// Figures of one written state file.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrittenState {
    pub entries: u64,
    pub timers: u64,
}

impl OperatorSnapshot {
    /// Serialise the snapshot (off the task thread), removing any scratch
    /// files the backend made for it.
    pub fn write_to(self, _out: &mut impl Write) -> Result<WrittenState, CheckpointError> {
        todo!()
    }
}

/// State read back from checkpoint files for one restoring subtask.
#[derive(Debug, Default)]
pub struct RestoredOperatorState {
    pub entries: Vec<StoredEntry>,
    pub timers: Vec<(TimeDomain, Timer)>,
    /// (state name, key, value).
    pub broadcast: Vec<(String, Vec<u8>, Vec<u8>)>,
}

impl RestoredOperatorState {
    /// Add the key groups of `range` found in `file` (a file written by
    /// [`OperatorSnapshot::write_to`]), and its broadcast state if
    /// `with_broadcast`.
    pub fn read(
        &mut self,
        _file: &[u8],
        _range: &KeyGroupRange,
        _with_broadcast: bool,
    ) -> Result<(), CheckpointError> {
        todo!()
    }

    /// Put everything back: entries into `backend` as stored, timers into `timers`.
    pub fn apply_keyed(
        &self,
        _backend: &mut dyn StateBackend,
        _timers: &mut TimerService,
    ) -> Result<(), StateError> {
        todo!()
    }
}
