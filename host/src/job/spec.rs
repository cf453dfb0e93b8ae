//! The job file as written by users (TOML), before validation.
//!
//! Types here mirror the file one to one, with `deny_unknown_fields`
//! everywhere so that a misspelt option is an error with its line and column
//! rather than being silently ignored. Values that later checks must point at
//! are `Spanned`.
//!
//! Serde cannot combine `deny_unknown_fields` with `flatten` or with
//! internally tagged enums without losing field positions, so options that
//! depend on a discriminant (`type` of a source or sink, `strategy` of a
//! watermark) are plain optional fields here; `load` checks that each one is
//! set only where its discriminant allows it.

use std::fmt;
use std::time::Duration;

use bytesize::ByteSize;
use humantime_serde::re::humantime;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Unexpected, Visitor};
use toml::Spanned;

use crate::features::CargoFeature;

/// Default parallelism of operators and generator sources when `[job]` sets none.
pub const DEFAULT_PARALLELISM: u32 = 1;
/// Default number of key groups (Flink's default too).
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;
/// Largest number of key groups a job may have (key groups are `u16`, as in Flink).
pub const MAX_MAX_PARALLELISM: u32 = 32_768;

/// A whole job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub job: Spanned<JobSection>,
    #[serde(default)]
    pub limits: GuestLimitsSpec,
    #[serde(default)]
    pub batch: BatchSpec,
    #[serde(default)]
    pub state: StateSpec,
    /// Absent: the job takes no checkpoints.
    pub checkpoints: Option<Spanned<CheckpointsSpec>>,
    /// Absent: no restart without checkpoints, exponential backoff with them.
    pub restart: Option<Spanned<RestartSpec>>,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
    #[serde(default, rename = "operator")]
    pub operators: Vec<OperatorSpec>,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkSpec>,
}

/// `[job]`: name and job-wide defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    pub name: Spanned<String>,
    /// Default parallelism of every operator and generator source
    /// ([`DEFAULT_PARALLELISM`] when absent).
    pub parallelism: Option<Spanned<u32>>,
    /// Number of key groups ([`DEFAULT_MAX_PARALLELISM`] when absent); fixed
    /// for the life of a job because state is stored per key group.
    pub max_parallelism: Option<Spanned<u32>>,
}

/// A duration written the human way: `"5s"`, `"10ms"`, `"5m"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Parsed here rather than with `humantime_serde::deserialize` to keep
        // humantime's explanation (e.g. the unknown unit) in the message.
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(HumanDuration)
            .map_err(|error| {
                de::Error::custom(format!(
                    "invalid duration \"{text}\": {error}; write durations like \"5s\", \"10ms\" or \"5m\""
                ))
            })
    }
}

/// A duration that may be negative, written `"-5s"` or `"10m"`: the bounds
/// of an interval join are offsets before or after a record's timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedDuration {
    pub millis: i64,
}

impl<'de> Deserialize<'de> for SignedDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (sign, magnitude) = match text.trim().strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, text.trim()),
        };
        let duration = humantime::parse_duration(magnitude.trim()).map_err(|error| {
            de::Error::custom(format!(
                "invalid duration \"{text}\": {error}; write offsets like \"-5s\", \"0s\" or \"10m\""
            ))
        })?;
        let millis = i64::try_from(duration.as_millis())
            .map_err(|_| de::Error::custom(format!("duration \"{text}\" is too long")))?;
        Ok(SignedDuration {
            millis: sign * millis,
        })
    }
}

/// An amount of memory: a number of bytes, or a string like `"64 MiB"`
/// (binary units, powers of 1024) or `"64 MB"` (SI units, powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySize(pub ByteSize);

impl<'de> Deserialize<'de> for MemorySize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemorySizeVisitor)
    }
}

/// Reads a [`MemorySize`], explaining a bad one better than `ByteSize`
/// itself does ("expected parsable string").
struct MemorySizeVisitor;

impl<'de> Visitor<'de> for MemorySizeVisitor {
    type Value = MemorySize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size like \"64 MiB\" or a number of bytes")
    }

    fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<MemorySize, E> {
        Ok(MemorySize(ByteSize::b(bytes)))
    }

    fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<MemorySize, E> {
        u64::try_from(bytes)
            .map(|bytes| MemorySize(ByteSize::b(bytes)))
            .map_err(|_| E::invalid_value(Unexpected::Signed(bytes), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<MemorySize, E> {
        text.parse().map(MemorySize).map_err(|error| {
            E::custom(format!(
                "invalid memory size \"{text}\": {error}; write sizes like \"64 MiB\" or \"1 GiB\""
            ))
        })
    }
}

/// `[limits]` and an operator's `limits`: what one guest instance may use.
/// Each field left out falls back to `[limits]`, then to the built-in default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestLimitsSpec {
    /// Linear memory per instance, e.g. `"64 MiB"`.
    pub memory: Option<Spanned<MemorySize>>,
    /// Longest time one call into the guest may run, e.g. `"2s"`.
    pub call_timeout: Option<Spanned<HumanDuration>>,
}

/// `[batch]`: how records are grouped for calls into guests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// Largest batch under load.
    pub max_records: Option<Spanned<u32>>,
    /// Longest a record may wait for its batch to fill.
    pub flush_interval: Option<HumanDuration>,
}

/// `[state]`: which backend keeps keyed state, and its options. The options
/// below `backend` belong to `rocksdb`; `load` rejects them with `memory`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// `memory` when absent.
    pub backend: Option<Spanned<StateBackendKind>>,
    /// Folder of the embedded databases, relative to the job file.
    pub local_dir: Option<Spanned<String>>,
    /// LRU block cache shared by the whole job, e.g. `"64 MiB"`.
    pub block_cache: Option<Spanned<MemorySize>>,
    /// Memtable budget of each subtask database, e.g. `"32 MiB"`.
    pub write_buffer: Option<Spanned<MemorySize>>,
    /// Write-back cache of value state per subtask database, e.g. `"32 MiB"`; `"0 B"` for none.
    pub write_cache: Option<Spanned<MemorySize>>,
}

/// The state backends: `backend` of `[state]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum StateBackendKind {
    /// Hash maps on the heap.
    #[default]
    #[serde(rename = "memory")]
    Memory,
    /// An embedded RocksDB database per operator subtask, on local disk.
    #[serde(rename = "rocksdb")]
    RocksDb,
}

impl StateBackendKind {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            StateBackendKind::Memory => "memory",
            StateBackendKind::RocksDb => "rocksdb",
        }
    }

    /// The cargo feature a build of eddy needs for this backend (`None`:
    /// every build has it).
    pub fn cargo_feature(self) -> Option<CargoFeature> {
        match self {
            StateBackendKind::Memory => None,
            StateBackendKind::RocksDb => Some(CargoFeature::RocksDb),
        }
    }
}

/// `[checkpoints]`: periodic consistent snapshots of the whole job, from
/// which it restarts after a failure (Flink's `CheckpointConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsSpec {
    /// Time between the starts of two checkpoints, e.g. `"10s"`.
    pub interval: Spanned<HumanDuration>,
    /// `exactly-once` when absent.
    pub mode: Option<Spanned<CheckpointModeSpec>>,
    /// Folder of the checkpoints, relative to the job file
    /// (`checkpoints` next to the job file when absent).
    pub dir: Option<Spanned<String>>,
    /// Least time between the end of one checkpoint and the start of the next.
    pub min_pause: Option<Spanned<HumanDuration>>,
    /// A checkpoint not complete after this long is abandoned.
    pub timeout: Option<Spanned<HumanDuration>>,
    /// Number of complete checkpoints kept (the newest ones).
    pub retain: Option<Spanned<u32>>,
    /// RocksDB state: write only the files new since the last checkpoint.
    pub incremental: Option<bool>,
}

/// `mode` of `[checkpoints]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointModeSpec {
    /// Operators with several inputs align barriers: each record affects
    /// state exactly once, even after a restart.
    ExactlyOnce,
    /// No alignment: lower latency, but after a restart some records
    /// affect state twice.
    AtLeastOnce,
}

/// `[restart]`: what happens when a task fails (Flink's restart strategies).
/// The options below `strategy` belong to some strategies only; `load`
/// rejects the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    pub strategy: Spanned<RestartStrategyKind>,
    /// `fixed-delay`: restarts before giving up; `exponential-backoff`:
    /// likewise, unlimited when absent.
    pub attempts: Option<Spanned<u32>>,
    /// `fixed-delay` and `failure-rate`: wait before each restart.
    pub delay: Option<Spanned<HumanDuration>>,
    /// `exponential-backoff`: the first wait.
    pub initial_delay: Option<Spanned<HumanDuration>>,
    /// `exponential-backoff`: the longest wait.
    pub max_delay: Option<Spanned<HumanDuration>>,
    /// `exponential-backoff`: factor between two waits.
    pub multiplier: Option<Spanned<f64>>,
    /// `failure-rate`: most failures within `failure_interval` before giving up.
    pub max_failures: Option<Spanned<u32>>,
    /// `failure-rate`: the window failures are counted in.
    pub failure_interval: Option<Spanned<HumanDuration>>,
}

/// `strategy` of `[restart]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartStrategyKind {
    /// The first failure ends the run.
    None,
    /// Restart after a fixed delay, a fixed number of times.
    FixedDelay,
    /// Restart after waits that grow by a factor up to a maximum.
    ExponentialBackoff,
    /// Restart as long as failures within an interval stay below a maximum.
    FailureRate,
}

impl RestartStrategyKind {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartStrategyKind::None => "none",
            RestartStrategyKind::FixedDelay => "fixed-delay",
            RestartStrategyKind::ExponentialBackoff => "exponential-backoff",
            RestartStrategyKind::FailureRate => "failure-rate",
        }
    }
}

/// `[[source]]`: the common options, then those of each connector `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub connector: Spanned<SourceType>,
    /// How record values are read (`json` when absent).
    pub format: Option<Spanned<RecordFormat>>,
    /// Where event timestamps come from; none means processing time.
    pub timestamp: Option<Spanned<TimestampSpec>>,
    /// How watermarks follow the timestamps.
    pub watermark: Option<Spanned<WatermarkSpec>>,
    /// Sink that receives malformed records with the reason; without it a
    /// malformed record fails the job.
    pub dead_letter: Option<Spanned<String>>,
    /// Parallel readers (generator only; a file or stdin has one reader).
    pub parallelism: Option<Spanned<u32>>,
    /// After this long without records a reader is idle and stops holding
    /// back the watermark of downstream operators (Flink's `withIdleness`).
    pub idle_timeout: Option<Spanned<HumanDuration>>,

    /// `file`: the file to read, relative to the job file.
    pub path: Option<Spanned<String>>,
    /// `kafka`: the options of a Kafka source, a table of their own.
    pub kafka: Option<Spanned<super::kafka::KafkaSourceSpec>>,
    /// `generator`: its options, a table of their own (all optional).
    pub generator: Option<Spanned<GeneratorOptionsSpec>>,
}

/// `[source.generator]`: meaning and defaults are those of the same fields
/// of `GeneratorSpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorOptionsSpec {
    pub count: Option<Spanned<u64>>,
    pub rate: Option<Spanned<u64>>,
    pub keys: Option<Spanned<u64>>,
    pub key_order: Option<Spanned<KeyOrder>>,
    pub value_size: Option<Spanned<u32>>,
    pub seed: Option<Spanned<u64>>,
    pub events_per_second: Option<Spanned<u64>>,
    pub max_lag: Option<Spanned<HumanDuration>>,
    pub start_time: Option<Spanned<i64>>,
}

/// The connector behind a source: its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    /// Deterministic, seeded records for demos and benchmarks.
    Generator,
    /// A file of lines (JSON lines or text), relative to the job file.
    File,
    /// Lines from standard input.
    Stdin,
    /// Topics of a Kafka cluster (cargo feature `kafka`).
    Kafka,
}

impl SourceType {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Generator => "generator",
            SourceType::File => "file",
            SourceType::Stdin => "stdin",
            SourceType::Kafka => "kafka",
        }
    }
}

/// How the generator picks each record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrder {
    /// A seeded random key per record.
    #[default]
    Random,
    /// Record `i` has key `i % keys`: every key once, then again in the
    /// same order (Flink's `SequenceGenerator`), for tests that need each
    /// key a known number of times.
    Sequential,
}

/// Parameters of the generator source, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorSpec {
    /// Records to produce in all; unbounded when absent.
    pub count: Option<u64>,
    /// Records per second across readers; as fast as possible when absent.
    pub rate: Option<u64>,
    /// Distinct keys (default 100 000).
    pub keys: u64,
    /// Random (default) or sequential keys.
    pub key_order: KeyOrder,
    /// Bytes of payload per record (default 100).
    pub value_size: u32,
    /// Seed of the random sequence (default 0): equal seeds, equal records.
    pub seed: u64,
    /// Event-time span: records per event-time second (default 10 000;
    /// 100 000 for the Nexmark formats, the peer's default).
    pub events_per_second: u64,
    /// Largest random lag of a timestamp behind its position (out-of-orderness).
    pub max_lag: Option<Duration>,
    /// Event time of the first record, ms since the Unix epoch
    /// (default 1 700 000 000 000, November 2023).
    pub start_time: i64,
    /// What a binary event's time field carries.
    pub time_field: TimeField,
}

/// What the generator writes into a binary event's time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeField {
    /// The record's event time, ms since the Unix epoch.
    #[default]
    EventTime,
    /// [`crate::time::monotonic_nanos`] when the record was made, so a
    /// latency probe downstream can tell how long it travelled (Flink's
    /// job L stamps `System.nanoTime()` the same way). Not settable from
    /// a job file: only `eddy bench --pipeline latency` uses it.
    CreatedAt,
}

impl Default for GeneratorSpec {
    fn default() -> Self {
        GeneratorSpec {
            count: None,
            rate: None,
            keys: 100_000,
            key_order: KeyOrder::Random,
            value_size: 100,
            seed: 0,
            events_per_second: 10_000,
            max_lag: None,
            start_time: 1_700_000_000_000,
            time_field: TimeField::EventTime,
        }
    }
}

/// Encoding of record values from a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFormat {
    /// One JSON value per line; a line that is not JSON is malformed.
    #[default]
    Json,
    /// Each line as UTF-8 text, taken as is.
    Text,
    /// Each value as bytes, taken as is (Kafka messages that are not text).
    Raw,
    /// Generator only: `u64 key | i64 ts | u64 amount | payload`, little-endian.
    BinaryEvent,
    /// Generator only: the Nexmark benchmark's events, exactly those of the
    /// Flink peer's generator, each in `eddy_nexmark::binary`'s compact
    /// layout (what a guest decodes fastest).
    Nexmark,
    /// Generator only: the same Nexmark events as the peer's JSON lines
    /// (`eddy_nexmark::json`, without the newline), to compare with the peer
    /// byte for byte or to feed guests that read JSON.
    NexmarkJson,
}

impl RecordFormat {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordFormat::Json => "json",
            RecordFormat::Text => "text",
            RecordFormat::Raw => "raw",
            RecordFormat::BinaryEvent => "binary-event",
            RecordFormat::Nexmark => "nexmark",
            RecordFormat::NexmarkJson => "nexmark-json",
        }
    }

    /// Whether the generator makes Nexmark events in this format rather
    /// than its own keyed records.
    pub fn is_nexmark(self) -> bool {
        matches!(self, RecordFormat::Nexmark | RecordFormat::NexmarkJson)
    }

    /// Formats only the generator produces: no other connector has such
    /// records to read.
    pub fn generator_only(self) -> bool {
        matches!(
            self,
            RecordFormat::BinaryEvent | RecordFormat::Nexmark | RecordFormat::NexmarkJson
        )
    }
}

/// `timestamp = { field = "ts" }` or `timestamp = "source"`.
#[derive(Debug, Clone)]
pub enum TimestampSpec {
    /// A connector-defined timestamp (the generator's event time).
    Source,
    /// A JSON field holding milliseconds since the Unix epoch (dotted path).
    Field(Spanned<String>),
}

impl<'de> Deserialize<'de> for TimestampSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = LiteralOrEntry {
            literal: "source",
            keys: &["field"],
        };
        Ok(match deserializer.deserialize_any(visitor)? {
            Choice::Literal => TimestampSpec::Source,
            Choice::Entry(_, field) => TimestampSpec::Field(field),
        })
    }
}

/// `watermark = { strategy = "bounded-out-of-orderness", max_out_of_orderness = "5s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkSpec {
    pub strategy: Spanned<WatermarkKind>,
    /// Required by, and only allowed with, `bounded-out-of-orderness`.
    pub max_out_of_orderness: Option<Spanned<HumanDuration>>,
    /// When the watermark moves; `per-record` when absent.
    pub emit: Option<Spanned<EmitKind>>,
    /// Only with `emit = "periodic"`; 200ms when absent.
    pub interval: Option<Spanned<HumanDuration>>,
}

/// `emit` of a watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmitKind {
    /// After every record (Flink's punctuated generation).
    PerRecord,
    /// Every `interval` of processing time (Flink's periodic generation).
    Periodic,
}

/// The watermark strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatermarkKind {
    /// Watermark trails the largest timestamp seen by a fixed bound.
    BoundedOutOfOrderness,
    /// Timestamps never decrease: watermark = largest timestamp seen.
    Monotonous,
    /// No event-time watermarks (processing-time jobs).
    None,
}

/// `[[operator]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    /// Stable identity of the operator; state is stored under it.
    pub uid: Spanned<String>,
    pub kind: Spanned<OperatorKind>,
    /// Path of the `.wasm` component, relative to the job file (every kind
    /// but `interval-join`, which the host runs itself).
    pub module: Option<Spanned<String>>,
    /// Upstream: a source name or operator uid, optionally `uid/side-output`;
    /// a list of them is their union.
    pub input: Spanned<InputsSpec>,
    /// How a keyed operator partitions its input.
    pub key_by: Option<Spanned<KeyBySpec>>,
    /// `co-process` and `interval-join`: the second input, connected to the first.
    pub connect: Option<Spanned<ConnectSpec>>,
    /// `broadcast-process`: the stream delivered to every parallel subtask.
    pub broadcast: Option<Spanned<BroadcastSpec>>,
    /// `interval-join`: which timestamps of the second input join a record of the first.
    pub between: Option<Spanned<BetweenSpec>>,
    /// `aggregate` and `window-process`: the windows records are grouped in.
    pub window: Option<Spanned<WindowSpec>>,
    pub parallelism: Option<Spanned<u32>>,
    /// Handed to the guest's `init` as a string (tables are passed as JSON).
    pub config: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub limits: GuestLimitsSpec,
    /// What happens when the guest fails on a record (Kafka Streams'
    /// exception handlers): fail the job, or set the record aside.
    pub on_failure: Option<Spanned<OnFailureSpec>>,
    /// With `on_failure = "dead-letter"`: the sink receiving failed records.
    pub dead_letter: Option<Spanned<String>>,
}

/// `on_failure` of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailureSpec {
    /// The job fails (today's behaviour, and Flink's).
    Fail,
    /// The failing records go to the `dead_letter` sink; the rest go on.
    DeadLetter,
}

/// The operator kinds of the job file, matched against the guest's own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorKind {
    Map,
    Filter,
    FlatMap,
    KeyedProcess,
    /// Incremental aggregation of each window.
    Aggregate,
    /// A function over all elements of each window.
    WindowProcess,
    /// Two connected keyed inputs with shared state and timers.
    CoProcess,
    /// Pairs of records of two keyed inputs whose timestamps are close
    /// (Flink's interval join), run by the host.
    IntervalJoin,
    /// A keyed input and a broadcast input whose records every subtask
    /// receives and keeps in broadcast state.
    BroadcastProcess,
}

impl OperatorKind {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorKind::Map => "map",
            OperatorKind::Filter => "filter",
            OperatorKind::FlatMap => "flat-map",
            OperatorKind::KeyedProcess => "keyed-process",
            OperatorKind::Aggregate => "aggregate",
            OperatorKind::WindowProcess => "window-process",
            OperatorKind::CoProcess => "co-process",
            OperatorKind::IntervalJoin => "interval-join",
            OperatorKind::BroadcastProcess => "broadcast-process",
        }
    }

    /// Whether a guest module does the work (every kind but the host's own joins).
    pub fn has_module(self) -> bool {
        self != OperatorKind::IntervalJoin
    }

    /// Whether the operator runs per key, and so needs `key_by`.
    pub fn is_keyed(self) -> bool {
        !matches!(
            self,
            OperatorKind::Map | OperatorKind::Filter | OperatorKind::FlatMap
        )
    }

    /// Whether the operator works on windows, and so needs `window`.
    pub fn is_windowed(self) -> bool {
        matches!(self, OperatorKind::Aggregate | OperatorKind::WindowProcess)
    }
}

/// `input = "clicks"` or `input = ["clicks", "views"]` (a union).
#[derive(Debug, Clone)]
pub enum InputsSpec {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl InputsSpec {
    /// Each input with its place in the file; a lone input takes `span`,
    /// the place of the whole value.
    pub fn each(&self, span: std::ops::Range<usize>) -> Vec<Spanned<String>> {
        match self {
            InputsSpec::One(input) => vec![Spanned::new(span, input.clone())],
            InputsSpec::Many(inputs) => inputs.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for InputsSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputsVisitor;
        impl<'de> Visitor<'de> for InputsVisitor {
            type Value = InputsSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stream name like \"clicks\" or a list of them")
            }

            fn visit_str<E: de::Error>(self, input: &str) -> Result<InputsSpec, E> {
                Ok(InputsSpec::One(input.to_owned()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<InputsSpec, A::Error> {
                let mut inputs = Vec::new();
                while let Some(input) = seq.next_element::<Spanned<String>>()? {
                    inputs.push(input);
                }
                if inputs.is_empty() {
                    return Err(de::Error::custom("expected at least one input"));
                }
                Ok(InputsSpec::Many(inputs))
            }
        }
        deserializer.deserialize_any(InputsVisitor)
    }
}

/// `connect = { input = "payments", key_by = { field = "order_id" } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectSpec {
    /// The second input (or a list of streams, unioned).
    pub input: Spanned<InputsSpec>,
    /// Its key; the first input's `key_by` when absent.
    pub key_by: Option<Spanned<KeyBySpec>>,
}

/// `broadcast = { input = "rules" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastSpec {
    /// The broadcast stream (or a list of streams, unioned).
    pub input: Spanned<InputsSpec>,
}

/// `between = { lower = "-5s", upper = "10s" }`: a record of the first input
/// at `t` joins records of the second input at `t + lower ..= t + upper`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetweenSpec {
    pub lower: Spanned<SignedDuration>,
    pub upper: Spanned<SignedDuration>,
}

/// `window = { type = "sliding", size = "5m", slide = "1m" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    #[serde(rename = "type")]
    pub kind: Spanned<WindowType>,
    /// Length of tumbling and sliding windows; elements per `count` window.
    pub size: Option<Spanned<WindowSize>>,
    /// `sliding`: how often a window starts.
    pub slide: Option<Spanned<HumanDuration>>,
    /// `tumbling` and `sliding`: shift of window starts from the epoch.
    pub offset: Option<Spanned<HumanDuration>>,
    /// `session`: inactivity that closes a session.
    pub gap: Option<Spanned<HumanDuration>>,
    /// `event` (default) or `processing` time.
    pub time: Option<Spanned<WindowTime>>,
    /// How long after a window fired late records still update it.
    pub allowed_lateness: Option<Spanned<HumanDuration>>,
    /// Side output for records too late for every window (default `late`).
    pub late_output: Option<Spanned<String>>,
}

/// The window assigners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowType {
    Tumbling,
    Sliding,
    Session,
    /// A global window per key that fires (and is purged) every `size` elements.
    Count,
}

impl WindowType {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowType::Tumbling => "tumbling",
            WindowType::Sliding => "sliding",
            WindowType::Session => "session",
            WindowType::Count => "count",
        }
    }
}

/// Which clock assigns and fires windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowTime {
    Event,
    Processing,
}

/// `size = "1m"` (time windows) or `size = 100` (count windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSize {
    Duration(HumanDuration),
    Count(u64),
}

impl<'de> Deserialize<'de> for WindowSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl<'de> Visitor<'de> for SizeVisitor {
            type Value = WindowSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"1m\" or a number of elements")
            }

            fn visit_i64<E: de::Error>(self, count: i64) -> Result<WindowSize, E> {
                u64::try_from(count)
                    .map(WindowSize::Count)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(count), &self))
            }

            fn visit_u64<E: de::Error>(self, count: u64) -> Result<WindowSize, E> {
                Ok(WindowSize::Count(count))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<WindowSize, E> {
                HumanDuration::deserialize(de::value::StrDeserializer::<E>::new(text))
                    .map(WindowSize::Duration)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// `key_by = { field = "user" }`, `{ selector = "key.wasm" }` or `"record-key"`.
#[derive(Debug, Clone)]
pub enum KeyBySpec {
    /// The key the connector attached to the record (generator, Kafka).
    RecordKey,
    /// A JSON field (dotted path) of the record value.
    Field(Spanned<String>),
    /// A guest component of kind `key-selector`, relative to the job file.
    Selector(Spanned<String>),
}

impl<'de> Deserialize<'de> for KeyBySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = LiteralOrEntry {
            literal: "record-key",
            keys: &["field", "selector"],
        };
        Ok(match deserializer.deserialize_any(visitor)? {
            Choice::Literal => KeyBySpec::RecordKey,
            Choice::Entry("field", field) => KeyBySpec::Field(field),
            Choice::Entry(_, selector) => KeyBySpec::Selector(selector),
        })
    }
}

/// `[[sink]]`: the common options, then those of each connector `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub connector: Spanned<SinkType>,
    /// Upstream: a source name or operator uid, optionally `uid/side-output`;
    /// absent for a sink that only receives dead letters.
    pub input: Option<Spanned<String>>,

    /// `file`: the file to write, relative to the job file (a folder of
    /// part files with `delivery = "exactly-once"`).
    pub path: Option<Spanned<String>>,
    /// `file`: `at-least-once` (one file, written as records come) when
    /// absent, or `exactly-once` (part files published per checkpoint).
    pub delivery: Option<Spanned<DeliverySpec>>,
    /// `redis`: the options of a Redis sink, a table of their own.
    pub redis: Option<Spanned<RedisSinkSpec>>,
    /// `kafka`: the options of a Kafka sink, a table of their own.
    pub kafka: Option<Spanned<super::kafka::KafkaSinkSpec>>,
}

/// `[sink.redis]`: what a Redis sink writes for each record. Keys, fields,
/// values and members are templates over the record's fields
/// (`"clicks:{user}"`); `score` is a field path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSinkSpec {
    /// `redis://host:port/db` (default `redis://127.0.0.1:6379`).
    pub url: Option<Spanned<String>>,
    pub mode: Spanned<RedisModeSpec>,
    pub key: Spanned<String>,
    /// `hset`: the hash field.
    pub field: Option<Spanned<String>>,
    /// `set` and `hset`: the value (default: the whole record).
    pub value: Option<Spanned<String>>,
    /// `zadd`: the sorted set's member.
    pub member: Option<Spanned<String>>,
    /// `zadd`: the field holding the member's score.
    pub score: Option<Spanned<String>>,
    /// Expire every key written this long after its last write.
    pub ttl: Option<Spanned<HumanDuration>>,
}

/// `mode` of a Redis sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedisModeSpec {
    Set,
    Hset,
    Zadd,
}

/// `delivery` of a file or Kafka sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliverySpec {
    AtLeastOnce,
    ExactlyOnce,
}

/// The connector behind a sink: its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkType {
    /// One line per record on standard output.
    Stdout,
    /// JSON lines (or raw lines) appended to a file, relative to the job file.
    File,
    /// Counts and drops records (benchmarks).
    Discard,
    /// Upserts of results into Redis (`set`, `hset`, `zadd`).
    Redis,
    /// Messages to Kafka topics (cargo feature `kafka`).
    Kafka,
}

impl SinkType {
    /// The name written in the job file.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkType::Stdout => "stdout",
            SinkType::File => "file",
            SinkType::Discard => "discard",
            SinkType::Redis => "redis",
            SinkType::Kafka => "kafka",
        }
    }
}

/// What [`LiteralOrEntry`] found.
enum Choice {
    Literal,
    Entry(&'static str, Spanned<String>),
}

/// Reads an option written either as one literal string or as an inline
/// table with exactly one key out of a fixed set, the shape of `timestamp`
/// and `key_by`. Serde's untagged enums would accept the same input but
/// report every mistake as "did not match any variant".
struct LiteralOrEntry {
    literal: &'static str,
    keys: &'static [&'static str],
}

impl LiteralOrEntry {
    fn one_of_keys(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|key| format!("`{key}`")).collect();
        keys.join(" or ")
    }
}

impl<'de> Visitor<'de> for LiteralOrEntry {
    type Value = Choice;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" or a table with one key, {}",
            self.literal,
            self.one_of_keys()
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Choice, E> {
        if value == self.literal {
            Ok(Choice::Literal)
        } else {
            Err(E::invalid_value(Unexpected::Str(value), &self))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Choice, A::Error> {
        let mut entry = None;
        while let Some(key) = map.next_key_seed(KnownKey(self.keys))? {
            if entry.is_some() {
                return Err(de::Error::custom(format!(
                    "expected exactly one key, {}",
                    self.one_of_keys()
                )));
            }
            entry = Some(Choice::Entry(key, map.next_value()?));
        }
        entry.ok_or_else(|| {
            de::Error::custom(format!("expected exactly one key, {}", self.one_of_keys()))
        })
    }
}

/// Reads a table key that must be one of a fixed set. Checking it while the
/// key is read, rather than after, lets the TOML parser point at the key.
struct KnownKey(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKey {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'static str, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KnownKey {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        self.0
            .iter()
            .find(|known| **known == key)
            .copied()
            .ok_or_else(|| E::unknown_field(key, self.0))
    }
}
