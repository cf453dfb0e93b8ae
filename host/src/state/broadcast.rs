//! Broadcast state (Flink's `BroadcastState`): maps that belong to an
//! operator subtask rather than to a key. Every subtask receives every
//! broadcast record and applies it the same way, so every copy holds the
//! same entries; that is why only the broadcast side may change them.

use std::collections::BTreeMap;

use thiserror::Error;

use super::{StateDescriptor, StateKind};

/// The entries of one broadcast map, ordered by key bytes.
pub type BroadcastEntries = BTreeMap<Vec<u8>, Vec<u8>>;

/// The broadcast maps of one subtask, by the guest's state index.
#[derive(Debug, Default)]
pub struct BroadcastState {
    /// `None` for states of other kinds.
    maps: Vec<Option<BroadcastMap>>,
    mode: BroadcastMode,
}

/// One broadcast map with its name, for messages.
#[derive(Debug)]
struct BroadcastMap {
    name: String,
    entries: BroadcastEntries,
}

/// Whether the call in flight may change broadcast state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BroadcastMode {
    /// Processing keyed records or timers: read only, as Flink's `ReadOnlyContext`.
    #[default]
    ReadOnly,
    /// Processing broadcast records.
    Writable,
}

/// How a guest misused broadcast state.
#[derive(Debug, Error)]
pub enum BroadcastError {
    #[error(
        "broadcast state `{0}` is read-only while processing keyed records and timers; change it when processing broadcast records, so that every subtask's copy stays the same"
    )]
    ReadOnly(String),
    #[error("broadcast state `{0}` is not keyed; address it with key ref 0xFFFF_FFFF")]
    Keyed(String),
    /// A checkpoint being restored holds a broadcast map the operator no
    /// longer declares (the job changed between checkpoint and restore).
    #[error(
        "the checkpoint holds broadcast state `{0}`, which this operator does not declare as a broadcast map"
    )]
    Undeclared(String),
}

impl BroadcastState {
    /// Empty maps for the `broadcast-map` states among `descriptors`.
    pub fn new<'a>(descriptors: impl IntoIterator<Item = &'a StateDescriptor>) -> Self {
        BroadcastState {
            maps: descriptors
                .into_iter()
                .map(|d| {
                    (d.kind == StateKind::BroadcastMap).then(|| BroadcastMap {
                        name: d.name.clone(),
                        entries: BTreeMap::new(),
                    })
                })
                .collect(),
            mode: BroadcastMode::ReadOnly,
        }
    }

    /// Allow or forbid changes for the calls that follow.
    pub fn set_mode(&mut self, mode: BroadcastMode) {
        self.mode = mode;
    }

    /// The entries of state `state` if it is a broadcast map, checking that
    /// `key` is the no-key ref and, for `access` that writes, the mode.
    pub fn map(
        &mut self,
        state: u32,
        key: u32,
        access: BroadcastAccess,
    ) -> Result<Option<&mut BroadcastEntries>, BroadcastError> {
        let mode = self.mode;
        let Some(Some(map)) = self.maps.get_mut(state as usize) else {
            return Ok(None);
        };
        if key != eddy_layout::NO_KEY {
            return Err(BroadcastError::Keyed(map.name.clone()));
        }
        if access == BroadcastAccess::Write && mode == BroadcastMode::ReadOnly {
            return Err(BroadcastError::ReadOnly(map.name.clone()));
        }
        Ok(Some(&mut map.entries))
    }

    /// A copy of every map, for a checkpoint.
    pub fn snapshot(&self) -> crate::snapshot::BroadcastSnapshot {
        let entries = self
            .maps
            .iter()
            .flatten()
            .flat_map(|map| {
                map.entries
                    .iter()
                    .map(|(key, value)| (map.name.clone(), key.clone(), value.clone()))
            })
            .collect();
        crate::snapshot::BroadcastSnapshot { entries }
    }

    /// Put back entries of a checkpoint: (state name, key, value). Maps are
    /// found by name (state indexes may change between runs); a name this
    /// operator does not declare as a broadcast map is an error, and nothing
    /// is put back then.
    pub fn restore(
        &mut self,
        entries: &[(String, Vec<u8>, Vec<u8>)],
    ) -> Result<(), BroadcastError> {
        let index_of = |name: &str| {
            self.maps
                .iter()
                .position(|map| map.as_ref().is_some_and(|map| map.name == name))
        };
        let indexes = entries
            .iter()
            .map(|(name, _, _)| {
                index_of(name).ok_or_else(|| BroadcastError::Undeclared(name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (index, (_, key, value)) in indexes.into_iter().zip(entries) {
            if let Some(map) = &mut self.maps[index] {
                map.entries.insert(key.clone(), value.clone());
            }
        }
        Ok(())
    }

    /// Arrange the maps for a new version of the function (a live swap),
    /// whose states are `descriptors`: each broadcast map keeps its entries
    /// under its name, wherever the new version puts it; a new map starts
    /// empty, and a map the new version no longer declares goes.
    pub fn rearrange<'a>(&mut self, descriptors: impl IntoIterator<Item = &'a StateDescriptor>) {
        let mut old = std::mem::take(&mut self.maps);
        let mut rearranged = BroadcastState::new(descriptors);
        for map in rearranged.maps.iter_mut().flatten() {
            if let Some(kept) = old
                .iter_mut()
                .find_map(|m| m.take_if(|m| m.name == map.name))
            {
                map.entries = kept.entries;
            }
        }
        self.maps = rearranged.maps;
    }

    /// Number of entries over all broadcast maps (for metrics and tests).
    pub fn entry_count(&self) -> usize {
        self.maps.iter().flatten().map(|m| m.entries.len()).sum()
    }
}

/// What a guest call does with a broadcast map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastAccess {
    Read,
    Write,
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_layout::NO_KEY;

    fn descriptors() -> Vec<StateDescriptor> {
        [
            ("seen", StateKind::Value),
            ("rules", StateKind::BroadcastMap),
        ]
        .map(|(name, kind)| StateDescriptor {
            name: name.into(),
            kind,
            ttl: None,
        })
        .to_vec()
    }

    #[test]
    fn writable_only_in_broadcast_mode_and_never_keyed() {
        let mut state = BroadcastState::new(&descriptors());
        assert!(
            state
                .map(0, NO_KEY, BroadcastAccess::Read)
                .unwrap()
                .is_none()
        );
        assert!(
            state
                .map(1, NO_KEY, BroadcastAccess::Read)
                .unwrap()
                .is_some()
        );
        let error = state.map(1, NO_KEY, BroadcastAccess::Write).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("broadcast state `rules` is read-only")
        );
        let error = state.map(1, 0, BroadcastAccess::Read).unwrap_err();
        assert!(error.to_string().contains("not keyed"));
        state.set_mode(BroadcastMode::Writable);
        let map = state
            .map(1, NO_KEY, BroadcastAccess::Write)
            .unwrap()
            .unwrap();
        map.insert(b"a".to_vec(), b"1".to_vec());
        assert_eq!(state.entry_count(), 1);
    }
}
