//! The runtimes end to end, through the native test harness.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bindings::types::{FunctionKind, StateKind};
use crate::testing::{KeyedHarness, Output, run_filter, run_flat_map, run_key_selector, run_map};
use crate::{
    Collector, Context, Filter, FlatMap, Json, KeySelector, KeyedProcess, ListState, Map, MapState,
    OpenContext, SideOutput, TimeDomain, ValueState,
};

#[derive(Debug, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    value: i64,
}

struct Double;

impl Map for Double {
    type In = Json<Reading>;
    type Out = Json<Reading>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Double)
    }

    fn map(&mut self, Json(mut reading): Json<Reading>) -> Result<Self::Out, String> {
        reading.value *= 2;
        Ok(Json(reading))
    }
}

#[test]
fn map_decodes_calls_and_encodes() {
    let output = run_map::<Double>("", &[br#"{"sensor":"a","value":2}"#]).unwrap();
    assert_eq!(output, [br#"{"sensor":"a","value":4}"#.to_vec()]);
}

#[test]
fn undecodable_input_is_an_error_not_a_panic() {
    let error = run_map::<Double>("", &[br#"{"sensor":"a"}"#]).unwrap_err();
    assert!(
        error.contains("not JSON of type `eddy_sdk::export::tests::Reading`"),
        "{error}"
    );
    assert!(error.contains("missing field `value`"), "{error}");
}

struct Positive {
    min: i64,
}

impl Filter for Positive {
    type In = Json<Reading>;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        Ok(Positive {
            min: ctx.config_json_or_default()?,
        })
    }

    fn filter(&mut self, Json(reading): Json<Reading>) -> Result<bool, String> {
        Ok(reading.value > self.min)
    }
}

#[test]
fn filter_forwards_kept_records_unchanged() {
    let inputs: [&[u8]; 3] = [
        br#"{"sensor":"a", "value":1}"#,
        br#"{"sensor":"b","value":-1}"#,
        br#"{"value":5,"sensor":"c"}"#,
    ];
    assert_eq!(
        run_filter::<Positive>("", &inputs).unwrap(),
        [inputs[0], inputs[2]]
    );
    assert_eq!(run_filter::<Positive>("2", &inputs).unwrap(), [inputs[2]]);
    assert!(run_filter::<Positive>("x", &inputs).is_err());
}

struct Chars;

impl FlatMap for Chars {
    type In = String;
    type Out = String;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Chars)
    }

    fn flat_map(&mut self, input: String, out: &mut Collector<String>) -> Result<(), String> {
        input.chars().for_each(|c| out.emit(c.to_string()));
        Ok(())
    }
}

#[test]
fn flat_map_emits_any_number() {
    let output = run_flat_map::<Chars>("", &[b"ab", b"", b"c"]).unwrap();
    assert_eq!(output, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

struct BySensor;

impl KeySelector for BySensor {
    type In = Json<Reading>;
    type Key = String;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(BySensor)
    }

    fn key(&mut self, Json(reading): Json<Reading>) -> Result<String, String> {
        Ok(reading.sensor)
    }
}

#[test]
fn key_selector_emits_the_key() {
    let output = run_key_selector::<BySensor>("", &[br#"{"sensor":"s1","value":0}"#]).unwrap();
    assert_eq!(output, [b"s1".to_vec()]);
}

/// Exercises every kind of state, timers and a side output.
struct Everything {
    count: ValueState<u64>,
    seen: ListState<i64>,
    per_value: MapState<i64, u32>,
    late: SideOutput<Vec<u8>>,
}

impl KeyedProcess for Everything {
    type In = Json<Reading>;
    type Out = String;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Everything {
            count: ctx.value_state("count"),
            seen: ctx.list_state("seen"),
            per_value: ctx.map_state("per-value"),
            late: ctx.side_output("late"),
        })
    }

    fn process(
        &mut self,
        Json(reading): Json<Reading>,
        ctx: &mut Context<String>,
    ) -> Result<(), String> {
        let timestamp = ctx.timestamp().expect("records have timestamps");
        if timestamp <= ctx.current_watermark() {
            ctx.emit_to(&self.late, ctx.key().to_vec());
            return Ok(());
        }
        let count = self.count.value()?.unwrap_or(0) + 1;
        self.count.update(&count)?;
        self.seen.add(&reading.value)?;
        let same = self.per_value.get(&reading.value)?.unwrap_or(0) + 1;
        self.per_value.put(&reading.value, &same)?;
        ctx.register_event_time_timer(timestamp + 10);
        ctx.emit(format!("{}:{}#{count}", ctx.key_str()?, reading.value));
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut Context<String>,
    ) -> Result<(), String> {
        assert_eq!(domain, TimeDomain::EventTime);
        assert_eq!(ctx.timestamp(), Some(timestamp));
        let seen = self.seen.get()?;
        let entries = self.per_value.entries()?;
        ctx.emit(format!(
            "{}@{timestamp}:{seen:?}:{entries:?}",
            ctx.key_str()?
        ));
        self.seen.clear()?;
        self.per_value.clear()?;
        self.count.clear()?;
        Ok(())
    }
}

fn reading(sensor: &str, value: i64) -> Vec<u8> {
    serde_json::to_vec(&Reading {
        sensor: sensor.into(),
        value,
    })
    .unwrap()
}

fn values(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|output| {
            let value = String::from_utf8(output.value.clone()).unwrap();
            match &output.side_output {
                Some(name) => format!("{name}>{value}"),
                None => value,
            }
        })
        .collect()
}

#[test]
fn keyed_process_with_state_timers_and_side_outputs() {
    let mut harness = KeyedHarness::<Everything>::open("").unwrap();
    let (a1, a2, b1) = (reading("a", 1), reading("a", 2), reading("b", 1));
    let output = harness
        .process(&[
            (b"a", 100, &a1),
            (b"b", 101, &b1),
            (b"a", 102, &a2),
            (b"a", 103, &a2),
        ])
        .unwrap();
    assert_eq!(values(&output), ["a:1#1", "b:1#1", "a:2#2", "a:2#3"]);
    assert_eq!(output[2].timestamp, 102);

    // Value state survives the batch (it went back to the harness and returned).
    let output = harness.process(&[(b"b", 104, &b1)]).unwrap();
    assert_eq!(values(&output), ["b:1#2"]);

    // Timers at 110..114 fire in timestamp order, each key's once per timestamp.
    let output = harness.advance_watermark(112).unwrap();
    assert_eq!(
        values(&output),
        [
            "a@110:[1, 2, 2]:[(1, 1), (2, 2)]",
            "b@111:[1, 1]:[(1, 2)]",
            "a@112:[]:[]"
        ]
    );
    assert_eq!(output[1].timestamp, 111);

    // The timer cleared `count`; a late record goes to the side output.
    let output = harness
        .process(&[(b"a", 112, &a1), (b"a", 120, &a1)])
        .unwrap();
    assert_eq!(values(&output), ["late>a", "a:1#1"]);
}

#[test]
fn describe_lists_states_and_side_outputs_in_registration_order() {
    let descriptor = super::keyed::describe::<Everything>();
    assert_eq!(descriptor.kind, FunctionKind::KeyedProcess);
    let states: Vec<_> = descriptor
        .states
        .iter()
        .map(|state| (state.name.as_str(), state.kind))
        .collect();
    assert_eq!(
        states,
        [
            ("count", StateKind::Value),
            ("seen", StateKind::List),
            ("per-value", StateKind::Map)
        ]
    );
    assert_eq!(descriptor.side_outputs, ["late"]);

    let descriptor = super::transform::describe::<super::transform::MapFunction<Double>>();
    assert_eq!(descriptor.kind, FunctionKind::Map);
    assert!(descriptor.states.is_empty());
}

/// Needs a config, but registers its state first.
struct Configured {
    _total: ValueState<u64>,
}

impl KeyedProcess for Configured {
    type In = Vec<u8>;
    type Out = Vec<u8>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let total = ctx.value_state("total");
        let _: u64 = ctx.config_json()?;
        Ok(Configured { _total: total })
    }

    fn process(&mut self, _: Vec<u8>, _: &mut Context<Vec<u8>>) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn describe_survives_an_open_that_needs_config() {
    let descriptor = super::keyed::describe::<Configured>();
    assert_eq!(descriptor.states.len(), 1);
    let error = KeyedHarness::<Configured>::open("").err().unwrap();
    assert!(error.contains("needs a JSON config"), "{error}");
}

/// Emits something JSON cannot encode.
struct Unencodable;

impl KeyedProcess for Unencodable {
    type In = Vec<u8>;
    type Out = Json<BTreeMap<(u8, u8), u8>>;

    fn open(_: &mut OpenContext) -> Result<Self, String> {
        Ok(Unencodable)
    }

    fn process(&mut self, _: Vec<u8>, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        ctx.emit(Json(BTreeMap::from([((1, 2), 3)])));
        Ok(())
    }
}

#[test]
fn an_emit_that_cannot_encode_fails_the_event() {
    let mut harness = KeyedHarness::<Unencodable>::open("").unwrap();
    let error = harness.process(&[(b"k", 1, b"")]).unwrap_err();
    assert!(error.contains("cannot encode"), "{error}");
}

/// Sums numbers given as text.
struct Sum;

impl crate::Aggregate for Sum {
    type In = String;
    type Acc = i64;
    type Out = Json<i64>;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Sum)
    }

    fn create_accumulator(&self) -> i64 {
        0
    }

    fn add(&self, acc: &mut i64, input: String) {
        *acc += input.parse::<i64>().unwrap_or(0);
    }

    fn merge(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    fn get_result(&self, acc: &i64) -> Json<i64> {
        Json(*acc)
    }
}

#[test]
fn aggregate_adds_merges_and_gets_results() {
    use super::aggregate;
    use crate::layout::{counted_list, length_prefixed, put_bytes};

    let instance = super::Instance::<Sum>::new();
    aggregate::init(&instance, String::new()).unwrap();
    let fresh = aggregate::create_accumulator(&instance);
    assert_eq!(fresh, b"0");

    let mut groups = 2u32.to_le_bytes().to_vec();
    put_bytes(&mut groups, &fresh);
    groups.extend_from_slice(&2u32.to_le_bytes());
    for (timestamp, value) in [(1i64, "5"), (2, "7")] {
        groups.extend_from_slice(&timestamp.to_le_bytes());
        put_bytes(&mut groups, value.as_bytes());
    }
    put_bytes(&mut groups, b"100");
    groups.extend_from_slice(&0u32.to_le_bytes());
    let accumulators = aggregate::add_batch(&instance, groups).unwrap();
    let accumulators: Vec<_> = length_prefixed(&accumulators).map(Result::unwrap).collect();
    assert_eq!(accumulators, [&b"12"[..], b"100"]);

    let merged = aggregate::merge(&instance, b"12".to_vec(), b"100".to_vec()).unwrap();
    assert_eq!(merged, b"112");
    assert!(
        aggregate::merge(&instance, b"x".to_vec(), b"1".to_vec())
            .unwrap_err()
            .contains("accumulator is not JSON of type `i64`")
    );

    let mut request = 2u32.to_le_bytes().to_vec();
    put_bytes(&mut request, b"112");
    put_bytes(&mut request, b"-3");
    assert_eq!(counted_list(&request).unwrap().len(), 2);
    let results = aggregate::get_results(&instance, request).unwrap();
    let results: Vec<_> = length_prefixed(&results).map(Result::unwrap).collect();
    assert_eq!(results, [&b"112"[..], b"-3"]);
}
