//! Reading a job file: parse the TOML, check everything that can be checked
//! before anything runs, and build the [`Job`] the runtime consumes.
//!
//! Every rejection is a [`JobError`] that points at the offending place in the
//! file the way a compiler does, so that users can fix a job file without
//! reading eddy's source.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use toml::Spanned;

use super::kafka::{KafkaDelivery, KafkaSink, KafkaSource, OptionError};
use super::model::{
    BatchConfig, CheckpointConfig, CheckpointMode, ConnectedInput, DEFAULT_BATCH_RECORDS,
    DEFAULT_BLOCK_CACHE, DEFAULT_CALL_TIMEOUT, DEFAULT_CHECKPOINT_MIN_PAUSE,
    DEFAULT_CHECKPOINT_TIMEOUT, DEFAULT_CHECKPOINTS_RETAINED, DEFAULT_FLUSH_INTERVAL,
    DEFAULT_GUEST_MEMORY, DEFAULT_LATE_OUTPUT, DEFAULT_RESTART_DELAY,
    DEFAULT_RESTART_INITIAL_DELAY, DEFAULT_RESTART_MAX_DELAY, DEFAULT_RESTART_MULTIPLIER,
    DEFAULT_WATERMARK_INTERVAL, DEFAULT_WRITE_BUFFER, DEFAULT_WRITE_CACHE, FailurePolicy,
    GuestLimits, Job, JoinInterval, KeyBy, OperatorDef, RedisSink, RedisWrite, RestartStrategy,
    RocksDbConfig, SecondInputRouting, SideOutputRead, SinkConnector, SinkDef, SourceConnector,
    SourceDef, StateBackendConfig, StreamRef, Template, TimestampSource, WatermarkEmission,
    WatermarkStrategy, WindowAssigner, WindowDef, WindowKind, WindowTime,
};
use super::spec::{
    BatchSpec, BetweenSpec, CheckpointModeSpec, CheckpointsSpec, ConnectSpec,
    DEFAULT_MAX_PARALLELISM, DEFAULT_PARALLELISM, DeliverySpec, EmitKind, GeneratorOptionsSpec,
    GeneratorSpec, GuestLimitsSpec, HumanDuration, InputsSpec, JobSection, JobSpec, KeyBySpec,
    MAX_MAX_PARALLELISM, OnFailureSpec, OperatorKind, OperatorSpec, RecordFormat, RedisModeSpec,
    RestartSpec, RestartStrategyKind, SinkSpec, SinkType, SourceSpec, SourceType, StateBackendKind,
    StateSpec, TimestampSpec, WatermarkKind, WatermarkSpec, WindowSize, WindowSpec, WindowType,
};
use crate::features::CargoFeature;

/// What a file source reads, in messages; it may also be a named pipe.
const INPUT_FILE: &str = "input file";

#[cfg(unix)]
fn is_fifo(metadata: &std::fs::Metadata) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(&metadata.file_type())
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::Metadata) -> bool {
    false
}

/// Smallest guest memory limit: one WebAssembly page.
const MIN_GUEST_MEMORY: u64 = 64 * 1024;

/// Smallest RocksDB write buffer: smaller memtables flush into a flood of
/// tiny files for compaction to merge.
const MIN_WRITE_BUFFER: u64 = 1024 * 1024;

/// Reads, checks and converts the job file at `path`.
pub fn load_job(path: &Path) -> Result<Job, JobError> {
    let text = std::fs::read_to_string(path).map_err(|error| JobError {
        file: path.to_path_buf(),
        message: format!("cannot read job file: {error}"),
        location: None,
    })?;
    parse_job(&text, path)
}

/// Checks and converts the text of a job file. `file` names it in messages
/// and its directory is the base of the relative paths inside.
pub fn parse_job(text: &str, file: &Path) -> Result<Job, JobError> {
    parse_job_for_build(
        text,
        file,
        CargoFeature::in_this_build,
        &GuestFiles::default(),
    )
    .map(|(job, _)| job)
}

/// The guest components a job file names (operator modules and key
/// selectors): the path as written in the file, and the file it stands for.
/// A job submitted to `eddy serve` uploads them, and is loaded with the
/// uploaded copies in their place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestFiles(pub std::collections::BTreeMap<String, PathBuf>);

/// [`parse_job`], with the guest components named in `uploaded` read from
/// where it says instead of from beside the job file; also says where every
/// guest component of the job was found.
pub fn parse_job_with_guest_files(
    text: &str,
    file: &Path,
    uploaded: &GuestFiles,
) -> Result<(Job, GuestFiles), JobError> {
    parse_job_for_build(text, file, CargoFeature::in_this_build, uploaded)
}

/// [`parse_job`] for a build of eddy that has the cargo features for which
/// `built` is true, so that tests can check what a build without one says.
fn parse_job_for_build(
    text: &str,
    file: &Path,
    built: fn(CargoFeature) -> bool,
    uploaded: &GuestFiles,
) -> Result<(Job, GuestFiles), JobError> {
    let source = SourceText { file, text };
    let spec: JobSpec =
        toml::from_str(text).map_err(|error| source.error(error.span(), error.message()))?;
    let dir = base_dir(file).map_err(|error| {
        source.error(
            None,
            format!("cannot resolve the directory of the job file: {error}"),
        )
    })?;
    let loader = Loader {
        source,
        dir,
        built,
        job_name: spec.job.get_ref().name.get_ref().clone(),
        side_output_reads: RefCell::default(),
        uploaded,
        guest_files: RefCell::default(),
    };
    let job = loader.job(spec)?;
    Ok((job, loader.guest_files.into_inner()))
}

/// Why a job file was rejected. Displayed like a compiler diagnostic: the
/// explanation, the file with line and column, and the offending line with a
/// caret under the culprit.
#[derive(Debug, Clone, Error)]
#[error("error: {message}\n{}", Snippet { file: &self.file, location: self.location.as_ref() })]
pub struct JobError {
    file: PathBuf,
    message: String,
    location: Option<Location>,
}

impl JobError {
    /// The one-line explanation, without file or position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The job file the error is about, as it was given.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The 1-based line and column of the offending place, when there is one.
    pub fn location(&self) -> Option<(usize, usize)> {
        self.location
            .as_ref()
            .map(|location| (location.line, location.column))
    }

    /// An error about a place in `file` found after loading (when modules
    /// say what they declare), shown like the loader's own.
    pub fn at(file: &Path, location: &Location, message: impl Into<String>) -> JobError {
        JobError {
            file: file.to_path_buf(),
            message: message.into(),
            location: Some(location.clone()),
        }
    }
}

/// A place in the job file, with the line it is on for the snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based.
    line: usize,
    /// 1-based, in characters.
    column: usize,
    line_text: String,
    /// Characters to underline, at least one, never past the end of the line.
    width: usize,
}

impl Location {
    /// The location of the byte range `span` of `text`.
    fn of(text: &str, span: Range<usize>) -> Location {
        let mut start = floor_char_boundary(text, span.start.min(text.len()));
        // An error at the very end points after the last line, not at an empty one.
        if start == text.len() && text[..start].ends_with('\n') {
            start -= 1;
        }
        let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
        let line_end = text[start..]
            .find('\n')
            .map_or(text.len(), |newline| start + newline);
        let end = floor_char_boundary(text, span.end.clamp(start, line_end));
        Location {
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
            line_text: text[line_start..line_end].trim_end_matches('\r').to_owned(),
            width: text[start..end].chars().count().max(1),
        }
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The `--> file:line:column` part of a [`JobError`] and its source excerpt.
struct Snippet<'a> {
    file: &'a Path,
    location: Option<&'a Location>,
}

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(location) = self.location else {
            return write!(f, " --> {}", self.file.display());
        };
        let line_number = location.line.to_string();
        let gutter = " ".repeat(line_number.len());
        // Keep tabs so that the caret lines up under the same characters.
        let indent: String = location
            .line_text
            .chars()
            .take(location.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(
            f,
            "{gutter}--> {}:{}:{}",
            self.file.display(),
            location.line,
            location.column
        )?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{line_number} | {}", location.line_text)?;
        write!(f, "{gutter} | {indent}{}", "^".repeat(location.width))
    }
}

/// The job file being checked: its name for messages, its text for snippets.
struct SourceText<'a> {
    file: &'a Path,
    text: &'a str,
}

impl SourceText<'_> {
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> JobError {
        JobError {
            file: self.file.to_path_buf(),
            message: message.into(),
            location: span.map(|span| Location::of(self.text, span)),
        }
    }

    /// An error pointing at `value`.
    fn error_at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> JobError {
        self.error(Some(value.span()), message)
    }

    fn line_of(&self, span: Range<usize>) -> usize {
        Location::of(self.text, span).line
    }
}

/// The absolute directory of the job file, the base of its relative paths.
fn base_dir(file: &Path) -> io::Result<PathBuf> {
    let parent = file
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(parent)
}

/// Whether `name` can be a source name, operator uid, sink name or side
/// output: `/` is reserved to separate a side output from its operator.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The section or node an error is about, as the message's prefix.
struct Owner(String);

impl Owner {
    fn node(kind: NodeKind, name: &str) -> Owner {
        Owner(format!("{} `{name}`", kind.as_str()))
    }

    fn section(table: &str) -> Owner {
        Owner(format!("`[{table}]`"))
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The three kinds of node sharing the job's one namespace of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Source,
    Operator,
    Sink,
}

impl NodeKind {
    fn as_str(self) -> &'static str {
        match self {
            NodeKind::Source => "source",
            NodeKind::Operator => "operator",
            NodeKind::Sink => "sink",
        }
    }
}

/// Every source, operator and sink by name, for resolving references.
struct Names {
    /// In file order, for listing candidates.
    declared: Vec<(String, NodeKind)>,
    /// With where each name is declared.
    by_name: HashMap<String, (NodeKind, Range<usize>)>,
}

impl Names {
    fn kind_of(&self, name: &str) -> Option<NodeKind> {
        self.by_name.get(name).map(|(kind, _)| *kind)
    }

    /// "`a`, `b`" for the names of the given kinds, in file order.
    fn list(&self, kinds: &[NodeKind]) -> String {
        let names: Vec<String> = self
            .declared
            .iter()
            .filter(|(_, kind)| kinds.contains(kind))
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        names.join(", ")
    }
}

/// Job-wide values that sources and operators fall back to.
struct Defaults<'a> {
    parallelism: u32,
    max_parallelism: u32,
    limits: &'a GuestLimitsSpec,
    names: &'a Names,
}

/// Checks a parsed job file and converts it to the model.
struct Loader<'a> {
    source: SourceText<'a>,
    /// Absolute directory of the job file, the base of relative paths.
    dir: PathBuf,
    /// Every `input` naming a side output, in file order.
    side_output_reads: RefCell<Vec<SideOutputRead>>,
    /// Whether the eddy that will run the job has a cargo feature.
    built: fn(CargoFeature) -> bool,
    /// `[job] name`, from which connectors name their groups and
    /// transactional ids.
    job_name: String,
    /// Guest components found elsewhere than the file says (uploaded).
    uploaded: &'a GuestFiles,
    /// Every guest component the job names, as found.
    guest_files: RefCell<GuestFiles>,
}

impl Loader<'_> {
    fn job(&self, spec: JobSpec) -> Result<Job, JobError> {
        let job_owner = Owner::section("job");
        let section = spec.job.get_ref();
        if section.name.get_ref().trim().is_empty() {
            return Err(self.source.error_at(
                &section.name,
                format!("{job_owner}: `name` must not be empty"),
            ));
        }
        let max_parallelism = self.max_parallelism(&job_owner, section)?;
        let parallelism = match &section.parallelism {
            Some(parallelism) => self.parallelism(&job_owner, parallelism, max_parallelism)?,
            None => DEFAULT_PARALLELISM,
        };
        if spec.sources.is_empty() {
            return Err(self.source.error_at(
                &spec.job,
                "the job has no source: add a `[[source]]` to read records from",
            ));
        }
        if spec.sinks.is_empty() {
            return Err(self.source.error_at(
                &spec.job,
                "the job has no sink: add a `[[sink]]` to write results to",
            ));
        }
        let names = self.names(&spec)?;
        self.check_limits(&Owner::section("limits"), &spec.limits)?;
        let state = self.state(&spec.state)?;
        let checkpoints = spec
            .checkpoints
            .as_ref()
            .map(|c| self.checkpoints(c.get_ref()))
            .transpose()?;
        let restart = self.restart(spec.restart.as_ref(), checkpoints.is_some())?;
        let defaults = Defaults {
            parallelism,
            max_parallelism,
            limits: &spec.limits,
            names: &names,
        };

        let sources = spec
            .sources
            .iter()
            .map(|source| self.source_def(source, &defaults))
            .collect::<Result<Vec<_>, _>>()?;
        if checkpoints.is_some()
            && let Some(stdin) = spec
                .sources
                .iter()
                .find(|s| *s.connector.get_ref() == SourceType::Stdin)
        {
            return Err(self.source.error_at(
                &stdin.connector,
                format!(
                    "{}: a `stdin` source cannot be read again after a restart, so a job with `[checkpoints]` cannot read one; read a file instead",
                    Owner::node(NodeKind::Source, stdin.name.get_ref())
                ),
            ));
        }
        let operators = spec
            .operators
            .iter()
            .map(|operator| self.operator_def(operator, &defaults))
            .collect::<Result<Vec<_>, _>>()?;
        let operators = self.topological_order(operators)?;
        let dead_letter_sinks: HashSet<&str> = sources
            .iter()
            .filter_map(|source| source.dead_letter.as_deref())
            .chain(
                operators
                    .iter()
                    .filter_map(|operator| operator.on_failure.dead_letter_sink()),
            )
            .collect();
        let sinks = spec
            .sinks
            .iter()
            .map(|sink| self.sink_def(sink, &names, &dead_letter_sinks))
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Job {
            name: section.name.get_ref().clone(),
            file: self.source.file.to_path_buf(),
            max_parallelism,
            batch: self.batch(&spec.batch)?,
            state,
            checkpoints,
            restart,
            sources,
            operators,
            sinks,
            side_output_reads: self.side_output_reads.take(),
        })
    }

    /// `[checkpoints]`, with defaults applied.
    fn checkpoints(&self, spec: &CheckpointsSpec) -> Result<CheckpointConfig, JobError> {
        let owner = Owner::section("checkpoints");
        if spec.interval.get_ref().0.is_zero() {
            return Err(self.source.error_at(
                &spec.interval,
                format!("{owner}: `interval` must be more than 0"),
            ));
        }
        let dir = match &spec.dir {
            Some(empty) if empty.get_ref().trim().is_empty() => {
                return Err(self.source.error_at(
                    empty,
                    format!("{owner}: `dir` must not be empty; leave it out for `checkpoints` next to the job file"),
                ));
            }
            Some(dir) => self.resolve(dir.get_ref()),
            None => self.resolve("checkpoints"),
        };
        let retain = match &spec.retain {
            Some(zero) if *zero.get_ref() == 0 => {
                return Err(self.source.error_at(
                    zero,
                    format!("{owner}: `retain` must be at least 1, or the job could not restart"),
                ));
            }
            Some(retain) => *retain.get_ref() as usize,
            None => DEFAULT_CHECKPOINTS_RETAINED,
        };
        let timeout = value_of(&spec.timeout).map_or(DEFAULT_CHECKPOINT_TIMEOUT, |t| t.0);
        if let Some(zero) = spec.timeout.as_ref().filter(|t| t.get_ref().0.is_zero()) {
            return Err(self
                .source
                .error_at(zero, format!("{owner}: `timeout` must be more than 0")));
        }
        Ok(CheckpointConfig {
            interval: spec.interval.get_ref().0,
            mode: match value_of(&spec.mode) {
                None | Some(CheckpointModeSpec::ExactlyOnce) => CheckpointMode::ExactlyOnce,
                Some(CheckpointModeSpec::AtLeastOnce) => CheckpointMode::AtLeastOnce,
            },
            dir,
            min_pause: value_of(&spec.min_pause).map_or(DEFAULT_CHECKPOINT_MIN_PAUSE, |p| p.0),
            timeout,
            retain,
            incremental: spec.incremental.unwrap_or(false),
        })
    }

    /// `[restart]`: the strategy and its options, each checked to belong to it.
    fn restart(
        &self,
        spec: Option<&Spanned<RestartSpec>>,
        checkpointing: bool,
    ) -> Result<RestartStrategy, JobError> {
        let Some(spec) = spec else {
            // Flink's defaults: no restarts without checkpoints, exponential
            // backoff with them.
            return Ok(if checkpointing {
                RestartStrategy::ExponentialBackoff {
                    initial: DEFAULT_RESTART_INITIAL_DELAY,
                    max: DEFAULT_RESTART_MAX_DELAY,
                    multiplier: DEFAULT_RESTART_MULTIPLIER,
                    attempts: None,
                }
            } else {
                RestartStrategy::None
            });
        };
        let owner = Owner::section("restart");
        let spec = spec.get_ref();
        let kind = *spec.strategy.get_ref();
        let options = [
            (
                "attempts",
                span_of(&spec.attempts),
                &[
                    RestartStrategyKind::FixedDelay,
                    RestartStrategyKind::ExponentialBackoff,
                ][..],
            ),
            (
                "delay",
                span_of(&spec.delay),
                &[
                    RestartStrategyKind::FixedDelay,
                    RestartStrategyKind::FailureRate,
                ][..],
            ),
            (
                "initial_delay",
                span_of(&spec.initial_delay),
                &[RestartStrategyKind::ExponentialBackoff][..],
            ),
            (
                "max_delay",
                span_of(&spec.max_delay),
                &[RestartStrategyKind::ExponentialBackoff][..],
            ),
            (
                "multiplier",
                span_of(&spec.multiplier),
                &[RestartStrategyKind::ExponentialBackoff][..],
            ),
            (
                "max_failures",
                span_of(&spec.max_failures),
                &[RestartStrategyKind::FailureRate][..],
            ),
            (
                "failure_interval",
                span_of(&spec.failure_interval),
                &[RestartStrategyKind::FailureRate][..],
            ),
        ];
        let foreign: Vec<(&str, Option<Range<usize>>)> = options
            .iter()
            .filter(|(_, _, owners)| !owners.contains(&kind))
            .map(|(name, span, _)| (*name, span.clone()))
            .collect();
        self.reject_set_fields(&foreign, |field| {
            let owners = options
                .iter()
                .find(|(name, _, _)| *name == field)
                .map(|(_, _, owners)| {
                    owners
                        .iter()
                        .map(|k| format!("`{}`", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(" and ")
                })
                .unwrap_or_default();
            format!(
                "{owner}: `{field}` is not an option of strategy `{}` (it belongs to {owners})",
                kind.as_str()
            )
        })?;
        let delay = value_of(&spec.delay).map_or(DEFAULT_RESTART_DELAY, |d| d.0);
        Ok(match kind {
            RestartStrategyKind::None => RestartStrategy::None,
            RestartStrategyKind::FixedDelay => RestartStrategy::FixedDelay {
                attempts: value_of(&spec.attempts).ok_or_else(|| {
                    self.source.error_at(
                        &spec.strategy,
                        format!("{owner}: strategy `fixed-delay` needs `attempts`, the number of restarts before the run fails"),
                    )
                })?,
                delay,
            },
            RestartStrategyKind::ExponentialBackoff => {
                let multiplier = value_of(&spec.multiplier).unwrap_or(DEFAULT_RESTART_MULTIPLIER);
                if let Some(low) = spec.multiplier.as_ref().filter(|m| !m.get_ref().is_finite() || *m.get_ref() < 1.0) {
                    return Err(self.source.error_at(
                        low,
                        format!("{owner}: `multiplier` must be at least 1, found {}", low.get_ref()),
                    ));
                }
                let initial =
                    value_of(&spec.initial_delay).map_or(DEFAULT_RESTART_INITIAL_DELAY, |d| d.0);
                let max = value_of(&spec.max_delay).map_or(DEFAULT_RESTART_MAX_DELAY, |d| d.0);
                if let Some(short) = spec.max_delay.as_ref().filter(|_| max < initial) {
                    return Err(self.source.error_at(
                        short,
                        format!("{owner}: `max_delay` must not be shorter than `initial_delay`"),
                    ));
                }
                RestartStrategy::ExponentialBackoff {
                    initial,
                    max,
                    multiplier,
                    attempts: value_of(&spec.attempts),
                }
            }
            RestartStrategyKind::FailureRate => {
                let missing = |field: &str, what: &str| {
                    self.source.error_at(
                        &spec.strategy,
                        format!("{owner}: strategy `failure-rate` needs `{field}`, {what}"),
                    )
                };
                RestartStrategy::FailureRate {
                    max_failures: value_of(&spec.max_failures).ok_or_else(|| {
                        missing("max_failures", "the most failures allowed within `failure_interval`")
                    })?,
                    interval: value_of(&spec.failure_interval).map(|d| d.0).ok_or_else(|| {
                        missing("failure_interval", "the window failures are counted in")
                    })?,
                    delay,
                }
            }
        })
    }

    fn max_parallelism(&self, owner: &Owner, section: &JobSection) -> Result<u32, JobError> {
        let Some(max_parallelism) = &section.max_parallelism else {
            return Ok(DEFAULT_MAX_PARALLELISM);
        };
        let value = *max_parallelism.get_ref();
        if value == 0 || value > MAX_MAX_PARALLELISM {
            return Err(self.source.error_at(
                max_parallelism,
                format!(
                    "{owner}: `max_parallelism` must be between 1 and {MAX_MAX_PARALLELISM}, found {value}"
                ),
            ));
        }
        Ok(value)
    }

    fn parallelism(
        &self,
        owner: &Owner,
        parallelism: &Spanned<u32>,
        max_parallelism: u32,
    ) -> Result<u32, JobError> {
        let value = *parallelism.get_ref();
        if value == 0 || value > max_parallelism {
            return Err(self.source.error_at(
                parallelism,
                format!(
                    "{owner}: `parallelism` must be between 1 and `max_parallelism` ({max_parallelism}), found {value}"
                ),
            ));
        }
        Ok(value)
    }

    /// Checks every name and that sources, operators and sinks never share one.
    fn names(&self, spec: &JobSpec) -> Result<Names, JobError> {
        let mut declared: Vec<(&Spanned<String>, NodeKind)> = spec
            .sources
            .iter()
            .map(|source| (&source.name, NodeKind::Source))
            .chain(
                spec.operators
                    .iter()
                    .map(|op| (&op.uid, NodeKind::Operator)),
            )
            .chain(spec.sinks.iter().map(|sink| (&sink.name, NodeKind::Sink)))
            .collect();
        declared.sort_by_key(|(name, _)| name.span().start);

        let mut names = Names {
            declared: Vec::with_capacity(declared.len()),
            by_name: HashMap::new(),
        };
        for (name, kind) in declared {
            let field = if kind == NodeKind::Operator {
                "uid"
            } else {
                "name"
            };
            if !is_valid_name(name.get_ref()) {
                return Err(self.source.error_at(
                    name,
                    format!(
                        "invalid {} {field} `{}`: use only letters, digits, `_` and `-` (`/` separates a side output, as in `detect/late`)",
                        kind.as_str(),
                        name.get_ref()
                    ),
                ));
            }
            if let Some((first_kind, first_span)) = names.by_name.get(name.get_ref()) {
                return Err(self.source.error_at(
                    name,
                    format!(
                        "duplicate name `{}`: already the name of the {} on line {} (sources, operators and sinks share one namespace)",
                        name.get_ref(),
                        first_kind.as_str(),
                        self.source.line_of(first_span.clone())
                    ),
                ));
            }
            names.declared.push((name.get_ref().clone(), kind));
            names
                .by_name
                .insert(name.get_ref().clone(), (kind, name.span()));
        }
        Ok(names)
    }

    fn source_def(&self, spec: &SourceSpec, defaults: &Defaults) -> Result<SourceDef, JobError> {
        let owner = Owner::node(NodeKind::Source, spec.name.get_ref());
        self.check_connector_fields(&owner, spec)?;
        let connector = match spec.connector.get_ref() {
            SourceType::Generator => SourceConnector::Generator(self.generator(&owner, spec)?),
            SourceType::File => {
                let path = spec.path.as_ref().ok_or_else(|| {
                    self.source.error_at(
                        &spec.connector,
                        format!("{owner}: missing field `path`, the file a `file` source reads"),
                    )
                })?;
                SourceConnector::File(self.existing_file(&owner, path, INPUT_FILE)?)
            }
            SourceType::Stdin => SourceConnector::Stdin,
            SourceType::Kafka => SourceConnector::Kafka(self.kafka_source(&owner, spec)?),
        };
        let format = self.record_format(&owner, spec)?;
        let timestamp = self.timestamp(&owner, spec, format)?;
        let has_timestamps = timestamp != TimestampSource::None;
        Ok(SourceDef {
            name: spec.name.get_ref().clone(),
            connector,
            format,
            timestamp,
            watermark: self.watermark(&owner, spec.watermark.as_ref(), has_timestamps)?,
            watermark_emission: self.watermark_emission(&owner, spec.watermark.as_ref())?,
            dead_letter: spec
                .dead_letter
                .as_ref()
                .map(|sink| self.dead_letter_sink(&owner, sink, defaults.names))
                .transpose()?,
            parallelism: self.source_parallelism(&owner, spec, defaults)?,
            idle_timeout: self.idle_timeout(&owner, spec.idle_timeout.as_ref())?,
        })
    }

    fn idle_timeout(
        &self,
        owner: &Owner,
        timeout: Option<&Spanned<HumanDuration>>,
    ) -> Result<Option<Duration>, JobError> {
        match timeout {
            Some(zero) if zero.get_ref().0.is_zero() => Err(self.source.error_at(
                zero,
                format!("{owner}: `idle_timeout` must be longer than zero"),
            )),
            other => Ok(other.map(|t| t.get_ref().0)),
        }
    }

    fn record_format(&self, owner: &Owner, spec: &SourceSpec) -> Result<RecordFormat, JobError> {
        let source_type = *spec.connector.get_ref();
        match &spec.format {
            None => Ok(RecordFormat::default()),
            Some(format)
                if format.get_ref().generator_only() && source_type != SourceType::Generator =>
            {
                Err(self.source.error_at(
                    format,
                    format!(
                        "{owner}: `format = \"{}\"` is only for `generator` sources; a `{}` source reads lines as `json` or `text`",
                        format.get_ref().as_str(),
                        source_type.as_str()
                    ),
                ))
            }
            Some(format) => Ok(*format.get_ref()),
        }
    }

    fn timestamp(
        &self,
        owner: &Owner,
        spec: &SourceSpec,
        format: RecordFormat,
    ) -> Result<TimestampSource, JobError> {
        let Some(timestamp) = &spec.timestamp else {
            return Ok(TimestampSource::None);
        };
        match timestamp.get_ref() {
            TimestampSpec::Source
                if !matches!(
                    spec.connector.get_ref(),
                    SourceType::Generator | SourceType::Kafka
                ) =>
            {
                Err(self.source.error_at(
                    timestamp,
                    format!(
                        "{owner}: `timestamp = \"source\"` is only for `generator` and `kafka` sources; read a field instead, e.g. `timestamp = {{ field = \"ts\" }}`"
                    ),
                ))
            }
            TimestampSpec::Source => Ok(TimestampSource::Source),
            TimestampSpec::Field(_) if format.is_nexmark() => Err(self.source.error_at(
                timestamp,
                format!(
                    "{owner}: `timestamp = {{ field = ... }}` does not apply to `format = \"{}\"`; use `timestamp = \"source\"`, each event's `dateTime`",
                    format.as_str()
                ),
            )),
            TimestampSpec::Field(_) if format != RecordFormat::Json => {
                Err(self.source.error_at(
                    timestamp,
                    format!(
                        "{owner}: `timestamp = {{ field = ... }}` reads a JSON field, but the records are not JSON (`format` is not `json`)"
                    ),
                ))
            }
            TimestampSpec::Field(field) => {
                Ok(TimestampSource::Field(self.field_path(owner, field)?))
            }
        }
    }

    /// A generator or Kafka source has as many readers as asked ([job]
    /// parallelism by default); a file or stdin has one.
    fn source_parallelism(
        &self,
        owner: &Owner,
        spec: &SourceSpec,
        defaults: &Defaults,
    ) -> Result<u32, JobError> {
        let source_type = *spec.connector.get_ref();
        let parallel = matches!(source_type, SourceType::Generator | SourceType::Kafka);
        match &spec.parallelism {
            None if parallel => Ok(defaults.parallelism),
            Some(parallelism) if parallel => {
                self.parallelism(owner, parallelism, defaults.max_parallelism)
            }
            None => Ok(1),
            Some(parallelism) if *parallelism.get_ref() == 1 => Ok(1),
            Some(parallelism) => Err(self.source.error_at(
                parallelism,
                format!(
                    "{owner}: a `{}` source has a single reader; `parallelism` must be 1",
                    source_type.as_str()
                ),
            )),
        }
    }

    /// Rejects options of one connector `type` set on a source of another.
    fn check_connector_fields(&self, owner: &Owner, spec: &SourceSpec) -> Result<(), JobError> {
        let file_fields = [("path", span_of(&spec.path))];
        let kafka_fields = [("kafka", span_of(&spec.kafka))];
        let generator_fields = [("generator", span_of(&spec.generator))];
        let source_type = *spec.connector.get_ref();
        for (fields_type, fields) in [
            (SourceType::File, &file_fields[..]),
            (SourceType::Generator, &generator_fields[..]),
            (SourceType::Kafka, &kafka_fields[..]),
        ] {
            if fields_type != source_type {
                self.reject_set_fields(fields, |field| {
                    let what = if field == fields_type.as_str() {
                        "holds the options"
                    } else {
                        "is an option"
                    };
                    format!(
                        "{owner}: unknown field `{field}` for a `{}` source (`{field}` {what} of `{}` sources)",
                        source_type.as_str(),
                        fields_type.as_str()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Fails on the first of `fields` that is set, with `message(field)`.
    fn reject_set_fields(
        &self,
        fields: &[(&str, Option<Range<usize>>)],
        message: impl Fn(&str) -> String,
    ) -> Result<(), JobError> {
        match fields
            .iter()
            .find_map(|(field, span)| Some((field, span.clone()?)))
        {
            Some((field, span)) => Err(self.source.error(Some(span), message(field))),
            None => Ok(()),
        }
    }

    fn generator(&self, owner: &Owner, spec: &SourceSpec) -> Result<GeneratorSpec, JobError> {
        let mut defaults = GeneratorSpec::default();
        let none = GeneratorOptionsSpec::default();
        let format = value_of(&spec.format).unwrap_or_default();
        let spec = spec.generator.as_ref().map_or(&none, |g| g.get_ref());
        if format.is_nexmark() {
            // Nexmark events have their own keys, sizes and (in-order)
            // times: the options that shape the generator's own records
            // would silently do nothing.
            self.reject_set_fields(
                &[
                    ("keys", span_of(&spec.keys)),
                    ("key_order", span_of(&spec.key_order)),
                    ("value_size", span_of(&spec.value_size)),
                    ("max_lag", span_of(&spec.max_lag)),
                ],
                |field| {
                    format!(
                        "{owner}: `{field}` does not apply to `format = \"{}\"` (Nexmark events are made by the peer's rules; `count`, `rate`, `seed`, `start_time` and `events_per_second` apply)",
                        format.as_str()
                    )
                },
            )?;
            // The peer's defaults, not the generic generator's, so that a
            // job without these options makes the peer's stream.
            let peer = eddy_nexmark::GeneratorConfig::default();
            defaults.events_per_second = peer.rate;
            defaults.start_time = peer.base_time;
            defaults.seed = peer.seed;
        }
        Ok(GeneratorSpec {
            count: value_of(&spec.count),
            rate: self.at_least_one(owner, "rate", &spec.rate)?,
            keys: self
                .at_least_one(owner, "keys", &spec.keys)?
                .unwrap_or(defaults.keys),
            key_order: value_of(&spec.key_order).unwrap_or(defaults.key_order),
            value_size: value_of(&spec.value_size).unwrap_or(defaults.value_size),
            seed: value_of(&spec.seed).unwrap_or(defaults.seed),
            events_per_second: self
                .at_least_one(owner, "events_per_second", &spec.events_per_second)?
                .unwrap_or(defaults.events_per_second),
            max_lag: value_of(&spec.max_lag).map(|lag| lag.0),
            start_time: value_of(&spec.start_time).unwrap_or(defaults.start_time),
            time_field: defaults.time_field,
        })
    }

    fn at_least_one(
        &self,
        owner: &Owner,
        field: &str,
        value: &Option<Spanned<u64>>,
    ) -> Result<Option<u64>, JobError> {
        match value {
            Some(zero) if *zero.get_ref() == 0 => Err(self
                .source
                .error_at(zero, format!("{owner}: `{field}` must be at least 1"))),
            _ => Ok(value_of(value)),
        }
    }

    fn watermark(
        &self,
        owner: &Owner,
        spec: Option<&Spanned<WatermarkSpec>>,
        has_timestamps: bool,
    ) -> Result<WatermarkStrategy, JobError> {
        let Some(spec) = spec else {
            return Ok(if has_timestamps {
                WatermarkStrategy::Monotonous
            } else {
                WatermarkStrategy::None
            });
        };
        let WatermarkSpec {
            strategy,
            max_out_of_orderness,
            ..
        } = spec.get_ref();
        let kind = *strategy.get_ref();
        if kind != WatermarkKind::BoundedOutOfOrderness {
            self.reject_set_fields(
                &[("max_out_of_orderness", span_of(max_out_of_orderness))],
                |field| {
                    format!(
                        "{owner}: `{field}` only applies to strategy `bounded-out-of-orderness`"
                    )
                },
            )?;
        }
        if kind != WatermarkKind::None && !has_timestamps {
            return Err(self.source.error_at(
                spec,
                format!(
                    "{owner}: a watermark needs event timestamps: set `timestamp`, or use strategy `none` for processing time"
                ),
            ));
        }
        Ok(match kind {
            WatermarkKind::BoundedOutOfOrderness => {
                let bound = max_out_of_orderness.as_ref().ok_or_else(|| {
                    self.source.error_at(
                        strategy,
                        format!(
                            "{owner}: strategy `bounded-out-of-orderness` needs `max_out_of_orderness`, e.g. \"5s\""
                        ),
                    )
                })?;
                WatermarkStrategy::BoundedOutOfOrderness(bound.get_ref().0)
            }
            WatermarkKind::Monotonous => WatermarkStrategy::Monotonous,
            WatermarkKind::None => WatermarkStrategy::None,
        })
    }

    fn watermark_emission(
        &self,
        owner: &Owner,
        spec: Option<&Spanned<WatermarkSpec>>,
    ) -> Result<WatermarkEmission, JobError> {
        let Some(spec) = spec else {
            return Ok(WatermarkEmission::PerRecord);
        };
        let WatermarkSpec { emit, interval, .. } = spec.get_ref();
        match emit.as_ref().map(|e| *e.get_ref()) {
            None | Some(EmitKind::PerRecord) => {
                self.reject_set_fields(&[("interval", span_of(interval))], |field| {
                    format!("{owner}: `{field}` only applies to `emit = \"periodic\"`")
                })?;
                Ok(WatermarkEmission::PerRecord)
            }
            Some(EmitKind::Periodic) => {
                let interval = match interval {
                    Some(interval) if interval.get_ref().0.is_zero() => {
                        return Err(self.source.error_at(
                            interval,
                            format!("{owner}: the watermark `interval` must be more than 0, e.g. \"200ms\""),
                        ));
                    }
                    Some(interval) => interval.get_ref().0,
                    None => DEFAULT_WATERMARK_INTERVAL,
                };
                Ok(WatermarkEmission::Periodic(interval))
            }
        }
    }

    fn dead_letter_sink(
        &self,
        owner: &Owner,
        sink: &Spanned<String>,
        names: &Names,
    ) -> Result<String, JobError> {
        match names.kind_of(sink.get_ref()) {
            Some(NodeKind::Sink) => Ok(sink.get_ref().clone()),
            Some(other) => Err(self.source.error_at(
                sink,
                format!(
                    "{owner}: `dead_letter` must name a sink, but `{}` is {} {}",
                    sink.get_ref(),
                    article(other),
                    other.as_str()
                ),
            )),
            None => Err(self.source.error_at(
                sink,
                format!(
                    "{owner}: `dead_letter` names no sink `{}`; sinks: {}",
                    sink.get_ref(),
                    names.list(&[NodeKind::Sink])
                ),
            )),
        }
    }

    fn operator_def(
        &self,
        spec: &OperatorSpec,
        defaults: &Defaults,
    ) -> Result<OperatorWithInputSpan, JobError> {
        let owner = Owner::node(NodeKind::Operator, spec.uid.get_ref());
        let kind = *spec.kind.get_ref();
        let module = match (&spec.module, kind.has_module()) {
            (Some(module), true) => Some(self.guest_file(&owner, module, "module file")?),
            (None, true) => {
                return Err(self.source.error_at(
                    &spec.uid,
                    format!(
                        "{owner}: `{}` operators run a guest function; add its component, e.g. `module = \"target/wasm32-wasip2/release/my_function.wasm\"`",
                        kind.as_str()
                    ),
                ));
            }
            (Some(module), false) => {
                return Err(self.source.error_at(
                    module,
                    format!(
                        "{owner}: `{}` operators are run by eddy itself and take no `module`; shape the joined pairs with a `map` operator after it",
                        kind.as_str()
                    ),
                ));
            }
            (None, false) => None,
        };
        let inputs = self.stream_refs(&owner, &spec.input, defaults.names)?;
        let key_by = match &spec.key_by {
            None if kind.is_keyed() => {
                return Err(self.source.error_at(
                    &spec.kind,
                    format!(
                        "{owner}: `{}` operators are keyed and need `key_by`, e.g. `key_by = {{ field = \"user\" }}`",
                        kind.as_str()
                    ),
                ));
            }
            None => None,
            Some(key_by) if !kind.is_keyed() => {
                return Err(self.source.error_at(
                    key_by,
                    format!(
                        "{owner}: `{}` operators are not keyed; remove `key_by` (only `keyed-process`, `co-process`, `broadcast-process`, `interval-join`, `aggregate` and `window-process` operators take one)",
                        kind.as_str()
                    ),
                ));
            }
            Some(key_by) => Some(self.key_by(&owner, key_by.get_ref())?),
        };
        let connect = self.second_input(&owner, spec, key_by.as_ref(), defaults)?;
        let between = match (&spec.between, kind) {
            (None, OperatorKind::IntervalJoin) => {
                return Err(self.source.error_at(
                    &spec.kind,
                    format!(
                        "{owner}: `interval-join` operators need the interval that joins, e.g. `between = {{ lower = \"-5s\", upper = \"5s\" }}`"
                    ),
                ));
            }
            (None, _) => None,
            (Some(between), OperatorKind::IntervalJoin) => {
                let BetweenSpec { lower, upper } = between.get_ref();
                if lower.get_ref().millis > upper.get_ref().millis {
                    return Err(self.source.error_at(
                        between,
                        format!(
                            "{owner}: `lower` must not be after `upper`, or no pair of records could join"
                        ),
                    ));
                }
                Some(JoinInterval {
                    lower: lower.get_ref().millis,
                    upper: upper.get_ref().millis,
                })
            }
            (Some(between), _) => {
                return Err(self.source.error_at(
                    between,
                    format!("{owner}: only `interval-join` operators take `between`"),
                ));
            }
        };
        let window = match (&spec.window, kind.is_windowed()) {
            (None, true) => {
                return Err(self.source.error_at(
                    &spec.kind,
                    format!(
                        "{owner}: `{}` operators work on windows; add one, e.g. `window = {{ type = \"tumbling\", size = \"1m\" }}`",
                        kind.as_str()
                    ),
                ));
            }
            (None, false) => None,
            (Some(window), true) => Some(self.window(&owner, window)?),
            (Some(window), false) => {
                return Err(self.source.error_at(
                    window,
                    format!(
                        "{owner}: `{}` operators do not take a `window`; windows are for `aggregate` and `window-process` operators",
                        kind.as_str()
                    ),
                ));
            }
        };
        let parallelism = match &spec.parallelism {
            Some(parallelism) => self.parallelism(&owner, parallelism, defaults.max_parallelism)?,
            None => defaults.parallelism,
        };
        self.check_limits(&owner, &spec.limits)?;
        let mut input_spans: Vec<Range<usize>> = spec
            .input
            .get_ref()
            .each(spec.input.span())
            .iter()
            .map(Spanned::span)
            .collect();
        let second_input = (spec.connect.as_ref().map(|c| &c.get_ref().input))
            .or(spec.broadcast.as_ref().map(|b| &b.get_ref().input));
        if let Some(input) = second_input {
            input_spans.extend(input.get_ref().each(input.span()).iter().map(Spanned::span));
        }
        let operator = OperatorDef {
            uid: spec.uid.get_ref().clone(),
            kind,
            module,
            inputs,
            key_by,
            connect,
            between,
            window,
            parallelism,
            config: self.config(&owner, spec.config.as_ref())?,
            limits: merge_limits(&spec.limits, defaults.limits),
            on_failure: self.on_failure(&owner, spec, defaults.names)?,
        };
        Ok(OperatorWithInputSpan {
            operator,
            input_spans,
        })
    }

    /// `on_failure` with its `dead_letter` sink; refused for the kinds whose
    /// failures cannot be set aside record by record.
    fn on_failure(
        &self,
        owner: &Owner,
        spec: &OperatorSpec,
        names: &Names,
    ) -> Result<FailurePolicy, JobError> {
        let policy = spec.on_failure.as_ref().map(|p| (p, *p.get_ref()));
        match (policy, &spec.dead_letter) {
            (None | Some((_, OnFailureSpec::Fail)), None) => Ok(FailurePolicy::Fail),
            (None | Some((_, OnFailureSpec::Fail)), Some(sink)) => Err(self.source.error_at(
                sink,
                format!(
                    "{owner}: `dead_letter` takes the records the guest fails on only with `on_failure = \"dead-letter\"`; add that, or remove `dead_letter`"
                ),
            )),
            (Some((policy, OnFailureSpec::DeadLetter)), sink) => {
                let kind = *spec.kind.get_ref();
                if let Some(why) = dead_letter_unsupported(kind) {
                    return Err(self.source.error_at(
                        policy,
                        format!(
                            "{owner}: `on_failure = \"dead-letter\"` is not supported for `{}` operators: {why}; it is for `map`, `filter`, `flat-map`, `keyed-process` and `co-process` operators",
                            kind.as_str()
                        ),
                    ));
                }
                let sink = sink.as_ref().ok_or_else(|| {
                    self.source.error_at(
                        policy,
                        format!(
                            "{owner}: `on_failure = \"dead-letter\"` needs `dead_letter`, the sink that receives the records the guest fails on, e.g. `dead_letter = \"failed\"`"
                        ),
                    )
                })?;
                Ok(FailurePolicy::DeadLetter {
                    sink: self.dead_letter_sink(owner, sink, names)?,
                })
            }
        }
    }

    /// The second input: `connect` (keyed like the first input unless it
    /// says otherwise) for `co-process` and `interval-join`, `broadcast` for
    /// `broadcast-process`; neither for one-input kinds.
    fn second_input(
        &self,
        owner: &Owner,
        spec: &OperatorSpec,
        first_key: Option<&KeyBy>,
        defaults: &Defaults,
    ) -> Result<Option<ConnectedInput>, JobError> {
        let kind = *spec.kind.get_ref();
        let takes_connect = matches!(kind, OperatorKind::CoProcess | OperatorKind::IntervalJoin);
        let takes_broadcast = kind == OperatorKind::BroadcastProcess;
        if let Some(broadcast) = &spec.broadcast
            && !takes_broadcast
        {
            return Err(self.source.error_at(
                broadcast,
                format!(
                    "{owner}: only `broadcast-process` operators take a broadcast input; use `connect` for a keyed second input"
                ),
            ));
        }
        match (&spec.connect, &spec.broadcast) {
            (None, None) if takes_connect => Err(self.source.error_at(
                &spec.kind,
                format!(
                    "{owner}: `{}` operators have two inputs; add the second with `connect = {{ input = \"payments\", key_by = {{ field = \"order_id\" }} }}`",
                    kind.as_str()
                ),
            )),
            (None, None) if takes_broadcast => Err(self.source.error_at(
                &spec.kind,
                format!(
                    "{owner}: `broadcast-process` operators have a broadcast input; add it with `broadcast = {{ input = \"rules\" }}`"
                ),
            )),
            (None, None) => Ok(None),
            (Some(connect), _) if takes_connect => {
                let ConnectSpec { input, key_by } = connect.get_ref();
                let key_by = match key_by {
                    Some(key_by) => self.key_by(owner, key_by.get_ref())?,
                    None => first_key.cloned().expect("checked before: two-input kinds are keyed"),
                };
                Ok(Some(ConnectedInput {
                    inputs: self.stream_refs(owner, input, defaults.names)?,
                    routing: SecondInputRouting::Keyed(key_by),
                }))
            }
            (Some(connect), _) => Err(self.source.error_at(
                connect,
                format!(
                    "{owner}: only `co-process` and `interval-join` operators take a connected input; {}",
                    if takes_broadcast {
                        "a `broadcast-process` operator's second input is `broadcast = { input = \"rules\" }`"
                    } else {
                        "remove `connect` or use kind `co-process`"
                    }
                ),
            )),
            (None, Some(broadcast)) => Ok(Some(ConnectedInput {
                inputs: self.stream_refs(owner, &broadcast.get_ref().input, defaults.names)?,
                routing: SecondInputRouting::Broadcast,
            })),
        }
    }

    /// Checks a `window` table against its `type`.
    fn window(&self, owner: &Owner, spec: &Spanned<WindowSpec>) -> Result<WindowDef, JobError> {
        let WindowSpec {
            kind,
            size,
            slide,
            offset,
            gap,
            time,
            allowed_lateness,
            late_output,
        } = spec.get_ref();
        let window_type = *kind.get_ref();
        let allowed: &[&str] = match window_type {
            WindowType::Tumbling => &["size", "offset"],
            WindowType::Sliding => &["size", "slide", "offset"],
            WindowType::Session => &["gap"],
            WindowType::Count => &["size"],
        };
        let fields = [
            ("size", span_of(size)),
            ("slide", span_of(slide)),
            ("offset", span_of(offset)),
            ("gap", span_of(gap)),
        ];
        let misplaced: Vec<_> = fields
            .into_iter()
            .filter(|(field, _)| !allowed.contains(field))
            .collect();
        self.reject_set_fields(&misplaced, |field| {
            format!(
                "{owner}: `{field}` is not an option of `{}` windows (they take {})",
                window_type.as_str(),
                allowed
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let needed = |field: &str, example: &str| {
            self.source.error_at(
                kind,
                format!(
                    "{owner}: `{}` windows need `{field}`, e.g. `{field} = {example}`",
                    window_type.as_str()
                ),
            )
        };
        let positive = |value: &Spanned<HumanDuration>, field: &str| -> Result<i64, JobError> {
            let millis = value.get_ref().0.as_millis();
            if millis == 0 || millis > i64::MAX as u128 / 4 {
                return Err(self.source.error_at(
                    value,
                    format!("{owner}: window `{field}` must be at least 1ms"),
                ));
            }
            Ok(millis as i64)
        };
        let duration_size = || -> Result<i64, JobError> {
            let size = size.as_ref().ok_or_else(|| needed("size", "\"1m\""))?;
            match *size.get_ref() {
                WindowSize::Duration(duration) => {
                    positive(&Spanned::new(size.span(), duration), "size")
                }
                WindowSize::Count(_) => Err(self.source.error_at(
                    size,
                    format!(
                        "{owner}: the `size` of `{}` windows is a duration, e.g. \"1m\" (a number of elements is for `count` windows)",
                        window_type.as_str()
                    ),
                )),
            }
        };
        let offset = offset
            .as_ref()
            .map(|o| o.get_ref().0.as_millis() as i64)
            .unwrap_or(0);
        let window_kind = match window_type {
            WindowType::Tumbling => WindowKind::Time(WindowAssigner::Tumbling {
                size: duration_size()?,
                offset,
            }),
            WindowType::Sliding => {
                let size = duration_size()?;
                let slide = slide.as_ref().ok_or_else(|| needed("slide", "\"1m\""))?;
                let slide_ms = positive(slide, "slide")?;
                if slide_ms > size {
                    return Err(self.source.error_at(
                        slide,
                        format!(
                            "{owner}: `slide` must not be longer than `size`, or records between windows would belong to none"
                        ),
                    ));
                }
                WindowKind::Time(WindowAssigner::Sliding {
                    size,
                    slide: slide_ms,
                    offset,
                })
            }
            WindowType::Session => {
                let gap = gap.as_ref().ok_or_else(|| needed("gap", "\"30m\""))?;
                WindowKind::Time(WindowAssigner::Session {
                    gap: positive(gap, "gap")?,
                })
            }
            WindowType::Count => {
                let size = size.as_ref().ok_or_else(|| needed("size", "100"))?;
                match *size.get_ref() {
                    WindowSize::Count(n) if n > 0 => WindowKind::Count(n),
                    WindowSize::Count(_) => {
                        return Err(self.source.error_at(
                            size,
                            format!("{owner}: `count` windows need a `size` of at least 1"),
                        ));
                    }
                    WindowSize::Duration(_) => {
                        return Err(self.source.error_at(
                            size,
                            format!(
                                "{owner}: the `size` of `count` windows is a number of elements, e.g. `size = 100`"
                            ),
                        ));
                    }
                }
            }
        };
        let window_time = time
            .as_ref()
            .map(|t| *t.get_ref())
            .unwrap_or(WindowTime::Event);
        if window_type == WindowType::Count
            && let Some(time) = time
        {
            return Err(self.source.error_at(
                time,
                format!("{owner}: `count` windows fire by element count; remove `time`"),
            ));
        }
        let lateness = match allowed_lateness {
            Some(lateness)
                if window_type == WindowType::Count || window_time == WindowTime::Processing =>
            {
                return Err(self.source.error_at(
                    lateness,
                    format!("{owner}: `allowed_lateness` applies to event-time windows only"),
                ));
            }
            Some(lateness) => lateness.get_ref().0.as_millis().min(i64::MAX as u128 / 4) as i64,
            None => 0,
        };
        let late_output = match late_output {
            Some(name) if !is_valid_name(name.get_ref()) => {
                return Err(self.source.error_at(
                    name,
                    format!(
                        "{owner}: invalid side output name `{}`; use only letters, digits, `_` and `-`",
                        name.get_ref()
                    ),
                ));
            }
            Some(name) => name.get_ref().clone(),
            None => DEFAULT_LATE_OUTPUT.to_owned(),
        };
        Ok(WindowDef {
            kind: window_kind,
            time: window_time,
            allowed_lateness: lateness,
            late_output,
        })
    }

    fn key_by(&self, owner: &Owner, spec: &KeyBySpec) -> Result<KeyBy, JobError> {
        Ok(match spec {
            KeyBySpec::RecordKey => KeyBy::RecordKey,
            KeyBySpec::Field(field) => KeyBy::Field(self.field_path(owner, field)?),
            KeyBySpec::Selector(selector) => {
                KeyBy::Selector(self.guest_file(owner, selector, "key selector file")?)
            }
        })
    }

    /// The options of a `redis` sink, checked: each mode's own fields,
    /// templates that parse, and a build with the Redis client.
    fn kafka_source(&self, owner: &Owner, spec: &SourceSpec) -> Result<KafkaSource, JobError> {
        let kafka = spec.kafka.as_ref().ok_or_else(|| {
            self.source.error_at(
                &spec.connector,
                format!(
                    "{owner}: a `kafka` source needs its options in a `[source.kafka]` table: `bootstrap_servers` and `topics` at least"
                ),
            )
        })?;
        self.feature(
            owner,
            &spec.connector,
            CargoFeature::Kafka,
            "the Kafka source",
        )?;
        kafka
            .get_ref()
            .validate(&self.job_name, spec.name.get_ref())
            .map_err(|e| self.option_error(owner, kafka, e))
    }

    fn kafka_sink(&self, owner: &Owner, spec: &SinkSpec) -> Result<KafkaSink, JobError> {
        let kafka = spec.kafka.as_ref().ok_or_else(|| {
            self.source.error_at(
                &spec.connector,
                format!(
                    "{owner}: a `kafka` sink needs its options in a `[sink.kafka]` table: `bootstrap_servers` and `topic` at least"
                ),
            )
        })?;
        self.feature(
            owner,
            &spec.connector,
            CargoFeature::Kafka,
            "the Kafka sink",
        )?;
        let delivery = match value_of(&spec.delivery) {
            None | Some(DeliverySpec::AtLeastOnce) => KafkaDelivery::AtLeastOnce,
            Some(DeliverySpec::ExactlyOnce) => KafkaDelivery::ExactlyOnce,
        };
        let field_path = |field: &Spanned<String>| {
            self.field_path(owner, field).map_err(|e| OptionError {
                span: Some(field.span()),
                message: e.message,
            })
        };
        kafka
            .get_ref()
            .validate(&self.job_name, spec.name.get_ref(), delivery, field_path)
            .map_err(|e| self.option_error(owner, kafka, e))
    }

    /// A connector option's error, at its place (or the table's).
    fn option_error<T>(&self, owner: &Owner, table: &Spanned<T>, error: OptionError) -> JobError {
        let message = error.message.clone();
        let message = message
            .strip_prefix(&format!("{owner}: "))
            .map(str::to_owned)
            .unwrap_or(message);
        self.source.error(
            Some(error.span.unwrap_or_else(|| table.span())),
            format!("{owner}: {message}"),
        )
    }

    /// Refuse a connector this build lacks, naming the feature.
    fn feature<T>(
        &self,
        owner: &Owner,
        at: &Spanned<T>,
        feature: CargoFeature,
        what: &str,
    ) -> Result<(), JobError> {
        if (self.built)(feature) {
            return Ok(());
        }
        Err(self
            .source
            .error_at(at, format!("{owner}: {}", feature.missing(what))))
    }

    fn redis_sink(&self, owner: &Owner, spec: &SinkSpec) -> Result<RedisSink, JobError> {
        let redis = spec.redis.as_ref().ok_or_else(|| {
            self.source.error_at(
                &spec.connector,
                format!(
                    "{owner}: a `redis` sink needs its options in a `[sink.redis]` table: `mode` (\"set\", \"hset\" or \"zadd\") and `key` at least"
                ),
            )
        })?;
        self.feature(
            owner,
            &spec.connector,
            CargoFeature::Redis,
            "the Redis sink",
        )?;
        let options = redis.get_ref();
        let template = |field: &Spanned<String>| {
            Template::parse(field.get_ref())
                .map_err(|error| self.source.error_at(field, format!("{owner}: {error}")))
        };
        let needed = |name: &str, mode: &str| {
            self.source.error_at(
                &options.mode,
                format!("{owner}: `mode = \"{mode}\"` needs `{name}`"),
            )
        };
        let refuse = |fields: &[(&str, Option<Range<usize>>)], mode: &str| {
            self.reject_set_fields(fields, |field| {
                format!("{owner}: `{field}` is not an option of `mode = \"{mode}\"`")
            })
        };
        let value = options.value.as_ref().map(template).transpose()?;
        let write = match options.mode.get_ref() {
            RedisModeSpec::Set => {
                refuse(
                    &[
                        ("field", span_of(&options.field)),
                        ("member", span_of(&options.member)),
                        ("score", span_of(&options.score)),
                    ],
                    "set",
                )?;
                RedisWrite::Set { value }
            }
            RedisModeSpec::Hset => {
                refuse(
                    &[
                        ("member", span_of(&options.member)),
                        ("score", span_of(&options.score)),
                    ],
                    "hset",
                )?;
                RedisWrite::HSet {
                    field: template(
                        options
                            .field
                            .as_ref()
                            .ok_or_else(|| needed("field", "hset"))?,
                    )?,
                    value,
                }
            }
            RedisModeSpec::Zadd => {
                refuse(
                    &[
                        ("field", span_of(&options.field)),
                        ("value", span_of(&options.value)),
                    ],
                    "zadd",
                )?;
                RedisWrite::ZAdd {
                    member: template(
                        options
                            .member
                            .as_ref()
                            .ok_or_else(|| needed("member", "zadd"))?,
                    )?,
                    score: self.field_path(
                        owner,
                        options
                            .score
                            .as_ref()
                            .ok_or_else(|| needed("score", "zadd"))?,
                    )?,
                }
            }
        };
        Ok(RedisSink {
            url: options.url.as_ref().map_or_else(
                || "redis://127.0.0.1:6379".to_string(),
                |u| u.get_ref().clone(),
            ),
            key: template(&options.key)?,
            write,
            ttl: options.ttl.as_ref().map(|t| t.get_ref().0),
        })
    }

    /// `user.address.city` as `["user", "address", "city"]`.
    fn field_path(&self, owner: &Owner, field: &Spanned<String>) -> Result<Vec<String>, JobError> {
        let path: Vec<String> = field.get_ref().split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(self.source.error_at(
                field,
                format!(
                    "{owner}: field path `{}` has an empty part; write nested fields as `a.b.c`",
                    field.get_ref()
                ),
            ));
        }
        Ok(path)
    }

    /// Resolves every stream of an `input` (one, or a list to union).
    fn stream_refs(
        &self,
        owner: &Owner,
        input: &Spanned<InputsSpec>,
        names: &Names,
    ) -> Result<Vec<StreamRef>, JobError> {
        let each = input.get_ref().each(input.span());
        let mut streams: Vec<StreamRef> = Vec::with_capacity(each.len());
        for stream in &each {
            let resolved = self.stream_ref(owner, stream, names)?;
            if streams.contains(&resolved) {
                return Err(self.source.error_at(
                    stream,
                    format!("{owner}: input `{resolved}` is listed twice"),
                ));
            }
            streams.push(resolved);
        }
        Ok(streams)
    }

    /// Resolves an `input`: a source or operator, or `operator/side-output`.
    fn stream_ref(
        &self,
        owner: &Owner,
        input: &Spanned<String>,
        names: &Names,
    ) -> Result<StreamRef, JobError> {
        let text = input.get_ref();
        let (node, side_output) = match text.split_once('/') {
            Some((node, side_output)) => (node, Some(side_output)),
            None => (text.as_str(), None),
        };
        let fail =
            |message: String| Err(self.source.error_at(input, format!("{owner}: {message}")));
        match names.kind_of(node) {
            None => {
                return fail(format!(
                    "input `{text}` names no source or operator; known: {}",
                    names.list(&[NodeKind::Source, NodeKind::Operator])
                ));
            }
            Some(NodeKind::Sink) => {
                return fail(format!(
                    "input `{node}` is a sink; an input must be a source or an operator"
                ));
            }
            Some(NodeKind::Source) if side_output.is_some() => {
                return fail(format!(
                    "input `{text}`: source `{node}` has no side outputs; only operators have them"
                ));
            }
            Some(_) => {}
        }
        if let Some(side_output) = side_output
            && !is_valid_name(side_output)
        {
            return fail(format!(
                "input `{text}`: invalid side output name `{side_output}`; use only letters, digits, `_` and `-`"
            ));
        }
        let stream = StreamRef {
            node: node.to_owned(),
            side_output: side_output.map(str::to_owned),
        };
        if side_output.is_some() {
            self.side_output_reads.borrow_mut().push(SideOutputRead {
                reader: owner.to_string(),
                stream: stream.clone(),
                at: Location::of(self.source.text, input.span()),
            });
        }
        Ok(stream)
    }

    /// Orders operators so that each comes after its inputs, keeping file
    /// order otherwise; fails on a cycle, naming it.
    fn topological_order(
        &self,
        operators: Vec<OperatorWithInputSpan>,
    ) -> Result<Vec<OperatorDef>, JobError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Unvisited,
            OnPath,
            Placed,
        }
        let index: HashMap<&str, usize> = operators
            .iter()
            .enumerate()
            .map(|(i, op)| (op.operator.uid.as_str(), i))
            .collect();
        let upstream: Vec<Vec<usize>> = operators
            .iter()
            .map(|op| {
                op.operator
                    .input_streams()
                    .filter_map(|(_, stream)| index.get(stream.node.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut marks = vec![Mark::Unvisited; operators.len()];
        let mut order = Vec::with_capacity(operators.len());
        for start in 0..operators.len() {
            if marks[start] != Mark::Unvisited {
                continue;
            }
            // Depth-first over inputs with an explicit stack of (operator,
            // next input to visit); `path` is the chain being walked.
            let mut stack = vec![(start, 0usize)];
            marks[start] = Mark::OnPath;
            while let Some((current, next)) = stack.last_mut() {
                let current = *current;
                if let Some(&input) = upstream[current].get(*next) {
                    *next += 1;
                    match marks[input] {
                        Mark::Placed => {}
                        Mark::OnPath => {
                            let path: Vec<usize> = stack.iter().map(|(i, _)| *i).collect();
                            let from = path.iter().position(|&i| i == input).unwrap_or(0);
                            return Err(self.cycle_error(&operators, &path[from..]));
                        }
                        Mark::Unvisited => {
                            marks[input] = Mark::OnPath;
                            stack.push((input, 0));
                        }
                    }
                } else {
                    marks[current] = Mark::Placed;
                    order.push(current);
                    stack.pop();
                }
            }
        }
        let mut operators: Vec<Option<OperatorDef>> =
            operators.into_iter().map(|op| Some(op.operator)).collect();
        Ok(order
            .into_iter()
            .filter_map(|i| operators[i].take())
            .collect())
    }

    /// `cycle` lists operator indices, each one the input of the one after.
    fn cycle_error(&self, operators: &[OperatorWithInputSpan], cycle: &[usize]) -> JobError {
        // Show it in the direction records flow, from the first in the file.
        let mut flow: Vec<usize> = cycle.iter().rev().copied().collect();
        let first = (0..flow.len()).min_by_key(|&i| flow[i]).unwrap_or(0);
        flow.rotate_left(first);
        let names: Vec<&str> = flow
            .iter()
            .map(|&i| operators[i].operator.uid.as_str())
            .collect();
        // The input of the first operator that closes the cycle.
        let first = &operators[flow[0]];
        let feeding = names[names.len() - 1];
        let (position, stream) = first
            .operator
            .input_streams()
            .enumerate()
            .find(|(_, (_, stream))| stream.node == feeding)
            .map(|(i, (_, stream))| (i, stream.clone()))
            .expect("a cycle goes through an input");
        let mut shown = names.clone();
        shown.push(names[0]);
        self.source.error(
            first.input_spans.get(position).cloned(),
            format!(
                "{}: input `{}` makes a cycle: {}",
                Owner::node(NodeKind::Operator, &first.operator.uid),
                stream,
                shown.join(" -> ")
            ),
        )
    }

    fn sink_def(
        &self,
        spec: &SinkSpec,
        names: &Names,
        dead_letter_sinks: &HashSet<&str>,
    ) -> Result<SinkDef, JobError> {
        let owner = Owner::node(NodeKind::Sink, spec.name.get_ref());
        let sink_type = *spec.connector.get_ref();
        if sink_type != SinkType::File {
            let delivery = if sink_type == SinkType::Kafka {
                None
            } else {
                span_of(&spec.delivery)
            };
            self.reject_set_fields(
                &[("path", span_of(&spec.path)), ("delivery", delivery)],
                |field| {
                format!(
                    "{owner}: unknown field `{field}` for a `{}` sink (`{field}` is an option of `file` sinks)",
                    sink_type.as_str()
                )
                },
            )?;
        }
        if sink_type != SinkType::Redis {
            self.reject_set_fields(&[("redis", span_of(&spec.redis))], |field| {
                format!(
                    "{owner}: unknown field `{field}` for a `{}` sink (`{field}` holds the options of `redis` sinks)",
                    sink_type.as_str()
                )
            })?;
        }
        if sink_type != SinkType::Kafka {
            self.reject_set_fields(&[("kafka", span_of(&spec.kafka))], |field| {
                format!(
                    "{owner}: unknown field `{field}` for a `{}` sink (`{field}` holds the options of `kafka` sinks)",
                    sink_type.as_str()
                )
            })?;
        }
        let connector = match sink_type {
            SinkType::Kafka => SinkConnector::Kafka(self.kafka_sink(&owner, spec)?),
            SinkType::Stdout => SinkConnector::Stdout,
            SinkType::Discard => SinkConnector::Discard,
            SinkType::Redis => SinkConnector::Redis(self.redis_sink(&owner, spec)?),
            SinkType::File => {
                let path = spec.path.as_ref().ok_or_else(|| {
                    self.source.error_at(
                        &spec.connector,
                        format!("{owner}: missing field `path`, the file a `file` sink writes"),
                    )
                })?;
                let path = self.resolve(path.get_ref());
                match value_of(&spec.delivery) {
                    None | Some(DeliverySpec::AtLeastOnce) => SinkConnector::File(path),
                    Some(DeliverySpec::ExactlyOnce) => SinkConnector::ExactlyOnceFiles(path),
                }
            }
        };
        let input = spec
            .input
            .as_ref()
            .map(|input| self.stream_ref(&owner, input, names))
            .transpose()?;
        if input.is_none() && !dead_letter_sinks.contains(spec.name.get_ref().as_str()) {
            return Err(self.source.error_at(
                &spec.name,
                format!(
                    "{owner}: missing field `input`; a sink without one only receives dead letters, but no source or operator names it as `dead_letter`"
                ),
            ));
        }
        Ok(SinkDef {
            name: spec.name.get_ref().clone(),
            input,
            connector,
        })
    }

    fn check_limits(&self, owner: &Owner, limits: &GuestLimitsSpec) -> Result<(), JobError> {
        if let Some(memory) = &limits.memory
            && memory.get_ref().0.as_u64() < MIN_GUEST_MEMORY
        {
            return Err(self.source.error_at(
                memory,
                format!(
                    "{owner}: `memory` must be at least 64 KiB (one WebAssembly page), found {}",
                    memory.get_ref().0
                ),
            ));
        }
        if let Some(timeout) = &limits.call_timeout
            && timeout.get_ref().0.is_zero()
        {
            return Err(self.source.error_at(
                timeout,
                format!("{owner}: `call_timeout` must be more than 0"),
            ));
        }
        Ok(())
    }

    fn batch(&self, spec: &BatchSpec) -> Result<BatchConfig, JobError> {
        let max_records = match &spec.max_records {
            Some(zero) if *zero.get_ref() == 0 => {
                return Err(self.source.error_at(
                    zero,
                    format!(
                        "{}: `max_records` must be at least 1",
                        Owner::section("batch")
                    ),
                ));
            }
            Some(max_records) => *max_records.get_ref() as usize,
            None => DEFAULT_BATCH_RECORDS,
        };
        Ok(BatchConfig {
            max_records,
            flush_interval: spec
                .flush_interval
                .map_or(DEFAULT_FLUSH_INTERVAL, |interval| interval.0),
        })
    }

    /// `[state]`: the backend, with the defaults of its options applied.
    fn state(&self, spec: &StateSpec) -> Result<StateBackendConfig, JobError> {
        let owner = Owner::section("state");
        let backend = value_of(&spec.backend).unwrap_or_default();
        let rocksdb = StateBackendKind::RocksDb.as_str();
        if backend != StateBackendKind::RocksDb {
            self.reject_set_fields(
                &[
                    ("local_dir", span_of(&spec.local_dir)),
                    ("block_cache", span_of(&spec.block_cache)),
                    ("write_buffer", span_of(&spec.write_buffer)),
                    ("write_cache", span_of(&spec.write_cache)),
                ],
                |field| {
                    format!(
                        "{owner}: `{field}` is an option of the `{rocksdb}` backend; set `backend = \"{rocksdb}\"` or remove it"
                    )
                },
            )?;
            return Ok(StateBackendConfig::Memory);
        }
        if let Some(feature) = backend.cargo_feature()
            && !(self.built)(feature)
        {
            return Err(self.source.error(
                span_of(&spec.backend),
                format!(
                    "{owner}: {}",
                    feature.missing(&format!("state backend `{}`", backend.as_str()))
                ),
            ));
        }
        let local_dir = match &spec.local_dir {
            Some(empty) if empty.get_ref().trim().is_empty() => {
                return Err(self.source.error_at(
                    empty,
                    format!("{owner}: `local_dir` must not be empty; leave it out for the system temp dir"),
                ));
            }
            Some(local_dir) => self.resolve(local_dir.get_ref()),
            None => RocksDbConfig::default_local_dir(),
        };
        let block_cache_bytes = match &spec.block_cache {
            Some(zero) if zero.get_ref().0.as_u64() == 0 => {
                return Err(self
                    .source
                    .error_at(zero, format!("{owner}: `block_cache` must be more than 0")));
            }
            Some(block_cache) => block_cache.get_ref().0.as_u64(),
            None => DEFAULT_BLOCK_CACHE,
        };
        let write_buffer_bytes = match &spec.write_buffer {
            Some(small) if small.get_ref().0.as_u64() < MIN_WRITE_BUFFER => {
                return Err(self.source.error_at(
                    small,
                    format!(
                        "{owner}: `write_buffer` must be at least 1 MiB, found {}",
                        small.get_ref().0
                    ),
                ));
            }
            Some(write_buffer) => write_buffer.get_ref().0.as_u64(),
            None => DEFAULT_WRITE_BUFFER,
        };
        let write_cache_bytes = spec
            .write_cache
            .as_ref()
            .map_or(DEFAULT_WRITE_CACHE, |size| size.get_ref().0.as_u64());
        Ok(StateBackendConfig::RocksDb(RocksDbConfig {
            local_dir,
            block_cache_bytes,
            write_buffer_bytes,
            write_cache_bytes,
        }))
    }

    /// The guest's `init` argument: a TOML string as is, anything else as compact JSON.
    fn config(
        &self,
        owner: &Owner,
        config: Option<&Spanned<toml::Value>>,
    ) -> Result<String, JobError> {
        match config.map(|config| (config, config.get_ref())) {
            None => Ok(String::new()),
            Some((_, toml::Value::String(text))) => Ok(text.clone()),
            Some((spanned, value)) => {
                toml_to_json(value)
                    .map(|json| json.to_string())
                    .map_err(|why| {
                        self.source.error_at(
                            spanned,
                            format!("{owner}: `config` has no JSON form: {why}"),
                        )
                    })
            }
        }
    }

    /// A path from the job file, made absolute against the job file's directory.
    fn resolve(&self, relative: &str) -> PathBuf {
        // `components` drops the `.` parts, so `./a.wasm` does not show up as `dir/./a.wasm`.
        self.dir.join(relative).components().collect()
    }

    /// A guest component the file names: its upload if there is one,
    /// else the file beside the job file; remembered in `guest_files`.
    fn guest_file(
        &self,
        owner: &Owner,
        written: &Spanned<String>,
        what: &str,
    ) -> Result<PathBuf, JobError> {
        let path = match self.uploaded.0.get(written.get_ref()) {
            Some(uploaded) => uploaded.clone(),
            None => self.existing_file(owner, written, what)?,
        };
        self.guest_files
            .borrow_mut()
            .0
            .insert(written.get_ref().clone(), path.clone());
        Ok(path)
    }

    fn existing_file(
        &self,
        owner: &Owner,
        relative: &Spanned<String>,
        what: &str,
    ) -> Result<PathBuf, JobError> {
        let path = self.resolve(relative.get_ref());
        let problem = match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => return Ok(path),
            // A named pipe streams lines until its writers close it.
            Ok(metadata) if what == INPUT_FILE && is_fifo(&metadata) => return Ok(path),
            Ok(_) => format!("{what} is not a file: {}", path.display()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                format!("{what} not found: {}", path.display())
            }
            Err(error) => format!("cannot access {what} {}: {error}", path.display()),
        };
        Err(self
            .source
            .error_at(relative, format!("{owner}: {problem}")))
    }
}

/// An operator with the places of its inputs (in `input_streams` order),
/// for pointing at a cycle.
struct OperatorWithInputSpan {
    operator: OperatorDef,
    input_spans: Vec<Range<usize>>,
}

/// Why records of an operator of `kind` cannot be dead-lettered, if they cannot.
fn dead_letter_unsupported(kind: OperatorKind) -> Option<&'static str> {
    match kind {
        OperatorKind::Map
        | OperatorKind::Filter
        | OperatorKind::FlatMap
        | OperatorKind::KeyedProcess
        | OperatorKind::CoProcess => None,
        OperatorKind::Aggregate | OperatorKind::WindowProcess => Some(
            "their guest is called with the accumulators or elements of whole windows, so a failure cannot be traced to one record",
        ),
        OperatorKind::BroadcastProcess => Some(
            "a broadcast record changes broadcast state that every subtask must hold alike, so it cannot be set aside in one subtask",
        ),
        OperatorKind::IntervalJoin => Some("eddy runs it without a guest, so no guest can fail"),
    }
}

/// An operator's limits, each falling back to `[limits]`, then to the default.
fn merge_limits(operator: &GuestLimitsSpec, job: &GuestLimitsSpec) -> GuestLimits {
    let memory = operator.memory.as_ref().or(job.memory.as_ref());
    let call_timeout = operator.call_timeout.as_ref().or(job.call_timeout.as_ref());
    GuestLimits {
        memory_bytes: memory.map_or(DEFAULT_GUEST_MEMORY, |memory| memory.get_ref().0.as_u64()),
        call_timeout: call_timeout.map_or(DEFAULT_CALL_TIMEOUT, |timeout| timeout.get_ref().0),
    }
}

fn toml_to_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    Ok(match value {
        toml::Value::String(text) => Json::String(text.clone()),
        toml::Value::Integer(integer) => Json::from(*integer),
        toml::Value::Float(float) => serde_json::Number::from_f64(*float)
            .map(Json::Number)
            .ok_or_else(|| format!("JSON has no number {float}"))?,
        toml::Value::Boolean(boolean) => Json::Bool(*boolean),
        toml::Value::Datetime(datetime) => Json::String(datetime.to_string()),
        toml::Value::Array(items) => {
            Json::Array(items.iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => Json::Object(
            table
                .iter()
                .map(|(key, value)| Ok((key.clone(), toml_to_json(value)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn span_of<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

fn value_of<T: Copy>(value: &Option<Spanned<T>>) -> Option<T> {
    value.as_ref().map(|value| *value.get_ref())
}

fn article(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Operator => "an",
        NodeKind::Source | NodeKind::Sink => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROCKSDB_JOB: &str = r#"[job]
name = "state-on-disk"

[[source]]
name = "gen"
type = "generator"

[[sink]]
name = "devnull"
type = "discard"
input = "gen"

[state]
backend = "rocksdb"
"#;

    /// As a build of eddy with the cargo features for which `built` is true
    /// would load it.
    fn load(text: &str, built: fn(CargoFeature) -> bool) -> Result<Job, JobError> {
        parse_job_for_build(text, Path::new("job.toml"), built, &GuestFiles::default())
            .map(|(job, _)| job)
    }

    #[test]
    fn a_backend_the_build_lacks_names_the_cargo_feature_and_the_line() {
        let error = load(ROCKSDB_JOB, |_| false).unwrap_err();
        assert_eq!(
            error.message(),
            "`[state]`: state backend `rocksdb` is not in this build of eddy: rebuild with `cargo build --release --features rocksdb`"
        );
        assert_eq!(error.location(), Some((14, 11)), "at the backend's value");
    }

    #[test]
    fn a_backend_the_build_has_loads() {
        let job = load(ROCKSDB_JOB, |_| true).expect("loads with the feature");
        assert!(matches!(job.state, StateBackendConfig::RocksDb(_)));
        let memory = ROCKSDB_JOB.replace("\"rocksdb\"", "\"memory\"");
        let job = load(&memory, |_| false).expect("memory needs no feature");
        assert_eq!(job.state, StateBackendConfig::Memory);
    }

    /// A job whose only source is a generator with `format`, the lines of
    /// `extra` after `[source.generator]` (line 7 on), and a sink.
    fn nexmark_job(format: &str, extra: &str) -> String {
        format!(
            "[job]\nname = \"nx\"\n[[source]]\nname = \"gen\"\ntype = \"generator\"\nformat = \"{format}\"\n[source.generator]\n{extra}\n[[sink]]\nname = \"out\"\ntype = \"discard\"\ninput = \"gen\"\n"
        )
    }

    fn generator_of(job: &Job) -> &GeneratorSpec {
        match &job.sources[0].connector {
            SourceConnector::Generator(spec) => spec,
            other => panic!("expected a generator, got {other:?}"),
        }
    }

    #[test]
    fn nexmark_formats_load_with_the_peers_event_time_density() {
        for (name, format) in [
            ("nexmark", RecordFormat::Nexmark),
            ("nexmark-json", RecordFormat::NexmarkJson),
        ] {
            let job = load(&nexmark_job(name, "count = 1000\nseed = 3"), |_| true).unwrap();
            assert_eq!(job.sources[0].format, format);
            let spec = generator_of(&job);
            assert_eq!(spec.events_per_second, 100_000, "the peer's default");
            assert_eq!((spec.count, spec.seed), (Some(1000), 3));
            let job = load(
                &nexmark_job(name, "events_per_second = 50\nstart_time = 0"),
                |_| true,
            )
            .unwrap();
            let spec = generator_of(&job);
            assert_eq!((spec.events_per_second, spec.start_time), (50, 0));
        }
        // The generator's own records keep their default.
        let job = load(&nexmark_job("json", ""), |_| true).unwrap();
        assert_eq!(generator_of(&job).events_per_second, 10_000);
    }

    #[test]
    fn options_of_the_generators_own_records_are_refused_for_nexmark() {
        for option in [
            "keys = 10",
            "key_order = \"sequential\"",
            "value_size = 10",
            "max_lag = \"1s\"",
        ] {
            let field = option.split(' ').next().unwrap();
            let column = option.find("= ").unwrap() + 3;
            let error = load(
                &nexmark_job("nexmark-json", &format!("count = 5\n{option}")),
                |_| true,
            )
            .unwrap_err();
            assert_eq!(
                error.message(),
                format!(
                    "source `gen`: `{field}` does not apply to `format = \"nexmark-json\"` (Nexmark events are made by the peer's rules; `count`, `rate`, `seed`, `start_time` and `events_per_second` apply)"
                )
            );
            assert_eq!(error.location(), Some((9, column)), "at the option's value");
        }
    }

    #[test]
    fn nexmark_formats_only_on_generators() {
        let text = "[job]\nname = \"nx\"\n[[source]]\nname = \"in\"\ntype = \"stdin\"\nformat = \"nexmark\"\n[[sink]]\nname = \"out\"\ntype = \"discard\"\ninput = \"in\"\n";
        let error = load(text, |_| true).unwrap_err();
        assert_eq!(
            error.message(),
            "source `in`: `format = \"nexmark\"` is only for `generator` sources; a `stdin` source reads lines as `json` or `text`"
        );
        assert_eq!(error.location(), Some((6, 10)));
        let error = load(&text.replace("\"nexmark\"", "\"nexmark-json\""), |_| true).unwrap_err();
        assert!(
            error
                .message()
                .contains("`format = \"nexmark-json\"` is only for `generator`")
        );
    }

    #[test]
    fn nexmark_timestamps_come_from_the_source() {
        let text = nexmark_job("nexmark-json", "").replace(
            "format = \"nexmark-json\"\n",
            "format = \"nexmark-json\"\ntimestamp = { field = \"dateTime\" }\n",
        );
        let error = load(&text, |_| true).unwrap_err();
        assert_eq!(
            error.message(),
            "source `gen`: `timestamp = { field = ... }` does not apply to `format = \"nexmark-json\"`; use `timestamp = \"source\"`, each event's `dateTime`"
        );
        assert_eq!(error.location(), Some((7, 13)));
        let text = text.replace("{ field = \"dateTime\" }", "\"source\"");
        let job = load(&text, |_| true).unwrap();
        assert_eq!(job.sources[0].timestamp, TimestampSource::Source);
    }
}
