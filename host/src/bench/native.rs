//! Native-Rust twins of the benchmark guests (`examples-wasm/bench-*`):
//! the same logic on the same bytes, with state in the same host backend.

use crate::job::WindowDef;
use crate::operators::window::{AggregateCalls, AggregateGuest, WindowFunction, WindowOperator};
use crate::runtime::operator::{Collector, Operator, OperatorError};
use crate::runtime::record::Record;
use crate::state::{
    KeyGroupRange, MemoryStateBackend, StateBackend, StateDescriptor, StateId, StateKey, StateKind,
    key_group_of,
};
use crate::wasm::GuestFailure;
use crate::wasm::layout::{LayoutError, Reader, put_bytes};

const AMOUNT: std::ops::Range<usize> = 16..24;
const PAYLOAD: usize = 24;

fn amount(value: &[u8]) -> u64 {
    u64::from_le_bytes(value[AMOUNT].try_into().expect("binary event"))
}

/// amount = amount * 3 + 7, payload to ASCII upper case (as `bench-map`).
pub struct UppercaseMap;

impl Operator for UppercaseMap {
    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError> {
        out.main.reserve(input.len());
        for record in &input {
            let mut value = record.value.clone();
            let new_amount = amount(&value).wrapping_mul(3).wrapping_add(7);
            value[AMOUNT].copy_from_slice(&new_amount.to_le_bytes());
            value[PAYLOAD..].make_ascii_uppercase();
            out.main.push(Record::at_watermark(
                value,
                record.timestamp,
                record.watermark,
            ));
        }
        Ok(())
    }
}

/// Keep records whose amount is even (as `bench-filter`).
pub struct EvenAmountFilter;

impl Operator for EvenAmountFilter {
    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError> {
        out.main.extend(
            input
                .into_iter()
                .filter(|r| amount(&r.value).is_multiple_of(2))
                .map(|mut r| {
                    r.key = None;
                    r
                }),
        );
        Ok(())
    }
}

/// Count per key in a host value state, emit the new count as 8 bytes (as `bench-count`).
pub struct KeyedCount {
    backend: MemoryStateBackend,
    state: StateId,
    max_parallelism: u32,
}

impl KeyedCount {
    /// A factory making one instance per subtask.
    pub fn factory(max_parallelism: u32) -> impl Fn(u32) -> Box<dyn Operator> + Send + Sync {
        move |_subtask| {
            // Benchmarks run the twin at any parallelism; each instance owns all key groups it may see.
            let mut backend = MemoryStateBackend::new("count", KeyGroupRange::all(max_parallelism));
            let state = backend
                .register(&StateDescriptor {
                    name: "count".into(),
                    kind: StateKind::Value,
                    ttl: None,
                })
                .expect("fresh backend");
            Box::new(KeyedCount {
                backend,
                state,
                max_parallelism,
            })
        }
    }
}

impl Operator for KeyedCount {
    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError> {
        out.main.reserve(input.len());
        for record in input {
            let key = record.key.as_deref().unwrap_or_default();
            let at = StateKey {
                key_group: key_group_of(key, self.max_parallelism),
                key,
                namespace: b"",
            };
            let count = match self.backend.value_get(self.state, at)? {
                Some(json) => serde_json::from_slice::<u64>(&json)
                    .map_err(|e| OperatorError::Record(e.to_string()))?,
                None => 0,
            } + 1;
            self.backend
                .value_set(self.state, at, count.to_string().as_bytes())?;
            out.main.push(Record::at_watermark(
                count.to_le_bytes().to_vec(),
                record.timestamp,
                record.watermark,
            ));
        }
        Ok(())
    }
}

/// Twin of `bench_window_count`: the same window operator and state, with
/// the count aggregate in native Rust over the same byte layouts (a JSON
/// number as accumulator, the count as 8 bytes LE as result).
pub struct WindowCount;

impl WindowCount {
    /// A factory making one window operator per subtask.
    pub fn factory(
        window: WindowDef,
        max_batch: usize,
    ) -> impl Fn(u32) -> Box<dyn Operator> + Send + Sync {
        move |_subtask| {
            let backend = MemoryStateBackend::new("window", KeyGroupRange::all(128));
            let function = AggregateGuest::new(Box::new(WindowCount), Box::new(backend))
                .expect("the native count never fails");
            Box::new(
                WindowOperator::new(
                    WindowFunction::Aggregate(function),
                    window.clone(),
                    128,
                    max_batch,
                )
                .expect("fresh backend"),
            )
        }
    }
}

fn layout_failure(error: LayoutError) -> GuestFailure {
    GuestFailure::from(error)
}

fn parse_count(accumulator: &[u8]) -> u64 {
    std::str::from_utf8(accumulator)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

impl AggregateCalls for WindowCount {
    fn create_accumulator(&mut self) -> Result<Vec<u8>, GuestFailure> {
        Ok(b"0".to_vec())
    }

    fn add_batch(&mut self, groups: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        let mut reader = Reader::new(groups);
        let count = reader.u32().map_err(layout_failure)?;
        let mut out = Vec::new();
        for _ in 0..count {
            let mut total = parse_count(reader.bytes().map_err(layout_failure)?);
            let inputs = reader.u32().map_err(layout_failure)?;
            for _ in 0..inputs {
                reader.i64().map_err(layout_failure)?;
                reader.bytes().map_err(layout_failure)?;
                total += 1;
            }
            put_bytes(&mut out, total.to_string().as_bytes());
        }
        Ok(out)
    }

    fn merge(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        Ok((parse_count(a) + parse_count(b)).to_string().into_bytes())
    }

    fn get_results(&mut self, windows: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        let mut reader = Reader::new(windows);
        let count = reader.u32().map_err(layout_failure)?;
        let mut out = Vec::new();
        for _ in 0..count {
            reader.bytes().map_err(layout_failure)?;
            reader.i64().map_err(layout_failure)?;
            reader.i64().map_err(layout_failure)?;
            let total = parse_count(reader.bytes().map_err(layout_failure)?);
            put_bytes(&mut out, &total.to_le_bytes());
        }
        Ok(out)
    }
}
