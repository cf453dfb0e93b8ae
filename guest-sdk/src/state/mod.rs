//! Keyed state handles, registered in `open` and scoped to the current key.
//!
//! State lives in the host, never in guest memory, so an instance can be
//! dropped, restarted or upgraded at any checkpoint. Values are stored as
//! JSON (serde), which keeps savepoints readable and portable to functions
//! written in other languages.
//!
//! Every method returns `Err` when stored bytes do not decode as the declared
//! type (say, after changing the type without migrating the savepoint) or when
//! it is called outside `process`/`on_timer`. [`BroadcastMapState`] is the
//! one state that is not keyed: one map per parallel instance, changed only
//! by broadcast records.
//!
//! List and map state go to the host's `state` import; in native builds
//! (unit tests) to an in-memory stand-in, see `eddy_sdk::testing`.

pub(crate) mod scope;

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_arch = "wasm32")]
use crate::bindings::state_import as backend;
use crate::layout::{self, put_bytes};
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::memory_state as backend;
use scope::Access;

/// Decode a stored JSON value of state `name`.
fn decode<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|error| {
        format!(
            "state `{name}` holds a value that is not JSON of type `{}`: {error}",
            type_name::<T>()
        )
    })
}

/// Encode a value of state `name` as JSON, appending to `out` (also the
/// codec of migrated values, see `version`).
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    name: &str,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    serde_json::to_writer(out, value).map_err(|error| {
        format!(
            "cannot store `{}` in state `{name}` as JSON: {error}",
            type_name::<T>()
        )
    })
}

/// Encode a value of state `state` as JSON.
fn encode<T: Serialize + ?Sized>(state: u32, value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_into(&scope::state_name(state), value, &mut out)?;
    Ok(out)
}

/// Implements `Clone`, `Copy` and `Debug` for a handle without bounds on its
/// type parameters (derive would require them).
macro_rules! handle_traits {
    ($handle:ident<$($param:ident),+>) => {
        impl<$($param),+> Clone for $handle<$($param),+> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($param),+> Copy for $handle<$($param),+> {}

        impl<$($param),+> fmt::Debug for $handle<$($param),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($handle))
                    .field("index", &self.index)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// One value per key (Flink's `ValueState`), kept in guest memory for the
/// batch and sent back once, so reads and updates cost no host call.
pub struct ValueState<T> {
    index: u32,
    slot: u32,
    _value: PhantomData<fn() -> T>,
}

handle_traits!(ValueState<T>);

impl<T: Serialize + DeserializeOwned> ValueState<T> {
    pub(crate) fn new(index: u32, slot: u32) -> Self {
        ValueState {
            index,
            slot,
            _value: PhantomData,
        }
    }

    /// Position in the descriptor's states.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Position among the value states (the slot in the key table).
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The current key's value, if any.
    pub fn value(&self) -> Result<Option<T>, String> {
        scope::with_value_slot(self.index, self.slot, |slot, _, name| {
            slot.get().map(|bytes| decode(name, bytes)).transpose()
        })?
    }

    /// Replace the current key's value.
    pub fn update(&self, value: &T) -> Result<(), String> {
        scope::with_value_slot(self.index, self.slot, |slot, scratch, name| {
            slot.set_with(scratch, |buf| encode_into(name, value, buf))
        })?
    }

    /// Remove the current key's value.
    pub fn clear(&self) -> Result<(), String> {
        scope::with_value_slot(self.index, self.slot, |slot, _, _| slot.clear())
    }
}

/// A list of values per key (Flink's `ListState`); each call goes to the host.
pub struct ListState<T> {
    index: u32,
    _value: PhantomData<fn() -> T>,
}

handle_traits!(ListState<T>);

impl<T: Serialize + DeserializeOwned> ListState<T> {
    pub(crate) fn new(index: u32) -> Self {
        ListState {
            index,
            _value: PhantomData,
        }
    }

    /// Position in the descriptor's states.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Every element, in insertion order (empty if none).
    pub fn get(&self) -> Result<Vec<T>, String> {
        let key = scope::current_key(self.index)?;
        let bytes = backend::list_get(self.index, key);
        let name = scope::state_name(self.index);
        layout::length_prefixed(&bytes)
            .map(|element| decode(&name, element?))
            .collect()
    }

    /// Append one element without reading the list.
    pub fn add(&self, value: &T) -> Result<(), String> {
        let key = scope::current_key(self.index)?;
        backend::list_add(self.index, key, &encode(self.index, value)?);
        Ok(())
    }

    /// Replace every element.
    pub fn update(&self, values: &[T]) -> Result<(), String> {
        let key = scope::current_key(self.index)?;
        let name = scope::state_name(self.index);
        let mut elements = Vec::new();
        let mut element = Vec::new();
        for value in values {
            element.clear();
            encode_into(&name, value, &mut element)?;
            put_bytes(&mut elements, &element);
        }
        backend::list_update(self.index, key, &elements);
        Ok(())
    }

    /// Remove every element.
    pub fn clear(&self) -> Result<(), String> {
        let key = scope::current_key(self.index)?;
        backend::clear(self.index, key);
        Ok(())
    }
}

/// The methods of the map-shaped states ([`MapState`], [`BroadcastMapState`]),
/// which differ only in which map they address and when they may change it:
/// `$read` and `$write` are methods of the handle that give the key ref for
/// reading and for changing the map, or the reason it cannot be done now.
macro_rules! map_methods {
    (read: $read:ident, write: $write:ident) => {
        /// Position in the descriptor's states.
        pub fn index(&self) -> u32 {
            self.index
        }

        /// The value under `map_key`, if any.
        pub fn get(&self, map_key: &K) -> Result<Option<V>, String> {
            let key = self.$read()?;
            let map_key = encode(self.index, map_key)?;
            backend::map_get(self.index, key, &map_key)
                .map(|bytes| decode(&scope::state_name(self.index), &bytes))
                .transpose()
        }

        /// Whether there is a value under `map_key`.
        pub fn contains(&self, map_key: &K) -> Result<bool, String> {
            let key = self.$read()?;
            let map_key = encode(self.index, map_key)?;
            Ok(backend::map_get(self.index, key, &map_key).is_some())
        }

        /// Every entry, ordered by the JSON bytes of the keys, not by their
        /// values: `10` sorts before `9` and `-1` before `-2`.
        pub fn entries(&self) -> Result<Vec<(K, V)>, String> {
            let key = self.$read()?;
            let bytes = backend::map_entries(self.index, key);
            let name = scope::state_name(self.index);
            layout::length_prefixed_pairs(&bytes)
                .map(|pair| {
                    let (map_key, value) = pair?;
                    Ok((decode(&name, map_key)?, decode(&name, value)?))
                })
                .collect()
        }

        /// Whether the map has no entries (reads every entry).
        pub fn is_empty(&self) -> Result<bool, String> {
            let key = self.$read()?;
            Ok(backend::map_entries(self.index, key).is_empty())
        }

        /// Insert or replace the value under `map_key`.
        pub fn put(&self, map_key: &K, value: &V) -> Result<(), String> {
            let key = self.$write()?;
            let map_key = encode(self.index, map_key)?;
            backend::map_put(self.index, key, &map_key, &encode(self.index, value)?);
            Ok(())
        }

        /// Remove the entry under `map_key`, if any.
        pub fn remove(&self, map_key: &K) -> Result<(), String> {
            let key = self.$write()?;
            backend::map_remove(self.index, key, &encode(self.index, map_key)?);
            Ok(())
        }

        /// Remove every entry.
        pub fn clear(&self) -> Result<(), String> {
            let key = self.$write()?;
            backend::clear(self.index, key);
            Ok(())
        }
    };
}

/// A map per key (Flink's `MapState`); each call goes to the host.
///
/// Map keys are stored as JSON too; [`entries`](MapState::entries) returns
/// them ordered by those bytes (so `"10"` sorts before `"9"`).
pub struct MapState<K, V> {
    index: u32,
    _entries: PhantomData<fn() -> (K, V)>,
}

handle_traits!(MapState<K, V>);

impl<K, V> MapState<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    pub(crate) fn new(index: u32) -> Self {
        MapState {
            index,
            _entries: PhantomData,
        }
    }

    /// The current key's map, for reading and writing alike.
    fn current_key(&self) -> Result<u32, String> {
        scope::current_key(self.index)
    }

    map_methods!(read: current_key, write: current_key);
}

/// A map shared by every key of a parallel instance (Flink's broadcast
/// state, a `MapStateDescriptor` given to `broadcast`), for data that every
/// key needs, such as rules or a model, delivered by the broadcast input of
/// a [`KeyedBroadcastProcess`](crate::KeyedBroadcastProcess) function.
///
/// It is readable while processing anything, but only
/// `process_broadcast_element` may change it: every parallel instance gets
/// every broadcast record, so changing it from broadcast records alone keeps
/// all instances' copies the same, which is what lets keyed records be
/// spread over instances. The write methods return `Err` elsewhere (the host
/// would trap on such a write anyway).
///
/// Keys and values are stored as JSON; [`entries`](Self::entries) returns
/// them ordered by the JSON bytes of the keys, which is not numeric order
/// (`10` before `9`): to find, say, the latest version of something, compare
/// the decoded keys rather than relying on the order.
pub struct BroadcastMapState<K, V> {
    index: u32,
    _entries: PhantomData<fn() -> (K, V)>,
}

handle_traits!(BroadcastMapState<K, V>);

impl<K, V> BroadcastMapState<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    pub(crate) fn new(index: u32) -> Self {
        BroadcastMapState {
            index,
            _entries: PhantomData,
        }
    }

    fn read_key(&self) -> Result<u32, String> {
        scope::broadcast_key(self.index, Access::Read)
    }

    fn write_key(&self) -> Result<u32, String> {
        scope::broadcast_key(self.index, Access::Write)
    }

    map_methods!(read: read_key, write: write_key);
}
