//! `{{name}}`: a `co-process` function (Flink's `KeyedCoProcessFunction`):
//! two inputs keyed the same way (here clicks and purchases, both by
//! `user`) share one set of keyed state and timers. This one reports each
//! user's activity per minute: clicks, purchases and money spent, emitted
//! when the watermark of both inputs has passed the end of the minute.
//!
//! The two inputs are not ordered relative to each other; waiting for the
//! watermark (an event-time timer) is what makes the result independent of
//! how they interleave.

use eddy_sdk::{CoProcess, Context, Json, MapState, OpenContext, TimeDomain};
use serde::{Deserialize, Serialize};

/// The length of the reported periods, in milliseconds.
const MINUTE: i64 = 60_000;

/// A record of the first input (`input`); only its time matters here.
#[derive(Debug, Deserialize)]
struct Click {}

/// A record of the second input (`connect`).
#[derive(Debug, Deserialize)]
struct Purchase {
    amount: u64,
}

/// A user's activity in one minute, as kept in state.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Activity {
    clicks: u64,
    purchases: u64,
    spent: u64,
}

/// One output record per user and minute with activity.
#[derive(Debug, Serialize)]
struct Report {
    user: String,
    start: i64,
    clicks: u64,
    purchases: u64,
    spent: u64,
}

struct ActivityPerMinute {
    /// The current user's activity by the start of its minute. A map,
    /// because records of the next minute may come before the watermark
    /// closes this one.
    minutes: MapState<i64, Activity>,
}

impl ActivityPerMinute {
    /// Count one record of the current user into its minute, and make sure a
    /// timer reports that minute once the watermark passes its end.
    fn record(
        &mut self,
        ctx: &mut Context<Json<Report>>,
        update: impl FnOnce(&mut Activity),
    ) -> Result<(), String> {
        let ts = ctx.timestamp().ok_or("a record without timestamp; set `timestamp` on the sources")?;
        let start = ts - ts.rem_euclid(MINUTE);
        let mut activity = self.minutes.get(&start)?.unwrap_or_default();
        update(&mut activity);
        self.minutes.put(&start, &activity)?;
        ctx.register_event_time_timer(start + MINUTE - 1);
        Ok(())
    }
}

impl CoProcess for ActivityPerMinute {
    type In1 = Json<Click>;
    type In2 = Json<Purchase>;
    type Out = Json<Report>;

    /// Runs once per instance: declare states and side outputs here. The
    /// operator's `config` is `ctx.config()`.
    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(ActivityPerMinute {
            minutes: ctx.map_state("minutes"),
        })
    }

    fn process_element1(&mut self, _: Json<Click>, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        self.record(ctx, |activity| activity.clicks += 1)
    }

    fn process_element2(
        &mut self,
        Json(purchase): Json<Purchase>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        self.record(ctx, |activity| {
            activity.purchases += 1;
            activity.spent += purchase.amount;
        })
    }

    /// The watermark passed the end of a minute of the current user
    /// (registering the same timer twice fires it once).
    fn on_timer(&mut self, timestamp: i64, _: TimeDomain, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        let start = timestamp + 1 - MINUTE;
        if let Some(activity) = self.minutes.get(&start)? {
            self.minutes.remove(&start)?;
            let user = ctx.key_str()?.to_owned();
            ctx.emit(Json(Report {
                user,
                start,
                clicks: activity.clicks,
                purchases: activity.purchases,
                spent: activity.spent,
            }));
        }
        Ok(())
    }
}

// Makes the component export the `keyed-process` world, as a co-process function.
eddy_sdk::export_co_process!(ActivityPerMinute);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{CoProcessHarness, Input, KeyedJsonl, interleavings, sorted_lines};

    #[test]
    fn the_sample_gives_each_users_activity_per_minute_however_the_inputs_interleave() {
        // Keyed and timed as the job file does.
        let clicks = KeyedJsonl::parse(include_str!("../data/clicks.jsonl"), "user", "ts");
        let purchases = KeyedJsonl::parse(include_str!("../data/purchases.jsonl"), "user", "ts");
        let (clicks, purchases) = (clicks.input(Input::First), purchases.input(Input::Second));
        for (name, records) in interleavings(&clicks, &purchases) {
            let mut harness = CoProcessHarness::<super::ActivityPerMinute>::open("").unwrap();
            // Batches of 2 records, watermarks 5 s behind the largest timestamp.
            let output = harness.run_with_watermarks(&records, 2, 5_000).unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"user":"alice","start":1699999980000,"clicks":2,"purchases":0,"spent":0}"#,
                    r#"{"user":"alice","start":1700000040000,"clicks":1,"purchases":1,"spent":30}"#,
                    r#"{"user":"bob","start":1699999980000,"clicks":1,"purchases":0,"spent":0}"#,
                    r#"{"user":"bob","start":1700000040000,"clicks":2,"purchases":2,"spent":17}"#,
                    r#"{"user":"carol","start":1699999980000,"clicks":1,"purchases":0,"spent":0}"#,
                    r#"{"user":"carol","start":1700000040000,"clicks":1,"purchases":0,"spent":0}"#,
                ],
                "{name}"
            );
        }
    }
}
