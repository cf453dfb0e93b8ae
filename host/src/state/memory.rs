//! The in-memory state backend: hash maps per state and key group.

use std::collections::BTreeMap;

use hashbrown::{DefaultHashBuilder, HashMap};
use smallvec::SmallVec;
use std::sync::Arc;

use super::ttl::{self, TtlClock};
use super::{
    KeyGroupRange, StateBackend, StateDescriptor, StateError, StateId, StateKey, StateKind,
    check_access, check_reregistration, check_restore,
};
use crate::snapshot::{
    KeyedStateSnapshot, SnapshotError, SnapshotSink, StoredEntry, StoredPayload,
};
use crate::time::TimerService;

/// What one key (in one namespace) holds for one state.
#[derive(Debug, Clone)]
enum Entry {
    /// Inline when short (an accumulator, a count), like [`EntryKey`].
    Value(SmallVec<[u8; 24]>),
    List(Vec<Vec<u8>>),
    Map(BTreeMap<Vec<u8>, Vec<u8>>),
}

/// An `entry_key` encoding, kept inline in the table's bucket when short
/// (an 8-byte key and a window's 16-byte namespace fit): a probe then reads
/// the key it compares from the cache line it already loaded.
type EntryKey = SmallVec<[u8; 32]>;

/// The entries of one key group of one state, by `entry_key` encoding.
/// foldhash (hashbrown's default) rather than SipHash or a streaming xxh3:
/// lookups are the hot path of keyed operators, and it hashes a short key
/// in a few instructions. hashbrown's map for `entry_ref`, one probe to
/// find or insert by a borrowed key.
type GroupTable = HashMap<EntryKey, Entry, DefaultHashBuilder>;

/// Entries of one state, split by key group so that a key-group range can be
/// snapshotted or handed to another subtask as a unit.
#[derive(Debug, Clone)]
struct StateTable {
    /// Indexed by `key_group - range.start`; keys are `entry_key` encodings.
    /// Shared with snapshots, copy on write: a snapshot takes a reference to
    /// every group (no copy, so processing barely pauses), and the first
    /// access to a group after it copies that group alone.
    groups: Vec<Arc<GroupTable>>,
    /// Background cleanup, for states with a TTL.
    sweep: Option<IncrementalSweep>,
}

/// Cleanup of expired entries that piggybacks on accesses (Flink's
/// incremental cleanup of heap state): after as many accesses to a state as
/// the next key group has entries (at least [`SWEEP_MIN_ACCESSES`]), that
/// key group is swept. The cost per access stays constant on average, and
/// every expired entry goes within about one access per entry stored.
#[derive(Debug, Clone, Default)]
struct IncrementalSweep {
    /// Index of the group swept next.
    next_group: usize,
    accesses: usize,
}

/// Fewest accesses between two sweeps, so tiny groups are not swept on every access.
const SWEEP_MIN_ACCESSES: usize = 64;

impl StateTable {
    /// Count one access, sweeping the next key group if it is its turn.
    fn count_access(&mut self, clock: &TtlClock) {
        let Some(sweep) = &mut self.sweep else {
            return;
        };
        sweep.accesses += 1;
        let group = &mut self.groups[sweep.next_group];
        if sweep.accesses >= group.len().max(SWEEP_MIN_ACCESSES) {
            remove_expired(Arc::make_mut(group), clock.now());
            sweep.accesses = 0;
            sweep.next_group = (sweep.next_group + 1) % self.groups.len();
        }
    }
}

/// Drop what has expired at `now` from one key group of a state with a TTL.
fn remove_expired(group: &mut GroupTable, now: i64) {
    let live = |stored: &[u8]| !ttl::is_expired(stored, now);
    group.retain(|_, entry| match entry {
        Entry::Value(value) => live(value),
        Entry::List(elements) => {
            elements.retain(|element| live(element));
            !elements.is_empty()
        }
        Entry::Map(map) => {
            map.retain(|_, value| live(value));
            !map.is_empty()
        }
    });
}

/// Keyed state of one operator subtask, in memory.
#[derive(Debug)]
pub struct MemoryStateBackend {
    operator: String,
    range: KeyGroupRange,
    descriptors: Vec<StateDescriptor>,
    /// By state id, as `descriptors`.
    states: Vec<StateTable>,
    /// Reused buffer for lookup keys, so that reads do not allocate.
    scratch: Vec<u8>,
    /// The clock of state TTL, for the background cleanup.
    clock: TtlClock,
}

impl MemoryStateBackend {
    /// An empty backend for `operator` owning `range`.
    pub fn new(operator: impl Into<String>, range: KeyGroupRange) -> Self {
        MemoryStateBackend {
            operator: operator.into(),
            range,
            descriptors: Vec::new(),
            states: Vec::new(),
            scratch: Vec::new(),
            clock: TtlClock::System,
        }
    }

    /// Measure state TTL on `clock` rather than the system clock.
    pub fn with_ttl_clock(mut self, clock: TtlClock) -> Self {
        self.clock = clock;
        self
    }

    /// The table holding `at` and the lookup key for it (in the reused scratch buffer).
    fn locate(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        expected: StateKind,
    ) -> Result<(&mut GroupTable, &mut Vec<u8>), StateError> {
        check_access(
            &self.operator,
            &self.range,
            &self.descriptors,
            state,
            at,
            expected,
        )?;
        let MemoryStateBackend {
            range,
            states,
            scratch,
            clock,
            ..
        } = self;
        let table = &mut states[state.0 as usize];
        table.count_access(clock);
        scratch.clear();
        entry_key(scratch, at);
        Ok((
            Arc::make_mut(&mut table.groups[usize::from(at.key_group - range.groups.start)]),
            scratch,
        ))
    }

    /// The entry at `at` for writing, created empty if absent.
    fn entry_mut(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        kind: StateKind,
    ) -> Result<&mut Entry, StateError> {
        let (table, key) = self.locate(state, at, kind)?;
        let entry = table
            .entry_ref(key.as_slice())
            .or_insert_with(|| match kind {
                StateKind::Value => Entry::Value(SmallVec::new()),
                StateKind::List => Entry::List(Vec::new()),
                // Broadcast maps live in `BroadcastState`; `locate` refuses them here.
                StateKind::Map | StateKind::BroadcastMap => Entry::Map(BTreeMap::new()),
            });
        Ok(entry)
    }
}

/// `[u32 key length][key][namespace]`: unambiguous for any key and namespace.
fn entry_key(out: &mut Vec<u8>, at: StateKey<'_>) {
    out.extend_from_slice(&(at.key.len() as u32).to_le_bytes());
    out.extend_from_slice(at.key);
    out.extend_from_slice(at.namespace);
}

/// The key and namespace of an [`entry_key`] encoding (`None` if it is not one).
fn split_entry_key(stored: &[u8]) -> Option<(&[u8], &[u8])> {
    let key_len = u32::from_le_bytes(stored.get(..4)?.try_into().ok()?) as usize;
    let key_end = 4usize.checked_add(key_len)?;
    Some((stored.get(4..key_end)?, &stored[key_end..]))
}

impl StateBackend for MemoryStateBackend {
    fn register(&mut self, descriptor: &StateDescriptor) -> Result<StateId, StateError> {
        if let Some(id) = check_reregistration(&self.operator, &self.descriptors, descriptor)? {
            return Ok(id);
        }
        self.descriptors.push(descriptor.clone());
        self.states.push(StateTable {
            groups: (0..self.range.len())
                .map(|_| Arc::new(GroupTable::default()))
                .collect(),
            sweep: descriptor.ttl.map(|_| IncrementalSweep::default()),
        });
        Ok(StateId(self.states.len() as u32 - 1))
    }

    fn value_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let mut value = Vec::new();
        Ok(self.value_get_into(state, at, &mut value)?.then_some(value))
    }

    fn value_get_into(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, StateError> {
        out.clear();
        let (table, key) = self.locate(state, at, StateKind::Value)?;
        Ok(match table.get(key.as_slice()) {
            Some(Entry::Value(value)) => {
                out.extend_from_slice(value);
                true
            }
            _ => false,
        })
    }

    fn value_set(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        value: &[u8],
    ) -> Result<(), StateError> {
        if let Entry::Value(stored) = self.entry_mut(state, at, StateKind::Value)? {
            stored.clear();
            stored.extend_from_slice(value);
        }
        Ok(())
    }

    fn list_get(&mut self, state: StateId, at: StateKey<'_>) -> Result<Vec<Vec<u8>>, StateError> {
        let (table, key) = self.locate(state, at, StateKind::List)?;
        Ok(match table.get(key.as_slice()) {
            Some(Entry::List(elements)) => elements.clone(),
            _ => Vec::new(),
        })
    }

    fn list_add(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        element: &[u8],
    ) -> Result<(), StateError> {
        if let Entry::List(elements) = self.entry_mut(state, at, StateKind::List)? {
            elements.push(element.to_vec());
        }
        Ok(())
    }

    fn list_update(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        elements: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        if elements.is_empty() {
            return self.clear(state, at);
        }
        if let Entry::List(stored) = self.entry_mut(state, at, StateKind::List)? {
            *stored = elements;
        }
        Ok(())
    }

    fn map_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        let (table, key) = self.locate(state, at, StateKind::Map)?;
        Ok(match table.get(key.as_slice()) {
            Some(Entry::Map(map)) => map.get(map_key).cloned(),
            _ => None,
        })
    }

    fn map_put(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        if let Entry::Map(map) = self.entry_mut(state, at, StateKind::Map)? {
            map.insert(map_key.to_vec(), value.to_vec());
        }
        Ok(())
    }

    fn map_remove(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<(), StateError> {
        let (table, key) = self.locate(state, at, StateKind::Map)?;
        if let Some(Entry::Map(map)) = table.get_mut(key.as_slice()) {
            map.remove(map_key);
            if map.is_empty() {
                table.remove(key.as_slice());
            }
        }
        Ok(())
    }

    fn map_entries(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Vec<super::MapEntry>, StateError> {
        let (table, key) = self.locate(state, at, StateKind::Map)?;
        Ok(match table.get(key.as_slice()) {
            Some(Entry::Map(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        })
    }

    fn clear(&mut self, state: StateId, at: StateKey<'_>) -> Result<(), StateError> {
        let kind = self
            .descriptors
            .get(state.0 as usize)
            .ok_or(StateError::UnknownState(state))?
            .kind;
        let (table, key) = self.locate(state, at, kind)?;
        table.remove(key.as_slice());
        Ok(())
    }

    fn key_groups(&self) -> &KeyGroupRange {
        &self.range
    }

    fn entry_count(&mut self) -> usize {
        self.states
            .iter()
            .flat_map(|t| t.groups.iter())
            .map(|group| group.len())
            .sum()
    }

    fn purge_expired(&mut self) -> Result<(), StateError> {
        let now = self.clock.now();
        for (table, descriptor) in self.states.iter_mut().zip(&self.descriptors) {
            if descriptor.ttl.is_some() {
                for group in &mut table.groups {
                    remove_expired(Arc::make_mut(group), now);
                }
            }
        }
        Ok(())
    }

    fn timer_service(&mut self) -> Result<TimerService, StateError> {
        Ok(TimerService::default())
    }

    fn snapshot(
        &mut self,
        _dir: &std::path::Path,
    ) -> Result<Box<dyn KeyedStateSnapshot>, StateError> {
        Ok(Box::new(MemorySnapshot {
            range: self.range.clone(),
            descriptors: self.descriptors.clone(),
            states: self.states.clone(),
        }))
    }

    fn restore_entry(&mut self, entry: &StoredEntry) -> Result<(), StateError> {
        let state = check_restore(&self.operator, &self.range, &self.descriptors, entry)?;
        let at = StateKey::new(entry.key_group, &entry.key, &entry.namespace);
        let mut key = Vec::new();
        entry_key(&mut key, at);
        // Inline when short, as a key inserted by a write is.
        let key = EntryKey::from_slice(&key);
        let restored = match &entry.payload {
            StoredPayload::Value(value) => Some(Entry::Value(SmallVec::from_slice(value))),
            // Empty lists and maps are not stored (reading gives empty anyway).
            StoredPayload::List(elements) => {
                (!elements.is_empty()).then(|| Entry::List(elements.clone()))
            }
            StoredPayload::Map(entries) => {
                (!entries.is_empty()).then(|| Entry::Map(entries.iter().cloned().collect()))
            }
        };
        let group = Arc::make_mut(
            &mut self.states[state.0 as usize].groups
                [usize::from(entry.key_group - self.range.groups.start)],
        );
        match restored {
            Some(restored) => group.insert(key, restored),
            None => group.remove(&key),
        };
        Ok(())
    }
}

/// A copy of a [`MemoryStateBackend`]'s tables at one moment.
#[derive(Debug)]
pub struct MemorySnapshot {
    range: KeyGroupRange,
    descriptors: Vec<StateDescriptor>,
    states: Vec<StateTable>,
}

impl KeyedStateSnapshot for MemorySnapshot {
    /// Entries state by state and key group by key group, in a fixed order
    /// within a group (by stored key); no timers (the memory backend's are
    /// on the heap). Broadcast maps are skipped ([`super::BroadcastState`]
    /// snapshots them).
    fn read_into(self: Box<Self>, sink: &mut dyn SnapshotSink) -> Result<(), SnapshotError> {
        let MemorySnapshot {
            range,
            descriptors,
            states,
        } = *self;
        for (descriptor, table) in descriptors.iter().zip(states) {
            if descriptor.kind == StateKind::BroadcastMap {
                continue;
            }
            for (key_group, group) in range.groups.clone().zip(table.groups) {
                // The backend may still share the group (copy on write): take
                // it if it is ours alone, copy it otherwise.
                let group = Arc::try_unwrap(group).unwrap_or_else(|shared| (*shared).clone());
                let mut entries: Vec<(EntryKey, Entry)> = group.into_iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (stored_key, entry) in entries {
                    let (key, namespace) = split_entry_key(&stored_key).ok_or_else(|| {
                        StateError::Storage(format!(
                            "a key of state `{}` in memory is not well formed: {stored_key:02x?}",
                            descriptor.name
                        ))
                    })?;
                    sink.entry(StoredEntry {
                        state: descriptor.name.clone(),
                        key_group,
                        key: key.to_vec(),
                        namespace: namespace.to_vec(),
                        payload: match entry {
                            Entry::Value(value) => StoredPayload::Value(value.into_vec()),
                            Entry::List(elements) => StoredPayload::List(elements),
                            Entry::Map(map) => StoredPayload::Map(map.into_iter().collect()),
                        },
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{StateTtl, TtlUpdate, key_group_of};

    /// The memory backend's background cleanup: using a state sweeps its
    /// key groups in turn, so expired entries that are never read again go too.
    #[test]
    fn using_a_state_sweeps_its_expired_entries_away() {
        let clock = TtlClock::manual(0);
        let range = KeyGroupRange::all(8);
        let mut backend = MemoryStateBackend::new("op", range).with_ttl_clock(clock.clone());
        let state = backend
            .register(&StateDescriptor {
                name: "v".into(),
                kind: StateKind::Value,
                ttl: Some(StateTtl {
                    millis: 10,
                    update: TtlUpdate::OnCreateAndWrite,
                }),
            })
            .unwrap();
        let stamped = |expires: i64| {
            let mut v = expires.to_be_bytes().to_vec();
            v.push(1);
            v
        };
        let put = |backend: &mut MemoryStateBackend, key: &[u8], expires| {
            let at = StateKey::new(key_group_of(key, 8), key, b"");
            backend.value_set(state, at, &stamped(expires)).unwrap();
        };
        for i in 0..4_000u32 {
            put(&mut backend, &i.to_be_bytes(), 10);
        }
        clock.advance(10);
        assert_eq!(backend.entry_count(), 4_000);
        // Keep writing one live key: about one access per stored entry later,
        // every group has been swept.
        for _ in 0..6_000 {
            put(&mut backend, b"live", 1_000);
        }
        assert_eq!(backend.entry_count(), 1, "only the live key is left");
    }
}
