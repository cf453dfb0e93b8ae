//! Keyed state, owned by the host (design decision 1).
//!
//! Guests reach state only through the host, scoped to a key (and later a
//! window namespace), so a guest instance can be dropped, restarted or
//! replaced without losing anything. State is organised by operator, state
//! name and key group so that snapshots and rescaling work per key group.

pub mod broadcast;
mod job_backend;
pub mod key_group;
pub mod memory;
pub mod overlay;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
pub mod ttl;

#[cfg(test)]
mod conformance;

use thiserror::Error;

use crate::snapshot::{
    KeyedStateSnapshot, RestoredOperatorState, SnapshotError, StoredEntry, StoredPayload,
};
use crate::time::TimerService;
use crate::time::watermark::NO_WATERMARK;

pub use broadcast::{
    BroadcastAccess, BroadcastEntries, BroadcastError, BroadcastMode, BroadcastState,
};
pub use job_backend::JobStateBackend;
pub use key_group::{KeyGroupRange, key_group_of, subtask_for_key_group};
pub use memory::{MemorySnapshot, MemoryStateBackend};
pub use overlay::{Overlay, PendingWrites};
#[cfg(feature = "rocksdb")]
pub use rocksdb::{DEFAULT_WRITE_CACHE_BYTES, RocksDbShared, RocksDbStateBackend};
pub use ttl::{TtlClock, TtlStates};

/// A state registered with a backend, valid for that backend only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateId(pub u32);

/// The shape of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    Value,
    List,
    Map,
    /// Not keyed: one map per subtask, kept by [`BroadcastState`].
    BroadcastMap,
}

impl StateKind {
    /// How manifests and messages name the kind.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Value => "value",
            StateKind::List => "list",
            StateKind::Map => "map",
            StateKind::BroadcastMap => "broadcast-map",
        }
    }

    /// The kind [`Self::name`] gives `name`.
    pub fn from_name(name: &str) -> Option<StateKind> {
        [
            StateKind::Value,
            StateKind::List,
            StateKind::Map,
            StateKind::BroadcastMap,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// When an entry's time-to-live restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlUpdate {
    OnCreateAndWrite,
    OnReadAndWrite,
}

/// Time-to-live of a state's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    pub millis: u64,
    pub update: TtlUpdate,
}

/// What a backend needs to know about a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDescriptor {
    pub name: String,
    pub kind: StateKind,
    pub ttl: Option<StateTtl>,
}

/// Where one entry lives: key group, key, and namespace (a window; empty
/// for plain keyed state).
#[derive(Debug, Clone, Copy)]
pub struct StateKey<'a> {
    pub key_group: u16,
    pub key: &'a [u8],
    pub namespace: &'a [u8],
}

impl<'a> StateKey<'a> {
    pub fn new(key_group: u16, key: &'a [u8], namespace: &'a [u8]) -> Self {
        StateKey {
            key_group,
            key,
            namespace,
        }
    }
}

/// Errors of a state backend.
#[derive(Debug, Error)]
pub enum StateError {
    #[error(
        "state `{name}` of operator `{operator}` is a {actual:?} state, not a {expected:?} state"
    )]
    WrongKind {
        operator: String,
        name: String,
        expected: StateKind,
        actual: StateKind,
    },
    #[error("key group {key_group} is not owned by this subtask (it owns {range:?})")]
    ForeignKeyGroup {
        key_group: u16,
        range: std::ops::Range<u16>,
    },
    #[error("state id {0:?} was not registered with this backend")]
    UnknownState(StateId),
    /// A checkpoint being restored holds a state the operator no longer
    /// declares (the job changed between the checkpoint and the restore).
    #[error(
        "the checkpoint holds state `{name}` for operator `{operator}`, which does not declare it"
    )]
    UndeclaredState { operator: String, name: String },
    /// A checkpoint being restored holds a state under a name the operator
    /// now declares with another kind, so its entries cannot be put back.
    #[error(
        "the checkpoint holds {stored:?} state `{name}` for operator `{operator}`, which declares it as a {declared:?} state"
    )]
    RestoredKind {
        operator: String,
        name: String,
        declared: StateKind,
        stored: StateKind,
    },
    /// The storage under the backend failed (RocksDB, the local disk).
    #[error("state storage: {0}")]
    Storage(String),
}

/// A backend that cannot read its own snapshot fails the write-out with
/// its own message.
impl From<StateError> for SnapshotError {
    fn from(error: StateError) -> Self {
        SnapshotError::Read(Box::new(error))
    }
}

/// `value` into `out` (emptied when there is none): the
/// [`StateBackend::value_get_into`] of backends that have no cheaper way;
/// whether there was a value.
pub(crate) fn copy_value_into(value: Option<Vec<u8>>, out: &mut Vec<u8>) -> bool {
    match value {
        Some(value) => {
            *out = value;
            true
        }
        None => {
            out.clear();
            false
        }
    }
}

/// The descriptor of `state` after checking that it has the `expected`
/// kind and that `at` is in `range`: the checks every backend makes on
/// every access.
pub(crate) fn check_access<'d>(
    operator: &str,
    range: &KeyGroupRange,
    states: &'d [StateDescriptor],
    state: StateId,
    at: StateKey<'_>,
    expected: StateKind,
) -> Result<&'d StateDescriptor, StateError> {
    if !range.contains(at.key_group) {
        return Err(StateError::ForeignKeyGroup {
            key_group: at.key_group,
            range: range.groups.clone(),
        });
    }
    let descriptor = states
        .get(state.0 as usize)
        .ok_or(StateError::UnknownState(state))?;
    if descriptor.kind != expected {
        return Err(StateError::WrongKind {
            operator: operator.to_string(),
            name: descriptor.name.clone(),
            expected,
            actual: descriptor.kind,
        });
    }
    Ok(descriptor)
}

/// The id of the registered state a restored `entry` belongs to, after
/// checking that the state is declared, has the kind of the entry, and that
/// the entry's key group is in `range`: the checks every backend makes
/// before putting a checkpoint's entry back.
pub(crate) fn check_restore(
    operator: &str,
    range: &KeyGroupRange,
    states: &[StateDescriptor],
    entry: &StoredEntry,
) -> Result<StateId, StateError> {
    if !range.contains(entry.key_group) {
        return Err(StateError::ForeignKeyGroup {
            key_group: entry.key_group,
            range: range.groups.clone(),
        });
    }
    let index = states
        .iter()
        .position(|d| d.name == entry.state)
        .ok_or_else(|| StateError::UndeclaredState {
            operator: operator.to_string(),
            name: entry.state.clone(),
        })?;
    let descriptor = &states[index];
    let stored = match entry.payload {
        StoredPayload::Value(_) => StateKind::Value,
        StoredPayload::List(_) => StateKind::List,
        StoredPayload::Map(_) => StateKind::Map,
    };
    if descriptor.kind != stored {
        return Err(StateError::RestoredKind {
            operator: operator.to_string(),
            name: entry.state.clone(),
            declared: descriptor.kind,
            stored,
        });
    }
    Ok(StateId(index as u32))
}

/// Put back a keyed operator's part of a checkpoint (the counterpart of
/// `runtime::operator::keyed_snapshot`): entries into `backend` as stored,
/// timers into `timers`. Returns the watermark the operator continues from
/// ([`NO_WATERMARK`] if the files had none).
///
/// Entries keep their TTL stamps ([`StateBackend::restore_entry`]), so a
/// restore does not extend any entry's life. Broadcast entries are not
/// keyed: [`BroadcastState::restore`] puts them back.
pub fn restore_keyed(
    state: &RestoredOperatorState,
    backend: &mut dyn StateBackend,
    timers: &mut TimerService,
) -> Result<i64, StateError> {
    for entry in &state.entries {
        backend.restore_entry(entry)?;
    }
    for (domain, timer) in &state.timers {
        timers.register(*domain, timer.clone())?;
    }
    Ok(state.watermark.unwrap_or(NO_WATERMARK))
}

/// The id of a state registered before under the same name (`None` if it
/// is new); the same name with another kind is an error.
pub(crate) fn check_reregistration(
    operator: &str,
    states: &[StateDescriptor],
    descriptor: &StateDescriptor,
) -> Result<Option<StateId>, StateError> {
    let Some(index) = states.iter().position(|d| d.name == descriptor.name) else {
        return Ok(None);
    };
    if states[index].kind != descriptor.kind {
        return Err(StateError::WrongKind {
            operator: operator.to_string(),
            name: descriptor.name.clone(),
            expected: descriptor.kind,
            actual: states[index].kind,
        });
    }
    Ok(Some(StateId(index as u32)))
}

/// One entry of a map state: map key and value.
pub type MapEntry = (Vec<u8>, Vec<u8>);

/// Storage for the keyed state of one operator subtask.
///
/// One implementation per backend (memory, RocksDB); operators use only
/// this trait, so backends are interchangeable per job. Values are opaque
/// bytes here: TTL is enforced by [`TtlStates`] around a backend. Reads
/// take `&mut self` so that expired entries can be removed as they are met.
pub trait StateBackend: Send {
    /// Declare a state before use; registering the same name again returns the same id.
    fn register(&mut self, descriptor: &StateDescriptor) -> Result<StateId, StateError>;

    fn value_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Option<Vec<u8>>, StateError>;
    /// [`Self::value_get`] into `out` (cleared first), for hot paths that
    /// read many values in a row without allocating one each; whether
    /// there was a value.
    fn value_get_into(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        Ok(copy_value_into(self.value_get(state, at)?, out))
    }
    fn value_set(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        value: &[u8],
    ) -> Result<(), StateError>;

    fn list_get(&mut self, state: StateId, at: StateKey<'_>) -> Result<Vec<Vec<u8>>, StateError>;
    /// Append without reading the list.
    fn list_add(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        element: &[u8],
    ) -> Result<(), StateError>;
    fn list_update(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        elements: Vec<Vec<u8>>,
    ) -> Result<(), StateError>;

    fn map_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError>;
    fn map_put(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError>;
    fn map_remove(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<(), StateError>;
    /// Every entry, ordered by map key bytes.
    fn map_entries(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Vec<MapEntry>, StateError>;

    /// Remove whatever `state` holds for this key and namespace.
    fn clear(&mut self, state: StateId, at: StateKey<'_>) -> Result<(), StateError>;

    /// The key groups this backend stores.
    fn key_groups(&self) -> &KeyGroupRange;

    /// Number of entries stored (values, lists and maps each count once), for metrics and tests.
    fn entry_count(&mut self) -> usize;

    /// Remove every expired entry of the states with a TTL now, rather than
    /// waiting for background cleanup (a full compaction in RocksDB).
    fn purge_expired(&mut self) -> Result<(), StateError>;

    /// The timers of this subtask, kept where this backend keeps state.
    /// Call once per operator: each call returns a handle on the same timers.
    fn timer_service(&mut self) -> Result<crate::time::TimerService, StateError>;

    /// Take a consistent snapshot of every state (the hook checkpoints
    /// call), for checkpoints and savepoints to write out while the task
    /// goes on processing. RocksDB writes a native checkpoint into `dir`
    /// (SST files hard-linked, so a later checkpoint needs to upload only
    /// the files that are new), which must not exist yet; the memory backend
    /// copies its tables and ignores `dir`.
    fn snapshot(
        &mut self,
        dir: &std::path::Path,
    ) -> Result<Box<dyn KeyedStateSnapshot>, StateError>;

    /// Put back one entry of a checkpoint exactly as it was stored (TTL
    /// stamps included, so restoring does not extend any entry's life),
    /// replacing whatever its key and namespace hold. The entry's state is
    /// looked up by name among the registered ones, since state ids are not
    /// stable across runs; an undeclared state, another kind, or a key group
    /// this backend does not own is an error.
    fn restore_entry(&mut self, entry: &StoredEntry) -> Result<(), StateError>;
}
