//! Swap count, version 1 (keyed process, keyed by `key`, event time from
//! `ts`): counts each key's records per period of event time. Value state
//! `count` (a `u64`, state version 1) holds the current period's count;
//! each record `{"key": 7, "ts": 1700000000123}` emits `{"key", "count"}`
//! with the new count and sets an event-time timer at the end of its
//! period, which clears the count.
//!
//! The first of the `swap-count-*` guests, which the live-swap tests
//! replace with one another in a running job (`eddy swap`): `swap-count-v2`
//! keeps the state and changes the output, `swap-count-v2-migrating`
//! migrates the state to version 2, and the others are swaps the host must
//! refuse or roll back. See `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`. Fields it does not know are
//! ignored, because a swap keeps the operator's config for the new guest.

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

struct SwapCountV1 {
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

impl KeyedProcess for SwapCountV1 {
    type In = Json<Event>;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count = ctx.value_state("count");
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        Ok(SwapCountV1 {
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

eddy_sdk::export_keyed_process!(SwapCountV1);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, Output, assert_jsonl_eq};

    fn values(outputs: Vec<Output>) -> Vec<Vec<u8>> {
        outputs.into_iter().map(|output| output.value).collect()
    }

    #[test]
    fn counts_per_key_and_period() {
        let mut harness = KeyedHarness::<super::SwapCountV1>::open("").unwrap();
        let first = harness
            .process(&[
                (b"7", 100, br#"{"key": 7, "ts": 100}"#),
                (b"a", 200, br#"{"key": "a", "ts": 200}"#),
                (b"7", 999, br#"{"key": 7, "ts": 999}"#),
            ])
            .unwrap();
        assert_jsonl_eq(
            &values(first),
            "{\"key\":7,\"count\":1}\n{\"key\":\"a\",\"count\":1}\n{\"key\":7,\"count\":2}",
        );
        // The period's timer, at 1000, clears the count silently.
        assert!(harness.advance_watermark(999).unwrap().is_empty());
        assert!(harness.advance_watermark(1000).unwrap().is_empty());
        let after = harness
            .process(&[(b"7", 1500, br#"{"key": 7, "ts": 1500}"#)])
            .unwrap();
        assert_jsonl_eq(&values(after), r#"{"key":7,"count":1}"#);
    }

    #[test]
    fn config_sets_the_period_and_ignores_what_it_does_not_know() {
        let mut harness =
            KeyedHarness::<super::SwapCountV1>::open(r#"{"period_ms": 10, "fail_on_subtask": 3}"#)
                .unwrap();
        harness
            .process(&[(b"1", 5, br#"{"key": 1, "ts": 5}"#)])
            .unwrap();
        harness.advance_watermark(10).unwrap();
        let output = harness
            .process(&[(b"1", 12, br#"{"key": 1, "ts": 12}"#)])
            .unwrap();
        assert_jsonl_eq(&values(output), r#"{"key":1,"count":1}"#);

        let error = KeyedHarness::<super::SwapCountV1>::open(r#"{"period_ms": 0}"#)
            .err()
            .unwrap();
        assert!(error.contains("period_ms must be positive"), "{error}");
    }
}
