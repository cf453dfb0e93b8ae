//! Job files: a complete file loads into the expected `Job`, and every
//! mistake a user can make is reported with its message, line and column.
//!
//! Module paths point at placeholder files under `tests/fixtures/jobs`:
//! loading a job only checks that they exist, so no WebAssembly is needed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy::job::{
    BatchConfig, CheckpointConfig, CheckpointMode, GeneratorSpec, GuestLimits, InputSide, Job,
    JobError, JoinInterval, KeyBy, KeyOrder, OperatorKind, RecordFormat, RestartStrategy,
    RocksDbConfig, SecondInputRouting, SinkConnector, SourceConnector, StateBackendConfig,
    StreamRef, TimeField, TimestampSource, WatermarkEmission, WatermarkStrategy, WindowAssigner,
    WindowDef, WindowKind, WindowTime, load_job, parse_job,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jobs")
}

/// Where inline job texts pretend to live, so that their relative paths
/// resolve into the fixtures.
fn inline_file() -> PathBuf {
    fixtures().join("inline.toml")
}

fn parse(text: &str) -> Result<Job, JobError> {
    parse_job(text, &inline_file())
}

/// A valid job of nine lines: text appended to it starts on line 10.
const STDIN_TO_STDOUT: &str = r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
[[sink]]
name = "out"
type = "stdout"
input = "in"
"#;

fn with_base(extra: &str) -> String {
    format!("{STDIN_TO_STDOUT}{extra}")
}

/// `text` and, after it, a sink reading `input`: a job needs one, and sinks
/// are checked after sources.
fn with_discard_sink(text: &str, input: &str) -> String {
    format!("{text}[[sink]]\nname = \"out\"\ntype = \"discard\"\ninput = \"{input}\"\n")
}

/// Asserts that `text` is rejected with `phrase` in the message, pointing at
/// `line:column`, and that the rendered error shows that place.
#[track_caller]
fn assert_rejected(text: &str, phrase: &str, (line, column): (usize, usize)) {
    let error = match parse(text) {
        Ok(_) => panic!("job was accepted, expected an error containing {phrase:?}"),
        Err(error) => error,
    };
    let shown = error.to_string();
    assert!(
        error.message().contains(phrase),
        "expected {phrase:?} in the message of:\n{shown}"
    );
    assert_eq!(
        error.location(),
        Some((line, column)),
        "wrong location in:\n{shown}"
    );
    let arrow = format!("--> {}:{line}:{column}\n", inline_file().display());
    assert!(shown.contains(&arrow), "expected {arrow:?} in:\n{shown}");
    assert!(
        shown.contains(&format!("\n{line} | ")),
        "expected line {line} quoted in:\n{shown}"
    );
}

fn operator<'a>(job: &'a Job, uid: &str) -> &'a eddy::job::OperatorDef {
    job.operators
        .iter()
        .find(|op| op.uid == uid)
        .unwrap_or_else(|| panic!("no operator `{uid}`"))
}

// ---------------------------------------------------------------- valid files

#[test]
fn full_job_file_sets_every_option() {
    let dir = fixtures();
    let job = load_job(&dir.join("full.toml")).expect("full.toml is valid");

    assert_eq!(job.name, "fraud-detection");
    assert_eq!(job.file, dir.join("full.toml"));
    assert_eq!(job.max_parallelism, 256);
    assert_eq!(
        job.batch,
        BatchConfig {
            max_records: 128,
            flush_interval: Duration::from_millis(5),
        }
    );
    assert_eq!(
        job.state,
        StateBackendConfig::RocksDb(RocksDbConfig {
            local_dir: dir.join("state/rocksdb"),
            block_cache_bytes: 128 * 1024 * 1024,
            write_buffer_bytes: 16 * 1024 * 1024,
            write_cache_bytes: 8 * 1024 * 1024,
        }),
        "`./` is dropped, the folder need not exist"
    );

    let [transactions, rules, console] = &job.sources[..] else {
        panic!("expected three sources, got {:?}", job.sources);
    };
    assert_eq!(transactions.name, "transactions");
    let SourceConnector::Generator(generator) = &transactions.connector else {
        panic!("expected a generator, got {:?}", transactions.connector);
    };
    assert_eq!(
        *generator,
        GeneratorSpec {
            count: Some(1_000_000),
            rate: Some(50_000),
            keys: 1_000,
            key_order: KeyOrder::Random,
            value_size: 64,
            seed: 42,
            events_per_second: 2_000,
            max_lag: Some(Duration::from_secs(3)),
            start_time: 1_600_000_000_000,
            time_field: TimeField::EventTime,
        }
    );
    assert_eq!(transactions.format, RecordFormat::BinaryEvent);
    assert_eq!(transactions.timestamp, TimestampSource::Source);
    assert_eq!(
        transactions.watermark,
        WatermarkStrategy::BoundedOutOfOrderness(Duration::from_secs(5))
    );
    assert_eq!(transactions.dead_letter, None);
    assert_eq!(transactions.parallelism, 4);

    let SourceConnector::File(rules_path) = &rules.connector else {
        panic!("expected a file source, got {:?}", rules.connector);
    };
    assert_eq!(*rules_path, dir.join("data/rules.jsonl"), "`./` is dropped");
    assert_eq!(rules.format, RecordFormat::Json);
    assert_eq!(
        rules.timestamp,
        TimestampSource::Field(vec!["meta".into(), "ts".into()])
    );
    assert_eq!(rules.watermark, WatermarkStrategy::Monotonous);
    assert_eq!(rules.dead_letter.as_deref(), Some("bad-rules"));
    assert_eq!(rules.parallelism, 1, "a file has one reader");

    assert!(matches!(console.connector, SourceConnector::Stdin));
    assert_eq!(console.format, RecordFormat::Text);
    assert_eq!(console.timestamp, TimestampSource::None);
    assert_eq!(console.watermark, WatermarkStrategy::None);
    assert_eq!(console.parallelism, 1);

    let order: Vec<&str> = job.operators.iter().map(|op| op.uid.as_str()).collect();
    assert_eq!(
        order,
        [
            "enrich",
            "score",
            "parse",
            "detect",
            "late-alerts",
            "by-user"
        ],
        "each operator after its input, file order otherwise"
    );

    let job_limits = GuestLimits {
        memory_bytes: 32 * 1024 * 1024,
        call_timeout: Duration::from_secs(2),
    };
    let score = operator(&job, "score");
    assert_eq!(score.kind, OperatorKind::Aggregate);
    assert_eq!(score.module, Some(dir.join("modules/score.wasm")));
    assert_eq!(score.inputs, vec![stream("enrich", None)]);
    assert_eq!(
        score.window,
        Some(WindowDef {
            kind: WindowKind::Time(WindowAssigner::Sliding {
                size: 300_000,
                slide: 60_000,
                offset: 0
            }),
            time: WindowTime::Event,
            allowed_lateness: 30_000,
            late_output: "too-late".into(),
        })
    );
    assert_eq!(
        score.key_by,
        Some(KeyBy::Selector(dir.join("modules/key.wasm")))
    );
    assert_eq!(score.parallelism, 2, "from [job]");
    assert_eq!(
        score.config,
        r#"{"tags":["card","online"],"threshold":0.9,"window":"1m"}"#
    );
    assert_eq!(
        score.limits,
        GuestLimits {
            memory_bytes: 128 * 1024 * 1024,
            ..job_limits
        },
        "memory overridden, call_timeout from [limits]"
    );

    let parse = operator(&job, "parse");
    assert_eq!(parse.kind, OperatorKind::Map);
    assert_eq!(parse.inputs, vec![stream("console", None)]);
    assert_eq!(parse.key_by, None);
    assert_eq!(parse.config, "verbose", "a string is passed as is");
    assert_eq!(parse.limits, job_limits);

    let enrich = operator(&job, "enrich");
    assert_eq!(enrich.kind, OperatorKind::FlatMap);
    assert_eq!(enrich.parallelism, 3);
    assert_eq!(enrich.config, "", "no config is an empty string");
    assert_eq!(
        enrich.limits,
        GuestLimits {
            call_timeout: Duration::from_millis(500),
            ..job_limits
        }
    );

    let detect = operator(&job, "detect");
    assert_eq!(detect.kind, OperatorKind::KeyedProcess);
    assert_eq!(detect.key_by, Some(KeyBy::RecordKey));

    let late = operator(&job, "late-alerts");
    assert_eq!(late.kind, OperatorKind::Filter);
    assert_eq!(late.inputs, vec![stream("detect", Some("late"))]);
    assert_eq!(late.inputs[0].to_string(), "detect/late");

    let by_user = operator(&job, "by-user");
    assert_eq!(
        by_user.key_by,
        Some(KeyBy::Field(vec!["user".into(), "id".into()]))
    );
    assert_eq!(
        by_user.window.as_ref().map(|w| w.kind),
        Some(WindowKind::Count(10))
    );

    let sinks: Vec<(&str, Option<String>)> = job
        .sinks
        .iter()
        .map(|sink| {
            (
                sink.name.as_str(),
                sink.input.as_ref().map(|i| i.to_string()),
            )
        })
        .collect();
    assert_eq!(
        sinks,
        [
            ("alerts", Some("detect".to_owned())),
            ("late", Some("late-alerts".to_owned())),
            ("bad-rules", None),
            ("scores", Some("score".to_owned())),
            ("users", Some("by-user".to_owned())),
        ]
    );
    let SinkConnector::File(alerts_path) = &job.sinks[0].connector else {
        panic!("expected a file sink, got {:?}", job.sinks[0].connector);
    };
    assert_eq!(*alerts_path, dir.join("out/alerts.jsonl"), "need not exist");
    assert!(matches!(job.sinks[1].connector, SinkConnector::Stdout));
    assert!(matches!(job.sinks[2].connector, SinkConnector::Discard));
}

fn stream(node: &str, side_output: Option<&str>) -> StreamRef {
    StreamRef {
        node: node.to_owned(),
        side_output: side_output.map(str::to_owned),
    }
}

#[test]
fn relative_job_path_makes_absolute_paths() {
    // Integration tests run in the crate's directory.
    let job = load_job(Path::new("tests/fixtures/jobs/full.toml")).expect("valid");
    assert_eq!(job.file, Path::new("tests/fixtures/jobs/full.toml"));
    let module = &operator(&job, "detect").module;
    let module = module.as_ref().expect("detect has a module");
    assert!(module.is_absolute(), "{}", module.display());
    assert_eq!(*module, fixtures().join("modules/detect.wasm"));
}

#[test]
fn minimal_job_gets_the_defaults() {
    let job = parse(&with_base(
        r#"[[operator]]
uid = "upper"
kind = "map"
module = "modules/parse.wasm"
input = "in"
"#,
    ))
    .expect("valid");
    assert_eq!(job.max_parallelism, 128);
    assert_eq!(job.batch, BatchConfig::default());
    assert_eq!(job.state, StateBackendConfig::Memory);
    let source = &job.sources[0];
    assert_eq!(source.format, RecordFormat::Json);
    assert_eq!(source.timestamp, TimestampSource::None);
    assert_eq!(source.watermark, WatermarkStrategy::None);
    assert_eq!(source.watermark_emission, WatermarkEmission::PerRecord);
    assert_eq!(source.dead_letter, None);
    assert_eq!(source.parallelism, 1);
    let upper = operator(&job, "upper");
    assert_eq!(upper.parallelism, 1);
    assert_eq!(upper.config, "");
    assert_eq!(upper.limits, GuestLimits::default());
}

#[test]
fn generator_defaults_and_job_parallelism() {
    let job = parse(
        r#"[job]
name = "bench"
parallelism = 3
[[source]]
name = "gen"
type = "generator"
timestamp = "source"
[[sink]]
name = "out"
type = "discard"
input = "gen"
"#,
    )
    .expect("valid");
    let source = &job.sources[0];
    let SourceConnector::Generator(generator) = &source.connector else {
        panic!("expected a generator");
    };
    assert_eq!(*generator, GeneratorSpec::default());
    assert_eq!(source.parallelism, 3, "generators follow [job].parallelism");
    assert_eq!(source.watermark, WatermarkStrategy::Monotonous);
}

#[test]
fn memory_as_a_number_of_bytes() {
    let job = parse(&with_base(
        r#"[limits]
memory = 1048576
[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
"#,
    ))
    .expect("valid");
    assert_eq!(operator(&job, "m").limits.memory_bytes, 1024 * 1024);
}

#[test]
fn no_state_section_keeps_state_in_memory() {
    assert_eq!(
        parse(STDIN_TO_STDOUT).expect("valid").state,
        StateBackendConfig::Memory
    );
    let explicit = parse(&with_base("[state]\nbackend = \"memory\"\n")).expect("valid");
    assert_eq!(explicit.state, StateBackendConfig::Memory);
    let empty = parse(&with_base("[state]\n")).expect("valid");
    assert_eq!(empty.state, StateBackendConfig::Memory);
}

#[test]
fn rocksdb_state_with_every_option() {
    let job = parse(&with_base(
        r#"[state]
backend = "rocksdb"
local_dir = "data/rocksdb"
block_cache = "1 GiB"
write_buffer = "64 MiB"
write_cache = "0 B"
"#,
    ))
    .expect("valid");
    assert_eq!(
        job.state,
        StateBackendConfig::RocksDb(RocksDbConfig {
            local_dir: fixtures().join("data/rocksdb"),
            block_cache_bytes: 1024 * 1024 * 1024,
            write_buffer_bytes: 64 * 1024 * 1024,
            write_cache_bytes: 0,
        }),
        "local_dir is relative to the job file"
    );
}

#[test]
fn rocksdb_state_defaults() {
    let job = parse(&with_base("[state]\nbackend = \"rocksdb\"\n")).expect("valid");
    let expected = RocksDbConfig {
        local_dir: std::path::absolute(std::env::temp_dir().join("eddy-rocksdb")).unwrap(),
        block_cache_bytes: 64 * 1024 * 1024,
        write_buffer_bytes: 32 * 1024 * 1024,
        write_cache_bytes: 32 * 1024 * 1024,
    };
    assert_eq!(job.state, StateBackendConfig::RocksDb(expected.clone()));
    assert_eq!(expected, RocksDbConfig::default());
    assert!(expected.local_dir.is_absolute());
}

#[test]
fn rocksdb_absolute_local_dir_is_kept() {
    let dir = std::env::temp_dir().join("eddy-job-files-state");
    assert!(dir.is_absolute());
    let text = with_base(&format!(
        "[state]\nbackend = \"rocksdb\"\nlocal_dir = {:?}\n",
        dir.display().to_string()
    ));
    let StateBackendConfig::RocksDb(rocksdb) = parse(&text).expect("valid").state else {
        panic!("expected rocksdb");
    };
    assert_eq!(rocksdb.local_dir, dir);
}

#[test]
fn output_nobody_consumes_is_fine() {
    let job = parse(&with_base(
        r#"[[operator]]
uid = "unused"
kind = "filter"
module = "modules/parse.wasm"
input = "in"
"#,
    ))
    .expect("an operator whose output nobody reads is allowed");
    assert_eq!(job.operators.len(), 1);
}

// ----------------------------------------------------------- error rendering

#[test]
fn error_reads_like_a_compiler_diagnostic() {
    let error = parse(&with_base(
        r#"[[operator]]
uid = "detect"
kind = "map"
module = "modules/detect.wasm"
input = "in"
paralelism = 2
"#,
    ))
    .expect_err("misspelt field");
    let expected = format!(
        "error: unknown field `paralelism`, expected one of `uid`, `kind`, `module`, `input`, `key_by`, `connect`, `broadcast`, `between`, `window`, `parallelism`, `config`, `limits`, `on_failure`, `dead_letter`
  --> {}:15:1
   |
15 | paralelism = 2
   | ^^^^^^^^^^",
        inline_file().display()
    );
    assert_eq!(error.to_string(), expected);
}

#[test]
fn unreadable_job_file_names_the_file() {
    let missing = fixtures().join("no-such-job.toml");
    let error = load_job(&missing).expect_err("no such file");
    assert_eq!(error.location(), None);
    assert_eq!(error.file(), missing);
    let shown = error.to_string();
    assert!(
        shown.starts_with("error: cannot read job file: "),
        "{shown}"
    );
    assert!(
        shown.ends_with(&format!(" --> {}", missing.display())),
        "{shown}"
    );
}

// ------------------------------------------------------------ parse errors

#[test]
fn toml_syntax_error() {
    assert_rejected(
        r#"[job]
name = "broken
"#,
        "invalid basic string",
        (2, 15),
    );
}

#[test]
fn unknown_top_level_table() {
    assert_rejected(
        &with_base("[limit]\nmemory = \"1 MiB\"\n"),
        "unknown field `limit`, expected one of `job`, `limits`",
        (10, 2),
    );
}

#[test]
fn unknown_field_in_job_section() {
    assert_rejected(
        r#"[job]
name = "t"
paralelism = 2
"#,
        "unknown field `paralelism`",
        (3, 1),
    );
}

#[test]
fn unknown_field_in_file_source() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "rules"
type = "file"
pth = "data/rules.jsonl"
"#,
        "unknown field `pth`",
        (6, 1),
    );
}

#[test]
fn generator_option_on_file_source() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "rules"
type = "file"
path = "data/rules.jsonl"
[source.generator]
count = 10
[[sink]]
name = "out"
type = "stdout"
input = "rules"
"#,
        "source `rules`: unknown field `generator` for a `file` source (`generator` holds the options of `generator` sources)",
        (7, 1),
    );
}

#[test]
fn file_option_on_generator_source() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
path = "data/rules.jsonl"
[[sink]]
name = "out"
type = "stdout"
input = "gen"
"#,
        "unknown field `path` for a `generator` source",
        (6, 8),
    );
}

#[test]
fn unknown_field_in_limits() {
    assert_rejected(
        &with_base("[limits]\nmemroy = \"1 MiB\"\n"),
        "unknown field `memroy`, expected `memory` or `call_timeout`",
        (11, 1),
    );
}

#[test]
fn unknown_field_in_operator_limits() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
limits = { memory = "1 MiB", fuel = 10 }
"#,
        ),
        "unknown field `fuel`",
        (15, 30),
    );
}

#[test]
fn unknown_field_in_batch() {
    assert_rejected(
        &with_base("[batch]\nflush = \"5ms\"\n"),
        "unknown field `flush`, expected `max_records` or `flush_interval`",
        (11, 1),
    );
}

#[test]
fn unknown_field_in_state() {
    assert_rejected(
        &with_base("[state]\nbackend = \"rocksdb\"\nblock_cach = \"1 GiB\"\n"),
        "unknown field `block_cach`, expected one of `backend`, `local_dir`, `block_cache`, `write_buffer`",
        (12, 1),
    );
}

#[test]
fn unknown_state_backend() {
    assert_rejected(
        &with_base("[state]\nbackend = \"rocks\"\n"),
        "unknown variant `rocks`, expected `memory` or `rocksdb`",
        (11, 11),
    );
}

#[test]
fn wrong_state_size() {
    assert_rejected(
        &with_base("[state]\nbackend = \"rocksdb\"\nblock_cache = \"big\"\n"),
        "invalid memory size \"big\"",
        (12, 15),
    );
}

#[test]
fn unknown_field_in_sink() {
    assert_rejected(
        &with_base("format = \"json\"\n"),
        "unknown field `format`",
        (10, 1),
    );
}

#[test]
fn file_option_on_stdout_sink() {
    assert_rejected(
        &with_base("path = \"out.jsonl\"\n"),
        "sink `out`: unknown field `path` for a `stdout` sink",
        (10, 8),
    );
}

#[test]
fn unknown_field_in_watermark() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
timestamp = "source"
watermark = { strategy = "monotonous", bound = "5s" }
"#,
        "unknown field `bound`, expected one of `strategy`, `max_out_of_orderness`, `emit`, `interval`",
        (7, 40),
    );
}

#[test]
fn unknown_key_in_key_by() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "count"
kind = "aggregate"
module = "modules/score.wasm"
input = "in"
key_by = { feild = "user" }
"#,
        ),
        "unknown field `feild`, expected `field` or `selector`",
        (15, 12),
    );
}

#[test]
fn key_by_with_two_keys() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "count"
kind = "aggregate"
module = "modules/score.wasm"
input = "in"
key_by = { field = "user", selector = "modules/key.wasm" }
"#,
        ),
        "expected exactly one key, `field` or `selector`",
        (15, 10),
    );
}

#[test]
fn missing_required_field() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
"#,
        ),
        "missing field `input`",
        (10, 1),
    );
}

#[test]
fn missing_job_section() {
    assert_rejected(
        "[[source]]\nname = \"in\"\ntype = \"stdin\"\n",
        "missing field `job`",
        (1, 1),
    );
}

#[test]
fn missing_job_name() {
    assert_rejected("[job]\nparallelism = 2\n", "missing field `name`", (1, 1));
}

#[test]
fn missing_path_of_file_source() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "rules"
type = "file"
"#,
            "rules",
        ),
        "source `rules`: missing field `path`",
        (5, 8),
    );
}

#[test]
fn missing_path_of_file_sink() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
[[sink]]
name = "out"
type = "file"
input = "in"
"#,
        "sink `out`: missing field `path`",
        (8, 8),
    );
}

#[test]
fn wrong_type() {
    assert_rejected(
        r#"[job]
name = "t"
parallelism = "two"
"#,
        "invalid type: string \"two\", expected u32",
        (3, 15),
    );
}

#[test]
fn wrong_duration() {
    assert_rejected(
        &with_base("[limits]\ncall_timeout = \"5 parsecs\"\n"),
        "invalid duration \"5 parsecs\": unknown time unit \"parsecs\"",
        (11, 16),
    );
}

#[test]
fn wrong_memory_size() {
    assert_rejected(
        &with_base("[limits]\nmemory = \"lots\"\n"),
        "invalid memory size \"lots\"",
        (11, 10),
    );
}

#[test]
fn unknown_source_type() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "in"
type = "kinesis"
"#,
        "unknown variant `kinesis`, expected one of `generator`, `file`, `stdin`, `kafka`",
        (5, 8),
    );
}

#[test]
fn unknown_sink_type() {
    assert_rejected(
        r#"[job]
name = "t"
[[sink]]
name = "out"
type = "s3"
"#,
        "unknown variant `s3`, expected one of `stdout`, `file`, `discard`",
        (5, 8),
    );
}

#[test]
fn unknown_operator_kind() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "r"
kind = "reduce"
module = "modules/parse.wasm"
input = "in"
"#,
        ),
        "unknown variant `reduce`, expected one of `map`, `filter`, `flat-map`, `keyed-process`, `aggregate`",
        (12, 8),
    );
}

// ------------------------------------------------------------------- names

#[test]
fn duplicate_name_across_source_and_operator() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "in"
kind = "map"
module = "modules/parse.wasm"
input = "in"
"#,
        ),
        "duplicate name `in`: already the name of the source on line 4",
        (11, 7),
    );
}

#[test]
fn duplicate_name_across_sink_and_later_operator() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "out"
kind = "map"
module = "modules/parse.wasm"
input = "in"
"#,
        ),
        "duplicate name `out`: already the name of the sink on line 7",
        (11, 7),
    );
}

#[test]
fn duplicate_source_names() {
    assert_rejected(
        &with_base("[[source]]\nname = \"in\"\ntype = \"stdin\"\n"),
        "duplicate name `in`: already the name of the source on line 4",
        (11, 8),
    );
}

#[test]
fn uid_with_slash() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "detect/v2"
kind = "map"
module = "modules/parse.wasm"
input = "in"
"#,
        ),
        "invalid operator uid `detect/v2`: use only letters, digits, `_` and `-`",
        (11, 7),
    );
}

#[test]
fn source_name_with_space() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "my input"
type = "stdin"
[[sink]]
name = "out"
type = "stdout"
input = "my input"
"#,
        "invalid source name `my input`",
        (4, 8),
    );
}

#[test]
fn empty_job_name() {
    assert_rejected(
        "[job]\nname = \"\"\n",
        "`[job]`: `name` must not be empty",
        (2, 8),
    );
}

// ------------------------------------------------------------------- graph

#[test]
fn job_without_source() {
    assert_rejected(
        "[job]\nname = \"t\"\n[[sink]]\nname = \"out\"\ntype = \"stdout\"\n",
        "the job has no source",
        (1, 1),
    );
}

#[test]
fn job_without_sink() {
    assert_rejected(
        "[job]\nname = \"t\"\n[[source]]\nname = \"in\"\ntype = \"stdin\"\n",
        "the job has no sink",
        (1, 1),
    );
}

#[test]
fn input_names_nothing() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "inn"
"#,
        ),
        "operator `m`: input `inn` names no source or operator; known: `in`, `m`",
        (14, 9),
    );
}

#[test]
fn input_names_a_sink() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "out"
"#,
        ),
        "input `out` is a sink",
        (14, 9),
    );
}

#[test]
fn input_is_side_output_of_a_source() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in/late"
"#,
        ),
        "input `in/late`: source `in` has no side outputs",
        (14, 9),
    );
}

#[test]
fn invalid_side_output_name() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "a"
kind = "map"
module = "modules/parse.wasm"
input = "in"
[[operator]]
uid = "b"
kind = "map"
module = "modules/parse.wasm"
input = "a/late/x"
"#,
        ),
        "invalid side output name `late/x`",
        (19, 9),
    );
}

#[test]
fn sink_input_names_nothing() {
    let text = STDIN_TO_STDOUT.replace("input = \"in\"", "input = \"nope\"");
    assert_rejected(
        &text,
        "sink `out`: input `nope` names no source or operator; known: `in`",
        (9, 9),
    );
}

#[test]
fn cycle_of_three_operators() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "a"
kind = "map"
module = "modules/parse.wasm"
input = "c"
[[operator]]
uid = "b"
kind = "map"
module = "modules/parse.wasm"
input = "a"
[[operator]]
uid = "c"
kind = "map"
module = "modules/parse.wasm"
input = "b"
"#,
        ),
        "operator `a`: input `c` makes a cycle: a -> b -> c -> a",
        (14, 9),
    );
}

#[test]
fn operator_reading_itself_is_a_cycle() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "loop"
kind = "map"
module = "modules/parse.wasm"
input = "loop/retry"
"#,
        ),
        "makes a cycle: loop -> loop",
        (14, 9),
    );
}

#[test]
fn sink_without_input_or_dead_letters() {
    assert_rejected(
        &with_base("[[sink]]\nname = \"idle\"\ntype = \"discard\"\n"),
        "sink `idle`: missing field `input`",
        (11, 8),
    );
}

// ------------------------------------------------------------ files on disk

#[test]
fn module_file_missing() {
    let error = parse(&with_base(
        r#"[[operator]]
uid = "detect"
kind = "map"
module = "modules/fraud.wasm"
input = "in"
"#,
    ))
    .expect_err("no such module");
    let expected = format!(
        "operator `detect`: module file not found: {}",
        fixtures().join("modules/fraud.wasm").display()
    );
    assert_eq!(error.message(), expected);
    assert_eq!(error.location(), Some((13, 10)));
}

#[test]
fn module_path_is_a_directory() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules"
input = "in"
"#,
        ),
        "operator `m`: module file is not a file",
        (13, 10),
    );
}

#[test]
fn key_selector_file_missing() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "count"
kind = "aggregate"
module = "modules/score.wasm"
input = "in"
key_by = { selector = "modules/nope.wasm" }
"#,
        ),
        "operator `count`: key selector file not found: ",
        (15, 23),
    );
}

#[test]
fn file_source_path_missing() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "rules"
type = "file"
path = "data/missing.jsonl"
"#,
            "rules",
        ),
        "source `rules`: input file not found: ",
        (6, 8),
    );
}

// ------------------------------------------------------------------- keys

#[test]
fn keyed_process_needs_key_by() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "detect"
kind = "keyed-process"
module = "modules/detect.wasm"
input = "in"
"#,
        ),
        "operator `detect`: `keyed-process` operators are keyed and need `key_by`",
        (12, 8),
    );
}

#[test]
fn aggregate_needs_key_by() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "sum"
kind = "aggregate"
module = "modules/score.wasm"
input = "in"
"#,
        ),
        "operator `sum`: `aggregate` operators are keyed and need `key_by`",
        (12, 8),
    );
}

#[test]
fn map_must_not_have_key_by() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
key_by = "record-key"
"#,
        ),
        "operator `m`: `map` operators are not keyed; remove `key_by`",
        (15, 10),
    );
}

#[test]
fn filter_and_flat_map_must_not_have_key_by() {
    for kind in ["filter", "flat-map"] {
        assert_rejected(
            &with_base(&format!(
                "[[operator]]\nuid = \"m\"\nkind = \"{kind}\"\nmodule = \"modules/parse.wasm\"\ninput = \"in\"\nkey_by = {{ field = \"user\" }}\n"
            )),
            &format!("`{kind}` operators are not keyed"),
            (15, 10),
        );
    }
}

#[test]
fn key_by_field_with_empty_part() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "count"
kind = "aggregate"
module = "modules/score.wasm"
input = "in"
key_by = { field = "user..id" }
"#,
        ),
        "field path `user..id` has an empty part",
        (15, 20),
    );
}

// ------------------------------------------------------------ dead letters

#[test]
fn dead_letter_names_no_sink() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
dead_letter = "errors"
[[sink]]
name = "out"
type = "stdout"
input = "in"
"#,
        "source `in`: `dead_letter` names no sink `errors`; sinks: `out`",
        (6, 15),
    );
}

#[test]
fn dead_letter_names_an_operator() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
dead_letter = "m"
[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
[[sink]]
name = "out"
type = "stdout"
input = "m"
"#,
        "`dead_letter` must name a sink, but `m` is an operator",
        (6, 15),
    );
}

// ------------------------------------------------- formats and event time

#[test]
fn binary_event_format_only_on_generators() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
format = "binary-event"
"#,
            "in",
        ),
        "source `in`: `format = \"binary-event\"` is only for `generator` sources",
        (6, 10),
    );
}

#[test]
fn source_timestamp_only_on_generators() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "rules"
type = "file"
path = "data/rules.jsonl"
timestamp = "source"
"#,
            "rules",
        ),
        "source `rules`: `timestamp = \"source\"` is only for `generator` and `kafka` sources",
        (7, 13),
    );
}

#[test]
fn timestamp_field_needs_json() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
format = "text"
timestamp = { field = "ts" }
"#,
            "in",
        ),
        "reads a JSON field, but the records are not JSON",
        (7, 13),
    );
}

#[test]
fn timestamp_literal_other_than_source() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
timestamp = "event"
"#,
        "invalid value: string \"event\", expected \"source\" or a table with one key, `field`",
        (6, 13),
    );
}

#[test]
fn watermark_needs_timestamps() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "in"
type = "stdin"
watermark = { strategy = "monotonous" }
"#,
            "in",
        ),
        "source `in`: a watermark needs event timestamps",
        (6, 13),
    );
}

#[test]
fn bounded_watermark_needs_its_bound() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
timestamp = "source"
watermark = { strategy = "bounded-out-of-orderness" }
"#,
            "gen",
        ),
        "strategy `bounded-out-of-orderness` needs `max_out_of_orderness`",
        (7, 26),
    );
}

#[test]
fn bound_only_with_bounded_watermark() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
timestamp = "source"
watermark = { strategy = "monotonous", max_out_of_orderness = "5s" }
"#,
            "gen",
        ),
        "`max_out_of_orderness` only applies to strategy `bounded-out-of-orderness`",
        (7, 63),
    );
}

/// A generator source with `watermark` as given, and a sink.
fn generator_with_watermark(watermark: &str) -> String {
    with_discard_sink(
        &format!(
            "[job]\nname = \"t\"\n[[source]]\nname = \"gen\"\ntype = \"generator\"\ntimestamp = \"source\"\nwatermark = {watermark}\n"
        ),
        "gen",
    )
}

#[test]
fn watermarks_move_per_record_unless_periodic_is_asked_for() {
    let emission = |watermark: &str| {
        parse(&generator_with_watermark(watermark))
            .expect("valid")
            .sources[0]
            .watermark_emission
    };
    assert_eq!(
        emission(r#"{ strategy = "monotonous" }"#),
        WatermarkEmission::PerRecord
    );
    assert_eq!(
        emission(r#"{ strategy = "monotonous", emit = "per-record" }"#),
        WatermarkEmission::PerRecord
    );
    assert_eq!(
        emission(r#"{ strategy = "monotonous", emit = "periodic" }"#),
        WatermarkEmission::Periodic(Duration::from_millis(200)),
        "Flink's auto-watermark interval"
    );
    assert_eq!(
        emission(
            r#"{ strategy = "bounded-out-of-orderness", max_out_of_orderness = "5s", emit = "periodic", interval = "1s" }"#
        ),
        WatermarkEmission::Periodic(Duration::from_secs(1))
    );
}

#[test]
fn watermark_interval_only_with_periodic_emission() {
    assert_rejected(
        &generator_with_watermark(r#"{ strategy = "monotonous", interval = "1s" }"#),
        "source `gen`: `interval` only applies to `emit = \"periodic\"`",
        (7, 51),
    );
    assert_rejected(
        &generator_with_watermark(
            r#"{ strategy = "monotonous", emit = "periodic", interval = "0s" }"#,
        ),
        "source `gen`: the watermark `interval` must be more than 0",
        (7, 70),
    );
    assert_rejected(
        &generator_with_watermark(r#"{ strategy = "monotonous", emit = "sometimes" }"#),
        "unknown variant `sometimes`, expected `per-record` or `periodic`",
        (7, 47),
    );
}

// ------------------------------------------------------------- parallelism

#[test]
fn operator_parallelism_zero() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
parallelism = 0
"#,
        ),
        "operator `m`: `parallelism` must be between 1 and `max_parallelism` (128), found 0",
        (15, 15),
    );
}

#[test]
fn operator_parallelism_above_max_parallelism() {
    assert_rejected(
        r#"[job]
name = "t"
max_parallelism = 8
[[source]]
name = "in"
type = "stdin"
[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
parallelism = 9
[[sink]]
name = "out"
type = "stdout"
input = "m"
"#,
        "`parallelism` must be between 1 and `max_parallelism` (8), found 9",
        (12, 15),
    );
}

#[test]
fn job_parallelism_above_max_parallelism() {
    assert_rejected(
        "[job]\nname = \"t\"\nparallelism = 200\n",
        "`[job]`: `parallelism` must be between 1 and `max_parallelism` (128), found 200",
        (3, 15),
    );
}

#[test]
fn generator_parallelism_zero() {
    assert_rejected(
        r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
parallelism = 0
[[sink]]
name = "out"
type = "discard"
input = "gen"
"#,
        "source `gen`: `parallelism` must be between 1",
        (6, 15),
    );
}

#[test]
fn file_source_has_one_reader() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "rules"
type = "file"
path = "data/rules.jsonl"
parallelism = 2
"#,
            "rules",
        ),
        "source `rules`: a `file` source has a single reader; `parallelism` must be 1",
        (7, 15),
    );
}

#[test]
fn max_parallelism_zero() {
    assert_rejected(
        "[job]\nname = \"t\"\nmax_parallelism = 0\n",
        "`max_parallelism` must be between 1 and 32768, found 0",
        (3, 19),
    );
}

#[test]
fn max_parallelism_above_limit() {
    assert_rejected(
        "[job]\nname = \"t\"\nmax_parallelism = 32769\n",
        "`max_parallelism` must be between 1 and 32768, found 32769",
        (3, 19),
    );
}

// ---------------------------------------------------- limits, batch, generator

#[test]
fn memory_below_one_page() {
    assert_rejected(
        &with_base("[limits]\nmemory = \"1 KiB\"\n"),
        "`[limits]`: `memory` must be at least 64 KiB",
        (11, 10),
    );
}

#[test]
fn zero_call_timeout() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
[operator.limits]
call_timeout = "0s"
"#,
        ),
        "operator `m`: `call_timeout` must be more than 0",
        (16, 16),
    );
}

#[test]
fn zero_batch_size() {
    assert_rejected(
        &with_base("[batch]\nmax_records = 0\n"),
        "`[batch]`: `max_records` must be at least 1",
        (11, 15),
    );
}

#[test]
fn rocksdb_options_without_rocksdb_backend() {
    // No `backend` means `memory`.
    assert_rejected(
        &with_base("[state]\nblock_cache = \"1 GiB\"\n"),
        "`[state]`: `block_cache` is an option of the `rocksdb` backend; set `backend = \"rocksdb\"` or remove it",
        (11, 15),
    );
    assert_rejected(
        &with_base("[state]\nbackend = \"memory\"\nlocal_dir = \"state\"\n"),
        "`[state]`: `local_dir` is an option of the `rocksdb` backend; set `backend = \"rocksdb\"` or remove it",
        (12, 13),
    );
    assert_rejected(
        &with_base("[state]\nwrite_buffer = \"64 MiB\"\nbackend = \"memory\"\n"),
        "`[state]`: `write_buffer` is an option of the `rocksdb` backend; set `backend = \"rocksdb\"` or remove it",
        (11, 16),
    );
    assert_rejected(
        &with_base("[state]\nwrite_cache = \"64 MiB\"\n"),
        "`[state]`: `write_cache` is an option of the `rocksdb` backend; set `backend = \"rocksdb\"` or remove it",
        (11, 15),
    );
}

#[test]
fn zero_block_cache() {
    assert_rejected(
        &with_base("[state]\nbackend = \"rocksdb\"\nblock_cache = 0\n"),
        "`[state]`: `block_cache` must be more than 0",
        (12, 15),
    );
    assert_rejected(
        &with_base("[state]\nbackend = \"rocksdb\"\nblock_cache = \"0 MiB\"\n"),
        "`[state]`: `block_cache` must be more than 0",
        (12, 15),
    );
}

#[test]
fn write_buffer_below_one_mib() {
    assert_rejected(
        &with_base("[state]\nbackend = \"rocksdb\"\nwrite_buffer = \"512 KiB\"\n"),
        "`[state]`: `write_buffer` must be at least 1 MiB, found 512",
        (12, 16),
    );
    parse(&with_base(
        "[state]\nbackend = \"rocksdb\"\nwrite_buffer = \"1 MiB\"\n",
    ))
    .expect("1 MiB is enough");
}

#[test]
fn empty_rocksdb_local_dir() {
    assert_rejected(
        &with_base("[state]\nbackend = \"rocksdb\"\nlocal_dir = \"\"\n"),
        "`[state]`: `local_dir` must not be empty",
        (12, 13),
    );
}

#[test]
fn generator_without_keys() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
[source.generator]
keys = 0
"#,
            "gen",
        ),
        "source `gen`: `keys` must be at least 1",
        (7, 8),
    );
}

#[test]
fn generator_key_order_must_be_known() {
    assert_rejected(
        &with_discard_sink(
            r#"[job]
name = "t"
[[source]]
name = "gen"
type = "generator"
[source.generator]
key_order = "sorted"
"#,
            "gen",
        ),
        "unknown variant `sorted`, expected `random` or `sequential`",
        (7, 13),
    );
}

#[test]
fn config_without_json_form() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "m"
kind = "map"
module = "modules/parse.wasm"
input = "in"
config = { threshold = nan }
"#,
        ),
        "operator `m`: `config` has no JSON form",
        (15, 10),
    );
}

// ------------------------------------------------- windows and two-input operators

/// `STDIN_TO_STDOUT` plus an operator (starting on line 10) of `kind` with `extra` lines.
fn with_operator(kind: &str, extra: &str) -> String {
    with_base(&format!(
        "[[operator]]\nuid = \"w\"\nkind = \"{kind}\"\nmodule = \"modules/score.wasm\"\ninput = \"in\"\nkey_by = {{ field = \"user\" }}\n{extra}"
    ))
}

#[test]
fn every_window_type_with_its_options() {
    let cases = [
        (
            r#"window = { type = "tumbling", size = "1m", offset = "15s" }"#,
            WindowKind::Time(WindowAssigner::Tumbling {
                size: 60_000,
                offset: 15_000,
            }),
        ),
        (
            r#"window = { type = "sliding", size = "5m", slide = "1m" }"#,
            WindowKind::Time(WindowAssigner::Sliding {
                size: 300_000,
                slide: 60_000,
                offset: 0,
            }),
        ),
        (
            r#"window = { type = "session", gap = "30m" }"#,
            WindowKind::Time(WindowAssigner::Session { gap: 1_800_000 }),
        ),
        (
            r#"window = { type = "count", size = 100 }"#,
            WindowKind::Count(100),
        ),
    ];
    for (line, kind) in cases {
        let job = parse(&with_operator("aggregate", &format!("{line}\n"))).unwrap();
        let window = operator(&job, "w").window.clone().unwrap();
        assert_eq!(window.kind, kind, "{line}");
        assert_eq!(window.time, WindowTime::Event);
        assert_eq!(window.allowed_lateness, 0);
        assert_eq!(window.late_output, "late");
    }
    let job = parse(&with_operator(
        "window-process",
        "window = { type = \"tumbling\", size = \"10s\", time = \"processing\" }\n",
    ))
    .unwrap();
    assert_eq!(
        operator(&job, "w").window.as_ref().unwrap().time,
        WindowTime::Processing
    );
}

#[test]
fn windowed_kinds_need_a_window() {
    assert_rejected(
        &with_operator("aggregate", ""),
        "operator `w`: `aggregate` operators work on windows; add one, e.g. `window = { type = \"tumbling\", size = \"1m\" }`",
        (12, 8),
    );
}

#[test]
fn a_window_on_a_process_function_is_refused() {
    assert_rejected(
        &with_operator(
            "keyed-process",
            "window = { type = \"tumbling\", size = \"1m\" }\n",
        ),
        "operator `w`: `keyed-process` operators do not take a `window`",
        (16, 10),
    );
}

#[test]
fn window_options_must_fit_the_window_type() {
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"tumbling\", size = \"1m\", gap = \"5m\" }\n",
        ),
        "operator `w`: `gap` is not an option of `tumbling` windows (they take `size`, `offset`)",
        (16, 50),
    );
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"sliding\", size = \"1m\" }\n",
        ),
        "operator `w`: `sliding` windows need `slide`, e.g. `slide = \"1m\"`",
        (16, 19),
    );
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"sliding\", size = \"1m\", slide = \"2m\" }\n",
        ),
        "`slide` must not be longer than `size`",
        (16, 51),
    );
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"count\", size = \"1m\" }\n",
        ),
        "the `size` of `count` windows is a number of elements, e.g. `size = 100`",
        (16, 35),
    );
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"tumbling\", size = 100 }\n",
        ),
        "the `size` of `tumbling` windows is a duration, e.g. \"1m\"",
        (16, 38),
    );
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"tumbling\", size = \"1m\", time = \"processing\", allowed_lateness = \"5s\" }\n",
        ),
        "`allowed_lateness` applies to event-time windows only",
        (16, 84),
    );
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"tumbling\", size = \"1fortnight\" }\n",
        ),
        "invalid duration \"1fortnight\"",
        (16, 38),
    );
}

#[test]
fn co_process_connects_a_second_input_with_its_own_key() {
    let text = with_base(
        r#"[[source]]
name = "payments"
type = "file"
path = "data/rules.jsonl"
[[operator]]
uid = "join"
kind = "co-process"
module = "modules/detect.wasm"
input = "in"
key_by = { field = "id" }
connect = { input = "payments", key_by = { field = "order.id" } }
"#,
    );
    let job = parse(&text).unwrap();
    let join = operator(&job, "join");
    let connect = join.connect.as_ref().unwrap();
    assert_eq!(connect.inputs, vec![stream("payments", None)]);
    assert_eq!(
        connect.routing,
        SecondInputRouting::Keyed(KeyBy::Field(vec!["order".into(), "id".into()]))
    );
    assert_eq!(
        join.input_streams().collect::<Vec<_>>(),
        vec![
            (InputSide::First, &stream("in", None)),
            (InputSide::Second, &stream("payments", None))
        ]
    );
}

#[test]
fn co_process_needs_connect_and_only_it_takes_one() {
    assert_rejected(
        &with_operator("co-process", ""),
        "operator `w`: `co-process` operators have two inputs; add the second with `connect = ",
        (12, 8),
    );
    assert_rejected(
        &with_operator("keyed-process", "connect = { input = \"in\" }\n"),
        "operator `w`: only `co-process` and `interval-join` operators take a connected input; remove `connect` or use kind `co-process`",
        (16, 11),
    );
}

/// An interval join of `in` (left) with `right`, with `extra` lines.
fn interval_join(extra: &str) -> String {
    with_base(&format!(
        r#"[[source]]
name = "right"
type = "file"
path = "data/rules.jsonl"
[[operator]]
uid = "j"
kind = "interval-join"
input = "in"
key_by = {{ field = "id" }}
connect = {{ input = "right" }}
{extra}"#
    ))
}

#[test]
fn interval_join_takes_signed_bounds_and_no_module() {
    let job = parse(&interval_join(
        "between = { lower = \"-1m 30s\", upper = \"2s\" }\n",
    ))
    .unwrap();
    let join = operator(&job, "j");
    assert_eq!(join.module, None);
    assert_eq!(
        join.between,
        Some(JoinInterval {
            lower: -90_000,
            upper: 2_000
        })
    );
    assert_eq!(
        join.connect.as_ref().unwrap().routing,
        SecondInputRouting::Keyed(KeyBy::Field(vec!["id".into()]))
    );
}

#[test]
fn interval_join_errors_name_the_fix() {
    assert_rejected(
        &interval_join(""),
        "operator `j`: `interval-join` operators need the interval that joins, e.g. `between = { lower = \"-5s\", upper = \"5s\" }`",
        (16, 8),
    );
    assert_rejected(
        &interval_join("between = { lower = \"5s\", upper = \"-5s\" }\n"),
        "operator `j`: `lower` must not be after `upper`, or no pair of records could join",
        (20, 11),
    );
    assert_rejected(
        &interval_join("between = { lower = \"soon\", upper = \"5s\" }\n"),
        "invalid duration \"soon\"",
        (20, 21),
    );
    assert_rejected(
        &interval_join(
            "module = \"modules/score.wasm\"\nbetween = { lower = \"0s\", upper = \"5s\" }\n",
        ),
        "operator `j`: `interval-join` operators are run by eddy itself and take no `module`; shape the joined pairs with a `map` operator after it",
        (20, 10),
    );
    assert_rejected(
        &with_operator("map", "between = { lower = \"0s\", upper = \"5s\" }\n")
            .replace("key_by = { field = \"user\" }\n", ""),
        "operator `w`: only `interval-join` operators take `between`",
        (15, 11),
    );
    assert_rejected(
        &with_base("[[operator]]\nuid = \"m\"\nkind = \"map\"\ninput = \"in\"\n"),
        "operator `m`: `map` operators run a guest function; add its component, e.g. `module = ",
        (11, 7),
    );
}

#[test]
fn broadcast_process_takes_a_broadcast_input() {
    let text = with_base(
        r#"[[source]]
name = "rules"
type = "file"
path = "data/rules.jsonl"
[[operator]]
uid = "b"
kind = "broadcast-process"
module = "modules/detect.wasm"
input = "in"
key_by = { field = "id" }
broadcast = { input = "rules" }
"#,
    );
    let job = parse(&text).unwrap();
    let op = operator(&job, "b");
    let second = op.connect.as_ref().unwrap();
    assert_eq!(second.routing, SecondInputRouting::Broadcast);
    assert_eq!(second.inputs, vec![stream("rules", None)]);
    assert!(op.is_broadcast(InputSide::Second));
    assert_eq!(op.key_by_of(InputSide::Second), None);

    assert_rejected(
        &with_operator("broadcast-process", ""),
        "operator `w`: `broadcast-process` operators have a broadcast input; add it with `broadcast = { input = \"rules\" }`",
        (12, 8),
    );
    assert_rejected(
        &with_operator("broadcast-process", "connect = { input = \"in\" }\n"),
        "a `broadcast-process` operator's second input is `broadcast = { input = \"rules\" }`",
        (16, 11),
    );
    assert_rejected(
        &with_operator("co-process", "broadcast = { input = \"in\" }\n"),
        "operator `w`: only `broadcast-process` operators take a broadcast input; use `connect` for a keyed second input",
        (16, 13),
    );
}

#[test]
fn a_list_of_inputs_is_a_union() {
    let text = with_base(
        r#"[[source]]
name = "more"
type = "file"
path = "data/rules.jsonl"
idle_timeout = "2s"
[[operator]]
uid = "both"
kind = "map"
module = "modules/parse.wasm"
input = ["in", "more"]
"#,
    );
    let job = parse(&text).unwrap();
    assert_eq!(
        operator(&job, "both").inputs,
        vec![stream("in", None), stream("more", None)]
    );
    assert_eq!(job.sources[1].idle_timeout, Some(Duration::from_secs(2)));
    assert_rejected(
        &with_base(
            "[[operator]]\nuid = \"m\"\nkind = \"map\"\nmodule = \"modules/parse.wasm\"\ninput = [\"in\", \"nowhere\"]\n",
        ),
        "operator `m`: input `nowhere` names no source or operator",
        (14, 16),
    );
    assert_rejected(
        &with_base(
            "[[operator]]\nuid = \"m\"\nkind = \"map\"\nmodule = \"modules/parse.wasm\"\ninput = [\"in\", \"in\"]\n",
        ),
        "operator `m`: input `in` is listed twice",
        (14, 16),
    );
}

#[test]
fn a_cycle_through_a_second_input_is_named() {
    assert_rejected(
        &with_base(
            r#"[[operator]]
uid = "a"
kind = "co-process"
module = "modules/detect.wasm"
input = "in"
key_by = "record-key"
connect = { input = "b" }
[[operator]]
uid = "b"
kind = "map"
module = "modules/parse.wasm"
input = "a"
"#,
        ),
        "operator `a`: input `b` makes a cycle: a -> b -> a",
        (16, 21),
    );
}

#[test]
fn zero_sizes_of_windows_and_idle_timeouts_are_refused() {
    assert_rejected(
        &with_operator(
            "aggregate",
            "window = { type = \"tumbling\", size = \"0s\" }\n",
        ),
        "operator `w`: window `size` must be at least 1ms",
        (16, 38),
    );
    assert_rejected(
        &with_operator("aggregate", "window = { type = \"count\", size = 0 }\n"),
        "operator `w`: `count` windows need a `size` of at least 1",
        (16, 35),
    );
    assert_rejected(
        &with_base("[[source]]\nname = \"more\"\ntype = \"stdin\"\nidle_timeout = \"0s\"\n"),
        "source `more`: `idle_timeout` must be longer than zero",
        (13, 16),
    );
}

/// A generator job of twelve lines, with `extra` (sections) after it.
fn generator_job(extra: &str) -> String {
    format!(
        r#"[job]
name = "cp"
[[source]]
name = "gen"
type = "generator"
[[sink]]
name = "out"
type = "file"
path = "out/parts"
delivery = "exactly-once"
input = "gen"

{extra}"#
    )
}

#[test]
fn checkpoints_get_their_defaults_and_restart_follows_flink() {
    let job = parse(&generator_job("[checkpoints]\ninterval = \"10s\"\n")).expect("valid");
    assert_eq!(
        job.checkpoints,
        Some(CheckpointConfig {
            interval: Duration::from_secs(10),
            mode: CheckpointMode::ExactlyOnce,
            dir: fixtures().join("checkpoints"),
            min_pause: Duration::ZERO,
            timeout: Duration::from_secs(600),
            retain: 3,
            incremental: false,
        })
    );
    let incremental = "[checkpoints]\ninterval = \"10s\"\nincremental = true\n";
    let job = parse(&generator_job(incremental)).expect("valid");
    assert!(job.checkpoints.is_some_and(|c| c.incremental));
    assert_eq!(
        job.restart,
        RestartStrategy::ExponentialBackoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 1.5,
            attempts: None,
        },
        "with checkpoints, Flink restarts with exponential backoff"
    );
    assert!(
        matches!(&job.sinks[0].connector, SinkConnector::ExactlyOnceFiles(dir) if *dir == fixtures().join("out/parts"))
    );
    let plain = parse(&with_base("")).expect("valid");
    assert_eq!(plain.checkpoints, None);
    assert_eq!(
        plain.restart,
        RestartStrategy::None,
        "no checkpoints, no restarts"
    );
}

#[test]
fn every_checkpoint_and_restart_option_is_read() {
    let job = parse(&generator_job(
        r#"[checkpoints]
interval = "200ms"
mode = "at-least-once"
dir = "cps"
min_pause = "50ms"
timeout = "5s"
retain = 1
[restart]
strategy = "failure-rate"
max_failures = 3
failure_interval = "5m"
delay = "2s"
"#,
    ))
    .expect("valid");
    let checkpoints = job.checkpoints.unwrap();
    assert_eq!(checkpoints.mode, CheckpointMode::AtLeastOnce);
    assert_eq!(checkpoints.dir, fixtures().join("cps"));
    assert_eq!(checkpoints.min_pause, Duration::from_millis(50));
    assert_eq!(checkpoints.timeout, Duration::from_secs(5));
    assert_eq!(checkpoints.retain, 1);
    assert_eq!(
        job.restart,
        RestartStrategy::FailureRate {
            max_failures: 3,
            interval: Duration::from_secs(300),
            delay: Duration::from_secs(2),
        }
    );
    let fixed = parse(&generator_job(
        "[restart]\nstrategy = \"fixed-delay\"\nattempts = 4\n",
    ))
    .expect("valid");
    assert_eq!(
        fixed.restart,
        RestartStrategy::FixedDelay {
            attempts: 4,
            delay: Duration::from_secs(1)
        }
    );
}

#[test]
fn wrong_checkpoint_and_restart_options_are_refused() {
    assert_rejected(
        &generator_job("[checkpoints]\ninterval = \"0s\"\n"),
        "`[checkpoints]`: `interval` must be more than 0",
        (14, 12),
    );
    assert_rejected(
        &generator_job("[checkpoints]\ninterval = \"1s\"\nretain = 0\n"),
        "`[checkpoints]`: `retain` must be at least 1, or the job could not restart",
        (15, 10),
    );
    assert_rejected(
        &generator_job("[checkpoints]\ninterval = \"1s\"\nmode = \"exactly-twice\"\n"),
        "unknown variant `exactly-twice`, expected `exactly-once` or `at-least-once`",
        (15, 8),
    );
    assert_rejected(
        &generator_job("[restart]\nstrategy = \"exponential-backoff\"\ndelay = \"1s\"\n"),
        "`[restart]`: `delay` is not an option of strategy `exponential-backoff` (it belongs to `fixed-delay` and `failure-rate`)",
        (15, 9),
    );
    assert_rejected(
        &generator_job("[restart]\nstrategy = \"fixed-delay\"\n"),
        "`[restart]`: strategy `fixed-delay` needs `attempts`, the number of restarts before the run fails",
        (14, 12),
    );
    assert_rejected(
        &generator_job("[restart]\nstrategy = \"exponential-backoff\"\nmultiplier = 0.5\n"),
        "`[restart]`: `multiplier` must be at least 1, found 0.5",
        (15, 14),
    );
    assert_rejected(
        &with_base("[checkpoints]\ninterval = \"1s\"\n"),
        "source `in`: a `stdin` source cannot be read again after a restart, so a job with `[checkpoints]` cannot read one; read a file instead",
        (5, 8),
    );
    assert_rejected(
        &with_base(
            "[[sink]]\nname = \"more\"\ntype = \"stdout\"\ninput = \"in\"\ndelivery = \"exactly-once\"\n",
        ),
        "sink `more`: unknown field `delivery` for a `stdout` sink (`delivery` is an option of `file` sinks)",
        (14, 12),
    );
}
