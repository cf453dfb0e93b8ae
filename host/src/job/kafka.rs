//! The Kafka connector's options: `[source.kafka]` and `[sink.kafka]` as
//! written (`*Spec`), their checks, and the validated form the connector
//! runs (`KafkaSource`, `KafkaSink`). Kept apart from the other connectors'
//! options, which the source and sink tables do not share.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::spec::{HumanDuration, KeyBySpec};

/// `[source.kafka]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: Spanned<String>,
    /// The topics read; or `topic_pattern`.
    pub topics: Option<Spanned<Vec<String>>>,
    /// A regular expression over topic names; topics that appear later are
    /// found by partition discovery.
    pub topic_pattern: Option<Spanned<String>>,
    /// The consumer group (default `eddy-<job>-<source>`): offsets are
    /// committed to it when checkpoints complete, for monitoring, and
    /// `start = "group-offsets"` starts from its committed offsets.
    pub group_id: Option<Spanned<String>>,
    /// Where a run from the beginning starts: `earliest` (default),
    /// `latest`, `group-offsets`, or `{ timestamp = MS }`.
    pub start: Option<Spanned<StartSpec>>,
    /// `latest`: a bounded read, up to the end offsets when the job starts,
    /// then the source finishes (Flink's `setBounded(latest())`).
    pub stop: Option<Spanned<StopSpec>>,
    /// How often to look for new partitions and topics (default `30s`;
    /// `"0s"` turns discovery off).
    pub partition_discovery: Option<Spanned<HumanDuration>>,
    /// Wrap each record's value in an envelope with its topic, partition,
    /// offset, timestamp, key and headers.
    pub envelope: Option<Spanned<bool>>,
    /// Any librdkafka consumer property.
    pub properties: Option<Spanned<BTreeMap<String, PropertyValue>>>,
}

/// `start` of a Kafka source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum StartSpec {
    Earliest,
    Latest,
    GroupOffsets,
    #[serde(untagged)]
    Timestamp {
        timestamp: i64,
    },
}

/// `stop` of a Kafka source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopSpec {
    Latest,
}

/// A librdkafka property: written as a string, number or boolean.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
}

impl PropertyValue {
    fn text(&self) -> String {
        match self {
            PropertyValue::Text(text) => text.clone(),
            PropertyValue::Integer(n) => n.to_string(),
            PropertyValue::Boolean(b) => b.to_string(),
        }
    }
}

/// `[sink.kafka]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSpec {
    pub bootstrap_servers: Spanned<String>,
    /// The topic every record goes to; or `topic_field`.
    pub topic: Option<Spanned<String>>,
    /// A JSON field (dotted path) naming each record's topic.
    pub topic_field: Option<Spanned<String>>,
    /// The message key: `{ field = "user" }` or `"record-key"`; none by default.
    pub key: Option<Spanned<KeyBySpec>>,
    /// Exactly-once sinks: the prefix of their transactional ids (default
    /// `eddy-<job>-<sink>`), which must be unique to the job and sink.
    pub transactional_id_prefix: Option<Spanned<String>>,
    /// Exactly-once sinks: how long the broker keeps a transaction open
    /// before aborting it (default `15m`); longer than a checkpoint.
    pub transaction_timeout: Option<Spanned<HumanDuration>>,
    /// Any librdkafka producer property.
    pub properties: Option<Spanned<BTreeMap<String, PropertyValue>>>,
}

/// What a Kafka source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    Topics(Vec<String>),
    /// A regular expression that whole topic names match.
    Pattern(String),
}

/// Where each partition starts when no checkpoint says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffsets {
    Earliest,
    Latest,
    /// The group's committed offsets (earliest where it has none).
    GroupOffsets,
    /// The first record at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// Whether a Kafka source ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundedness {
    /// It reads for ever.
    Unbounded,
    /// It reads up to the end offsets each partition had when the run
    /// started, then finishes.
    UpToLatest,
}

/// What a Kafka source makes of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueShape {
    /// The message value, as the source's `format` reads it.
    Payload,
    /// A JSON envelope: `topic`, `partition`, `offset`, `timestamp`, `key`,
    /// `headers` and `value`.
    Envelope,
}

/// A validated Kafka source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    pub bootstrap_servers: String,
    pub subscription: Subscription,
    pub group_id: String,
    pub start: StartOffsets,
    pub boundedness: Boundedness,
    pub discovery_interval: Option<Duration>,
    pub value: ValueShape,
    pub properties: Vec<(String, String)>,
}

/// Where a Kafka sink sends a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicChoice {
    Fixed(String),
    /// The JSON field (path) of the record naming its topic.
    Field(Vec<String>),
}

/// The key of the messages a Kafka sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKey {
    None,
    /// The key the record carries (from its source or key selector).
    RecordKey,
    /// A JSON field (path) of the record.
    Field(Vec<String>),
}

/// What a Kafka sink guarantees after a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaDelivery {
    /// Flushed at every barrier: a restore writes again what followed the
    /// checkpoint.
    AtLeastOnce,
    /// One transaction per subtask and checkpoint, committed when the
    /// checkpoint completes.
    ExactlyOnce,
}

/// A validated Kafka sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSink {
    pub bootstrap_servers: String,
    pub topic: TopicChoice,
    pub key: MessageKey,
    pub delivery: KafkaDelivery,
    pub transactional_id_prefix: String,
    pub transaction_timeout: Duration,
    pub properties: Vec<(String, String)>,
}

/// A mistake in the options, with where it is.
#[derive(Debug)]
pub struct OptionError {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl OptionError {
    fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Self {
        OptionError {
            span: Some(value.span()),
            message: message.into(),
        }
    }
}

/// Default interval of partition discovery.
const DEFAULT_DISCOVERY: Duration = Duration::from_secs(30);
/// Default transaction time-out of an exactly-once sink (Flink's is 1 h;
/// brokers cap it at `transaction.max.timeout.ms`, 15 min by default).
const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Properties eddy sets itself, which a job file may not override.
const OWN_SOURCE_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
];
const OWN_SINK_PROPERTIES: &[&str] = &["bootstrap.servers", "transactional.id"];

impl KafkaSourceSpec {
    /// The source `source` of job `job`, checked.
    pub fn validate(&self, job: &str, source: &str) -> Result<KafkaSource, OptionError> {
        let subscription = match (&self.topics, &self.topic_pattern) {
            (Some(topics), None) if topics.get_ref().is_empty() => {
                return Err(OptionError::at(
                    topics,
                    "`topics` is empty; name at least one topic",
                ));
            }
            (Some(topics), None) => Subscription::Topics(topics.get_ref().clone()),
            (None, Some(pattern)) => {
                regex::Regex::new(pattern.get_ref()).map_err(|e| {
                    OptionError::at(
                        pattern,
                        format!("`topic_pattern` is not a regular expression: {e}"),
                    )
                })?;
                Subscription::Pattern(pattern.get_ref().clone())
            }
            (Some(_), Some(pattern)) => {
                return Err(OptionError::at(
                    pattern,
                    "set `topics` or `topic_pattern`, not both",
                ));
            }
            (None, None) => {
                return Err(OptionError::at(
                    &self.bootstrap_servers,
                    "missing field `topics` (or `topic_pattern`), what the source reads",
                ));
            }
        };
        let start = match self.start.as_ref().map(Spanned::get_ref) {
            None | Some(StartSpec::Earliest) => StartOffsets::Earliest,
            Some(StartSpec::Latest) => StartOffsets::Latest,
            Some(StartSpec::GroupOffsets) => StartOffsets::GroupOffsets,
            Some(StartSpec::Timestamp { timestamp }) => StartOffsets::Timestamp(*timestamp),
        };
        Ok(KafkaSource {
            bootstrap_servers: servers(&self.bootstrap_servers)?,
            subscription,
            group_id: self
                .group_id
                .as_ref()
                .map_or_else(|| format!("eddy-{job}-{source}"), |g| g.get_ref().clone()),
            start,
            boundedness: match &self.stop {
                None => Boundedness::Unbounded,
                Some(_) => Boundedness::UpToLatest,
            },
            discovery_interval: match &self.partition_discovery {
                None => Some(DEFAULT_DISCOVERY),
                Some(d) if d.get_ref().0.is_zero() => None,
                Some(d) => Some(d.get_ref().0),
            },
            value: match self.envelope.as_ref().map(|e| *e.get_ref()) {
                Some(true) => ValueShape::Envelope,
                _ => ValueShape::Payload,
            },
            properties: properties(self.properties.as_ref(), OWN_SOURCE_PROPERTIES)?,
        })
    }
}

impl KafkaSinkSpec {
    /// The sink `sink` of job `job` with `delivery`, checked.
    pub fn validate(
        &self,
        job: &str,
        sink: &str,
        delivery: KafkaDelivery,
        field_path: impl Fn(&Spanned<String>) -> Result<Vec<String>, OptionError>,
    ) -> Result<KafkaSink, OptionError> {
        let topic = match (&self.topic, &self.topic_field) {
            (Some(topic), None) => TopicChoice::Fixed(topic.get_ref().clone()),
            (None, Some(field)) => TopicChoice::Field(field_path(field)?),
            (Some(_), Some(field)) => {
                return Err(OptionError::at(
                    field,
                    "set `topic` or `topic_field`, not both",
                ));
            }
            (None, None) => {
                return Err(OptionError::at(
                    &self.bootstrap_servers,
                    "missing field `topic` (or `topic_field`), where the sink writes",
                ));
            }
        };
        let key = match self.key.as_ref() {
            None => MessageKey::None,
            Some(key) => match key.get_ref() {
                KeyBySpec::RecordKey => MessageKey::RecordKey,
                KeyBySpec::Field(field) => MessageKey::Field(field_path(field)?),
                KeyBySpec::Selector(_) => {
                    return Err(OptionError::at(
                        key,
                        "a Kafka sink's `key` is `{ field = \"...\" }` or \"record-key\"; a key selector module is for `key_by`",
                    ));
                }
            },
        };
        Ok(KafkaSink {
            bootstrap_servers: servers(&self.bootstrap_servers)?,
            topic,
            key,
            delivery,
            transactional_id_prefix: self
                .transactional_id_prefix
                .as_ref()
                .map_or_else(|| format!("eddy-{job}-{sink}"), |p| p.get_ref().clone()),
            transaction_timeout: self
                .transaction_timeout
                .as_ref()
                .map_or(DEFAULT_TRANSACTION_TIMEOUT, |t| t.get_ref().0),
            properties: properties(self.properties.as_ref(), OWN_SINK_PROPERTIES)?,
        })
    }
}

fn servers(servers: &Spanned<String>) -> Result<String, OptionError> {
    let text = servers.get_ref().trim();
    if text.is_empty() || text.split(',').any(|s| !s.trim().contains(':')) {
        return Err(OptionError::at(
            servers,
            format!("`bootstrap_servers` = \"{text}\" is not a list of host:port"),
        ));
    }
    Ok(text.to_string())
}

fn properties(
    properties: Option<&Spanned<BTreeMap<String, PropertyValue>>>,
    own: &[&str],
) -> Result<Vec<(String, String)>, OptionError> {
    let Some(properties) = properties else {
        return Ok(Vec::new());
    };
    if let Some(name) = properties
        .get_ref()
        .keys()
        .find(|k| own.contains(&k.as_str()))
    {
        return Err(OptionError::at(
            properties,
            format!(
                "property `{name}` is set by eddy itself (from the connector's options); remove it from `properties`"
            ),
        ));
    }
    Ok(properties
        .get_ref()
        .iter()
        .map(|(name, value)| (name.clone(), value.text()))
        .collect())
}
