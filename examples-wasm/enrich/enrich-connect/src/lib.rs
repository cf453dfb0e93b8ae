//! Enrichment from a second stream (co-process, keyed by `user`): events
//! `{"user", "action", "ts"}` (first input) get the user's profile
//! `{"user", "name", "tier", "ts"}` (second input, updated over time) as it
//! was at the event's time: the latest profile version with `ts` at or
//! before the event's, or `null` if there is none.
//!
//! Event-time semantics make the result independent of how the two streams
//! interleave (Flink's event-time temporal join): profile versions are kept
//! in map state by timestamp, and each event waits in map state for an
//! event-time timer at its own timestamp. When the timer fires, the
//! watermark guarantees that every profile version up to that time has
//! arrived; the events of that timestamp are emitted, and versions older
//! than the one they used are dropped, since no later event can need them.

use eddy_sdk::{CoProcess, Context, Json, MapState, OpenContext, TimeDomain};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    user: String,
    action: String,
    ts: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    user: String,
    name: String,
    tier: String,
    ts: i64,
}

/// An event with the profile as of its time.
#[derive(Serialize)]
struct Enriched {
    user: String,
    action: String,
    ts: i64,
    profile: Option<Profile>,
}

struct EnrichConnect {
    /// Profile versions by their event time.
    profiles: MapState<i64, Profile>,
    /// Events waiting for their timer, by event time (arrival order within one time).
    pending: MapState<i64, Vec<Event>>,
}

/// The record's event time, which this function cannot work without.
fn event_time<Out: eddy_sdk::Encode>(ctx: &Context<Out>) -> Result<i64, String> {
    ctx.timestamp()
        .ok_or_else(|| "records need event time: set `timestamp` on both sources".to_owned())
}

impl CoProcess for EnrichConnect {
    type In1 = Json<Event>;
    type In2 = Json<Profile>;
    type Out = Json<Enriched>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(EnrichConnect {
            profiles: ctx.map_state("profiles"),
            pending: ctx.map_state("pending"),
        })
    }

    fn process_element1(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let time = event_time(ctx)?;
        let mut waiting = self.pending.get(&time)?.unwrap_or_default();
        waiting.push(event);
        self.pending.put(&time, &waiting)?;
        ctx.register_event_time_timer(time);
        Ok(())
    }

    fn process_element2(
        &mut self,
        Json(profile): Json<Profile>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        self.profiles.put(&event_time(ctx)?, &profile)
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
        // Map entries are ordered by their JSON bytes, not numerically, so
        // look at every version.
        let versions = self.profiles.entries()?;
        let current = versions
            .iter()
            .filter(|(time, _)| *time <= timestamp)
            .max_by_key(|(time, _)| *time);
        if let Some((current_time, _)) = current {
            for (time, _) in &versions {
                if time < current_time {
                    self.profiles.remove(time)?;
                }
            }
        }
        let profile = current.map(|(_, profile)| profile);
        for event in events {
            ctx.emit(Json(Enriched {
                user: event.user,
                action: event.action,
                ts: event.ts,
                profile: profile.cloned(),
            }));
        }
        Ok(())
    }
}

eddy_sdk::export_co_process!(EnrichConnect);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{CoProcessHarness, Input, KeyedJsonl, interleavings, sorted_lines};

    #[test]
    fn sample_gives_the_expected_output_however_the_inputs_interleave() {
        let events = KeyedJsonl::parse(include_str!("../../data/events.jsonl"), "user", "ts");
        let profiles = KeyedJsonl::parse(include_str!("../../data/profiles.jsonl"), "user", "ts");
        let (events, profiles) = (events.input(Input::First), profiles.input(Input::Second));
        let expected: Vec<&str> = include_str!("../../data/expected-connect.jsonl")
            .lines()
            .collect();
        for (name, records) in interleavings(&events, &profiles) {
            for batch_size in [1, 4, 100] {
                let mut harness = CoProcessHarness::<super::EnrichConnect>::open("").unwrap();
                let output = harness
                    .run_with_watermarks(&records, batch_size, 5_000)
                    .unwrap();
                assert_eq!(
                    sorted_lines(&output, None),
                    expected,
                    "{name}, batch size {batch_size}"
                );
            }
        }
    }

    #[test]
    fn events_wait_for_the_profile_of_their_time() {
        let mut harness = CoProcessHarness::<super::EnrichConnect>::open("").unwrap();
        let output = harness
            .process(&[
                (
                    Input::First,
                    b"u",
                    20,
                    br#"{"user":"u","action":"a","ts":20}"#,
                ),
                (
                    Input::First,
                    b"u",
                    5,
                    br#"{"user":"u","action":"b","ts":5}"#,
                ),
                (
                    Input::Second,
                    b"u",
                    10,
                    br#"{"user":"u","name":"N","tier":"t1","ts":10}"#,
                ),
                (
                    Input::Second,
                    b"u",
                    30,
                    br#"{"user":"u","name":"N","tier":"t2","ts":30}"#,
                ),
            ])
            .unwrap();
        assert!(output.is_empty(), "events wait for the watermark");
        let output = harness.advance_watermark(20).unwrap();
        assert_eq!(
            sorted_lines(&output, None),
            [
                r#"{"user":"u","action":"a","ts":20,"profile":{"user":"u","name":"N","tier":"t1","ts":10}}"#,
                r#"{"user":"u","action":"b","ts":5,"profile":null}"#,
            ]
        );
        assert_eq!(output[0].timestamp, 5, "emitted at the event's time");
        // A later event uses the later version (t2 is after 20, so it was kept
        // when t1's events fired).
        let output = harness
            .process(&[(
                Input::First,
                b"u",
                31,
                br#"{"user":"u","action":"c","ts":31}"#,
            )])
            .unwrap();
        assert!(output.is_empty());
        let output = harness.advance_watermark(i64::MAX).unwrap();
        assert_eq!(
            sorted_lines(&output, None),
            [
                r#"{"user":"u","action":"c","ts":31,"profile":{"user":"u","name":"N","tier":"t2","ts":30}}"#
            ]
        );
    }
}
