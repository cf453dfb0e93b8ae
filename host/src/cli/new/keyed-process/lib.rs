//! `{{name}}`: a `keyed-process` function (Flink's `KeyedProcessFunction`):
//! records arrive grouped by the operator's `key_by` (here the click's
//! `user`), with state kept by eddy per key, timers and side outputs. This
//! one counts each user's clicks and emits the running count on every click.

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, ValueState};
use serde::{Deserialize, Serialize};

/// The fields of a click the function reads.
#[derive(Debug, Deserialize)]
struct Click {
    user: String,
}

/// One output record.
#[derive(Debug, Serialize)]
struct Clicks {
    user: String,
    clicks: u64,
}

struct CountClicks {
    /// The number of clicks of the current key. State is declared in `open`
    /// and always reads and writes the value of the key being processed;
    /// eddy keeps it (and checkpoints it), not the instance. Also available:
    /// `ctx.list_state`, `ctx.map_state`, and `*_with_ttl` variants.
    clicks: ValueState<u64>,
}

impl KeyedProcess for CountClicks {
    type In = Json<Click>;
    type Out = Json<Clicks>;

    /// Runs once per instance: declare states (and side outputs, with
    /// `ctx.side_output("name")`) here. The operator's `config` is
    /// `ctx.config()`.
    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(CountClicks {
            clicks: ctx.value_state("clicks"),
        })
    }

    /// One record of the current key. `ctx` emits records, reads the key,
    /// timestamp and watermark, and registers timers
    /// (`ctx.register_event_time_timer(ts)`, answered by `on_timer`).
    fn process(&mut self, Json(click): Json<Click>, ctx: &mut Context<Self::Out>) -> Result<(), String> {
        let clicks = self.clicks.value()?.unwrap_or(0) + 1;
        self.clicks.update(&clicks)?;
        ctx.emit(Json(Clicks {
            user: click.user,
            clicks,
        }));
        Ok(())
    }

    // fn on_timer(&mut self, timestamp: i64, domain: TimeDomain, ctx: &mut Context<Self::Out>)
    //     -> Result<(), String> { ... }   // a timer of the current key fired
}

// Makes the component export the `keyed-process` world with this function.
eddy_sdk::export_keyed_process!(CountClicks);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, KeyedJsonl};

    #[test]
    fn each_click_of_the_sample_gives_its_users_running_count() {
        // Keyed and timed as the job file does: key_by `user`, timestamp `ts`.
        let clicks = KeyedJsonl::parse(include_str!("../data/clicks.jsonl"), "user", "ts");
        let mut harness = KeyedHarness::<super::CountClicks>::open("").unwrap();
        let output = harness.process(&clicks.records()).unwrap();
        let lines: Vec<String> = output
            .iter()
            .map(|out| String::from_utf8(out.value.clone()).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                r#"{"user":"alice","clicks":1}"#,
                r#"{"user":"bob","clicks":1}"#,
                r#"{"user":"alice","clicks":2}"#,
                r#"{"user":"carol","clicks":1}"#,
                r#"{"user":"alice","clicks":3}"#,
                r#"{"user":"bob","clicks":2}"#,
                r#"{"user":"bob","clicks":3}"#,
                r#"{"user":"carol","clicks":2}"#,
            ]
        );
    }
}
