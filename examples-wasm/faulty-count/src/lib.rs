//! A per-key count that misbehaves on demand, for the host's poison-record
//! tests of keyed operators. Config: `{"mode": "...", "needle": "..."}`.
//!
//! Every record first changes every kind of state of its key: the count
//! (value state, returned in the batch's output), the records seen (list
//! state) and the distinct records with the count at which they came (map
//! state), both written through host calls at once. Then:
//!
//! - `count` (default): emits `{"key", "count", "seen", "distinct"}`;
//! - `panic-on`: panics with `faulty count: found <needle>` on a record
//!   containing `needle`, after changing its state, and counts the others;
//! - `loop-on`: never returns from a record containing `needle`, after
//!   changing its state, and counts the others.
//!
//! So a host that dead-letters a failing record but keeps its partial state
//! changes shows it in the `seen` and `distinct` of later records of the key.

use eddy_sdk::{Context, Json, KeyedProcess, ListState, MapState, OpenContext, ValueState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    #[default]
    Count,
    PanicOn,
    LoopOn,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    mode: Mode,
    needle: String,
}

/// What one record emits.
#[derive(Serialize)]
struct Counted {
    key: String,
    count: u64,
    seen: usize,
    distinct: usize,
}

struct FaultyCount {
    config: Config,
    count: ValueState<u64>,
    seen: ListState<String>,
    distinct: MapState<String, u64>,
}

impl KeyedProcess for FaultyCount {
    type In = String;
    type Out = Json<Counted>;

    fn open(ctx: &mut OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if !matches!(config.mode, Mode::Count) && config.needle.is_empty() {
            return Err(
                "faulty count: modes `panic-on` and `loop-on` need a non-empty `needle`".into(),
            );
        }
        Ok(FaultyCount {
            config,
            count: ctx.value_state("count"),
            seen: ctx.list_state("seen"),
            distinct: ctx.map_state("distinct"),
        })
    }

    fn process(&mut self, record: String, ctx: &mut Context<'_, Self::Out>) -> Result<(), String> {
        let count = self.count.value()?.unwrap_or(0) + 1;
        self.count.update(&count)?;
        self.seen.add(&record)?;
        self.distinct.put(&record, &count)?;
        if !self.config.needle.is_empty() && record.contains(&self.config.needle) {
            match self.config.mode {
                Mode::Count => {}
                Mode::PanicOn => panic!("faulty count: found {}", self.config.needle),
                Mode::LoopOn => loop {
                    std::hint::spin_loop();
                },
            }
        }
        ctx.emit(Json(Counted {
            key: ctx.key_str()?.to_string(),
            count,
            seen: self.seen.get()?.len(),
            distinct: self.distinct.entries()?.len(),
        }));
        Ok(())
    }
}

eddy_sdk::export_keyed_process!(FaultyCount);
