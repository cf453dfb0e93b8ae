//! Idle timeout (keyed process, keyed by `user`, processing time): a test and
//! demo guest for processing-time timers.
//!
//! Each record `{"user": "...", "msg": "..."}` keeps its `msg` as the user's
//! last message and (re)arms a processing-time timer `delay_ms` after the
//! host's current processing time; the previous timer of the user is deleted,
//! so only the latest one fires. When it fires, the function emits
//! `{"user": "...", "idle_after": "<last msg>"}` and clears the user's state.
//!
//! Config: `{"delay_ms": 200}` (the default).

use eddy_sdk::{Context, Json, KeyedProcess, OpenContext, TimeDomain, ValueState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    delay_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { delay_ms: 200 }
    }
}

#[derive(Deserialize)]
struct Message {
    msg: String,
}

#[derive(Serialize)]
struct Idle {
    user: String,
    idle_after: String,
}

struct IdleTimeout {
    delay_ms: i64,
    /// The user's last message.
    last_msg: ValueState<String>,
    /// Firing time of the user's pending timer.
    timer: ValueState<i64>,
}

impl KeyedProcess for IdleTimeout {
    type In = Json<Message>;
    type Out = Json<Idle>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if config.delay_ms <= 0 {
            return Err(format!("delay_ms must be positive, got {config:?}"));
        }
        Ok(IdleTimeout {
            delay_ms: config.delay_ms,
            last_msg: ctx.value_state("last_msg"),
            timer: ctx.value_state("timer"),
        })
    }

    fn process(
        &mut self,
        Json(message): Json<Message>,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        if let Some(previous) = self.timer.value()? {
            ctx.delete_processing_time_timer(previous);
        }
        let fire_at = ctx.current_processing_time() + self.delay_ms;
        ctx.register_processing_time_timer(fire_at);
        self.timer.update(&fire_at)?;
        self.last_msg.update(&message.msg)
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        domain: TimeDomain,
        ctx: &mut Context<Self::Out>,
    ) -> Result<(), String> {
        if domain != TimeDomain::ProcessingTime {
            return Ok(());
        }
        let user = ctx.key_str()?.to_string();
        let idle_after = self.last_msg.value()?.unwrap_or_default();
        ctx.emit(Json(Idle { user, idle_after }));
        self.last_msg.clear()?;
        self.timer.clear()
    }
}

eddy_sdk::export_keyed_process!(IdleTimeout);
