//! Savepoints and the control API of a running job: `eddy savepoint` on a
//! running job and `eddy run --from-savepoint` at other parallelisms and
//! state backends commit exactly a failure-free run's output; `eddy stop
//! --savepoint` likewise; the API refuses requests without the run's
//! token and answers as `docs/control-api.openapi.json` describes; bad
//! savepoints and bad requests get clear messages and start nothing.
//!
//! Every test gets its own run directory (`EDDY_RUN_DIR`), so tests that
//! run at once do not see each other's jobs.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::background::{Background, eddy_in as eddy, run_dir, wait_registered};
use common::counting_job::{CountingJob, committed};
use common::{Scratch, eddy_bin, toml_path, walk, wasm};
use serde_json::Value;

/// Records of the job's generator: at 20,000 records/s a run takes about
/// three seconds, long enough to take a savepoint while it runs.
const RECORDS: u64 = 60_000;

/// The test job (`common::counting_job`), without checkpoints.
fn job_text(name: &str, parallelism: u32, backend: &str, count: Option<u64>) -> String {
    CountingJob {
        name,
        parallelism,
        backend,
        count,
        ..CountingJob::default()
    }
    .text()
}

/// Write the job file `job.toml` into `scratch`.
fn write_job(scratch: &Scratch, name: &str, parallelism: u32, backend: &str) -> PathBuf {
    scratch.write(
        "job.toml",
        job_text(name, parallelism, backend, Some(RECORDS)),
    )
}

/// Every line each sink committed (sorted), by sink folder.
fn outputs(scratch: &Scratch) -> BTreeMap<String, Vec<String>> {
    committed(scratch.dir.path())
}

/// The committed output of the job run once, without savepoints.
fn reference() -> BTreeMap<String, Vec<String>> {
    let scratch = Scratch::new();
    write_job(&scratch, "sp", 1, "memory");
    eddy(&scratch, &["run", "--quiet", "job.toml"]).success();
    let outputs = outputs(&scratch);
    assert!(
        outputs.values().all(|lines| lines.len() > 100),
        "the reference run committed output in every sink: {:?}",
        outputs.values().map(Vec::len).collect::<Vec<_>>()
    );
    outputs
}

#[track_caller]
fn assert_same(expected: &BTreeMap<String, Vec<String>>, actual: &BTreeMap<String, Vec<String>>) {
    for (sink, lines) in expected {
        let committed = &actual[sink];
        if committed != lines {
            let missing: Vec<&String> = lines.iter().filter(|l| !committed.contains(l)).collect();
            let extra: Vec<&String> = committed.iter().filter(|l| !lines.contains(l)).collect();
            panic!(
                "sink `{sink}`: {} lines expected, {} committed; missing {:?}; extra {:?}",
                lines.len(),
                committed.len(),
                &missing[..missing.len().min(5)],
                &extra[..extra.len().min(5)]
            );
        }
    }
}

/// `eddy savepoint JOB DIR`: the savepoint folder it printed.
fn take_savepoint(scratch: &Scratch, job: &str) -> PathBuf {
    let output = eddy(scratch, &["savepoint", job, "savepoints"]).success();
    let path = PathBuf::from(output.stdout.trim());
    assert!(
        path.join("_manifest.json").is_file(),
        "`eddy savepoint` printed {}, which has no manifest\n{}",
        path.display(),
        output.stderr
    );
    path
}

/// The savepoint id a run said it restored.
fn restored_savepoint(stderr: &str) -> Option<u64> {
    let at = stderr.find("restoring savepoint ")? + "restoring savepoint ".len();
    stderr[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn savepoint_id(path: &Path) -> u64 {
    path.file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("savepoint-")
        .parse()
        .unwrap()
}

#[test]
fn savepoints_of_a_running_job_restore_at_other_parallelisms_and_backends_exactly() {
    let expected = reference();
    let scratch = Scratch::new();

    // Run 1: parallelism 1, memory. A savepoint while it runs; the job
    // goes on (it has no checkpoints, so nothing else is committed before
    // the kill).
    write_job(&scratch, "sp", 1, "memory");
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    let first = take_savepoint(&scratch, "sp");
    assert!(run.running(), "the job kept running after the savepoint");
    let stderr = run.kill();
    assert!(
        stderr.contains(&format!("savepoint {} complete", savepoint_id(&first))),
        "{stderr}"
    );
    // `kill -9` left its entry behind; `eddy list` removes it.
    let listed = eddy(&scratch, &["list"]).success();
    assert!(
        listed.stdout.contains("no jobs are running"),
        "{}",
        listed.stdout
    );
    assert_eq!(std::fs::read_dir(run_dir(&scratch)).unwrap().count(), 0);

    // Run 2: parallelism 4, RocksDB, from the first savepoint; another
    // savepoint, then a kill.
    write_job(&scratch, "sp", 4, "rocksdb");
    let from = first.to_str().unwrap().to_string();
    let mut run = Background::start(&scratch, &["job.toml", "--from-savepoint", &from]);
    wait_registered(&scratch, &mut run);
    let second = take_savepoint(&scratch, "sp");
    let stderr = run.kill();
    assert_eq!(
        restored_savepoint(&stderr),
        Some(savepoint_id(&first)),
        "{stderr}"
    );
    assert!(savepoint_id(&second) > savepoint_id(&first));

    // Run 3: parallelism 2, memory, from the second savepoint to the end.
    write_job(&scratch, "sp", 2, "memory");
    let from = second.to_str().unwrap().to_string();
    let output = eddy(&scratch, &["run", "job.toml", "--from-savepoint", &from]).success();
    assert_eq!(
        restored_savepoint(&output.stderr),
        Some(savepoint_id(&second)),
        "{}",
        output.stderr
    );
    assert_same(&expected, &outputs(&scratch));
}

/// A plain (at-least-once) file sink of the window results, which shows
/// anything emitted after a savepoint's barrier: a stopping job must emit
/// nothing more (no end-of-input watermark firing its windows).
const PLAIN_SINK: &str = r#"
[[sink]]
name = "plain"
type = "file"
path = "plain.jsonl"
input = "per-second"
"#;

#[test]
fn stop_with_a_savepoint_ends_the_run_and_a_restore_finishes_the_output_exactly() {
    let expected = reference();
    let scratch = Scratch::new();
    let job = write_job(&scratch, "stopping", 2, "memory");
    let text = std::fs::read_to_string(&job).unwrap() + PLAIN_SINK;
    std::fs::write(&job, text).unwrap();
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);

    let refused = eddy(&scratch, &["stop", "stopping"]).failure();
    refused.stderr_has(&["`eddy stop` takes a final savepoint: pass `--savepoint`"]);
    assert!(run.running(), "a refused stop stops nothing");

    let stopped = eddy(&scratch, &["stop", "stopping", "--savepoint", "savepoints"]).success();
    let savepoint = PathBuf::from(stopped.stdout.trim());
    let (status, stderr) = run.wait();
    assert!(
        status.success(),
        "a stopped run exits 0: {status}\n{stderr}"
    );
    assert!(
        stderr.contains("stopped at savepoint"),
        "the run says where it stopped:\n{stderr}"
    );
    let partial = outputs(&scratch);
    assert!(
        partial["windows"].len() < expected["windows"].len(),
        "the job stopped before its input ended"
    );

    let from = savepoint.to_str().unwrap().to_string();
    let output = eddy(&scratch, &["run", "job.toml", "--from-savepoint", &from]).success();
    assert_eq!(
        restored_savepoint(&output.stderr),
        Some(savepoint_id(&savepoint))
    );
    assert_same(&expected, &outputs(&scratch));
    let mut plain = common::file_lines(&scratch.path("plain.jsonl"));
    plain.sort();
    assert!(
        plain == expected["windows"],
        "the plain file sink has {} lines, the windows {}: something was emitted after the stopping savepoint",
        plain.len(),
        expected["windows"].len()
    );
}

/// A request to the control API: status code and JSON body.
fn request(
    entry: &Value,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let address = entry["address"].as_str().unwrap();
    common::server::request(address, method, path, token, body)
}

/// The fields `schema` requires, following one `$ref`.
fn required_fields(api: &Value, schema: &Value) -> Vec<String> {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &api["components"]["schemas"][name]
        }
        None => schema,
    };
    schema["required"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_control_api_needs_the_token_and_answers_as_its_openapi_description_says() {
    let scratch = Scratch::new();
    // Unbounded: it runs until cancelled.
    scratch.write("job.toml", job_text("api", 1, "memory", None));
    let mut run = Background::start(&scratch, &["job.toml"]);
    let entry = wait_registered(&scratch, &mut run);
    let id = entry["id"].as_str().unwrap().to_string();
    let token = entry["token"].as_str().unwrap().to_string();
    let entry_file = run_dir(&scratch).join(format!("{id}.json"));
    let mode = std::fs::metadata(&entry_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the user can read the token");

    // Without the token, or with a wrong one: 401, and nothing happens.
    let cancel = format!("/v1/jobs/{id}/cancel");
    let (status, body) = request(&entry, "POST", &cancel, None, None);
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    let (status, body) = request(&entry, "POST", &cancel, Some("not-the-token"), None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("wrong bearer token"))
    );
    let (status, _) = request(
        &entry,
        "GET",
        &format!("/v1/jobs/{id}"),
        Some(&token[1..]),
        None,
    );
    assert_eq!(status, 401);
    std::thread::sleep(Duration::from_millis(200));
    assert!(run.running(), "unauthenticated requests changed nothing");

    // Every documented path and method, with the documented answers.
    let api: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("docs/control-api.openapi.json"))
            .unwrap(),
    )
    .unwrap();
    let documented = |path: &str, method: &str, status: u16| -> Vec<String> {
        let responses = &api["paths"][path][method]["responses"];
        let answer = &responses[status.to_string()];
        assert!(
            !answer.is_null(),
            "{method} {path} answered {status}, which docs/control-api.openapi.json does not list"
        );
        let schema = &answer["content"]["application/json"]["schema"];
        let schema = if schema.is_null() {
            let name = answer["$ref"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap();
            &api["components"]["responses"][name]["content"]["application/json"]["schema"]
        } else {
            schema
        };
        if schema["type"] == "array" {
            required_fields(&api, &schema["items"])
        } else {
            required_fields(&api, schema)
        }
    };
    let check = |method: &str,
                 template: &str,
                 path: &str,
                 body: Option<&str>,
                 expected: u16|
     -> Value {
        let (status, answer) = request(&entry, method, path, Some(&token), body);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        let fields = documented(template, &method.to_lowercase(), status);
        let object = if answer.is_array() {
            &answer[0]
        } else {
            &answer
        };
        for field in fields {
            assert!(
                object.get(&field).is_some(),
                "{method} {path}: the answer lacks `{field}`, which the description requires: {answer}"
            );
        }
        answer
    };
    check("GET", "/v1/jobs", "/v1/jobs", None, 200);
    // A single run takes no jobs or modules: that is `eddy serve`'s.
    let refused = check("POST", "/v1/jobs", "/v1/jobs", Some("{}"), 405);
    assert!(
        refused["error"].as_str().unwrap().contains("eddy serve"),
        "{refused}"
    );
    check("POST", "/v1/modules", "/v1/modules", Some("{}"), 405);
    // The run registers before it has planned its tasks.
    let started = Instant::now();
    let details = loop {
        let details = check("GET", "/v1/jobs/{id}", &format!("/v1/jobs/{id}"), None, 200);
        if details["status"]["phase"] != "starting" || started.elapsed() > Duration::from_secs(30) {
            break details;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(details["status"]["phase"], "running");
    let source = &details["status"]["nodes"][0];
    assert_eq!(source["name"], "events");
    assert!(source["records_out"].as_u64().unwrap() > 0, "{details}");
    assert_eq!(details["name"], "api");
    let graph = &details["graph"];
    for field in required_fields(
        &api,
        &api["components"]["schemas"]["JobDetails"]["properties"]["graph"],
    ) {
        assert!(
            graph.get(&field).is_some(),
            "the graph lacks `{field}`: {graph}"
        );
    }
    assert_eq!(graph["task_groups"].as_array().unwrap().len(), 3, "{graph}");
    check("GET", "/v1/jobs/{id}", "/v1/jobs/no-such-job", None, 404);
    let savepoints = format!("/v1/jobs/{id}/savepoints");
    let relative = check(
        "POST",
        "/v1/jobs/{id}/savepoints",
        &savepoints,
        Some(r#"{"dir":"relative/path"}"#),
        400,
    );
    assert!(
        relative["error"]
            .as_str()
            .unwrap()
            .contains("must be an absolute path")
    );
    let malformed = check(
        "POST",
        "/v1/jobs/{id}/savepoints",
        &savepoints,
        Some(r#"{"folder":"/tmp"}"#),
        400,
    );
    assert!(
        malformed["error"]
            .as_str()
            .unwrap()
            .starts_with("bad request body"),
        "{malformed}"
    );
    let dir = scratch.path("savepoints");
    let body = serde_json::json!({ "dir": dir }).to_string();
    let taken = check(
        "POST",
        "/v1/jobs/{id}/savepoints",
        &savepoints,
        Some(&body),
        200,
    );
    assert!(
        Path::new(taken["path"].as_str().unwrap())
            .join("_manifest.json")
            .is_file()
    );
    assert_eq!(taken["stopped"], false);

    // A live swap: bad requests, a refusal, and a swap to the same module.
    let swaps = format!("/v1/jobs/{id}/swaps");
    let relative = check(
        "POST",
        "/v1/jobs/{id}/swaps",
        &swaps,
        Some(r#"{"operator":"timeouts","module":"relative.wasm"}"#),
        400,
    );
    assert!(
        relative["error"]
            .as_str()
            .unwrap()
            .contains("must be an absolute path")
    );
    check(
        "POST",
        "/v1/jobs/{id}/swaps",
        &swaps,
        Some(r#"{"operator":"timeouts"}"#),
        400,
    );
    let module = wasm("count_with_timeout");
    let body = serde_json::json!({ "operator": "per-second", "module": module }).to_string();
    let refused = check("POST", "/v1/jobs/{id}/swaps", &swaps, Some(&body), 409);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("cannot swap operator `per-second`"),
        "{refused}"
    );
    let body = serde_json::json!({ "operator": "timeouts", "module": module }).to_string();
    let swapped = check("POST", "/v1/jobs/{id}/swaps", &swaps, Some(&body), 200);
    assert_eq!(swapped["operator"], "timeouts");
    assert_eq!(swapped["module_sha256"], swapped["previous_sha256"]);
    assert!(
        swapped["checkpoint"].is_null(),
        "the job has no checkpoints"
    );
    let details = check("GET", "/v1/jobs/{id}", &format!("/v1/jobs/{id}"), None, 200);
    let functions = details["status"]["functions"].as_array().unwrap();
    let timeouts = functions
        .iter()
        .find(|f| f["operator"] == "timeouts")
        .unwrap();
    assert_eq!(timeouts["swaps"].as_array().unwrap().len(), 1, "{details}");
    check("POST", "/v1/jobs/{id}/cancel", &cancel, None, 202);

    let (status, stderr) = run.wait();
    assert!(!status.success(), "a cancelled run does not exit 0");
    assert!(stderr.contains("job `api` was cancelled"), "{stderr}");
    assert!(!entry_file.exists(), "the run removed its entry");
}

#[test]
fn a_stop_whose_savepoint_cannot_be_written_leaves_the_job_running_and_its_output_whole() {
    let expected = reference();
    let scratch = Scratch::new();
    write_job(&scratch, "unstoppable", 1, "memory");
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    // The savepoint folder would go below a regular file: every state file
    // write fails, as on a full or read-only disk.
    scratch.write("not-a-folder", "a file");
    let failed = eddy(
        &scratch,
        &["stop", "unstoppable", "--savepoint", "not-a-folder"],
    )
    .failure();
    failed.stderr_has(&["job `unstoppable`", "savepoint", "failed", "HTTP 409"]);
    assert!(
        run.running(),
        "the sources read on after the failed savepoint"
    );
    let (status, stderr) = run.wait();
    assert!(status.success(), "{status}\n{stderr}");
    assert_same(&expected, &outputs(&scratch));
}

#[test]
fn bad_savepoints_and_requests_get_clear_messages_and_start_nothing() {
    let scratch = Scratch::new();
    write_job(&scratch, "sp", 1, "memory");

    // No job running: the verbs say so.
    for args in [
        &["savepoint", "nope"][..],
        &["stop", "nope", "--savepoint"],
        &["cancel", "nope"],
        &["status", "nope"],
    ] {
        eddy(&scratch, args)
            .failure()
            .stderr_has(&["no eddy job is running"]);
    }

    // A savepoint to try restores with.
    let mut run = Background::start(&scratch, &["job.toml"]);
    wait_registered(&scratch, &mut run);
    eddy(&scratch, &["status", "nope"])
        .failure()
        .stderr_has(&["no running job has the id or name `nope`"]);
    let status = eddy(&scratch, &["status", "sp"]).success();
    assert!(status.stdout.contains("job `sp`"), "{}", status.stdout);
    let savepoint = take_savepoint(&scratch, "sp");
    run.kill();
    let from = savepoint.to_str().unwrap().to_string();

    let refused = |job: &str, extra: &[&str], needles: &[&str]| {
        scratch.write("other.toml", job);
        let mut args = vec!["run", "other.toml", "--from-savepoint", &from];
        args.extend_from_slice(extra);
        let output = eddy(&scratch, &args).failure();
        output.stderr_has(needles);
        assert!(
            !output.stderr.contains("restoring savepoint"),
            "nothing was restored:\n{}",
            output.stderr
        );
    };
    // Another job's savepoint.
    refused(
        &job_text("other-job", 1, "memory", Some(RECORDS)),
        &[],
        &["belongs to job `sp`, not to this job `other-job`"],
    );
    // Another max_parallelism.
    refused(
        &job_text("sp", 1, "memory", Some(RECORDS)).replace(
            "parallelism = 1\n\n[state]",
            "parallelism = 1\nmax_parallelism = 64\n\n[state]",
        ),
        &[],
        &["was taken with max_parallelism = 128, and this job has 64"],
    );
    // An operator removed, without and with --allow-non-restored-state.
    let without_timeouts = job_text("sp", 1, "memory", Some(RECORDS))
        .replace("uid = \"timeouts\"", "uid = \"renamed\"")
        .replace("input = \"timeouts\"", "input = \"renamed\"");
    refused(
        &without_timeouts,
        &[],
        &[
            "holds state of operator `timeouts`, which this job no longer has",
            "--allow-non-restored-state",
        ],
    );
    scratch.write("other.toml", &without_timeouts);
    let output = eddy(
        &scratch,
        &[
            "run",
            "other.toml",
            "--from-savepoint",
            &from,
            "--allow-non-restored-state",
        ],
    )
    .success();
    output.stderr_has(&["is not restored (--allow-non-restored-state)"]);

    // The savepoint copied to another place (another machine): it
    // restores, and says that the sink files it committed are elsewhere.
    let elsewhere = Scratch::new();
    write_job(&elsewhere, "sp", 2, "memory");
    copy_dir(&savepoint, &elsewhere.path("copied"));
    eddy(
        &elsewhere,
        &["run", "job.toml", "--from-savepoint", "copied"],
    )
    .failure()
    .stderr_has(&["is not a checkpoint or savepoint folder"]);
    let copied = elsewhere.path(savepoint.file_name().unwrap().to_str().unwrap());
    copy_dir(&savepoint, &copied);
    let output = eddy(
        &elsewhere,
        &[
            "run",
            "job.toml",
            "--from-savepoint",
            copied.to_str().unwrap(),
        ],
    )
    .success();
    assert!(
        savepoint_committed_sink_files(&savepoint),
        "the savepoint committed sink files"
    );
    output.stderr_has(&["part files the restored snapshot committed are not in"]);

    // A state whose kind changed: the savepoint says `count` of
    // `timeouts` was a list state (as if an older module had declared it
    // so); today's module declares a value state of that name.
    let changed = scratch
        .path("changed-kind")
        .join(savepoint.file_name().unwrap());
    std::fs::create_dir_all(&changed).unwrap();
    for file in walk(&savepoint) {
        let target = changed.join(file.strip_prefix(&savepoint).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    let manifest_path = changed.join("_manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let functions = manifest["functions"].as_array_mut().unwrap();
    let timeouts = functions
        .iter_mut()
        .find(|f| f["uid"] == "timeouts")
        .expect("the manifest records the keyed process function");
    assert_eq!(timeouts["kind"], "keyed-process");
    assert_eq!(timeouts["module_sha256"].as_str().unwrap().len(), 64);
    timeouts["states"][0]["kind"] = Value::from("list");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let changed = changed.to_str().unwrap().to_string();
    eddy(&scratch, &["run", "job.toml", "--from-savepoint", &changed])
        .failure()
        .stderr_has(&[
            "operator `timeouts`: cannot restore savepoint",
            "state `count`: it is a list state in savepoint",
            "and a value state in",
            "count_with_timeout.wasm; a state's kind cannot change",
        ]);

    // Not a savepoint folder at all.
    let output = eddy(
        &scratch,
        &["run", "job.toml", "--from-savepoint", "job.toml"],
    )
    .failure();
    output.stderr_has(&["is not a checkpoint or savepoint folder"]);

    // A tampered state file, then a truncated savepoint (no manifest).
    let state = walk(&savepoint)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "state"))
        .expect("the savepoint has state files");
    let mut bytes = std::fs::read(&state).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&state, &bytes).unwrap();
    eddy(&scratch, &["run", "job.toml", "--from-savepoint", &from])
        .failure()
        .stderr_has(&["do not match the manifest's checksum"]);
    std::fs::remove_file(savepoint.join("_manifest.json")).unwrap();
    eddy(&scratch, &["run", "job.toml", "--from-savepoint", &from])
        .failure()
        .stderr_has(&["the manifest is truncated or corrupt", "never completed"]);

    // A remote control address needs the explicit flag.
    eddy(&scratch, &["run", "job.toml", "--control", "0.0.0.0:0"])
        .failure()
        .stderr_has(&["is not a loopback address", "--allow-remote-control"]);
}

/// Whether the savepoint's manifest lists sink files it committed.
fn savepoint_committed_sink_files(savepoint: &Path) -> bool {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(savepoint.join("_manifest.json")).unwrap())
            .unwrap();
    manifest["sinks"].as_array().is_some_and(|sinks| {
        sinks
            .iter()
            .any(|s| !s["committable"]["files"].as_array().unwrap().is_empty())
    })
}

/// Copy `from` (a folder) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    for file in walk(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
}

#[test]
fn a_savepoint_of_format_version_1_is_read_back_by_this_version_on_every_backend() {
    // `tests/fixtures/savepoint-v1`: a savepoint written by format version 1
    // (`eddy stop --savepoint` of the job in `job.toml.in`, parallelism 2,
    // memory state, plain file sinks), and what that run wrote before it
    // stopped. Restoring it must finish the output exactly: what the first
    // run wrote plus what the restored run writes is what one run writes.
    // If a deliberate format change makes this fail, bump the format
    // version and have this test expect the version message instead.
    let fixture = common::repo_root().join("tests/fixtures/savepoint-v1");
    let template = std::fs::read_to_string(fixture.join("job.toml.in")).unwrap();
    let job = template
        .replace("AGGREGATE", &toml_path(&wasm("count_aggregate")))
        .replace("TIMEOUTS", &toml_path(&wasm("count_with_timeout")));

    let reference = Scratch::new();
    reference.write("job.toml", &job);
    eddy(&reference, &["run", "--quiet", "job.toml"]).success();
    let whole = |scratch: &Scratch| {
        ["windows", "quiet"].map(|sink| {
            let mut lines = common::file_lines(&scratch.path(&format!("out/{sink}.jsonl")));
            lines.sort();
            lines
        })
    };
    let expected = whole(&reference);

    // `eddy inspect` shows what the savepoint holds.
    let shown = eddy(
        &reference,
        &[
            "inspect",
            fixture.join("savepoint-000000000001").to_str().unwrap(),
        ],
    )
    .success();
    for line in [
        "savepoint 1 of job `fixture` (format 1, written by eddy 0.1.0, max_parallelism 128)",
        "operator `timeouts` (keyed-process, module sha256 ",
        "state `count` (value, version 1): 40 keys, 40 entries",
        "timers: 265 event-time, 0 processing-time",
        "operator `per-second` (aggregate,",
        "source `events` subtask 1/1: generator at next 23914",
    ] {
        assert!(
            shown.stdout.contains(line),
            "no `{line}` in:\n{}",
            shown.stdout
        );
    }

    for (parallelism, state) in [
        (3, "[state]\nbackend = \"memory\"\n"),
        (1, "[state]\nbackend = \"rocksdb\"\nlocal_dir = \"state\"\n"),
    ] {
        let scratch = Scratch::new();
        copy_dir(&fixture.join("out"), &scratch.path("out"));
        copy_dir(
            &fixture.join("savepoint-000000000001"),
            &scratch.path("savepoint-000000000001"),
        );
        let job = job.replace(
            "parallelism = 2\n",
            &format!("parallelism = {parallelism}\n\n{state}"),
        );
        scratch.write("job.toml", &job);
        let output = eddy(
            &scratch,
            &[
                "run",
                "job.toml",
                "--from-savepoint",
                "savepoint-000000000001",
            ],
        )
        .success();
        assert_eq!(
            restored_savepoint(&output.stderr),
            Some(1),
            "{}",
            output.stderr
        );
        let restored = whole(&scratch);
        for (sink, (expected, restored)) in ["windows", "quiet"]
            .iter()
            .zip(expected.iter().zip(&restored))
        {
            assert!(
                expected == restored,
                "sink `{sink}` at parallelism {parallelism} ({state:?}): {} lines expected, {} after the restore",
                expected.len(),
                restored.len()
            );
        }
    }
}

#[test]
fn a_savepoint_of_a_job_reading_stdin_is_refused_at_once() {
    let scratch = Scratch::new();
    scratch.write(
        "job.toml",
        "[job]\nname = \"piped\"\n\n[[source]]\nname = \"lines\"\ntype = \"stdin\"\nformat = \"text\"\n\n[[sink]]\nname = \"out\"\ntype = \"discard\"\ninput = \"lines\"\n",
    );
    let mut child = Command::new(eddy_bin())
        .args(["run", "--quiet", "job.toml"])
        .current_dir(scratch.dir.path())
        .env("EDDY_RUN_DIR", run_dir(&scratch))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start eddy");
    let started = Instant::now();
    // The entry is written as a hidden `.tmp` file, then renamed.
    let registered = || {
        std::fs::read_dir(run_dir(&scratch)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
    };
    while !registered() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no run registered"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = eddy(&scratch, &["savepoint", "piped", "savepoints"]).failure();
    refused.stderr_has(&[
        "source `lines` reads stdin, which cannot be read again from a position",
        "HTTP 409",
    ]);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}
