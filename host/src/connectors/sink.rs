//! Sinks: one line per record to stdout or a file, or nowhere (benchmarks).
//!
//! Delivery: every sink here is at-least-once on restart (checkpointed,
//! two-phase-commit file sinks arrive with checkpoints).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::runtime::record::Record;

/// A sink shared by all subtasks that write to it: each gets a handle.
#[derive(Clone)]
pub enum SinkWriter {
    Stdout(Arc<Mutex<BufWriter<std::io::Stdout>>>),
    File(Arc<Mutex<BufWriter<File>>>),
    Discard,
}

impl SinkWriter {
    pub fn stdout() -> Self {
        SinkWriter::Stdout(Arc::new(Mutex::new(BufWriter::new(std::io::stdout()))))
    }

    /// Create (or truncate) `path`, and its directory if needed.
    pub fn file(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(SinkWriter::File(Arc::new(Mutex::new(BufWriter::new(
            File::create(path)?,
        )))))
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
            SinkWriter::Discard => Ok(()),
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
            SinkWriter::Discard => Ok(()),
        }
    }
}
