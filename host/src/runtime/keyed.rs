//! Keyed process functions: batches of many keys go to the guest with their
//! value state; timers, state updates and output come back in one buffer.

use std::collections::HashMap;

use super::operator::{Collector, Operator, OperatorError};
use super::record::Record;
use crate::state::{StateBackend, StateId, StateKey, StateKind, key_group_of};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{TimeDomain, Timer, TimerService, processing_time_now};
use crate::wasm::layout::{BatchEncoder, OutputEntry, output_entries};
use crate::wasm::{FunctionDescriptor, GuestFailure, GuestInstance, KeyedStateAccess};

/// A keyed process function implemented by a guest of the `keyed-process` world.
pub struct WasmKeyedProcess {
    guest: GuestInstance,
    encoder: BatchEncoder,
    timers: TimerService,
    max_parallelism: u32,
    /// Descriptor indices of the value states, in slot order.
    value_states: Vec<usize>,
    side_outputs: Vec<String>,
    watermark: i64,
    /// Largest batch of timer firings per call.
    max_batch: usize,
    /// Timestamp of each event of the batch in flight, for emitted records.
    event_timestamps: Vec<i64>,
}

impl WasmKeyedProcess {
    /// Wrap `guest`, registering the states it declared with `backend`.
    pub fn new(
        mut guest: GuestInstance,
        descriptor: &FunctionDescriptor,
        mut backend: Box<dyn StateBackend>,
        max_parallelism: u32,
        max_batch: usize,
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
        });
        Ok(WasmKeyedProcess {
            guest,
            encoder: BatchEncoder::default(),
            timers: TimerService::default(),
            max_parallelism,
            value_states: descriptor
                .states
                .iter()
                .enumerate()
                .filter(|(_, s)| s.kind == StateKind::Value)
                .map(|(i, _)| i)
                .collect(),
            side_outputs: descriptor.side_outputs.clone(),
            watermark: NO_WATERMARK,
            max_batch: max_batch.max(1),
            event_timestamps: Vec::new(),
        })
    }

    fn access(&mut self) -> &mut KeyedStateAccess {
        self.guest
            .context_mut()
            .keyed
            .as_mut()
            .expect("keyed access is set in new()")
    }

    /// Start a batch and write the key table (already in `access.keys`).
    fn encode_key_table(&mut self) -> Result<(), OperatorError> {
        self.encoder.begin(self.watermark, processing_time_now());
        let value_states = std::mem::take(&mut self.value_states);
        let access = self
            .guest
            .context_mut()
            .keyed
            .as_mut()
            .expect("keyed access is set in new()");
        let mut slots = Vec::with_capacity(value_states.len());
        let mut result = Ok(());
        for (key_group, key) in &access.keys {
            slots.clear();
            for &state in &value_states {
                let at = StateKey {
                    key_group: *key_group,
                    key,
                    namespace: b"",
                };
                match access.backend.value_get(access.state_ids[state], at) {
                    Ok(value) => slots.push(value),
                    Err(error) => {
                        result = Err(error.into());
                        break;
                    }
                }
            }
            self.encoder.key(key, &slots);
        }
        self.value_states = value_states;
        result
    }

    /// Call the guest with the encoded batch and apply what it returns.
    fn call_and_apply(
        &mut self,
        mut input: Option<&mut Vec<Record>>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let output = self.guest.process_batch(self.encoder.finish())?;
        for entry in output_entries(&output) {
            match entry.map_err(GuestFailure::from)? {
                OutputEntry::Emit { event, value } => {
                    let timestamp = self.event_timestamp(event)?;
                    out.main.push(Record::new(value.to_vec(), timestamp));
                }
                OutputEntry::Forward { event } => {
                    let timestamp = self.event_timestamp(event)?;
                    let record = input
                        .as_deref_mut()
                        .and_then(|records| records.get_mut(event as usize))
                        .ok_or_else(|| {
                            OperatorError::Record(format!(
                                "guest forwarded event {event}, which is not a record"
                            ))
                        })?;
                    out.main
                        .push(Record::new(std::mem::take(&mut record.value), timestamp));
                }
                OutputEntry::EmitSide {
                    side_output,
                    event,
                    value,
                } => {
                    let timestamp = self.event_timestamp(event)?;
                    let declared = self.side_outputs.len();
                    let side = out.side.get_mut(side_output as usize).ok_or_else(|| {
                        OperatorError::Record(format!(
                            "guest emitted to side output {side_output}, but declared {declared}"
                        ))
                    })?;
                    side.push(Record::new(value.to_vec(), timestamp));
                }
                OutputEntry::SetTimer {
                    key,
                    domain,
                    timestamp,
                } => {
                    let timer = self.timer_for(key, timestamp)?;
                    self.timers.register(domain, timer);
                }
                OutputEntry::DeleteTimer {
                    key,
                    domain,
                    timestamp,
                } => {
                    let timer = self.timer_for(key, timestamp)?;
                    self.timers.delete(domain, &timer);
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

    fn event_timestamp(&self, event: u32) -> Result<i64, OperatorError> {
        self.event_timestamps
            .get(event as usize)
            .copied()
            .ok_or_else(|| {
                OperatorError::Record(format!(
                    "guest referred to event {event}, but the batch has {} events",
                    self.event_timestamps.len()
                ))
            })
    }

    fn timer_for(&mut self, key: u32, timestamp: i64) -> Result<Timer, OperatorError> {
        let (key_group, key) = self.key_entry(key)?;
        Ok(Timer {
            timestamp,
            key_group,
            key: key.to_vec(),
        })
    }

    fn key_entry(&mut self, key: u32) -> Result<(u16, &[u8]), OperatorError> {
        let keys = &self.access().keys;
        let count = keys.len();
        keys.get(key as usize)
            .map(|(kg, k)| (*kg, k.as_slice()))
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
        op: impl FnOnce(
            &mut dyn StateBackend,
            StateId,
            StateKey<'_>,
        ) -> Result<(), crate::state::StateError>,
    ) -> Result<(), OperatorError> {
        self.access()
            .at(state, key, op)
            .map_err(|error| OperatorError::Record(error.to_string()))
    }

    /// Fire every timer of `domain` due at `time`, in timestamp order, in
    /// batches; timers set while firing that are already due fire too.
    fn fire_timers(
        &mut self,
        domain: TimeDomain,
        time: i64,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        loop {
            let due = self.timers.pop_due(domain, time, self.max_batch);
            if due.is_empty() {
                return Ok(());
            }
            let mut refs = Vec::with_capacity(due.len());
            {
                let keys = &mut self.access().keys;
                keys.clear();
                let mut index: HashMap<&[u8], u32> = HashMap::with_capacity(due.len());
                for timer in &due {
                    let next = keys.len() as u32;
                    let key_ref = *index.entry(timer.key.as_slice()).or_insert_with(|| {
                        keys.push((timer.key_group, timer.key.clone()));
                        next
                    });
                    refs.push(key_ref);
                }
            }
            self.encode_key_table()?;
            self.event_timestamps.clear();
            for (timer, key_ref) in due.iter().zip(refs) {
                self.encoder.timer(key_ref, timer.timestamp, domain);
                self.event_timestamps.push(timer.timestamp);
            }
            self.call_and_apply(None, out)?;
        }
    }

    /// Number of timers registered, by domain (for tests and metrics).
    pub fn timer_count(&self, domain: TimeDomain) -> usize {
        self.timers.len(domain)
    }
}

impl Operator for WasmKeyedProcess {
    fn process(
        &mut self,
        mut input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        // Key table in first-seen order, and each record's key ref.
        let mut refs = Vec::with_capacity(input.len());
        let mut first_seen = Vec::new();
        {
            let mut index: HashMap<&[u8], u32> = HashMap::with_capacity(input.len());
            for (i, record) in input.iter().enumerate() {
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
        {
            let keys = &mut self.access().keys;
            keys.clear();
            for &i in &first_seen {
                let key = input[i].key.take().expect("checked above");
                keys.push((key_group_of(&key, max_parallelism), key));
            }
        }
        self.encode_key_table()?;
        self.event_timestamps.clear();
        for (record, key_ref) in input.iter().zip(refs) {
            self.encoder
                .record(key_ref, record.timestamp, &record.value);
            self.event_timestamps.push(record.timestamp);
        }
        self.call_and_apply(Some(&mut input), out)
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Collector) -> Result<(), OperatorError> {
        self.watermark = watermark;
        self.fire_timers(TimeDomain::EventTime, watermark, out)
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Collector) -> Result<(), OperatorError> {
        self.fire_timers(TimeDomain::ProcessingTime, now, out)
    }

    fn next_processing_time(&self) -> Option<i64> {
        self.timers.next_processing_time()
    }

    fn side_outputs(&self) -> &[String] {
        &self.side_outputs
    }
}
