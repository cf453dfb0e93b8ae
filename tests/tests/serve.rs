//! `eddy serve`, the session server: jobs deployed with `eddy deploy` (their
//! modules uploaded) run side by side; a server killed and started again
//! resumes both from their checkpoints and their committed output is
//! exactly a failure-free run's; `/metrics` parsed as Prometheus text
//! agrees with the job's own counts; bad submissions and uploads get clear
//! messages and start nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::background::eddy_in as eddy;
use common::counting_job::{CountingJob, committed};
use common::failing_job::write_failing_job;
use common::server::Server;
use common::{Scratch, toml_path, wasm};
use serde_json::Value;

/// Records of each job's generator: at 20,000 records/s a job runs about
/// five seconds, long enough to kill the server while both run.
const RECORDS: u64 = 100_000;

/// The counting job (`common::counting_job`) of `RECORDS` records at
/// 20,000 records/s, checkpointed every 300 ms.
fn job_text(name: &str, parallelism: u32, backend: &str, seed: u64) -> String {
    CountingJob {
        name,
        parallelism,
        backend,
        seed,
        count: Some(RECORDS),
        checkpoint_interval: Some("300ms"),
        ..CountingJob::default()
    }
    .text()
}

/// `eddy deploy JOB` to the one server of `scratch`; the job's id.
fn deploy(scratch: &Scratch, job: &str) -> String {
    let deployed = eddy(scratch, &["deploy", job]).success();
    deployed.stdout.trim().to_string()
}

/// Every line each sink of the job in `folder` committed (sorted), by sink.
fn outputs(scratch: &Scratch, folder: &str) -> BTreeMap<String, Vec<String>> {
    committed(&scratch.path(folder))
}

/// The committed output of `text` run once with `eddy run`, without failures.
fn reference(text: &str) -> BTreeMap<String, Vec<String>> {
    let scratch = Scratch::new();
    scratch.write("job/job.toml", text);
    eddy(&scratch, &["run", "--quiet", "job/job.toml"]).success();
    let outputs = outputs(&scratch, "job");
    assert!(
        outputs.values().all(|lines| lines.len() > 50),
        "the reference run wrote little: {:?}",
        outputs.values().map(Vec::len).collect::<Vec<_>>()
    );
    outputs
}

#[test]
fn a_restarted_server_resumes_its_two_jobs_from_their_checkpoints_with_exact_output() {
    let alpha = job_text("alpha", 1, "memory", 7);
    let beta = job_text("beta", 2, "rocksdb", 11);
    let expected = [reference(&alpha), reference(&beta)];

    let scratch = Scratch::new();
    scratch.write("alpha/job.toml", &alpha);
    scratch.write("beta/job.toml", &beta);
    scratch.write("gamma/job.toml", job_text("gamma", 1, "memory", 3));
    let mut server = Server::start(&scratch, "server", &[]);
    let ids = [
        deploy(&scratch, "alpha/job.toml"),
        deploy(&scratch, "beta/job.toml"),
    ];
    // A third job, cancelled before the kill, is not started again.
    let gamma = deploy(&scratch, "gamma/job.toml");
    server.wait_for(&gamma, "its start", |job| {
        job["status"]["phase"] == "running"
    });
    eddy(&scratch, &["cancel", "gamma"]).success();
    let listed = eddy(&scratch, &["list"]).success();
    for id in &ids {
        assert!(listed.stdout.contains(id.as_str()), "{}", listed.stdout);
    }
    for id in &ids {
        server.wait_for(id, "two checkpoints", |job| {
            job["status"]["checkpoints"]["completed"].as_u64() >= Some(2)
        });
    }
    for id in &ids {
        let phase = &server.job(id)["status"]["phase"];
        assert_eq!(
            phase, "running",
            "job {id} ended before the server was killed"
        );
    }
    server.process.kill();

    let mut server = Server::start(&scratch, "server", &[]);
    let log = server.process.stderr();
    assert!(log.contains("2 job(s) resumed"), "{log}");
    for (id, expected) in ids.iter().zip(&expected) {
        let job = server.wait_for(id, "the end", |job| job["status"]["phase"] == "finished");
        let restored = job["status"]["checkpoints"]["restored_from"].as_u64();
        assert!(
            restored.is_some_and(|id| id >= 2),
            "job {id} did not resume from a checkpoint: {job}"
        );
        let folder = job["name"].as_str().unwrap();
        let output = outputs(&scratch, folder);
        for (sink, lines) in expected {
            assert!(
                &output[sink] == lines,
                "job `{folder}`, sink `{sink}`: {} lines committed, {} expected",
                output[sink].len(),
                lines.len()
            );
        }
    }
}

/// A sample's value, whatever type the parser gave it.
fn value(sample: &prometheus_parse::Sample) -> f64 {
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{} is not a plain value", sample.metric),
    }
}

#[test]
fn metrics_parsed_as_prometheus_text_agree_with_the_jobs_own_counts() {
    let scratch = Scratch::new();
    scratch.write("alpha/job.toml", job_text("alpha", 2, "memory", 7));
    let mut server = Server::start(&scratch, "server", &[]);
    let id = deploy(&scratch, "alpha/job.toml");
    // While it runs, the counts move between two scrapes.
    let records_in = |text: &str| -> f64 {
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("a Prometheus text scrape");
        (scrape.samples.iter())
            .filter(|s| s.metric == "eddy_records_in_total")
            .map(value)
            .sum()
    };
    server.wait_for(&id, "records", |job| {
        job["status"]["nodes"][1]["records_in"].as_u64() > Some(1000)
    });
    let (_, first) = server.text("/metrics");
    std::thread::sleep(Duration::from_millis(300));
    let (_, second) = server.text("/metrics");
    assert!(records_in(&second) > records_in(&first), "{second}");
    // Each subtask of each operator has a watermark, and lags behind now.
    for operator in ["per-second", "timeouts"] {
        for metric in [
            "eddy_watermark_milliseconds",
            "eddy_watermark_lag_milliseconds",
        ] {
            let found = (second.lines())
                .filter(|l| l.starts_with(metric) && l.contains(&format!("node=\"{operator}\"")))
                .count();
            assert_eq!(found, 2, "{metric} of {operator}:\n{second}");
        }
    }

    let job = server.wait_for(&id, "the end", |job| job["status"]["phase"] == "finished");
    let (status, text) = server.text("/metrics");
    assert_eq!(status, 200, "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("a Prometheus text scrape");
    let samples = |metric: &str, node: &str| -> Vec<&prometheus_parse::Sample> {
        (scrape.samples.iter())
            .filter(|s| s.metric == metric && s.labels.get("job_id") == Some(id.as_str()))
            .filter(|s| s.labels.get("node") == Some(node))
            .collect()
    };
    let sum =
        |metric: &str, node: &str| -> f64 { samples(metric, node).into_iter().map(value).sum() };
    let status = &job["status"];
    for node in status["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        let parallelism = node["parallelism"].as_u64().unwrap() as usize;
        let per_subtask = samples("eddy_records_in_total", name);
        assert_eq!(
            per_subtask.len(),
            parallelism,
            "one sample per subtask of `{name}`"
        );
        assert!(
            node["role"] == "source" || per_subtask.iter().all(|s| value(s) > 0.0),
            "every subtask of `{name}` took records in: {per_subtask:?}"
        );
        assert_eq!(
            sum("eddy_records_in_total", name),
            node["records_in"].as_f64().unwrap(),
            "`{name}`"
        );
        assert_eq!(
            sum("eddy_records_out_total", name),
            node["records_out"].as_f64().unwrap(),
            "`{name}`"
        );
    }
    // The job's own counts: what the generator made, what the sinks committed.
    assert_eq!(sum("eddy_records_out_total", "events"), RECORDS as f64);
    let committed = outputs(&scratch, "alpha");
    assert_eq!(
        sum("eddy_records_in_total", "windows"),
        committed["windows"].len() as f64
    );
    assert_eq!(
        sum("eddy_records_in_total", "quiet"),
        committed["quiet"].len() as f64
    );
    // Both subtasks of each operator called their guest, and none failed.
    for operator in ["per-second", "timeouts"] {
        let calls = samples("eddy_guest_calls_total", operator);
        assert_eq!(calls.len(), 2, "{operator}: {calls:?}");
        assert!(
            calls.iter().all(|s| value(s) > 0.0),
            "{operator}: {calls:?}"
        );
        assert!(sum("eddy_guest_call_seconds_total", operator) > 0.0);
        assert_eq!(sum("eddy_guest_call_failures_total", operator), 0.0);
        // At the end of input the watermark is the end of time: not shown.
        assert!(samples("eddy_watermark_lag_milliseconds", operator).is_empty());
        let busy = sum("eddy_busy_seconds_total", operator);
        let idle = sum("eddy_idle_seconds_total", operator);
        assert!(
            busy > 0.0 && idle > 0.0,
            "{operator}: busy {busy}, idle {idle}"
        );
    }
    let job_sample = |metric: &str| -> f64 {
        let found: Vec<_> = (scrape.samples.iter())
            .filter(|s| s.metric == metric && s.labels.get("job_id") == Some(id.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{metric}: {found:?}");
        value(found[0])
    };
    let checkpoints = &status["checkpoints"];
    assert_eq!(
        job_sample("eddy_checkpoints_completed_total"),
        checkpoints["completed"].as_f64().unwrap()
    );
    assert_eq!(
        job_sample("eddy_checkpoint_size_bytes"),
        checkpoints["last_bytes"].as_f64().unwrap()
    );
    assert_eq!(job_sample("eddy_job_restarts_total"), 0.0);
    let finished: Vec<_> = (scrape.samples.iter())
        .filter(|s| s.metric == "eddy_job_phase" && s.labels.get("job_id") == Some(id.as_str()))
        .filter(|s| value(s) == 1.0)
        .map(|s| s.labels.get("phase").unwrap().to_string())
        .collect();
    assert_eq!(finished, ["finished"]);
    // The history of its checkpoints, as the API lists it.
    let (_, history) = server.request("GET", &format!("/v1/jobs/{id}/checkpoints"), None);
    let history = history.as_array().unwrap();
    assert!(!history.is_empty());
    assert!(
        history.iter().all(|c| c["kind"] == "checkpoint"),
        "{history:?}"
    );
    assert_eq!(
        history.last().unwrap()["id"],
        checkpoints["last_id"],
        "the last in the history is the last completed"
    );
    // Without the token: refused.
    let (status, _) = common::server::request(&server.address, "GET", "/metrics", None, None);
    assert_eq!(status, 401);
}

#[test]
fn bad_submissions_and_uploads_get_clear_messages_and_start_nothing() {
    let scratch = Scratch::new();
    scratch.write("alpha/job.toml", job_text("alpha", 1, "memory", 7));
    // No server yet: `eddy deploy` says so, and how to name one.
    let nowhere = eddy(&scratch, &["deploy", "alpha/job.toml"]).failure();
    nowhere.stderr_has(&["no `eddy serve` is running on this machine", "--server URL"]);
    let https = eddy(
        &scratch,
        &[
            "deploy",
            "alpha/job.toml",
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "t",
        ],
    )
    .failure();
    https.stderr_has(&["eddy's client speaks plain HTTP"]);

    let mut server = Server::start(&scratch, "server", &["--max-module-size", "256KiB"]);
    let message = |answer: &Value| answer["error"].as_str().unwrap_or_default().to_string();

    // A job file with a mistake: `eddy deploy` points at it before uploading anything.
    scratch.write("broken/job.toml", "[job]\nname = 5\n");
    let refused = eddy(&scratch, &["deploy", "broken/job.toml"]).failure();
    refused.stderr_has(&["job.toml:2:8", "invalid type"]);
    // Sent as text anyway, the server says the same.
    let body = serde_json::json!({ "job": "[job]\nname = 5\n" }).to_string();
    let (status, answer) = server.request("POST", "/v1/jobs", Some(&body));
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("invalid type"), "{answer}");

    // Neither or both of `job` and `job_file`; a relative `job_file`.
    let (status, answer) = server.request("POST", "/v1/jobs", Some("{}"));
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("exactly one of `job`"),
        "{answer}"
    );
    let (status, answer) = server.request("POST", "/v1/jobs", Some(r#"{"job_file": "job.toml"}"#));
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("must be an absolute path"),
        "{answer}"
    );
    let (status, answer) = server.request("POST", "/v1/jobs", Some(r#"["/job.toml"]"#));
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("expected a JSON object"),
        "{answer}"
    );
    // A job file too large, and a module on the server's disk over the limit.
    let huge = scratch.write("huge/job.toml", "#".repeat(1024 * 1024 + 1));
    let body = serde_json::json!({ "job_file": huge }).to_string();
    let (status, answer) = server.request("POST", "/v1/jobs", Some(&body));
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("and a job file may have 1048576"),
        "{answer}"
    );
    scratch.write("big/big.wasm", vec![0u8; 300 * 1024]);
    let big = scratch.write(
        "big/job.toml",
        job_text("big", 1, "memory", 7)
            .replace(&toml_path(&wasm("count_aggregate")), "\"big.wasm\""),
    );
    let body = serde_json::json!({ "job_file": big }).to_string();
    let (status, answer) = server.request("POST", "/v1/jobs", Some(&body));
    assert_eq!(status, 400);
    assert!(
        message(&answer)
            .contains("has 307200 bytes, and this server takes modules of at most 262144"),
        "{answer}"
    );
    // A path that is not a regular file (a device could block or never end).
    let body = serde_json::json!({ "job_file": "/dev/zero" }).to_string();
    let (status, answer) = server.request("POST", "/v1/jobs", Some(&body));
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("it is not a regular file"),
        "{answer}"
    );
    let (status, answer) = server.request("POST", "/v1/jobs", Some(r#"{"job": "", "bogus": 1}"#));
    assert_eq!(status, 400);
    assert!(message(&answer).contains("bogus"), "{answer}");

    // A module that was never uploaded.
    let text = job_text("alpha", 1, "memory", 7);
    let body = serde_json::json!({
        "job": text,
        "base_dir": scratch.path("alpha"),
        "modules": { toml_path(&wasm("count_aggregate")).trim_matches('"'): "00".repeat(32) },
    })
    .to_string();
    let (status, answer) = server.request("POST", "/v1/jobs", Some(&body));
    assert_eq!(status, 400);
    assert!(message(&answer).contains("was uploaded"), "{answer}");

    // Uploads: not a component, empty, too large; a real one is kept by its SHA-256.
    let (status, answer) = server.upload("/v1/modules", b"not a component");
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("not a module eddy can run"),
        "{answer}"
    );
    assert!(
        !message(&answer).contains(".upload-"),
        "no staging paths in messages: {answer}"
    );
    let (status, _) = server.upload("/v1/modules", b"");
    assert_eq!(status, 400);
    let (status, _) = server.upload("/v1/modules", &vec![0; 300 * 1024]);
    assert_eq!(status, 413, "an upload over --max-module-size");
    let modules = scratch.path("server/modules");
    let kept: Vec<_> = std::fs::read_dir(&modules).unwrap().collect();
    assert!(kept.is_empty(), "refused uploads leave nothing: {kept:?}");

    // The same job twice: the second is refused while the first runs.
    scratch.write("alpha/job.toml", &text);
    let id = deploy(&scratch, "alpha/job.toml");
    let module = std::fs::read(wasm("count_aggregate")).unwrap();
    let (status, uploaded) = server.upload("/v1/modules", &module);
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["world"], "aggregate");
    let sha256 = uploaded["sha256"].as_str().unwrap();
    assert!(modules.join(format!("{sha256}.wasm")).is_file());
    let details = server.wait_for(&id, "its start", |job| job["status"]["phase"] == "running");
    let functions = details["status"]["functions"].as_array().unwrap();
    assert!(
        functions.iter().any(|f| f["module_sha256"] == sha256),
        "the job runs the module it uploaded: {functions:?}"
    );
    let again = eddy(&scratch, &["deploy", "alpha/job.toml"]).failure();
    again.stderr_has(&["a job named `alpha` already runs on this server", &id]);
    let (_, jobs) = server.request("GET", "/v1/jobs", None);
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");

    // A swap naming an upload that does not exist changes nothing.
    let body = serde_json::json!({ "operator": "timeouts", "module_sha256": "ab".repeat(32) });
    let (status, answer) = server.request(
        "POST",
        &format!("/v1/jobs/{id}/swaps"),
        Some(&body.to_string()),
    );
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("no module with SHA-256"),
        "{answer}"
    );
    let (status, _) = server.request("POST", &format!("/v1/jobs/{id}/cancel"), None);
    assert_eq!(status, 202);
}

#[test]
fn a_job_failing_on_a_record_shows_the_guests_message_and_the_record_in_its_failures() {
    let scratch = Scratch::new();
    let poison = r#"{"ts": 1700000000002, "user": "mallory", "note": "poison"}"#;
    let input = [
        r#"{"ts": 1700000000001, "user": "alice"}"#,
        poison,
        r#"{"ts": 1700000000003, "user": "bob"}"#,
    ];
    write_failing_job(&scratch, "faulty", &input);
    let mut server = Server::start(&scratch, "server", &[]);
    let id = deploy(&scratch, "faulty/job.toml");
    let job = server.wait_for(&id, "its failure", |job| job["status"]["phase"] == "failed");
    let (status, failures) = server.request("GET", &format!("/v1/jobs/{id}/failures"), None);
    assert_eq!(status, 200);
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let message = failures[0]["message"].as_str().unwrap();
    for expected in [
        "operator `op` (subtask 1/1)",
        "guest panicked",
        "faulty guest: found poison",
        &format!("on record: {poison}"),
    ] {
        assert!(message.contains(expected), "`{expected}` not in: {message}");
    }
    assert_eq!(job["status"]["last_failure"].as_str(), Some(message));
    let (_, text) = server.text("/metrics");
    let failed_calls = text
        .lines()
        .find(|l| l.starts_with("eddy_guest_call_failures_total") && l.contains(&id))
        .unwrap_or_else(|| panic!("no guest failures counted:\n{text}"));
    assert!(failed_calls.ends_with(" 1"), "{failed_calls}");
    // The server runs on, and lists the job as failed.
    let listed = eddy(&scratch, &["list", "--server", &server.url()]).success();
    assert!(listed.stdout.contains("failed"), "{}", listed.stdout);
}
