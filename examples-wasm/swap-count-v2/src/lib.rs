//! Swap count, version 2 (keyed process, keyed by `key`, event time from
//! `ts`): the state of `swap-count-v1` unchanged (value state `count`, a
//! `u64` at state version 1, cleared at the end of each period of event
//! time), with another rule and output: a record emits only once its key
//! has been seen at least twice in the period, as `{"key", "total",
//! "rule": "v2"}`.
//!
//! Swapped in for `swap-count-v1` (`eddy swap`), it continues every key's
//! count where version 1 left it, with no migration, since the state's
//! name, kind and version are the same; the `rule` field shows which
//! version produced a line. See `docs/state-versions.md`.
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

/// What version 2 emits: the count as `total`, and which rule made it.
#[derive(Serialize)]
struct Total {
    key: Key,
    total: u64,
    rule: &'static str,
}

/// The smallest count that is emitted.
const MIN_TOTAL: u64 = 2;

struct SwapCountV2 {
    period_ms: i64,
    /// Records of the current key in the current period (as version 1 kept it).
    count: ValueState<u64>,
}

/// The end of the period `timestamp` falls in: when its count is cleared.
fn period_end(timestamp: i64, period_ms: i64) -> i64 {
    timestamp
        .div_euclid(period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms)
}

impl KeyedProcess for SwapCountV2 {
    type In = Json<Event>;
    type Out = Json<Total>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count = ctx.value_state("count");
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        Ok(SwapCountV2 {
            period_ms: config.period_ms,
            count,
        })
    }

    fn process(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let total = self.count.value()?.unwrap_or(0) + 1;
        self.count.update(&total)?;
        if total >= MIN_TOTAL {
            ctx.emit(Json(Total {
                key: event.key,
                total,
                rule: "v2",
            }));
        }
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

eddy_sdk::export_keyed_process!(SwapCountV2);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, Output, assert_jsonl_eq};

    fn values(outputs: Vec<Output>) -> Vec<Vec<u8>> {
        outputs.into_iter().map(|output| output.value).collect()
    }

    #[test]
    fn emits_from_the_second_record_of_a_key_in_a_period() {
        let mut harness = KeyedHarness::<super::SwapCountV2>::open("").unwrap();
        let first = harness
            .process(&[
                (b"7", 100, br#"{"key": 7, "ts": 100}"#),
                (b"a", 200, br#"{"key": "a", "ts": 200}"#),
                (b"7", 300, br#"{"key": 7, "ts": 300}"#),
                (b"7", 400, br#"{"key": 7, "ts": 400}"#),
            ])
            .unwrap();
        assert_jsonl_eq(
            &values(first),
            "{\"key\":7,\"total\":2,\"rule\":\"v2\"}\n{\"key\":7,\"total\":3,\"rule\":\"v2\"}",
        );
        assert!(harness.advance_watermark(1000).unwrap().is_empty());
        let next = harness
            .process(&[(b"7", 1100, br#"{"key": 7, "ts": 1100}"#)])
            .unwrap();
        assert!(next.is_empty(), "the count starts over each period");
    }
}
