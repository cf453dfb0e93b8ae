//! Swap count that refuses to start on one subtask (keyed process, keyed
//! by `key`, event time from `ts`): `swap-count-v1` exactly, except that
//! `open` fails with `init refused on subtask N by config` when the config
//! has `"fail_on_subtask": N` and this instance is subtask N (0-based,
//! `OpenContext::subtask_index`).
//!
//! Made for a swap that starts on some subtasks of an operator and fails
//! on another. Describing the function (`open` with an empty config)
//! always succeeds.
//!
//! Config (optional): `{"period_ms": 1000, "fail_on_subtask": 1}`; unknown
//! fields are ignored.

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, TimeDomain, ValueState};
use serde::{Deserialize, Serialize};

/// Optional config; unknown fields are ignored (see the crate docs).
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Config {
    /// Length of the periods counts are kept for, in event-time milliseconds.
    period_ms: i64,
    /// The 0-based subtask whose `open` fails, if any.
    fail_on_subtask: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            period_ms: 1000,
            fail_on_subtask: None,
        }
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

struct SwapCountInitFails {
    period_ms: i64,
    /// Records of the current key in the current period.
    count: ValueState<u64>,
}

/// The end of the period `timestamp` falls in: when its count is cleared.
fn period_end(timestamp: i64, period_ms: i64) -> i64 {
    timestamp
        .div_euclid(period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms)
}

impl KeyedProcess for SwapCountInitFails {
    type In = Json<Event>;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count = ctx.value_state("count");
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        let subtask = ctx.subtask_index();
        if config.fail_on_subtask == Some(subtask) {
            return Err(format!("init refused on subtask {subtask} by config"));
        }
        Ok(SwapCountInitFails {
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

eddy_sdk::export_keyed_process!(SwapCountInitFails);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq};

    use super::SwapCountInitFails;

    const FAIL_ON_1: &str = r#"{"period_ms": 1000, "fail_on_subtask": 1}"#;

    #[test]
    fn open_fails_on_the_named_subtask_only() {
        let error = KeyedHarness::<SwapCountInitFails>::open_as_subtask(FAIL_ON_1, 1, 2)
            .err()
            .unwrap();
        assert_eq!(error, "init refused on subtask 1 by config");

        let mut other =
            KeyedHarness::<SwapCountInitFails>::open_as_subtask(FAIL_ON_1, 0, 2).unwrap();
        let output = other
            .process(&[(b"7", 100, br#"{"key": 7, "ts": 100}"#)])
            .unwrap();
        let values: Vec<_> = output.into_iter().map(|output| output.value).collect();
        assert_jsonl_eq(&values, r#"{"key":7,"count":1}"#);

        KeyedHarness::<SwapCountInitFails>::open_as_subtask("", 1, 2).unwrap();
    }
}
