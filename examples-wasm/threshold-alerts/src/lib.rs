//! Purchases checked against thresholds per category that change over time
//! (broadcast-process, keyed by `user`; rules are the broadcast input, both
//! inputs with event time `ts`): Flink's broadcast state pattern, where
//! every subtask gets every rule and applies it to the keys it owns.
//!
//! Events `{"ts","user","category","amount"}` are checked against rules
//! `{"ts","category","max"}`. A rule takes effect at its `ts` and replaces
//! the earlier rules of its category from then on. An event whose `amount`
//! exceeds the `max` of the rule of its category in force at the event's
//! `ts` becomes an alert `{"user","category","amount","ts","max","rule_ts"}`;
//! an event with no rule in force goes to side output `unmatched` as it is.
//!
//! The answer must not depend on how the two inputs interleave, so neither
//! side decides anything on arrival. Rules are kept in broadcast state, every
//! version under `[category, ts]` (every subtask stores the same versions,
//! since only broadcast records change that state). An event waits in keyed
//! state for an event-time timer at its own `ts`; the timer fires once the
//! watermark of both inputs has passed that time, so every rule up to then
//! has arrived (the rules source's watermark bounds how late a rule may be),
//! and the event is checked against the latest version at or before its
//! `ts`, out-of-order rules included.

use eddy_sdk::{
    BroadcastContext, BroadcastMapState, Context, Json, KeyedBroadcastProcess, MapState,
    OpenContext, SideOutput, TimeDomain,
};
use serde::{Deserialize, Serialize};

/// A purchase; the field order is that of the input, so an unmatched event
/// is written back as it came.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    ts: i64,
    user: String,
    category: String,
    amount: i64,
}

/// The threshold of a category from `ts` on.
#[derive(Debug, Deserialize)]
struct Rule {
    ts: i64,
    category: String,
    max: i64,
}

/// The main output: an event above the threshold in force at its time.
#[derive(Serialize)]
struct Alert {
    user: String,
    category: String,
    amount: i64,
    ts: i64,
    max: i64,
    rule_ts: i64,
}

/// Rule versions as broadcast state stores them: `(category, ts)` → `max`.
type Versions = Vec<((String, i64), i64)>;

/// `(ts, max)` of the rule of `category` in force at `time`: the version
/// with the latest `ts` at or before it. Map entries come ordered by their
/// JSON bytes, which is not numeric order, so every version is looked at.
fn rule_in_force(versions: &Versions, category: &str, time: i64) -> Option<(i64, i64)> {
    versions
        .iter()
        .filter(|((rule_category, ts), _)| rule_category == category && *ts <= time)
        .map(|((_, ts), max)| (*ts, *max))
        .max_by_key(|(ts, _)| *ts)
}

struct ThresholdAlerts {
    /// Every rule version, `[category, ts]` → `max`. Versions are never
    /// dropped: which ones a subtask still needs depends on its watermark,
    /// and broadcast state must change alike on every subtask.
    rules: BroadcastMapState<(String, i64), i64>,
    /// The current user's events waiting for their timer, by `ts`
    /// (arrival order within one time).
    pending: MapState<i64, Vec<Event>>,
    unmatched: SideOutput<Json<Event>>,
}

impl KeyedBroadcastProcess for ThresholdAlerts {
    type In = Json<Event>;
    type Broadcast = Json<Rule>;
    type Out = Json<Alert>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(ThresholdAlerts {
            rules: ctx.broadcast_map_state("rules"),
            pending: ctx.map_state("pending"),
            unmatched: ctx.side_output("unmatched"),
        })
    }

    fn process_element(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let time = event.ts;
        let mut waiting = self.pending.get(&time)?.unwrap_or_default();
        waiting.push(event);
        self.pending.put(&time, &waiting)?;
        ctx.register_event_time_timer(time);
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        Json(rule): Json<Rule>,
        _: &mut BroadcastContext<Self::Out>,
    ) -> Result<(), String> {
        self.rules.put(&(rule.category, rule.ts), &rule.max)
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let Some(events) = self.pending.get(&timestamp)? else {
            return Ok(());
        };
        self.pending.remove(&timestamp)?;
        let versions = self.rules.entries()?;
        for event in events {
            match rule_in_force(&versions, &event.category, event.ts) {
                None => ctx.emit_to(&self.unmatched, Json(event)),
                Some((rule_ts, max)) if event.amount > max => ctx.emit(Json(Alert {
                    user: event.user,
                    category: event.category,
                    amount: event.amount,
                    ts: event.ts,
                    max,
                    rule_ts,
                })),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

eddy_sdk::export_broadcast_process!(ThresholdAlerts);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{
        BroadcastProcessHarness, CoRecord, Input, KeyedJsonl, Output, interleavings, sorted_lines,
    };

    use super::ThresholdAlerts;

    const EVENTS: &str = include_str!("../data/events.jsonl");
    const RULES: &str = include_str!("../data/rules.jsonl");

    fn expected(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    /// Panics unless `output` holds exactly the expected alerts and unmatched events.
    #[track_caller]
    fn assert_expected(output: &[Output], case: &str) {
        assert_eq!(
            sorted_lines(output, None),
            expected(include_str!("../data/expected-alerts.jsonl")),
            "{case}"
        );
        assert_eq!(
            sorted_lines(output, Some("unmatched")),
            expected(include_str!("../data/expected-unmatched.jsonl")),
            "{case}"
        );
        assert_eq!(output.len(), 112 + 47, "{case}");
    }

    #[test]
    fn sample_gives_the_expected_outputs_however_the_inputs_interleave() {
        let events = KeyedJsonl::parse(EVENTS, "user", "ts");
        let rules = KeyedJsonl::parse(RULES, "category", "ts");
        let (events, rules) = (events.input(Input::First), rules.input(Input::Broadcast));
        for (name, records) in interleavings(&events, &rules) {
            for batch_size in [1, 7, 100] {
                let mut harness = BroadcastProcessHarness::<ThresholdAlerts>::open("").unwrap();
                let output = harness
                    .run_with_watermarks(&records, batch_size, 5_000)
                    .unwrap();
                assert_expected(&output, &format!("{name}, batch size {batch_size}"));
            }
        }
    }

    /// Users spread over `parallelism` subtasks, each with every rule, give
    /// the same outputs together.
    #[test]
    fn sample_gives_the_expected_outputs_at_any_parallelism() {
        let events = KeyedJsonl::parse(EVENTS, "user", "ts");
        let rules = KeyedJsonl::parse(RULES, "category", "ts");
        let (events, rules) = (events.input(Input::First), rules.input(Input::Broadcast));
        for parallelism in [2, 3, 4] {
            let mut output = Vec::new();
            for subtask in 0..parallelism {
                let owned: Vec<CoRecord> = events
                    .iter()
                    .filter(|record| {
                        record
                            .1
                            .iter()
                            .map(|&byte| usize::from(byte))
                            .sum::<usize>()
                            % parallelism
                            == subtask
                    })
                    .copied()
                    .collect();
                let mut records = [owned, rules.clone()].concat();
                records.sort_by_key(|record| record.2);
                let mut harness = BroadcastProcessHarness::<ThresholdAlerts>::open("").unwrap();
                output.extend(harness.run_with_watermarks(&records, 10, 5_000).unwrap());
            }
            assert_expected(&output, &format!("parallelism {parallelism}"));
        }
    }

    #[test]
    fn an_event_gets_the_rule_in_force_at_its_time_whenever_the_rule_arrives() {
        let event = |ts: i64, amount: i64| {
            format!(r#"{{"ts":{ts},"user":"u","category":"books","amount":{amount}}}"#)
        };
        let (before, at_rule, after) = (event(5, 500), event(10, 150), event(20, 150));
        let mut harness = BroadcastProcessHarness::<ThresholdAlerts>::open("").unwrap();
        harness
            .broadcast(&[(10, br#"{"ts":10,"category":"books","max":100}"#)])
            .unwrap();
        let output = harness
            .process(&[
                (b"u", 20, after.as_bytes()),
                (b"u", 10, at_rule.as_bytes()),
                (b"u", 5, before.as_bytes()),
            ])
            .unwrap();
        assert!(output.is_empty(), "events wait for the watermark");
        // A rule that arrives after the event, with an earlier time, applies to it.
        harness
            .broadcast(&[(15, br#"{"ts":15,"category":"books","max":200}"#)])
            .unwrap();
        let output = harness.advance_watermark(20).unwrap();
        assert_eq!(
            sorted_lines(&output, None),
            [r#"{"user":"u","category":"books","amount":150,"ts":10,"max":100,"rule_ts":10}"#]
        );
        assert_eq!(sorted_lines(&output, Some("unmatched")), [before]);
        let timestamps: Vec<i64> = output.iter().map(|output| output.timestamp).collect();
        assert_eq!(timestamps, [5, 10], "emitted at the events' times");
    }
}
