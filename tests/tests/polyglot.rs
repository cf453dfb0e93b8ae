//! One contract, three languages: the examples written in Rust
//! (`guest-sdk/`), Python (`guest-sdk-python/`) and JavaScript
//! (`guest-sdk-js/`) give byte-identical outputs, equal to the example's
//! `data/expected-*.jsonl`, at parallelism 1 and 2; a guest that raises or
//! throws is reported with its language's own message, the operator and
//! the record; and a job's second start finds its compiled components in
//! the compiled-module cache.
//!
//! The cross-language live swap (a Rust function swapped for its Python
//! and its JavaScript version, state kept) is in `swap.rs`, beside the
//! swap tests it shares its job and oracle with.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A guest language and how its example files and components are named.
#[derive(Debug, Clone, Copy)]
struct Language {
    name: &'static str,
    /// The example's job file running this language's components.
    job_file: &'static str,
    /// Appended to a component's name: `fraud_detection_py.wasm`.
    suffix: &'static str,
}

const RUST: Language = Language {
    name: "Rust",
    job_file: "job.toml",
    suffix: "",
};
const PYTHON: Language = Language {
    name: "Python",
    job_file: "job-python.toml",
    suffix: "_py",
};
const JS: Language = Language {
    name: "JavaScript",
    job_file: "job-js.toml",
    suffix: "_js",
};
const LANGUAGES: [Language; 3] = [RUST, PYTHON, JS];

/// How an example's output is compared with its expected lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// At parallelism 1 the lines come in input order, so they must be
    /// exactly the expected lines; at 2, the same lines in any order.
    InputOrderAtParallelism1,
    /// Windows of different keys fire together in any order: the same
    /// lines in any order at every parallelism.
    Any,
}

struct Example {
    name: &'static str,
    components: &'static [&'static str],
    expected: &'static str,
    order: Order,
}

const FRAUD_DETECTION: Example = Example {
    name: "fraud-detection",
    components: &["fraud_detection"],
    expected: "expected-alerts.jsonl",
    order: Order::InputOrderAtParallelism1,
};
const WORD_COUNT: Example = Example {
    name: "word-count",
    components: &["word_split", "word_count"],
    expected: "expected-counts.jsonl",
    order: Order::InputOrderAtParallelism1,
};
const TOP_K: Example = Example {
    name: "top-k",
    components: &["top_k"],
    expected: "expected-top.jsonl",
    order: Order::Any,
};

/// The example's job file for `language`, with absolute paths and
/// `[job] parallelism = p`, checked to run that language's components.
fn job_for(scratch: &Scratch, example: &Example, language: Language, parallelism: u32) -> PathBuf {
    for component in example.components {
        wasm(&format!("{component}{}", language.suffix));
    }
    let file = example_dir(example).join(language.job_file);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    for component in example.components {
        let module = format!("{component}{}.wasm", language.suffix);
        assert!(
            text.contains(&format!("/{module}\"")),
            "{} runs {module}:\n{text}",
            file.display()
        );
    }
    let text = with_job_parallelism(
        &with_absolute_paths(&text, &example_dir(example)),
        parallelism,
    );
    scratch.write(
        &format!("{}-{}-p{parallelism}.toml", example.name, language.suffix),
        text,
    )
}

fn example_dir(example: &Example) -> PathBuf {
    common::example(example.name)
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// Run `example` in every language at parallelism 1 and 2; each output
/// must be the expected lines byte for byte (in order where the order is
/// defined), so the three languages' outputs are identical.
fn same_output_in_every_language(example: &Example) {
    let expected = file_lines(&example_dir(example).join("data").join(example.expected));
    assert!(!expected.is_empty(), "{} has expected lines", example.name);
    let scratch = Scratch::new();
    for parallelism in [1, 2] {
        for language in LANGUAGES {
            let job = job_for(&scratch, example, language, parallelism);
            let out = run_quiet(&job).success();
            let got = out.stdout_lines();
            let in_order = example.order == Order::InputOrderAtParallelism1 && parallelism == 1;
            let (got, want) = if in_order {
                (got, expected.clone())
            } else {
                (sorted(got), sorted(expected.clone()))
            };
            assert_eq!(
                got,
                want,
                "{} in {} at parallelism {parallelism}: output differs from data/{}\n{}",
                example.name,
                language.name,
                example.expected,
                out.describe()
            );
        }
    }
}

#[test]
fn fraud_detection_alerts_are_identical_in_rust_python_and_javascript_at_p1_and_p2() {
    same_output_in_every_language(&FRAUD_DETECTION);
}

#[test]
fn word_counts_are_identical_in_rust_python_and_javascript_at_p1_and_p2() {
    same_output_in_every_language(&WORD_COUNT);
}

#[test]
fn top_k_rankings_are_identical_in_rust_python_and_javascript_at_p1_and_p2() {
    same_output_in_every_language(&TOP_K);
}

// ---------------------------------------------------------------- failures

const FAULTY_INPUT: &str = "{\"a\":\"ok\"}\n{\"a\":\"boom\"}\n{\"a\":\"after\"}\n";

/// A map of `faulty{suffix}` that fails on the record holding `boom`.
fn faulty_job(scratch: &Scratch, language: Language) -> PathBuf {
    scratch.write("in.jsonl", FAULTY_INPUT);
    scratch.write(
        &format!("faulty{}.toml", language.suffix),
        format!(
            r#"[job]
name = "faulty"

[[source]]
name = "src"
type = "file"
path = "in.jsonl"

[[operator]]
uid = "parse"
kind = "map"
module = {module}
input = "src"
config = {{ mode = "panic-on", needle = "boom" }}

[[sink]]
name = "out"
type = "stdout"
input = "parse"
"#,
            module = toml_path(&wasm(&format!("faulty{}", language.suffix)))
        ),
    )
}

/// The job fails, naming the operator and subtask, the guest's own
/// message, and the record; nothing after the record is output.
#[track_caller]
fn fails_with(language: Language, message: &[&str]) {
    let scratch = Scratch::new();
    let job = faulty_job(&scratch, language);
    let out = run_quiet(&job).failure();
    let mut needles = vec!["error: job `faulty` failed: operator `parse` (subtask 1/1) failed: "];
    needles.extend_from_slice(message);
    needles.push("on record: {\"a\":\"boom\"}");
    out.stderr_has(&needles);
    assert!(
        !out.stdout.contains("after"),
        "no record after the failing one is output\n{}",
        out.describe()
    );
}

#[test]
fn a_python_guest_that_raises_is_reported_with_the_python_exception_and_the_record() {
    fails_with(
        PYTHON,
        &["ValueError: faulty guest: found boom", "faulty.py"],
    );
}

#[test]
fn a_javascript_guest_that_throws_is_reported_with_the_javascript_error_and_the_record() {
    fails_with(JS, &["Error: faulty guest: found boom"]);
}

// ---------------------------------------------------------------- compiled-module cache

/// A Python component takes seconds to compile; the second start of a job
/// loads it from the compiled-module cache instead. Shown by `eddy inspect`,
/// which says which it did (no wall-clock assertion: README has the times).
#[test]
fn the_second_load_of_a_python_and_a_javascript_component_comes_from_the_compiled_module_cache() {
    for language in [PYTHON, JS] {
        let scratch = Scratch::new();
        let cache = scratch.path("cache");
        let module = wasm(&format!("fraud_detection{}", language.suffix));
        let inspect = |what: &str| {
            let out = eddy_with_env(
                &["inspect", path_str(&module)],
                scratch.dir.path(),
                None,
                HANG_LIMIT,
                &[("EDDY_CACHE_DIR", path_str(&cache))],
            )
            .success();
            let load = out
                .stdout
                .lines()
                .find(|line| line.starts_with("load:"))
                .unwrap_or_else(|| panic!("{what}: no load line\n{}", out.describe()))
                .to_string();
            (load, out)
        };
        let (first, out) = inspect("first load");
        assert!(
            first.ends_with("compiled (now in the compiled-module cache)"),
            "{}: the first load compiles: {first}\n{}",
            language.name,
            out.describe()
        );
        assert_eq!(
            cache_entries(&cache),
            1,
            "{}: one compiled module in the cache",
            language.name
        );
        let (second, out) = inspect("second load");
        assert!(
            second.ends_with("from the compiled-module cache"),
            "{}: the second load does not compile: {second}\n{}",
            language.name,
            out.describe()
        );
        assert!(
            out.stdout.contains("kind:         keyed-process"),
            "{}",
            out.describe()
        );
    }
}

fn cache_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().extension().is_some_and(|e| e == "cwasm"))
                .count()
        })
        .unwrap_or(0)
}
