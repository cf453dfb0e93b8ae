//! Connectors: where records come from (sources) and go to (sinks).
//!
//! Readers only produce raw values with their position; decoding, event
//! timestamps and malformed-record handling are shared by every source in
//! [`crate::runtime::source_task`].

pub mod file;
pub mod generator;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sink;
pub mod staged_file;

use std::fmt;

/// Where a record was read, for error messages and dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// A line of a file or of stdin (1-based) and its byte offset.
    Line { line: u64, offset: u64 },
    /// The n-th record of a generator.
    Sequence(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line, offset } => write!(f, "line {line} (byte offset {offset})"),
            Position::Sequence(n) => write!(f, "record {n}"),
        }
    }
}

/// A value as a connector read it.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub value: Vec<u8>,
    /// The connector's own event time, if it has one.
    pub timestamp: Option<i64>,
    /// The connector's own key, if it has one.
    pub key: Option<Vec<u8>>,
    pub position: Position,
}

/// What a read left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// More may be read right away.
    More,
    /// Nothing is available now; try again later.
    Idle,
    /// The input is exhausted.
    Finished,
}

/// Where a reader will read next, recorded in checkpoints so that a
/// restored job reads on from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourcePosition {
    /// The byte offset of the next line of a file, and that line's number - 1.
    File { offset: u64, lines: u64 },
    /// The index of the generator's next record.
    Generator { next: u64 },
}

impl std::fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourcePosition::File { offset, lines } => {
                write!(f, "line {} (byte {offset})", lines + 1)
            }
            SourcePosition::Generator { next } => write!(f, "record {next}"),
        }
    }
}

/// One parallel reader of a source.
pub trait SourceReader: Send {
    /// Append up to `max` records to `out`.
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus>;

    /// Where the reader reads from, for messages (a path, `stdin`, `generator`).
    fn describe(&self) -> String;

    /// Where the next read starts; `None` for an input that cannot be read
    /// again (standard input, a pipe), which therefore cannot be checkpointed.
    fn position(&self) -> Option<SourcePosition>;

    /// Continue from `position`, taken by [`Self::position`] of a reader of
    /// the same input in an earlier run.
    fn seek(&mut self, position: SourcePosition) -> std::io::Result<()>;
}

/// The error of seeking a reader to a position of another kind of reader.
pub(crate) fn foreign_position(reader: &str, position: SourcePosition) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("the checkpoint holds position {position:?}, which is not a position of {reader}"),
    )
}
