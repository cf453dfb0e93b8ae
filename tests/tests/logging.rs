//! `EDDY_LOG`: a bare level shows eddy's and the guests' lines, not the
//! compiler's, and log lines carry no colour codes when stderr is not a
//! terminal.

mod common;

use std::path::PathBuf;

use common::*;

/// The debug line the `faulty` guest logs in `open`.
const GUEST_DEBUG_LINE: &str = "faulty guest: opened in mode Identity";

/// A job passing two records through the `faulty` guest (identity).
fn identity_job(scratch: &Scratch) -> PathBuf {
    scratch.write("in.jsonl", "{\"a\":1}\n{\"a\":2}\n");
    scratch.write(
        "job.toml",
        format!(
            r#"[job]
name = "logging"

[[source]]
name = "src"
type = "file"
path = "in.jsonl"

[[operator]]
uid = "op"
kind = "map"
module = {module}
input = "src"

[[sink]]
name = "out"
type = "stdout"
input = "op"
"#,
            module = toml_path(&wasm("faulty"))
        ),
    )
}

/// `eddy run --quiet` of `job` with `EDDY_LOG=filter`, compiling the module
/// afresh (no cache), so that the compiler has something to log.
fn run_logged(scratch: &Scratch, job: &std::path::Path, filter: &str) -> Output {
    eddy_with_env(
        &["run", "--quiet", path_str(job)],
        scratch.dir.path(),
        None,
        HANG_LIMIT,
        &[("EDDY_LOG", filter), ("EDDY_CACHE_DIR", "off")],
    )
    .success()
}

#[test]
fn a_bare_level_shows_the_guests_debug_lines_and_not_the_compilers() {
    let scratch = Scratch::new();
    let job = identity_job(&scratch);

    let out = run_logged(&scratch, &job, "debug");
    assert_eq!(out.stdout_lines().len(), 2, "{}", out.describe());
    out.stderr_has(&[GUEST_DEBUG_LINE, "operator=\"op\""]);
    assert!(
        !out.stderr.contains('\u{1b}'),
        "stderr is not a terminal, so no ANSI escapes:\n{}",
        out.describe()
    );
    let lines = out.stderr.lines().count();
    assert!(
        lines < 100,
        "`EDDY_LOG=debug` printed {lines} lines; the compiler's must not show:\n{}",
        out.describe()
    );

    // The control: named explicitly, the compiler's lines do show (the flood
    // the bare level keeps out), next to the guest's.
    let flood = run_logged(&scratch, &job, "debug,cranelift_codegen=debug");
    flood.stderr_has(&[GUEST_DEBUG_LINE]);
    let flood_lines = flood.stderr.lines().count();
    assert!(
        flood_lines > 10 * lines.max(10),
        "naming `cranelift_codegen=debug` should show its lines ({flood_lines} lines against {lines})"
    );
}

#[test]
fn full_directives_work_and_the_default_hides_guest_debug_lines() {
    let scratch = Scratch::new();
    let job = identity_job(&scratch);

    let named = run_logged(&scratch, &job, "eddy::guest=debug");
    named.stderr_has(&[GUEST_DEBUG_LINE]);

    let quiet = run_logged(&scratch, &job, "eddy::guest=info");
    assert!(
        !quiet.stderr.contains(GUEST_DEBUG_LINE),
        "a guest's debug line shows only when asked for:\n{}",
        quiet.describe()
    );
}
