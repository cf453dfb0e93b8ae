//! List and map state in memory, with the signatures of the host's `state`
//! import, so that state handles work in native tests.
//!
//! Keys are addressed by key ref like the real import; [`KeyedHarness`]
//! installs the key table of each batch it runs. Key ref [`NO_KEY`] addresses
//! broadcast state, which like the host this stand-in lets change only in a
//! broadcast batch.
//!
//! [`KeyedHarness`]: super::KeyedHarness

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::layout::{NO_KEY, put_bytes};

/// A state of one key: `(state index, key bytes)`; no key for broadcast state.
type StateId = (u32, Option<Vec<u8>>);

#[derive(Default)]
struct MemoryState {
    /// Key bytes by key ref, for the batch being processed.
    key_table: Vec<Vec<u8>>,
    /// The batch being processed is a broadcast batch.
    broadcast: bool,
    lists: BTreeMap<StateId, Vec<Vec<u8>>>,
    maps: BTreeMap<StateId, BTreeMap<Vec<u8>, Vec<u8>>>,
}

thread_local! {
    static MEMORY: RefCell<MemoryState> = RefCell::default();
}

/// Run `body` on state `state` of key ref `key`.
fn with<R>(state: u32, key: u32, body: impl FnOnce(&mut MemoryState, StateId) -> R) -> R {
    MEMORY.with_borrow_mut(|memory| {
        let key = (key != NO_KEY).then(|| {
            memory
                .key_table
                .get(key as usize)
                .unwrap_or_else(|| panic!("key ref {key} is not in the batch's key table"))
                .clone()
        });
        body(memory, (state, key))
    })
}

/// Change state `state` of key ref `key`; like the host, a change of
/// broadcast state outside a broadcast batch traps.
fn change(state: u32, key: u32, body: impl FnOnce(&mut MemoryState, StateId)) {
    with(state, key, |memory, id| {
        assert!(
            id.1.is_some() || memory.broadcast,
            "the host traps: broadcast state {state} changed outside a broadcast batch"
        );
        body(memory, id);
    });
}

/// Start over with empty state (a new harness).
pub(crate) fn reset() {
    MEMORY.with_borrow_mut(|memory| *memory = MemoryState::default());
}

/// Key bytes by key ref for the next batch, and whether it is a broadcast batch.
pub(crate) fn begin_batch(keys: Vec<Vec<u8>>, broadcast: bool) {
    MEMORY.with_borrow_mut(|memory| {
        memory.key_table = keys;
        memory.broadcast = broadcast;
    });
}

pub(crate) fn list_get(state: u32, key: u32) -> Vec<u8> {
    with(state, key, |memory, id| {
        let mut out = Vec::new();
        for element in memory.lists.get(&id).into_iter().flatten() {
            put_bytes(&mut out, element);
        }
        out
    })
}

pub(crate) fn list_add(state: u32, key: u32, element: &[u8]) {
    change(state, key, |memory, id| {
        memory.lists.entry(id).or_default().push(element.to_vec());
    });
}

pub(crate) fn list_update(state: u32, key: u32, elements: &[u8]) {
    let elements: Vec<Vec<u8>> = crate::layout::length_prefixed(elements)
        .map(|element| element.expect("well-formed list").to_vec())
        .collect();
    change(state, key, |memory, id| {
        memory.lists.insert(id, elements);
    });
}

pub(crate) fn map_get(state: u32, key: u32, map_key: &[u8]) -> Option<Vec<u8>> {
    with(state, key, |memory, id| {
        memory.maps.get(&id)?.get(map_key).cloned()
    })
}

pub(crate) fn map_put(state: u32, key: u32, map_key: &[u8], value: &[u8]) {
    change(state, key, |memory, id| {
        memory
            .maps
            .entry(id)
            .or_default()
            .insert(map_key.to_vec(), value.to_vec());
    });
}

pub(crate) fn map_remove(state: u32, key: u32, map_key: &[u8]) {
    change(state, key, |memory, id| {
        if let Some(map) = memory.maps.get_mut(&id) {
            map.remove(map_key);
        }
    });
}

pub(crate) fn map_entries(state: u32, key: u32) -> Vec<u8> {
    with(state, key, |memory, id| {
        let mut out = Vec::new();
        for (map_key, value) in memory.maps.get(&id).into_iter().flatten() {
            put_bytes(&mut out, map_key);
            put_bytes(&mut out, value);
        }
        out
    })
}

pub(crate) fn clear(state: u32, key: u32) {
    change(state, key, |memory, id| {
        memory.lists.remove(&id);
        memory.maps.remove(&id);
    });
}
