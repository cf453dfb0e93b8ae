//! What the live-swap test guests `swap-count-v2`, `swap-count-bad-kind`,
//! `swap-count-bad-version`, `swap-count-dropped` and
//! `swap-count-init-fails` share: the keyed process of `swap-count-v1`
//! (keyed by `key`, event time from `ts`; each record counted in its key's
//! current period of event time, an event-time timer at the end of the
//! period clearing the count), as [`SwapCount`], generic over the state
//! the count is kept in ([`CountState`]: name, kind, version), what a
//! record emits ([`Output`]) and the config ([`PeriodConfig`]).
//!
//! A library, not a component. `swap-count-v1` and
//! `swap-count-v2-migrating` do not use it: they are the complete example
//! that `docs/state-versions.md` quotes, so each stays whole.

use std::fmt::Debug;
use std::marker::PhantomData;

use eddy_sdk::{Context, Json, KeyedProcess, ListState, OpenContext, TimeDomain, ValueState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A record's key as it came, a number or a string, so it is echoed back unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Number(u64),
    Text(String),
}

/// An input record: `{"key": 7, "ts": 1700000000123}`.
#[derive(Deserialize)]
pub struct Event {
    pub key: Key,
    pub ts: i64,
}

/// A guest's optional config, with at least `period_ms`. Fields it does not
/// know are ignored, because a swap keeps the operator's config for the new
/// guest.
pub trait PeriodConfig: DeserializeOwned + Default + Debug {
    /// Length of the periods counts are kept for, in event-time milliseconds.
    fn period_ms(&self) -> i64;

    /// What `open` checks besides a positive `period_ms` (after it); nothing
    /// by default.
    fn check(&self, ctx: &OpenContext) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }
}

/// The config of `swap-count-v1`: `{"period_ms": 1000}`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Length of the periods counts are kept for, in event-time milliseconds.
    pub period_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { period_ms: 1000 }
    }
}

impl PeriodConfig for Config {
    fn period_ms(&self) -> i64 {
        self.period_ms
    }
}

/// The end of the period `timestamp` falls in: when its count is cleared.
pub fn period_end(timestamp: i64, period_ms: i64) -> i64 {
    timestamp
        .div_euclid(period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms)
}

/// How a state holds the current key's count in the current period.
pub trait Counter {
    /// Count a record of time `timestamp`; the new count.
    fn record(&mut self, timestamp: i64) -> Result<u64, String>;

    /// Forget the count, at the end of the period.
    fn reset(&mut self) -> Result<(), String>;
}

/// The count itself, as `swap-count-v1` keeps it.
impl Counter for ValueState<u64> {
    fn record(&mut self, _: i64) -> Result<u64, String> {
        let count = self.value()?.unwrap_or(0) + 1;
        self.update(&count)?;
        Ok(count)
    }

    fn reset(&mut self) -> Result<(), String> {
        self.clear()
    }
}

/// One element per record, its timestamp; the count is the length.
impl Counter for ListState<i64> {
    fn record(&mut self, timestamp: i64) -> Result<u64, String> {
        self.add(&timestamp)?;
        Ok(self.get()?.len() as u64)
    }

    fn reset(&mut self) -> Result<(), String> {
        self.clear()
    }
}

/// The state a guest keeps its count in, as its `open` declares it (name,
/// kind, version and migrations): what the host compares on a swap.
pub trait CountState {
    /// The state's handle.
    type Counter: Counter;

    /// Declare the state.
    fn declare(ctx: &mut OpenContext) -> Self::Counter;
}

/// State `count` as `swap-count-v1` declares it: a value (`u64`) at state
/// version 1.
pub struct CountV1;

impl CountState for CountV1 {
    type Counter = ValueState<u64>;

    fn declare(ctx: &mut OpenContext) -> ValueState<u64> {
        ctx.value_state("count")
    }
}

/// What a record emits, from its key and the new count (`None`: nothing).
pub trait Output: Serialize + Sized {
    fn of(key: Key, count: u64) -> Option<Self>;
}

/// The output of `swap-count-v1`: `{"key", "count"}` for every record.
#[derive(Serialize)]
pub struct Counted {
    pub key: Key,
    pub count: u64,
}

impl Output for Counted {
    fn of(key: Key, count: u64) -> Option<Self> {
        Some(Counted { key, count })
    }
}

/// The keyed process of `swap-count-v1` with the count in state `S`, output
/// `O` and config `C`: `open` declares the state, then reads the config and
/// checks it; each record counts, emits `O` if any and sets an event-time
/// timer at the end of its period, which clears the count.
/// `SwapCount<CountV1>` is `swap-count-v1`.
pub struct SwapCount<S: CountState, O = Counted, C = Config> {
    period_ms: i64,
    /// Records of the current key in the current period.
    count: S::Counter,
    _output_and_config: PhantomData<fn() -> (O, C)>,
}

impl<S: CountState, O: Output, C: PeriodConfig> KeyedProcess for SwapCount<S, O, C> {
    type In = Json<Event>;
    type Out = Json<O>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let count = S::declare(ctx);
        let config: C = ctx.config_json_or_default()?;
        if config.period_ms() <= 0 {
            return Err(format!("period_ms must be positive, got {config:?}"));
        }
        config.check(ctx)?;
        Ok(SwapCount {
            period_ms: config.period_ms(),
            count,
            _output_and_config: PhantomData,
        })
    }

    fn process(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let count = self.count.record(event.ts)?;
        if let Some(output) = O::of(event.key, count) {
            ctx.emit(Json(output));
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
        self.count.reset()
    }
}

/// Helpers for the guests' tests.
#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    use eddy_sdk::KeyedProcess;
    use eddy_sdk::testing::{KeyedHarness, Output, assert_jsonl_eq};

    /// The values of `outputs`, for `assert_jsonl_eq`.
    pub fn values(outputs: Vec<Output>) -> Vec<Vec<u8>> {
        outputs.into_iter().map(|output| output.value).collect()
    }

    /// Checks that `P`, opened with an empty config, counts each key's
    /// records per period of 1000 ms and emits `{"key", "count"}` for each,
    /// as `swap-count-v1` does.
    pub fn assert_counts_like_version_1<P: KeyedProcess>() {
        let mut harness = KeyedHarness::<P>::open("").unwrap();
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
}

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq};

    use super::testing::{assert_counts_like_version_1, values};
    use super::{CountV1, SwapCount, period_end};

    /// `swap-count-v1`.
    type V1 = SwapCount<CountV1>;

    #[test]
    fn counts_per_key_and_period_like_version_1() {
        assert_counts_like_version_1::<V1>();
    }

    #[test]
    fn config_sets_the_period_and_ignores_what_it_does_not_know() {
        let mut harness =
            KeyedHarness::<V1>::open(r#"{"period_ms": 10, "fail_on_subtask": 3}"#).unwrap();
        harness
            .process(&[(b"1", 5, br#"{"key": 1, "ts": 5}"#)])
            .unwrap();
        harness.advance_watermark(10).unwrap();
        let output = harness
            .process(&[(b"1", 12, br#"{"key": 1, "ts": 12}"#)])
            .unwrap();
        assert_jsonl_eq(&values(output), r#"{"key":1,"count":1}"#);

        let error = KeyedHarness::<V1>::open(r#"{"period_ms": 0}"#)
            .err()
            .unwrap();
        assert_eq!(
            error,
            "period_ms must be positive, got Config { period_ms: 0 }"
        );
    }

    #[test]
    fn a_period_ends_at_the_next_multiple_of_its_length() {
        assert_eq!(period_end(0, 1000), 1000);
        assert_eq!(period_end(999, 1000), 1000);
        assert_eq!(period_end(1000, 1000), 2000);
        assert_eq!(period_end(-1, 1000), 0);
        assert_eq!(period_end(i64::MAX, 1000), i64::MAX);
    }
}
