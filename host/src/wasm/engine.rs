//! The one wasmtime [`Engine`] of a process, its epoch ticker, and the
//! compiled-module cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine shared by every guest of the process, with the settings the
/// research found to matter: no component-model concurrency (3× lower call
/// floor) and epoch interruption (bounded calls at +2–8%).
#[derive(Clone)]
pub struct GuestEngine {
    engine: Engine,
    cache_dir: Option<PathBuf>,
}

impl GuestEngine {
    /// The process-wide engine, created on first use with its epoch ticker.
    pub fn shared() -> Result<GuestEngine> {
        static SHARED: OnceLock<GuestEngine> = OnceLock::new();
        if let Some(engine) = SHARED.get() {
            return Ok(engine.clone());
        }
        let engine = GuestEngine::new(default_cache_dir())?;
        Ok(SHARED.get_or_init(|| engine).clone())
    }

    /// A new engine caching compiled modules in `cache_dir` (none: no cache).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<GuestEngine> {
        let mut config = Config::new();
        config.concurrency_support(false);
        config.epoch_interruption(true);
        config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("configuring the wasmtime engine")?;
        start_epoch_ticker(&engine);
        Ok(GuestEngine { engine, cache_dir })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile a component, or load it from the cache when this exact module
    /// was compiled before by this eddy build with this engine configuration.
    pub fn load_component(&self, wasm: &[u8]) -> Result<Component> {
        let Some(cache_dir) = &self.cache_dir else {
            return Ok(Component::new(&self.engine, wasm)?);
        };
        let cached = cache_dir.join(format!("{}.cwasm", self.cache_key(wasm)));
        if cached.exists() {
            // SAFETY: the cache only ever holds artifacts this host wrote
            // itself (named by the hash of module and engine configuration),
            // which is the precondition of `deserialize_file`.
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    path = %cached.display(),
                    "ignoring unreadable compiled-module cache entry: {error:#}"
                ),
            }
        }
        let component = Component::new(&self.engine, wasm)?;
        if let Err(error) = write_cache_entry(&cached, &component) {
            tracing::warn!(path = %cached.display(), "could not cache compiled module: {error:#}");
        }
        Ok(component)
    }

    /// Whether `wasm` is in the compiled-module cache, so that loading it
    /// will not compile it (`eddy inspect` says which it measured).
    pub fn is_cached(&self, wasm: &[u8]) -> bool {
        self.cache_dir
            .as_ref()
            .is_some_and(|dir| dir.join(format!("{}.cwasm", self.cache_key(wasm))).exists())
    }

    fn cache_key(&self, wasm: &[u8]) -> String {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let mut digest = Sha256::new();
        digest.update(wasm);
        digest.update(engine_hash.finish().to_le_bytes());
        digest.update(env!("CARGO_PKG_VERSION").as_bytes());
        hex::encode(&digest.finalize()[..16])
    }
}

fn write_cache_entry(path: &Path, component: &Component) -> Result<()> {
    let dir = path.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `$EDDY_CACHE_DIR`, else `$XDG_CACHE_HOME/eddy/modules`, else
/// `~/.cache/eddy/modules`; `EDDY_CACHE_DIR=off` disables the cache.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("EDDY_CACHE_DIR") {
        return (dir != "off").then(|| PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("eddy").join("modules"))
}

/// Advance the engine's epoch every [`EPOCH_TICK`] for as long as the
/// engine lives, so that call deadlines expire.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("eddy-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// Epoch ticks that make up a call deadline (at least two, so a call that
/// starts just before a tick still gets one whole tick).
pub fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}
