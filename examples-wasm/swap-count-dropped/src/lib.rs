//! Swap count with a renamed state (keyed process, keyed by `key`, event
//! time from `ts`): `swap-count-v1` exactly, except that its value state is
//! named `tally`, so to the host it drops state `count` and declares a new
//! one.
//!
//! A swap from `swap-count-v1` to this guest must be refused unless it is
//! given `--allow-dropped-state`; with it, `count` is discarded and `tally`
//! starts empty, so every key counts from 1 again. See
//! `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`; unknown fields are ignored.

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, TimeDomain, ValueState};
use serde::{Deserialize, Serialize};

/// Optional config; unknown fields are ignored (see the crate docs).
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    /// Length of the periods counts are kept for, in event-time milliseconds.
    period_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { period_ms: 1000 }
    }
}

/// A record's key as it came, a number or a string, so it is echoed back unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Key {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
struct Event {
    key: Key,
    ts: i64,
}

#[derive(Serialize)]
struct Counted {
    key: Key,
    count: u64,
}

struct SwapCountDropped {
    period_ms: i64,
    /// Records of the current key in the current period (state `tally`).
    count: ValueState<u64>,
}

/// The end of the period `timestamp` falls in: when its count is cleared.
fn period_end(timestamp: i64, period_ms: i64) -> i64 {
    timestamp
        .div_euclid(period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms)
}

impl KeyedProcess for SwapCountDropped {
    type In = Json<Event>;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count = ctx.value_state("tally");
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        Ok(SwapCountDropped {
            period_ms: config.period_ms,
            count,
        })
    }

    fn process(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let count = self.count.value()?.unwrap_or(0) + 1;
        self.count.update(&count)?;
        ctx.emit(Json(Counted {
            key: event.key,
            count,
        }));
        ctx.register_event_time_timer(period_end(event.ts, self.period_ms));
        Ok(())
    }

    fn on_timer(
        &mut self,
        _: i64,
        _: TimeDomain,
        _: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        self.count.clear()
    }
}

eddy_sdk::export_keyed_process!(SwapCountDropped);
