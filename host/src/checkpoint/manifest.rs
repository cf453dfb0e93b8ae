//! The manifest of a completed checkpoint: what it holds and how to tell
//! that every file of it is whole.

use serde::{Deserialize, Serialize};

use super::protocol::{SinkCommit, SourceState};
use crate::snapshot::NativeDatabase;

/// Version of the checkpoint layout this eddy writes. Format 3 may keep an
/// operator subtask's keyed state as RocksDB's own files, some of them
/// shared with other checkpoints (incremental checkpoints); format 2 holds
/// a list of split positions per source subtask and opaque sink
/// committables; format 1 (one tagged position, pending file lists) is
/// still read. A checkpoint of any other version is refused rather than
/// misread.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest layout this eddy still reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// What a checkpoint holds. Written last, atomically: a checkpoint without
/// a manifest never completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// A checkpoint (for recovery, subject to retention) or a savepoint
    /// (a user's, kept until they delete it).
    #[serde(default)]
    pub kind: SnapshotKind,
    /// The eddy version that wrote it, for messages about old snapshots.
    #[serde(default)]
    pub eddy_version: String,
    /// The job (its `[job] name`) that took the checkpoint; another job's
    /// checkpoint is refused.
    pub job: String,
    /// Checkpoint number, increasing within a job.
    pub id: u64,
    /// The job's number of key groups, which state is partitioned by: a
    /// job with another `max_parallelism` cannot restore it.
    #[serde(default)]
    pub max_parallelism: Option<u32>,
    /// Processing time the checkpoint completed at, ms since the Unix epoch.
    pub completed_at: i64,
    /// Every state file, with what it must look like.
    pub files: Vec<StateFile>,
    /// Files this checkpoint shares with others (the SST files of
    /// incremental checkpoints), paths relative to the checkpoint storage's
    /// `shared/` folder. Retention removes one only when no checkpoint left
    /// refers to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<StateFile>,
    /// Which file holds which operator subtask's state.
    #[serde(default)]
    pub operators: Vec<OperatorFile>,
    /// Where every source subtask was.
    #[serde(default)]
    pub sources: Vec<SourceState>,
    /// What two-phase-commit sinks pre-committed, published once this
    /// checkpoint is complete.
    #[serde(default)]
    pub sinks: Vec<SinkCommit>,
    /// The guest function of every WASM operator: which module version
    /// wrote the state, and what its states are, so that a restore can
    /// refuse a module whose state kinds changed.
    #[serde(default)]
    pub functions: Vec<FunctionRecord>,
}

/// The guest function of one operator, as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub uid: String,
    /// SHA-256 of the module's bytes, hex.
    pub module_sha256: String,
    /// The function kind (`keyed-process`, `aggregate`, ...).
    pub kind: String,
    pub states: Vec<StateRecord>,
    /// The config the function was initialised with, when a live swap
    /// gave it another than the job file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The live swaps of this operator's function, oldest first. When
    /// there are any, the module is also stored in the snapshot
    /// (`modules/<sha256>.wasm`), and a restore with the job file's
    /// original module goes on with the swapped one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swaps: Vec<SwapRecord>,
}

impl FunctionRecord {
    /// Where a snapshot holds the module of a swapped function.
    pub fn module_file(sha256: &str) -> String {
        format!("modules/{sha256}.wasm")
    }
}

/// One live swap of an operator's function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapRecord {
    /// The id of the swap's barrier.
    pub barrier: u64,
    /// Processing time of the swap, ms since the Unix epoch.
    pub at: i64,
    /// SHA-256 of the module before and after.
    pub from_sha256: String,
    pub to_sha256: String,
    /// The file the new module was read from.
    pub module: String,
}

/// One state a function declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecord {
    pub name: String,
    /// `value`, `list`, `map` or `broadcast-map`.
    pub kind: String,
    /// Time-to-live in milliseconds, if the state has one.
    pub ttl_ms: Option<u64>,
    /// Schema version of its values (1 in snapshots from before versions).
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

/// Whether a manifest is a checkpoint's or a savepoint's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    #[default]
    Checkpoint,
    Savepoint,
}

/// The version of eddy writing manifests now.
pub const EDDY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The state file of one operator subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorFile {
    pub uid: String,
    pub subtask: u32,
    pub parallelism: u32,
    /// `[start, end)` of the key groups the subtask owned.
    pub key_groups: (u16, u16),
    /// Path of the file, as in [`Manifest::files`]. When the keyed state is
    /// kept natively, the file holds the rest (heap timers, broadcast
    /// state, the watermark).
    pub file: String,
    /// The keyed state as the database's own files (an incremental
    /// checkpoint of RocksDB state); `None` when the file holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeCheckpoint>,
}

/// An operator subtask's keyed state kept as RocksDB's own files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeCheckpoint {
    /// The database the files are of: its lineage and states.
    #[serde(flatten)]
    pub database: NativeDatabase,
    /// Every file of the database, as the database names it.
    pub files: Vec<NativeFile>,
}

/// One file of a [`NativeCheckpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeFile {
    /// Its name in the database's folder.
    pub name: String,
    /// Where the checkpoint keeps it: a path in [`Manifest::shared`] (an
    /// SST file, immutable, which later checkpoints refer to instead of
    /// copying) or in [`Manifest::files`] (the database's manifest and
    /// options, which change).
    pub path: String,
    /// Whether `path` is in [`Manifest::shared`].
    pub shared: bool,
}
/// One file of a checkpoint, relative to the checkpoint's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Path below the checkpoint directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// xxh3-64 of the contents, to tell a damaged file from a whole one.
    pub xxh3: u64,
}

impl StateFile {
    /// The entry for `contents` written at `path`.
    pub fn describe(path: &str, contents: &[u8]) -> Self {
        StateFile {
            path: path.to_string(),
            bytes: contents.len() as u64,
            xxh3: xxhash_rust::xxh3::xxh3_64(contents),
        }
    }
}

/// Where an incremental checkpoint `id` keeps file `name` of database
/// `lineage` of operator `uid`, below the shared folder: named after the
/// checkpoint that first wrote it (see [`shared_file_checkpoint`]).
pub fn shared_file_path(uid: &str, lineage: &str, id: u64, name: &str) -> String {
    format!("{uid}/{lineage}/{id:012}-{name}")
}

/// The checkpoint that wrote the shared file at `path` ([`shared_file_path`]).
pub fn shared_file_checkpoint(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    name.split_once('-')?.0.parse().ok()
}
