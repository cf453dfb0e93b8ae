//! Sinks: one line per record to stdout or a file, upserts into Redis
//! (`super::redis`), or nowhere (benchmarks).
//!
//! Delivery after a restart from a checkpoint: `stdout` and a plain `file`
//! are at-least-once (what was written after the checkpoint is written
//! again); a `file` sink with `delivery = "exactly-once"` publishes part
//! files by two-phase commit ([`super::staged_file`]) and is exactly-once.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::commit::TransactionalWriter;
use crate::runtime::record::Record;

/// A sink shared by all subtasks that write to it: each gets a handle.
#[derive(Clone)]
pub enum SinkWriter {
    Stdout(Arc<Mutex<BufWriter<std::io::Stdout>>>),
    File(Arc<Mutex<BufWriter<File>>>),
    /// One subtask's writer of a two-phase-commit sink (exactly-once
    /// files, Kafka transactions).
    TwoPhase(Arc<Mutex<Box<dyn TransactionalWriter>>>),
    /// A Redis connection, shared by the sink's subtasks.
    #[cfg(feature = "redis")]
    Redis(Arc<Mutex<super::redis::RedisWriter>>),
    Discard,
}

impl SinkWriter {
    pub fn stdout() -> Self {
        SinkWriter::Stdout(Arc::new(Mutex::new(BufWriter::new(std::io::stdout()))))
    }

    /// Create `path` (and its directory if needed), truncated for a run from
    /// the beginning, or `append`ed to for a run restored from a checkpoint
    /// (which then writes again what followed the checkpoint: at-least-once).
    pub fn file(path: &Path, append: bool) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)?;
        Ok(SinkWriter::File(Arc::new(Mutex::new(BufWriter::new(file)))))
    }

    /// Write a batch, one value per line; a batch is never interleaved with another.
    pub fn write(&self, records: &[Record]) -> std::io::Result<()> {
        fn write_lines(w: &mut impl Write, records: &[Record]) -> std::io::Result<()> {
            for record in records {
                w.write_all(&record.value)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        }
        match self {
            SinkWriter::Stdout(w) => {
                let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
                write_lines(&mut *w, records)?;
                // Stdout is for people watching: show output as it comes.
                w.flush()
            }
            SinkWriter::File(w) => {
                write_lines(&mut *w.lock().unwrap_or_else(|e| e.into_inner()), records)
            }
            SinkWriter::TwoPhase(w) => w.lock().unwrap_or_else(|e| e.into_inner()).write(records),
            #[cfg(feature = "redis")]
            SinkWriter::Redis(w) => w.lock().unwrap_or_else(|e| e.into_inner()).write(records),
            SinkWriter::Discard => Ok(()),
        }
    }

    /// At a barrier (`tag` = the checkpoint id) or at the end (`end`): make
    /// what was written durable and return what the checkpoint commits
    /// (only two-phase-commit sinks have a committable).
    pub fn pre_commit(&self, tag: &str) -> std::io::Result<Option<serde_json::Value>> {
        match self {
            SinkWriter::TwoPhase(w) => w.lock().unwrap_or_else(|e| e.into_inner()).pre_commit(tag),
            _ => self.flush().map(|()| None),
        }
    }

    pub fn flush(&self) -> std::io::Result<()> {
        match self {
            SinkWriter::Stdout(w) => w.lock().unwrap_or_else(|e| e.into_inner()).flush(),
            SinkWriter::File(w) => {
                let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
                w.flush()?;
                w.get_ref().sync_data()
            }
            SinkWriter::TwoPhase(_) | SinkWriter::Discard => Ok(()),
            // Each batch was written when it came.
            #[cfg(feature = "redis")]
            SinkWriter::Redis(_) => Ok(()),
        }
    }
}
