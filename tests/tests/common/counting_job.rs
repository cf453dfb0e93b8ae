//! The job several tests run against a running eddy (savepoints, `eddy
//! serve`, the API fuzz test): a generator (one reader, out of order by up
//! to 2 s; each key comes every `keys / events_per_second` s of event time
//! on average, so a key is often quiet for longer than the keyed process
//! function's 1.5 s) → a keyed one-second tumbling window count and a keyed
//! process function with value state and event-time timers → exactly-once
//! file sinks `out/windows` and `out/quiet`. And what those sinks committed.

use std::collections::BTreeMap;
use std::path::Path;

use super::{toml_path, wasm};

/// The parts of the job that vary between tests.
#[derive(Debug, Clone, Copy)]
pub struct CountingJob<'a> {
    pub name: &'a str,
    pub parallelism: u32,
    /// `memory` or `rocksdb` (below `state/`).
    pub backend: &'a str,
    /// Records of the generator; it never ends when `None`.
    pub count: Option<u64>,
    /// Records per second.
    pub rate: u64,
    pub keys: u32,
    pub seed: u64,
    /// `[checkpoints] interval`, into `chk/`; no checkpoints when `None`.
    pub checkpoint_interval: Option<&'a str>,
}

impl Default for CountingJob<'_> {
    fn default() -> Self {
        CountingJob {
            name: "counting",
            parallelism: 1,
            backend: "memory",
            count: None,
            rate: 20_000,
            keys: 40,
            seed: 7,
            checkpoint_interval: None,
        }
    }
}

impl CountingJob<'_> {
    /// The job file.
    pub fn text(&self) -> String {
        let CountingJob {
            name,
            parallelism,
            backend,
            rate,
            keys,
            seed,
            ..
        } = *self;
        let count = self
            .count
            .map_or(String::new(), |c| format!("count = {c}\n"));
        let checkpoints = self.checkpoint_interval.map_or(String::new(), |interval| {
            format!("[checkpoints]\ninterval = \"{interval}\"\ndir = \"chk\"\n")
        });
        let local_dir = if backend == "rocksdb" {
            "local_dir = \"state\""
        } else {
            ""
        };
        format!(
            r#"[job]
name = "{name}"
parallelism = {parallelism}

[state]
backend = "{backend}"
{local_dir}

{checkpoints}
[[source]]
name = "events"
type = "generator"
parallelism = 1
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "bounded-out-of-orderness", max_out_of_orderness = "2s" }}
[source.generator]
{count}rate = {rate}
keys = {keys}
events_per_second = 100
max_lag = "2s"
seed = {seed}

[[operator]]
uid = "per-second"
kind = "aggregate"
module = {aggregate}
input = "events"
key_by = {{ field = "key" }}
window = {{ type = "tumbling", size = "1s" }}

[[operator]]
uid = "timeouts"
kind = "keyed-process"
module = {timeouts}
input = "events"
key_by = {{ field = "key" }}
config = {{ timeout_ms = 1500 }}

[[sink]]
name = "windows"
type = "file"
path = "out/windows"
delivery = "exactly-once"
input = "per-second"

[[sink]]
name = "quiet"
type = "file"
path = "out/quiet"
delivery = "exactly-once"
input = "timeouts"
"#,
            aggregate = toml_path(&wasm("count_aggregate")),
            timeouts = toml_path(&wasm("count_with_timeout")),
        )
    }
}

/// Every line each sink of the job whose folder is `dir` committed
/// (sorted), by sink.
pub fn committed(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut outputs = BTreeMap::new();
    for sink in ["windows", "quiet"] {
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(dir.join("out").join(sink))
            .into_iter()
            .flatten()
        {
            let path = entry.unwrap().path();
            if path.is_file() {
                let text = std::fs::read_to_string(&path).unwrap();
                lines.extend(text.lines().map(str::to_string));
            }
        }
        lines.sort();
        outputs.insert(sink.to_string(), lines);
    }
    outputs
}
