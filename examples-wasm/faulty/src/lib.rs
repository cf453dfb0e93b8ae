//! A map over raw bytes that misbehaves on demand, for the host's failure
//! tests. Config: `{"mode": "...", "needle": "..."}`:
//!
//! - `identity` (default): passes records through;
//! - `panic-on`: panics with `faulty guest: found <needle>` on a record
//!   containing `needle`, identity otherwise;
//! - `loop`: never returns from the first record;
//! - `loop-on`: never returns from a record containing `needle`, identity
//!   otherwise;
//! - `hog`: allocates and touches 1 GiB on the first record;
//! - `error`: returns `Err("faulty guest: refused record")` on the first record;
//! - `trap-randomly`: traps (`unreachable`) on a random record, each with
//!   probability `1 / one_in`, from a seed that differs in every instance, so
//!   a job restarted after such a trap gets past it.

use eddy_sdk::{Map, OpenContext};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    #[default]
    Identity,
    PanicOn,
    Loop,
    LoopOn,
    Hog,
    Error,
    TrapRandomly,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    mode: Mode,
    needle: String,
    one_in: u64,
}

struct Faulty {
    config: Config,
    /// xorshift64 state of `trap-randomly`.
    random: u64,
}

impl Faulty {
    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }
}

/// A seed from the host's random source (WASI `random`), different in every instance.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5EED);
    hasher.finish() | 1
}

impl Map for Faulty {
    type In = Vec<u8>;
    type Out = Vec<u8>;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if matches!(config.mode, Mode::PanicOn | Mode::LoopOn) && config.needle.is_empty() {
            return Err(format!(
                "faulty guest: mode `{}` needs a non-empty `needle`",
                if matches!(config.mode, Mode::PanicOn) {
                    "panic-on"
                } else {
                    "loop-on"
                }
            ));
        }
        if matches!(config.mode, Mode::TrapRandomly) && config.one_in == 0 {
            return Err("faulty guest: mode `trap-randomly` needs `one_in` of at least 1".into());
        }
        // For the logging tests: a debug line that `EDDY_LOG=debug` shows.
        eddy_sdk::log::debug!("faulty guest: opened in mode {:?}", config.mode);
        Ok(Faulty {
            config,
            random: random_seed(),
        })
    }

    fn map(&mut self, value: Vec<u8>) -> Result<Vec<u8>, String> {
        match self.config.mode {
            Mode::Identity => {}
            Mode::PanicOn => {
                if contains(&value, &self.config.needle) {
                    panic!("faulty guest: found {}", self.config.needle);
                }
            }
            Mode::Loop => spin(),
            Mode::LoopOn => {
                if contains(&value, &self.config.needle) {
                    spin();
                }
            }
            Mode::Hog => {
                let memory = vec![1u8; 1 << 30];
                std::hint::black_box(&memory);
            }
            Mode::Error => return Err("faulty guest: refused record".into()),
            Mode::TrapRandomly => {
                if self.next_random().is_multiple_of(self.config.one_in) {
                    trap();
                }
            }
        }
        Ok(value)
    }
}

fn contains(value: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    value.windows(needle.len()).any(|window| window == needle)
}

/// Never return, as a guest stuck in a loop would.
fn spin() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

/// A WebAssembly trap, as a bug in a guest compiled from any language would cause.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

eddy_sdk::export_map!(Faulty);
