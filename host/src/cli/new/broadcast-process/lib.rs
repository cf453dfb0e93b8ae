//! `{{name}}`: a `broadcast-process` function (Flink's
//! `KeyedBroadcastProcessFunction`, the broadcast state pattern): a keyed
//! input (here clicks, by `user`) and a broadcast input that every parallel
//! instance receives in full (here labels for pages). Broadcast records
//! update *broadcast state*, which keyed records may only read. This one
//! labels each click with the label of its page; clicks on pages without a
//! label go to the side output `unlabelled`.
//!
//! The two inputs are not ordered relative to each other, so a click waits
//! (in keyed state, for an event-time timer at its own time) until the
//! watermark of both inputs has passed it: by then every label up to its
//! time has arrived, whatever the interleaving.

use eddy_sdk::{
    BroadcastContext, BroadcastMapState, Context, Json, KeyedBroadcastProcess, MapState,
    OpenContext, SideOutput, TimeDomain,
};
use serde::{Deserialize, Serialize};

/// A record of the keyed input (`input`).
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Click {
    user: String,
    page: String,
    ts: i64,
}

/// A record of the broadcast input (`broadcast`): from now on, `page` is `label`.
#[derive(Debug, Deserialize)]
struct Label {
    page: String,
    label: String,
}

/// One output record.
#[derive(Debug, Serialize)]
struct LabelledClick {
    user: String,
    page: String,
    ts: i64,
    label: String,
}

struct LabelClicks {
    /// Page → label, the same in every instance because only broadcast
    /// records, which every instance gets, change it.
    labels: BroadcastMapState<String, String>,
    /// The current user's clicks waiting for their timer, by timestamp.
    waiting: MapState<i64, Vec<Click>>,
    unlabelled: SideOutput<Json<Click>>,
}

impl KeyedBroadcastProcess for LabelClicks {
    type In = Json<Click>;
    type Broadcast = Json<Label>;
    type Out = Json<LabelledClick>;

    /// Runs once per instance: declare keyed and broadcast states and side
    /// outputs here. The operator's `config` is `ctx.config()`.
    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(LabelClicks {
            labels: ctx.broadcast_map_state("labels"),
            waiting: ctx.map_state("waiting"),
            unlabelled: ctx.side_output("unlabelled"),
        })
    }

    /// A click: park it until the watermark passes its time.
    fn process_element(&mut self, Json(click): Json<Click>, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        let ts = click.ts;
        let mut clicks = self.waiting.get(&ts)?.unwrap_or_default();
        clicks.push(click);
        self.waiting.put(&ts, &clicks)?;
        ctx.register_event_time_timer(ts);
        Ok(())
    }

    /// A label: every instance stores it (no key here, no keyed state).
    fn process_broadcast_element(
        &mut self,
        Json(label): Json<Label>,
        _: &mut BroadcastContext<Self::Out>,
    ) -> Result<(), String> {
        self.labels.put(&label.page, &label.label)
    }

    /// The watermark passed `timestamp`: label the clicks waiting for it.
    fn on_timer(&mut self, timestamp: i64, _: TimeDomain, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        let Some(clicks) = self.waiting.get(&timestamp)? else {
            return Ok(());
        };
        self.waiting.remove(&timestamp)?;
        for click in clicks {
            match self.labels.get(&click.page)? {
                Some(label) => ctx.emit(Json(LabelledClick {
                    user: click.user,
                    page: click.page,
                    ts: click.ts,
                    label,
                })),
                None => ctx.emit_to(&self.unlabelled, Json(click)),
            }
        }
        Ok(())
    }
}

// Makes the component export the `keyed-process` world, as a broadcast-process function.
eddy_sdk::export_broadcast_process!(LabelClicks);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{BroadcastProcessHarness, Input, KeyedJsonl, interleavings, sorted_lines};

    #[test]
    fn the_sample_clicks_are_labelled_however_the_inputs_interleave() {
        // Keyed and timed as the job file does (labels have no key).
        let clicks = KeyedJsonl::parse(include_str!("../data/clicks.jsonl"), "user", "ts");
        let labels = KeyedJsonl::parse(include_str!("../data/labels.jsonl"), "page", "ts");
        let (clicks, labels) = (clicks.input(Input::First), labels.input(Input::Broadcast));
        for (name, records) in interleavings(&clicks, &labels) {
            let mut harness = BroadcastProcessHarness::<super::LabelClicks>::open("").unwrap();
            // Batches of 2 records, watermarks 5 s behind the largest timestamp.
            let output = harness.run_with_watermarks(&records, 2, 5_000).unwrap();
            assert_eq!(
                sorted_lines(&output, None),
                [
                    r#"{"user":"alice","page":"/checkout","ts":1700000041000,"label":"buying"}"#,
                    r#"{"user":"alice","page":"/products/42","ts":1700000012000,"label":"browsing"}"#,
                    r#"{"user":"bob","page":"/checkout","ts":1700000075000,"label":"buying"}"#,
                    r#"{"user":"carol","page":"/products/42","ts":1700000090000,"label":"browsing"}"#,
                ],
                "{name}"
            );
            assert_eq!(
                sorted_lines(&output, Some("unlabelled")),
                [
                    r#"{"user":"alice","page":"/home","ts":1700000000000}"#,
                    r#"{"user":"bob","page":"/products/42?ref=ad","ts":1700000005000}"#,
                    r#"{"user":"bob","page":"/products/7","ts":1700000059000}"#,
                    r#"{"user":"carol","page":"/Home","ts":1700000030000}"#,
                ],
                "{name}"
            );
        }
    }
}
