//! A map over raw bytes that misbehaves on demand, for the host's failure
//! tests. Config: `{"mode": "...", "needle": "..."}`:
//!
//! - `identity` (default): passes records through;
//! - `panic-on`: panics with `faulty guest: found <needle>` on a record
//!   containing `needle`, identity otherwise;
//! - `loop`: never returns from the first record;
//! - `hog`: allocates and touches 1 GiB on the first record;
//! - `error`: returns `Err("faulty guest: refused record")` on the first record.

use eddy_sdk::{Map, OpenContext};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    #[default]
    Identity,
    PanicOn,
    Loop,
    Hog,
    Error,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    mode: Mode,
    needle: String,
}

struct Faulty {
    config: Config,
}

impl Map for Faulty {
    type In = Vec<u8>;
    type Out = Vec<u8>;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if matches!(config.mode, Mode::PanicOn) && config.needle.is_empty() {
            return Err("faulty guest: mode `panic-on` needs a non-empty `needle`".into());
        }
        Ok(Faulty { config })
    }

    fn map(&mut self, value: Vec<u8>) -> Result<Vec<u8>, String> {
        match self.config.mode {
            Mode::Identity => {}
            Mode::PanicOn => {
                let needle = self.config.needle.as_bytes();
                if value.windows(needle.len()).any(|window| window == needle) {
                    panic!("faulty guest: found {}", self.config.needle);
                }
            }
            Mode::Loop => loop {
                std::hint::spin_loop();
            },
            Mode::Hog => {
                let memory = vec![1u8; 1 << 30];
                std::hint::black_box(&memory);
            }
            Mode::Error => return Err("faulty guest: refused record".into()),
        }
        Ok(value)
    }
}

eddy_sdk::export_map!(Faulty);
