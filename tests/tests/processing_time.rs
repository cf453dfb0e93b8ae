//! Processing-time timers, end to end, with the `idle-timeout` guest.
//!
//! The host fires processing-time timers only while the job runs (pending ones
//! are not fired at the end of input), so these tests keep a stdin source open,
//! feed it line by line and wait for the timer output before sending more.
//! There are no wall-clock assertions: [`common::live::DEADLINE`] only bounds a hung run.

mod common;

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use common::live::LiveJob;
use common::*;

/// A job `stdin -> keyed-process idle-timeout (by user) -> stdout`.
fn idle_timeout_job(scratch: &Scratch, config: &str) -> PathBuf {
    scratch.write(
        "idle.toml",
        format!(
            r#"[job]
name = "idle-timeout"

[[source]]
name = "messages"
type = "stdin"
format = "json"

[[operator]]
uid = "idle"
kind = "keyed-process"
module = {module}
input = "messages"
key_by = {{ field = "user" }}
{config}

[[sink]]
name = "out"
type = "stdout"
input = "idle"
"#,
            module = toml_path(&wasm("idle_timeout")),
        ),
    )
}

fn message(user: &str, msg: &str) -> String {
    format!(r#"{{"user":"{user}","msg":"{msg}"}}"#)
}

fn idle(user: &str, last_msg: &str) -> String {
    format!(r#"{{"user":"{user}","idle_after":"{last_msg}"}}"#)
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn processing_time_timers_fire_while_the_job_runs() {
    let scratch = Scratch::new();
    // No config: the guest's default delay of 200 ms.
    let job = idle_timeout_job(&scratch, "");
    let mut live = LiveJob::start(&job);

    live.send(&message("a", "hello"));
    live.send(&message("b", "hi"));
    // Both users go idle; the timers fire in either order.
    assert_eq!(
        sorted(live.next_lines(2)),
        sorted(vec![idle("a", "hello"), idle("b", "hi")])
    );

    // State was cleared by the timer: a new record starts over.
    live.send(&message("a", "again"));
    assert_eq!(live.next_lines(1), [idle("a", "again")]);

    let (status, rest) = live.finish();
    assert_eq!(status.code(), Some(0), "eddy failed: {status:?}");
    assert!(
        rest.is_empty(),
        "unexpected output after the last timer: {rest:?}"
    );
}

#[test]
fn a_newer_record_replaces_the_pending_timer() {
    let scratch = Scratch::new();
    let job = idle_timeout_job(&scratch, "config = { delay_ms = 2000 }");
    let mut live = LiveJob::start(&job);

    // The second record arrives well before the first one's timer (2 s) and
    // deletes it: `a` goes idle once, after its last message. The pause only
    // gives the second record a later processing time (records of one batch
    // share it, and equal timers would merge, hiding a missing deletion).
    live.send(&message("a", "first"));
    thread::sleep(Duration::from_millis(100));
    live.send(&message("a", "second"));
    assert_eq!(live.next_lines(1), [idle("a", "second")]);

    // A sentinel: its timer is registered after both of `a`'s timers were due,
    // and timers fire in time order, so a second output for `a` (a timer that
    // was not deleted) would come before this one.
    live.send(&message("c", "sentinel"));
    assert_eq!(live.next_lines(1), [idle("c", "sentinel")]);

    let (status, rest) = live.finish();
    assert_eq!(status.code(), Some(0), "eddy failed: {status:?}");
    assert!(
        rest.is_empty(),
        "unexpected output after the sentinel: {rest:?}"
    );
}
