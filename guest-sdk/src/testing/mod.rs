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
//!
//! [`CoProcessHarness`] takes records of two inputs, and
//! [`BroadcastProcessHarness`] keyed and broadcast records (broadcast ones
//! in batches of their own, as the host sends them). [`AggregateHarness`] and
//! [`WindowHarness`] run window functions through the host's windowing,
//! emulated in memory ([`Windows`]: tumbling, sliding, session and count
//! windows in event time); results take the window's `end - 1` as timestamp.
//! The keyed harnesses also open a function as one subtask of several
//! ([`KeyedOperator::open_as_subtask`]) and call its state migrations as
//! the host's `migrate-state` would ([`KeyedOperator::migrate_state`]).
//! [`KeyedJsonl`] keys and times JSON-lines sample data like a job file, and
//! [`sorted_lines`] puts outputs in a comparable order:
//!
//! ```
//! use eddy_sdk::testing::{AggregateHarness, KeyedJsonl, Windows, sorted_lines};
//! # use eddy_sdk::{Aggregate, OpenContext, Window};
//! # struct Count;
//! # impl Aggregate for Count {
//! #     type In = Vec<u8>;
//! #     type Acc = u64;
//! #     type Out = String;
//! #     fn open(_: &OpenContext) -> Result<Self, String> { Ok(Count) }
//! #     fn create_accumulator(&self) -> u64 { 0 }
//! #     fn add(&self, n: &mut u64, _: Vec<u8>) { *n += 1 }
//! #     fn merge(&self, a: u64, b: u64) -> u64 { a + b }
//! #     fn get_result(&self, n: &u64, window: &Window) -> String {
//! #         format!("{}@{}:{n}", String::from_utf8_lossy(window.key), window.start)
//! #     }
//! # }
//! let clicks = KeyedJsonl::parse(
//!     "{\"user\":\"a\",\"ts\":5}\n{\"user\":\"a\",\"ts\":61000}\n{\"user\":\"b\",\"ts\":7}",
//!     "user",
//!     "ts",
//! );
//! let windows = Windows::Tumbling { size: 60_000 };
//! let mut harness = AggregateHarness::<Count>::open("", windows).unwrap();
//! let output = harness.run_with_watermarks(&clicks.records(), 10, 5_000).unwrap();
//! assert_eq!(sorted_lines(&output, None), ["a@0:1", "a@60000:1", "b@0:1"]);
//! ```

pub(crate) mod host;
pub(crate) mod keyed;
pub(crate) mod memory_state;
mod windows;

use crate::export::transform::{
    FilterFunction, FlatMapFunction, KeySelectorFunction, MapFunction, RecordFunction,
};
use crate::export::{Instance, transform};
use crate::function::{Filter, FlatMap, KeySelector, Map};
use crate::layout::{NO_KEY, NO_TIMESTAMP};
use host::{BatchBuilder, OutputEntry, decode_output};

pub use keyed::{
    BroadcastProcessHarness, CoProcessHarness, CoRecord, Input, KeyedHarness, KeyedOperator,
    Record, TwoInputs, interleavings,
};
pub use windows::{
    AggregateBackend, AggregateHarness, FiredWindow, ProcessWindowBackend, WindowBackend,
    WindowHarness, WindowOperator, Windows,
};

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

/// Records of a JSON-lines text, keyed and timed the way a job file's source
/// and operator would: `key_by = { field }` (a string field's text as the key
/// bytes, `u1` not `"u1"`; other values as their JSON text) and
/// `timestamp = { field }` (epoch milliseconds). Made for sample data, so
/// malformed lines panic.
#[derive(Debug, Clone)]
pub struct KeyedJsonl<'a> {
    records: Vec<(Vec<u8>, i64, &'a [u8])>,
}

impl<'a> KeyedJsonl<'a> {
    /// Parse the non-empty lines of `text`, taking the key from `key_field`
    /// and the timestamp from `time_field`.
    #[track_caller]
    pub fn parse(text: &'a str, key_field: &str, time_field: &str) -> Self {
        let records = jsonl(text)
            .into_iter()
            .map(|line| {
                let value: serde_json::Value =
                    serde_json::from_slice(line).unwrap_or_else(|error| {
                        panic!("not JSON ({error}): {}", String::from_utf8_lossy(line))
                    });
                let key = match &value[key_field] {
                    serde_json::Value::String(text) => text.as_bytes().to_vec(),
                    serde_json::Value::Null => panic!("no field `{key_field}` in {value}"),
                    other => other.to_string().into_bytes(),
                };
                let timestamp = value[time_field]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no integer field `{time_field}` in {value}"));
                (key, timestamp, line)
            })
            .collect();
        KeyedJsonl { records }
    }

    /// `(key, timestamp, value)` of every line, for the harnesses.
    pub fn records(&self) -> Vec<Record<'_>> {
        self.records
            .iter()
            .map(|(key, timestamp, value)| (key.as_slice(), *timestamp, *value))
            .collect()
    }

    /// Every line as a record of one input of a [`CoProcessHarness`] or
    /// [`BroadcastProcessHarness`] (for [`Input::Broadcast`] the key is ignored).
    pub fn input(&self, input: Input) -> Vec<CoRecord<'_>> {
        self.records()
            .into_iter()
            .map(|(key, timestamp, value)| (input, key, timestamp, value))
            .collect()
    }
}

/// The values of the `outputs` that went to `side_output` (`None`: the main
/// output) as text, sorted: the order to compare in when windows or timers
/// of different keys fire together.
#[track_caller]
pub fn sorted_lines(outputs: &[Output], side_output: Option<&str>) -> Vec<String> {
    let mut lines: Vec<String> = outputs
        .iter()
        .filter(|output| output.side_output.as_deref() == side_output)
        .map(|output| {
            String::from_utf8(output.value.clone())
                .unwrap_or_else(|error| panic!("an output is not UTF-8 text: {error}"))
        })
        .collect();
    lines.sort();
    lines
}

/// A record emitted by a function under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` for the main output, else the side output's name.
    pub side_output: Option<String>,
    /// The record's timestamp: the input record's, the timer's, or a fired
    /// window's `end - 1`.
    pub timestamp: i64,
    /// The encoded record.
    pub value: Vec<u8>,
}

/// An operator under test that takes batches of records and watermarks, so
/// that every harness runs bounded input the same way.
trait RecordOperator<R> {
    /// The input (0-based) a record belongs to, and its timestamp.
    fn input_and_timestamp(record: &R) -> (usize, i64);

    /// Run records as one batch.
    fn run_records(&mut self, records: &[R]) -> Result<Vec<Output>, String>;

    /// Move the watermark, firing what is due.
    fn advance_watermark(&mut self, watermark: i64) -> Result<Vec<Output>, String>;
}

/// Run `records` of `inputs` bounded sources with bounded-out-of-orderness
/// watermarks: in batches of `batch_size`; after each batch each input's
/// watermark is its `max timestamp - out_of_orderness - 1` and the
/// operator's the smallest of them (`i64::MIN` until every input had a
/// record), as for Flink's multi-input operators; at the end `i64::MAX`.
fn run_bounded<R, O: RecordOperator<R>>(
    operator: &mut O,
    inputs: usize,
    records: &[R],
    batch_size: usize,
    out_of_orderness: i64,
) -> Result<Vec<Output>, String> {
    let mut outputs = Vec::new();
    let mut max_timestamps = vec![NO_TIMESTAMP; inputs];
    for batch in records.chunks(batch_size.max(1)) {
        outputs.extend(operator.run_records(batch)?);
        for record in batch {
            let (input, timestamp) = O::input_and_timestamp(record);
            let max = max_timestamps
                .get_mut(input)
                .ok_or_else(|| format!("a record of input {input}, but there are {inputs}"))?;
            *max = (*max).max(timestamp);
        }
        let watermark = max_timestamps
            .iter()
            .map(|max| max.saturating_sub(out_of_orderness + 1))
            .min()
            .unwrap_or(NO_TIMESTAMP);
        outputs.extend(operator.advance_watermark(watermark)?);
    }
    outputs.extend(operator.advance_watermark(i64::MAX)?);
    Ok(outputs)
}
