//! The exactly-once file sink: part files published by two-phase commit
//! (Flink's `FileSink`).
//!
//! Each sink subtask writes its records to an in-progress file in
//! `<dir>/.staging/`. On a checkpoint barrier it closes that file, makes it
//! durable and renames it to a pending file named after the checkpoint
//! (pre-commit); the pending files go into the checkpoint. When the
//! checkpoint completes, the coordinator renames them into `<dir>` (commit).
//! A reader of `<dir>` therefore sees only output whose effects on state
//! are in a completed checkpoint: after a crash, the job restores that
//! checkpoint, publishes its pending files, and discards everything else
//! in staging, so no record is published twice and none is lost.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::commit::{Committer, TransactionalWriter};
use crate::runtime::record::Record;

/// Folder below the sink's folder where unpublished files live.
pub const STAGING_DIR: &str = ".staging";
/// Suffix of files closed at a barrier and waiting for their checkpoint.
const PENDING_SUFFIX: &str = ".pending";
/// Suffix of the file being written.
const IN_PROGRESS_SUFFIX: &str = ".inprogress";
/// Prefix of every part file.
const PART_PREFIX: &str = "part-";

/// The staged part files of one sink subtask.
#[derive(Debug)]
pub struct StagedFileWriter {
    dir: PathBuf,
    subtask: u32,
    /// The in-progress file, opened on the first record after a pre-commit.
    current: Option<BufWriter<File>>,
    /// Pending files this writer made that may not be published yet.
    pending: Vec<String>,
}

impl StagedFileWriter {
    /// The writer of `subtask` into `dir` (its staging folder must exist:
    /// see [`prepare_fresh`] and [`recover`]).
    pub fn new(dir: &Path, subtask: u32) -> Self {
        StagedFileWriter {
            dir: dir.to_path_buf(),
            subtask,
            current: None,
            pending: Vec::new(),
        }
    }

    fn in_progress_path(&self) -> PathBuf {
        self.dir
            .join(STAGING_DIR)
            .join(format!("{PART_PREFIX}{}{IN_PROGRESS_SUFFIX}", self.subtask))
    }

    /// Append records, one value per line.
    pub fn write(&mut self, records: &[Record]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let file = match &mut self.current {
            Some(file) => file,
            None => {
                let file = File::create(self.in_progress_path())?;
                self.current
                    .insert(BufWriter::with_capacity(256 * 1024, file))
            }
        };
        for record in records {
            file.write_all(&record.value)?;
            file.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Close the in-progress file as the pending file `tag` (a checkpoint
    /// id, or `end`), durably, and return every pending file not yet
    /// published: the committables of the checkpoint being taken.
    pub fn pre_commit(&mut self, tag: &str) -> std::io::Result<Vec<String>> {
        if let Some(mut file) = self.current.take() {
            file.flush()?;
            file.get_ref().sync_data()?;
            let name = format!("{PART_PREFIX}{}-{tag}{PENDING_SUFFIX}", self.subtask);
            let staging = self.dir.join(STAGING_DIR);
            fs::rename(self.in_progress_path(), staging.join(&name))?;
            sync_dir(&staging)?;
            self.pending.push(name);
        }
        // Files the coordinator published since the last barrier are gone.
        let staging = self.dir.join(STAGING_DIR);
        self.pending.retain(|name| staging.join(name).exists());
        Ok(self.pending.clone())
    }
}

/// Publish the pending files `names` of a completed checkpoint into `dir`.
/// Publishing a file twice is harmless (recovery may repeat a commit).
pub fn publish(dir: &Path, names: &[String]) -> std::io::Result<()> {
    let staging = dir.join(STAGING_DIR);
    for name in names {
        let Some(published) = name.strip_suffix(PENDING_SUFFIX) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{name}` is not the name of a pending part file"),
            ));
        };
        let from = staging.join(name);
        let to = dir.join(published);
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && to.exists() => {}
            Err(error) => {
                return Err(std::io::Error::new(
                    error.kind(),
                    format!("cannot publish {}: {error}", from.display()),
                ));
            }
        }
    }
    if !names.is_empty() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Before a run restored from a checkpoint: publish its committables
/// `committed` and discard every other staged file (written after it).
///
/// Returns the committables that are neither staged nor published here:
/// the snapshot was taken with another sink folder (a savepoint copied to
/// another machine), so their lines are where that folder is.
pub fn recover(dir: &Path, committed: &[String]) -> std::io::Result<Vec<String>> {
    let staging = dir.join(STAGING_DIR);
    fs::create_dir_all(&staging)?;
    let (present, elsewhere): (Vec<String>, Vec<String>) =
        committed.iter().cloned().partition(|name| {
            let published = name.strip_suffix(PENDING_SUFFIX).map(|p| dir.join(p));
            staging.join(name).exists() || published.is_some_and(|p| p.exists())
        });
    publish(dir, &present)?;
    clear(&staging, |_| true)?;
    Ok(elsewhere)
}

/// Before a run from the beginning: an empty staging folder, and no part
/// files of an earlier run (the job's output starts over, as a plain file
/// sink truncates its file).
pub fn prepare_fresh(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir.join(STAGING_DIR))?;
    clear(&dir.join(STAGING_DIR), |_| true)?;
    clear(dir, |name| name.starts_with(PART_PREFIX))
}

/// Remove the files of `dir` whose name passes `remove`.
fn clear(dir: &Path, remove: impl Fn(&str) -> bool) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && remove(&entry.file_name().to_string_lossy()) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Make renames in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The committer of an exactly-once file sink writing into a folder.
pub struct StagedFileCommitter {
    pub sink: String,
    pub dir: PathBuf,
}

/// The committable of a file sink subtask: its pending part files.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PendingFiles {
    files: Vec<String>,
}

impl StagedFileCommitter {
    fn files(committables: &[serde_json::Value]) -> anyhow::Result<Vec<String>> {
        let mut files = Vec::new();
        for committable in committables {
            let pending: PendingFiles =
                serde_json::from_value(committable.clone()).map_err(|e| {
                    anyhow::anyhow!("`{committable}` is not a file sink's committable: {e}")
                })?;
            files.extend(pending.files);
        }
        Ok(files)
    }
}

impl Committer for StagedFileCommitter {
    fn writer(
        self: std::sync::Arc<Self>,
        subtask: u32,
    ) -> std::io::Result<Box<dyn TransactionalWriter>> {
        Ok(Box::new(StagedFileWriter::new(&self.dir, subtask)))
    }

    fn commit(&self, committables: &[serde_json::Value]) -> anyhow::Result<()> {
        publish(&self.dir, &Self::files(committables)?)?;
        Ok(())
    }

    fn recover(&self, restored: Option<&[serde_json::Value]>) -> anyhow::Result<()> {
        let Some(restored) = restored else {
            prepare_fresh(&self.dir)?;
            return Ok(());
        };
        let elsewhere = recover(&self.dir, &Self::files(restored)?)?;
        if !elsewhere.is_empty() {
            tracing::warn!(
                "sink `{}`: {} part files the restored snapshot committed are not in {} (was it taken with another sink folder, or on another machine?); their lines are in that folder, not this one",
                self.sink,
                elsewhere.len(),
                self.dir.display()
            );
        }
        Ok(())
    }
}

impl TransactionalWriter for StagedFileWriter {
    fn write(&mut self, records: &[Record]) -> std::io::Result<()> {
        StagedFileWriter::write(self, records)
    }

    fn pre_commit(&mut self, tag: &str) -> std::io::Result<Option<serde_json::Value>> {
        let files = StagedFileWriter::pre_commit(self, tag)?;
        Ok((!files.is_empty())
            .then(|| serde_json::to_value(PendingFiles { files }).expect("file names serialise")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(values: &[&str]) -> Vec<Record> {
        values
            .iter()
            .map(|v| Record::new(v.as_bytes().to_vec(), 0))
            .collect()
    }

    /// Published part files and their contents, by name.
    fn published(dir: &Path) -> Vec<(String, String)> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, fs::read_to_string(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn recovery_in_another_folder_names_the_committables_it_cannot_find() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("copied-elsewhere");
        let committed = ["part-0-000000000007.pending".to_string()];
        assert_eq!(recover(&out, &committed).unwrap(), committed);
        assert!(published(&out).is_empty());
    }

    #[test]
    fn only_committed_files_are_published_and_recovery_discards_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        prepare_fresh(&out).unwrap();
        let mut writer = StagedFileWriter::new(&out, 0);
        writer.write(&records(&["a", "b"])).unwrap();
        let first = writer.pre_commit("000000000001").unwrap();
        assert_eq!(first, ["part-0-000000000001.pending"]);
        assert!(published(&out).is_empty(), "nothing before the commit");
        // No records between two barriers: no empty file.
        assert_eq!(writer.pre_commit("000000000002").unwrap(), first);

        writer.write(&records(&["c"])).unwrap();
        let third = writer.pre_commit("000000000003").unwrap();
        assert_eq!(third.len(), 2, "checkpoint 1 has not completed: {third:?}");
        publish(&out, &first).unwrap();
        publish(&out, &first).unwrap();
        assert_eq!(
            published(&out),
            [("part-0-000000000001".to_string(), "a\nb\n".to_string())]
        );
        // Records after the last barrier, then a crash: checkpoint 3 never
        // completed, and the run restores checkpoint 1.
        writer.write(&records(&["d"])).unwrap();
        writer.current.as_mut().unwrap().flush().unwrap();
        drop(writer);
        recover(&out, &first).unwrap();
        assert_eq!(published(&out).len(), 1);
        assert_eq!(fs::read_dir(out.join(STAGING_DIR)).unwrap().count(), 0);

        let mut writer = StagedFileWriter::new(&out, 0);
        writer.write(&records(&["c", "d"])).unwrap();
        let fourth = writer.pre_commit("000000000004").unwrap();
        assert_eq!(
            fourth,
            ["part-0-000000000004.pending"],
            "published ones are dropped"
        );
        recover(&out, &fourth).unwrap();
        assert_eq!(
            published(&out),
            [
                ("part-0-000000000001".to_string(), "a\nb\n".to_string()),
                ("part-0-000000000004".to_string(), "c\nd\n".to_string())
            ]
        );
        prepare_fresh(&out).unwrap();
        assert!(published(&out).is_empty(), "a fresh run starts over");
    }

    #[test]
    fn publishing_a_file_that_is_nowhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        prepare_fresh(dir.path()).unwrap();
        let error = publish(dir.path(), &["part-0-7.pending".to_string()]).unwrap_err();
        assert!(error.to_string().contains("cannot publish"), "{error}");
    }
}
