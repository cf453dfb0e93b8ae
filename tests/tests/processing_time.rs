//! Processing-time timers, end to end, with the `idle-timeout` guest.
//!
//! The host fires processing-time timers only while the job runs (pending ones
//! are not fired at the end of input), so these tests keep a stdin source open,
//! feed it line by line and wait for the timer output before sending more.
//! There are no wall-clock assertions: [`DEADLINE`] only bounds a hung run.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;

/// A test that has not finished by then is hung: eddy is killed and the test
/// fails. A liveness bound, not a performance assertion.
const DEADLINE: Duration = Duration::from_secs(30);

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

/// `eddy run --quiet <job>` running in the background, fed through its stdin.
struct LiveJob {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    deadline: Instant,
    /// Lines received so far, for failure messages.
    seen: Vec<String>,
}

impl LiveJob {
    fn start(job: &Path) -> Self {
        let mut child = Command::new(eddy_bin())
            .args(["run", "--quiet", path_str(job)])
            .current_dir(job.parent().expect("job file has a directory"))
            .env_remove("EDDY_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eddy");
        let stdin = child.stdin.take().expect("stdin pipe");
        let out = child.stdout.take().expect("stdout pipe");
        let (lines, stdout) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if !line.trim().is_empty() && lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr pipe");
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        LiveJob {
            child,
            stdin: Some(stdin),
            stdout,
            stderr: Some(stderr),
            deadline: Instant::now() + DEADLINE,
            seen: Vec::new(),
        }
    }

    /// Write one input line (and flush it, so the source sees it now).
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            self.fail(&format!("write {line:?} to eddy's stdin: {e}"));
        }
    }

    /// The next `n` output lines, waiting for them until the deadline.
    fn next_lines(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    got.push(line);
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!(
                    "waited {DEADLINE:?} for {n} output lines, got {got:?}"
                )),
                Err(RecvTimeoutError::Disconnected) => self.fail(&format!(
                    "eddy closed stdout after {got:?}, expected {n} lines"
                )),
            }
        }
        got
    }

    /// Close stdin (end of input), wait for eddy to exit and return its exit
    /// status and any output lines that came after the ones already read.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.stdin.take());
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for eddy") {
                break status;
            }
            if Instant::now() > self.deadline {
                self.fail("eddy did not exit after its stdin was closed");
            }
            thread::sleep(Duration::from_millis(10));
        };
        // The reader thread ends at EOF, which follows the exit.
        let rest: Vec<String> = self.stdout.iter().collect();
        (status, rest)
    }

    /// Kill eddy and fail the test with `message`, what was seen and stderr.
    fn fail(&mut self, message: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        panic!(
            "{message}\n--- stdout lines so far: {:?}\n--- stderr:\n{stderr}",
            self.seen
        );
    }
}

impl Drop for LiveJob {
    fn drop(&mut self) {
        // A panicking test must not leave eddy running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
