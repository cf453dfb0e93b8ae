//! An input that goes quiet does not stall event time: with `idle_timeout`
//! set, a source that has produced nothing for that long is marked idle and
//! downstream watermarks follow the other inputs alone.
//!
//! Both sources read named pipes that the test keeps open, so neither input
//! ends; only idleness can let the window fire before the end.

mod common;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::live::LiveJob;
use common::*;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Open the write end of `pipe` once eddy has opened its read end, without
/// blocking forever if eddy never does (it failed early): opening a FIFO
/// non-blocking fails until a reader is there.
fn open_writer(pipe: &Path, live: &mut LiveJob) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000; // Linux
    let deadline = std::time::Instant::now() + common::live::DEADLINE;
    loop {
        match File::options()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(pipe)
        {
            Ok(file) => return file,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => live.fail(&format!(
                "eddy never opened {} for reading: {error}",
                pipe.display()
            )),
        }
    }
}

fn write_line(pipe: &mut File, line: &str) {
    writeln!(pipe, "{line}").expect("write to the pipe");
    pipe.flush().expect("flush the pipe");
}

fn count(key: &str, start: i64, end: i64, count: u64) -> String {
    format!(r#"{{"key":"{key}","start":{start},"end":{end},"count":{count}}}"#)
}

#[test]
fn a_quiet_input_does_not_hold_back_the_window_of_the_other() {
    let scratch = Scratch::new();
    let (busy, quiet) = (scratch.path("busy.pipe"), scratch.path("quiet.pipe"));
    mkfifo(&busy);
    mkfifo(&quiet);
    let job = scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "idleness"

[[source]]
name = "busy"
type = "file"
path = "busy.pipe"
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "monotonous" }}
idle_timeout = "300ms"

[[source]]
name = "quiet"
type = "file"
path = "quiet.pipe"
timestamp = {{ field = "ts" }}
watermark = {{ strategy = "monotonous" }}
idle_timeout = "300ms"

[[operator]]
uid = "counts"
kind = "aggregate"
module = {module}
input = ["busy", "quiet"]
key_by = {{ field = "user" }}
window = {{ type = "tumbling", size = "10s" }}

[[sink]]
name = "out"
type = "stdout"
input = "counts"
"#,
            module = toml_path(&wasm("count_aggregate")),
        ),
    );
    let mut live = LiveJob::start(&job);
    // eddy opens the pipes in source order; each open waits for the other end.
    let mut busy = open_writer(&busy, &mut live);
    let mut quiet = open_writer(&quiet, &mut live);

    // One record on the quiet input, then nothing more from it.
    write_line(&mut quiet, r#"{"user":"q","ts":1000}"#);
    for ts in [2_000, 5_000, 12_000] {
        write_line(&mut busy, &format!(r#"{{"user":"b","ts":{ts}}}"#));
    }
    // The busy input's watermark (11 999) passes the end of [0, 10 s); the
    // quiet one's (999) would hold it back if it were not idle.
    let fired = live.next_lines(2);
    assert_eq!(
        sorted_json(&fired),
        sorted_json(&[count("b", 0, 10_000, 2), count("q", 0, 10_000, 1)])
    );

    drop(busy);
    drop(quiet);
    let (status, rest) = live.finish();
    assert!(status.success(), "eddy failed: {status}");
    assert_eq!(rest, vec![count("b", 10_000, 20_000, 1)]);
}
