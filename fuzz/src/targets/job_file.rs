//! The job-file loader (`eddy::job::parse_job`), from TOML text.

use std::path::Path;

use super::{FuzzTarget, files_below, repo_root, seed_dir, signature};

/// Job files as users write them: the examples' and the tests'.
pub struct JobFile;

/// TOML syntax and the job file's own words.
const DICTIONARY: &[&[u8]] = &[
    b"[job]\n",
    b"\n[[source]]\n",
    b"\n[[operator]]\n",
    b"\n[[sink]]\n",
    b"\n[checkpoints]\n",
    b"\n[state]\n",
    b"\n[restart]\n",
    b" = ",
    b"\"",
    b"'''",
    b"{ ",
    b" }",
    b"[",
    b"]",
    b", ",
    b".",
    b"-1",
    b"0",
    b"65536",
    b"4294967296",
    b"18446744073709551616",
    b"-9223372036854775808",
    b"1e400",
    b"nan",
    b"inf",
    b"\"0s\"",
    b"\"1ms\"",
    b"\"99999999999999999h\"",
    b"\"0B\"",
    b"\"16EiB\"",
    b"parallelism",
    b"max_parallelism",
    b"key_by",
    b"window",
    b"input",
    b"uid",
    b"kind",
    b"side_output",
    b"\"op/late\"",
    b"on_failure",
    b"delivery",
];

impl FuzzTarget for JobFile {
    fn name(&self) -> &'static str {
        "job-file"
    }

    fn seeds(&self) -> Result<Vec<Vec<u8>>, String> {
        let mut seeds = files_below(&seed_dir(self.name()), &|_| true)?;
        let examples = repo_root().join("examples-wasm");
        let entries = std::fs::read_dir(&examples)
            .map_err(|e| format!("reading {}: {e}", examples.display()))?;
        let mut jobs: Vec<_> = entries
            .flatten()
            .map(|entry| entry.path().join("job.toml"))
            .filter(|job| job.is_file())
            .collect();
        jobs.sort();
        for job in jobs {
            seeds.push(std::fs::read(&job).map_err(|e| format!("reading {}: {e}", job.display()))?);
        }
        Ok(seeds)
    }

    fn dictionary(&self) -> &[&'static [u8]] {
        DICTIONARY
    }

    fn run(&mut self, input: &[u8]) -> u64 {
        // The examples' directory, so that their relative paths resolve.
        let file = repo_root()
            .join("examples-wasm")
            .join("word-count")
            .join("job.toml");
        let text = String::from_utf8_lossy(input);
        let outcome = eddy::job::parse_job(&text, Path::new(&file));
        signature(&outcome.map_err(|e| e.message().to_string()))
    }
}
