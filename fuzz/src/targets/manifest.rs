//! The checkpoint manifest reader: `CheckpointStorage::verified_manifest`
//! on a manifest, then what a restore reads through it (each state file,
//! checked against the manifest, and read for the key groups it names).

use std::path::{Path, PathBuf};

use eddy::checkpoint::local::MANIFEST;
use eddy::checkpoint::state_file::decode_into;
use eddy::checkpoint::{CheckpointError, CheckpointStorage, LocalCheckpointStorage};
use eddy::snapshot::RestoredOperatorState;
use eddy::state::KeyGroupRange;

use super::{FuzzTarget, seed_dir, signature};

/// Copies of the real checkpoints in `fuzz/seeds/checkpoints`; each input
/// replaces the manifest of one of them in turn.
pub struct CheckpointManifest {
    /// Keeps the copies for as long as the target lives.
    _scratch: tempfile::TempDir,
    checkpoints: Vec<Checkpoint>,
    next: usize,
}

/// One copied checkpoint and what its manifest must name.
struct Checkpoint {
    storage: LocalCheckpointStorage,
    id: u64,
    job: String,
    seed: Vec<u8>,
}

impl CheckpointManifest {
    pub fn new() -> Result<Self, String> {
        let scratch = tempfile::tempdir().map_err(|e| format!("creating a scratch folder: {e}"))?;
        let mut checkpoints = Vec::new();
        let seeds = seed_dir("checkpoints");
        for (n, source) in checkpoint_dirs(&seeds)?.into_iter().enumerate() {
            let name = source.file_name().expect("a checkpoint folder has a name");
            let target = scratch.path().join(n.to_string()).join(name);
            copy_dir(&source, &target)?;
            let (storage, id) =
                LocalCheckpointStorage::of_checkpoint_dir(&target).ok_or_else(|| {
                    format!(
                        "{} is not named chk-<id> or savepoint-<id>",
                        source.display()
                    )
                })?;
            let manifest_path = source.join(MANIFEST);
            let seed = std::fs::read(&manifest_path)
                .map_err(|e| format!("reading {}: {e}", manifest_path.display()))?;
            let job = serde_json::from_slice::<eddy::checkpoint::Manifest>(&seed)
                .map_err(|e| format!("{}: {e}", manifest_path.display()))?
                .job;
            checkpoints.push(Checkpoint {
                storage,
                id,
                job,
                seed,
            });
        }
        if checkpoints.is_empty() {
            return Err(format!("no checkpoint folders in {}", seeds.display()));
        }
        Ok(CheckpointManifest {
            _scratch: scratch,
            checkpoints,
            next: 0,
        })
    }
}

impl FuzzTarget for CheckpointManifest {
    fn name(&self) -> &'static str {
        "manifest"
    }

    fn seeds(&self) -> Result<Vec<Vec<u8>>, String> {
        Ok(self.checkpoints.iter().map(|c| c.seed.clone()).collect())
    }

    fn dictionary(&self) -> &[&'static [u8]] {
        &[
            b"\"",
            b"\\u0000",
            b"\\ud800",
            b"[",
            b"]",
            b"{",
            b"}",
            b",",
            b"null",
            b"-1",
            b"1e999",
            b"18446744073709551616",
            b"\"../x\"",
            b"\"/etc/hostname\"",
            b"\"_manifest.json\"",
            b"\"\"",
        ]
    }

    fn run(&mut self, input: &[u8]) -> u64 {
        let checkpoint = &self.checkpoints[self.next];
        self.next = (self.next + 1) % self.checkpoints.len();
        let path = checkpoint
            .storage
            .checkpoint_dir(checkpoint.id)
            .join(MANIFEST);
        std::fs::write(&path, input).expect("the scratch checkpoint is writable");
        signature(&restore_through(checkpoint))
    }
}

/// What a restore reads through the manifest: the manifest, checked, then
/// every operator's state file for the key groups it names.
fn restore_through(checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    let storage = &checkpoint.storage;
    let manifest = storage.verified_manifest(checkpoint.id, &checkpoint.job)?;
    for operator in &manifest.operators {
        let Some(file) = manifest.files.iter().find(|f| f.path == operator.file) else {
            continue;
        };
        let contents = storage.read_file(checkpoint.id, file)?;
        let (start, end) = operator.key_groups;
        decode_into(
            &mut RestoredOperatorState::default(),
            &contents,
            &KeyGroupRange { groups: start..end },
            true,
        )?;
    }
    Ok(())
}

/// The `chk-*` folders below `dir`, in path order.
fn checkpoint_dirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.join(MANIFEST).is_file() {
                found.push(path);
            } else {
                pending.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)
                .map_err(|e| format!("copying {}: {e}", source.display()))?;
        }
    }
    Ok(())
}
