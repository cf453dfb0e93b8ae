//! Checkpoints in a local directory.
//!
//! ```text
//! <dir>/
//!   chk-000000000007/
//!     _manifest.json          written last: write `_manifest.json.tmp`, fsync, rename, fsync the directory
//!     <operator>/<key groups>/...   state files (paths chosen by the writer, listed in the manifest)
//!
//!   shared/<operator>/<database>/<checkpoint id>-<file>.sst
//!                           files of incremental checkpoints, which several refer to
//! ```
//!
//! Checkpoint directories are named with zero-padded ids so they sort in
//! order. A directory without `_manifest.json` is a checkpoint that never
//! completed. A shared file is named after the checkpoint that first wrote
//! it, so one written by a checkpoint still in progress is told from one
//! that no complete checkpoint refers to any more.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::manifest::shared_file_checkpoint;
use super::{
    CheckpointError, CheckpointStorage, FORMAT_VERSION, Manifest, OLDEST_FORMAT_VERSION, StateFile,
    StreamedWrite,
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

    /// `path` below the shared folder, refusing anything but plain
    /// relative components.
    fn shared_path(&self, id: u64, path: &str) -> Result<PathBuf, CheckpointError> {
        let relative = Path::new(path);
        let plain = !path.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(CheckpointError::BadPath {
                id,
                path: path.to_string(),
            });
        }
        Ok(self.dir.join(SHARED).join(relative))
    }

    /// Where `file` of checkpoint `id` is: below the checkpoint or shared.
    fn located(&self, id: u64, file: &StateFile, shared: bool) -> Result<PathBuf, CheckpointError> {
        if shared {
            self.shared_path(id, &file.path)
        } else {
            self.file_path(id, &file.path)
        }
    }

    /// Every shared file, as paths below the shared folder.
    fn shared_files(&self) -> Result<Vec<String>, CheckpointError> {
        let root = self.dir.join(SHARED);
        let mut found = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            let entries = match fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(CheckpointError::Io {
                        id: 0,
                        path: folder.display().to_string(),
                        source,
                    });
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    folders.push(path);
                } else if let Ok(relative) = path.strip_prefix(&root) {
                    let parts: Vec<_> = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect();
                    found.push(parts.join("/"));
                }
            }
        }
        Ok(found)
    }
}

/// A file being written, hashed and counted as it goes, so that its
/// [`StateFile`] needs no second read.
struct HashingWriter {
    inner: std::io::BufWriter<File>,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
}

impl HashingWriter {
    fn new(file: File) -> Self {
        HashingWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            bytes: 0,
        }
    }

    /// Flush the file (and sync it if `durably`); what it holds, at `path`.
    fn finish(self, path: &str, durably: bool) -> std::io::Result<StateFile> {
        let file = self.inner.into_inner().map_err(|e| e.into_error())?;
        if durably {
            file.sync_all()?;
        }
        Ok(StateFile {
            path: path.to_string(),
            bytes: self.bytes,
            xxh3: self.hasher.digest(),
        })
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Copy `from` to `to` (created), returning what it holds as a
/// [`StateFile`] at `path`; durable if `durably`.
fn copy_file(from: &Path, to: &Path, path: &str, durably: bool) -> std::io::Result<StateFile> {
    let mut input = File::open(from)?;
    let mut output = HashingWriter::new(File::create(to)?);
    std::io::copy(&mut input, &mut output)?;
    output.finish(path, durably)
}

/// Folder of the files incremental checkpoints share, below the storage's.
const SHARED: &str = "shared";

/// How messages name `file`: below the checkpoint's folder, or below the
/// storage's, for a shared one.
fn shown_path(file: &StateFile, shared: bool) -> String {
    if shared {
        format!("{SHARED}/{}", file.path)
    } else {
        file.path.clone()
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
        let write =
            |out: &mut dyn Write| out.write_all(contents).map_err(CheckpointError::WriteState);
        self.write_streamed(id, path, Box::new(write))
    }

    fn write_streamed(
        &self,
        id: u64,
        path: &str,
        write: StreamedWrite<'_>,
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
        let mut out = HashingWriter::new(File::create(&target).map_err(io)?);
        // A failed write names the file (a full disk shows where).
        write(&mut out).map_err(|error| match error {
            CheckpointError::WriteState(source) => io(source),
            other => other,
        })?;
        out.finish(path, true).map_err(io)
    }

    fn write_shared(&self, id: u64, path: &str, from: &Path) -> Result<StateFile, CheckpointError> {
        let target = self.shared_path(id, path)?;
        let io = |source| CheckpointError::Io {
            id,
            path: target.display().to_string(),
            source,
        };
        let parent = target.parent().expect("below the shared folder");
        fs::create_dir_all(parent).map_err(io)?;
        let file = copy_file(from, &target, path, true).map_err(io)?;
        sync_dir(parent).map_err(io)?;
        Ok(file)
    }

    fn copy_out(
        &self,
        id: u64,
        file: &StateFile,
        shared: bool,
        to: &Path,
    ) -> Result<(), CheckpointError> {
        let from = self.located(id, file, shared)?;
        let copied =
            copy_file(&from, to, &file.path, false).map_err(|source| CheckpointError::Io {
                id,
                path: from.display().to_string(),
                source,
            })?;
        if copied != *file {
            return Err(CheckpointError::DamagedFile {
                id,
                path: shown_path(file, shared),
                reason: "its contents do not match the manifest's checksum".into(),
            });
        }
        Ok(())
    }

    fn remove_shared_except(
        &self,
        referenced: &std::collections::HashSet<&str>,
        newest_complete: u64,
    ) -> Result<(), CheckpointError> {
        for path in self.shared_files()? {
            // A file written by a newer checkpoint is part of one in progress.
            let in_progress = shared_file_checkpoint(&path).is_none_or(|id| id > newest_complete);
            if referenced.contains(path.as_str()) || in_progress {
                continue;
            }
            let on_disk = self.shared_path(newest_complete, &path)?;
            if let Err(source) = fs::remove_file(&on_disk)
                && source.kind() != std::io::ErrorKind::NotFound
            {
                return Err(CheckpointError::Io {
                    id: newest_complete,
                    path: on_disk.display().to_string(),
                    source,
                });
            }
        }
        Ok(())
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
            std::io::ErrorKind::NotFound => CheckpointError::Incomplete { id },
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
        let files = (manifest.files.iter().map(|f| (f, false)))
            .chain(manifest.shared.iter().map(|f| (f, true)));
        for (file, shared) in files {
            let on_disk = self.located(id, file, shared)?;
            let bytes = match fs::metadata(&on_disk) {
                Ok(meta) => meta.len(),
                Err(_) => {
                    return Err(CheckpointError::MissingFile {
                        id,
                        path: shown_path(file, shared),
                    });
                }
            };
            if bytes != file.bytes {
                return Err(CheckpointError::DamagedFile {
                    id,
                    path: shown_path(file, shared),
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
    use crate::checkpoint::manifest::{EDDY_VERSION, SnapshotKind, shared_file_path};

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
            shared: Vec::new(),
            operators: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            functions: Vec::new(),
        };
        storage.complete(&manifest).unwrap();
        manifest
    }

    /// A complete checkpoint `id` referring to shared files `names`
    /// (written by checkpoint `id` unless there already).
    fn incremental(
        storage: &LocalCheckpointStorage,
        dir: &Path,
        id: u64,
        names: &[&str],
    ) -> Manifest {
        let mut manifest = checkpoint(storage, id);
        for name in names {
            let existing = storage
                .shared_files()
                .unwrap()
                .into_iter()
                .find(|p| p.ends_with(&format!("-{name}")));
            let path = existing.unwrap_or_else(|| {
                crate::checkpoint::manifest::shared_file_path("count", "db1", id, name)
            });
            let local = dir.join(name);
            fs::write(&local, format!("sst {name}")).unwrap();
            manifest
                .shared
                .push(storage.write_shared(id, &path, &local).unwrap());
        }
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
    fn retention_removes_a_shared_file_once_no_checkpoint_left_refers_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let local = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        incremental(&storage, local.path(), 1, &["1.sst", "2.sst"]);
        incremental(&storage, local.path(), 2, &["2.sst", "3.sst"]);
        let third = incremental(&storage, local.path(), 3, &["3.sst", "4.sst"]);
        // Checkpoint 4 is in progress and has written a file already.
        let in_progress = shared_file_path("count", "db1", 4, "5.sst");
        fs::write(local.path().join("5.sst"), "sst 5").unwrap();
        storage
            .write_shared(4, &in_progress, &local.path().join("5.sst"))
            .unwrap();
        storage.retain(JOB, 2).unwrap();
        let mut left = storage.shared_files().unwrap();
        left.sort();
        assert_eq!(
            left,
            vec![
                shared_file_path("count", "db1", 1, "2.sst"),
                shared_file_path("count", "db1", 2, "3.sst"),
                shared_file_path("count", "db1", 3, "4.sst"),
                in_progress,
            ],
            "1.sst went with checkpoint 1; 2.sst, which it wrote, stays for checkpoint 2"
        );
        // A shared file copied out is checked; one missing makes its
        // checkpoint unusable.
        let copy = local.path().join("copy");
        storage.copy_out(3, &third.shared[1], true, &copy).unwrap();
        assert_eq!(fs::read_to_string(&copy).unwrap(), "sst 4.sst");
        // Same size, other bytes: caught when copied out.
        let on_disk = dir.path().join("shared").join(&third.shared[1].path);
        fs::write(&on_disk, "sst 9.sst").unwrap();
        assert_eq!(
            (storage.copy_out(3, &third.shared[1], true, &copy))
                .unwrap_err()
                .to_string(),
            format!(
                "checkpoint 3: state file shared/{} is damaged (its contents do not match the manifest's checksum)",
                third.shared[1].path
            )
        );
        fs::remove_file(dir.path().join("shared").join(&third.shared[1].path)).unwrap();
        assert_eq!(
            storage.verified_manifest(3, JOB).unwrap_err().to_string(),
            format!(
                "checkpoint 3: state file shared/{} is missing",
                third.shared[1].path
            )
        );
        let (id, _) = latest(&storage);
        assert_eq!(id, 2);
    }

    #[test]
    fn retention_removes_no_shared_file_while_a_newer_checkpoint_cannot_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let local = tempfile::tempdir().unwrap();
        let storage = LocalCheckpointStorage::new(dir.path());
        incremental(&storage, local.path(), 1, &["x.sst"]);
        incremental(&storage, local.path(), 2, &["y.sst"]);
        // Checkpoint 3 completed, referring to x.sst again, but one of its
        // state files reads wrong for now: it is not a checkpoint to
        // restore, nor one whose references are known to be gone.
        incremental(&storage, local.path(), 3, &["x.sst"]);
        fs::write(storage.checkpoint_dir(3).join("window/0-63/state"), b"?").unwrap();
        storage.retain(JOB, 1).unwrap();
        assert_eq!(storage.ids().unwrap(), vec![2, 3]);
        let mut left = storage.shared_files().unwrap();
        left.sort();
        assert_eq!(
            left,
            vec![
                shared_file_path("count", "db1", 1, "x.sst"),
                shared_file_path("count", "db1", 2, "y.sst"),
            ]
        );
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
