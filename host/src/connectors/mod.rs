//! Connectors: where records come from (sources) and go to (sinks).
//!
//! Readers only produce raw values with their position; decoding, event
//! timestamps and malformed-record handling are shared by every source in
//! [`crate::runtime::source_task`].

pub mod commit;
pub mod file;
pub mod generator;
#[cfg(feature = "kafka")]
pub mod kafka;
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
    /// A record of a Kafka partition.
    Offset {
        topic: std::sync::Arc<str>,
        partition: i32,
        offset: i64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line, offset } => write!(f, "line {line} (byte offset {offset})"),
            Position::Sequence(n) => write!(f, "record {n}"),
            Position::Offset {
                topic,
                partition,
                offset,
            } => write!(f, "{topic}[{partition}] offset {offset}"),
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
    /// The index of the reader's split it came from (0 for single-split readers).
    pub split: u32,
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

/// Where one split of a source reads next, as its connector writes it:
/// opaque to the checkpoint coordinator and the manifest, read back only by
/// a reader of the same connector. The split's id is stable across runs (a
/// Kafka topic and partition, a file), so that a restore with another
/// parallelism can hand each split to the reader that owns it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitPosition {
    pub split: String,
    pub position: serde_json::Value,
}

/// For people: `generator at next 16`, `orders-0 at topic orders, partition 0,
/// offset 52`; a position that is not a table of plain values shows as JSON.
impl fmt::Display for SplitPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use serde_json::Value;
        let fields = self.position.as_object().and_then(|fields| {
            (fields.iter())
                .map(|(name, value)| match value {
                    Value::Number(n) => Some(format!("{name} {n}")),
                    Value::String(s) => Some(format!("{name} {s}")),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        });
        match fields {
            Some(fields) if !fields.is_empty() => {
                write!(f, "{} at {}", self.split, fields.join(", "))
            }
            _ => write!(f, "{} at {}", self.split, self.position),
        }
    }
}

/// How a source's splits map to its subtasks, which decides whether its
/// parallelism may change across a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitAssignment {
    /// Each subtask reads the split its index names (a file, a generator
    /// stripe): the parallelism must stay the same.
    PerSubtask,
    /// Splits are spread over the subtasks by their ids (Kafka partitions):
    /// a restore re-spreads them over any parallelism.
    ById,
}

/// One parallel reader of a source: one or more splits.
pub trait SourceReader: Send {
    /// Append up to `max` records to `out`, each naming its split's index
    /// in [`Self::split_count`].
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus>;

    /// Where the reader reads from, for messages (a path, `stdin`, `generator`).
    fn describe(&self) -> String;

    /// How many splits the reader reads now. Splits are only ever added
    /// (discovered partitions), at the end, so an index keeps naming the
    /// same split.
    fn split_count(&self) -> usize {
        1
    }

    /// The id of split `index`, as in [`SplitPosition::split`].
    fn split_id(&self, index: usize) -> String;

    /// Where each split's next read starts, in split order; `None` for an
    /// input that cannot be read again (standard input, a pipe), which
    /// therefore cannot be checkpointed.
    fn positions(&self) -> Option<Vec<SplitPosition>>;

    /// Continue from positions an earlier run checkpointed. `restored`
    /// holds the splits of this source that the reader owns under
    /// [`Self::assignment`] (all of them, for a reader that owns splits
    /// by id, which then picks its own).
    fn restore(&mut self, restored: &[SplitPosition]) -> std::io::Result<()>;

    /// Whether the parallelism may change across a restore.
    fn assignment(&self) -> SplitAssignment {
        SplitAssignment::PerSubtask
    }

    /// A checkpoint completed in which this reader was at `positions`:
    /// tell the outside world (a Kafka consumer group's committed offsets,
    /// for monitoring). Restores never read this back.
    fn checkpoint_completed(&mut self, positions: &[SplitPosition]) {
        let _ = positions;
    }
}

/// The one position of a single-split reader among `restored`, decoded.
pub(crate) fn own_position<T: serde::de::DeserializeOwned>(
    reader: &dyn SourceReader,
    restored: &[SplitPosition],
) -> std::io::Result<Option<T>> {
    let id = reader.split_id(0);
    let Some(split) = restored.iter().find(|s| s.split == id) else {
        return Ok(None);
    };
    serde_json::from_value(split.position.clone())
        .map(Some)
        .map_err(|error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the checkpoint holds position {} for {}, which {} cannot read: {error}",
                    split.position,
                    split.split,
                    reader.describe()
                ),
            )
        })
}

/// A single-split reader's position, for [`SourceReader::positions`].
pub(crate) fn single_position(
    reader: &dyn SourceReader,
    position: &impl serde::Serialize,
) -> Option<Vec<SplitPosition>> {
    Some(vec![SplitPosition {
        split: reader.split_id(0),
        position: serde_json::to_value(position).expect("positions serialise"),
    }])
}

/// The committers of `job`'s two-phase-commit sinks, for one run of it;
/// `parallelism` says how many subtasks a sink has.
pub fn committers(
    job: &crate::job::Job,
    parallelism: impl Fn(&str) -> u32,
) -> anyhow::Result<commit::Committers> {
    let mut committers = commit::Committers::new();
    for sink in &job.sinks {
        let committer: std::sync::Arc<dyn commit::Committer> = match &sink.connector {
            crate::job::SinkConnector::ExactlyOnceFiles(dir) => {
                std::sync::Arc::new(staged_file::StagedFileCommitter {
                    sink: sink.name.clone(),
                    dir: dir.clone(),
                })
            }
            #[cfg(feature = "kafka")]
            crate::job::SinkConnector::Kafka(config) => std::sync::Arc::new(
                kafka::sink::KafkaCommitter::new(&sink.name, config, parallelism(&sink.name)),
            ),
            #[cfg(not(feature = "kafka"))]
            crate::job::SinkConnector::Kafka(_) => {
                let _ = &parallelism;
                anyhow::bail!(
                    "sink `{}`: {}",
                    sink.name,
                    crate::features::CargoFeature::Kafka.missing("the Kafka sink")
                )
            }
            _ => continue,
        };
        committers.insert(sink.name.clone(), committer);
    }
    Ok(committers)
}

#[cfg(test)]
mod tests {
    use super::SplitPosition;
    use serde_json::json;

    #[test]
    fn a_split_position_reads_as_words_unless_it_is_nested() {
        let shown = |position| {
            SplitPosition {
                split: "orders-0".into(),
                position,
            }
            .to_string()
        };
        assert_eq!(
            shown(json!({"topic": "orders", "offset": 52})),
            "orders-0 at offset 52, topic orders"
        );
        assert_eq!(
            shown(json!({"next": {"a": 1}})),
            r#"orders-0 at {"next":{"a":1}}"#
        );
    }
}
