//! Swap count with a changed state kind (keyed process, keyed by `key`,
//! event time from `ts`): behaves like `swap-count-v1`, `{"key", "count"}`
//! per record and a reset at the end of each period of event time, but
//! keeps state `count` as a **list** (one element per record, its
//! timestamp) where version 1 has a value.
//!
//! A swap from `swap-count-v1` to this guest must be refused: a state
//! cannot change kind, and no migration could turn a value into a list. See
//! `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`; unknown fields are ignored.

use eddy_sdk::{Context, Json, KeyedProcess, ListState, OpenContext, TimeDomain};
use serde::{Deserialize, Serialize};

/// Optional config; unknown fields are ignored, as in `swap-count-v1`.
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

struct SwapCountBadKind {
    period_ms: i64,
    /// Timestamps of the current key's records in the current period.
    count: ListState<i64>,
}

/// The end of the period `timestamp` falls in: when its count is cleared.
fn period_end(timestamp: i64, period_ms: i64) -> i64 {
    timestamp
        .div_euclid(period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms)
}

impl KeyedProcess for SwapCountBadKind {
    type In = Json<Event>;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count = ctx.list_state("count");
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        Ok(SwapCountBadKind {
            period_ms: config.period_ms,
            count,
        })
    }

    fn process(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        self.count.add(&event.ts)?;
        let count = self.count.get()?.len() as u64;
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

eddy_sdk::export_keyed_process!(SwapCountBadKind);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, Output, assert_jsonl_eq};

    fn values(outputs: Vec<Output>) -> Vec<Vec<u8>> {
        outputs.into_iter().map(|output| output.value).collect()
    }

    #[test]
    fn counts_like_version_1_with_a_list() {
        let mut harness = KeyedHarness::<super::SwapCountBadKind>::open("").unwrap();
        let output = harness
            .process(&[
                (b"7", 100, br#"{"key": 7, "ts": 100}"#),
                (b"7", 300, br#"{"key": 7, "ts": 300}"#),
            ])
            .unwrap();
        assert_jsonl_eq(
            &values(output),
            "{\"key\":7,\"count\":1}\n{\"key\":7,\"count\":2}",
        );
        harness.advance_watermark(1000).unwrap();
        let output = harness
            .process(&[(b"7", 1100, br#"{"key": 7, "ts": 1100}"#)])
            .unwrap();
        assert_jsonl_eq(&values(output), r#"{"key":7,"count":1}"#);
    }
}
