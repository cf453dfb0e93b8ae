//! The keyed operator of the native harness: batches of many keys through the
//! `keyed-process` runtime, with value state, timers and watermarks kept the
//! way the host keeps them, and broadcast records in batches of their own.

use std::collections::{BTreeMap, BTreeSet};

use super::host::{BatchBuilder, OutputEntry, decode_output};
use super::memory_state;
use super::windows::FiredWindow;
use super::{Output, RecordOperator, run_bounded};
use crate::export::Instance;
use crate::export::keyed::{
    self, BroadcastProcessFunction, CoProcessFunction, KeyedFunction, KeyedProcessFunction,
    ProcessWindowFunction,
};
use crate::function::{CoProcess, KeyedBroadcastProcess, KeyedProcess, ProcessWindow};
use crate::layout::{NO_KEY, NO_TIMESTAMP, TimeDomain};
use crate::open::{OpenContext, Subtask};

/// Which input of a [`CoProcessHarness`] or [`BroadcastProcessHarness`] a
/// record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    /// The first input (`process_element1` or `process_element`, the
    /// operator's `input`).
    First,
    /// The second input (`process_element2`, the operator's `connect`).
    Second,
    /// The broadcast input (`process_broadcast_element`, the operator's
    /// `broadcast`); the record's key is ignored, since broadcast records
    /// have none.
    Broadcast,
}

impl Input {
    /// Position among a two-input operator's inputs, for watermarks.
    fn position(self) -> usize {
        match self {
            Input::First => 0,
            Input::Second | Input::Broadcast => 1,
        }
    }
}

/// A record for a harness: `(key, timestamp, value)`.
pub type Record<'a> = (&'a [u8], i64, &'a [u8]);

/// A record of one input of a co-process function: `(input, key, timestamp, value)`.
pub type CoRecord<'a> = (Input, &'a [u8], i64, &'a [u8]);

/// Runs a function of the `keyed-process` world like the host does: batches
/// of many keys, value state in the batch, event-time timers fired when the
/// watermark passes them, broadcast records in batches of their own. Used as
/// [`KeyedHarness`], [`CoProcessHarness`] and [`BroadcastProcessHarness`].
pub struct KeyedOperator<F> {
    instance: Instance<F>,
    side_outputs: Vec<String>,
    /// Descriptor index of each value state, in slot order.
    value_state_indices: Vec<u32>,
    value_states: BTreeMap<(u32, Vec<u8>), Vec<u8>>,
    /// `(timestamp, key, domain)` of every pending timer.
    timers: BTreeSet<(i64, Vec<u8>, TimeDomain)>,
    watermark: i64,
    processing_time: i64,
}

/// Runs a [`KeyedProcess`] function: `KeyedHarness::<MyFunction>::open(config)`.
pub type KeyedHarness<P> = KeyedOperator<KeyedProcessFunction<P>>;

/// Runs a [`CoProcess`] function: `CoProcessHarness::<MyJoin>::open(config)`.
pub type CoProcessHarness<C> = KeyedOperator<CoProcessFunction<C>>;

/// Runs a [`KeyedBroadcastProcess`] function, with one copy of its broadcast
/// state (one parallel instance): `BroadcastProcessHarness::<MyRules>::open(config)`.
pub type BroadcastProcessHarness<B> = KeyedOperator<BroadcastProcessFunction<B>>;

/// The `(timestamp, value)` elements of a fired window.
pub(crate) type Elements = Vec<(i64, Vec<u8>)>;

/// One event of a batch, before encoding.
pub(crate) enum PendingEvent<'a> {
    Record(Input, i64, &'a [u8]),
    Timer(i64, TimeDomain),
    Window {
        start: i64,
        end: i64,
        elements: &'a [(i64, Vec<u8>)],
    },
}

impl<F: KeyedFunction> KeyedOperator<F> {
    /// Open the function with `config`, with empty state, as the only
    /// subtask of its operator (index 0 of parallelism 1).
    pub fn open(config: &str) -> Result<Self, String> {
        Self::open_as_subtask(config, 0, 1)
    }

    /// Open the function with `config`, with empty state, as subtask
    /// `subtask_index` (0-based) of an operator with `parallelism` instances,
    /// which is what [`OpenContext::subtask_index`] and
    /// [`OpenContext::parallelism`] then say.
    pub fn open_as_subtask(
        config: &str,
        subtask_index: u32,
        parallelism: u32,
    ) -> Result<Self, String> {
        let subtask = Subtask::new(subtask_index, parallelism)?;
        memory_state::reset();
        let instance = Instance::new();
        let ctx = OpenContext::for_subtask(config.to_owned(), subtask);
        let registrations = keyed::open(&instance, ctx)?;
        Ok(KeyedOperator {
            instance,
            side_outputs: registrations.side_outputs.clone(),
            value_state_indices: registrations.value_state_indices(),
            value_states: BTreeMap::new(),
            timers: BTreeSet::new(),
            watermark: NO_TIMESTAMP,
            processing_time: 0,
        })
    }

    /// What the host's `migrate-state` call gets: `value`, one stored value
    /// of state `state` (a value, a list element or a map value) written by
    /// version `from_version` of its schema, as the encoded value of the
    /// version the function declares, by the migration its `open` registered.
    ///
    /// ```
    /// # use eddy_sdk::{Context, KeyedProcess, OpenContext, StateVersion, ValueState};
    /// # struct Count { n: ValueState<(u64, bool)> }
    /// # impl KeyedProcess for Count {
    /// #     type In = Vec<u8>;
    /// #     type Out = Vec<u8>;
    /// #     fn open(ctx: &mut OpenContext) -> Result<Self, String> {
    /// #         let version = StateVersion::new(2).migrate_from(1, |n: u64| Ok((n, false)));
    /// #         Ok(Count { n: ctx.value_state_versioned("n", version) })
    /// #     }
    /// #     fn process(&mut self, _: Vec<u8>, _: &mut Context<Vec<u8>>) -> Result<(), String> { Ok(()) }
    /// # }
    /// let harness = eddy_sdk::testing::KeyedHarness::<Count>::open("").unwrap();
    /// assert_eq!(harness.migrate_state("n", 1, b"41").unwrap(), b"[41,false]");
    /// assert!(harness.migrate_state("n", 3, b"41").is_err());
    /// ```
    pub fn migrate_state(
        &self,
        state: &str,
        from_version: u32,
        value: &[u8],
    ) -> Result<Vec<u8>, String> {
        keyed::migrate_state(
            &self.instance,
            state.to_owned(),
            from_version,
            value.to_vec(),
        )
    }

    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Set the processing time that following batches report.
    pub fn set_processing_time(&mut self, processing_time: i64) {
        self.processing_time = processing_time;
    }

    /// Advance the watermark and fire every event-time timer at or before it,
    /// in timestamp order (timers set while firing fire too if due).
    pub fn advance_watermark(&mut self, watermark: i64) -> Result<Vec<Output>, String> {
        self.watermark = self.watermark.max(watermark);
        let mut outputs = Vec::new();
        loop {
            let due: Vec<_> = self
                .timers
                .iter()
                .filter(|(timestamp, _, domain)| {
                    *domain == TimeDomain::EventTime && *timestamp <= self.watermark
                })
                .cloned()
                .collect();
            if due.is_empty() {
                return Ok(outputs);
            }
            for timer in &due {
                self.timers.remove(timer);
            }
            let events: Vec<_> = due
                .iter()
                .map(|(timestamp, key, domain)| {
                    (key.as_slice(), PendingEvent::Timer(*timestamp, *domain))
                })
                .collect();
            outputs.extend(self.run_batch(&events)?);
        }
    }

    /// Run records of any input as one batch, except that broadcast records
    /// go in batches of their own, as the host sends them.
    fn run_records(&mut self, records: &[CoRecord<'_>]) -> Result<Vec<Output>, String> {
        let mut outputs = Vec::new();
        for run in records.chunk_by(|a, b| (a.0 == Input::Broadcast) == (b.0 == Input::Broadcast)) {
            let events: Vec<_> = run
                .iter()
                .map(|&(input, key, timestamp, value)| {
                    (key, PendingEvent::Record(input, timestamp, value))
                })
                .collect();
            outputs.extend(self.run_batch(&events)?);
        }
        Ok(outputs)
    }

    /// Build one batch, run it, and apply its state and timer changes.
    pub(crate) fn run_batch(
        &mut self,
        events: &[(&[u8], PendingEvent<'_>)],
    ) -> Result<Vec<Output>, String> {
        let broadcast = events
            .iter()
            .filter(|(_, event)| matches!(event, PendingEvent::Record(Input::Broadcast, ..)))
            .count();
        if broadcast != 0 && broadcast != events.len() {
            return Err("broadcast records come in batches of their own".into());
        }
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut key_refs = Vec::with_capacity(events.len());
        for (key, _) in events {
            if broadcast != 0 {
                key_refs.push(NO_KEY);
                continue;
            }
            let key_ref = match keys.iter().position(|known| known == key) {
                Some(index) => index,
                None => {
                    keys.push(key.to_vec());
                    keys.len() - 1
                }
            };
            key_refs.push(key_ref as u32);
        }
        let key = |key_ref: u32| {
            keys.get(key_ref as usize).cloned().ok_or_else(|| {
                format!(
                    "an output entry refers to key {key_ref}, but the batch's key table has {} \
                     keys (broadcast batches have none, so no timers or value state)",
                    keys.len()
                )
            })
        };

        let mut batch = BatchBuilder::new(self.watermark, self.processing_time);
        for key in &keys {
            let slots: Vec<Option<&[u8]>> = self
                .value_state_indices
                .iter()
                .map(|&state| {
                    self.value_states
                        .get(&(state, key.clone()))
                        .map(Vec::as_slice)
                })
                .collect();
            batch = batch.key(key, &slots);
        }
        let mut timestamps = Vec::with_capacity(events.len());
        for ((_, event), &key_ref) in events.iter().zip(&key_refs) {
            batch = match *event {
                PendingEvent::Record(Input::First, timestamp, value) => {
                    timestamps.push(timestamp);
                    batch.record(key_ref, timestamp, value)
                }
                PendingEvent::Record(Input::Second, timestamp, value) => {
                    timestamps.push(timestamp);
                    batch.second_record(key_ref, timestamp, value)
                }
                PendingEvent::Record(Input::Broadcast, timestamp, value) => {
                    timestamps.push(timestamp);
                    batch.broadcast_record(timestamp, value)
                }
                PendingEvent::Timer(timestamp, domain) => {
                    timestamps.push(timestamp);
                    batch.timer(key_ref, timestamp, domain)
                }
                PendingEvent::Window {
                    start,
                    end,
                    elements,
                } => {
                    timestamps.push(end.saturating_sub(1));
                    batch.window(key_ref, start, end, elements)
                }
            };
        }

        memory_state::begin_batch(keys.clone(), broadcast != 0);
        let output = keyed::process_batch(&self.instance, batch.build())?;
        let mut outputs = Vec::new();
        for entry in decode_output(&output) {
            match entry {
                OutputEntry::Emit { event, value } => outputs.push(Output {
                    side_output: None,
                    timestamp: timestamps[event as usize],
                    value,
                }),
                OutputEntry::EmitSide {
                    side_output,
                    event,
                    value,
                } => outputs.push(Output {
                    side_output: Some(self.side_outputs[side_output as usize].clone()),
                    timestamp: timestamps[event as usize],
                    value,
                }),
                OutputEntry::Forward { event } => {
                    return Err(format!(
                        "keyed process functions cannot forward (event {event})"
                    ));
                }
                OutputEntry::SetTimer {
                    key_ref,
                    domain,
                    timestamp,
                } => {
                    self.timers.insert((timestamp, key(key_ref)?, domain));
                }
                OutputEntry::DeleteTimer {
                    key_ref,
                    domain,
                    timestamp,
                } => {
                    self.timers.remove(&(timestamp, key(key_ref)?, domain));
                }
                OutputEntry::SetValue {
                    state,
                    key_ref,
                    value,
                } => {
                    self.value_states.insert((state, key(key_ref)?), value);
                }
                OutputEntry::ClearValue { state, key_ref } => {
                    self.value_states.remove(&(state, key(key_ref)?));
                }
            }
        }
        Ok(outputs)
    }
}

impl<'r, F: KeyedFunction> RecordOperator<CoRecord<'r>> for KeyedOperator<F> {
    fn input_and_timestamp(record: &CoRecord<'r>) -> (usize, i64) {
        (record.0.position(), record.2)
    }

    fn run_records(&mut self, records: &[CoRecord<'r>]) -> Result<Vec<Output>, String> {
        KeyedOperator::run_records(self, records)
    }

    fn advance_watermark(&mut self, watermark: i64) -> Result<Vec<Output>, String> {
        KeyedOperator::advance_watermark(self, watermark)
    }
}

/// Ways two inputs' records can arrive at a co-process function, each input
/// in its own order: all of `first` then all of `second`, the reverse, one
/// of each in turn, and merged by timestamp (stable). A function with
/// event-time semantics gives the same results for each, which is what the
/// host's interleaving of two sources can vary.
pub fn interleavings<'a>(
    first: &[CoRecord<'a>],
    second: &[CoRecord<'a>],
) -> Vec<(&'static str, Vec<CoRecord<'a>>)> {
    let mut alternating = Vec::with_capacity(first.len() + second.len());
    for index in 0..first.len().max(second.len()) {
        alternating.extend(first.get(index));
        alternating.extend(second.get(index));
    }
    let mut by_timestamp = [first, second].concat();
    by_timestamp.sort_by_key(|record| record.2);
    vec![
        ("first input first", [first, second].concat()),
        ("second input first", [second, first].concat()),
        ("alternating", alternating),
        ("by timestamp", by_timestamp),
    ]
}

/// Records of the (only) first input.
fn first_input<'a>(records: &[Record<'a>]) -> Vec<CoRecord<'a>> {
    records
        .iter()
        .map(|&(key, timestamp, value)| (Input::First, key, timestamp, value))
        .collect()
}

impl<P: KeyedProcess> KeyedOperator<KeyedProcessFunction<P>> {
    /// Process `(key, timestamp, value)` records as one batch.
    pub fn process(&mut self, records: &[Record<'_>]) -> Result<Vec<Output>, String> {
        self.run_records(&first_input(records))
    }

    /// Process `(key, timestamp, value)` records like a bounded source with a
    /// bounded-out-of-orderness watermark: in batches of `batch_size`, the
    /// watermark after each batch at `max timestamp - out_of_orderness - 1`,
    /// and at the end of input at `i64::MAX`, firing every event-time timer.
    pub fn run_with_watermarks(
        &mut self,
        records: &[Record<'_>],
        batch_size: usize,
        out_of_orderness: i64,
    ) -> Result<Vec<Output>, String> {
        run_bounded(self, 1, &first_input(records), batch_size, out_of_orderness)
    }
}

impl<C: CoProcess> KeyedOperator<CoProcessFunction<C>> {
    /// Process records of both inputs, in the given order, as one batch.
    pub fn process(&mut self, records: &[CoRecord<'_>]) -> Result<Vec<Output>, String> {
        self.run_records(records)
    }
}

/// Function kinds with two inputs, whose harnesses run records of both:
/// co-process ([`Input::First`] and [`Input::Second`]) and broadcast-process
/// ([`Input::First`] and [`Input::Broadcast`]).
pub trait TwoInputs: KeyedFunction {}

impl<C: CoProcess> TwoInputs for CoProcessFunction<C> {}

impl<B: KeyedBroadcastProcess> TwoInputs for BroadcastProcessFunction<B> {}

impl<F: TwoInputs> KeyedOperator<F> {
    /// Process records of both inputs, interleaved as given, like two bounded
    /// sources with bounded-out-of-orderness watermarks: in batches of
    /// `batch_size` (broadcast records split off into batches of their own);
    /// after each batch each input's watermark is its `max timestamp -
    /// out_of_orderness - 1` and the operator's the smaller of the two
    /// (`i64::MIN` until both inputs had a record); at the end of input
    /// `i64::MAX`, firing every event-time timer.
    pub fn run_with_watermarks(
        &mut self,
        records: &[CoRecord<'_>],
        batch_size: usize,
        out_of_orderness: i64,
    ) -> Result<Vec<Output>, String> {
        run_bounded(self, 2, records, batch_size, out_of_orderness)
    }
}

impl<B: KeyedBroadcastProcess> KeyedOperator<BroadcastProcessFunction<B>> {
    /// Process `(key, timestamp, value)` records of the keyed input as one batch.
    pub fn process(&mut self, records: &[Record<'_>]) -> Result<Vec<Output>, String> {
        self.run_records(&first_input(records))
    }

    /// Process `(timestamp, value)` records of the broadcast input as one
    /// broadcast batch.
    pub fn broadcast(&mut self, records: &[(i64, &[u8])]) -> Result<Vec<Output>, String> {
        let records: Vec<_> = records
            .iter()
            .map(|&(timestamp, value)| (Input::Broadcast, &b""[..], timestamp, value))
            .collect();
        self.run_records(&records)
    }
}

impl<W: ProcessWindow> KeyedOperator<ProcessWindowFunction<W>> {
    /// Run fired windows `(key, start, end, elements)` as one batch.
    pub(crate) fn fire_windows(
        &mut self,
        windows: &[FiredWindow<Elements>],
    ) -> Result<Vec<Output>, String> {
        let events: Vec<_> = windows
            .iter()
            .map(|(key, start, end, elements)| {
                (
                    key.as_slice(),
                    PendingEvent::Window {
                        start: *start,
                        end: *end,
                        elements,
                    },
                )
            })
            .collect();
        self.run_batch(&events)
    }
}
