//! Swap count with a version but no migration (keyed process, keyed by
//! `key`, event time from `ts`): `swap-count-v1` exactly, except that it
//! declares value state `count` at state version 2 and registers no
//! migration from version 1.
//!
//! A swap from `swap-count-v1` to this guest must be refused: the host
//! holds version-1 values it has no way to turn into version 2's. See
//! `docs/state-versions.md`.
//!
//! Config (optional): `{"period_ms": 1000}`; unknown fields are ignored.

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
}

struct SwapCountBadVersion {
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

impl KeyedProcess for SwapCountBadVersion {
    type In = Json<Event>;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        // Version 2 with no `migrate_from(1, ...)`: what the host must refuse.
        let count = ctx.value_state_versioned("count", StateVersion::new(2));
        let config: Config = ctx.config_json_or_default()?;
        if config.period_ms <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        Ok(SwapCountBadVersion {
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

eddy_sdk::export_keyed_process!(SwapCountBadVersion);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::KeyedHarness;

    #[test]
    fn has_no_migration_from_version_1() {
        let harness = KeyedHarness::<super::SwapCountBadVersion>::open("").unwrap();
        let error = harness.migrate_state("count", 1, b"41").unwrap_err();
        assert_eq!(
            error,
            "cannot migrate state `count` from version 1: it is at version 2 and migrates from \
             no older version"
        );
    }
}
