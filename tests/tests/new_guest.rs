//! `eddy new`: the crate it makes builds into a component, the job file it
//! writes validates and runs on the sample data with the expected output,
//! and its native test passes; bad names and folders are refused. The
//! Python and JavaScript projects of every kind (`--lang python|js`) test,
//! build, validate and print the same lines as the Rust crate.
//!
//! The guests are built with the real cargo into one target folder beside
//! this test's (`<target>/eddy-new-guests`), kept between runs, so their
//! dependencies compile once: measured on two busy cores, the whole file
//! took 140 s the first time (serde and wit-bindgen for both targets) and
//! 23 s after (eight components built, validated and run, one native test).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Every kind `eddy new` makes, with the sorted lines its job prints on the
/// sample data (every sink is stdout).
const KINDS: [(&str, &[&str]); 8] = [
    (
        "map",
        &[
            r#"{"user":"alice","page":"/checkout","ts":1700000041000}"#,
            r#"{"user":"alice","page":"/home","ts":1700000000000}"#,
            r#"{"user":"alice","page":"/products/42","ts":1700000012000}"#,
            r#"{"user":"bob","page":"/checkout","ts":1700000075000}"#,
            r#"{"user":"bob","page":"/products/42","ts":1700000005000}"#,
            r#"{"user":"bob","page":"/products/7","ts":1700000059000}"#,
            r#"{"user":"carol","page":"/home","ts":1700000030000}"#,
            r#"{"user":"carol","page":"/products/42","ts":1700000090000}"#,
        ],
    ),
    (
        "filter",
        &[
            r#"{"user":"alice","page":"/products/42","ts":1700000012000}"#,
            r#"{"user":"bob","page":"/products/42?ref=ad","ts":1700000005000}"#,
            r#"{"user":"bob","page":"/products/7","ts":1700000059000}"#,
            r#"{"user":"carol","page":"/products/42","ts":1700000090000}"#,
        ],
    ),
    (
        "flat-map",
        &[
            r#"{"user":"alice","segment":"42"}"#,
            r#"{"user":"alice","segment":"checkout"}"#,
            r#"{"user":"alice","segment":"home"}"#,
            r#"{"user":"alice","segment":"products"}"#,
            r#"{"user":"bob","segment":"42"}"#,
            r#"{"user":"bob","segment":"7"}"#,
            r#"{"user":"bob","segment":"checkout"}"#,
            r#"{"user":"bob","segment":"products"}"#,
            r#"{"user":"bob","segment":"products"}"#,
            r#"{"user":"carol","segment":"42"}"#,
            r#"{"user":"carol","segment":"Home"}"#,
            r#"{"user":"carol","segment":"products"}"#,
        ],
    ),
    (
        "keyed-process",
        &[
            r#"{"user":"alice","clicks":1}"#,
            r#"{"user":"alice","clicks":2}"#,
            r#"{"user":"alice","clicks":3}"#,
            r#"{"user":"bob","clicks":1}"#,
            r#"{"user":"bob","clicks":2}"#,
            r#"{"user":"bob","clicks":3}"#,
            r#"{"user":"carol","clicks":1}"#,
            r#"{"user":"carol","clicks":2}"#,
        ],
    ),
    (
        "co-process",
        &[
            r#"{"user":"alice","start":1699999980000,"clicks":2,"purchases":0,"spent":0}"#,
            r#"{"user":"alice","start":1700000040000,"clicks":1,"purchases":1,"spent":30}"#,
            r#"{"user":"bob","start":1699999980000,"clicks":1,"purchases":0,"spent":0}"#,
            r#"{"user":"bob","start":1700000040000,"clicks":2,"purchases":2,"spent":17}"#,
            r#"{"user":"carol","start":1699999980000,"clicks":1,"purchases":0,"spent":0}"#,
            r#"{"user":"carol","start":1700000040000,"clicks":1,"purchases":0,"spent":0}"#,
        ],
    ),
    (
        "broadcast-process",
        &[
            r#"{"user":"alice","page":"/checkout","ts":1700000041000,"label":"buying"}"#,
            r#"{"user":"alice","page":"/home","ts":1700000000000}"#,
            r#"{"user":"alice","page":"/products/42","ts":1700000012000,"label":"browsing"}"#,
            r#"{"user":"bob","page":"/checkout","ts":1700000075000,"label":"buying"}"#,
            r#"{"user":"bob","page":"/products/42?ref=ad","ts":1700000005000}"#,
            r#"{"user":"bob","page":"/products/7","ts":1700000059000}"#,
            r#"{"user":"carol","page":"/Home","ts":1700000030000}"#,
            r#"{"user":"carol","page":"/products/42","ts":1700000090000,"label":"browsing"}"#,
        ],
    ),
    (
        "aggregate",
        &[
            r#"{"user":"alice","start":1699999980000,"end":1700000040000,"clicks":2}"#,
            r#"{"user":"alice","start":1700000040000,"end":1700000100000,"clicks":1}"#,
            r#"{"user":"bob","start":1699999980000,"end":1700000040000,"clicks":1}"#,
            r#"{"user":"bob","start":1700000040000,"end":1700000100000,"clicks":2}"#,
            r#"{"user":"carol","start":1699999980000,"end":1700000040000,"clicks":1}"#,
            r#"{"user":"carol","start":1700000040000,"end":1700000100000,"clicks":1}"#,
        ],
    ),
    (
        "window-process",
        &[
            r#"{"user":"alice","start":1699999980000,"end":1700000040000,"pages":["/home","/products/42"]}"#,
            r#"{"user":"alice","start":1700000040000,"end":1700000100000,"pages":["/checkout"]}"#,
            r#"{"user":"bob","start":1699999980000,"end":1700000040000,"pages":["/products/42?ref=ad"]}"#,
            r#"{"user":"bob","start":1700000040000,"end":1700000100000,"pages":["/checkout","/products/7"]}"#,
            r#"{"user":"carol","start":1699999980000,"end":1700000040000,"pages":["/Home"]}"#,
            r#"{"user":"carol","start":1700000040000,"end":1700000100000,"pages":["/products/42"]}"#,
        ],
    ),
];

/// The target folder the generated guests share, beside this test's own.
fn guests_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test executable lives in <target>/<profile>/deps");
    target.join("eddy-new-guests")
}

/// `cargo <args>` in `crate_dir` with the shared target folder; fails the
/// test with cargo's output unless it succeeds.
#[track_caller]
fn cargo(crate_dir: &Path, args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = guests_target_dir();
    program(
        crate_dir,
        &cargo.to_string_lossy(),
        args,
        &[("CARGO_TARGET_DIR", path_str(&target))],
    )
}

/// `eddy new NAME --kind KIND` in `dir`, then the examples' lock file beside
/// the new Cargo.toml, so that the build resolves the versions already in
/// the cargo cache instead of asking the registry.
fn new_crate(dir: &Path, name: &str, kind: &str) -> PathBuf {
    eddy(&["new", name, "--kind", kind], dir, None).success();
    let crate_dir = dir.join(name);
    std::fs::copy(
        examples_dir().join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .expect("copy Cargo.lock");
    crate_dir
}

#[test]
fn every_kind_builds_validates_and_runs_on_its_sample() {
    let scratch = Scratch::new();
    for (kind, expected) in KINDS {
        let name = format!("my-{kind}");
        let crate_dir = new_crate(scratch.dir.path(), &name, kind);
        cargo(
            &crate_dir,
            &["build", "--release", "--target", "wasm32-wasip2", "--quiet"],
        );
        // Where the job file looks for it without CARGO_TARGET_DIR.
        let wasm = format!("{}.wasm", name.replace('-', "_"));
        let built = guests_target_dir()
            .join("wasm32-wasip2/release")
            .join(&wasm);
        let place = crate_dir.join("target/wasm32-wasip2/release");
        std::fs::create_dir_all(&place).unwrap();
        std::fs::copy(&built, place.join(&wasm)).expect("copy the component");
        validates_and_runs(&crate_dir, kind, expected);
    }
}

/// Run `program args` in `dir`; fails the test with its output unless it
/// succeeds, else returns stdout and stderr.
#[track_caller]
fn program(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("start {program}: {error}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed in {}:\n{text}",
        dir.display()
    );
    text
}

/// The folder a setup script prints as its last line on stdout (its
/// progress goes to stderr): the tools it set up.
fn setup_folder(script: &str) -> PathBuf {
    let output = Command::new("bash")
        .arg(script)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|error| panic!("start {script}: {error}"));
    assert!(
        output.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// The project's job file validates, and its job prints `expected` (sorted)
/// on the sample: for Python and JavaScript projects, the Rust crate's lines.
#[track_caller]
fn validates_and_runs(project: &Path, kind: &str, expected: &[&str]) {
    let job = project.join("job.toml");
    let valid = validate(&job).success();
    assert!(
        valid.stdout.contains("is valid"),
        "{kind}: {}",
        valid.describe()
    );
    let out = run_quiet(&job).success();
    let mut lines = out.stdout_lines();
    lines.sort();
    assert_eq!(lines, expected, "{kind}: {}", out.describe());
}

/// Several minutes on a fresh machine: eight Python components of about
/// 20 MB, each built (about 9 s) and compiled by eddy (about 10 s) once.
#[test]
fn every_python_kind_tests_builds_validates_and_runs_like_its_rust_twin() {
    let scratch = Scratch::new();
    let python = setup_folder("scripts/setup-python-guests.sh").join("python");
    let python = path_str(&python);
    let sdk = repo_root().join("guest-sdk-python");
    for (kind, expected) in KINDS {
        let name = format!("my-{kind}");
        let module = name.replace('-', "_");
        eddy(
            &["new", &name, "--lang", "python", "--kind", kind],
            scratch.dir.path(),
            None,
        )
        .success();
        let project = scratch.path(&name);
        let tested = program(
            &project,
            python,
            &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
            &[("PYTHONPATH", path_str(&sdk))],
        );
        assert!(tested.contains("passed"), "{kind}: {tested}");
        program(
            &project,
            path_str(&sdk.join("eddy-py-build")),
            &[
                &format!("{module}.py"),
                "--kind",
                kind,
                "-o",
                &format!("{module}.wasm"),
            ],
            &[],
        );
        validates_and_runs(&project, kind, expected);
    }
}

#[test]
fn every_javascript_kind_tests_builds_validates_and_runs_like_its_rust_twin() {
    let scratch = Scratch::new();
    // Node 20 or later: the one the setup script says (it fetches one
    // where the system's is older).
    let node_bin = setup_folder("scripts/setup-js-guests.sh");
    let path = format!(
        "{}:{}",
        node_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    for (kind, expected) in KINDS {
        let name = format!("my-{kind}");
        eddy(
            &["new", &name, "--lang", "js", "--kind", kind],
            scratch.dir.path(),
            None,
        )
        .success();
        let project = scratch.path(&name);
        // The one dependency is the SDK of this checkout, linked by path.
        program(
            &project,
            "npm",
            &[
                "install",
                "--offline",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            &env,
        );
        let tested = program(&project, "npm", &["test"], &env);
        assert!(tested.contains("# fail 0"), "{kind}: {tested}");
        program(&project, "npm", &["run", "build"], &env);
        validates_and_runs(&project, kind, expected);
    }
}

#[test]
fn the_generated_native_test_passes() {
    let scratch = Scratch::new();
    let crate_dir = new_crate(scratch.dir.path(), "counter", "keyed-process");
    let output = cargo(&crate_dir, &["test"]);
    assert!(
        output
            .contains("test tests::each_click_of_the_sample_gives_its_users_running_count ... ok"),
        "{output}"
    );
}

#[test]
fn the_crate_depends_on_this_checkouts_sdk_unless_told_otherwise() {
    let scratch = Scratch::new();
    let out = eddy(&["new", "x", "--kind", "map"], scratch.dir.path(), None).success();
    assert!(
        out.stdout.contains("Created `x`, a map function"),
        "{}",
        out.describe()
    );
    let manifest = std::fs::read_to_string(scratch.path("x/Cargo.toml")).unwrap();
    let sdk = repo_root().join("guest-sdk").canonicalize().unwrap();
    assert!(
        manifest.contains(&format!("eddy-sdk = {{ path = {} }}", toml_path(&sdk))),
        "{manifest}"
    );
    for file in [
        "src/lib.rs",
        "job.toml",
        "data/clicks.jsonl",
        "README.md",
        ".gitignore",
    ] {
        assert!(scratch.path("x").join(file).is_file(), "{file}");
    }

    let other = scratch.path("other-sdk");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("Cargo.toml"), "[package]\nname = \"eddy-sdk\"\n").unwrap();
    eddy(
        &["new", "y", "--kind", "map", "--sdk-path", path_str(&other)],
        scratch.dir.path(),
        None,
    )
    .success();
    let manifest = std::fs::read_to_string(scratch.path("y/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!(
            "eddy-sdk = {{ path = {} }}",
            toml_path(&other.canonicalize().unwrap())
        )),
        "{manifest}"
    );
}

/// `eddy new args` in a scratch folder fails with exactly `message` on stderr
/// and writes nothing new.
#[track_caller]
fn refused(scratch: &Scratch, args: &[&str], message: &str) {
    let before = std::fs::read_dir(scratch.dir.path()).unwrap().count();
    let out = eddy(args, scratch.dir.path(), None);
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert_eq!(out.stderr, format!("{message}\n"), "{}", out.describe());
    let after = std::fs::read_dir(scratch.dir.path()).unwrap().count();
    assert_eq!(before, after, "nothing is written");
}

#[test]
fn bad_names_folders_kinds_and_sdk_paths_are_refused_with_what_to_do() {
    let scratch = Scratch::new();
    scratch.write("taken/src/lib.rs", "");
    refused(
        &scratch,
        &["new", "taken", "--kind", "map"],
        "error: taken already exists and is not empty; choose another name, or remove it first",
    );
    scratch.write("file", "");
    refused(
        &scratch,
        &["new", "file", "--kind", "map"],
        "error: file exists and is not a folder",
    );
    refused(
        &scratch,
        &["new", "9lives", "--kind", "map"],
        "error: `9lives` cannot be a crate name: use letters, digits, `-` and `_`, starting with a letter",
    );
    refused(
        &scratch,
        &["new", "fn", "--kind", "map"],
        "error: `fn` cannot be a crate name: it is reserved by Rust or eddy; choose another",
    );
    refused(
        &scratch,
        &["new", "x", "--kind", "map", "--sdk-path", "nowhere"],
        "error: nowhere is not the eddy Rust guest SDK (no `eddy-sdk` in its Cargo.toml); give the `guest-sdk` folder of an eddy checkout",
    );
    refused(
        &scratch,
        &[
            "new",
            "aggregate",
            "--lang",
            "python",
            "--kind",
            "aggregate",
        ],
        "error: `aggregate` would make a module `aggregate.py` that hides the `aggregate` module the build or the eddy SDK imports; choose another",
    );
    refused(
        &scratch,
        &["new", "lambda", "--lang", "python", "--kind", "map"],
        "error: `lambda` cannot name a Python module (`lambda` is a Python keyword); choose another",
    );
    refused(
        &scratch,
        &[
            "new",
            "x",
            "--lang",
            "python",
            "--kind",
            "map",
            "--sdk-path",
            "guest-sdk",
        ],
        "error: guest-sdk is not the eddy Python guest SDK (no `eddy-sdk` in its pyproject.toml); give the `guest-sdk-python` folder of an eddy checkout",
    );
    let out = eddy(
        &["new", "x", "--kind", "interval-join"],
        scratch.dir.path(),
        None,
    );
    assert_eq!(out.code(), 2, "a usage error, from clap");
    assert!(
        out.stderr.contains("invalid value 'interval-join' for '--kind <KIND>'")
            && out.stderr.contains("[possible values: map, filter, flat-map, keyed-process, co-process, broadcast-process, aggregate, window-process]"),
        "{}",
        out.describe()
    );
    // An empty folder is fine.
    std::fs::create_dir(scratch.path("empty")).unwrap();
    eddy(
        &["new", "empty", "--kind", "filter"],
        scratch.dir.path(),
        None,
    )
    .success();
}
