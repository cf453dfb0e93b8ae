//! A short fuzzing run of every target, so `cargo test` (and CI) catch a
//! reader that panics, hangs or over-allocates on damaged input; and the
//! canaries, so a harness that stopped noticing failures fails too.
//! `EDDY_FUZZ_SECONDS` sets the seconds per target (default 3).

use std::process::{Command, Output};

fn fuzz(args: &[&str], failures: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy-fuzz"))
        .args(args)
        .arg("--failures")
        .arg(failures)
        .output()
        .expect("eddy-fuzz runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_reader_survives_a_short_fuzzing_run() {
    let seconds = std::env::var("EDDY_FUZZ_SECONDS").unwrap_or_else(|_| "3".into());
    let failures = tempfile::tempdir().unwrap();
    let list = fuzz(&["--list"], failures.path());
    let targets = String::from_utf8(list.stdout).unwrap();
    assert_eq!(
        targets.lines().collect::<Vec<_>>(),
        ["job-file", "manifest", "state-file"]
    );
    for target in targets.lines() {
        let output = fuzz(&["--seconds", &seconds, target], failures.path());
        let report = text(&output);
        assert!(output.status.success(), "{target}:\n{report}");
        let line = report
            .lines()
            .find(|line| line.starts_with(&format!("{target}: ")))
            .unwrap_or_else(|| panic!("no report line for {target}:\n{report}"));
        assert!(line.ends_with(", 0 failures"), "{line}");
        let inputs: u64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        // Every seed and some mutations, even on a loaded machine.
        assert!(inputs > 50, "{line}");
    }
}

#[test]
fn the_harness_reports_a_panic_a_hang_and_an_allocation_blow_up() {
    let failures = tempfile::tempdir().unwrap();
    for (canary, expected) in [
        (
            "canary-panic",
            "FAILURE panic: the canary panics on purpose",
        ),
        ("canary-allocation", "FAILURE allocation: "),
        ("canary-hang", "FAILURE hang: an input ran longer than 1s"),
    ] {
        let output = fuzz(
            &["--seconds", "1", "--input-seconds", "1", canary],
            failures.path(),
        );
        let report = text(&output);
        assert!(!output.status.success(), "{canary}:\n{report}");
        assert!(report.contains(expected), "{canary}:\n{report}");
    }
    // The hang's input was on disk before it ran.
    let last = failures.path().join("canary-hang").join("last-input");
    assert_ne!(std::fs::read(last).unwrap(), b"a valid input");
}
