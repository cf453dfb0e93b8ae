//! Clicks per user per one-minute event-time window (keyed process, keyed by
//! `user`, event time from `ts`), built by hand on map state and timers the
//! way Flink's tumbling windows work inside.
//!
//! Map state holds `window end → clicks` for the user's open windows. The
//! first click of a window sets an event-time timer at `end - 1` (the
//! window's last millisecond); when the watermark passes it, the window's
//! count is emitted and removed.

use eddy_sdk::{Context, Json, KeyedProcess, MapState, OpenContext, TimeDomain};
use serde::{Deserialize, Serialize};

const WINDOW_MS: i64 = 60_000;

#[derive(Deserialize)]
struct Click {
    ts: i64,
}

#[derive(Serialize)]
struct WindowClicks {
    user: String,
    window_start: i64,
    window_end: i64,
    clicks: u64,
}

struct ClicksPerUser {
    /// Window end → clicks in that window.
    windows: MapState<i64, u64>,
}

impl KeyedProcess for ClicksPerUser {
    type In = Json<Click>;
    type Out = Json<WindowClicks>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        Ok(ClicksPerUser {
            windows: ctx.map_state("windows"),
        })
    }

    fn process(
        &mut self,
        Json(click): Json<Click>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let window_end = click.ts - click.ts.rem_euclid(WINDOW_MS) + WINDOW_MS;
        let clicks = self.windows.get(&window_end)?.unwrap_or(0) + 1;
        self.windows.put(&window_end, &clicks)?;
        if clicks == 1 {
            ctx.register_event_time_timer(window_end - 1);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let window_end = timestamp + 1;
        let Some(clicks) = self.windows.get(&window_end)? else {
            return Ok(());
        };
        self.windows.remove(&window_end)?;
        let user = ctx.key_str()?.to_owned();
        ctx.emit(Json(WindowClicks {
            user,
            window_start: window_end - WINDOW_MS,
            window_end,
            clicks,
        }));
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(ClicksPerUser);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq, jsonl};
    use serde_json::Value;

    #[test]
    fn sample_clicks_give_the_expected_windows() {
        let clicks = jsonl(include_str!("../data/clicks.jsonl"));
        let parsed: Vec<Value> = clicks
            .iter()
            .map(|click| serde_json::from_slice(click).unwrap())
            .collect();
        let records: Vec<_> = parsed
            .iter()
            .zip(&clicks)
            .map(|(click, value)| {
                (
                    click["user"].as_str().unwrap().as_bytes(),
                    click["ts"].as_i64().unwrap(),
                    *value,
                )
            })
            .collect();
        for batch_size in [1, 10, 100] {
            let mut harness = KeyedHarness::<super::ClicksPerUser>::open("").unwrap();
            let output = harness
                .run_with_watermarks(&records, batch_size, 5_000)
                .unwrap();
            let mut windows: Vec<Value> = output
                .iter()
                .map(|output| serde_json::from_slice(&output.value).unwrap())
                .collect();
            windows.sort_by_key(|window| {
                (
                    window["window_end"].as_i64(),
                    window["user"].as_str().map(str::to_owned),
                )
            });
            let windows: Vec<Vec<u8>> = windows
                .iter()
                .map(|window| serde_json::to_vec(window).unwrap())
                .collect();
            assert_jsonl_eq(&windows, include_str!("../data/expected-windows.jsonl"));
        }
    }
}
