#!/usr/bin/env python3
"""eddy beside Apache Flink on the peer's jobs A and B, alternating, one table.

    python3 scripts/compare-flink.py [--records N] [--rounds R] [--only "A p1,B heap p1"]
    python3 scripts/compare-flink.py --latency [--rounds R]

Flink runs as `../shared/peers/flink/run.sh` runs it: the jars of the PyPI
`apache-flink` wheel, `FlinkBench.java` compiled against them, OpenJDK 17, the
embedded MiniCluster. The first run installs the wheel into a venv and
compiles the benchmark under $EDDY_CACHE/flink-peer (about 1 GB, minutes);
later runs reuse it (that setup lives in flink_peer.py, shared with
nexmark-bench.py). eddy runs job files of the same shapes (generator of
binary events, 100k keys, 10k events per event-time second up to 5 s out
of order) through the WASM guests of examples-wasm/. eddy's records carry
a 100-byte payload in job B too, where Flink's (`Click`: user and time)
carry none: that too favours Flink.

Each round runs every configuration once for Flink and once for eddy, back
to back, so both see the same machine load; the table shows medians.

Columns, and what they count:
- rec/s: Flink's is its own figure (records over first source record to
  sink end, JVM and cluster start-up excluded); eddy's is records over the
  whole process's wall time (start-up included).
- rec per CPU-s: Flink's is records over the process CPU spent inside the
  job (start-up excluded); eddy's is records over the whole process's user
  and system time from /usr/bin/time (start-up included). Both favour Flink.
- peak RSS: the whole process, from /usr/bin/time.

`--latency` runs Flink's job L instead (100k records/s through a keyed
exchange at parallelism 2, 3M records, buffer timeout 1 ms and Flink's
default 100 ms) beside `eddy bench --pipeline latency` (flush interval 1 ms
and eddy's default 10 ms), and prints p50 and p99 from the sink's view of
each record's creation stamp (`--records` and `--only` do not apply).

Needs: python3.11 with venv (reaches PyPI on first run), java and javac 17,
/usr/bin/time, and a release eddy built with `--features rocksdb` (the
script builds it unless EDDY names a binary). Stdlib only.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile

import flink_peer
from flink_peer import PEER, log, run

REPO = flink_peer.REPO
WASM = os.path.join(REPO, "examples-wasm", "wasm")

# The targets: eddy's records per CPU-second over Flink's.
TARGETS = {"A": 2.0, "B heap": 2.0, "B rocksdb": 3.0}


def setup_flink():
    """The venv with the wheel's jars and the compiled FlinkBench; returns (lib, build)."""
    return flink_peer.setup([os.path.join(PEER, "FlinkBench.java")], "build")


def eddy_binary():
    """The eddy binary (built unless EDDY names one), with the guests built."""
    if not all(os.path.exists(os.path.join(WASM, f"{m}.wasm"))
               for m in ("bench_map", "bench_filter", "bench_window_count")):
        run(["bash", os.path.join(REPO, "scripts", "build-guests.sh"),
             "bench-map", "bench-filter", "bench-window-count"])
    return flink_peer.eddy_binary(["rocksdb"])


def eddy_job(job, parallelism, records, state_dir):
    """A job file of the peer's job `job` ("A", "B heap" or "B rocksdb")."""
    source = f"""[job]
name = "compare-{job.replace(' ', '-')}"
parallelism = {parallelism}

[[source]]
name = "events"
type = "generator"
format = "binary-event"
"""
    generator = f"""[source.generator]
count = {records}
keys = 100000
value_size = 100
events_per_second = 10000
max_lag = "5s"
"""
    if job == "A":
        return source + generator + f"""
[[operator]]
uid = "map"
kind = "map"
module = "{WASM}/bench_map.wasm"
input = "events"

[[operator]]
uid = "filter"
kind = "filter"
module = "{WASM}/bench_filter.wasm"
input = "map"

[[sink]]
name = "discard"
type = "discard"
input = "filter"
"""
    state = ""
    if job == "B rocksdb":
        state = f'[state]\nbackend = "rocksdb"\nlocal_dir = "{state_dir}"\n\n'
    return state + source + """timestamp = "source"
watermark = { strategy = "bounded-out-of-orderness", max_out_of_orderness = "5s" }
""" + generator + f"""
[[operator]]
uid = "window"
kind = "aggregate"
module = "{WASM}/bench_window_count.wasm"
input = "events"
key_by = "record-key"
window = {{ type = "tumbling", size = "1m" }}

[[sink]]
name = "discard"
type = "discard"
input = "window"
"""


def run_flink(lib, build, args):
    result, measured = flink_peer.run_java(lib, build, "FlinkBench", args.split())
    return {"rps": result["rps_proc"], "per_cpu": result["rps_per_cpu_s"], "rss_kb": measured["rss_kb"]}


def run_eddy(eddy, job_file, records):
    done, measured = flink_peer.timed([eddy, "run", "--quiet", job_file])
    if done.returncode:
        raise RuntimeError(f"eddy run failed ({job_file}):\n{done.stderr[-2000:]}")
    cpu = measured["user_s"] + measured["sys_s"]
    return {"rps": records / measured["wall_s"], "per_cpu": records / cpu, "rss_kb": measured["rss_kb"]}


def configs(records, rocksdb_records):
    """(name, job, parallelism, records, FlinkBench arguments)."""
    rows = []
    for p in (1, 2):
        rows.append((f"A p{p}", "A", p, records, f"job=A p={p} n={records}"))
        rows.append((f"B heap p{p}", "B heap", p, records, f"job=B p={p} n={records} backend=hashmap"))
    rows.append(("B rocksdb p1", "B rocksdb", 1, rocksdb_records,
                 f"job=B p=1 n={rocksdb_records} backend=rocksdb"))
    return rows


LATENCY_RECORDS = 3_000_000
LATENCY_FLINK = {"1ms": "buffer_timeout_ms=1", "default": ""}


def run_flink_latency(lib, build, timeout):
    args = f"job=L p=2 n={LATENCY_RECORDS} rate=100000 {LATENCY_FLINK[timeout]}"
    result, _ = flink_peer.run_java(lib, build, "FlinkBench", args.split(), time=False)
    return {"p50": result["lat_p50_ms"], "p99": result["lat_p99_ms"]}


def run_eddy_latency(eddy):
    """{"1ms": {...}, "default": {...}} of the WASM variant of one `eddy bench` run."""
    cmd = [eddy, "bench", "--pipeline", "latency", "--records", str(LATENCY_RECORDS),
           "--rate", "100000", "--parallelism", "2", "--rounds", "1", "--wasm-dir", WASM]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"eddy bench failed:\n{done.stderr[-2000:]}")
    found, interval = {}, None
    for line in done.stdout.splitlines():
        if m := re.match(r"\s+flush interval (\S+)", line):
            interval = "1ms" if m.group(1) == "1ms" else "default"
        elif m := re.match(r"\s+wasm\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms", line):
            found[interval] = {"p50": float(m.group(1)), "p99": float(m.group(2))}
    if set(found) != set(LATENCY_FLINK):
        raise RuntimeError(f"unexpected `eddy bench` output:\n{done.stdout}")
    return found


def latency_table(rounds, flink, eddy):
    runs = {side: {t: [] for t in LATENCY_FLINK} for side in ("flink", "eddy")}
    for round_ in range(1, rounds + 1):
        if flink:
            for timeout in LATENCY_FLINK:
                got = run_flink_latency(*flink, timeout)
                runs["flink"][timeout].append(got)
                log(f"[round {round_}] flink L {timeout}: p50 {got['p50']} ms, p99 {got['p99']} ms")
        for timeout, got in run_eddy_latency(eddy).items():
            runs["eddy"][timeout].append(got)
            log(f"[round {round_}] eddy  L {timeout}: p50 {got['p50']} ms, p99 {got['p99']} ms")

    def cell(side, timeout):
        got = runs[side][timeout]
        if not got:
            return "-"
        return (f"p50 {statistics.median(r['p50'] for r in got):.2f} ms, "
                f"p99 {statistics.median(r['p99'] for r in got):.2f} ms")

    print(f"Job L: 100k records/s, keyed exchange, parallelism 2, {LATENCY_RECORDS:,} records; "
          f"medians of {rounds} alternating rounds.")
    print()
    print("| flush interval (Flink: buffer timeout) | Flink | eddy (WASM guests) |")
    print("|---|---|---|")
    print(f"| 1 ms | {cell('flink', '1ms')} | {cell('eddy', '1ms')} |")
    print(f"| default (Flink 100 ms, eddy 10 ms) | {cell('flink', 'default')} | {cell('eddy', 'default')} |")


def rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000_000)
    parser.add_argument("--rocksdb-records", type=int, default=6_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help='configurations by prefix, e.g. "A p1,B heap p1"')
    parser.add_argument("--skip-flink", action="store_true", help="eddy's columns only")
    parser.add_argument("--latency", action="store_true", help="job L's latencies instead of the throughput table")
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    if options.latency:
        latency_table(options.rounds, None if options.skip_flink else setup_flink(), eddy_binary())
        return
    flink_peer.require_time()

    rows = configs(options.records, options.rocksdb_records)
    if options.only:
        wanted = [w.strip() for w in options.only.split(",")]
        rows = [row for row in rows if any(row[0].startswith(w) for w in wanted)]
    flink = None if options.skip_flink else setup_flink()
    eddy = eddy_binary()

    results = {name: {"flink": [], "eddy": []} for name, *_ in rows}
    with tempfile.TemporaryDirectory(prefix="eddy-compare-") as scratch:
        for round_ in range(1, options.rounds + 1):
            for name, job, parallelism, records, flink_args in rows:
                if flink:
                    got = run_flink(*flink, flink_args)
                    results[name]["flink"].append(got)
                    log(f"[round {round_}] flink {name}: {rate(got['rps'])} rec/s, "
                        f"{rate(got['per_cpu'])} per CPU-s, {got['rss_kb'] / 1024:.0f} MB")
                job_file = os.path.join(scratch, f"{name.replace(' ', '-')}.toml")
                state_dir = os.path.join(scratch, f"state-{round_}-{name.replace(' ', '-')}")
                with open(job_file, "w") as out:
                    out.write(eddy_job(job, parallelism, records, state_dir))
                got = run_eddy(eddy, job_file, records)
                results[name]["eddy"].append(got)
                log(f"[round {round_}] eddy  {name}: {rate(got['rps'])} rec/s, "
                    f"{rate(got['per_cpu'])} per CPU-s, {got['rss_kb'] / 1024:.0f} MB")

    def median(runs, field):
        return statistics.median(r[field] for r in runs) if runs else None

    print(f"Medians of {options.rounds} alternating rounds; {options.records:,} records "
          f"({options.rocksdb_records:,} with RocksDB).")
    print()
    print("| job | Flink rec/s | Flink rec per CPU-s | Flink peak RSS | eddy rec/s | eddy rec per CPU-s "
          "| eddy peak RSS | eddy / Flink per core | target per core |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, job, *_ in rows:
        flink_runs, eddy_runs = results[name]["flink"], results[name]["eddy"]
        target = TARGETS[job]
        eddy_cpu = median(eddy_runs, "per_cpu")
        eddy_cells = f"{rate(median(eddy_runs, 'rps'))} | {rate(eddy_cpu)} | {median(eddy_runs, 'rss_kb') / 1024:.0f} MB"
        if flink_runs:
            flink_cpu = median(flink_runs, "per_cpu")
            ratio = eddy_cpu / flink_cpu
            verdict = "met" if ratio >= target else "**missed**"
            flink_cells = (f"{rate(median(flink_runs, 'rps'))} | {rate(flink_cpu)} | "
                           f"{median(flink_runs, 'rss_kb') / 1024:.0f} MB")
            print(f"| {name} | {flink_cells} | {eddy_cells} | {ratio:.2f}× | ≥ {target:g}× ({verdict}) |")
        else:
            print(f"| {name} | - | - | - | {eddy_cells} | - | ≥ {target:g}× |")


if __name__ == "__main__":
    main()
