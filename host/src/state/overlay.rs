//! The keyed state writes of one guest call, held back until the call
//! returns: applied to the backend in their order when it succeeds, dropped
//! when it fails, so that a call that traps, panics or times out half way
//! changes no state. Operators with `on_failure = "dead-letter"` need this
//! to run a batch again without the record that failed.
//!
//! Value state travels in the batch and comes back in the call's output, so
//! a failed call never returns its updates; list and map state go through
//! host calls during the call, and those are what [`PendingWrites`] holds.
//! Reads during the call see the call's own writes ([`Overlay`]), so the
//! guest cannot tell the difference. The writes are replayed with the same
//! backend calls as without the overlay (a list append stays an append), so
//! the state after a successful call is the same either way, TTL stamps
//! included.

use std::collections::{BTreeMap, HashMap};

use super::{
    KeyGroupRange, MapEntry, StateBackend, StateDescriptor, StateError, StateId, StateKey,
};
use crate::snapshot::{KeyedStateSnapshot, StoredEntry};

/// One entry: state, key group, key, namespace.
type Location = (StateId, u16, Vec<u8>, Vec<u8>);

fn location(state: StateId, at: StateKey<'_>) -> Location {
    (state, at.key_group, at.key.to_vec(), at.namespace.to_vec())
}

fn state_key(location: &Location) -> StateKey<'_> {
    StateKey {
        key_group: location.1,
        key: &location.2,
        namespace: &location.3,
    }
}

/// A write, as the guest asked for it.
#[derive(Debug)]
enum Write {
    ValueSet(Vec<u8>),
    ListAdd(Vec<u8>),
    ListUpdate(Vec<Vec<u8>>),
    MapPut(Vec<u8>, Vec<u8>),
    MapRemove(Vec<u8>),
    Clear,
}

/// What the backend will hold at a location once the pending writes are applied.
#[derive(Debug)]
enum View {
    /// Nothing, whatever the kind.
    Cleared,
    Value(Vec<u8>),
    List(Vec<Vec<u8>>),
    Map {
        base: MapBase,
        /// Entries put (`Some`) or removed (`None`) on top of `base`.
        changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    },
}

/// What a map's pending changes apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapBase {
    /// The map as the backend holds it.
    Backend,
    /// An empty map (the map was cleared first).
    Empty,
}

/// The writes of the call in flight, in order, and what they make of each
/// location they touch.
#[derive(Debug, Default)]
pub struct PendingWrites {
    writes: Vec<(Location, Write)>,
    views: HashMap<Location, View>,
}

impl PendingWrites {
    /// Apply every pending write to `backend`, in order, and forget them.
    pub fn commit(&mut self, backend: &mut dyn StateBackend) -> Result<(), StateError> {
        self.views.clear();
        for (location, write) in self.writes.drain(..) {
            let (state, at) = (location.0, state_key(&location));
            match write {
                Write::ValueSet(value) => backend.value_set(state, at, &value)?,
                Write::ListAdd(element) => backend.list_add(state, at, &element)?,
                Write::ListUpdate(elements) => backend.list_update(state, at, elements)?,
                Write::MapPut(key, value) => backend.map_put(state, at, &key, &value)?,
                Write::MapRemove(key) => backend.map_remove(state, at, &key)?,
                Write::Clear => backend.clear(state, at)?,
            }
        }
        Ok(())
    }

    /// Forget every pending write: the call failed.
    pub fn discard(&mut self) {
        self.writes.clear();
        self.views.clear();
    }

    /// Whether no write is pending.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A backend as the guest of a call in flight sees it: the backend with
/// the call's pending writes on top. Writes go to the pending writes only.
pub struct Overlay<'a> {
    pub base: &'a mut dyn StateBackend,
    pub pending: &'a mut PendingWrites,
}

impl Overlay<'_> {
    fn view(&self, state: StateId, at: StateKey<'_>) -> Option<&View> {
        self.pending.views.get(&location(state, at))
    }

    fn write(&mut self, state: StateId, at: StateKey<'_>, write: Write, view: View) {
        let location = location(state, at);
        self.pending.views.insert(location.clone(), view);
        self.pending.writes.push((location, write));
    }

    /// The map at `at` as the pending writes left it, with `change` on top.
    fn change_map(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
        change: Option<Vec<u8>>,
    ) -> View {
        let (base, mut changes) = match self.pending.views.remove(&location(state, at)) {
            Some(View::Map { base, changes }) => (base, changes),
            Some(View::Cleared) => (MapBase::Empty, BTreeMap::new()),
            _ => (MapBase::Backend, BTreeMap::new()),
        };
        changes.insert(map_key.to_vec(), change);
        View::Map { base, changes }
    }
}

impl StateBackend for Overlay<'_> {
    fn register(&mut self, descriptor: &StateDescriptor) -> Result<StateId, StateError> {
        self.base.register(descriptor)
    }

    fn value_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        match self.view(state, at) {
            Some(View::Value(value)) => Ok(Some(value.clone())),
            Some(View::Cleared) => Ok(None),
            _ => self.base.value_get(state, at),
        }
    }

    fn value_set(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        value: &[u8],
    ) -> Result<(), StateError> {
        let view = View::Value(value.to_vec());
        self.write(state, at, Write::ValueSet(value.to_vec()), view);
        Ok(())
    }

    fn list_get(&mut self, state: StateId, at: StateKey<'_>) -> Result<Vec<Vec<u8>>, StateError> {
        match self.view(state, at) {
            Some(View::List(elements)) => Ok(elements.clone()),
            Some(View::Cleared) => Ok(Vec::new()),
            _ => self.base.list_get(state, at),
        }
    }

    fn list_add(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        element: &[u8],
    ) -> Result<(), StateError> {
        let mut elements = match self.pending.views.remove(&location(state, at)) {
            Some(View::List(elements)) => elements,
            Some(View::Cleared) => Vec::new(),
            _ => self.base.list_get(state, at)?,
        };
        elements.push(element.to_vec());
        self.write(
            state,
            at,
            Write::ListAdd(element.to_vec()),
            View::List(elements),
        );
        Ok(())
    }

    fn list_update(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        elements: Vec<Vec<u8>>,
    ) -> Result<(), StateError> {
        let view = View::List(elements.clone());
        self.write(state, at, Write::ListUpdate(elements), view);
        Ok(())
    }

    fn map_get(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<Option<Vec<u8>>, StateError> {
        match self.view(state, at) {
            Some(View::Map { base, changes }) => match (changes.get(map_key), base) {
                (Some(change), _) => Ok(change.clone()),
                (None, MapBase::Empty) => Ok(None),
                (None, MapBase::Backend) => self.base.map_get(state, at, map_key),
            },
            Some(View::Cleared) => Ok(None),
            _ => self.base.map_get(state, at, map_key),
        }
    }

    fn map_put(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
        value: &[u8],
    ) -> Result<(), StateError> {
        let view = self.change_map(state, at, map_key, Some(value.to_vec()));
        let write = Write::MapPut(map_key.to_vec(), value.to_vec());
        self.write(state, at, write, view);
        Ok(())
    }

    fn map_remove(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
        map_key: &[u8],
    ) -> Result<(), StateError> {
        let view = self.change_map(state, at, map_key, None);
        self.write(state, at, Write::MapRemove(map_key.to_vec()), view);
        Ok(())
    }

    fn map_entries(
        &mut self,
        state: StateId,
        at: StateKey<'_>,
    ) -> Result<Vec<MapEntry>, StateError> {
        let (base, changes) = match self.pending.views.get(&location(state, at)) {
            Some(View::Map { base, changes }) => (*base, changes.clone()),
            Some(View::Cleared) => return Ok(Vec::new()),
            _ => return self.base.map_entries(state, at),
        };
        let mut entries: BTreeMap<Vec<u8>, Vec<u8>> = match base {
            MapBase::Backend => self.base.map_entries(state, at)?.into_iter().collect(),
            MapBase::Empty => BTreeMap::new(),
        };
        for (key, change) in changes {
            match change {
                Some(value) => entries.insert(key, value),
                None => entries.remove(&key),
            };
        }
        Ok(entries.into_iter().collect())
    }

    fn clear(&mut self, state: StateId, at: StateKey<'_>) -> Result<(), StateError> {
        self.write(state, at, Write::Clear, View::Cleared);
        Ok(())
    }

    fn key_groups(&self) -> &KeyGroupRange {
        self.base.key_groups()
    }

    // The rest act on the backend as it is; no guest call reaches them.

    fn entry_count(&mut self) -> usize {
        self.base.entry_count()
    }

    fn purge_expired(&mut self) -> Result<(), StateError> {
        self.base.purge_expired()
    }

    fn timer_service(&mut self) -> Result<crate::time::TimerService, StateError> {
        self.base.timer_service()
    }

    fn snapshot(
        &mut self,
        dir: &std::path::Path,
    ) -> Result<Box<dyn KeyedStateSnapshot>, StateError> {
        self.base.snapshot(dir)
    }

    fn restore_entry(&mut self, entry: &StoredEntry) -> Result<(), StateError> {
        self.base.restore_entry(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryStateBackend, StateKind};

    fn backend() -> (MemoryStateBackend, StateId, StateId) {
        let mut backend = MemoryStateBackend::new("op", KeyGroupRange::all(128));
        let list = backend
            .register(&StateDescriptor {
                name: "list".into(),
                kind: StateKind::List,
                ttl: None,
            })
            .unwrap();
        let map = backend
            .register(&StateDescriptor {
                name: "map".into(),
                kind: StateKind::Map,
                ttl: None,
            })
            .unwrap();
        (backend, list, map)
    }

    const AT: StateKey<'static> = StateKey {
        key_group: 3,
        key: b"k",
        namespace: b"",
    };

    #[test]
    fn reads_see_pending_writes_and_the_backend_sees_none_until_commit() {
        let (mut backend, list, map) = backend();
        backend.list_add(list, AT, b"a").unwrap();
        backend.map_put(map, AT, b"x", b"1").unwrap();
        backend.map_put(map, AT, b"y", b"2").unwrap();
        let mut pending = PendingWrites::default();
        {
            let mut overlay = Overlay {
                base: &mut backend,
                pending: &mut pending,
            };
            overlay.list_add(list, AT, b"b").unwrap();
            overlay.map_put(map, AT, b"z", b"3").unwrap();
            overlay.map_remove(map, AT, b"x").unwrap();
            assert_eq!(overlay.list_get(list, AT).unwrap(), [b"a", b"b"]);
            assert_eq!(overlay.map_get(map, AT, b"x").unwrap(), None);
            assert_eq!(overlay.map_get(map, AT, b"y").unwrap(), Some(b"2".to_vec()));
            assert_eq!(
                overlay.map_entries(map, AT).unwrap(),
                [
                    (b"y".to_vec(), b"2".to_vec()),
                    (b"z".to_vec(), b"3".to_vec())
                ]
            );
            overlay.clear(list, AT).unwrap();
            overlay.list_add(list, AT, b"c").unwrap();
            assert_eq!(overlay.list_get(list, AT).unwrap(), [b"c"]);
        }
        assert_eq!(backend.list_get(list, AT).unwrap(), [b"a"]);
        assert_eq!(backend.map_entries(map, AT).unwrap().len(), 2);

        pending.commit(&mut backend).unwrap();
        assert!(pending.is_empty());
        assert_eq!(backend.list_get(list, AT).unwrap(), [b"c"]);
        assert_eq!(
            backend.map_entries(map, AT).unwrap(),
            [
                (b"y".to_vec(), b"2".to_vec()),
                (b"z".to_vec(), b"3".to_vec())
            ]
        );
    }

    #[test]
    fn discarded_writes_leave_the_backend_as_it_was() {
        let (mut backend, list, map) = backend();
        backend.list_add(list, AT, b"a").unwrap();
        let mut pending = PendingWrites::default();
        let mut overlay = Overlay {
            base: &mut backend,
            pending: &mut pending,
        };
        overlay.list_update(list, AT, vec![]).unwrap();
        overlay.map_put(map, AT, b"x", b"1").unwrap();
        pending.discard();
        pending.commit(&mut backend).unwrap();
        assert_eq!(backend.list_get(list, AT).unwrap(), [b"a"]);
        assert!(backend.map_entries(map, AT).unwrap().is_empty());
    }
}
