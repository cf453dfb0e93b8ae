//! The generator and stdin sources, end to end.

mod common;

use common::*;

fn generator_job(scratch: &Scratch, parallelism: u32) -> std::path::PathBuf {
    scratch.write(
        "gen.toml",
        format!(
            r#"[job]
name = "gen"
parallelism = {parallelism}

[[source]]
name = "gen"
type = "generator"
[source.generator]
count = 1000
keys = 10
seed = 7

[[sink]]
name = "devnull"
type = "discard"
input = "gen"
"#
        ),
    )
}

#[test]
fn generator_count_reaches_the_discard_sink() {
    let scratch = Scratch::new();
    for parallelism in [1, 2] {
        let job = generator_job(&scratch, parallelism);
        let out = run(&job).success();
        assert_eq!(out.stdout, "", "a discard sink prints nothing");
        assert!(
            out.stderr.contains("job `gen` finished in "),
            "no summary\n{}",
            out.describe()
        );
        // `count` is across readers: 1000 in all whatever the parallelism.
        assert_eq!(out.summary_counts("source", "gen"), (0, 1000));
        assert_eq!(out.summary_counts("sink", "devnull"), (1000, 0));
        let readers = out
            .stderr
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["source", "gen"]))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string));
        assert_eq!(readers.as_deref(), Some(format!("x{parallelism}").as_str()));
    }
}

#[test]
fn generator_metrics_in_process() {
    let scratch = Scratch::new();
    let job = eddy::job::load_job(&generator_job(&scratch, 2)).expect("load the job");
    let report = eddy::runtime::run_job(&job, &eddy::runtime::RunOptions::default(), |_, _, _| {})
        .expect("the job runs");
    let source = report.metrics.node("gen").expect("metrics of `gen`");
    let sink = report
        .metrics
        .node("devnull")
        .expect("metrics of `devnull`");
    assert_eq!(source.records_out(), 1000);
    assert_eq!(sink.records_in(), 1000);
}

#[test]
fn stdin_source_feeds_an_enrich_job() {
    wasm("enrich_map");
    wasm("enrich_filter");
    let scratch = Scratch::new();
    let job = scratch.write(
        "enrich-stdin.toml",
        format!(
            r#"[job]
name = "enrich-stdin"

[[source]]
name = "purchases"
type = "stdin"

[[operator]]
uid = "enrich"
kind = "map"
module = {map}
input = "purchases"
config = {{ rates = {{ usd = 0.92, eur = 1.0, gbp = 1.17 }} }}

[[operator]]
uid = "large"
kind = "filter"
module = {filter}
input = "enrich"
config = {{ min_amount_eur = 10 }}

[[sink]]
name = "out"
type = "stdout"
input = "large"
"#,
            map = toml_path(&wasm("enrich_map")),
            filter = toml_path(&wasm("enrich_filter")),
        ),
    );
    let input = concat!(
        "{\"id\":1,\"user\":\"u1\",\"amount\":12.5,\"currency\":\"usd\",\"country\":\"de\"}\n",
        "{\"id\":2,\"user\":\"u2\",\"amount\":8.0,\"currency\":\"eur\",\"country\":\"fr\"}\n",
        "{\"id\":3,\"user\":\"u3\",\"amount\":9.99,\"currency\":\"gbp\",\"country\":\"gb\"}\n",
    );
    let out = run_with_stdin(&job, input).success();
    // id 2 (8 EUR) is filtered out; the others are enriched, in input order.
    assert_eq!(
        out.stdout_lines(),
        [
            r#"{"user":"u1","amount":12.5,"currency":"usd","country":"de","id":1,"amount_eur":11.5,"region":"europe"}"#,
            r#"{"user":"u3","amount":9.99,"currency":"gbp","country":"gb","id":3,"amount_eur":11.69,"region":"europe"}"#,
        ],
        "{}",
        out.describe()
    );
    assert_eq!(out.summary_counts("source", "purchases"), (0, 3));
    assert_eq!(out.summary_counts("operator", "large"), (3, 2));
}

#[test]
fn quiet_run_prints_no_summary() {
    let scratch = Scratch::new();
    let job = generator_job(&scratch, 1);
    let out = run_quiet(&job).success();
    assert_eq!(out.stderr, "", "--quiet prints only output and errors");
}
