//! A run of `eddy run` in the background, for tests that talk to a running
//! job (savepoints, live swaps): started in a scratch folder with its own
//! run directory (`EDDY_RUN_DIR`), so tests that run at once do not see
//! each other's jobs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Output, Scratch, eddy_bin, eddy_with_env};

/// The run directory of a test.
pub fn run_dir(scratch: &Scratch) -> PathBuf {
    scratch.path("run")
}

/// `eddy ARGS` in `scratch`, with the test's run directory (so the verbs
/// find the test's runs and servers), logging at info.
pub fn eddy_in(scratch: &Scratch, args: &[&str]) -> Output {
    eddy_with_env(
        args,
        scratch.dir.path(),
        None,
        Duration::from_secs(120),
        &[
            ("EDDY_RUN_DIR", run_dir(scratch).to_str().unwrap()),
            ("EDDY_LOG", "eddy=info"),
        ],
    )
}

/// An `eddy run` in the background; its stderr goes to a file.
pub struct Background {
    child: Child,
    stderr: PathBuf,
}

impl Background {
    /// `eddy run ARGS` in `scratch`, registering in `scratch`'s `run` folder.
    pub fn start(scratch: &Scratch, args: &[&str]) -> Self {
        Self::eddy(scratch, &[&["run"], args].concat())
    }

    /// `eddy ARGS` in `scratch` (`serve ...`, `run ...`), registering in
    /// `scratch`'s `run` folder.
    pub fn eddy(scratch: &Scratch, args: &[&str]) -> Self {
        let stderr = scratch.path(&format!("stderr-{}.txt", std::process::id()));
        let stderr = unique(stderr);
        let mut command = Command::new(eddy_bin());
        command
            .args(args)
            .current_dir(scratch.dir.path())
            .env("EDDY_RUN_DIR", run_dir(scratch))
            .env("EDDY_LOG", "eddy=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        Background {
            child: command.spawn().expect("start eddy"),
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr()
    }

    /// Wait for the end (at most a minute); exit status and stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.stderr());
            }
            if started.elapsed() > Duration::from_secs(60) {
                let stderr = self.kill();
                panic!("the run did not end within a minute:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A test that ends, passing or not, leaves no process behind.
impl Drop for Background {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `path`, or `path` with a number added if it exists.
fn unique(path: PathBuf) -> PathBuf {
    let mut n = 0;
    loop {
        let candidate = path.with_extension(format!("{n}.txt"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// The run entry of the one job in the test's run directory, once the run
/// has registered.
pub fn wait_registered(scratch: &Scratch, run: &mut Background) -> Value {
    let started = Instant::now();
    loop {
        let entries: Vec<PathBuf> = std::fs::read_dir(run_dir(scratch))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        if let [entry] = entries.as_slice()
            && let Ok(text) = std::fs::read_to_string(entry)
            && let Ok(value) = serde_json::from_str::<Value>(&text)
        {
            return value;
        }
        assert!(
            run.running(),
            "the run ended before it registered:\n{}",
            run.stderr()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no run registered within a minute"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
