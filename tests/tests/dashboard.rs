//! The web dashboard in a real headless browser (Debian's chromium, driven
//! by `tests/dashboard/drive.mjs` through playwright-core): a page load
//! without the token is refused; logged in, the page lists the running
//! job, draws its graph, and its counts move between two screenshots; the
//! savepoint button produces a savepoint on disk; a swap from the page (a
//! module uploaded through it) changes the job's committed output; a
//! change without the page's CSRF token is refused; a failure shows the
//! guest's message and the record, as text even when the record holds
//! markup. Screenshots are kept in `<target>/tmp/dashboard-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::background::eddy_in;
use common::failing_job::write_failing_job;
use common::server::Server;
use common::{Scratch, repo_root, toml_path, wasm};
use serde_json::Value;

/// A job that runs long enough to be clicked at: a generator at 5,000
/// records/s for a minute → the `swap-count-v1` keyed process function →
/// an exactly-once file sink, checkpointed every 400 ms.
fn job_text() -> String {
    format!(
        r#"[job]
name = "clicks"
parallelism = 2

[checkpoints]
interval = "400ms"
dir = "chk"

[[source]]
name = "events"
type = "generator"
parallelism = 1
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "bounded-out-of-orderness", max_out_of_orderness = "300ms" }}
[source.generator]
count = 300000
rate = 5000
keys = 50
events_per_second = 200
max_lag = "300ms"
seed = 11

[[operator]]
uid = "counter"
kind = "keyed-process"
module = {module}
input = "events"
key_by = {{ field = "key" }}
config = '{{"period_ms": 1000}}'

[[sink]]
name = "counts"
type = "file"
path = "out/counts"
delivery = "exactly-once"
input = "counter"
"#,
        module = toml_path(&wasm("swap_count_v1")),
    )
}

/// Where the screenshots are kept.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
}

/// `node drive.mjs` against `server`; what it saw.
fn drive(server: &Server, job: &str) -> Value {
    browse(server, job, "drive.mjs")
}

/// `node SCRIPT` (in `tests/dashboard/`) against `server` and `job`; what
/// it saw (its last line of output, JSON).
fn browse(server: &Server, job: &str, script: &str) -> Value {
    let dir = repo_root().join("tests/dashboard");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/dashboard` (scripts/test.sh does)"
    );
    let output = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("EDDY_URL", server.url())
        .env("EDDY_TOKEN", &server.token)
        .env("EDDY_JOB_ID", job)
        .env("EDDY_SWAP_OPERATOR", "counter")
        .env("EDDY_SWAP_MODULE", wasm("swap_count_v2"))
        .env("EDDY_SHOTS", screenshots())
        .output()
        .expect("run node (Node.js is needed for the dashboard tests)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser run failed ({}):\n{stdout}\n{stderr}\nserver:\n{}",
        output.status,
        server.process.stderr()
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_dashboard_shows_the_job_and_its_buttons_take_a_savepoint_and_swap_the_function() {
    let scratch = Scratch::new();
    scratch.write("clicks/job.toml", job_text());
    let mut server = Server::start(&scratch, "server", &[]);
    let deployed = eddy_in(&scratch, &["deploy", "clicks/job.toml"]).success();
    let id = deployed.stdout.trim().to_string();
    server.wait_for(&id, "its start", |job| job["status"]["phase"] == "running");

    let seen = drive(&server, &id);
    assert_eq!(seen["graph_nodes"], 3, "{seen}");
    assert_eq!(seen["graph_edges"], 2, "{seen}");
    let labels = seen["edge_labels"].as_array().unwrap();
    assert!(
        labels.len() == 2
            && labels
                .iter()
                .all(|l| l.as_str().is_some_and(|l| l.ends_with("/s"))),
        "records/s on each edge: {seen}"
    );
    let counts = seen["counts"].as_array().unwrap();
    assert!(counts[1].as_u64() > counts[0].as_u64(), "{seen}");
    assert_eq!(seen["without_csrf"], 403, "{seen}");

    // The savepoint the button took is on disk, complete.
    let said = seen["savepoint"].as_str().unwrap();
    let path = said
        .split_once(": ")
        .and_then(|(_, rest)| rest.split(" (").next())
        .unwrap_or_else(|| panic!("no path in {said:?}"));
    assert!(
        Path::new(path).join("_manifest.json").is_file(),
        "savepoint {path} has no manifest: {:?}",
        std::fs::read_dir(path).map(|d| d.map(|e| e.unwrap().file_name()).collect::<Vec<_>>())
    );

    // The swap from the page: the job's function changed, and its output
    // has version 1's records before the barrier and version 2's after.
    let job = server.job(&id);
    let function = &job["status"]["functions"][0];
    assert_eq!(function["swaps"].as_array().unwrap().len(), 1, "{job}");
    let (status, stopped) = server.request("POST", &format!("/v1/jobs/{id}/stop"), Some("{}"));
    assert_eq!(status, 200, "{stopped}");
    server.wait_for(&id, "its end", |job| job["status"]["phase"] == "stopped");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(scratch.path("clicks/out/counts")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            lines.extend(
                (std::fs::read_to_string(&path).unwrap().lines())
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            );
        }
    }
    let v2 = lines.iter().filter(|l| l["rule"] == "v2").count();
    assert!(
        v2 > 0 && v2 < lines.len(),
        "{v2} of {} committed lines are version 2's: the swap did not change the output mid-run",
        lines.len()
    );
    eprintln!("screenshots: {}", screenshots().display());
}

#[test]
fn a_failure_shows_the_guests_message_and_the_record_as_text_even_when_it_holds_markup() {
    let scratch = Scratch::new();
    let poison =
        r#"{"ts": 1700000000002, "note": "poison <img id=injected src=x onerror=alert(1)>"}"#;
    write_failing_job(&scratch, "faulty", &[r#"{"ts": 1700000000001}"#, poison]);
    let mut server = Server::start(&scratch, "server", &[]);
    let id = eddy_in(&scratch, &["deploy", "faulty/job.toml"])
        .success()
        .stdout;
    let id = id.trim();
    server.wait_for(id, "its failure", |job| job["status"]["phase"] == "failed");
    let seen = browse(&server, id, "failures.mjs");
    assert_eq!(seen["phase"], "failed", "{seen}");
    let shown = seen["failures"][0].as_str().unwrap_or_default();
    for expected in [
        "operator `op`",
        "faulty guest: found poison",
        &format!("on record: {poison}"),
    ] {
        assert!(shown.contains(expected), "`{expected}` not shown: {seen}");
    }
    assert_eq!(
        seen["injected"], false,
        "the record's markup became an element: {seen}"
    );
    assert_eq!(seen["alerts"], serde_json::json!([]), "{seen}");
}
