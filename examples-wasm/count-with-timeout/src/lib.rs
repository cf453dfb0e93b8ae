//! Count with timeout (keyed process, keyed by `user`, event time from
//! `ts`): the example of Flink's `ProcessFunction` documentation. Each key's
//! count and last event time live in value state; every record sets an
//! event-time timer `timeout_ms` after it, and a timer that finds no newer
//! record of its key emits `{"user", "count", "last_modified"}`.
//!
//! What it emits depends on exactly where timers fire among the records: a
//! timer fires before the first record whose watermark reaches it. The
//! host's event-time tests use it for that reason.

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, TimeDomain, ValueState};
use serde::{Deserialize, Serialize};

/// Optional config, e.g. `{"timeout_ms": 60000}`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    timeout_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { timeout_ms: 60_000 }
    }
}

/// Who an event is about: a name, or a number (the generator source's
/// `key`, which this function also accepts as `user`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum User {
    Name(String),
    Number(u64),
}

#[derive(Deserialize)]
struct Event {
    #[serde(alias = "key")]
    user: User,
    ts: i64,
}

#[derive(Serialize, Deserialize)]
struct CountWithTimestamp {
    user: User,
    count: u64,
    last_modified: i64,
}

struct CountWithTimeout {
    timeout_ms: i64,
    state: ValueState<CountWithTimestamp>,
}

impl KeyedProcess for CountWithTimeout {
    type In = Json<Event>;
    type Out = Json<CountWithTimestamp>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if config.timeout_ms <= 0 {
            return Err(format!("timeout_ms must be positive, got {config:?}"));
        }
        Ok(CountWithTimeout {
            timeout_ms: config.timeout_ms,
            state: ctx.value_state("count"),
        })
    }

    fn process(
        &mut self,
        Json(event): Json<Event>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        let count = self.state.value()?.map_or(0, |s| s.count) + 1;
        self.state.update(&CountWithTimestamp {
            user: event.user,
            count,
            last_modified: event.ts,
        })?;
        ctx.register_event_time_timer(event.ts + self.timeout_ms);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _: TimeDomain,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        if let Some(state) = self.state.value()?
            && timestamp == state.last_modified + self.timeout_ms
        {
            ctx.emit(Json(state));
        }
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(CountWithTimeout);
