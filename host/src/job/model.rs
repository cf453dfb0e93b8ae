//! A validated job: every reference resolved, every default applied, paths
//! made absolute. The runtime only ever sees these types, never the raw file.

use std::path::PathBuf;
use std::time::Duration;

pub use super::spec::{GeneratorSpec, KeyOrder, OperatorKind, RecordFormat, TimeField, WindowTime};
pub use crate::operators::window::WindowAssigner;

/// Default linear memory per guest instance.
pub const DEFAULT_GUEST_MEMORY: u64 = 64 * 1024 * 1024;
/// Default longest call into a guest.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest batch under load.
pub const DEFAULT_BATCH_RECORDS: usize = 256;
/// Default longest wait for a batch to fill.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(10);
/// Default size of the RocksDB block cache shared by all databases of a job.
pub const DEFAULT_BLOCK_CACHE: u64 = 64 * 1024 * 1024;
/// Default RocksDB memtable budget of each subtask database.
pub const DEFAULT_WRITE_BUFFER: u64 = 32 * 1024 * 1024;
/// Default write-back cache of value state of each RocksDB subtask database.
pub const DEFAULT_WRITE_CACHE: u64 = 32 * 1024 * 1024;
/// Folder below the system temp dir where RocksDB databases live by default.
pub const DEFAULT_ROCKSDB_DIR_NAME: &str = "eddy-rocksdb";

/// A job ready to be planned and run.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// The job file, for messages.
    pub file: PathBuf,
    pub max_parallelism: u32,
    pub batch: BatchConfig,
    /// Where the keyed state of every operator lives.
    pub state: StateBackendConfig,
    /// `None`: the job takes no checkpoints.
    pub checkpoints: Option<CheckpointConfig>,
    /// What happens when a task fails.
    pub restart: RestartStrategy,
    pub sources: Vec<SourceDef>,
    /// In topological order: every operator comes after its input.
    pub operators: Vec<OperatorDef>,
    pub sinks: Vec<SinkDef>,
    /// Every `input` that reads a side output: whether the side output
    /// exists is known only once the modules say what they declare, and the
    /// error then points back at the `input` in the file.
    pub side_output_reads: Vec<SideOutputRead>,
}

/// An `input = "uid/side-output"` of an operator or sink.
#[derive(Debug, Clone)]
pub struct SideOutputRead {
    /// Who reads it, as messages name it: ``sink `late` ``, ``operator `x` ``.
    pub reader: String,
    pub stream: StreamRef,
    /// Where the `input` is written in the job file.
    pub at: super::load::Location,
}

/// How records are grouped for calls into guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    pub max_records: usize,
    pub flush_interval: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: DEFAULT_BATCH_RECORDS,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
        }
    }
}

/// Which state backend keeps the keyed state of every operator of a job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StateBackendConfig {
    /// Hash maps on the heap (Flink's `HashMapStateBackend`).
    #[default]
    Memory,
    /// An embedded RocksDB database per operator subtask, on local disk
    /// (Flink's `EmbeddedRocksDBStateBackend`): state may outgrow memory.
    RocksDb(RocksDbConfig),
}

/// Options of the embedded RocksDB backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksDbConfig {
    /// Absolute; each operator subtask gets a database of its own below it.
    pub local_dir: PathBuf,
    /// Size of the LRU block cache shared by every database of the job.
    pub block_cache_bytes: u64,
    /// Memtable budget of each subtask database.
    pub write_buffer_bytes: u64,
    /// Value state each subtask database keeps in memory and writes back
    /// in batches (0: none).
    pub write_cache_bytes: u64,
}

impl RocksDbConfig {
    /// `eddy-rocksdb` in the system temp dir, made absolute.
    pub fn default_local_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(DEFAULT_ROCKSDB_DIR_NAME);
        std::path::absolute(&dir).unwrap_or(dir)
    }
}

impl Default for RocksDbConfig {
    fn default() -> Self {
        RocksDbConfig {
            local_dir: RocksDbConfig::default_local_dir(),
            block_cache_bytes: DEFAULT_BLOCK_CACHE,
            write_buffer_bytes: DEFAULT_WRITE_BUFFER,
            write_cache_bytes: DEFAULT_WRITE_CACHE,
        }
    }
}

/// Default least time between two checkpoints.
pub const DEFAULT_CHECKPOINT_MIN_PAUSE: Duration = Duration::ZERO;
/// Default time after which a checkpoint is abandoned (Flink's too).
pub const DEFAULT_CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default number of complete checkpoints kept.
pub const DEFAULT_CHECKPOINTS_RETAINED: usize = 3;

/// How and where a job takes checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointConfig {
    pub interval: Duration,
    pub mode: CheckpointMode,
    /// Absolute; checkpoint `n` is `chk-<n>` below it.
    pub dir: PathBuf,
    pub min_pause: Duration,
    pub timeout: Duration,
    /// At least 1.
    pub retain: usize,
    /// Keep RocksDB state as the database's own files, writing only those
    /// new since the last complete checkpoint (Flink's incremental
    /// checkpoints). Other backends, and savepoints, stay logical.
    pub incremental: bool,
}

/// Whether barriers are aligned at operators with several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointMode {
    ExactlyOnce,
    AtLeastOnce,
}

/// Flink's restart strategies.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// The first failure ends the run.
    None,
    /// Up to `attempts` restarts, `delay` apart.
    FixedDelay { attempts: u32, delay: Duration },
    /// Waits from `initial` growing by `multiplier` up to `max`; at most
    /// `attempts` restarts if set.
    ExponentialBackoff {
        initial: Duration,
        max: Duration,
        multiplier: f64,
        attempts: Option<u32>,
    },
    /// Gives up when more than `max_failures` happen within `interval`.
    FailureRate {
        max_failures: u32,
        interval: Duration,
        delay: Duration,
    },
}

/// Default first wait of `exponential-backoff`.
pub const DEFAULT_RESTART_INITIAL_DELAY: Duration = Duration::from_secs(1);
/// Default longest wait of `exponential-backoff`.
pub const DEFAULT_RESTART_MAX_DELAY: Duration = Duration::from_secs(60);
/// Default growth factor of `exponential-backoff` (Flink's 1.5).
pub const DEFAULT_RESTART_MULTIPLIER: f64 = 1.5;
/// Default wait of `fixed-delay` and `failure-rate`.
pub const DEFAULT_RESTART_DELAY: Duration = Duration::from_secs(1);

/// A named stream: the main output of a source or operator, or one of an
/// operator's side outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// A source name or an operator uid.
    pub node: String,
    pub side_output: Option<String>,
}

impl std::fmt::Display for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.side_output {
            Some(side) => write!(f, "{}/{}", self.node, side),
            None => f.write_str(&self.node),
        }
    }
}

/// A validated `[[source]]`.
#[derive(Debug, Clone)]
pub struct SourceDef {
    pub name: String,
    pub connector: SourceConnector,
    pub format: RecordFormat,
    pub timestamp: TimestampSource,
    pub watermark: WatermarkStrategy,
    /// When the watermark moves: after every record, or periodically.
    pub watermark_emission: WatermarkEmission,
    /// Sink name for malformed records; `None` fails the job on one.
    pub dead_letter: Option<String>,
    pub parallelism: u32,
    /// How long a reader may go without records before it is marked idle.
    pub idle_timeout: Option<Duration>,
}

/// Where a source reads from.
#[derive(Debug, Clone)]
pub enum SourceConnector {
    Generator(GeneratorSpec),
    File(PathBuf),
    Stdin,
    Kafka(super::kafka::KafkaSource),
}

/// Where event timestamps come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampSource {
    /// No event time: the job runs on processing time.
    None,
    /// The connector's own timestamp (generator).
    Source,
    /// A JSON field, as a path of object keys.
    Field(Vec<String>),
}

/// How a source derives watermarks from timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkStrategy {
    BoundedOutOfOrderness(Duration),
    Monotonous,
    None,
}

/// When a source's watermark moves (Flink: punctuated or periodic generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkEmission {
    /// After every record: results are a function of the input alone.
    PerRecord,
    /// At most once per interval of processing time, between batches: less
    /// work per record, but lateness depends on timing.
    Periodic(Duration),
}

/// The default interval of periodic emission (Flink's `autoWatermarkInterval`).
pub const DEFAULT_WATERMARK_INTERVAL: Duration = Duration::from_millis(200);

/// A validated `[[operator]]`.
#[derive(Debug, Clone)]
pub struct OperatorDef {
    pub uid: String,
    pub kind: OperatorKind,
    /// Absolute path of the component; `None` for `interval-join`, which the host runs.
    pub module: Option<PathBuf>,
    /// The streams of the first (or only) input, unioned.
    pub inputs: Vec<StreamRef>,
    /// Required for keyed kinds, absent for stateless ones.
    pub key_by: Option<KeyBy>,
    /// `co-process`, `interval-join` and `broadcast-process`: the second input.
    pub connect: Option<ConnectedInput>,
    /// `interval-join` only: which timestamps join.
    pub between: Option<JoinInterval>,
    /// `aggregate` and `window-process` only.
    pub window: Option<WindowDef>,
    pub parallelism: u32,
    /// Passed to the guest's `init` call, which hands it to the SDK's `open`
    /// (`OpenContext::config`).
    pub config: String,
    pub limits: GuestLimits,
    /// What happens to a record the guest fails on.
    pub on_failure: FailurePolicy,
}

/// What an operator does when its guest traps, panics, times out, runs out
/// of memory or returns an error on a batch (`on_failure` in the job file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// The task fails, and with it the run (or the restart strategy steps in).
    #[default]
    Fail,
    /// The batch runs again on a fresh instance to find the records that
    /// fail; each goes to the sink named here with the failure, the rest
    /// are processed as if those records had never come.
    DeadLetter { sink: String },
}

impl FailurePolicy {
    /// The sink that receives failed records, if any.
    pub fn dead_letter_sink(&self) -> Option<&str> {
        match self {
            FailurePolicy::Fail => None,
            FailurePolicy::DeadLetter { sink } => Some(sink),
        }
    }
}

impl OperatorDef {
    /// Every input stream with the side it feeds, first input first.
    pub fn input_streams(&self) -> impl Iterator<Item = (InputSide, &StreamRef)> {
        let first = self.inputs.iter().map(|s| (InputSide::First, s));
        let second = self
            .connect
            .iter()
            .flat_map(|c| c.inputs.iter().map(|s| (InputSide::Second, s)));
        first.chain(second)
    }

    /// The key of records arriving on `side`; `None` for stateless
    /// operators and broadcast inputs.
    pub fn key_by_of(&self, side: InputSide) -> Option<&KeyBy> {
        match side {
            InputSide::First => self.key_by.as_ref(),
            InputSide::Second => match &self.connect.as_ref()?.routing {
                SecondInputRouting::Keyed(key_by) => Some(key_by),
                SecondInputRouting::Broadcast => None,
            },
        }
    }

    /// Whether records arriving on `side` go to every parallel subtask.
    pub fn is_broadcast(&self, side: InputSide) -> bool {
        side == InputSide::Second
            && self
                .connect
                .as_ref()
                .is_some_and(|c| c.routing == SecondInputRouting::Broadcast)
    }
}

/// Which input of a two-input operator a stream feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputSide {
    First,
    Second,
}

/// The second input of a two-input operator.
#[derive(Debug, Clone)]
pub struct ConnectedInput {
    pub inputs: Vec<StreamRef>,
    pub routing: SecondInputRouting,
}

/// How records of a second input reach the parallel subtasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondInputRouting {
    /// By key, as the first input (`connect`).
    Keyed(KeyBy),
    /// Every record to every subtask (`broadcast`).
    Broadcast,
}

/// The bounds of an interval join, in milliseconds: a record of the first
/// input at `t` joins records of the second at `t + lower ..= t + upper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinInterval {
    pub lower: i64,
    pub upper: i64,
}

/// Side output of an interval join for first-input records behind the watermark.
pub const LATE_LEFT_OUTPUT: &str = "late-left";
/// Side output of an interval join for second-input records behind the watermark.
pub const LATE_RIGHT_OUTPUT: &str = "late-right";

/// How a windowed operator groups records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDef {
    pub kind: WindowKind,
    pub time: WindowTime,
    /// How long after a window fired late records still update it (ms).
    pub allowed_lateness: i64,
    /// Name of the side output that receives records too late for every window.
    pub late_output: String,
}

/// Time windows, or count windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Time(WindowAssigner),
    /// A global window per key, fired and purged every `n` elements.
    Count(u64),
}

/// Default name of a window operator's side output for late records.
pub const DEFAULT_LATE_OUTPUT: &str = "late";

/// How a keyed operator's input is partitioned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyBy {
    RecordKey,
    /// A JSON field, as a path of object keys.
    Field(Vec<String>),
    /// Absolute path of a key-selector component.
    Selector(PathBuf),
}

/// What one guest instance may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimits {
    pub memory_bytes: u64,
    pub call_timeout: Duration,
}

impl Default for GuestLimits {
    fn default() -> Self {
        GuestLimits {
            memory_bytes: DEFAULT_GUEST_MEMORY,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

/// A validated `[[sink]]`.
#[derive(Debug, Clone)]
pub struct SinkDef {
    pub name: String,
    /// `None` for a sink that only receives dead letters.
    pub input: Option<StreamRef>,
    pub connector: SinkConnector,
}

/// Where a sink writes.
#[derive(Debug, Clone)]
pub enum SinkConnector {
    Stdout,
    /// One file, written as records come (at-least-once after a restart).
    File(PathBuf),
    /// A folder of part files, each published when the checkpoint after
    /// its records completes (two-phase commit: exactly-once).
    ExactlyOnceFiles(PathBuf),
    Discard,
    /// Upserts into Redis, at least once (idempotent: a replay writes the
    /// same values again).
    Redis(RedisSink),
    /// Messages to Kafka, at least or exactly once.
    Kafka(super::kafka::KafkaSink),
}

/// A Redis sink: for each record, one command on the key its template
/// makes (pipelined per batch), and an expiry if asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSink {
    pub url: String,
    pub key: Template,
    pub write: RedisWrite,
    pub ttl: Option<Duration>,
}

/// What a Redis sink writes under a record's key. Only writes that set a
/// value, never increments, so that writing a record twice (after a
/// restore) leaves Redis as writing it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisWrite {
    /// `SET key value` (the record itself without a template).
    Set { value: Option<Template> },
    /// `HSET key field value`.
    HSet {
        field: Template,
        value: Option<Template>,
    },
    /// `ZADD key score member`, the score read from a numeric field.
    ZAdd {
        member: Template,
        score: Vec<String>,
    },
}

/// Text with fields of a JSON record in braces: `clicks:{user}`,
/// `{window.end}`; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    /// A field path, `a.b` as `["a", "b"]`.
    Field(Vec<String>),
}

impl Template {
    /// Parse `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut field = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => field.push(c),
                            None => {
                                return Err(format!(
                                    "`{text}` has a `{{` without its `}}` (write `{{{{` for a brace)"
                                ));
                            }
                        }
                    }
                    let path: Vec<String> = field.split('.').map(str::to_owned).collect();
                    if path.iter().any(|p| p.is_empty() || p.contains('{')) {
                        return Err(format!(
                            "`{text}` has `{{{field}}}`, which is not a field path (write nested fields as `{{a.b}}`)"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(TemplatePart::Field(path));
                }
                '}' => {
                    return Err(format!(
                        "`{text}` has a `}}` without its `{{` (write `}}}}` for a brace)"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(literal));
        }
        Ok(Template { parts })
    }
}
