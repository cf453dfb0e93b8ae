//! A job running in the background while a test feeds it and reads its
//! output line by line (processing-time timers, idle inputs).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{eddy_bin, path_str};

/// A test that has not finished by then is hung: eddy is killed and the test
/// fails. A liveness bound, not a performance assertion.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// `eddy run --quiet <job>` running in the background, fed through its stdin.
pub struct LiveJob {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    deadline: Instant,
    /// Lines received so far, for failure messages.
    seen: Vec<String>,
}

impl LiveJob {
    pub fn start(job: &Path) -> Self {
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
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            self.fail(&format!("write {line:?} to eddy's stdin: {e}"));
        }
    }

    /// The next `n` output lines, waiting for them until the deadline.
    pub fn next_lines(&mut self, n: usize) -> Vec<String> {
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
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
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
    pub fn fail(&mut self, message: &str) -> ! {
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
