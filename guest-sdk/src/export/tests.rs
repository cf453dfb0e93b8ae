//! The runtimes end to end, through the native test harness.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bindings::types::{FunctionKind, StateKind};
use crate::export::keyed::{
    BroadcastProcessFunction, CoProcessFunction, KeyedProcessFunction, ProcessWindowFunction,
};
use crate::testing::{
    AggregateHarness, BroadcastProcessHarness, CoProcessHarness, Input, KeyedHarness, Output,
    WindowHarness, Windows, run_filter, run_flat_map, run_key_selector, run_map,
};
use crate::{
    BroadcastContext, BroadcastMapState, CoProcess, Collector, Context, Filter, FlatMap, Json,
    KeySelector, KeyedBroadcastProcess, KeyedProcess, ListState, Map, MapState, OpenContext,
    ProcessWindow, SideOutput, StateVersion, TimeDomain, ValueState, Window, WindowContext,
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
    let descriptor = super::keyed::describe::<KeyedProcessFunction<Everything>>();
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
    let descriptor = super::keyed::describe::<KeyedProcessFunction<Configured>>();
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

/// Sums numbers given as text; the result names the window.
struct Sum;

impl crate::Aggregate for Sum {
    type In = String;
    type Acc = i64;
    type Out = String;

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

    fn get_result(&self, acc: &i64, window: &Window<'_>) -> String {
        let key = String::from_utf8_lossy(window.key);
        format!("{key}[{},{})={acc}", window.start, window.end)
    }
}

#[test]
fn aggregate_adds_merges_and_gets_results() {
    use super::aggregate;
    use crate::layout::{length_prefixed, put_bytes};
    use crate::testing::host::get_results_input;

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

    let request = get_results_input(&[
        (&b"a"[..], 0, 10, &b"112"[..]),
        (b"b", i64::MIN, i64::MAX, b"-3"),
    ]);
    let results = aggregate::get_results(&instance, request).unwrap();
    let results: Vec<_> = length_prefixed(&results).map(Result::unwrap).collect();
    assert_eq!(
        results,
        [
            &b"a[0,10)=112"[..],
            format!("b[{},{})=-3", i64::MIN, i64::MAX).as_bytes()
        ]
    );

    // The old layout (accumulators only) is refused, not misread.
    let mut old = 1u32.to_le_bytes().to_vec();
    put_bytes(&mut old, b"112");
    assert!(aggregate::get_results(&instance, old).is_err());
    assert_eq!(
        super::aggregate::describe::<Sum>().kind,
        FunctionKind::Aggregate
    );
}

fn record(
    key: &'static str,
    timestamp: i64,
    value: &'static str,
) -> (&'static [u8], i64, &'static [u8]) {
    (key.as_bytes(), timestamp, value.as_bytes())
}

#[test]
fn windowed_aggregates_fire_at_the_watermark_and_merge_sessions() {
    let mut harness = AggregateHarness::<Sum>::open("", Windows::Tumbling { size: 10 }).unwrap();
    let output = harness
        .process(&[
            record("a", 1, "1"),
            record("b", 12, "5"),
            record("a", 9, "2"),
        ])
        .unwrap();
    assert!(output.is_empty());
    let output = harness.advance_watermark(9).unwrap();
    assert_eq!(values(&output), ["a[0,10)=3"]);
    assert_eq!(output[0].timestamp, 9, "results take the window's end - 1");
    // Every window of the record already fired: late.
    let output = harness.process(&[record("a", 9, "7")]).unwrap();
    assert_eq!(values(&output), ["late>7"]);
    assert_eq!(output[0].timestamp, 9);
    let output = harness.advance_watermark(i64::MAX).unwrap();
    assert_eq!(values(&output), ["b[10,20)=5"]);

    // Sessions: 0 and 20 stay apart (gap 10) until 10 bridges them; a window
    // touching another ([20, 30) and [30, 40)) merges too.
    let mut harness = AggregateHarness::<Sum>::open("", Windows::Session { gap: 10 }).unwrap();
    let records = [
        record("a", 0, "1"),
        record("a", 20, "2"),
        record("b", 0, "100"),
        record("a", 30, "4"),
        record("a", 10, "8"),
        record("a", 100, "16"),
    ];
    let output = harness.run_with_watermarks(&records, 2, 50).unwrap();
    assert_eq!(
        values(&output),
        ["b[0,10)=100", "a[0,40)=15", "a[100,110)=16"]
    );
}

/// Collects each window's values, counting firings per key in value state;
/// windows with more than two elements also go to a side output.
struct CollectWindow {
    firings: ValueState<u64>,
    big: SideOutput<String>,
}

impl ProcessWindow for CollectWindow {
    type In = String;
    type Out = String;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(CollectWindow {
            firings: ctx.value_state("firings"),
            big: ctx.side_output("big"),
        })
    }

    fn process(
        &mut self,
        window: &Window<'_>,
        elements: Vec<(i64, String)>,
        ctx: &mut WindowContext<'_, String>,
    ) -> Result<(), String> {
        assert_eq!(ctx.key(), window.key);
        let firings = self.firings.value()?.unwrap_or(0) + 1;
        self.firings.update(&firings)?;
        let values: Vec<String> = elements
            .iter()
            .map(|(timestamp, value)| format!("{value}@{timestamp}"))
            .collect();
        let bounds = if window.is_count_window() {
            "count".to_owned()
        } else {
            format!("[{},{})", window.start, window.end)
        };
        let line = format!(
            "{}{bounds}#{firings}:{}",
            window.key_str()?,
            values.join(" ")
        );
        if elements.len() > 2 {
            ctx.emit_to(&self.big, line.clone());
        }
        ctx.emit(line);
        Ok(())
    }
}

#[test]
fn process_window_gets_every_element_with_the_window() {
    let descriptor = super::keyed::describe::<ProcessWindowFunction<CollectWindow>>();
    assert_eq!(descriptor.kind, FunctionKind::WindowProcess);
    assert_eq!(descriptor.states.len(), 1);
    assert_eq!(descriptor.side_outputs, ["big"]);

    let mut harness =
        WindowHarness::<CollectWindow>::open("", Windows::Tumbling { size: 10 }).unwrap();
    let records = [
        record("a", 3, "x"),
        record("b", 4, "y"),
        record("a", 1, "z"),
        record("a", 8, "w"),
        record("a", 15, "v"),
    ];
    let output = harness.run_with_watermarks(&records, 10, 0).unwrap();
    assert_eq!(
        values(&output),
        [
            "big>a[0,10)#1:x@3 z@1 w@8",
            "a[0,10)#1:x@3 z@1 w@8",
            "b[0,10)#1:y@4",
            "a[10,20)#2:v@15"
        ]
    );
    assert_eq!(output[0].timestamp, 9);
    assert_eq!(output[3].timestamp, 19);

    // Merged sessions keep arrival order.
    let mut harness =
        WindowHarness::<CollectWindow>::open("", Windows::Session { gap: 5 }).unwrap();
    let records = [
        record("a", 10, "1"),
        record("a", 0, "2"),
        record("a", 5, "3"),
    ];
    let output = harness.run_with_watermarks(&records, 1, 20).unwrap();
    assert_eq!(
        values(&output),
        ["big>a[0,15)#1:1@10 2@0 3@5", "a[0,15)#1:1@10 2@0 3@5"]
    );

    // Count windows fire at every second record; the rest never fires.
    let mut harness = WindowHarness::<CollectWindow>::open("", Windows::Count { size: 2 }).unwrap();
    let records = [
        record("a", 1, "1"),
        record("b", 2, "2"),
        record("a", 3, "3"),
        record("a", 4, "4"),
    ];
    let output = harness.run_with_watermarks(&records, 1, 0).unwrap();
    assert_eq!(values(&output), ["acount#1:1@1 3@3"]);
    assert_eq!(output[0].timestamp, 3, "the completing record's timestamp");
}

/// Joins the two inputs' texts per key; an unmatched left side is emitted
/// alone by an event-time timer 10 after it.
struct CoJoin {
    left: ValueState<(i64, String)>,
    right: ValueState<u64>,
    unmatched: SideOutput<String>,
}

impl CoProcess for CoJoin {
    type In1 = String;
    type In2 = Json<u64>;
    type Out = String;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(CoJoin {
            left: ctx.value_state("left"),
            right: ctx.value_state("right"),
            unmatched: ctx.side_output("unmatched"),
        })
    }

    fn process_element1(&mut self, input: String, ctx: &mut Context<String>) -> Result<(), String> {
        let timestamp = ctx.timestamp().unwrap_or_default();
        match self.right.value()? {
            Some(right) => {
                self.right.clear()?;
                ctx.emit(format!("{}:{input}+{right}", ctx.key_str()?));
            }
            None => {
                self.left.update(&(timestamp, input))?;
                ctx.register_event_time_timer(timestamp + 10);
            }
        }
        Ok(())
    }

    fn process_element2(
        &mut self,
        Json(input): Json<u64>,
        ctx: &mut Context<String>,
    ) -> Result<(), String> {
        match self.left.value()? {
            Some((timestamp, left)) => {
                self.left.clear()?;
                ctx.delete_event_time_timer(timestamp + 10);
                ctx.emit(format!("{}:{left}+{input}", ctx.key_str()?));
            }
            None => self.right.update(&input)?,
        }
        Ok(())
    }

    fn on_timer(&mut self, _: i64, _: TimeDomain, ctx: &mut Context<String>) -> Result<(), String> {
        if let Some((_, left)) = self.left.value()? {
            self.left.clear()?;
            ctx.emit_to(&self.unmatched, format!("{}:{left}", ctx.key_str()?));
        }
        Ok(())
    }
}

#[test]
fn co_process_routes_each_input_and_shares_state_and_timers() {
    let descriptor = super::keyed::describe::<CoProcessFunction<CoJoin>>();
    assert_eq!(descriptor.kind, FunctionKind::CoProcess);
    assert_eq!(descriptor.states.len(), 2);

    let mut harness = CoProcessHarness::<CoJoin>::open("").unwrap();
    let output = harness
        .process(&[
            (Input::First, b"a", 1, b"l1"),
            (Input::Second, b"b", 2, b"7"),
            (Input::Second, b"a", 3, b"8"),
            (Input::First, b"b", 4, b"l2"),
            (Input::First, b"c", 5, b"l3"),
        ])
        .unwrap();
    assert_eq!(values(&output), ["a:l1+8", "b:l2+7"]);
    // `a`'s timer was deleted by the join, `c`'s fires.
    let output = harness.advance_watermark(100).unwrap();
    assert_eq!(values(&output), ["unmatched>c:l3"]);
    assert_eq!(output[0].timestamp, 15);

    // The watermark of two inputs is the smaller one: input 2 holds it back.
    let mut harness = CoProcessHarness::<CoJoin>::open("").unwrap();
    let records = [
        (Input::First, &b"a"[..], 0, &b"l1"[..]),
        (Input::First, b"x", 100, b"l2"),
        (Input::Second, b"a", 50, b"1"),
    ];
    let output = harness.run_with_watermarks(&records, 1, 0).unwrap();
    assert_eq!(values(&output), ["a:l1+1", "unmatched>x:l2"]);
}

#[test]
fn each_function_kind_refuses_events_of_other_kinds() {
    use crate::testing::KeyedOperator;
    use crate::testing::keyed::PendingEvent;

    let second = [(&b"k"[..], PendingEvent::Record(Input::Second, 1, b"1"))];
    let mut keyed = KeyedHarness::<Everything>::open("").unwrap();
    let error = keyed.run_batch(&second).unwrap_err();
    assert!(
        error.contains("a keyed-process function got a record of a second input"),
        "{error}"
    );

    let window = [(
        &b"k"[..],
        PendingEvent::Window {
            start: 0,
            end: 10,
            elements: &[],
        },
    )];
    let mut co = CoProcessHarness::<CoJoin>::open("").unwrap();
    let error = co.run_batch(&window).unwrap_err();
    assert!(
        error.contains("a co-process function got a fired window"),
        "{error}"
    );

    let broadcast = [(&b""[..], PendingEvent::Record(Input::Broadcast, 1, b"9 1"))];
    let error = co.run_batch(&broadcast).unwrap_err();
    assert!(
        error.contains("a co-process function got a broadcast record"),
        "{error}"
    );
    let mut limits = BroadcastProcessHarness::<Limits>::open("").unwrap();
    let error = limits.run_batch(&second).unwrap_err();
    assert!(
        error.contains("a broadcast-process function got a record of a second input"),
        "{error}"
    );

    let mut windowed = KeyedOperator::<ProcessWindowFunction<CollectWindow>>::open("").unwrap();
    let error = windowed.run_batch(&second).unwrap_err();
    assert!(
        error.contains("a window-process function got a record"),
        "{error}"
    );
    let output = windowed.run_batch(&window).unwrap();
    assert_eq!(values(&output), ["k[0,10)#1:"]);
}

#[test]
fn keyed_jsonl_keys_and_times_like_a_job_file() {
    use crate::testing::{KeyedJsonl, interleavings, sorted_lines};

    let text = "{\"user\":\"u1\",\"ts\":5}\n\n{\"user\":7,\"ts\":-1}\n";
    let parsed = KeyedJsonl::parse(text, "user", "ts");
    let records = parsed.records();
    assert_eq!(records[0], (&b"u1"[..], 5, &br#"{"user":"u1","ts":5}"#[..]));
    assert_eq!((records[1].0, records[1].1), (&b"7"[..], -1));
    let second = parsed.input(Input::Second);
    assert_eq!(second[1].0, Input::Second);

    let first = parsed.input(Input::First);
    let orders: Vec<Vec<i64>> = interleavings(&first, &second)
        .into_iter()
        .map(|(_, records)| records.iter().map(|record| record.2).collect())
        .collect();
    assert_eq!(
        orders,
        [
            [5, -1, 5, -1],
            [5, -1, 5, -1],
            [5, 5, -1, -1],
            [-1, -1, 5, 5]
        ]
    );

    let outputs = [
        Output {
            side_output: None,
            timestamp: 0,
            value: b"b".to_vec(),
        },
        Output {
            side_output: Some("late".into()),
            timestamp: 0,
            value: b"x".to_vec(),
        },
        Output {
            side_output: None,
            timestamp: 0,
            value: b"a".to_vec(),
        },
    ];
    assert_eq!(sorted_lines(&outputs, None), ["a", "b"]);
    assert_eq!(sorted_lines(&outputs, Some("late")), ["x"]);
}

/// `"<sensor> <number>"`, the records of [`Limits`].
fn sensor_and_number(text: &str) -> Result<(i64, i64), String> {
    let parse = |part: Option<&str>| part.and_then(|part| part.parse().ok());
    let mut parts = text.split(' ');
    parse(parts.next())
        .zip(parse(parts.next()))
        .ok_or_else(|| format!("not `<sensor> <number>`: {text}"))
}

/// Readings `"<sensor> <value>"` keyed by sensor, checked against limits
/// `"<sensor> <limit>"` from the broadcast input (`"clear"` drops them all,
/// `"count"` tries keyed state). A negative reading tries to remove its
/// sensor's limit, which keyed records may not. Each reading's timer lists
/// every limit.
struct Limits {
    limits: BroadcastMapState<i64, i64>,
    readings: ValueState<u64>,
    no_limit: SideOutput<String>,
}

impl KeyedBroadcastProcess for Limits {
    type In = String;
    type Broadcast = String;
    type Out = String;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(Limits {
            limits: ctx.broadcast_map_state("limits"),
            readings: ctx.value_state("readings"),
            no_limit: ctx.side_output("no-limit"),
        })
    }

    fn process_element(&mut self, input: String, ctx: &mut Context<String>) -> Result<(), String> {
        let (sensor, value) = sensor_and_number(&input)?;
        let readings = self.readings.value()?.unwrap_or(0) + 1;
        self.readings.update(&readings)?;
        if value < 0 {
            self.limits.remove(&sensor)?;
        }
        match self.limits.get(&sensor)? {
            Some(limit) if value > limit => {
                ctx.emit(format!("{sensor}:{value}>{limit}#{readings}"))
            }
            Some(_) => {}
            None => ctx.emit_to(&self.no_limit, input),
        }
        ctx.register_event_time_timer(ctx.timestamp().unwrap_or_default() + 10);
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        input: String,
        ctx: &mut BroadcastContext<String>,
    ) -> Result<(), String> {
        match input.as_str() {
            "clear" => {
                self.limits.clear()?;
                ctx.emit_to(&self.no_limit, "cleared".into());
            }
            "count" => {
                self.readings.value()?;
            }
            _ => {
                let (sensor, limit) = sensor_and_number(&input)?;
                let verb = if self.limits.contains(&sensor)? {
                    "changed"
                } else {
                    "set"
                };
                self.limits.put(&sensor, &limit)?;
                ctx.emit(format!("{verb} {sensor}={limit}"));
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, _: i64, _: TimeDomain, ctx: &mut Context<String>) -> Result<(), String> {
        let limits: Vec<String> = (self.limits.entries()?.iter())
            .map(|(sensor, limit)| format!("{sensor}={limit}"))
            .collect();
        ctx.emit(format!("{}: {}", ctx.key_str()?, limits.join(",")));
        Ok(())
    }
}

#[test]
fn broadcast_records_write_broadcast_state_that_keyed_records_read() {
    let descriptor = super::keyed::describe::<BroadcastProcessFunction<Limits>>();
    assert_eq!(descriptor.kind, FunctionKind::BroadcastProcess);
    let kinds: Vec<_> = descriptor.states.iter().map(|state| state.kind).collect();
    assert_eq!(kinds, [StateKind::BroadcastMap, StateKind::Value]);
    assert_eq!(descriptor.side_outputs, ["no-limit"]);

    let mut harness = BroadcastProcessHarness::<Limits>::open("").unwrap();
    let output = harness
        .broadcast(&[(1, b"9 100"), (2, b"10 50"), (3, b"9 80")])
        .unwrap();
    assert_eq!(values(&output), ["set 9=100", "set 10=50", "changed 9=80"]);
    let timestamps: Vec<_> = output.iter().map(|output| output.timestamp).collect();
    assert_eq!(
        timestamps,
        [1, 2, 3],
        "a broadcast record's output takes its time"
    );

    let output = harness
        .process(&[(b"9", 5, b"9 120"), (b"10", 6, b"10 20"), (b"7", 7, b"7 1")])
        .unwrap();
    assert_eq!(values(&output), ["9:120>80#1", "no-limit>7 1"]);

    // Entries come ordered by the JSON bytes of their keys, not numerically.
    harness.broadcast(&[(8, b"-1 5"), (9, b"-2 6")]).unwrap();
    let output = harness.advance_watermark(15).unwrap();
    assert_eq!(values(&output), ["9: -1=5,-2=6,10=50,9=80"]);

    let output = harness.broadcast(&[(20, b"clear")]).unwrap();
    assert_eq!(values(&output), ["no-limit>cleared"]);
    let output = harness.advance_watermark(i64::MAX).unwrap();
    assert_eq!(values(&output), ["10: ", "7: "]);
}

#[test]
fn keyed_records_cannot_change_broadcast_state() {
    let mut harness = BroadcastProcessHarness::<Limits>::open("").unwrap();
    harness.broadcast(&[(1, b"9 100")]).unwrap();
    let error = harness.process(&[(b"9", 5, b"9 -1")]).unwrap_err();
    assert!(
        error.starts_with(
            "broadcast state `limits` is read-only while processing keyed records and timers"
        ),
        "{error}"
    );
    let output = harness.process(&[(b"9", 6, b"9 101")]).unwrap();
    assert_eq!(values(&output), ["9:101>100#1"], "the limit is still there");
}

#[test]
fn broadcast_records_have_no_key() {
    let mut harness = BroadcastProcessHarness::<Limits>::open("").unwrap();
    let error = harness.broadcast(&[(1, b"count")]).unwrap_err();
    assert!(
        error.contains("state `readings` is keyed, but a broadcast record has no key"),
        "{error}"
    );

    // Mixed input goes to the function in separate batches.
    let records = [
        (Input::First, &b"9"[..], 5, &b"9 120"[..]),
        (Input::Broadcast, b"ignored", 1, b"9 100"),
        (Input::First, b"9", 6, b"9 130"),
    ];
    let mut harness = BroadcastProcessHarness::<Limits>::open("").unwrap();
    let output = harness.run_with_watermarks(&records, 10, 0).unwrap();
    assert_eq!(
        values(&output),
        [
            "no-limit>9 120",
            "set 9=100",
            "9:130>100#2",
            "9: 9=100",
            "9: 9=100"
        ]
    );
}

/// A keyed process function cannot have broadcast state: nothing would fill it.
struct BroadcastStateWithoutBroadcast;

impl KeyedProcess for BroadcastStateWithoutBroadcast {
    type In = Vec<u8>;
    type Out = Vec<u8>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        ctx.broadcast_map_state::<String, String>("rules");
        Ok(BroadcastStateWithoutBroadcast)
    }

    fn process(&mut self, _: Vec<u8>, _: &mut Context<Vec<u8>>) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn only_broadcast_process_functions_have_broadcast_state() {
    let Err(error) = KeyedHarness::<BroadcastStateWithoutBroadcast>::open("") else {
        panic!("opened with broadcast state");
    };
    assert!(
        error.contains("broadcast state `rules` needs a broadcast-process function"),
        "{error}"
    );
}

/// Version 2 of a count: version 1 stored a bare number.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CountV2 {
    count: u64,
    last_ts: Option<i64>,
}

/// States of every kind at a newer version, with migrations from older ones.
struct Migrating {
    _count: ValueState<CountV2>,
    _readings: ListState<Reading>,
    _by_sensor: MapState<String, CountV2>,
}

impl CoProcess for Migrating {
    type In1 = Vec<u8>;
    type In2 = Vec<u8>;
    type Out = Vec<u8>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count_from_number = |count: u64| {
            Ok(CountV2 {
                count,
                last_ts: None,
            })
        };
        let config: Option<String> = ctx.config_json_or_default()?;
        let readings = StateVersion::new(3)
            .migrate_from(1, |value: i64| {
                Ok(Reading {
                    sensor: "unknown".into(),
                    value,
                })
            })
            .migrate_from(2, |(sensor, value): (String, i64)| {
                if sensor.is_empty() {
                    panic!("a version-2 reading without a sensor");
                }
                Ok(Reading { sensor, value })
            });
        let mut by_sensor = StateVersion::new(2).migrate_from(1, count_from_number);
        if config.as_deref() == Some("register twice") {
            by_sensor = by_sensor.migrate_from(1, count_from_number);
        }
        Ok(Migrating {
            _count: ctx.value_state_versioned(
                "count",
                StateVersion::new(2).migrate_from(1, count_from_number),
            ),
            _readings: ctx.list_state_versioned("readings", readings),
            _by_sensor: ctx.map_state_versioned("by-sensor", by_sensor),
        })
    }

    fn process_element1(&mut self, _: Vec<u8>, _: &mut Context<Vec<u8>>) -> Result<(), String> {
        Ok(())
    }

    fn process_element2(&mut self, _: Vec<u8>, _: &mut Context<Vec<u8>>) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn describe_reports_state_versions_and_what_they_migrate_from() {
    let descriptor = super::keyed::describe::<CoProcessFunction<Migrating>>();
    let versions: Vec<_> = descriptor
        .states
        .iter()
        .map(|state| {
            (
                state.name.as_str(),
                state.version,
                state.migrates_from.clone(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("count", 2, vec![1]),
            ("readings", 3, vec![1, 2]),
            ("by-sensor", 2, vec![1]),
        ]
    );
    let plain = super::keyed::describe::<KeyedProcessFunction<Everything>>();
    assert!(
        plain
            .states
            .iter()
            .all(|state| state.version == 1 && state.migrates_from.is_empty())
    );
}

#[test]
fn migrate_state_turns_a_value_a_list_element_and_a_map_value_into_the_new_version() {
    let harness = CoProcessHarness::<Migrating>::open("").unwrap();
    let count = harness.migrate_state("count", 1, b"41").unwrap();
    assert_eq!(count, br#"{"count":41,"last_ts":null}"#);

    let element = harness.migrate_state("readings", 1, b"7").unwrap();
    assert_eq!(element, br#"{"sensor":"unknown","value":7}"#);
    let element = harness
        .migrate_state("readings", 2, br#"["s1", 8]"#)
        .unwrap();
    assert_eq!(element, br#"{"sensor":"s1","value":8}"#);

    let value = harness.migrate_state("by-sensor", 1, b"3").unwrap();
    let value: CountV2 = serde_json::from_slice(&value).unwrap();
    assert_eq!(
        value,
        CountV2 {
            count: 3,
            last_ts: None
        }
    );
}

#[test]
fn migrate_state_refuses_unknown_states_and_versions() {
    let harness = CoProcessHarness::<Migrating>::open("").unwrap();
    assert_eq!(
        harness.migrate_state("count", 3, b"41").unwrap_err(),
        "cannot migrate state `count` from version 3: it is at version 2 and migrates from version 1"
    );
    assert_eq!(
        harness.migrate_state("tally", 1, b"41").unwrap_err(),
        "cannot migrate state `tally` from version 1: this function declares no such state \
         (its states are `by-sensor`, `count`, `readings`)"
    );
    let error = harness.migrate_state("count", 1, b"[1]").unwrap_err();
    assert!(
        error.starts_with("state `count`: a stored value of version 1 is not JSON of type `u64`"),
        "{error}"
    );

    let unopened = super::Instance::<CoProcessFunction<Migrating>>::new();
    let error =
        super::keyed::migrate_state(&unopened, "count".into(), 1, b"41".to_vec()).unwrap_err();
    assert_eq!(error, "the function was called before `init`");
}

#[test]
#[should_panic(expected = "a version-2 reading without a sensor")]
fn a_panic_in_a_migration_is_a_panic() {
    let harness = CoProcessHarness::<Migrating>::open("").unwrap();
    let _ = harness.migrate_state("readings", 2, br#"["", 8]"#);
}

#[test]
fn registering_a_migration_twice_fails_open() {
    let Err(error) = CoProcessHarness::<Migrating>::open(r#""register twice""#) else {
        panic!("opened with two migrations from one version");
    };
    assert_eq!(
        error,
        "state `by-sensor` registers two migrations from version 1"
    );
}
