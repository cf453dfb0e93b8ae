//! The Kafka source: one reader per subtask owning some partitions (its
//! splits), read with a consumer whose assignment eddy sets itself (no
//! group rebalancing), positions in checkpoints, offsets committed to the
//! group when checkpoints complete, for monitoring only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;

use super::{METADATA_TIMEOUT, client_config, metadata, owner, split_id};
use crate::connectors::{
    Position, RawRecord, ReadStatus, SourceReader, SplitAssignment, SplitPosition,
};
use crate::job::RecordFormat;
use crate::job::kafka::{Boundedness, KafkaSource, StartOffsets, Subscription, ValueShape};

/// How long one read waits for a message when none is buffered.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// How long a bounded reader past its end offsets waits for more records
/// before it finishes (see `KafkaReader::caught_up`).
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// One partition this reader owns.
#[derive(Debug)]
struct PartitionSplit {
    topic: String,
    /// The topic again, shared by the positions of its records.
    topic_name: std::sync::Arc<str>,
    partition: i32,
    /// The offset of the next record to read, once known (a restored
    /// position, or the start offset resolved at assignment).
    next: Option<i64>,
    /// A bounded source's end: the partition's end offset at the start.
    end: Option<i64>,
    /// Whether the consumer has been assigned the partition.
    assigned: bool,
    /// A split started from a time skips records before it until the first
    /// at or after it: the broker's offset for a time can be coarser than
    /// a record (nisshi answers the partition's start).
    skip_before: Option<i64>,
}

impl PartitionSplit {
    fn finished(&self) -> bool {
        matches!((self.next, self.end), (Some(next), Some(end)) if next >= end)
    }
}

/// What the checkpoint stores per partition.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PartitionPosition {
    topic: String,
    partition: i32,
    /// The next offset to read.
    offset: i64,
}

/// One subtask's reader of a Kafka source.
pub struct KafkaReader {
    config: KafkaSource,
    format: RecordFormat,
    subtask: u32,
    parallelism: u32,
    attach_keys: bool,
    consumer: BaseConsumer,
    pattern: Option<Regex>,
    splits: Vec<PartitionSplit>,
    /// Restored offsets by split id, for partitions found later too.
    restored: HashMap<String, i64>,
    /// When partitions were last looked for; `None` before the first look.
    discovered_at: Option<Instant>,
    /// When the last record was read (a bounded reader's drain).
    last_record: Instant,
}

impl KafkaReader {
    /// The reader of `subtask` of `parallelism`: checks that the cluster
    /// answers and that named topics exist, and finds its partitions.
    pub fn open(
        config: &KafkaSource,
        format: RecordFormat,
        subtask: u32,
        parallelism: u32,
        attach_keys: bool,
    ) -> std::io::Result<Self> {
        let consumer: BaseConsumer = client_config(&config.bootstrap_servers, &config.properties)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(|e| std::io::Error::other(format!("cannot make a Kafka consumer: {e}")))?;
        let pattern = match &config.subscription {
            Subscription::Pattern(pattern) => Some(
                Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
            ),
            Subscription::Topics(_) => None,
        };
        let mut reader = KafkaReader {
            config: config.clone(),
            format,
            subtask,
            parallelism,
            attach_keys,
            consumer,
            pattern,
            splits: Vec::new(),
            restored: HashMap::new(),
            discovered_at: None,
            last_record: Instant::now(),
        };
        reader.discover()?;
        Ok(reader)
    }

    /// Look for partitions this reader owns that it does not read yet.
    fn discover(&mut self) -> std::io::Result<()> {
        let servers = self.config.bootstrap_servers.clone();
        let mut found: Vec<(String, i32)> = Vec::new();
        match &self.config.subscription {
            Subscription::Topics(topics) => {
                for topic in topics {
                    let metadata = metadata(self.consumer.client(), &servers, Some(topic))?;
                    let Some(described) = metadata.topics().first() else {
                        continue;
                    };
                    if let Some(error) = described.error() {
                        let code = RDKafkaErrorCode::from(error);
                        return Err(std::io::Error::other(match code {
                            RDKafkaErrorCode::UnknownTopicOrPartition
                            | RDKafkaErrorCode::UnknownTopic => {
                                format!(
                                    "topic `{topic}` does not exist on {servers}; create it, or fix `topics`"
                                )
                            }
                            other => {
                                format!("cannot describe topic `{topic}` on {servers}: {other}")
                            }
                        }));
                    }
                    if described.partitions().is_empty() {
                        return Err(std::io::Error::other(format!(
                            "topic `{topic}` does not exist on {servers}; create it, or fix `topics`"
                        )));
                    }
                    found.extend(
                        described
                            .partitions()
                            .iter()
                            .map(|p| (topic.clone(), p.id())),
                    );
                }
            }
            Subscription::Pattern(_) => {
                let metadata = metadata(self.consumer.client(), &servers, None)?;
                let pattern = self.pattern.as_ref().expect("a pattern subscription");
                for topic in metadata.topics() {
                    if pattern.is_match(topic.name()) && topic.error().is_none() {
                        found.extend(
                            topic
                                .partitions()
                                .iter()
                                .map(|p| (topic.name().to_owned(), p.id())),
                        );
                    }
                }
            }
        }
        found.sort();
        for (topic, partition) in found {
            if owner(&topic, partition, self.parallelism) != self.subtask
                || self
                    .splits
                    .iter()
                    .any(|s| s.topic == topic && s.partition == partition)
            {
                continue;
            }
            let first = self.discovered_at.is_none();
            if !first {
                tracing::info!(
                    "Kafka: found partition {topic}[{partition}]; reading it from its start"
                );
            }
            self.splits.push(PartitionSplit {
                topic_name: topic.as_str().into(),
                topic,
                partition,
                next: None,
                end: None,
                assigned: false,
                skip_before: None,
            });
        }
        self.discovered_at = Some(Instant::now());
        Ok(())
    }

    /// Resolve where each unassigned split starts and add it to the
    /// consumer's assignment. Partitions found after the first look start
    /// at their beginning, as Flink's do.
    fn assign_new(&mut self, first_look: bool) -> std::io::Result<()> {
        let new: Vec<usize> = (0..self.splits.len())
            .filter(|&i| !self.splits[i].assigned)
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let start = if first_look {
            self.config.start
        } else {
            StartOffsets::Earliest
        };
        let committed = if start == StartOffsets::GroupOffsets {
            let mut list = TopicPartitionList::new();
            for &i in &new {
                list.add_partition(&self.splits[i].topic, self.splits[i].partition);
            }
            Some(
                self.consumer
                    .committed_offsets(list, METADATA_TIMEOUT)
                    .map_err(|e| {
                        std::io::Error::other(format!(
                            "cannot read the group's committed offsets: {e}"
                        ))
                    })?,
            )
        } else {
            None
        };
        let by_time = if let StartOffsets::Timestamp(ms) = start {
            let mut list = TopicPartitionList::new();
            for &i in &new {
                list.add_partition_offset(
                    &self.splits[i].topic,
                    self.splits[i].partition,
                    Offset::Offset(ms),
                )
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            Some(
                self.consumer
                    .offsets_for_times(list, METADATA_TIMEOUT)
                    .map_err(|e| {
                        std::io::Error::other(format!("cannot look up offsets for time {ms}: {e}"))
                    })?,
            )
        } else {
            None
        };
        let mut assignment = TopicPartitionList::new();
        for &i in &new {
            let (topic, partition) = (self.splits[i].topic.clone(), self.splits[i].partition);
            let (low, high) = self
                .consumer
                .fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
                .map_err(|e| {
                    std::io::Error::other(format!(
                        "cannot read the offsets of {topic}[{partition}]: {e}"
                    ))
                })?;
            let listed = |list: &Option<TopicPartitionList>| {
                list.as_ref()
                    .and_then(|l| l.find_partition(&topic, partition))
                    .map(|e| e.offset())
            };
            let next = match self.restored.get(&split_id(&topic, partition)) {
                Some(&offset) => offset,
                None => match start {
                    StartOffsets::Earliest => low,
                    StartOffsets::Latest => high,
                    StartOffsets::GroupOffsets => match listed(&committed) {
                        Some(Offset::Offset(offset)) => offset,
                        _ => low,
                    },
                    StartOffsets::Timestamp(_) => match listed(&by_time) {
                        Some(Offset::Offset(offset)) => offset,
                        _ => high,
                    },
                },
            };
            let split = &mut self.splits[i];
            split.next = Some(next);
            if let (StartOffsets::Timestamp(ms), false) = (
                start,
                self.restored.contains_key(&split_id(&topic, partition)),
            ) {
                split.skip_before = Some(ms);
            }
            if self.config.boundedness == Boundedness::UpToLatest {
                split.end = Some(high);
            }
            split.assigned = true;
            assignment
                .add_partition_offset(&topic, partition, Offset::Offset(next))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        self.consumer
            .incremental_assign(&assignment)
            .map_err(|e| std::io::Error::other(format!("cannot assign partitions: {e}")))
    }

    /// Look for new partitions when the discovery interval has passed.
    fn maybe_discover(&mut self) -> std::io::Result<()> {
        let first_look =
            self.splits.iter().any(|s| !s.assigned) && self.splits.iter().all(|s| !s.assigned);
        if !first_look {
            let due = match (self.config.discovery_interval, self.discovered_at) {
                _ if self.config.boundedness == Boundedness::UpToLatest => false,
                (Some(interval), Some(at)) => at.elapsed() >= interval,
                _ => false,
            };
            if due {
                self.discover()?;
            }
        }
        self.assign_new(first_look)
    }

    fn split_of(&self, topic: &str, partition: i32) -> Option<usize> {
        self.splits
            .iter()
            .position(|s| s.partition == partition && s.topic == topic)
    }

    /// The record a message becomes.
    fn record(&self, message: &BorrowedMessage<'_>, split: usize) -> RawRecord {
        let payload = message.payload().unwrap_or_default();
        let value = match self.config.value {
            ValueShape::Payload => payload.to_vec(),
            ValueShape::Envelope => self.envelope(message, payload),
        };
        RawRecord {
            value,
            timestamp: message.timestamp().to_millis(),
            key: if self.attach_keys {
                message.key().map(<[u8]>::to_vec)
            } else {
                None
            },
            position: Position::Offset {
                topic: self.splits[split].topic_name.clone(),
                partition: message.partition(),
                offset: message.offset(),
            },
            split: split as u32,
        }
    }

    /// `{"topic", "partition", "offset", "timestamp", "key", "headers", "value"}`:
    /// a JSON value embedded as it is (a `json` source), anything else as a string.
    fn envelope(&self, message: &BorrowedMessage<'_>, payload: &[u8]) -> Vec<u8> {
        let text =
            |bytes: &[u8]| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned());
        let mut headers = serde_json::Map::new();
        if let Some(all) = message.headers() {
            for header in all.iter() {
                headers.insert(
                    header.key.to_owned(),
                    header.value.map_or(serde_json::Value::Null, text),
                );
            }
        }
        let envelope = serde_json::json!({
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "timestamp": message.timestamp().to_millis(),
            "key": message.key().map(text),
            "headers": headers,
            "value": "",
        });
        let mut bytes = serde_json::to_vec(&envelope).expect("an envelope serialises");
        // Splice the value in last, as it is when it is JSON: a value that
        // is not makes the envelope malformed, and so a dead letter.
        bytes.truncate(bytes.len() - r#""value":""}"#.len());
        bytes.extend_from_slice(br#""value":"#);
        if self.format == RecordFormat::Json {
            bytes.extend_from_slice(payload);
        } else {
            bytes.extend_from_slice(
                &serde_json::to_vec(&text(payload)).expect("a string serialises"),
            );
        }
        bytes.push(b'}');
        bytes
    }

    /// Whether a bounded reader is done: every partition read up to the
    /// end offset it had at the start, and nothing more has come for
    /// [`DRAIN_GRACE`]. The grace, rather than stopping exactly at the end
    /// offset, is for brokers whose end offset can trail the last batch
    /// (nisshi reports the last batch's first offset + 1): the rest of that
    /// batch is in the consumer's queue by then and is read too.
    fn caught_up(&mut self) -> bool {
        if self.config.boundedness != Boundedness::UpToLatest {
            return false;
        }
        if let Ok(positions) = self.consumer.position() {
            // Transaction markers take offsets no record has: the fetch
            // position moves past them.
            for split in &mut self.splits {
                if let Some(Offset::Offset(at)) = positions
                    .find_partition(&split.topic, split.partition)
                    .map(|e| e.offset())
                    && split.next.is_some_and(|next| at > next)
                {
                    split.next = Some(at);
                }
            }
        }
        self.splits.iter().all(PartitionSplit::finished)
            && self.last_record.elapsed() >= DRAIN_GRACE
    }
}

impl SourceReader for KafkaReader {
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus> {
        self.maybe_discover()?;
        let started = out.len();
        let mut wait = POLL_WAIT;
        while out.len() - started < max {
            let Some(result) = self.consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            let message = match result {
                Ok(message) => message,
                Err(error) => return transient(error).map(|()| ReadStatus::Idle),
            };
            let Some(split) = self.split_of(message.topic(), message.partition()) else {
                continue;
            };
            let offset = message.offset();
            if let Some(start) = self.splits[split].skip_before {
                if message.timestamp().to_millis().is_some_and(|ts| ts < start) {
                    self.splits[split].next = Some(offset + 1);
                    continue;
                }
                self.splits[split].skip_before = None;
            }
            let record = self.record(&message, split);
            self.splits[split].next = Some(offset + 1);
            out.push(record);
        }
        if out.len() > started {
            return Ok(ReadStatus::More);
        }
        if self.caught_up() {
            return Ok(ReadStatus::Finished);
        }
        Ok(ReadStatus::Idle)
    }

    fn describe(&self) -> String {
        match &self.config.subscription {
            Subscription::Topics(topics) => format!(
                "Kafka topics {} at {}",
                topics.join(", "),
                self.config.bootstrap_servers
            ),
            Subscription::Pattern(pattern) => {
                format!(
                    "Kafka topics matching `{pattern}` at {}",
                    self.config.bootstrap_servers
                )
            }
        }
    }

    fn split_count(&self) -> usize {
        self.splits.len()
    }

    fn split_id(&self, index: usize) -> String {
        let split = &self.splits[index];
        split_id(&split.topic, split.partition)
    }

    fn positions(&self) -> Option<Vec<SplitPosition>> {
        Some(
            self.splits
                .iter()
                .filter_map(|split| {
                    // A split not assigned yet has no position: a restore
                    // resolves its start again.
                    let offset = split.next?;
                    Some(SplitPosition {
                        split: split_id(&split.topic, split.partition),
                        position: serde_json::to_value(PartitionPosition {
                            topic: split.topic.clone(),
                            partition: split.partition,
                            offset,
                        })
                        .expect("positions serialise"),
                    })
                })
                .collect(),
        )
    }

    fn restore(&mut self, restored: &[SplitPosition]) -> std::io::Result<()> {
        for split in restored {
            let position: PartitionPosition = serde_json::from_value(split.position.clone()).map_err(|e| {
                std::io::Error::other(format!(
                    "the checkpoint holds position {} for {}, which is not a Kafka partition's: {e}",
                    split.position, split.split
                ))
            })?;
            self.restored.insert(
                split_id(&position.topic, position.partition),
                position.offset,
            );
        }
        Ok(())
    }

    fn assignment(&self) -> SplitAssignment {
        SplitAssignment::ById
    }

    fn checkpoint_completed(&mut self, positions: &[SplitPosition]) {
        let mut list = TopicPartitionList::new();
        for split in positions {
            if let Ok(position) =
                serde_json::from_value::<PartitionPosition>(split.position.clone())
            {
                let _ = list.add_partition_offset(
                    &position.topic,
                    position.partition,
                    Offset::Offset(position.offset),
                );
            }
        }
        if list.count() > 0
            && let Err(error) = self.consumer.commit(&list, CommitMode::Async)
        {
            tracing::debug!(
                "Kafka: cannot commit offsets to group `{}`: {error}",
                self.config.group_id
            );
        }
    }
}

/// Errors a consumer reports and then recovers from by itself (a broker
/// away for a while) are logged; others fail the read.
fn transient(error: KafkaError) -> std::io::Result<()> {
    let code = error.rdkafka_error_code();
    let passing = matches!(
        code,
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::PartitionEOF
        )
    );
    if passing {
        tracing::warn!("Kafka: {error}; retrying");
        return Ok(());
    }
    Err(std::io::Error::other(format!("Kafka: {error}")))
}
