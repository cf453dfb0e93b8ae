//! The host side of one call into a `keyed-process` world guest: the key
//! table with its value-state slots, the events, and the output entries
//! applied to state, timers and collectors. Process, co-process and
//! full-window operators all talk to their guests through this.

use std::collections::HashMap;

use crate::runtime::operator::{Collector, OperatorError};
use crate::runtime::record::Record;
use crate::state::{
    BroadcastMode, BroadcastState, PendingWrites, StateBackend, StateError, StateId, StateKey,
    StateKind, key_group_of,
};
use crate::time::{TimeDomain, Timer, TimerService, processing_time_now};
use crate::wasm::layout::{BatchEncoder, OutputEntry, output_entries};
use crate::wasm::{FunctionDescriptor, GuestFailure, GuestInstance, KeyedStateAccess, StateWrites};

/// A keyed-process world guest with its state and the batch in flight.
pub struct KeyedGuest {
    guest: GuestInstance,
    encoder: BatchEncoder,
    /// Descriptor indices of the value states, in slot order.
    value_states: Vec<usize>,
    side_outputs: Vec<String>,
    /// Whether the guest declared list or map state.
    has_list_or_map_state: bool,
    /// Whether the state writes of a call are held until it returns.
    buffers_writes: bool,
    /// Timestamp and watermark of each event of the batch in flight, for
    /// the records it emits.
    events: Vec<(i64, i64)>,
    max_parallelism: u32,
}

/// What the guest may do with timers in this call.
pub enum TimerAccess<'a> {
    /// Process functions own per-key timers.
    Allowed(&'a mut TimerService),
    /// The call has no timers to change; the reason is the error message.
    Refused(&'static str),
}

impl KeyedGuest {
    /// Wrap `guest`, registering the states it declared with `backend`.
    pub fn new(
        mut guest: GuestInstance,
        descriptor: &FunctionDescriptor,
        mut backend: Box<dyn StateBackend>,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let state_ids = descriptor
            .states
            .iter()
            .map(|d| backend.register(d))
            .collect::<Result<Vec<StateId>, _>>()?;
        guest.context_mut().keyed = Some(KeyedStateAccess {
            backend,
            state_ids,
            keys: Vec::new(),
            broadcast: BroadcastState::new(&descriptor.states),
            writes: StateWrites::Direct,
        });
        Ok(KeyedGuest {
            guest,
            encoder: BatchEncoder::default(),
            value_states: descriptor
                .states
                .iter()
                .enumerate()
                .filter(|(_, s)| s.kind == StateKind::Value)
                .map(|(i, _)| i)
                .collect(),
            side_outputs: descriptor.side_outputs.clone(),
            has_list_or_map_state: descriptor
                .states
                .iter()
                .any(|s| matches!(s.kind, StateKind::List | StateKind::Map)),
            buffers_writes: false,
            events: Vec::new(),
            max_parallelism,
        })
    }

    fn access(&mut self) -> &mut KeyedStateAccess {
        self.guest
            .context_mut()
            .keyed
            .as_mut()
            .expect("keyed access is set in new()")
    }

    /// Hold the state writes of each call until it returns, so that a call
    /// that fails changes no state (operators that set aside the records
    /// their guest fails on).
    pub fn buffer_state_writes(&mut self) {
        self.access().writes = StateWrites::Buffered(PendingWrites::default());
        self.buffers_writes = true;
    }

    /// Replace the guest instance after a failed call, keeping its state.
    pub fn respawn(&mut self) -> Result<(), GuestFailure> {
        self.guest.respawn()
    }

    /// The state backend, shared by the guest's states and the operator's own.
    pub fn backend(&mut self) -> &mut dyn StateBackend {
        self.access().backend.as_mut()
    }

    /// The broadcast maps of this subtask (for checkpoints).
    pub fn broadcast(&mut self) -> &mut BroadcastState {
        &mut self.access().broadcast
    }

    /// Allow or forbid changes to broadcast state in the calls that follow.
    pub fn set_broadcast_mode(&mut self, mode: BroadcastMode) {
        self.access().broadcast.set_mode(mode);
    }

    /// Make the key table of the next batch empty (batches of unkeyed events).
    pub fn no_keys(&mut self) {
        self.access().keys.clear();
    }

    /// Side outputs the guest declared, in index order.
    pub fn side_outputs(&self) -> &[String] {
        &self.side_outputs
    }

    /// Make the key table of the next batch from the keys of `records`
    /// (moved out of them) and return each record's key ref.
    pub fn key_records(&mut self, records: &mut [Record]) -> Result<Vec<u32>, OperatorError> {
        let mut refs = Vec::with_capacity(records.len());
        let mut first_seen = Vec::new();
        {
            let mut index: HashMap<&[u8], u32> = HashMap::with_capacity(records.len());
            for (i, record) in records.iter().enumerate() {
                let key = record.key.as_deref().ok_or_else(|| {
                    OperatorError::Record("a keyed operator received a record without key".into())
                })?;
                let next = first_seen.len() as u32;
                let key_ref = *index.entry(key).or_insert_with(|| {
                    first_seen.push(i);
                    next
                });
                refs.push(key_ref);
            }
        }
        let max_parallelism = self.max_parallelism;
        let keys = &mut self.access().keys;
        keys.clear();
        for &i in &first_seen {
            let key = records[i].key.take().expect("checked above");
            keys.push((key_group_of(&key, max_parallelism), key));
        }
        Ok(refs)
    }

    /// Make the key table of the next batch from `(key group, key)` pairs,
    /// returning each one's key ref.
    pub fn key_entries<'k>(&mut self, entries: impl Iterator<Item = (u16, &'k [u8])>) -> Vec<u32> {
        let keys = &mut self.access().keys;
        keys.clear();
        let mut index: HashMap<&[u8], u32> = HashMap::new();
        let mut refs = Vec::new();
        for (key_group, key) in entries {
            let next = keys.len() as u32;
            let key_ref = *index.entry(key).or_insert_with(|| {
                keys.push((key_group, key.to_vec()));
                next
            });
            refs.push(key_ref);
        }
        refs
    }

    /// Start the batch: header and key table with the value-state slots.
    pub fn begin(&mut self, watermark: i64) -> Result<&mut BatchEncoder, OperatorError> {
        self.encoder.begin(watermark, processing_time_now());
        self.events.clear();
        let access = self
            .guest
            .context_mut()
            .keyed
            .as_mut()
            .expect("keyed access is set in new()");
        let mut slots = Vec::with_capacity(self.value_states.len());
        for (key_group, key) in &access.keys {
            slots.clear();
            for &state in &self.value_states {
                let at = StateKey {
                    key_group: *key_group,
                    key,
                    namespace: b"",
                };
                slots.push(access.backend.value_get(access.state_ids[state], at)?);
            }
            self.encoder.key(key, &slots);
        }
        Ok(&mut self.encoder)
    }

    /// Note the timestamp of the event just encoded, and the watermark of
    /// the output stream where what it emits goes, for what it emits.
    pub fn event(&mut self, timestamp: i64, watermark: i64) {
        self.events.push((timestamp, watermark));
    }

    /// Whether a call can change state that [`Self::drop_call`] cannot take
    /// back: list and map state written through host calls, unless the
    /// writes are buffered ([`Self::buffer_state_writes`]).
    pub fn writes_during_calls(&self) -> bool {
        self.has_list_or_map_state && !self.buffers_writes
    }

    /// The key table of the batch in flight, as each of `refs` names it.
    pub fn keys_of(&mut self, refs: &[u32]) -> Vec<Vec<u8>> {
        let keys = &self.access().keys;
        refs.iter().map(|&r| keys[r as usize].1.clone()).collect()
    }

    /// Call the guest with the encoded batch; its output, to be applied
    /// with [`Self::apply`] or dropped with [`Self::drop_call`]. A failed
    /// call leaves no buffered writes behind.
    pub fn call_only(&mut self) -> Result<Vec<u8>, OperatorError> {
        match self.guest.process_batch(self.encoder.finish()) {
            Ok(output) => Ok(output),
            Err(failure) => {
                self.access().discard_writes();
                Err(failure.into())
            }
        }
    }

    /// Call the guest with the encoded batch and apply what it returns.
    /// `input` holds the records of the batch's record events, by event index.
    pub fn call(
        &mut self,
        input: Option<&mut [Record]>,
        timers: TimerAccess<'_>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let output = self.call_only()?;
        self.apply(&output, input, timers, out)
    }

    /// Drop what the last call did, without applying its output: the
    /// writes it made through host calls, when they are buffered.
    pub fn drop_call(&mut self) {
        self.access().discard_writes();
    }

    /// Apply what a call returned to state, timers and `out` (after the
    /// writes the call made through host calls); on an error, nothing of
    /// the call stays.
    pub fn apply(
        &mut self,
        output: &[u8],
        input: Option<&mut [Record]>,
        timers: TimerAccess<'_>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let applied = self.apply_entries(output, input, timers, out);
        match applied {
            Ok(()) => self.access().commit_writes()?,
            Err(_) => self.access().discard_writes(),
        }
        applied
    }

    /// Apply the entries of a call's output, in order.
    fn apply_entries(
        &mut self,
        output: &[u8],
        mut input: Option<&mut [Record]>,
        mut timers: TimerAccess<'_>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        for entry in output_entries(output) {
            match entry.map_err(GuestFailure::from)? {
                OutputEntry::Emit { event, value } => {
                    let (timestamp, watermark) = self.event_at(event)?;
                    out.main
                        .push(Record::at_watermark(value.to_vec(), timestamp, watermark));
                }
                OutputEntry::Forward { event } => {
                    let (timestamp, watermark) = self.event_at(event)?;
                    let record = input
                        .as_deref_mut()
                        .and_then(|records| records.get_mut(event as usize))
                        .ok_or_else(|| {
                            OperatorError::Record(format!(
                                "guest forwarded event {event}, which is not a record"
                            ))
                        })?;
                    out.main.push(Record::at_watermark(
                        std::mem::take(&mut record.value),
                        timestamp,
                        watermark,
                    ));
                }
                OutputEntry::EmitSide {
                    side_output,
                    event,
                    value,
                } => {
                    let (timestamp, watermark) = self.event_at(event)?;
                    out.guest_side_output(side_output, self.side_outputs.len())?
                        .push(Record::at_watermark(value.to_vec(), timestamp, watermark));
                }
                OutputEntry::SetTimer {
                    key,
                    domain,
                    timestamp,
                } => {
                    let timer = self.timer_for(key, timestamp)?;
                    timers.service()?.register(domain, timer)?;
                }
                OutputEntry::DeleteTimer {
                    key,
                    domain,
                    timestamp,
                } => {
                    let timer = self.timer_for(key, timestamp)?;
                    timers.service()?.delete(domain, &timer)?;
                }
                OutputEntry::SetValue { state, key, value } => {
                    self.with_state(state, key, |backend, id, at| {
                        backend.value_set(id, at, value)
                    })?;
                }
                OutputEntry::ClearValue { state, key } => {
                    self.with_state(state, key, |backend, id, at| backend.clear(id, at))?;
                }
            }
        }
        Ok(())
    }

    fn event_at(&self, event: u32) -> Result<(i64, i64), OperatorError> {
        self.events.get(event as usize).copied().ok_or_else(|| {
            OperatorError::Record(format!(
                "guest referred to event {event}, but the batch has {} events",
                self.events.len()
            ))
        })
    }

    fn timer_for(&mut self, key: u32, timestamp: i64) -> Result<Timer, OperatorError> {
        let keys = &self.access().keys;
        let count = keys.len();
        keys.get(key as usize)
            .map(|(key_group, key)| Timer::keyed(timestamp, *key_group, key.clone()))
            .ok_or_else(|| {
                OperatorError::Record(format!(
                    "guest referred to key {key}, but the batch has {count} keys"
                ))
            })
    }

    fn with_state(
        &mut self,
        state: u32,
        key: u32,
        op: impl FnOnce(&mut dyn StateBackend, StateId, StateKey<'_>) -> Result<(), StateError>,
    ) -> Result<(), OperatorError> {
        self.access()
            .at(state, key, op)
            .map_err(|error| OperatorError::Record(error.to_string()))
    }
}

/// The earliest event-time timer a call's `output` sets, if any.
pub fn earliest_event_timer(output: &[u8]) -> Result<Option<i64>, OperatorError> {
    let mut earliest = None;
    for entry in output_entries(output) {
        if let OutputEntry::SetTimer {
            domain: TimeDomain::EventTime,
            timestamp,
            ..
        } = entry.map_err(GuestFailure::from)?
        {
            earliest = Some(earliest.map_or(timestamp, |e: i64| e.min(timestamp)));
        }
    }
    Ok(earliest)
}

impl TimerAccess<'_> {
    fn service(&mut self) -> Result<&mut TimerService, OperatorError> {
        match self {
            TimerAccess::Allowed(service) => Ok(service),
            TimerAccess::Refused(reason) => Err(OperatorError::Record((*reason).into())),
        }
    }
}
