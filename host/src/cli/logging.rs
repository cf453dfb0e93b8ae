//! Where log lines go and which ones show: `EDDY_LOG`.
//!
//! A bare level (`EDDY_LOG=debug`) is about eddy and its guests, not about
//! the libraries below it: wasmtime and Cranelift log tens of thousands of
//! timing lines at `debug` whenever a module compiles, which would bury the
//! lines a user turned logging up for. So a bare level applies to eddy's own
//! targets (`eddy::…`, which includes the guests' `eddy::guest`), and every
//! other target stays at `warn` unless a directive names it
//! (`EDDY_LOG=debug,cranelift_codegen=info`). Everything else is
//! `tracing_subscriber`'s `EnvFilter` syntax, passed on as written.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The variable that sets the filter.
const VARIABLE: &str = "EDDY_LOG";

/// The target prefix of eddy's own log lines, guests' included.
const EDDY_TARGET: &str = "eddy";

/// The filter when `EDDY_LOG` is unset: warnings from everything, and what
/// guests print or log at `info` and above.
const DEFAULT_FILTER: &str = "warn,eddy::guest=info";

/// Install the subscriber that writes log lines to stderr, filtered by
/// `EDDY_LOG`, in colour only when stderr is a terminal (so that captured or
/// redirected output carries no escape codes).
pub fn init() {
    let (filter, problem) = match std::env::var(VARIABLE) {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::builder().parse(expand(&value)) {
            Ok(filter) => (filter, None),
            Err(error) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(format!(
                    "warning: ignoring {VARIABLE}={value:?}: {error}; \
                         write a level (`debug`) or `target=level` directives separated by commas"
                )),
            ),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    if let Some(problem) = problem {
        eprintln!("{problem}");
    }
}

/// `EDDY_LOG` as `EnvFilter` directives: every bare level becomes a
/// directive for eddy's targets, and other targets start at `warn`.
fn expand(value: &str) -> String {
    let mut directives = vec!["warn".to_string()];
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.parse::<LevelFilter>().is_ok() {
            directives.push(format!("{EDDY_TARGET}={directive}"));
        } else {
            directives.push(directive.to_string());
        }
    }
    directives.join(",")
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn a_bare_level_is_about_eddy_and_its_guests_only() {
        assert_eq!(expand("debug"), "warn,eddy=debug");
        assert_eq!(expand("TRACE"), "warn,eddy=TRACE");
    }

    #[test]
    fn named_targets_are_kept_as_written() {
        assert_eq!(
            expand("eddy=debug,cranelift_codegen=info"),
            "warn,eddy=debug,cranelift_codegen=info"
        );
        assert_eq!(
            expand("debug, wasmtime=trace"),
            "warn,eddy=debug,wasmtime=trace"
        );
    }
}
