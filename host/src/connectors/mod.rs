//! Connectors: where records come from (sources) and go to (sinks).
//!
//! Readers only produce raw values with their position; decoding, event
//! timestamps and malformed-record handling are shared by every source in
//! [`crate::runtime::source_task`].

pub mod file;
pub mod generator;
pub mod sink;

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

/// One parallel reader of a source.
pub trait SourceReader: Send {
    /// Append up to `max` records to `out`.
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus>;

    /// Where the reader reads from, for messages (a path, `stdin`, `generator`).
    fn describe(&self) -> String;
}
