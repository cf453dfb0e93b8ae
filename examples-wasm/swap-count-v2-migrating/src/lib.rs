//! Swap count, version 2 with a state migration (keyed process, keyed by
//! `key`, event time from `ts`): counts each key's records per period of
//! event time like `swap-count-v1`, and also remembers the time of the
//! key's last record, so value state `count` changes shape. It is declared
//! at state version 2, `{"count": u64, "last_ts": i64 or null}`, with a
//! migration from version 1, whose values were a bare `u64`: `41` becomes
//! `{"count": 41, "last_ts": null}`.
//!
//! Each record emits `{"key", "count", "prev_ts"}` (`prev_ts`: the time of
//! the key's previous record in the period, `null` if none, or if the count
//! was migrated from version 1) and sets an event-time timer at the end of
//! its period, which clears the state.
//!
//! Swapped in for `swap-count-v1` (`eddy swap`), the host sees version 2
//! where it holds version 1 and calls `migrate-state` for each stored count
//! (lazily: the first time each key is in a batch after the swap). This
//! crate is the complete example of `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`. Fields it does not know are
//! ignored, because a swap keeps the operator's config for the new guest.

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, StateVersion, TimeDomain, ValueState};
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
    prev_ts: Option<i64>,
}

/// Version 1 of state `count`: the count alone.
type CountV1 = u64;

/// Version 2 of state `count`: the count and the time of the last record.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CountV2 {
    count: u64,
    /// `None` for a count migrated from version 1, which did not keep it.
    last_ts: Option<i64>,
}

impl From<CountV1> for CountV2 {
    fn from(count: CountV1) -> Self {
        CountV2 {
            count,
            last_ts: None,
        }
    }
}

struct SwapCountV2Migrating {
    period_ms: i64,
    /// The current key's count and last record time in the current period.
    count: ValueState<CountV2>,
}

/// The end of the period `timestamp` falls in: when its count is cleared.
fn period_end(timestamp: i64, period_ms: i64) -> i64 {
    timestamp
        .div_euclid(period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms)
}

impl KeyedProcess for SwapCountV2Migrating {
    type In = Json<Event>;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let version = StateVersion::new(2).migrate_from(1, |old: CountV1| Ok(CountV2::from(old)));
        let count = ctx.value_state_versioned("count", version);
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        Ok(SwapCountV2Migrating {
            period_ms: config.period_ms,
            count,
        })
    }

    fn process(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let previous = self.count.value()?;
        let count = previous.as_ref().map_or(0, |state| state.count) + 1;
        ctx.emit(Json(Counted {
            key: event.key,
            count,
            prev_ts: previous.and_then(|state| state.last_ts),
        }));
        self.count.update(&CountV2 {
            count,
            last_ts: Some(event.ts),
        })?;
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

eddy_sdk::export_keyed_process!(SwapCountV2Migrating);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, Output, assert_jsonl_eq};

    use super::{CountV2, SwapCountV2Migrating};

    fn values(outputs: Vec<Output>) -> Vec<Vec<u8>> {
        outputs.into_iter().map(|output| output.value).collect()
    }

    #[test]
    fn counts_and_remembers_the_previous_record() {
        let mut harness = KeyedHarness::<SwapCountV2Migrating>::open("").unwrap();
        let output = harness
            .process(&[
                (b"7", 100, br#"{"key": 7, "ts": 100}"#),
                (b"a", 200, br#"{"key": "a", "ts": 200}"#),
                (b"7", 300, br#"{"key": 7, "ts": 300}"#),
            ])
            .unwrap();
        assert_jsonl_eq(
            &values(output),
            r#"{"key":7,"count":1,"prev_ts":null}
               {"key":"a","count":1,"prev_ts":null}
               {"key":7,"count":2,"prev_ts":100}"#,
        );
        assert!(harness.advance_watermark(1000).unwrap().is_empty());
        let output = harness
            .process(&[(b"7", 1100, br#"{"key": 7, "ts": 1100}"#)])
            .unwrap();
        assert_jsonl_eq(&values(output), r#"{"key":7,"count":1,"prev_ts":null}"#);
    }

    #[test]
    fn a_version_1_count_migrates_to_version_2() {
        let harness = KeyedHarness::<SwapCountV2Migrating>::open("").unwrap();
        let migrated = harness.migrate_state("count", 1, b"41").unwrap();
        let migrated: CountV2 = serde_json::from_slice(&migrated).unwrap();
        assert_eq!(
            migrated,
            CountV2 {
                count: 41,
                last_ts: None
            }
        );

        let error = harness.migrate_state("count", 3, b"41").unwrap_err();
        assert!(
            error.contains("at version 2 and migrates from version 1"),
            "{error}"
        );
        let error = harness
            .migrate_state("count", 1, br#"{"count": 41}"#)
            .unwrap_err();
        assert!(error.contains("not JSON of type `u64`"), "{error}");
    }

    /// `docs/state-versions.md` shows this crate and `swap-count-v1` in full
    /// (tests left out) as its example; this keeps the two the same.
    #[test]
    fn the_docs_show_this_code_as_it_is() {
        let docs = include_str!("../../../docs/state-versions.md");
        let sources = [
            include_str!("lib.rs"),
            include_str!("../../swap-count-v1/src/lib.rs"),
        ];
        for source in sources {
            let code = &source[..source.find("#[cfg(test)]").unwrap()];
            assert!(
                docs.contains(code.trim_end()),
                "docs/state-versions.md no longer shows the code it quotes:\n{code}"
            );
        }
    }
}
