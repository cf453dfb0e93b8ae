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
    /// States whose keys may still hold values of an older version, which
    /// are migrated when a key comes in a batch (see [`Self::begin`]).
    migrations: Vec<Migration>,
    /// Timestamp and watermark of each event of the batch in flight, for
    /// the records it emits.
    events: Vec<(i64, i64)>,
    max_parallelism: u32,
}

/// A state whose keys may hold values written by older versions.
struct Migration {
    name: String,
    kind: StateKind,
    current: StateId,
    /// The older versions, newest first, with where their values are.
    older: Vec<(u32, StateId)>,
}

/// What the guest may do with timers in this call.
pub enum TimerAccess<'a> {
    /// Process functions own per-key timers.
    Allowed(&'a mut TimerService),
    /// The call has no timers to change; the reason is the error message.
    Refused(&'static str),
}

/// The states of one version of a function, registered with its backend.
struct RegisteredStates {
    state_ids: Vec<StateId>,
    value_states: Vec<usize>,
    has_list_or_map_state: bool,
    migrations: Vec<Migration>,
}

impl RegisteredStates {
    /// Register every state `descriptor` declares with `backend`, each
    /// version under its own name (`wasm::versions::storage_name`), and the
    /// older versions it migrates from.
    fn register(
        descriptor: &FunctionDescriptor,
        backend: &mut dyn StateBackend,
    ) -> Result<Self, StateError> {
        let mut state_ids = Vec::with_capacity(descriptor.states.len());
        let mut migrations = Vec::new();
        for state in &descriptor.states {
            let current = backend.register(&state.storage())?;
            state_ids.push(current);
            let older = state
                .older_storages()
                .into_iter()
                .map(|(version, storage)| Ok((version, backend.register(&storage)?)))
                .collect::<Result<Vec<_>, StateError>>()?;
            if !older.is_empty() && state.kind != StateKind::BroadcastMap {
                migrations.push(Migration {
                    name: state.name.clone(),
                    kind: state.kind,
                    current,
                    older,
                });
            }
        }
        Ok(RegisteredStates {
            state_ids,
            value_states: (descriptor.states.iter().enumerate())
                .filter(|(_, s)| s.kind == StateKind::Value)
                .map(|(i, _)| i)
                .collect(),
            has_list_or_map_state: descriptor
                .states
                .iter()
                .any(|s| matches!(s.kind, StateKind::List | StateKind::Map)),
            migrations,
        })
    }
}

impl KeyedGuest {
    /// Wrap `guest`, registering the states it declared with `backend`.
    pub fn new(
        mut guest: GuestInstance,
        descriptor: &FunctionDescriptor,
        mut backend: Box<dyn StateBackend>,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let registered = RegisteredStates::register(descriptor, backend.as_mut())?;
        guest.context_mut().keyed = Some(KeyedStateAccess {
            backend,
            state_ids: registered.state_ids,
            keys: Vec::new(),
            broadcast: BroadcastState::new(descriptor.states.iter().map(|s| &s.state)),
            writes: StateWrites::Direct,
        });
        Ok(KeyedGuest {
            guest,
            encoder: BatchEncoder::default(),
            value_states: registered.value_states,
            side_outputs: descriptor.side_outputs.clone(),
            has_list_or_map_state: registered.has_list_or_map_state,
            buffers_writes: false,
            migrations: registered.migrations,
            events: Vec::new(),
            max_parallelism,
        })
    }

    /// Go on with `guest`, a new version of the function (a live swap, at
    /// a barrier): it takes over the state where it is (the backend, the
    /// broadcast maps, how writes are applied); states it declares anew
    /// are registered, and values of older versions are migrated as keys
    /// come. The old instance is dropped.
    pub fn replace(
        &mut self,
        mut guest: GuestInstance,
        descriptor: &FunctionDescriptor,
    ) -> Result<(), OperatorError> {
        if descriptor.side_outputs != self.side_outputs {
            return Err(OperatorError::Record(format!(
                "the new version declares side outputs {:?} and the running one {:?}; a swap cannot rewire the job",
                descriptor.side_outputs, self.side_outputs
            )));
        }
        let mut access = self.take_access();
        let registered = match RegisteredStates::register(descriptor, access.backend.as_mut()) {
            Ok(registered) => registered,
            Err(error) => {
                self.guest.context_mut().keyed = Some(access);
                return Err(error.into());
            }
        };
        access.state_ids = registered.state_ids;
        access
            .broadcast
            .rearrange(descriptor.states.iter().map(|s| &s.state));
        guest.context_mut().keyed = Some(access);
        self.guest = guest;
        self.value_states = registered.value_states;
        self.has_list_or_map_state = registered.has_list_or_map_state;
        self.migrations = registered.migrations;
        Ok(())
    }

    /// The state access, out of the store for a moment (a swap moves it to
    /// the new instance's store; a migration calls the guest meanwhile).
    fn take_access(&mut self) -> KeyedStateAccess {
        (self.guest.context_mut().keyed.take()).expect("keyed access is set in new()")
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

    /// Start the batch: header and key table with the value-state slots,
    /// after migrating the keys' values of older state versions.
    pub fn begin(&mut self, watermark: i64) -> Result<&mut BatchEncoder, OperatorError> {
        if !self.migrations.is_empty() {
            self.migrate_keys()?;
        }
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

    /// Move every value of an older state version that the keys of the
    /// batch in flight hold into the current version, through the guest's
    /// `migrate-state` (lazy migration: a swap does not wait for the whole
    /// state, and a checkpoint taken meanwhile holds both versions, each
    /// under its own name, so a restore goes on where it was). Before the
    /// call, because the guest cannot be called while it runs.
    fn migrate_keys(&mut self) -> Result<(), OperatorError> {
        let mut access = self.take_access();
        let result = (|| {
            for (key_group, key) in &access.keys {
                let at = StateKey {
                    key_group: *key_group,
                    key,
                    namespace: b"",
                };
                for migration in &self.migrations {
                    migration.migrate(&mut self.guest, access.backend.as_mut(), at)?;
                }
            }
            Ok(())
        })();
        self.guest.context_mut().keyed = Some(access);
        result
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

impl Migration {
    /// Migrate what key `at` holds in older versions of this state into the
    /// current one, and remove it there. A value the current version
    /// already has wins (it was written after the older one).
    fn migrate(
        &self,
        guest: &mut GuestInstance,
        backend: &mut dyn StateBackend,
        at: StateKey<'_>,
    ) -> Result<(), OperatorError> {
        for &(version, older) in &self.older {
            let mut migrate = |value: &[u8]| {
                guest
                    .migrate_state(&self.name, version, value)
                    .map_err(|failure| {
                        OperatorError::Record(format!(
                            "migrating state `{}` from version {version}: {failure}",
                            self.name
                        ))
                    })
            };
            match self.kind {
                StateKind::Value => {
                    let Some(value) = backend.value_get(older, at)? else {
                        continue;
                    };
                    if backend.value_get(self.current, at)?.is_none() {
                        let migrated = migrate(&value)?;
                        backend.value_set(self.current, at, &migrated)?;
                    }
                }
                StateKind::List => {
                    let elements = backend.list_get(older, at)?;
                    if elements.is_empty() {
                        continue;
                    }
                    let mut list = elements
                        .iter()
                        .map(|element| migrate(element))
                        .collect::<Result<Vec<_>, _>>()?;
                    list.extend(backend.list_get(self.current, at)?);
                    backend.list_update(self.current, at, list)?;
                }
                StateKind::Map => {
                    let entries = backend.map_entries(older, at)?;
                    if entries.is_empty() {
                        continue;
                    }
                    for (map_key, value) in entries {
                        if backend.map_get(self.current, at, &map_key)?.is_none() {
                            let migrated = migrate(&value)?;
                            backend.map_put(self.current, at, &map_key, &migrated)?;
                        }
                    }
                }
                StateKind::BroadcastMap => unreachable!("broadcast state is not migrated"),
            }
            backend.clear(older, at)?;
        }
        Ok(())
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
