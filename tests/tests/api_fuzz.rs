//! The control API of `eddy serve` fuzzed against its description,
//! `docs/control-api.openapi.json`, with schemathesis (from PyPI; installed by
//! `scripts/setup-schemathesis.sh`, which prints the path `EDDY_SCHEMATHESIS`
//! names): generated requests, valid and not, to every operation, with the
//! server's token, against a server running a real job. No answer may be a
//! 5xx, every answer must be one the description lists, with its content
//! type and schema, requests without the token are refused, and the server
//! must still run afterwards.
//!
//! Two bounded runs: the first leaves out cancel and stop, so savepoints,
//! swaps and the job's details are fuzzed while the job runs; the second
//! takes every operation (schemathesis finds the job ids in the answers and
//! follows the links it infers, so it cancels and stops jobs, and submits
//! the job file it finds again). `tests/api_fuzz/hooks.py` sends real guest
//! components, whole and damaged, to `POST /v1/modules` besides random
//! bytes, and keeps the savepoint folders of fuzzed requests inside the
//! test's scratch folder. `EDDY_API_FUZZ_SEED` repeats a run (each run
//! prints its seed).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::background::eddy_in as eddy;
use common::counting_job::CountingJob;
use common::server::Server;
use common::{Scratch, repo_root, wasm};
use serde_json::Value;

/// Examples generated per operation in each run's fuzzing phase (the
/// coverage and stateful phases add their own). Each run takes 10 to 20 s
/// on two cores.
const MAX_EXAMPLES: u32 = 100;

/// A schemathesis run that takes longer than this is hung.
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// Checks of every answer: `all` but `positive_data_acceptance`, which
/// wants every request that fits the description taken, while a job file,
/// module or operator that fits it can still be wrong (400, 409) or the
/// job may have ended (410).
const CHECKS: &[&str] = &[
    "--checks",
    "all",
    "--exclude-checks",
    "positive_data_acceptance",
];

/// The counting job (`common::counting_job`), unbounded at 200 records/s
/// and checkpointed every second: it runs until it is cancelled or stopped,
/// with guest functions to swap and checkpoints to list.
fn job_text() -> String {
    CountingJob {
        name: "fuzzed",
        rate: 200,
        keys: 10,
        seed: 5,
        checkpoint_interval: Some("1s"),
        ..CountingJob::default()
    }
    .text()
}

/// The schemathesis executable: `$EDDY_SCHEMATHESIS`. Not skipped when it
/// is missing: the test fails, saying how to install it.
fn schemathesis() -> PathBuf {
    let Some(path) = std::env::var_os("EDDY_SCHEMATHESIS") else {
        panic!(
            "EDDY_SCHEMATHESIS is not set: this test fuzzes the control API with schemathesis; \
             install it with `export EDDY_SCHEMATHESIS=$(bash scripts/setup-schemathesis.sh)` \
             (scripts/test.sh does)"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "EDDY_SCHEMATHESIS={} does not exist: run `bash scripts/setup-schemathesis.sh` and export the path it prints",
        path.display()
    );
    path
}

/// Fails the test if the server has ended, saying how (a signal, an exit
/// code) and what it logged.
fn still_running(server: &mut Server, fuzzed: &Fuzzed) {
    if let Some(status) = server.process.exited() {
        panic!(
            "the server ended under the fuzzer ({status})\n{}\n--- server log:\n{}",
            fuzzed.describe(),
            server.process.stderr()
        );
    }
}

/// What one schemathesis run printed, and the requests it sent (its HAR
/// report): `(method, path, status)`.
struct Fuzzed {
    succeeded: bool,
    output: String,
    command: String,
    requests: Vec<(String, String, u16)>,
}

impl Fuzzed {
    /// How many requests `METHOD PATH` got each status.
    fn statuses(&self, method: &str, path: &str) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for (m, p, status) in &self.requests {
            if m == method && p == path {
                *counts.entry(*status).or_default() += 1;
            }
        }
        counts
    }

    fn describe(&self) -> String {
        format!(
            "--- command: {}\n--- schemathesis output:\n{}",
            self.command, self.output
        )
    }
}

/// `schemathesis run` of the description against the server, with `extra`
/// arguments; `name` names its files in `scratch`.
fn fuzz(
    schemathesis: &Path,
    scratch: &Scratch,
    server: &Server,
    config: &Path,
    name: &str,
    extra: &[&str],
) -> Fuzzed {
    let description = repo_root().join("docs/control-api.openapi.json");
    let har = scratch.path(&format!("{name}.har"));
    let max_examples = MAX_EXAMPLES.to_string();
    let url = server.url();
    let mut args: Vec<&str> = vec![
        "--config-file",
        config.to_str().unwrap(),
        "run",
        description.to_str().unwrap(),
        "--url",
        &url,
        "--max-examples",
        &max_examples,
        // A request the server does not answer within this is a failure.
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "har",
        "--report-har-path",
        har.to_str().unwrap(),
    ];
    args.extend_from_slice(CHECKS);
    let seed = std::env::var("EDDY_API_FUZZ_SEED").ok();
    if let Some(seed) = &seed {
        args.extend(["--seed", seed.as_str()]);
    }
    args.extend_from_slice(extra);
    let command = format!("{} {}", schemathesis.display(), args.join(" "));

    let components = ["count_aggregate", "count_with_timeout", "bench_filter"]
        .map(|name| wasm(name).to_str().unwrap().to_string())
        .join(":");
    let output_path = scratch.path(&format!("{name}.txt"));
    let output_file = std::fs::File::create(&output_path).unwrap();
    let mut child = Command::new(schemathesis)
        .args(&args)
        // Its caches (`.hypothesis`, `.schemathesis`) go into the scratch folder.
        .current_dir(scratch.dir.path())
        .env(
            "SCHEMATHESIS_HOOKS",
            repo_root().join("tests/api_fuzz/hooks.py"),
        )
        .env("EDDY_FUZZ_SAVEPOINTS", scratch.path("fuzzed-savepoints"))
        .env("EDDY_FUZZ_COMPONENTS", components)
        .env("NO_COLOR", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .stdout(output_file.try_clone().unwrap())
        .stderr(output_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", schemathesis.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis did not finish within {RUN_LIMIT:?}\n--- command: {command}\n--- output:\n{}",
                std::fs::read_to_string(&output_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
    eprintln!(
        "schemathesis run `{name}` took {:.1?}: {command}",
        started.elapsed()
    );
    let requests = std::fs::read_to_string(&har)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .map(|har| requests(&har, &url))
        .unwrap_or_default();
    Fuzzed {
        succeeded: status.success(),
        output,
        command,
        requests,
    }
}

/// `(method, path, status)` of every entry of a HAR report, the path
/// without the base URL and the query.
fn requests(har: &Value, url: &str) -> Vec<(String, String, u16)> {
    let entries = har["log"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (entries.iter())
        .map(|entry| {
            let request = &entry["request"];
            let full = request["url"].as_str().unwrap_or_default();
            let path = full.strip_prefix(url).unwrap_or(full);
            let path = path.split('?').next().unwrap_or_default().to_string();
            let method = request["method"].as_str().unwrap_or_default().to_string();
            let status = entry["response"]["status"].as_u64().unwrap_or(0) as u16;
            (method, path, status)
        })
        .collect()
}

#[test]
fn fuzzed_requests_to_the_control_api_get_described_answers_and_no_server_error() {
    let schemathesis = schemathesis();
    let scratch = Scratch::new();
    scratch.write("job/job.toml", job_text());
    // A small module limit, so that uploads of two components are too large (413).
    // Killed when the test ends (`Background` does), passed or not.
    let mut server = Server::start(&scratch, "server", &["--max-module-size", "256KiB"]);
    let deployed = eddy(&scratch, &["deploy", "job/job.toml"]).success();
    let id = deployed.stdout.trim().to_string();
    server.wait_for(&id, "a checkpoint", |job| {
        job["status"]["checkpoints"]["completed"].as_u64() >= Some(1)
    });

    // The job's real id for the operations that read it, take savepoints of
    // it or swap its functions (the others get ids at random, and those
    // found in answers).
    let config = scratch.write(
        "schemathesis.toml",
        format!(
            "[[operations]]\n\
             include-path-regex = '^/v1/jobs/\\{{id\\}}(/checkpoints|/failures|/savepoints|/swaps)?$'\n\
             parameters = {{ \"path.id\" = \"{id}\" }}\n\
             \n\
             [headers]\n\
             Authorization = \"Bearer {token}\"\n",
            token = server.token,
        ),
    );

    let live = fuzz(
        &schemathesis,
        &scratch,
        &server,
        &config,
        "live",
        &["--exclude-path-regex", "/(cancel|stop)$"],
    );
    still_running(&mut server, &live);
    assert!(
        live.succeeded,
        "schemathesis found failures (cancel and stop left out)\n{}",
        live.describe()
    );
    let all = fuzz(&schemathesis, &scratch, &server, &config, "all", &[]);
    still_running(&mut server, &all);
    assert!(
        all.succeeded,
        "schemathesis found failures (every operation)\n{}",
        all.describe()
    );

    // The fuzzer did reach every part: the job, uploads of random bytes and
    // of components, submissions of random bodies.
    let job = format!("/v1/jobs/{id}");
    let statuses = live.statuses("GET", &job);
    assert!(
        statuses.get(&200).is_some_and(|n| *n >= 1),
        "GET {job}: {statuses:?}\n{}",
        live.describe()
    );
    for run in [&live, &all] {
        let uploads = run.statuses("POST", "/v1/modules");
        assert!(
            uploads.get(&400).is_some_and(|n| *n >= 20) && uploads.contains_key(&201),
            "POST /v1/modules: {uploads:?}\n{}",
            run.describe()
        );
        let submissions = run.statuses("POST", "/v1/jobs");
        assert!(
            submissions.get(&400).is_some_and(|n| *n >= 20),
            "POST /v1/jobs: {submissions:?}\n{}",
            run.describe()
        );
        assert!(
            run.requests.iter().all(|(_, _, status)| *status < 500),
            "schemathesis passed, yet an answer was a 5xx\n{}",
            run.describe()
        );
    }
    let all_paths: Vec<&str> = (all.requests.iter())
        .map(|(_, path, _)| path.as_str())
        .collect();
    for operation in ["/cancel", "/stop"] {
        assert!(
            all_paths
                .iter()
                .any(|p| p.starts_with("/v1/jobs/") && p.ends_with(operation)),
            "no request to {operation}\n{}",
            all.describe()
        );
    }

    // Still answering, with the token; no thread of it panicked (a job's
    // would have been restarted, a request's answered with a 500 or not at all).
    let (status, jobs) = server.request("GET", "/v1/jobs", None);
    assert_eq!(status, 200, "{jobs}");
    let log = server.process.stderr();
    assert!(
        !log.contains("panicked"),
        "a thread of the server panicked:\n{log}"
    );
}
