//! Run functions natively in unit tests, with an in-memory stand-in for the host.
//!
//! The functions go through the same batch runtime as in a component: input
//! is encoded in the batch layout, output decoded from it, value state
//! travels with the batch and list/map state lives in memory. Only available
//! when not compiling for WebAssembly. State is per thread, so use one
//! harness per test.
//!
//! ```
//! use eddy_sdk::testing::KeyedHarness;
//! # use eddy_sdk::{Context, KeyedProcess, OpenContext, ValueState};
//! # struct Count { n: ValueState<u64> }
//! # impl KeyedProcess for Count {
//! #     type In = Vec<u8>;
//! #     type Out = String;
//! #     fn open(ctx: &mut OpenContext) -> Result<Self, String> { Ok(Count { n: ctx.value_state("n") }) }
//! #     fn process(&mut self, _: Vec<u8>, ctx: &mut Context<String>) -> Result<(), String> {
//! #         let n = self.n.value()?.unwrap_or(0) + 1;
//! #         self.n.update(&n)?;
//! #         ctx.emit(n.to_string());
//! #         Ok(())
//! #     }
//! # }
//! let mut harness = KeyedHarness::<Count>::open("").unwrap();
//! let output = harness.process(&[(b"a", 1, b""), (b"b", 2, b""), (b"a", 3, b"")]).unwrap();
//! let counts: Vec<_> = output.iter().map(|out| out.value.as_slice()).collect();
//! assert_eq!(counts, [b"1", b"1", b"2"]);
//! ```

pub(crate) mod host;
pub(crate) mod memory_state;

use std::collections::{BTreeMap, BTreeSet};

use crate::export::transform::{
    FilterFunction, FlatMapFunction, KeySelectorFunction, MapFunction, RecordFunction,
};
use crate::export::{Instance, keyed, transform};
use crate::function::{Filter, FlatMap, KeySelector, KeyedProcess, Map};
use crate::layout::{NO_KEY, NO_TIMESTAMP, TimeDomain};
use host::{BatchBuilder, OutputEntry, decode_output};

/// Run a transform adapter over one batch of `inputs`; the output values in order.
fn run_transform<F: RecordFunction>(
    config: &str,
    inputs: &[&[u8]],
) -> Result<Vec<Vec<u8>>, String> {
    let instance = Instance::<F>::new();
    transform::init(&instance, config.to_owned())?;
    let batch = inputs
        .iter()
        .fold(BatchBuilder::new(NO_TIMESTAMP, 0), |batch, input| {
            batch.record(NO_KEY, NO_TIMESTAMP, input)
        })
        .build();
    let output = transform::process_batch(&instance, batch)?;
    Ok(decode_output(&output)
        .into_iter()
        .map(|entry| match entry {
            OutputEntry::Emit { value, .. } => value,
            OutputEntry::Forward { event } => inputs[event as usize].to_vec(),
            other => panic!("a transform function wrote {other:?}"),
        })
        .collect())
}

/// The outputs of a [`Map`] for `inputs`, run as one batch.
pub fn run_map<F: Map>(config: &str, inputs: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    run_transform::<MapFunction<F>>(config, inputs)
}

/// The inputs a [`Filter`] keeps, run as one batch.
pub fn run_filter<F: Filter>(config: &str, inputs: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    run_transform::<FilterFunction<F>>(config, inputs)
}

/// The outputs of a [`FlatMap`] for `inputs`, run as one batch.
pub fn run_flat_map<F: FlatMap>(config: &str, inputs: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    run_transform::<FlatMapFunction<F>>(config, inputs)
}

/// The keys a [`KeySelector`] computes for `inputs`, run as one batch.
pub fn run_key_selector<F: KeySelector>(
    config: &str,
    inputs: &[&[u8]],
) -> Result<Vec<Vec<u8>>, String> {
    run_transform::<KeySelectorFunction<F>>(config, inputs)
}

/// The non-empty lines of a JSON-lines text, as record values.
pub fn jsonl(text: &str) -> Vec<&[u8]> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::as_bytes)
        .collect()
}

/// Panics unless the `actual` records equal the JSON-lines text `expected`,
/// record by record, compared as JSON values (so field order and number
/// formatting do not matter).
#[track_caller]
pub fn assert_jsonl_eq<V: AsRef<[u8]>>(actual: &[V], expected: &str) {
    let parse = |bytes: &[u8]| -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap_or_else(|error| {
            panic!("not JSON ({error}): {}", String::from_utf8_lossy(bytes))
        })
    };
    let actual: Vec<_> = actual.iter().map(|value| parse(value.as_ref())).collect();
    let expected: Vec<_> = jsonl(expected).into_iter().map(parse).collect();
    for (index, (actual, expected)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(actual, expected, "record {index} differs");
    }
    assert_eq!(actual.len(), expected.len(), "different number of records");
}

/// A record emitted by a keyed process function under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` for the main output, else the side output's name.
    pub side_output: Option<String>,
    /// The event's timestamp (record time or timer time).
    pub timestamp: i64,
    /// The encoded record.
    pub value: Vec<u8>,
}

/// Runs a [`KeyedProcess`] function like the host does: batches of many keys,
/// value state in the batch, timers fired when the watermark passes them.
pub struct KeyedHarness<P> {
    instance: Instance<P>,
    side_outputs: Vec<String>,
    /// Descriptor index of each value state, in slot order.
    value_state_indices: Vec<u32>,
    value_states: BTreeMap<(u32, Vec<u8>), Vec<u8>>,
    /// `(timestamp, key, domain)` of every pending timer.
    timers: BTreeSet<(i64, Vec<u8>, TimeDomain)>,
    watermark: i64,
    processing_time: i64,
}

/// One event of a batch, before encoding.
enum PendingEvent<'a> {
    Record(i64, &'a [u8]),
    Timer(i64, TimeDomain),
}

impl<P: KeyedProcess> KeyedHarness<P> {
    /// Describe and open the function with `config`, with empty state.
    pub fn open(config: &str) -> Result<Self, String> {
        memory_state::reset();
        let instance = Instance::new();
        let registrations = keyed::open(&instance, config.to_owned())?;
        Ok(KeyedHarness {
            instance,
            side_outputs: registrations.side_outputs.clone(),
            value_state_indices: registrations.value_state_indices(),
            value_states: BTreeMap::new(),
            timers: BTreeSet::new(),
            watermark: NO_TIMESTAMP,
            processing_time: 0,
        })
    }

    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Set the processing time that following batches report.
    pub fn set_processing_time(&mut self, processing_time: i64) {
        self.processing_time = processing_time;
    }

    /// Process `(key, timestamp, value)` records as one batch.
    pub fn process(&mut self, records: &[(&[u8], i64, &[u8])]) -> Result<Vec<Output>, String> {
        let events: Vec<_> = records
            .iter()
            .map(|&(key, timestamp, value)| (key, PendingEvent::Record(timestamp, value)))
            .collect();
        self.run_batch(&events)
    }

    /// Process `(key, timestamp, value)` records like a bounded source with a
    /// bounded-out-of-orderness watermark: in batches of `batch_size`, the
    /// watermark after each batch at `max timestamp - out_of_orderness - 1`,
    /// and at the end of input at `i64::MAX`, firing every event-time timer.
    pub fn run_with_watermarks(
        &mut self,
        records: &[(&[u8], i64, &[u8])],
        batch_size: usize,
        out_of_orderness: i64,
    ) -> Result<Vec<Output>, String> {
        let mut outputs = Vec::new();
        let mut max_timestamp = NO_TIMESTAMP;
        for batch in records.chunks(batch_size.max(1)) {
            outputs.extend(self.process(batch)?);
            max_timestamp = batch
                .iter()
                .map(|record| record.1)
                .fold(max_timestamp, i64::max);
            outputs.extend(
                self.advance_watermark(max_timestamp.saturating_sub(out_of_orderness + 1))?,
            );
        }
        outputs.extend(self.advance_watermark(i64::MAX)?);
        Ok(outputs)
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

    /// Build one batch, run it, and apply its state and timer changes.
    fn run_batch(&mut self, events: &[(&[u8], PendingEvent<'_>)]) -> Result<Vec<Output>, String> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut key_refs = Vec::with_capacity(events.len());
        for (key, _) in events {
            let key_ref = match keys.iter().position(|known| known == key) {
                Some(index) => index,
                None => {
                    keys.push(key.to_vec());
                    keys.len() - 1
                }
            };
            key_refs.push(key_ref as u32);
        }

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
                PendingEvent::Record(timestamp, value) => {
                    timestamps.push(timestamp);
                    batch.record(key_ref, timestamp, value)
                }
                PendingEvent::Timer(timestamp, domain) => {
                    timestamps.push(timestamp);
                    batch.timer(key_ref, timestamp, domain)
                }
            };
        }

        memory_state::set_key_table(keys.clone());
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
                    self.timers
                        .insert((timestamp, keys[key_ref as usize].clone(), domain));
                }
                OutputEntry::DeleteTimer {
                    key_ref,
                    domain,
                    timestamp,
                } => {
                    self.timers
                        .remove(&(timestamp, keys[key_ref as usize].clone(), domain));
                }
                OutputEntry::SetValue {
                    state,
                    key_ref,
                    value,
                } => {
                    self.value_states
                        .insert((state, keys[key_ref as usize].clone()), value);
                }
                OutputEntry::ClearValue { state, key_ref } => {
                    self.value_states
                        .remove(&(state, keys[key_ref as usize].clone()));
                }
            }
        }
        Ok(outputs)
    }
}
