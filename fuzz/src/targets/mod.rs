//! The readers under test, one module each. A target says where its valid
//! inputs come from and how to feed one input to its reader; the driver
//! does the rest. Adding a reader (the savepoint reader, later) is one
//! module here and one line in [`all`].

mod canary;
mod job_file;
mod manifest;
mod state_file;

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// One reader of untrusted bytes, fed mutated inputs by the driver.
pub trait FuzzTarget {
    /// The name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// Valid inputs, the starting points of mutation.
    fn seeds(&self) -> Result<Vec<Vec<u8>>, String>;

    /// Tokens of the input's format that mutations insert, so damage is
    /// also structural (a new table, a quote, a number at a type's edge).
    fn dictionary(&self) -> &[&'static [u8]] {
        &[]
    }

    /// Feed `input` to the reader. Returns a signature of what it did
    /// (see [`signature`]); inputs with a signature not seen before are
    /// kept for further mutation, a cheap stand-in for coverage.
    fn run(&mut self, input: &[u8]) -> u64;
}

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub fn all() -> Result<Vec<Box<dyn FuzzTarget>>, String> {
    Ok(vec![
        Box::new(job_file::JobFile),
        Box::new(manifest::CheckpointManifest::new()?),
        Box::new(state_file::OperatorStateFile),
    ])
}

/// Targets that fail on purpose (`canary-panic`, `canary-hang`,
/// `canary-allocation`), run only when named: the harness's own test.
pub fn canaries() -> Vec<Box<dyn FuzzTarget>> {
    canary::Canary::ALL
        .into_iter()
        .map(|canary| Box::new(canary) as Box<dyn FuzzTarget>)
        .collect()
}

/// The signature of a reader's outcome: 0 for success, else a hash of its
/// error message without digits and without what it quotes, so that the
/// same check failing on other values counts once.
pub fn signature<T, E: Display>(outcome: &Result<T, E>) -> u64 {
    let Err(error) = outcome else { return 0 };
    let mut shape = String::new();
    let mut quoted = false;
    for c in error.to_string().chars() {
        match c {
            '`' => quoted = !quoted,
            _ if quoted || c.is_ascii_digit() => {}
            _ => shape.push(c),
        }
    }
    xxhash_rust::xxh3::xxh3_64(shape.as_bytes()) | 1
}

/// `fuzz/seeds/<name>`: seed inputs kept with the harness.
fn seed_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(name)
}

/// The repository's root, where the example jobs are.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ is inside the repository")
        .to_path_buf()
}

/// The contents of every file below `dir` (recursively) that `keep`
/// accepts, in path order.
fn files_below(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<Vec<Vec<u8>>, String> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("reading {}: {e}", dir.display()))?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if keep(&path) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display())))
        .collect()
}
