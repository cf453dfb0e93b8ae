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

use eddy_sdk::OpenContext;
use serde::Deserialize;
use swap_count_common::{CountV1, Counted, PeriodConfig, SwapCount};

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

impl PeriodConfig for Config {
    fn period_ms(&self) -> i64 {
        self.period_ms
    }

    fn check(&self, ctx: &OpenContext) -> Result<(), String> {
        let subtask = ctx.subtask_index();
        if self.fail_on_subtask == Some(subtask) {
            return Err(format!("init refused on subtask {subtask} by config"));
        }
        Ok(())
    }
}

/// `swap-count-v1` with `fail_on_subtask` in its config.
type SwapCountInitFails = SwapCount<CountV1, Counted, Config>;

eddy_sdk::export_keyed_process!(SwapCountInitFails);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq};
    use swap_count_common::testing::{assert_counts_like_version_1, values};

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
        assert_jsonl_eq(&values(output), r#"{"key":7,"count":1}"#);

        KeyedHarness::<SwapCountInitFails>::open_as_subtask("", 1, 2).unwrap();
    }

    #[test]
    fn counts_like_version_1() {
        assert_counts_like_version_1::<SwapCountInitFails>();
    }

    #[test]
    fn checks_the_period_first() {
        let error = KeyedHarness::<SwapCountInitFails>::open_as_subtask(
            r#"{"period_ms": 0, "fail_on_subtask": 1}"#,
            1,
            2,
        )
        .err()
        .unwrap();
        assert_eq!(
            error,
            "period_ms must be positive, got Config { period_ms: 0, fail_on_subtask: Some(1) }"
        );
    }
}
