//! Keyed state larger than memory (issue 4): 20 million distinct keys, each
//! holding ~140 bytes of value state (about 2.8 GB in all), in RocksDB under
//! an 8 MiB block cache. The job must give exactly the right result while
//! its peak resident memory stays a small fraction of its state.
//!
//! The generator gives record `i` the key `i % 20M`, so the first 20M
//! records each bring a new key and the last 2M revisit the oldest keys,
//! whose state was written longest ago and has long left memory. The
//! `revisits` guest emits a key's visit count when it comes back: exactly
//! 2M records, each with count 2, if no key's state was lost or mixed up.

mod common;

use std::time::Duration;

use common::*;

const KEYS: u64 = 20_000_000;
const REVISITS: u64 = 2_000_000;
/// Bytes of value state per key: the JSON `{"visits":N,"payload":"..."}`
/// with a 100-byte payload, plus the RocksDB key (key group, lengths, key).
const STATE_BYTES_PER_KEY: u64 = 125 + 18;

#[test]
fn twenty_million_keys_of_value_state_in_rocksdb_under_a_small_cache() {
    let scratch = Scratch::new();
    let job = scratch.write(
        "job.toml",
        format!(
            r#"
[job]
name = "larger-than-memory"
parallelism = 2

[[source]]
name = "events"
type = "generator"
format = "binary-event"
[source.generator]
count = {count}
keys = {KEYS}
key_order = "sequential"
value_size = 100

[[operator]]
uid = "revisits"
kind = "keyed-process"
module = {module}
input = "events"
key_by = "record-key"

[[sink]]
name = "counts"
type = "file"
path = "counts.bin"
input = "revisits"

[state]
backend = "rocksdb"
local_dir = "state"
block_cache = "8 MiB"
write_buffer = "16 MiB"
"#,
            count = KEYS + REVISITS,
            module = toml_path(&wasm("revisits")),
        ),
    );
    let (cwd, file) = (scratch.dir.path(), "job.toml");
    assert!(job.is_file());
    let out = eddy_within(&["run", file], cwd, None, Duration::from_secs(20 * 60)).success();

    // Every revisit, and nothing else: 8-byte LE count 2, then a newline.
    let counts = std::fs::read(scratch.path("counts.bin")).expect("read the sink file");
    assert_eq!(
        counts.len() as u64,
        REVISITS * 9,
        "one 9-byte line per revisit\n{}",
        out.describe()
    );
    let mut wrong = 0;
    for line in counts.chunks_exact(9) {
        if line[..8] != 2u64.to_le_bytes() || line[8] != b'\n' {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 0, "revisits whose count is not 2");
    assert_eq!(
        out.summary_counts("operator", "revisits"),
        (KEYS + REVISITS, REVISITS)
    );

    let peak_mib: u64 = out
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("peak memory (RSS) "))
        .and_then(|rest| rest.strip_suffix(" MiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in the summary\n{}", out.describe()));
    let state_mib = (KEYS * STATE_BYTES_PER_KEY) >> 20;
    eprintln!("larger than memory: {state_mib} MiB of state, peak RSS {peak_mib} MiB");
    assert!(
        peak_mib * 4 < state_mib,
        "peak RSS {peak_mib} MiB is not well below the {state_mib} MiB of state"
    );
}
