//! Checkpoints (design decision 4): consistent snapshots of a running job,
//! from which it restarts after a failure with nothing lost or duplicated.
//!
//! This module holds where checkpoints are kept and how a complete one is
//! told from a damaged one: [`CheckpointStorage`] with the local-directory
//! implementation [`LocalCheckpointStorage`] (made only by [`open_storage`]
//! and [`open_checkpoint_at`]; the rest of eddy sees the trait), and the
//! [`Manifest`] that makes a checkpoint complete. The barrier protocol that takes them is issue 5's
//! next part (see `ARCHITECTURE.md`, "Intended checkpoint flow").

pub mod coordinator;
pub mod incremental;
pub mod local;
pub mod manifest;
pub mod protocol;
pub mod state_file;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::job::CheckpointConfig;
use crate::snapshot::SnapshotError;

pub use local::LocalCheckpointStorage;
pub use manifest::{
    EDDY_VERSION, FORMAT_VERSION, FunctionRecord, Manifest, NativeCheckpoint, NativeFile,
    OLDEST_FORMAT_VERSION, OperatorFile, SnapshotKind, StateFile, StateRecord, SwapRecord,
};
pub use protocol::{
    AfterSavepoint, Barrier, BarrierKind, BarrierRequests, CheckpointHandle, CheckpointTag,
    PreparedSwap, StopVerdict, SwapDurability, SwappedSubtask, TaskAck,
};

/// Why a checkpoint cannot be used; each names the checkpoint and what is
/// wrong with it, for the message a user sees.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("checkpoint {id}: {path}: {source}")]
    Io {
        id: u64,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint {id}: the manifest is truncated or corrupt ({reason})")]
    CorruptManifest { id: u64, reason: String },
    /// No manifest at all: the checkpoint failed, or is still being taken.
    #[error(
        "checkpoint {id}: the manifest is truncated or corrupt (it is missing: the checkpoint never completed)"
    )]
    Incomplete { id: u64 },
    #[error(
        "checkpoint {id}: written by format version {found}, this eddy reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}"
    )]
    FormatVersion { id: u64, found: u32 },
    #[error("checkpoint {id} belongs to job `{found}`, not to this job `{expected}`")]
    OtherJob {
        id: u64,
        found: String,
        expected: String,
    },
    #[error("checkpoint {id}: state file {path} is missing")]
    MissingFile { id: u64, path: String },
    #[error("checkpoint {id}: state file {path} is damaged ({reason})")]
    DamagedFile {
        id: u64,
        path: String,
        reason: String,
    },
    #[error("checkpoint {id}: state file path {path} is not a plain relative path")]
    BadPath { id: u64, path: String },
    /// An operator state file (`state_file`) is not one, is truncated, or
    /// has a part that cannot be decoded; `reason` says which part.
    #[error("an operator state file cannot be read: {reason}")]
    UnreadableState { reason: String },
    /// Writing an operator state file failed (the output, or a frame too
    /// large for the format).
    #[error("writing an operator state file: {0}")]
    WriteState(#[source] std::io::Error),
    /// The state snapshot being written out could not be read (a RocksDB
    /// checkpoint that cannot be opened or holds malformed keys).
    #[error("reading the state snapshot to write it out: {0}")]
    ReadSnapshot(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Writing a snapshot out fails on either side: reading it, or writing the file.
impl From<SnapshotError> for CheckpointError {
    fn from(error: SnapshotError) -> Self {
        match error {
            SnapshotError::Read(error) => CheckpointError::ReadSnapshot(error),
            SnapshotError::Write(error) => CheckpointError::WriteState(error),
        }
    }
}

/// The storage a job's `[checkpoints]` section names: the one place that
/// picks the medium (a local directory now), so that everything else sees
/// only [`CheckpointStorage`] and an object store can follow.
pub fn open_storage(config: &CheckpointConfig) -> Arc<dyn CheckpointStorage> {
    Arc::new(LocalCheckpointStorage::new(&config.dir))
}

/// Savepoints below `dir` (`savepoint-<n>` folders), which retention never
/// touches.
pub fn open_savepoint_storage(dir: &Path) -> Arc<dyn CheckpointStorage> {
    Arc::new(LocalCheckpointStorage::savepoints(dir))
}

/// The storage holding the checkpoint or savepoint `path` names
/// (`--from-checkpoint PATH`, `--from-savepoint PATH`: a `chk-<n>` or
/// `savepoint-<n>` folder), and its id; `None` if `path` is not named like
/// either.
pub fn open_checkpoint_at(path: &Path) -> Option<(Arc<dyn CheckpointStorage>, u64)> {
    let (storage, id) = LocalCheckpointStorage::of_checkpoint_dir(path)?;
    Some((Arc::new(storage), id))
}

/// A checkpoint that was skipped while looking for one to restore, and why.
#[derive(Debug)]
pub struct RefusedCheckpoint {
    pub id: u64,
    pub error: CheckpointError,
}

/// The checkpoint to restore from, and the newer ones refused on the way.
#[derive(Debug)]
pub struct Restorable {
    pub manifest: Manifest,
    pub refused: Vec<RefusedCheckpoint>,
}

/// What writes a state file's contents as it is streamed to storage
/// ([`CheckpointStorage::write_streamed`]).
pub type StreamedWrite<'a> = Box<dyn FnOnce(&mut dyn Write) -> Result<(), CheckpointError> + 'a>;

/// Where a job's checkpoints are kept. Local directories now; the trait
/// keeps the runtime apart from the medium so an object store can follow.
pub trait CheckpointStorage: Send + Sync {
    /// Write one state file of checkpoint `id` (which has not completed),
    /// durably, and describe it for the manifest.
    fn write_file(
        &self,
        id: u64,
        path: &str,
        contents: &[u8],
    ) -> Result<StateFile, CheckpointError>;

    /// Write one state file of checkpoint `id` as `write` produces it,
    /// streamed to storage (a state file may be larger than memory),
    /// durably, and describe it for the manifest.
    fn write_streamed(
        &self,
        id: u64,
        path: &str,
        write: StreamedWrite<'_>,
    ) -> Result<StateFile, CheckpointError>;

    /// Copy the local file `from` into the shared folder at `path` (for
    /// checkpoint `id`, which has not completed), durably, and describe it
    /// for the manifest's shared files.
    fn write_shared(&self, id: u64, path: &str, from: &Path) -> Result<StateFile, CheckpointError>;

    /// Copy `file` of checked checkpoint `id` (a shared one if `shared`)
    /// to the local path `to`, checked against the manifest's checksum.
    fn copy_out(
        &self,
        id: u64,
        file: &StateFile,
        shared: bool,
        to: &Path,
    ) -> Result<(), CheckpointError>;

    /// Remove every shared file that is not in `referenced`, except those
    /// written by checkpoints newer than `newest_complete` (in progress).
    fn remove_shared_except(
        &self,
        referenced: &HashSet<&str>,
        newest_complete: u64,
    ) -> Result<(), CheckpointError>;

    /// Complete checkpoint `id`: write its manifest atomically, so that a
    /// crash leaves either no manifest or a whole one.
    fn complete(&self, manifest: &Manifest) -> Result<(), CheckpointError>;

    /// Remove checkpoint `id` (failed, timed out, or beyond retention).
    fn discard(&self, id: u64) -> Result<(), CheckpointError>;

    /// Ids of the checkpoints present, complete or not, oldest first.
    fn ids(&self) -> Result<Vec<u64>, CheckpointError>;

    /// The manifest of checkpoint `id`, checked: format version, job, and
    /// every state file present and whole.
    fn verified_manifest(&self, id: u64, job: &str) -> Result<Manifest, CheckpointError>;

    /// The contents of a state file of a checked checkpoint, checked
    /// against the manifest's checksum.
    fn read_file(&self, id: u64, file: &StateFile) -> Result<Vec<u8>, CheckpointError>;

    /// Where snapshot `id` is, as a user names it (a folder for local
    /// storage): what `--from-checkpoint` and `--from-savepoint` take.
    fn location(&self, id: u64) -> std::path::PathBuf;

    /// The newest checkpoint of `job` that passes [`Self::verified_manifest`],
    /// with the newer ones refused on the way (`None` if there is none).
    fn latest_restorable(&self, job: &str) -> Result<Option<Restorable>, CheckpointError> {
        let mut refused = Vec::new();
        for id in self.ids()?.into_iter().rev() {
            match self.verified_manifest(id, job) {
                Ok(manifest) => return Ok(Some(Restorable { manifest, refused })),
                Err(error) => refused.push(RefusedCheckpoint { id, error }),
            }
        }
        Ok(None)
    }

    /// Keep the newest `keep` complete checkpoints of `job` and remove the
    /// rest: older complete ones, and incomplete ones older than the newest
    /// complete one (those failed; a newer one may still be in progress);
    /// then the shared files that no checkpoint left refers to.
    fn retain(&self, job: &str, keep: usize) -> Result<(), CheckpointError> {
        // Each checked once, so that every decision below sees the same answer.
        let checked: Vec<(u64, Result<Manifest, CheckpointError>)> = (self.ids()?.into_iter())
            .map(|id| (id, self.verified_manifest(id, job)))
            .collect();
        let complete: Vec<u64> = (checked.iter())
            .filter(|(_, manifest)| manifest.is_ok())
            .map(|&(id, _)| id)
            .collect();
        let Some(&newest) = complete.last() else {
            return Ok(());
        };
        let kept = &complete[complete.len().saturating_sub(keep.max(1))..];
        let mut referenced: HashSet<String> = HashSet::new();
        let mut unsure = None;
        for (id, manifest) in checked {
            match manifest {
                _ if id < newest && !kept.contains(&id) => self.discard(id)?,
                Ok(manifest) => referenced.extend(manifest.shared.into_iter().map(|f| f.path)),
                // Still being taken: its own files are newer than `newest`.
                Err(CheckpointError::Incomplete { .. }) => {}
                Err(error) => unsure = Some(error),
            }
        }
        // Shared files go once no checkpoint left refers to them; while a
        // newer checkpoint's manifest cannot be read, none goes.
        if let Some(error) = unsure {
            tracing::warn!("shared checkpoint files are kept for now: {error}");
            return Ok(());
        }
        let referenced: HashSet<&str> = referenced.iter().map(String::as_str).collect();
        self.remove_shared_except(&referenced, newest)
    }
}
