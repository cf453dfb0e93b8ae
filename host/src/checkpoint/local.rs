//! Checkpoints in a local directory.
//!
//! ```text
//! <dir>/
//!   chk-000000000007/
//!     _manifest.json          written last: write `_manifest.json.tmp`, fsync, rename, fsync the directory
//!     <operator>/<key groups>/...   state files (paths chosen by the writer, listed in the manifest)
//! ```
//!
//! Checkpoint directories are named with zero-padded ids so they sort in
//! order. A directory without `_manifest.json` is a checkpoint that never
//! completed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::{
    CheckpointError, CheckpointStorage, FORMAT_VERSION, Manifest, OLDEST_FORMAT_VERSION, StateFile,
};

/// Name of the manifest in a checkpoint directory.
pub const MANIFEST: &str = "_manifest.json";
const CHECKPOINT_PREFIX: &str = "chk-";
const SAVEPOINT_PREFIX: &str = "savepoint-";

/// A job's checkpoints (or savepoints) below one directory.
#[derive(Debug, Clone)]
pub struct LocalCheckpointStorage {
    dir: PathBuf,
    /// How folders are named: `chk-` for checkpoints, `savepoint-` for
    /// savepoints (which retention never touches).
    prefix: &'static str,
}

impl LocalCheckpointStorage {
    /// Checkpoints below `dir`, created when first written.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalCheckpointStorage {
            dir: dir.into(),
            prefix: CHECKPOINT_PREFIX,
        }
    }

    /// Savepoints below `dir` (`savepoint-<n>` folders), created when first written.
    pub fn savepoints(dir: impl Into<PathBuf>) -> Self {
        LocalCheckpointStorage {
            dir: dir.into(),
            prefix: SAVEPOINT_PREFIX,
        }
    }

    /// The storage holding the checkpoint or savepoint folder `path`
    /// (`.../chk-<n>` or `.../savepoint-<n>`), and `n`; `None` if `path` is
    /// not named like either.
    pub fn of_checkpoint_dir(path: &Path) -> Option<(Self, u64)> {
        let name = path.file_name()?.to_str()?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or(Path::new("."));
        [CHECKPOINT_PREFIX, SAVEPOINT_PREFIX]
            .into_iter()
            .find_map(|prefix| Some((prefix, snapshot_id(name, prefix)?)))
            .map(|(prefix, id)| {
                (
                    LocalCheckpointStorage {
                        dir: parent.to_path_buf(),
                        prefix,
                    },
                    id,
                )
            })
    }

    /// The directory of checkpoint (or savepoint) `id`.
    pub fn checkpoint_dir(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{}{id:012}", self.prefix))
    }

    /// `path` below checkpoint `id`, refusing anything but plain relative
    /// components (a manifest must not point outside its checkpoint).
    fn file_path(&self, id: u64, path: &str) -> Result<PathBuf, CheckpointError> {
        let relative = Path::new(path);
        let plain = !path.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !plain || path == MANIFEST {
            return Err(CheckpointError::BadPath {
                id,
                path: path.to_string(),
            });
        }
        Ok(self.checkpoint_dir(id).join(relative))
    }
}

/// The id of a folder named `name` (`<prefix><id>`).
fn snapshot_id(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// Write `contents` to `path` and make it durable.
fn write_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Make a directory's entries (a new or renamed file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl CheckpointStorage for LocalCheckpointStorage {
    fn location(&self, id: u64) -> PathBuf {
        self.checkpoint_dir(id)
    }

    fn write_file(
        &self,
        id: u64,
        path: &str,
        contents: &[u8],
    ) -> Result<StateFile, CheckpointError> {
        let target = self.file_path(id, path)?;
        let io = |source| CheckpointError::Io {
            id,
            path: target.display().to_string(),
            source,
        };
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        write_durably(&target, contents).map_err(io)?;
        Ok(StateFile::describe(path, contents))
    }

    fn complete(&self, manifest: &Manifest) -> Result<(), CheckpointError> {
        let dir = self.checkpoint_dir(manifest.id);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| CheckpointError::Io {
                id: manifest.id,
                path,
                source,
            }
        };
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
        let staged = dir.join(format!("{MANIFEST}.tmp"));
        write_durably(&staged, &json).map_err(io(&staged))?;
        let target = dir.join(MANIFEST);
        fs::rename(&staged, &target).map_err(io(&target))?;
        sync_dir(&dir).map_err(io(&dir))
    }

    fn discard(&self, id: u64) -> Result<(), CheckpointError> {
        let dir = self.checkpoint_dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CheckpointError::Io {
                id,
                path: dir.display().to_string(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    id: 0,
                    path: self.dir.display().to_string(),
                    source,
                });
            }
        };
        let mut ids: Vec<u64> = entries
            .flatten()
            .filter_map(|entry| snapshot_id(entry.file_name().to_str()?, self.prefix))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn verified_manifest(&self, id: u64, job: &str) -> Result<Manifest, CheckpointError> {
        let path = self.checkpoint_dir(id).join(MANIFEST);
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CheckpointError::CorruptManifest {
                id,
                reason: "it is missing: the checkpoint never completed".into(),
            },
            _ => CheckpointError::Io {
                id,
                path: path.display().to_string(),
                source,
            },
        })?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::CorruptManifest {
                id,
                reason: e.to_string(),
            })?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&manifest.format_version) {
            return Err(CheckpointError::FormatVersion {
                id,
                found: manifest.format_version,
            });
        }
        if manifest.id != id {
            return Err(CheckpointError::CorruptManifest {
                id,
                reason: format!("it names checkpoint {}", manifest.id),
            });
        }
        if manifest.job != job {
            return Err(CheckpointError::OtherJob {
                id,
                found: manifest.job,
                expected: job.to_string(),
            });
        }
        for file in &manifest.files {
            let on_disk = self.file_path(id, &file.path)?;
            let bytes = match fs::metadata(&on_disk) {
                Ok(meta) => meta.len(),
                Err(_) => {
                    return Err(CheckpointError::MissingFile {
                        id,
                        path: file.path.clone(),
                    });
                }
            };
            if bytes != file.bytes {
                return Err(CheckpointError::DamagedFile {
                    id,
                    path: file.path.clone(),
                    reason: format!("{bytes} bytes, the manifest says {}", file.bytes),
                });
            }
        }
        Ok(manifest)
    }

    fn read_file(&self, id: u64, file: &StateFile) -> Result<Vec<u8>, CheckpointError> {
        let on_disk = self.file_path(id, &file.path)?;
        let contents = fs::read(&on_disk).map_err(|source| CheckpointError::Io {
            id,
            path: on_disk.display().to_string(),
            source,
        })?;
        if StateFile::describe(&file.path, &contents) != *file {
            return Err(CheckpointError::DamagedFile {
                id,
                path: file.path.clone(),
                reason: "its contents do not match the manifest's checksum".into(),
            });
        }
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::manifest::{EDDY_VERSION, SnapshotKind};

    const JOB: &str = "orders";

    /// A complete checkpoint `id` with two state files.
    fn checkpoint(storage: &LocalCheckpointStorage, id: u64) -> Manifest {
        let files = vec![
            storage
                .write_file(id, "window/0-63/state", format!("state {id}").as_bytes())
                .unwrap(),
            storage
                .write_file(id, "window/64-127/state", b"more state")
                .unwrap(),
        ];
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            kind: SnapshotKind::Checkpoint,
            eddy_version: EDDY_VERSION.into(),
            job: JOB.into(),
            id,
            max_parallelism: Some(128),
            completed_at: 1_700_000_000_000,
            files,
            operators: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            functions: Vec::new(),
        };
        storage.complete(&manifest).unwrap();
        manifest
    }

    fn latest(storage: &LocalCheckpointStorage) -> (u64, Vec<String>) {
        let restorable = storage
            .latest_restorable(JOB)
            .unwrap()
            .expect("a checkpoint");
        let refused = restorable
            .refused
            .iter()
            .map(|r| r.error.to_string())
            .collect();
        (restorable.manifest.id, refused)
    }

    #[test]
    fn the_newest_complete_checkpoint_is_restored_and_its_files_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        assert!(storage.latest_restorable(JOB).unwrap().is_none());
        checkpoint(&storage, 1);
        let second = checkpoint(&storage, 2);
        // Checkpoint 3 was begun but never completed.
        storage.write_file(3, "window/0-63/state", b"half").unwrap();
        assert_eq!(
            latest(&storage),
            (
                2,
                vec!["checkpoint 3: the manifest is truncated or corrupt (it is missing: the checkpoint never completed)".to_string()]
            )
        );
        assert_eq!(
            storage.verified_manifest(2, JOB).unwrap(),
            second,
            "the manifest reads back as written"
        );
        assert_eq!(storage.read_file(2, &second.files[0]).unwrap(), b"state 2");
        // Same size, other bytes: caught when read.
        fs::write(
            storage.checkpoint_dir(2).join("window/0-63/state"),
            b"state 9",
        )
        .unwrap();
        assert_eq!(
            storage
                .read_file(2, &second.files[0])
                .unwrap_err()
                .to_string(),
            "checkpoint 2: state file window/0-63/state is damaged (its contents do not match the manifest's checksum)"
        );
        assert!(
            !storage
                .checkpoint_dir(2)
                .join(format!("{MANIFEST}.tmp"))
                .exists()
        );
    }

    #[test]
    fn a_truncated_manifest_falls_back_to_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        checkpoint(&storage, 1);
        checkpoint(&storage, 2);
        let manifest = storage.checkpoint_dir(2).join(MANIFEST);
        let text = fs::read(&manifest).unwrap();
        fs::write(&manifest, &text[..text.len() / 2]).unwrap();
        let (id, refused) = latest(&storage);
        assert_eq!(id, 1);
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].starts_with("checkpoint 2: the manifest is truncated or corrupt ("),
            "{refused:?}"
        );
    }

    #[test]
    fn a_missing_or_damaged_state_file_falls_back_to_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        checkpoint(&storage, 1);
        checkpoint(&storage, 2);
        checkpoint(&storage, 3);
        fs::remove_file(storage.checkpoint_dir(3).join("window/64-127/state")).unwrap();
        fs::write(storage.checkpoint_dir(2).join("window/0-63/state"), b"cut").unwrap();
        let (id, refused) = latest(&storage);
        assert_eq!(id, 1);
        assert_eq!(
            refused,
            vec![
                "checkpoint 3: state file window/64-127/state is missing".to_string(),
                "checkpoint 2: state file window/0-63/state is damaged (3 bytes, the manifest says 7)"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn another_jobs_or_another_versions_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        checkpoint(&storage, 1);
        let mut other = checkpoint(&storage, 2);
        other.job = "payments".into();
        storage.complete(&other).unwrap();
        let mut future = checkpoint(&storage, 3);
        future.format_version = FORMAT_VERSION + 1;
        storage.complete(&future).unwrap();
        let (id, refused) = latest(&storage);
        assert_eq!(id, 1);
        assert_eq!(
            refused,
            vec![
                format!(
                    "checkpoint 3: written by format version {}, this eddy reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}",
                    FORMAT_VERSION + 1
                ),
                "checkpoint 2 belongs to job `payments`, not to this job `orders`".to_string(),
            ]
        );
    }

    #[test]
    fn a_manifest_cannot_point_outside_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path().join("checkpoints"));
        for path in ["../escape", "/etc/passwd", "", MANIFEST, "a/../../b"] {
            assert!(
                matches!(
                    storage.write_file(1, path, b"x"),
                    Err(CheckpointError::BadPath { .. })
                ),
                "{path:?}"
            );
        }
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn retention_keeps_the_newest_complete_checkpoints_and_removes_failed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        for id in 1..=4 {
            checkpoint(&storage, id);
        }
        // 5 failed; 6 completed; 7 is still being written.
        storage
            .write_file(5, "window/0-63/state", b"failed")
            .unwrap();
        checkpoint(&storage, 6);
        storage
            .write_file(7, "window/0-63/state", b"ongoing")
            .unwrap();
        storage.retain(JOB, 2).unwrap();
        assert_eq!(storage.ids().unwrap(), vec![4, 6, 7]);
        assert_eq!(latest(&storage).0, 6);
    }
}
