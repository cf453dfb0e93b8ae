//! The in-memory state backend: hash maps per state and key group.

use std::collections::{BTreeMap, HashMap};

use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::{
    KeyGroupRange, StateBackend, StateDescriptor, StateError, StateId, StateKey, StateKind,
};

/// What one key (in one namespace) holds for one state.
#[derive(Debug, Clone)]
enum Entry {
    Value(Vec<u8>),
    List(Vec<Vec<u8>>),
    Map(BTreeMap<Vec<u8>, Vec<u8>>),
}

/// The entries of one key group of one state, by `entry_key` encoding.
/// xxh3 rather than SipHash: lookups are the hot path of keyed operators.
type GroupTable = HashMap<Vec<u8>, Entry, Xxh3DefaultBuilder>;

/// Entries of one state, split by key group so that a key-group range can be
/// snapshotted or handed to another subtask as a unit.
#[derive(Debug)]
struct StateTable {
    descriptor: StateDescriptor,
    /// Indexed by `key_group - range.start`; keys are `entry_key` encodings.
    groups: Vec<GroupTable>,
}

/// Keyed state of one operator subtask, in memory.
#[derive(Debug)]
pub struct MemoryStateBackend {
    operator: String,
    range: KeyGroupRange,
    states: Vec<StateTable>,
    /// Reused buffer for lookup keys, so that reads do not allocate.
    scratch: Vec<u8>,
}

impl MemoryStateBackend {
    /// An empty backend for `operator` owning `range`.
    pub fn new(operator: impl Into<String>, range: KeyGroupRange) -> Self {
        MemoryStateBackend {
            operator: operator.into(),
            range,
            states: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The table holding `at` and the lookup key for it (in the reused scratch buffer).
    fn locate(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        expected: StateKind,
    ) -> Result<(&mut GroupTable, &mut Vec<u8>), StateError> {
        let MemoryStateBackend {
            operator,
            range,
            states,
            scratch,
        } = self;
        if !range.contains(at.key_group) {
            return Err(StateError::ForeignKeyGroup {
                key_group: at.key_group,
                range: range.groups.clone(),
            });
        }
        let table = states
            .get_mut(state.0 as usize)
            .ok_or(StateError::UnknownState(state))?;
        if table.descriptor.kind != expected {
            return Err(StateError::WrongKind {
                operator: operator.clone(),
                name: table.descriptor.name.clone(),
                expected,
                actual: table.descriptor.kind,
            });
        }
        scratch.clear();
        entry_key(scratch, at);
        Ok((
            &mut table.groups[usize::from(at.key_group - range.groups.start)],
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
        if !table.contains_key(key.as_slice()) {
            let empty = match kind {
                StateKind::Value => Entry::Value(Vec::new()),
                StateKind::List => Entry::List(Vec::new()),
                // Broadcast maps live in `BroadcastState`; `locate` refuses them here.
                StateKind::Map | StateKind::BroadcastMap => Entry::Map(BTreeMap::new()),
            };
            table.insert(key.clone(), empty);
        }
        let entry = table.get_mut(key.as_slice()).expect("inserted above");
        Ok(entry)
    }
}

/// `[u32 key length][key][namespace]`: unambiguous for any key and namespace.
fn entry_key(out: &mut Vec<u8>, at: StateKey<'_>) {
    out.extend_from_slice(&(at.key.len() as u32).to_le_bytes());
    out.extend_from_slice(at.key);
    out.extend_from_slice(at.namespace);
}

impl StateBackend for MemoryStateBackend {
    fn register(&mut self, descriptor: &StateDescriptor) -> Result<StateId, StateError> {
        if let Some(index) = self
            .states
            .iter()
            .position(|t| t.descriptor.name == descriptor.name)
        {
            let existing = &self.states[index].descriptor;
            if existing.kind != descriptor.kind {
                return Err(StateError::WrongKind {
                    operator: self.operator.clone(),
                    name: descriptor.name.clone(),
                    expected: descriptor.kind,
                    actual: existing.kind,
                });
            }
            return Ok(StateId(index as u32));
        }
        self.states.push(StateTable {
            descriptor: descriptor.clone(),
            groups: (0..self.range.len())
                .map(|_| GroupTable::default())
                .collect(),
        });
        Ok(StateId(self.states.len() as u32 - 1))
    }

    fn value_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let (table, key) = self.locate(state, at, StateKind::Value)?;
        Ok(match table.get(key.as_slice()) {
            Some(Entry::Value(value)) => Some(value.clone()),
            _ => None,
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
            .states
            .get(state.0 as usize)
            .ok_or(StateError::UnknownState(state))?
            .descriptor
            .kind;
        let (table, key) = self.locate(state, at, kind)?;
        table.remove(key.as_slice());
        Ok(())
    }

    fn key_groups(&self) -> &KeyGroupRange {
        &self.range
    }

    fn entry_count(&self) -> usize {
        self.states
            .iter()
            .flat_map(|t| t.groups.iter())
            .map(HashMap::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> MemoryStateBackend {
        MemoryStateBackend::new("op", KeyGroupRange::all(128))
    }

    fn descriptor(name: &str, kind: StateKind) -> StateDescriptor {
        StateDescriptor {
            name: name.into(),
            kind,
            ttl: None,
        }
    }

    fn at(key: &[u8]) -> StateKey<'_> {
        StateKey {
            key_group: super::super::key_group_of(key, 128),
            key,
            namespace: b"",
        }
    }

    #[test]
    fn value_list_and_map_state_are_scoped_by_key() {
        let mut b = backend();
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        let l = b.register(&descriptor("l", StateKind::List)).unwrap();
        let m = b.register(&descriptor("m", StateKind::Map)).unwrap();
        b.value_set(v, at(b"a"), b"1").unwrap();
        assert_eq!(b.value_get(v, at(b"a")).unwrap(), Some(b"1".to_vec()));
        assert_eq!(b.value_get(v, at(b"b")).unwrap(), None);
        b.list_add(l, at(b"a"), b"x").unwrap();
        b.list_add(l, at(b"a"), b"y").unwrap();
        assert_eq!(
            b.list_get(l, at(b"a")).unwrap(),
            vec![b"x".to_vec(), b"y".to_vec()]
        );
        b.map_put(m, at(b"a"), b"k2", b"2").unwrap();
        b.map_put(m, at(b"a"), b"k1", b"1").unwrap();
        let entries = b.map_entries(m, at(b"a")).unwrap();
        assert_eq!(entries[0].0, b"k1");
        b.map_remove(m, at(b"a"), b"k1").unwrap();
        b.map_remove(m, at(b"a"), b"k2").unwrap();
        assert_eq!(b.entry_count(), 2, "an emptied map is removed");
        b.clear(v, at(b"a")).unwrap();
        b.clear(l, at(b"a")).unwrap();
        assert_eq!(b.entry_count(), 0);
    }

    #[test]
    fn kind_mismatch_and_foreign_key_groups_are_errors() {
        let mut b = MemoryStateBackend::new("op", KeyGroupRange::for_subtask(0, 2, 128));
        let v = b.register(&descriptor("v", StateKind::Value)).unwrap();
        assert!(matches!(
            b.list_get(v, at(b"a")),
            Err(StateError::WrongKind { .. })
        ));
        let foreign = StateKey {
            key_group: 100,
            key: b"a",
            namespace: b"",
        };
        assert!(matches!(
            b.value_get(v, foreign),
            Err(StateError::ForeignKeyGroup { .. })
        ));
        assert!(b.register(&descriptor("v", StateKind::Map)).is_err());
    }
}
