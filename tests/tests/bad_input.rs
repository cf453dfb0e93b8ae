//! What a user sees when something is wrong: a bad job file, a bad module, a
//! misbehaving guest, malformed input records. Every case must end with exit
//! code 1 (never a crash or a signal) and a message that names the culprit.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A job `name` reading `data` (JSON lines, written next to it as `in.jsonl`)
/// through one operator `op` of `kind` running `module`, with `extra` lines
/// appended to the operator table, into a stdout sink `out`.
fn one_operator_job(
    scratch: &Scratch,
    name: &str,
    data: &str,
    kind: &str,
    module: &Path,
    extra: &str,
) -> PathBuf {
    scratch.write("in.jsonl", data);
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "{name}"

[[source]]
name = "src"
type = "file"
path = "in.jsonl"

[[sink]]
name = "out"
type = "stdout"
input = "op"

[[operator]]
uid = "op"
kind = "{kind}"
module = {module}
input = "src"
{extra}
"#,
            module = toml_path(module)
        ),
    )
}

/// Run a bad job with `eddy run` and `eddy validate`: both must exit with 1
/// and print `needles` on stderr. Returns the output of `eddy run`.
#[track_caller]
fn rejected_by_run_and_validate(job: &Path, needles: &[&str]) -> Output {
    let validated = validate(job).failure();
    validated.stderr_has(needles);
    assert_eq!(
        validated.stdout,
        "",
        "validate printed:\n{}",
        validated.describe()
    );
    let ran = run_quiet(job).failure();
    ran.stderr_has(needles);
    assert_eq!(ran.stdout, "", "a rejected job produces no records");
    ran
}

// ---------------------------------------------------------------- job file

#[test]
fn toml_syntax_error_is_located() {
    let scratch = Scratch::new();
    let job = scratch.write("job.toml", "[job]\nname = \"x\"\nparallelism 2\n");
    rejected_by_run_and_validate(
        &job,
        &[
            "error: key with no value, expected `=`",
            "--> job.toml:3:13",
            "3 | parallelism 2",
        ],
    );
}

#[test]
fn unknown_field_is_named_with_its_location() {
    let scratch = Scratch::new();
    let job = scratch.write(
        "job.toml",
        "[job]\nname = \"x\"\nparalelism = 2\n\n[[source]]\nname = \"s\"\ntype = \"stdin\"\n\n\
         [[sink]]\nname = \"o\"\ntype = \"stdout\"\ninput = \"s\"\n",
    );
    rejected_by_run_and_validate(
        &job,
        &[
            "error: unknown field `paralelism`, expected one of `name`, `parallelism`, `max_parallelism`",
            "--> job.toml:3:1",
        ],
    );
}

#[test]
fn unknown_field_in_operator_limits_is_named() {
    let scratch = Scratch::new();
    let job = one_operator_job(
        &scratch,
        "x",
        "{}\n",
        "map",
        &wasm("faulty"),
        "[operator.limits]\nmemroy = \"1 MiB\"",
    );
    rejected_by_run_and_validate(
        &job,
        &[
            "error: unknown field `memroy`, expected `memory` or `call_timeout`",
            "job.toml:20:1",
        ],
    );
}

#[test]
fn missing_module_names_operator_and_path() {
    let scratch = Scratch::new();
    let missing = scratch.path("wasm/nope.wasm");
    let job = one_operator_job(&scratch, "x", "{}\n", "map", &missing, "");
    let expected = format!(
        "error: operator `op`: module file not found: {}",
        missing.display()
    );
    rejected_by_run_and_validate(&job, &[&expected, "--> job.toml:17:10"]);
}

// ---------------------------------------------------------------- modules

#[test]
fn core_module_is_not_a_component() {
    let scratch = Scratch::new();
    let module = scratch.write("core.wasm", b"\0asm\x01\0\0\0");
    let job = one_operator_job(&scratch, "x", "{}\n", "map", &module, "");
    let expected = format!(
        "{} is a core WebAssembly module, not a component",
        module.display()
    );
    let out = rejected_by_run_and_validate(&job, &["operator `op`", &expected]);
    out.stderr_has(&[
        "error: job `x` could not start",
        "cargo build --target wasm32-wasip2",
    ]);
}

#[test]
fn text_file_is_not_a_webassembly_file() {
    let scratch = Scratch::new();
    let module = scratch.write("text.wasm", "this is not wasm\n");
    let job = one_operator_job(&scratch, "x", "{}\n", "map", &module, "");
    let expected = format!("{} is not a WebAssembly file", module.display());
    rejected_by_run_and_validate(&job, &["operator `op`", &expected]);
}

#[test]
fn aggregate_component_used_as_map_names_its_kind_and_the_right_one() {
    let scratch = Scratch::new();
    let module = wasm("count_aggregate");
    let job = one_operator_job(&scratch, "x", "{}\n", "map", &module, "");
    let expected = format!(
        "{} is a function of kind `aggregate` (world `aggregate`), but the operator is declared `kind = \"map\"`; for this module write `kind = \"aggregate\"`",
        module.display()
    );
    rejected_by_run_and_validate(&job, &["operator `op`", &expected]);
}

#[test]
fn keyed_process_component_used_as_map_names_its_kind_and_the_right_one() {
    let scratch = Scratch::new();
    let module = wasm("fraud_detection");
    let job = one_operator_job(&scratch, "x", "{}\n", "map", &module, "");
    let expected = format!(
        "{} is a function of kind `keyed-process` (world `keyed-process`), but the operator is declared `kind = \"map\"`; for this module write `kind = \"keyed-process\"`",
        module.display()
    );
    rejected_by_run_and_validate(&job, &["operator `op`", &expected]);
}

/// A window operator `op` of `kind` running `module`.
fn window_job(scratch: &Scratch, kind: &str, module: &Path) -> PathBuf {
    one_operator_job(
        scratch,
        "x",
        "{\"k\":\"a\",\"ts\":1}\n",
        kind,
        module,
        "key_by = { field = \"k\" }\nwindow = { type = \"tumbling\", size = \"1m\" }\n",
    )
}

#[test]
fn window_process_component_used_as_aggregate_is_called_a_window_process_function() {
    // Its world is `keyed-process`, which would tell the user nothing.
    let scratch = Scratch::new();
    let module = wasm("window_collect");
    let job = window_job(&scratch, "aggregate", &module);
    let expected = format!(
        "{} is a function of kind `window-process` (world `keyed-process`), but the operator is declared `kind = \"aggregate\"`; for this module write `kind = \"window-process\"`",
        module.display()
    );
    rejected_by_run_and_validate(&job, &["operator `op`", &expected]);
}

#[test]
fn keyed_process_component_used_as_window_process_names_its_kind() {
    // The same world: only the function's own description tells them apart.
    let scratch = Scratch::new();
    let module = wasm("fraud_detection");
    let job = window_job(&scratch, "window-process", &module);
    let expected = format!(
        "{} is a function of kind `keyed-process` (world `keyed-process`), but the operator is declared `kind = \"window-process\"`; for this module write `kind = \"keyed-process\"`",
        module.display()
    );
    rejected_by_run_and_validate(&job, &["operator `op`", &expected]);
}

#[test]
fn aggregate_operator_without_a_window_is_refused_before_running() {
    let scratch = Scratch::new();
    let module = wasm("count_aggregate");
    let job = one_operator_job(
        &scratch,
        "agg",
        "{\"k\":\"a\"}\n",
        "aggregate",
        &module,
        "key_by = { field = \"k\" }\n",
    );
    let out = run_quiet(&job).failure();
    out.stderr_has(&[
        "error: operator `op`: `aggregate` operators work on windows; add one, e.g. `window = { type = \"tumbling\", size = \"1m\" }`",
        "kind = \"aggregate\"",
    ]);
    assert_eq!(out.stdout, "", "nothing ran");
}

/// A window job whose second sink `late` reads `side_input`, written on
/// line 25 of the job file.
fn window_job_reading(scratch: &Scratch, module: &Path, side_input: &str) -> PathBuf {
    one_operator_job(
        scratch,
        "agg",
        "{\"k\":\"a\",\"ts\":1}\n",
        "aggregate",
        module,
        &format!(
            "key_by = {{ field = \"k\" }}\nwindow = {{ type = \"tumbling\", size = \"10s\" }}\n\n\
             [[sink]]\nname = \"late\"\ntype = \"stdout\"\ninput = \"{side_input}\""
        ),
    )
}

#[test]
fn a_side_output_that_does_not_exist_is_located_and_each_available_one_explained() {
    let scratch = Scratch::new();
    let job = window_job_reading(&scratch, &wasm("count_aggregate"), "op/lat");
    let ran = rejected_by_run_and_validate(&job, &[]);
    assert_eq!(
        ran.stderr,
        "error: sink `late`: input `op/lat` names no side output of operator `op`; \
         operator `op` has: `late` (the window's `late_output`)\n  \
         --> job.toml:25:9\n   |\n25 | input = \"op/lat\"\n   |         ^^^^^^^^\n",
        "{}",
        ran.describe()
    );
    assert_eq!(validate(&job).stderr, ran.stderr, "validate says the same");
}

#[test]
fn a_side_output_of_an_operator_without_any_says_it_has_none() {
    let scratch = Scratch::new();
    let job = one_operator_job(
        &scratch,
        "x",
        "{}\n",
        "map",
        &wasm("faulty"),
        "\n[[sink]]\nname = \"errors\"\ntype = \"stdout\"\ninput = \"op/errors\"",
    );
    rejected_by_run_and_validate(
        &job,
        &[
            "error: sink `errors`: input `op/errors` names no side output of operator `op`; \
             operator `op` has none (it has no window and its module declares none)",
            "--> job.toml:23:9",
        ],
    );
}

#[test]
fn the_windows_own_side_output_is_accepted() {
    // The control of the two tests above: the same job reading `late`.
    let scratch = Scratch::new();
    let job = window_job_reading(&scratch, &wasm("count_aggregate"), "op/late");
    validate(&job).success();
}

#[test]
fn side_outputs_declared_by_the_module_are_attributed_to_it() {
    let scratch = Scratch::new();
    scratch.write("orders.jsonl", "");
    scratch.write("payments.jsonl", "");
    let job = scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "join"

[[source]]
name = "orders"
type = "file"
path = "orders.jsonl"

[[source]]
name = "payments"
type = "file"
path = "payments.jsonl"

[[operator]]
uid = "join"
kind = "co-process"
module = {module}
input = "orders"
key_by = {{ field = "order_id" }}
connect = {{ input = "payments" }}

[[sink]]
name = "out"
type = "stdout"
input = "join/unpayed"
"#,
            module = toml_path(&wasm("order_payment_join"))
        ),
    );
    rejected_by_run_and_validate(
        &job,
        &[
            "error: sink `out`: input `join/unpayed` names no side output of operator `join`; \
             operator `join` has: `unpaid` (declared by its module), `orphan-payments` (declared by its module)",
            "--> job.toml:25:9",
        ],
    );
}

#[test]
fn late_records_nobody_reads_are_counted_in_the_summary() {
    let scratch = Scratch::new();
    let module = wasm("count_aggregate");
    // Monotonous watermark: after ts 20000, the record at 1000 is late.
    let job = one_operator_job(
        &scratch,
        "agg",
        "{\"k\":\"a\",\"ts\":20000}\n{\"k\":\"a\",\"ts\":1000}\n",
        "aggregate",
        &module,
        "key_by = { field = \"k\" }\nwindow = { type = \"tumbling\", size = \"10s\" }\n",
    );
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("[job]", "[batch]\nmax_records = 1\n\n[job]")
        .replace(
            "type = \"file\"",
            "type = \"file\"\ntimestamp = { field = \"ts\" }",
        );
    std::fs::write(&job, text).unwrap();
    let out = run(&job).success();
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("op") && l.contains("unread side output 1")),
        "the summary counts the late record\n{}",
        out.describe()
    );
}

#[test]
fn a_rocksdb_directory_that_cannot_be_created_names_operator_and_path() {
    let scratch = Scratch::new();
    let module = wasm("count_aggregate");
    let job = one_operator_job(
        &scratch,
        "rocks",
        "{\"k\":\"a\",\"ts\":20000}\n",
        "aggregate",
        &module,
        "key_by = { field = \"k\" }\nwindow = { type = \"tumbling\", size = \"10s\" }\n",
    );
    // A regular file where the databases' folder should be.
    let blocked = scratch.write("not-a-dir", "");
    let job = on_rocksdb(&job, "job-rocksdb.toml", &blocked);
    let out = run_quiet(&job).failure();
    out.stderr_has(&[
        "operator `op`: cannot open its RocksDB state in",
        "not-a-dir",
    ]);
    assert_eq!(out.stdout, "", "nothing ran");
}

// ---------------------------------------------------------------- guests

const FAULTY_INPUT: &str = "{\"a\":\"ok\"}\n{\"a\":\"boom\"}\n{\"a\":\"after\"}\n";

fn faulty_job(scratch: &Scratch, config: &str, extra: &str) -> PathBuf {
    one_operator_job(
        scratch,
        "faulty",
        FAULTY_INPUT,
        "map",
        &wasm("faulty"),
        &format!("config = {config}\n{extra}"),
    )
}

#[test]
fn identity_faulty_guest_passes_records_through() {
    // The control case for the failures below: the same job without a fault works.
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "identity" }"#, "");
    let out = run_quiet(&job).success();
    assert_eq!(out.stdout_lines(), lines(FAULTY_INPUT));
}

#[test]
fn guest_panic_names_operator_subtask_panic_message_and_record() {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "panic-on", needle = "boom" }"#, "");
    run_quiet(&job).failure().stderr_has(&[
        "error: job `faulty` failed: operator `op` (subtask 1/1) failed: guest panicked: panicked at faulty/src/lib.rs:",
        "faulty guest: found boom\non record: {\"a\":\"boom\"}\n",
    ]);
}

#[test]
fn guest_infinite_loop_is_interrupted_by_the_call_timeout() {
    let scratch = Scratch::new();
    let job = faulty_job(
        &scratch,
        r#"{ mode = "loop" }"#,
        "[operator.limits]\ncall_timeout = \"500ms\"",
    );
    // `failure()` also asserts the process exited on its own with code 1
    // (the helper kills it after a minute and fails the test if it hangs).
    run_quiet(&job).failure().stderr_has(&[
        "error: job `faulty` failed: operator `op` (subtask 1/1) failed: \
         guest call exceeded the time limit of 500ms (it was interrupted)",
    ]);
}

#[test]
fn guest_allocating_1gib_hits_the_memory_limit() {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "hog" }"#, "");
    run_quiet(&job).failure().stderr_has(&[
        "error: job `faulty` failed: operator `op` (subtask 1/1) failed: \
         guest exceeded its memory limit of 64.0 MiB",
    ]);
}

#[test]
fn operator_memory_limit_overrides_the_default() {
    let scratch = Scratch::new();
    let job = faulty_job(
        &scratch,
        r#"{ mode = "hog" }"#,
        "[operator.limits]\nmemory = \"32 MiB\"",
    );
    run_quiet(&job).failure().stderr_has(&[
        "operator `op` (subtask 1/1) failed: guest exceeded its memory limit of 32.0 MiB",
    ]);
}

#[test]
fn memory_limit_message_has_no_wasmtime_fragment() {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "hog" }"#, "");
    let out = run_quiet(&job).failure();
    assert!(
        !out.stderr.contains("wasm backtrace:"),
        "the detail in parentheses is the first line of wasmtime's error, which says nothing\n{}",
        out.describe()
    );
}

#[test]
fn guest_error_is_reported() {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "error" }"#, "");
    run_quiet(&job).failure().stderr_has(&[
        "error: job `faulty` failed: operator `op` (subtask 1/1) failed: \
         guest returned an error: faulty guest: refused record",
    ]);
}

#[test]
fn guest_init_error_stops_the_job_before_it_starts() {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "panic-on" }"#, "");
    let out = run_quiet(&job).failure();
    out.stderr_has(&[
        "error: job `faulty` could not start",
        "caused by: operator `op` (subtask 1/1): init",
        "caused by: guest returned an error: faulty guest: mode `panic-on` needs a non-empty `needle`",
    ]);
    assert_eq!(out.stdout, "");
}

// ---------------------------------------------------------------- malformed records

/// A fraud-detection job over `data`, keyed by `user`, timestamps from `ts`;
/// with `dead_letter` the bad records go to a file sink `dlq` (`dlq.jsonl`).
fn fraud_job(scratch: &Scratch, data: &str, dead_letter: bool) -> PathBuf {
    scratch.write("logins.jsonl", data);
    let dlq_source = if dead_letter {
        "dead_letter = \"dlq\"\n"
    } else {
        ""
    };
    let dlq_sink = if dead_letter {
        "\n[[sink]]\nname = \"dlq\"\ntype = \"file\"\npath = \"dlq.jsonl\"\n"
    } else {
        ""
    };
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "logins"

[[source]]
name = "logins"
type = "file"
path = "logins.jsonl"
timestamp = {{ field = "ts" }}
{dlq_source}
[[operator]]
uid = "detect"
kind = "keyed-process"
module = {module}
input = "logins"
key_by = {{ field = "user" }}

[[sink]]
name = "alerts"
type = "stdout"
input = "detect"
{dlq_sink}"#,
            module = toml_path(&wasm("fraud_detection"))
        ),
    )
}

#[track_caller]
fn malformed_record_fails(second_line: &str, reason: &str) {
    let scratch = Scratch::new();
    let data =
        format!("{{\"user\":\"a\",\"ts\":1700000000000,\"success\":false}}\n{second_line}\n");
    let job = fraud_job(&scratch, &data, false);
    let file = scratch.path("logins.jsonl");
    let out = run_quiet(&job).failure();
    out.stderr_has(&[
        "error: job `logins` failed: source `logins` (subtask 1/1) failed: malformed record at",
        &format!("{} line 2", file.display()),
        reason,
        &format!("(record: {second_line})"),
        "set `dead_letter` on the source to route such records to a sink instead",
    ]);
}

#[test]
fn record_that_is_not_json_fails_with_source_file_and_line() {
    malformed_record_fails("not json", "not valid JSON");
}

#[test]
fn record_without_timestamp_fails_with_source_file_and_line() {
    malformed_record_fails(
        r#"{"user":"b","success":false}"#,
        "timestamp field `ts` is missing",
    );
}

#[test]
fn record_without_key_fails_with_source_file_and_line() {
    malformed_record_fails(
        r#"{"ts":1700000001000,"success":false}"#,
        "key field `user` is missing",
    );
}

#[test]
fn dead_letter_sink_receives_malformed_records() {
    let scratch = Scratch::new();
    let data = concat!(
        "{\"user\":\"a\",\"ts\":1700000000000,\"success\":false}\n",
        "not json\n",
        "{\"user\":\"a\",\"ts\":1700000001000,\"success\":false}\n",
        "{\"ts\":1700000001500,\"success\":false}\n",
        "{\"user\":\"c\",\"success\":false}\n",
        "{\"user\":\"a\",\"ts\":1700000002000,\"success\":false}\n",
    );
    let job = fraud_job(&scratch, data, true);
    let out = run(&job).success();
    // The good records made it through: a's three failures give one alert.
    assert_eq!(
        out.stdout_lines(),
        [r#"{"user":"a","failures":3,"first_ts":1700000000000,"last_ts":1700000002000}"#],
        "{}",
        out.describe()
    );
    assert_eq!(out.summary_counts("source", "logins"), (0, 3));
    assert_eq!(out.summary_counts("sink", "dlq"), (3, 0));

    let dead = json_lines(&file_lines(&scratch.path("dlq.jsonl")));
    assert_eq!(dead.len(), 3, "one dead letter per bad record: {dead:?}");
    let expect = [
        (2, "not json", "not valid JSON"),
        (
            4,
            r#"{"ts":1700000001500,"success":false}"#,
            "key field `user` is missing",
        ),
        (
            5,
            r#"{"user":"c","success":false}"#,
            "timestamp field `ts` is missing",
        ),
    ];
    for (letter, (line, record, reason)) in dead.iter().zip(expect) {
        let field = |name: &str| {
            letter[name]
                .as_str()
                .unwrap_or_else(|| panic!("dead letter without string `{name}`: {letter}"))
                .to_string()
        };
        assert!(field("reason").contains(reason), "{letter}");
        assert!(
            field("position").starts_with(&format!("line {line} ")),
            "{letter}"
        );
        assert_eq!(field("record"), record, "{letter}");
        assert_eq!(field("source"), "logins", "{letter}");
    }
}

// ---------------------------------------------------------------- validate, inspect

/// A good enrich job whose sink is a file, to show that validate runs nothing.
fn enrich_to_file(scratch: &Scratch, module: &Path, kind: &str) -> PathBuf {
    scratch.write(
        "purchases.jsonl",
        "{\"id\":1,\"user\":\"u1\",\"amount\":12.5,\"currency\":\"usd\",\"country\":\"de\"}\n",
    );
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "enrich"

[[source]]
name = "purchases"
type = "file"
path = "purchases.jsonl"

[[operator]]
uid = "enrich"
kind = "{kind}"
module = {module}
input = "purchases"
config = {{ rates = {{ usd = 0.92 }} }}

[[sink]]
name = "out"
type = "file"
path = "out.jsonl"
input = "enrich"
"#,
            module = toml_path(module)
        ),
    )
}

#[test]
fn validate_accepts_a_good_job_without_running_it() {
    let scratch = Scratch::new();
    let job = enrich_to_file(&scratch, &wasm("enrich_map"), "map");
    let out = validate(&job).success();
    assert_eq!(
        out.stdout,
        "job.toml: job `enrich` is valid (1 sources, 1 operators, 1 sinks)\n",
        "{}",
        out.describe()
    );
    assert!(
        !scratch.path("out.jsonl").exists(),
        "validate must not run the job"
    );

    // The same job does run (so the check above is meaningful).
    run_quiet(&job).success();
    assert_eq!(file_lines(&scratch.path("out.jsonl")).len(), 1);
}

#[test]
fn validate_rejects_a_wrong_world_without_running_anything() {
    let scratch = Scratch::new();
    let module = wasm("count_aggregate");
    let job = enrich_to_file(&scratch, &module, "map");
    let out = validate(&job).failure();
    out.stderr_has(&[
        "error: job `enrich` is not valid",
        "caused by: operator `enrich`",
        "is a function of kind `aggregate` (world `aggregate`), but the operator is declared `kind = \"map\"`",
    ]);
    assert_eq!(out.stdout, "");
    assert!(
        !scratch.path("out.jsonl").exists(),
        "validate must not run the job"
    );
}

#[test]
fn inspect_shows_world_kind_and_state() {
    let module = wasm("fraud_detection");
    let out = eddy(&["inspect", path_str(&module)], &repo_root(), None).success();
    let lines = out.stdout_lines();
    for expected in [
        format!("module:       {}", module.display()),
        "world:        eddy:dataflow/keyed-process".to_string(),
        "kind:         keyed-process".to_string(),
        "export:       eddy:dataflow/keyed-process-function@0.1.0".to_string(),
    ] {
        assert!(
            lines.contains(&expected),
            "missing line {expected:?}\n{}",
            out.describe()
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("state:") && l.contains("failures")),
        "no `state:` line for `failures`\n{}",
        out.describe()
    );
}

#[test]
fn inspect_measures_an_instance_or_says_why_it_cannot() {
    let out = eddy(
        &["inspect", path_str(&wasm("fraud_detection"))],
        &repo_root(),
        None,
    )
    .success();
    assert!(
        out.stdout.contains("instantiate:  first ")
            && out.stdout.contains(" of linear memory after `init`"),
        "{}",
        out.describe()
    );
    // enrich-map needs a JSON config, which `eddy inspect` has not got.
    let out = eddy(
        &["inspect", path_str(&wasm("enrich_map"))],
        &repo_root(),
        None,
    )
    .success();
    assert!(
        out.stdout.contains(
            "instantiate:  not measured: `init` with an empty config failed: guest returned an error: this function needs a JSON config"
        ),
        "{}",
        out.describe()
    );
}

#[test]
fn inspect_rejects_a_core_module() {
    let scratch = Scratch::new();
    let module = scratch.write("core.wasm", b"\0asm\x01\0\0\0");
    let out = eddy(&["inspect", "core.wasm"], scratch.dir.path(), None).failure();
    out.stderr_has(&["core.wasm is a core WebAssembly module, not a component"]);
    assert_eq!(out.stdout, "");
    let _ = module;
}

/// A job whose graph has every kind of edge but broadcast: a chained map,
/// a hash exchange into a keyed window at another parallelism, a side
/// output and dead letters.
fn graph_job(scratch: &Scratch) -> PathBuf {
    scratch.write("in.jsonl", "");
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "shop"
max_parallelism = 64

[[source]]
name = "orders"
type = "file"
path = "in.jsonl"
timestamp = {{ field = "ts" }}
dead_letter = "bad"

[[operator]]
uid = "enrich"
kind = "map"
module = {map}
input = "orders"
on_failure = "dead-letter"
dead_letter = "bad"

[[operator]]
uid = "totals"
kind = "aggregate"
module = {aggregate}
input = "enrich"
key_by = {{ field = "user.id" }}
window = {{ type = "tumbling", size = "1m" }}
parallelism = 2

[[sink]]
name = "out"
type = "stdout"
input = "totals"

[[sink]]
name = "late"
type = "discard"
input = "totals/late"

[[sink]]
name = "bad"
type = "discard"
"#,
            map = toml_path(&wasm("enrich_map")),
            aggregate = toml_path(&wasm("count_aggregate")),
        ),
    )
}

#[test]
fn inspect_prints_a_job_files_graph() {
    let scratch = Scratch::new();
    graph_job(&scratch);
    let out = eddy(&["inspect", "job.toml"], scratch.dir.path(), None).success();
    assert_eq!(
        out.stdout,
        "\
job `shop`: 2 task groups, max parallelism 64

task group `orders` (parallelism 1)
  source    orders (file)
  operator  enrich (map)
  sink      bad (discard)

task group `totals` (parallelism 2)
  operator  totals (aggregate), side outputs: late
  sink      out (stdout)
  sink      late (discard)

edges
  orders -> enrich              forward (chained)
  enrich -> totals              hash exchange by field `user.id`
  totals -> out                 forward (chained)
  totals/late -> late           forward (chained)
  orders (dead letters) -> bad  forward (chained)
  enrich (dead letters) -> bad  forward (chained)
",
        "{}",
        out.describe()
    );
}

#[test]
fn inspect_json_prints_the_serialised_graph() {
    let scratch = Scratch::new();
    graph_job(&scratch);
    let out = eddy(&["inspect", "--json", "job.toml"], scratch.dir.path(), None).success();
    let graph: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|error| panic!("not JSON: {error}\n{}", out.describe()));
    assert_eq!(graph["job"], "shop");
    assert_eq!(
        graph["task_groups"],
        serde_json::json!([
            { "head": "orders", "parallelism": 1, "nodes": ["orders", "enrich", "bad"] },
            { "head": "totals", "parallelism": 2, "nodes": ["totals", "out", "late"] },
        ])
    );
    let edges = graph["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 6, "{}", out.stdout);
    assert_eq!(
        edges[1],
        serde_json::json!({
            "from": "enrich", "output": "main", "to": "totals", "input": "first",
            "partitioning": { "type": "hash", "key": { "field": ["user", "id"] } },
        })
    );
    assert_eq!(edges[3]["output"], serde_json::json!({ "side": "late" }));
    assert_eq!(edges[5]["output"], "dead-letters");
    assert_eq!(
        graph["nodes"][2],
        serde_json::json!({
            "id": "totals", "role": "operator", "kind": "aggregate",
            "parallelism": 2, "side_outputs": ["late"],
        })
    );
}

#[test]
fn inspect_says_what_it_expected_of_a_path_it_cannot_inspect() {
    let scratch = Scratch::new();
    scratch.write("notes.txt", "not a job");
    std::fs::create_dir(scratch.path("folder")).unwrap();
    scratch.write("enrich.wasm", std::fs::read(wasm("enrich_map")).unwrap());
    for (args, message) in [
        (
            &["inspect", "notes.txt"][..],
            "error: notes.txt is neither a job file nor a WebAssembly module: expected a `.toml` job file, or a `.wasm` file (or one starting with the WebAssembly magic bytes `\\0asm`)\n",
        ),
        (
            &["inspect", "folder"][..],
            "error: folder is a folder, but not a savepoint or checkpoint (`savepoint-<n>`, `chk-<n>`); expected one of those, a job file (.toml) or a WebAssembly module (.wasm)\n",
        ),
        (
            &["inspect", "missing.toml"][..],
            "error: missing.toml: No such file or directory (os error 2)\n",
        ),
        (
            &["inspect", "--json", "enrich.wasm"][..],
            "error: enrich.wasm is a WebAssembly module; `--json` prints the graph of a job file (.toml)\n",
        ),
    ] {
        let out = eddy(args, scratch.dir.path(), None).failure();
        assert_eq!(out.stderr, message, "{}", out.describe());
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn inspect_takes_a_module_without_its_extension_by_its_first_bytes() {
    let scratch = Scratch::new();
    scratch.write("enrich", std::fs::read(wasm("enrich_map")).unwrap());
    let out = eddy(&["inspect", "enrich"], scratch.dir.path(), None).success();
    assert!(
        out.stdout_lines()
            .contains(&"kind:         map".to_string()),
        "{}",
        out.describe()
    );
}

#[test]
fn failed_job_summary_does_not_claim_it_finished() {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, r#"{ mode = "error" }"#, "");
    let out = run(&job).failure();
    out.stderr_has(&["guest returned an error: faulty guest: refused record"]);
    assert!(
        !out.stderr.contains("finished in 0.00ns"),
        "a failed job is reported as finished, in zero time\n{}",
        out.describe()
    );
}

#[test]
fn a_sink_on_a_full_disk_fails_the_job_naming_the_sink_and_the_cause() {
    // `/dev/full` answers every write with ENOSPC, as a full disk does.
    let scratch = Scratch::new();
    let job = scratch.write(
        "job.toml",
        r#"[job]
name = "full-disk"

[[source]]
name = "events"
type = "generator"
format = "binary-event"
[source.generator]
count = 100000

[[sink]]
name = "out"
type = "file"
path = "/dev/full"
input = "events"
"#,
    );
    let out = run(&job).failure();
    out.stderr_has(&[
        "job `full-disk` failed: sink `out` (subtask 1/1) failed: write failed: No space left on device",
    ]);
}
