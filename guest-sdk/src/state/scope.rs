//! The key that state handles are implicitly scoped to, and the value-state
//! slots of the batch being processed.
//!
//! State handles are plain indices kept in the user's struct, so the current
//! key has to live somewhere they can reach: a per-instance global (wasm is
//! single threaded). The keyed runtime sets the key before each event and
//! clears it after the batch.
//!
//! A broadcast record has no key; while one is processed the scope is in
//! broadcast mode instead, the only time broadcast state may be changed (so
//! that every parallel instance changes it alike, as Flink requires).
//!
//! Value state takes the batch fast path of `wit/README.md`: the host sends
//! each key's values in the key table, the slots here hold them (and the
//! function's changes) for the batch, and [`flush`] writes the changed ones
//! back as set/clear entries. No host call per record, and slot buffers are
//! reused from batch to batch.

use std::cell::RefCell;

use crate::layout::{NO_KEY, OutputWriter};

/// One value state of one key during a batch.
#[derive(Debug, Default)]
pub(crate) struct ValueSlot {
    /// The encoded value, meaningful when `present`.
    bytes: Vec<u8>,
    present: bool,
    /// Changed during this batch, so it must be sent back.
    dirty: bool,
}

impl ValueSlot {
    /// The encoded value, if the state holds one.
    pub fn get(&self) -> Option<&[u8]> {
        self.present.then_some(&self.bytes[..])
    }

    /// Replace the value with what `encode` writes; on error nothing changes.
    pub fn set_with<E>(
        &mut self,
        scratch: &mut Vec<u8>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        scratch.clear();
        encode(scratch)?;
        std::mem::swap(&mut self.bytes, scratch);
        self.present = true;
        self.dirty = true;
        Ok(())
    }

    /// Remove the value.
    pub fn clear(&mut self) {
        self.present = false;
        self.dirty = true;
    }

    fn load(&mut self, value: Option<&[u8]>) {
        self.bytes.clear();
        if let Some(value) = value {
            self.bytes.extend_from_slice(value);
        }
        self.present = value.is_some();
        self.dirty = false;
    }
}

/// Everything state handles need to find their data.
#[derive(Debug)]
pub(crate) struct KeyScope {
    /// Key-table index of the event being processed, [`NO_KEY`] between
    /// events and for broadcast records.
    current_key: u32,
    /// A broadcast record is being processed.
    broadcast: bool,
    /// State names by descriptor index, for error messages.
    state_names: Vec<String>,
    /// Descriptor index of each value state, in slot order.
    value_state_indices: Vec<u32>,
    /// `keys × value states` slots, key-major; only the first `keys` rows are live.
    slots: Vec<ValueSlot>,
    keys: usize,
    /// Spare buffer for encoding, swapped with a slot's buffer on update.
    scratch: Vec<u8>,
}

impl KeyScope {
    const fn new() -> Self {
        KeyScope {
            current_key: NO_KEY,
            broadcast: false,
            state_names: Vec::new(),
            value_state_indices: Vec::new(),
            slots: Vec::new(),
            keys: 0,
            scratch: Vec::new(),
        }
    }

    fn state_name(&self, index: u32) -> &str {
        self.state_names
            .get(index as usize)
            .map_or("<unregistered>", String::as_str)
    }

    fn current_key(&self, state: u32) -> Result<u32, String> {
        if self.broadcast {
            return Err(format!(
                "state `{}` is keyed, but a broadcast record has no key: use broadcast \
                 state in `process_broadcast_element`",
                self.state_name(state)
            ));
        }
        if self.current_key == NO_KEY {
            return Err(format!(
                "state `{}` was used outside `process`/`on_timer`, where there is no current key",
                self.state_name(state)
            ));
        }
        Ok(self.current_key)
    }

    fn broadcast_key(&self, state: u32, access: Access) -> Result<u32, String> {
        let in_keyed_event = self.current_key != NO_KEY;
        if self.broadcast || (in_keyed_event && access == Access::Read) {
            return Ok(NO_KEY);
        }
        let name = self.state_name(state);
        Err(if in_keyed_event {
            format!(
                "broadcast state `{name}` is read-only while processing keyed records and \
                 timers; change it in `process_broadcast_element`, which every parallel \
                 instance runs with the same records"
            )
        } else {
            format!("broadcast state `{name}` was used outside the processing of a record or timer")
        })
    }
}

/// What a broadcast state handle is about to do with its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

thread_local! {
    static SCOPE: RefCell<KeyScope> = const { RefCell::new(KeyScope::new()) };
}

/// Learn the function's states (at `init`).
pub(crate) fn configure(state_names: Vec<String>, value_state_indices: Vec<u32>) {
    SCOPE.with_borrow_mut(|scope| {
        *scope = KeyScope::new();
        scope.state_names = state_names;
        scope.value_state_indices = value_state_indices;
    });
}

/// Number of value states, i.e. slots per key in the key table.
pub(crate) fn value_state_count() -> usize {
    SCOPE.with_borrow(|scope| scope.value_state_indices.len())
}

/// Forget the previous batch's keys.
pub(crate) fn begin_batch() {
    SCOPE.with_borrow_mut(|scope| {
        scope.current_key = NO_KEY;
        scope.broadcast = false;
        scope.keys = 0;
    });
}

/// Add the next key of the key table with its value-state slots, in order.
pub(crate) fn load_key<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) {
    SCOPE.with_borrow_mut(|scope| {
        let width = scope.value_state_indices.len();
        let start = scope.keys * width;
        if scope.slots.len() < start + width {
            scope.slots.resize_with(start + width, ValueSlot::default);
        }
        for (slot, value) in scope.slots[start..start + width].iter_mut().zip(values) {
            slot.load(value);
        }
        scope.keys += 1;
    });
}

/// Scope state handles to key `key_ref` of the key table.
pub(crate) fn set_current_key(key_ref: u32) {
    SCOPE.with_borrow_mut(|scope| {
        scope.current_key = key_ref;
        scope.broadcast = false;
    });
}

/// Process a broadcast record: no current key, broadcast state writable.
pub(crate) fn enter_broadcast() {
    SCOPE.with_borrow_mut(|scope| {
        scope.current_key = NO_KEY;
        scope.broadcast = true;
    });
}

/// Write set/clear entries for every value state changed in this batch and
/// leave the key scope.
pub(crate) fn flush(output: &mut OutputWriter) {
    SCOPE.with_borrow_mut(|scope| {
        scope.current_key = NO_KEY;
        scope.broadcast = false;
        let width = scope.value_state_indices.len();
        if width == 0 {
            return;
        }
        let rows = scope.slots[..scope.keys * width].chunks(width);
        for (key_ref, row) in (0..).zip(rows) {
            for (slot, &state) in row.iter().zip(&scope.value_state_indices) {
                match (slot.dirty, slot.get()) {
                    (false, _) => {}
                    (true, Some(value)) => output.set_value_state(state, key_ref, value),
                    (true, None) => output.clear_value_state(state, key_ref),
                }
            }
        }
    });
}

/// The current key for state `state` (list and map state calls).
pub(crate) fn current_key(state: u32) -> Result<u32, String> {
    SCOPE.with_borrow(|scope| scope.current_key(state))
}

/// The key ref of broadcast state `state` ([`NO_KEY`]), or why it cannot be
/// accessed that way now.
pub(crate) fn broadcast_key(state: u32, access: Access) -> Result<u32, String> {
    SCOPE.with_borrow(|scope| scope.broadcast_key(state, access))
}

/// Name of state `state`, for error messages.
pub(crate) fn state_name(state: u32) -> String {
    SCOPE.with_borrow(|scope| scope.state_name(state).to_owned())
}

/// Run `f` on the current key's slot of value state `state` (slot `slot`),
/// with the scratch buffer for encoding.
pub(crate) fn with_value_slot<R>(
    state: u32,
    slot: u32,
    f: impl FnOnce(&mut ValueSlot, &mut Vec<u8>, &str) -> R,
) -> Result<R, String> {
    SCOPE.with_borrow_mut(|scope| {
        let key = scope.current_key(state)? as usize;
        let width = scope.value_state_indices.len();
        let KeyScope {
            slots,
            scratch,
            state_names,
            ..
        } = scope;
        let name = state_names.get(state as usize).map_or("", String::as_str);
        let slot = slots.get_mut(key * width + slot as usize).ok_or_else(|| {
            format!("value state `{name}` has no slot for key {key} in this batch")
        })?;
        Ok(f(slot, scratch, name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_track_changes_per_key() {
        configure(
            vec!["count".into(), "seen".into(), "last".into()],
            vec![0, 2],
        );
        begin_batch();
        load_key([Some(&b"1"[..]), None].into_iter());
        load_key([None, Some(&b"9"[..])].into_iter());

        assert!(current_key(0).unwrap_err().contains("outside `process`"));
        set_current_key(1);
        with_value_slot(0, 0, |slot, scratch, _| {
            assert_eq!(slot.get(), None);
            slot.set_with(scratch, |buf| {
                buf.extend_from_slice(b"5");
                Ok::<_, ()>(())
            })
        })
        .unwrap()
        .unwrap();
        with_value_slot(2, 1, |slot, _, _| slot.clear()).unwrap();
        set_current_key(0);
        with_value_slot(0, 0, |slot, _, name| {
            assert_eq!(name, "count");
            assert_eq!(slot.get(), Some(&b"1"[..]));
        })
        .unwrap();

        let mut output = OutputWriter::default();
        flush(&mut output);
        let mut expected = OutputWriter::default();
        expected.set_value_state(0, 1, b"5");
        expected.clear_value_state(2, 1);
        assert_eq!(output.into_bytes(), expected.into_bytes());
        assert!(current_key(0).is_err());

        // The next batch starts clean, reusing the slots.
        begin_batch();
        load_key([Some(&b"7"[..]), Some(&b"8"[..])].into_iter());
        set_current_key(0);
        with_value_slot(2, 1, |slot, _, _| assert_eq!(slot.get(), Some(&b"8"[..]))).unwrap();
        let mut output = OutputWriter::default();
        flush(&mut output);
        assert!(output.is_empty());
    }

    #[test]
    fn broadcast_state_is_writable_for_broadcast_records_only() {
        configure(vec!["rules".into(), "count".into()], vec![1]);
        let outside = broadcast_key(0, Access::Read).unwrap_err();
        assert!(outside.contains("outside the processing"), "{outside}");

        begin_batch();
        load_key([None].into_iter());
        set_current_key(0);
        assert_eq!(broadcast_key(0, Access::Read), Ok(NO_KEY));
        let keyed = broadcast_key(0, Access::Write).unwrap_err();
        assert!(
            keyed.starts_with("broadcast state `rules` is read-only while processing keyed"),
            "{keyed}"
        );

        begin_batch();
        enter_broadcast();
        assert_eq!(broadcast_key(0, Access::Read), Ok(NO_KEY));
        assert_eq!(broadcast_key(0, Access::Write), Ok(NO_KEY));
        let no_key = current_key(1).unwrap_err();
        assert!(no_key.contains("a broadcast record has no key"), "{no_key}");

        flush(&mut OutputWriter::default());
        assert!(broadcast_key(0, Access::Write).is_err());
    }
}
