//! Helpers shared by the end-to-end tests: locate the `eddy` binary and the
//! example components, write job files into temporary directories, run the
//! binary with a safety timeout, and compare JSON-lines outputs.

#![allow(dead_code)] // each test file uses a different subset

pub mod background;
pub mod counting_job;
pub mod failing_job;
pub mod kafka_broker;
pub mod kills;
pub mod live;
pub mod redis_server;
pub mod server;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A run that takes longer than this is a hung process: it is killed and the
/// test fails. It is a safety net, not a performance assertion.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Every file below `dir`, at any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `examples-wasm/<rel>` as an absolute path.
pub fn examples_dir() -> PathBuf {
    repo_root().join("examples-wasm")
}

/// The directory of one example (`fraud-detection`, `word-count`, ...).
pub fn example(name: &str) -> PathBuf {
    examples_dir().join(name)
}

/// The absolute path of a built example component, e.g. `wasm("faulty")`.
/// Fails with a hint to build the guests when it is missing.
pub fn wasm(name: &str) -> PathBuf {
    let path = examples_dir().join("wasm").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "missing guest component {}: run `bash scripts/build-guests.sh` first",
        path.display()
    );
    path
}

/// The `eddy` binary: `$EDDY_BIN`, else `eddy` in the profile directory of
/// this test executable (`target/release/deps/xxx` -> `target/release/eddy`).
pub fn eddy_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("EDDY_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "EDDY_BIN={} does not exist", bin.display());
        return bin;
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps");
    let bin = profile_dir.join(format!("eddy{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "missing eddy binary {}: run `cargo build --release --bins --features rocksdb` first (or set EDDY_BIN)",
        bin.display()
    );
    bin
}

/// What a finished `eddy` process left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code; fails the test if the process died of a signal.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!(
                "eddy was killed by a signal ({:?}), it must exit with a code\n{}",
                self.status,
                self.describe()
            ),
        }
    }

    /// Stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "--- status: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code(), 0, "eddy failed\n{}", self.describe());
        self
    }

    /// Asserts exit code 1 (an error reported to the user, not a crash) and
    /// returns self.
    #[track_caller]
    pub fn failure(self) -> Self {
        assert_eq!(
            self.code(),
            1,
            "eddy should have failed with exit code 1\n{}",
            self.describe()
        );
        self
    }

    /// Asserts that stderr contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr should contain {needle:?}\n{}",
                self.describe()
            );
        }
        self
    }

    /// Stdout as non-empty lines.
    pub fn stdout_lines(&self) -> Vec<String> {
        lines(&self.stdout)
    }

    /// `(records in, records out)` of node `name` from the run summary on stderr
    /// (`  source   gen   x2   in   0  out   1000`).
    #[track_caller]
    pub fn summary_counts(&self, role: &str, name: &str) -> (u64, u64) {
        for line in self.stderr.lines() {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens.len() >= 7
                && tokens[0] == role
                && tokens[1] == name
                && tokens[3] == "in"
                && tokens[5] == "out"
            {
                let parse = |t: &str| {
                    t.parse::<u64>()
                        .unwrap_or_else(|_| panic!("bad count {t:?} in summary line {line:?}"))
                };
                return (parse(tokens[4]), parse(tokens[6]));
            }
        }
        panic!("no summary line for {role} `{name}`\n{}", self.describe());
    }
}

/// Run `eddy <args>` in `cwd`, feeding `stdin` (empty if `None`), and wait
/// for it (at most [`HANG_LIMIT`]).
pub fn eddy(args: &[&str], cwd: &Path, stdin: Option<&str>) -> Output {
    eddy_within(args, cwd, stdin, HANG_LIMIT)
}

/// [`eddy`] for a run known to be long: killed only after `limit`.
pub fn eddy_within(args: &[&str], cwd: &Path, stdin: Option<&str>, limit: Duration) -> Output {
    eddy_with_env(args, cwd, stdin, limit, &[])
}

/// [`eddy_within`] with environment variables set (`EDDY_LOG` is unset
/// unless `env` sets it).
pub fn eddy_with_env(
    args: &[&str],
    cwd: &Path,
    stdin: Option<&str>,
    limit: Duration,
    env: &[(&str, &str)],
) -> Output {
    let mut child = Command::new(eddy_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("EDDY_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start eddy");

    let mut input = child.stdin.take().expect("stdin pipe");
    let stdin_text = stdin.unwrap_or("").to_string();
    let writer = thread::spawn(move || {
        // The process may exit before reading everything (an error): ignore EPIPE.
        let _ = input.write_all(stdin_text.as_bytes());
    });
    let mut out = child.stdout.take().expect("stdout pipe");
    let stdout_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let mut err = child.stderr.take().expect("stderr pipe");
    let stderr_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for eddy") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&stderr_reader.join().unwrap()).into_owned();
            panic!(
                "eddy {args:?} did not finish within {limit:?} and was killed\n--- stderr:\n{stderr}"
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    writer.join().expect("stdin writer");
    let stdout = String::from_utf8_lossy(&stdout_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr_reader.join().unwrap()).into_owned();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// `eddy run --quiet <job>` (sink output only on stdout, errors on stderr).
/// Like every `eddy` helper taking a job, it runs in the job file's directory
/// and names the file relatively, as a user would (`eddy run job.toml`).
pub fn run_quiet(job: &Path) -> Output {
    let (cwd, file) = split_job(job);
    eddy(&["run", "--quiet", &file], &cwd, None)
}

/// `eddy run <job>` (with the summary on stderr).
pub fn run(job: &Path) -> Output {
    let (cwd, file) = split_job(job);
    eddy(&["run", &file], &cwd, None)
}

/// `eddy run <job>` with `stdin` on standard input.
pub fn run_with_stdin(job: &Path, stdin: &str) -> Output {
    let (cwd, file) = split_job(job);
    eddy(&["run", &file], &cwd, Some(stdin))
}

/// `eddy validate <job>`.
pub fn validate(job: &Path) -> Output {
    let (cwd, file) = split_job(job);
    eddy(&["validate", &file], &cwd, None)
}

/// `(directory, file name)` of a job file.
fn split_job(job: &Path) -> (PathBuf, String) {
    let cwd = job
        .parent()
        .expect("job file has a directory")
        .to_path_buf();
    let file = job
        .file_name()
        .expect("job file has a name")
        .to_str()
        .expect("UTF-8 file name")
        .to_string();
    (cwd, file)
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A temporary directory holding job files and data files.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("eddy-e2e-")
                .tempdir()
                .expect("create a temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `contents` to `name` in the directory and return its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, contents).expect("write scratch file");
        path
    }
}

/// A copy of `job` (written next to it as `name`) that keeps its state in
/// the embedded RocksDB below `local_dir`.
pub fn on_rocksdb(job: &Path, name: &str, local_dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(job).unwrap_or_else(|e| panic!("read {}: {e}", job.display()));
    let copy = job.with_file_name(name);
    std::fs::write(
        &copy,
        format!(
            "{text}\n[state]\nbackend = \"rocksdb\"\nlocal_dir = {}\n",
            toml_path(local_dir)
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", copy.display()));
    copy
}

/// A TOML basic string holding `path` (absolute paths in generated job files).
pub fn toml_path(path: &Path) -> String {
    let s = path_str(path);
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The non-empty lines of `text`.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The non-empty lines of a file.
pub fn file_lines(path: &Path) -> Vec<String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    lines(&text)
}

/// Parse every line as JSON (fails the test on a line that is not JSON).
pub fn json_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("output line {l:?} is not JSON: {e}"))
        })
        .collect()
}

/// JSON values as canonical strings (object keys sorted by serde_json's
/// default map), sorted: a multiset that ignores order and field order.
pub fn sorted_json(lines: &[String]) -> Vec<String> {
    let mut v: Vec<String> = json_lines(lines).iter().map(|v| v.to_string()).collect();
    v.sort();
    v
}

/// Replace `[job] parallelism` in a job file's text by `parallelism`
/// (inserting it if the `[job]` table has none).
pub fn with_job_parallelism(job_toml: &str, parallelism: u32) -> String {
    let mut out = Vec::new();
    let mut in_job = false;
    let mut done = false;
    for line in job_toml.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_job && !done {
                out.push(format!("parallelism = {parallelism}"));
                done = true;
            }
            in_job = trimmed == "[job]";
        } else if in_job && !done && trimmed.starts_with("parallelism") {
            out.push(format!("parallelism = {parallelism}"));
            done = true;
            continue;
        }
        out.push(line.to_string());
    }
    if in_job && !done {
        out.push(format!("parallelism = {parallelism}"));
        done = true;
    }
    assert!(done, "job file has no [job] table:\n{job_toml}");
    out.join("\n") + "\n"
}

/// Rewrite relative `module = "..."` and `path = "..."` values, and key
/// selectors in `key_by = { selector = "..." }`, of a job file that lives in
/// `base` into absolute paths, so that the text can be written anywhere.
pub fn with_absolute_paths(job_toml: &str, base: &Path) -> String {
    let mut out = Vec::new();
    for line in job_toml.lines() {
        if let Some((before, rest)) = line.split_once("selector = \"")
            && let Some((selector, after)) = rest.split_once('"')
            && Path::new(selector).is_relative()
        {
            out.push(format!(
                "{before}selector = {}{after}",
                toml_path(&base.join(selector))
            ));
            continue;
        }
        let trimmed = line.trim_start();
        let mut rewritten = None;
        for key in ["module", "path"] {
            if let Some(rest) = trimmed.strip_prefix(key) {
                let rest = rest.trim_start();
                if let Some(value) = rest.strip_prefix('=') {
                    let value = value.trim();
                    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                        let p = Path::new(inner);
                        if p.is_relative() {
                            rewritten = Some(format!("{key} = {}", toml_path(&base.join(p))));
                        }
                    }
                }
            }
        }
        out.push(rewritten.unwrap_or_else(|| line.to_string()));
    }
    out.join("\n") + "\n"
}

/// Out-of-order events `{"user", "ts", "n"}` for six users: event time moves
/// on 0–600 ms per record, each record is up to 2 s out of order (the
/// watermark bound), one in 25 is 3–25 s late, and one in 50 lies exactly
/// on a 10 s window edge (or one millisecond before it), so most of those
/// are late too. The same `count` always gives the same text.
///
/// [`OUT_OF_ORDER_SOURCE`] reads them from `events.jsonl`.
pub fn out_of_order_events(count: usize) -> String {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut text = String::new();
    let mut now: i64 = 1_700_000_000_000;
    for n in 1..=count {
        now += next(600) as i64;
        let user = format!("user-{}", next(6));
        let ts = match next(100) {
            0..4 => now - 3_000 - next(22_000) as i64,
            4..6 => now - now.rem_euclid(10_000) - next(2) as i64,
            _ => now - next(2_000) as i64,
        };
        text.push_str(&format!("{{\"user\":\"{user}\",\"ts\":{ts},\"n\":{n}}}\n"));
    }
    text
}

/// A `[[source]]` named `events` reading [`out_of_order_events`] from
/// `events.jsonl`, with the 2 s watermark bound they are made for.
pub const OUT_OF_ORDER_SOURCE: &str = r#"[[source]]
name = "events"
type = "file"
path = "events.jsonl"
timestamp = { field = "ts" }
watermark = { strategy = "bounded-out-of-orderness", max_out_of_orderness = "2s" }
"#;
