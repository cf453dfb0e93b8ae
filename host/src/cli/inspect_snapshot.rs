//! `eddy inspect SAVEPOINT` (or a checkpoint folder): what a snapshot
//! holds, checked as a restore would check it (format version, every
//! file's size and checksum), per operator: its function, its states with
//! their key and entry counts, timers and bytes; then source positions and
//! pending sink files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use bytesize::ByteSize;

use crate::checkpoint::incremental::{NativeRestore, read_operator_part};
use crate::checkpoint::{CheckpointStorage, Manifest, SnapshotKind, open_checkpoint_at};
use crate::snapshot::{RestoredOperatorState, TimeDomain};
use crate::state::KeyGroupRange;
use crate::wasm::versions::storage_name;

/// Whether `path` is named like a checkpoint or savepoint folder.
pub fn is_snapshot(path: &Path) -> bool {
    path.is_dir() && open_checkpoint_at(path).is_some()
}

/// Print what the snapshot folder `path` holds.
pub fn inspect_snapshot(path: &Path) -> Result<()> {
    let (storage, id) = open_checkpoint_at(path)
        .with_context(|| format!("{} is not a checkpoint or savepoint folder", path.display()))?;
    let manifest_path = path.join("_manifest.json");
    let bytes = std::fs::read(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let job = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|m| m["job"].as_str().map(str::to_string))
        .with_context(|| format!("{}: not a manifest", manifest_path.display()))?;
    let manifest = storage
        .verified_manifest(id, &job)
        .with_context(|| format!("cannot inspect {}", path.display()))?;
    print!("{}", describe(&manifest, storage.as_ref())?);
    Ok(())
}

/// What one state holds across the snapshot.
#[derive(Default)]
struct StateFigures {
    keys: std::collections::BTreeSet<(u16, Vec<u8>)>,
    entries: u64,
}

fn describe(manifest: &Manifest, storage: &dyn CheckpointStorage) -> Result<String> {
    let kind = match manifest.kind {
        SnapshotKind::Checkpoint => "checkpoint",
        SnapshotKind::Savepoint => "savepoint",
    };
    let mut text = String::new();
    let eddy = if manifest.eddy_version.is_empty() {
        String::new()
    } else {
        format!(", written by eddy {}", manifest.eddy_version)
    };
    let max_parallelism = manifest
        .max_parallelism
        .map_or(String::new(), |m| format!(", max_parallelism {m}"));
    let _ = writeln!(
        text,
        "{kind} {} of job `{}` (format {}{eddy}{max_parallelism}), completed at {} ms since the epoch",
        manifest.id, manifest.job, manifest.format_version, manifest.completed_at
    );
    let (file_sizes, shared_sizes) = (sizes(&manifest.files), sizes(&manifest.shared));
    let mut uids: Vec<&str> = manifest.operators.iter().map(|o| o.uid.as_str()).collect();
    uids.dedup();
    for uid in uids {
        let parts: Vec<_> = manifest.operators.iter().filter(|o| o.uid == uid).collect();
        let mut states: BTreeMap<String, StateFigures> = BTreeMap::new();
        let (mut event_timers, mut processing_timers, mut broadcast, mut bytes) = (0, 0, 0, 0);
        let all = KeyGroupRange {
            groups: 0..u16::MAX,
        };
        for part in &parts {
            let file = manifest
                .files
                .iter()
                .find(|f| f.path == part.file)
                .with_context(|| format!("the manifest lists no file {}", part.file))?;
            bytes += file.bytes;
            // Native files (incremental checkpoints) count with their state.
            for native in part.native.iter().flat_map(|n| &n.files) {
                let sizes = if native.shared {
                    &shared_sizes
                } else {
                    &file_sizes
                };
                bytes += sizes.get(native.path.as_str()).copied().unwrap_or(0);
            }
            let mut restored = RestoredOperatorState::default();
            read_operator_part(
                storage,
                manifest,
                part,
                &all,
                part.subtask == 0,
                NativeRestore::ReadAsEntries,
                &std::env::temp_dir(),
                &mut restored,
            )?;
            for entry in restored.entries {
                let figures = states.entry(entry.state).or_default();
                figures.keys.insert((entry.key_group, entry.key));
                figures.entries += 1;
            }
            for (domain, _) in &restored.timers {
                match domain {
                    TimeDomain::EventTime => event_timers += 1,
                    TimeDomain::ProcessingTime => processing_timers += 1,
                }
            }
            broadcast += restored.broadcast.len();
        }
        let function = manifest.functions.iter().find(|f| f.uid == uid);
        let about = function.map_or("host operator".to_string(), |f| {
            let sha = f.module_sha256.get(..16).unwrap_or(&f.module_sha256);
            let swaps = match f.swaps.len() {
                0 => String::new(),
                1 => ", 1 live swap".into(),
                n => format!(", {n} live swaps"),
            };
            format!("{}, module sha256 {sha}{swaps}", f.kind)
        });
        let _ = writeln!(
            text,
            "  operator `{uid}` ({about}): {} subtasks, {}",
            parts.len(),
            ByteSize(bytes)
        );
        for (name, figures) in &states {
            let declared = function
                .and_then(|f| (f.states.iter()).find(|s| &storage_name(&s.name, s.version) == name))
                .map_or(String::new(), |s| {
                    let ttl = s.ttl_ms.map_or(String::new(), |t| format!(", ttl {t} ms"));
                    format!(" ({}, version {}{ttl})", s.kind, s.version)
                });
            let _ = writeln!(
                text,
                "    state `{name}`{declared}: {} keys, {} entries",
                figures.keys.len(),
                figures.entries
            );
        }
        if event_timers + processing_timers > 0 {
            let _ = writeln!(
                text,
                "    timers: {event_timers} event-time, {processing_timers} processing-time"
            );
        }
        if broadcast > 0 {
            let _ = writeln!(
                text,
                "    broadcast state: {broadcast} entries (per subtask)"
            );
        }
    }
    for source in &manifest.sources {
        let _ = writeln!(
            text,
            "  source `{}` subtask {}/{}: {}",
            source.source,
            source.subtask + 1,
            source.parallelism,
            source
        );
    }
    for sink in &manifest.sinks {
        let _ = writeln!(
            text,
            "  sink `{}`: committed {}",
            sink.sink, sink.committable
        );
    }
    Ok(text)
}

/// Bytes of each file, by path.
fn sizes(files: &[crate::checkpoint::StateFile]) -> std::collections::HashMap<&str, u64> {
    files.iter().map(|f| (f.path.as_str(), f.bytes)).collect()
}
