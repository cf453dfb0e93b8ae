//! Incremental checkpoints of RocksDB state (Flink's incremental mode): an
//! operator subtask's keyed state is kept as the database's own files. SST
//! files never change once written, so a checkpoint copies only those that
//! no complete checkpoint holds yet into the storage's shared folder and
//! refers to the others; the database's manifest and options, which do
//! change, are copied into the checkpoint itself.
//!
//! [`SharedFiles`] remembers which SST files the newest complete
//! checkpoint holds. Only files of a complete checkpoint are referred to:
//! one written for a checkpoint that failed may be gone by the next one.
//! Retention ([`super::CheckpointStorage::retain`]) removes a shared file
//! once no checkpoint left refers to it.

use std::collections::HashMap;
use std::path::Path;

use super::manifest::shared_file_path;
use super::{
    CheckpointError, CheckpointStorage, Manifest, NativeCheckpoint, NativeFile, OperatorFile,
    StateFile, state_file,
};
use crate::snapshot::{NativeFiles, RestoredOperatorState};
#[cfg(feature = "rocksdb")]
use crate::snapshot::{SnapshotError, SnapshotSink, StoredEntry, TimeDomain, Timer};
use crate::state::KeyGroupRange;

/// The SST files the newest complete checkpoint holds, by database lineage
/// and file name.
#[derive(Debug, Default)]
pub struct SharedFiles {
    confirmed: HashMap<(String, String), StateFile>,
}

/// One operator subtask's native state as written for a checkpoint.
#[derive(Debug)]
pub struct WrittenNative {
    /// What the manifest records for the subtask's files.
    pub native: NativeCheckpoint,
    /// Files written into the checkpoint (manifest, options).
    pub files: Vec<StateFile>,
    /// Shared files it refers to, new or not.
    pub shared: Vec<StateFile>,
    /// Bytes of shared files written for this checkpoint (the rest were
    /// already there).
    pub uploaded_bytes: u64,
}

impl SharedFiles {
    /// Remember the shared files of `manifest`, a complete checkpoint (the
    /// one a run restores from, or the one just completed), forgetting
    /// those of the ones before.
    pub fn confirm(&mut self, manifest: &Manifest) {
        self.confirmed.clear();
        let shared = by_path(&manifest.shared);
        for part in &manifest.operators {
            let Some(native) = &part.native else {
                continue;
            };
            for file in native.files.iter().filter(|f| f.shared) {
                if let Some(&stored) = shared.get(file.path.as_str()) {
                    let key = (native.database.lineage.clone(), file.name.clone());
                    self.confirmed.insert(key, stored.clone());
                }
            }
        }
    }

    /// Write the native files of operator `uid`'s subtask for checkpoint
    /// `id`: SST files no complete checkpoint holds go to the shared
    /// folder, the others are referred to; the remaining files go below
    /// `prefix` in the checkpoint.
    pub fn write(
        &self,
        storage: &dyn CheckpointStorage,
        id: u64,
        uid: &str,
        prefix: &str,
        snapshot: NativeFiles<'_>,
    ) -> Result<WrittenNative, CheckpointError> {
        let io = |source| CheckpointError::Io {
            id,
            path: snapshot.dir.display().to_string(),
            source,
        };
        let mut names: Vec<String> = std::fs::read_dir(snapshot.dir)
            .map_err(io)?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(io)?;
        names.sort();
        let lineage = &snapshot.database.lineage;
        let mut written = WrittenNative {
            native: NativeCheckpoint {
                database: snapshot.database.clone(),
                files: Vec::new(),
            },
            files: Vec::new(),
            shared: Vec::new(),
            uploaded_bytes: 0,
        };
        for name in names {
            let local = snapshot.dir.join(&name);
            if name.ends_with(".sst") {
                let file = match self.held(lineage, &name, &local) {
                    Some(file) => file.clone(),
                    None => {
                        let path = shared_file_path(uid, lineage, id, &name);
                        let file = storage.write_shared(id, &path, &local)?;
                        written.uploaded_bytes += file.bytes;
                        file
                    }
                };
                written.native.files.push(NativeFile {
                    name,
                    path: file.path.clone(),
                    shared: true,
                });
                written.shared.push(file);
            } else {
                let path = format!("{prefix}/native/{name}");
                let contents = std::fs::read(&local).map_err(io)?;
                written
                    .files
                    .push(storage.write_file(id, &path, &contents)?);
                written.native.files.push(NativeFile {
                    name,
                    path,
                    shared: false,
                });
            }
        }
        Ok(written)
    }

    /// The shared file a complete checkpoint holds for `name` of database
    /// `lineage`, if its size is that of the local file (a cheap check
    /// that the two are the same file).
    fn held(&self, lineage: &str, name: &str, local: &Path) -> Option<&StateFile> {
        let file = self
            .confirmed
            .get(&(lineage.to_string(), name.to_string()))?;
        let bytes = std::fs::metadata(local).ok()?.len();
        (bytes == file.bytes).then_some(file)
    }
}

/// Files by path, to look many up.
fn by_path(files: &[StateFile]) -> HashMap<&str, &StateFile> {
    files.iter().map(|f| (f.path.as_str(), f)).collect()
}

/// Copy the native files of `native`, kept by checkpoint `manifest`, into
/// the folder `to` under their database names.
pub fn copy_native_files(
    storage: &dyn CheckpointStorage,
    manifest: &Manifest,
    native: &NativeCheckpoint,
    to: &Path,
) -> Result<(), CheckpointError> {
    let (files, shared) = (by_path(&manifest.files), by_path(&manifest.shared));
    for file in &native.files {
        if file.name.is_empty() || file.name.contains(['/', '\\']) || file.name == ".." {
            return Err(CheckpointError::BadPath {
                id: manifest.id,
                path: file.name.clone(),
            });
        }
        let list = if file.shared { &shared } else { &files };
        let stored =
            list.get(file.path.as_str())
                .ok_or_else(|| CheckpointError::CorruptManifest {
                    id: manifest.id,
                    reason: format!("it does not list the native file {}", file.path),
                })?;
        storage.copy_out(manifest.id, stored, file.shared, &to.join(&file.name))?;
    }
    Ok(())
}

/// Whether a restore reads an operator subtask's native files or leaves
/// them to a database opened on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeRestore {
    /// Read them as logical entries (another key-group range or backend).
    ReadAsEntries,
    /// The subtask's database was opened on them ([`copy_native_files`]).
    OpenedDirectly,
}

/// Read operator subtask `part` of checkpoint `manifest` into `state`:
/// its state file, and, unless `native` says they are opened directly,
/// its native files as entries and timers (copied into a folder below
/// `scratch` to be read), keeping only the key groups of `range` (and
/// broadcast state if `with_broadcast`).
#[expect(
    clippy::too_many_arguments,
    reason = "what to read, where, and how, named"
)]
pub fn read_operator_part(
    storage: &dyn CheckpointStorage,
    manifest: &Manifest,
    part: &OperatorFile,
    range: &KeyGroupRange,
    with_broadcast: bool,
    native: NativeRestore,
    scratch: &Path,
    state: &mut RestoredOperatorState,
) -> Result<(), CheckpointError> {
    let file = (manifest.files.iter())
        .find(|f| f.path == part.file)
        .ok_or_else(|| CheckpointError::MissingFile {
            id: manifest.id,
            path: part.file.clone(),
        })?;
    let bytes = storage.read_file(manifest.id, file)?;
    state_file::decode_into(state, &bytes, range, with_broadcast)?;
    match (&part.native, native) {
        (Some(files), NativeRestore::ReadAsEntries) => {
            read_native(storage, manifest, files, range, scratch, state)
        }
        _ => Ok(()),
    }
}

/// Read native files as logical entries and timers of the key groups of
/// `range`: copied into a temporary folder and opened read-only.
#[cfg(feature = "rocksdb")]
fn read_native(
    storage: &dyn CheckpointStorage,
    manifest: &Manifest,
    native: &NativeCheckpoint,
    range: &KeyGroupRange,
    scratch: &Path,
    state: &mut RestoredOperatorState,
) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        id: manifest.id,
        path: scratch.display().to_string(),
        source,
    };
    std::fs::create_dir_all(scratch).map_err(io)?;
    let folder = tempfile::Builder::new()
        .prefix("native-restore-")
        .tempdir_in(scratch)
        .map_err(io)?;
    copy_native_files(storage, manifest, native, folder.path())?;
    let mut sink = KeyGroupFilter {
        state,
        range: range.groups.clone(),
    };
    crate::state::rocksdb::read_native_files(folder.path(), &native.database, &mut sink)
        .map_err(|e| CheckpointError::ReadSnapshot(Box::new(e)))
}

#[cfg(not(feature = "rocksdb"))]
fn read_native(
    _: &dyn CheckpointStorage,
    manifest: &Manifest,
    _: &NativeCheckpoint,
    _: &KeyGroupRange,
    _: &Path,
    _: &mut RestoredOperatorState,
) -> Result<(), CheckpointError> {
    Err(CheckpointError::UnreadableState {
        reason: format!(
            "checkpoint {} keeps keyed state as RocksDB files; {}",
            manifest.id,
            crate::features::CargoFeature::RocksDb.missing("reading them")
        ),
    })
}

/// Where native files read as entries go: those of one key-group range.
#[cfg(feature = "rocksdb")]
struct KeyGroupFilter<'a> {
    state: &'a mut RestoredOperatorState,
    range: std::ops::Range<u16>,
}

#[cfg(feature = "rocksdb")]
impl SnapshotSink for KeyGroupFilter<'_> {
    fn entry(&mut self, entry: StoredEntry) -> Result<(), SnapshotError> {
        if self.range.contains(&entry.key_group) {
            self.state.entries.push(entry);
        }
        Ok(())
    }

    fn timer(&mut self, domain: TimeDomain, timer: Timer) -> Result<(), SnapshotError> {
        if self.range.contains(&timer.key_group) {
            self.state.timers.push((domain, timer));
        }
        Ok(())
    }
}
