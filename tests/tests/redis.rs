//! The Redis sink against a real `redis-server`: each mode writes exactly
//! what the job computed; a job killed and restored several times ends with
//! the same Redis contents as a run without kills (writes are idempotent
//! upserts); an unreachable server, a record without a template's field and
//! a sink table missing a mode's option each get a clear message.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::background::{Background, eddy_in as eddy};
use common::redis_server::{RedisServer, free_port};
use common::{Scratch, toml_path, wasm};
use redis::Commands;

/// A job counting each user's clicks per one-minute window of event time
/// (the `count_aggregate` guest: `{"key", "start", "end", "count"}`), its
/// results written by the sinks in `sinks`.
fn job_text(name: &str, source: &str, checkpoints: bool, sinks: &str) -> String {
    // A checkpoint a second: a kill two seconds into a run comes after
    // windows fired since the last one, which the restored run fires again.
    let checkpoints = if checkpoints {
        "[checkpoints]\ninterval = \"1s\"\nmin_pause = \"100ms\"\ndir = \"checkpoints\"\n"
    } else {
        ""
    };
    format!(
        r#"[job]
name = "{name}"
parallelism = 2

{checkpoints}
{source}

[[operator]]
uid = "per-minute"
kind = "aggregate"
module = {module}
input = "clicks"
key_by = {{ field = "{key}" }}
window = {{ type = "tumbling", size = "1m" }}

{sinks}
"#,
        module = toml_path(&wasm("count_aggregate")),
        key = if source.contains("generator") {
            "key"
        } else {
            "user"
        },
    )
}

/// The clicks of `clicks.jsonl`, in event-time order.
const CLICKS_FILE: &str = r#"[[source]]
name = "clicks"
type = "file"
path = "clicks.jsonl"
timestamp = { field = "ts" }
watermark = { strategy = "monotonous" }"#;

#[test]
fn each_mode_writes_what_the_job_computed() {
    let server = RedisServer::start();
    let scratch = Scratch::new();
    // Clicks of four users over ten minutes, out of step with each other.
    let mut lines = String::new();
    let mut expected: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for i in 0..600i64 {
        let user = format!("u{}", (i * 7) % 4);
        let ts = 1_700_000_000_000 + i * 997;
        lines.push_str(&format!("{{\"user\":\"{user}\",\"ts\":{ts}}}\n"));
        let end = (ts.div_euclid(60_000) + 1) * 60_000;
        *expected.entry((user, end)).or_default() += 1;
    }
    scratch.write("clicks.jsonl", lines);
    let url = server.url();
    let sinks = format!(
        r#"[[sink]]
name = "per-window"
type = "redis"
input = "per-minute"
[sink.redis]
url = "{url}"
mode = "hset"
key = "clicks:{{key}}"
field = "{{end}}"
value = "{{count}}"
ttl = "1h"

[[sink]]
name = "leaderboard"
type = "redis"
input = "per-minute"
[sink.redis]
url = "{url}"
mode = "zadd"
key = "top"
member = "{{key}}@{{end}}"
score = "count"

[[sink]]
name = "latest"
type = "redis"
input = "per-minute"
[sink.redis]
url = "{url}"
mode = "set"
key = "latest:{{key}}"
"#
    );
    scratch.write("job.toml", job_text("dash", CLICKS_FILE, false, &sinks));
    eddy(&scratch, &["run", "--quiet", "job.toml"]).success();

    let mut redis = server.connection();
    let users: Vec<String> = (0..4).map(|u| format!("u{u}")).collect();
    for user in &users {
        let hash: HashMap<String, u64> = redis.hgetall(format!("clicks:{user}")).unwrap();
        let wanted: HashMap<String, u64> = expected
            .iter()
            .filter(|((u, _), _)| u == user)
            .map(|((_, end), count)| (end.to_string(), *count))
            .collect();
        assert_eq!(hash, wanted, "hset of {user}");
        let ttl: i64 = redis.ttl(format!("clicks:{user}")).unwrap();
        assert!((3500..=3600).contains(&ttl), "expiry of {user}: {ttl}");
        // `set` keeps the last window's result of each user.
        let latest: String = redis.get(format!("latest:{user}")).unwrap();
        let latest: serde_json::Value = serde_json::from_str(&latest).unwrap();
        let last_end = expected
            .keys()
            .filter(|(u, _)| u == user)
            .map(|(_, e)| *e)
            .max();
        assert_eq!(latest["end"].as_i64(), last_end, "{latest}");
    }
    let top: Vec<(String, f64)> = redis.zrange_withscores("top", 0, -1).unwrap();
    let mut wanted: Vec<(String, f64)> = expected
        .iter()
        .map(|((user, end), count)| (format!("{user}@{end}"), *count as f64))
        .collect();
    let mut top = top;
    top.sort_by(|a, b| a.0.cmp(&b.0));
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(top, wanted, "zadd leaderboard");
}

/// The generator job of the kill test: 80,000 clicks at 10,000/s over
/// 800 s of event time (a window fires about every 0.6 s of the run),
/// written with `hset` under `prefix`.
fn generated_job(name: &str, url: &str, prefix: &str, rate: bool) -> String {
    let rate = if rate { "rate = 10000" } else { "" };
    let source = format!(
        r#"[[source]]
name = "clicks"
type = "generator"
parallelism = 1
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "bounded-out-of-orderness", max_out_of_orderness = "2s" }}
[source.generator]
count = 80000
{rate}
keys = 20
events_per_second = 100
max_lag = "2s"
seed = 3"#
    );
    let sinks = format!(
        r#"[[sink]]
name = "per-window"
type = "redis"
input = "per-minute"
[sink.redis]
url = "{url}"
mode = "hset"
key = "{prefix}:{{key}}"
field = "{{end}}"
value = "{{count}}"
"#
    );
    job_text(name, &source, true, &sinks)
}

/// Every hash below `prefix:`, without the prefix.
fn hashes(redis: &mut redis::Connection, prefix: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let keys: Vec<String> = redis.keys(format!("{prefix}:*")).unwrap();
    keys.into_iter()
        .map(|key| {
            let hash: BTreeMap<String, u64> = redis.hgetall(&key).unwrap();
            (key[prefix.len() + 1..].to_string(), hash)
        })
        .collect()
}

#[test]
fn killed_and_restored_three_times_the_job_leaves_redis_as_a_run_without_kills() {
    let server = RedisServer::start();
    let url = server.url();
    let reference = Scratch::new();
    reference.write("job.toml", generated_job("ref", &url, "ref", false));
    eddy(&reference, &["run", "--quiet", "job.toml"]).success();
    let mut redis = server.connection();
    let expected = hashes(&mut redis, "ref");
    assert!(expected.len() == 20, "every key has windows: {expected:?}");

    let scratch = Scratch::new();
    scratch.write("job.toml", generated_job("killed", &url, "run", true));
    let mut args = vec!["job.toml"];
    let mut restored = 0;
    for kill in 0..3 {
        let mut run = Background::start(&scratch, &args);
        // Past the first checkpoint of this run and windows after it, at a
        // moment that varies.
        let wait = Duration::from_millis(1800 + 300 * kill);
        let started = Instant::now();
        while started.elapsed() < wait && run.running() {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(run.running(), "killed while it runs:\n{}", run.stderr());
        let stderr = run.kill();
        restored += usize::from(stderr.contains("restoring checkpoint"));
        args = vec!["job.toml", "--from-checkpoint", "latest"];
    }
    let last = eddy(
        &scratch,
        &["run", "--quiet", "job.toml", "--from-checkpoint", "latest"],
    )
    .success();
    assert!(
        last.stderr.contains("restoring checkpoint"),
        "the last run restored:\n{}",
        last.stderr
    );
    assert!(
        restored >= 1,
        "runs after the first restored, {restored} of 2"
    );
    assert_eq!(hashes(&mut redis, "run"), expected);
}

#[test]
fn an_unreachable_redis_fails_the_job_at_once_with_the_url() {
    let scratch = Scratch::new();
    let port = free_port();
    scratch.write("clicks.jsonl", "{\"user\":\"a\",\"ts\":1}\n");
    let sinks = format!(
        "[[sink]]\nname = \"out\"\ntype = \"redis\"\ninput = \"per-minute\"\n[sink.redis]\nurl = \"redis://127.0.0.1:{port}\"\nmode = \"set\"\nkey = \"k:{{key}}\"\n"
    );
    scratch.write("job.toml", job_text("down", CLICKS_FILE, false, &sinks));
    let started = Instant::now();
    let output = eddy(&scratch, &["run", "job.toml"]).failure();
    output.stderr_has(&[
        "sink `out`",
        &format!("cannot reach Redis at redis://127.0.0.1:{port} within 5s"),
    ]);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_record_without_a_templates_field_fails_the_job_naming_the_field_and_record() {
    let server = RedisServer::start();
    let scratch = Scratch::new();
    scratch.write("clicks.jsonl", "{\"user\":\"a\",\"ts\":1}\n");
    let sinks = format!(
        "[[sink]]\nname = \"out\"\ntype = \"redis\"\ninput = \"per-minute\"\n[sink.redis]\nurl = \"{}\"\nmode = \"set\"\nkey = \"k:{{region}}\"\n",
        server.url()
    );
    scratch.write("job.toml", job_text("fields", CLICKS_FILE, false, &sinks));
    eddy(&scratch, &["run", "job.toml"]).failure().stderr_has(&[
        "sink `out`",
        "cannot read field `region` of a record: field is missing (record: {\"key\":\"a\"",
    ]);
}

#[test]
fn sink_tables_missing_a_modes_option_are_refused_at_load() {
    let scratch = Scratch::new();
    scratch.write("clicks.jsonl", "{\"user\":\"a\",\"ts\":1}\n");
    let cases = [
        (
            "[sink.redis]\nmode = \"zadd\"\nkey = \"top\"\nmember = \"{key}\"\n",
            "`mode = \"zadd\"` needs `score`",
        ),
        (
            "[sink.redis]\nmode = \"set\"\nkey = \"top\"\nfield = \"{key}\"\n",
            "`field` is not an option of `mode = \"set\"`",
        ),
        (
            "[sink.redis]\nmode = \"set\"\nkey = \"top:{key\"\n",
            "has a `{` without its `}`",
        ),
        (
            "",
            "a `redis` sink needs its options in a `[sink.redis]` table",
        ),
    ];
    for (table, message) in cases {
        let sinks =
            format!("[[sink]]\nname = \"out\"\ntype = \"redis\"\ninput = \"per-minute\"\n{table}");
        scratch.write("job.toml", job_text("bad", CLICKS_FILE, false, &sinks));
        eddy(&scratch, &["validate", "job.toml"])
            .failure()
            .stderr_has(&["sink `out`", message]);
    }
}
