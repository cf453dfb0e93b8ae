//! Fraud detection (keyed process, keyed by `user`, event time from `ts`):
//! alert when a user fails to log in `threshold` times within `window_ms` of
//! event time.
//!
//! Failed logins are kept in list state. On a failure at `t`, the kept
//! failures with a timestamp in `(t - window_ms, t]` plus this one are
//! counted; at `threshold` an alert is emitted and the list cleared, otherwise
//! `t` is added. A timer at `t + window_ms` drops failures that can no longer
//! count. Successful logins are ignored.

use eddy_sdk::{Context, Json, KeyedProcess, ListState, OpenContext, TimeDomain};
use serde::{Deserialize, Serialize};

/// Optional config, e.g. `{"threshold": 3, "window_ms": 300000}`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    threshold: usize,
    window_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threshold: 3,
            window_ms: 5 * 60 * 1000,
        }
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
    ts: i64,
    success: bool,
}

#[derive(Serialize)]
struct Alert {
    user: String,
    failures: usize,
    first_ts: i64,
    last_ts: i64,
}

struct FraudDetection {
    config: Config,
    /// Event times of the user's recent failed logins.
    failures: ListState<i64>,
}

impl KeyedProcess for FraudDetection {
    type In = Json<Login>;
    type Out = Json<Alert>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let failures = ctx.list_state("failures");
        let config: Config = ctx.config_json_or_default()?;
        if config.threshold == 0 || config.window_ms <= 0 {
            return Err(format!(
                "threshold and window_ms must be positive, got {config:?}"
            ));
        }
        Ok(FraudDetection { config, failures })
    }

    fn process(
        &mut self,
        Json(login): Json<Login>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        if login.success {
            return Ok(());
        }
        let t = login.ts;
        let window_start = t - self.config.window_ms;
        let mut in_window: Vec<i64> = self
            .failures
            .get()?
            .into_iter()
            .filter(|&failure| failure > window_start && failure <= t)
            .collect();
        in_window.push(t);

        if in_window.len() >= self.config.threshold {
            ctx.emit(Json(Alert {
                user: login.user,
                failures: in_window.len(),
                first_ts: in_window.iter().copied().min().unwrap_or(t),
                last_ts: t,
            }));
            self.failures.clear()?;
        } else {
            self.failures.add(&t)?;
        }
        ctx.register_event_time_timer(t + self.config.window_ms);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        _: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let expired_until = timestamp - self.config.window_ms;
        let failures = self.failures.get()?;
        let kept: Vec<i64> = failures
            .iter()
            .copied()
            .filter(|&failure| failure > expired_until)
            .collect();
        if kept.is_empty() {
            self.failures.clear()?;
        } else if kept.len() != failures.len() {
            self.failures.update(&kept)?;
        }
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(FraudDetection);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{KeyedHarness, assert_jsonl_eq, jsonl};
    use serde_json::Value;

    fn run(config: &str, batch_size: usize) -> Vec<Vec<u8>> {
        let logins = jsonl(include_str!("../data/logins.jsonl"));
        let parsed: Vec<Value> = logins
            .iter()
            .map(|login| serde_json::from_slice(login).unwrap())
            .collect();
        let records: Vec<_> = parsed
            .iter()
            .zip(&logins)
            .map(|(login, value)| {
                (
                    login["user"].as_str().unwrap().as_bytes(),
                    login["ts"].as_i64().unwrap(),
                    *value,
                )
            })
            .collect();
        let mut harness = KeyedHarness::<super::FraudDetection>::open(config).unwrap();
        let output = harness
            .run_with_watermarks(&records, batch_size, 5_000)
            .unwrap();
        output.into_iter().map(|output| output.value).collect()
    }

    #[test]
    fn sample_logins_raise_the_expected_alerts() {
        let expected = include_str!("../data/expected-alerts.jsonl");
        for batch_size in [1, 7, 64] {
            assert_jsonl_eq(&run("", batch_size), expected);
        }
        assert_jsonl_eq(
            &run(r#"{"threshold": 3, "window_ms": 300000}"#, 5),
            expected,
        );
    }

    #[test]
    fn config_changes_the_rule() {
        // With a one-minute window: dave (3 failures in 50 s) and alice's
        // second burst (40 s) alert; frank's third failure is exactly 60 s
        // after his first, so the first no longer counts.
        let alerts = run(r#"{"window_ms": 60000}"#, 8);
        assert_jsonl_eq(
            &alerts,
            concat!(
                r#"{"user":"dave","failures":3,"first_ts":1700000030000,"last_ts":1700000080000}"#,
                "\n",
                r#"{"user":"alice","failures":3,"first_ts":1700000600000,"last_ts":1700000640000}"#,
            ),
        );
    }
}
