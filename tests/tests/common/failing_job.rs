//! A job that fails on a record: a file source of JSON lines → the
//! `faulty` map, which panics on a record holding `poison` → a discard
//! sink. For the tests of what a server and its dashboard show of a failure.

use super::{Scratch, toml_path, wasm};

/// Write the job into `scratch`'s folder `folder` (`job.toml`, reading
/// `in.jsonl`, which holds `records`, one per line).
pub fn write_failing_job(scratch: &Scratch, folder: &str, records: &[&str]) {
    scratch.write(&format!("{folder}/in.jsonl"), records.join("\n") + "\n");
    scratch.write(
        &format!("{folder}/job.toml"),
        format!(
            r#"[job]
name = "faulty"

[[source]]
name = "src"
type = "file"
path = "in.jsonl"
timestamp = {{ field = "ts" }}

[[operator]]
uid = "op"
kind = "map"
module = {module}
input = "src"
config = {{ mode = "panic-on", needle = "poison" }}

[[sink]]
name = "out"
type = "discard"
input = "op"
"#,
            module = toml_path(&wasm("faulty"))
        ),
    );
}
