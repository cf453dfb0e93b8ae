#!/usr/bin/env python3
"""Nexmark on eddy beside Apache Flink, alternating, one table.

    python3 scripts/nexmark-bench.py [--queries q0,q5] [--parallelism 1,2] [--events N]
                                     [--events-slow N] [--rounds R] [--engines eddy,flink]
                                     [--json PATH]
    python3 scripts/nexmark-bench.py --check N [--queries ...] [--parallelism ...]

Flink runs the peer's `NexmarkBench` (../shared/peers/flink/nexmark/: Flink
2.3 DataStream jobs in the embedded MiniCluster, one JVM, heap capped at
JAVA_XMX=2g, state backend hashmap, fed by the in-process NexmarkGen
generator), set up by flink_peer.py: the PyPI `apache-flink` wheel in a venv
and NexmarkGen.java + NexmarkBench.java compiled against its jars into
$EDDY_CACHE/flink-peer/build-nexmark (the first run installs the wheel:
about 1 GB, minutes). eddy runs the job files examples-wasm/nexmark/<q>.toml
(a `format = "nexmark"` generator source, the same events as NexmarkGen's,
and the queries as WASM guests), rewritten into a temporary folder: the
job's `parallelism`, the generator's `count`, .wasm paths made absolute,
and the file sink replaced by a `discard` sink (timing) or a file sink at an
absolute path (`--check`). Both engines see the same n events (persons,
auctions and bids, as Nexmark counts throughput), rounded down to a
multiple of the parallelism as NexmarkBench rounds it.

Each round runs every query and parallelism once for Flink and then once
for eddy, back to back, so both see the same machine load; the table shows
medians over the rounds. Defaults as the peer's README table: 20M events
for q0 q1 q2 q3 q7 q8, 10M for q4 q5 q11, 3 rounds, parallelism 1 and 2.

Columns, and how each figure is measured:
- events: n, all event types.
- events/s: Flink's is its own RESULT figure `rps_proc`, n over the time
  from the first source record to the end of the sink's input (JVM and
  MiniCluster start-up excluded, JIT warm-up included); eddy's is n over the
  wall time of the whole `eddy run` process (start-up, WASM compilation or
  cache load, and shutdown included).
- events per CPU-s: Flink's is its `rps_per_cpu_s`, n over the process CPU
  time (all threads) over that same interval; eddy's is n over the whole
  process's user + system time from /usr/bin/time. Both exclusions favour
  Flink.
- peak RSS MiB: the whole process, from /usr/bin/time (Flink's is mostly the
  heap the collector chose to use under the cap).
- eddy/Flink per CPU-s: the ratio of the two medians of events per CPU-s.
- results: records that reached the sink. Flink's is its `sink_records`;
  eddy's is the discard sink's `in` count from the summary `eddy run`
  prints on stderr at the end (the script runs it without `--quiet` for
  that; the summary costs nothing while the job runs). A range when the
  rounds disagree.

`--check N` compares results instead of timing: for every query and
parallelism, Flink with `dump=PATH` and eddy with a file sink, both at n = N,
and then the two outputs as multisets of JSON objects (json.dumps with
sorted keys). For q4, whose stream is one running-average update per closed
auction, the last update per category (the final average) must match; the
multiset of all updates is reported beside it, since the order in which
auctions close into a category, and so the intermediate averages, may
differ with parallelism. One line per query and parallelism, OK or MISMATCH
with 3 examples each way; the exit status is non-zero on any mismatch.

`--json PATH` writes every run's raw measurements (and Flink's RESULT line,
and eddy's summary) as JSON, rewritten after each run.

Needs: python3.11 (stdlib only), java and javac 17, /usr/bin/time (GNU),
the Flink venv (made on first use when --engines includes flink), and an
eddy binary: $EDDY, else a release build with `--features
rocksdb,redis,kafka --bins` under $EDDY_CACHE/target; the guests are built
with scripts/build-guests.sh if a module the job files name is missing.
"""
import argparse
import collections
import datetime
import glob
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

import flink_peer
from flink_peer import PEER, REPO, log, run

NEXMARK_PEER = os.path.join(PEER, "nexmark")
JOBS = os.path.join(REPO, "examples-wasm", "nexmark")
QUERIES = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"]
SLOW = {"q4", "q5", "q11"}  # the peer's table runs these on half the events
EXAMPLES = 3  # mismatching results shown each way


# ---------------------------------------------------------------- Flink --

def setup_flink():
    sources = [os.path.join(NEXMARK_PEER, f) for f in ("NexmarkGen.java", "NexmarkBench.java")]
    return flink_peer.setup(sources, "build-nexmark")


def run_flink(flink, query, parallelism, events, dump=None):
    """One NexmarkBench run; returns the run's record."""
    args = [f"q={query}", f"p={parallelism}", f"n={events}", "backend=hashmap"]
    if dump:
        args.append(f"dump={dump}")
    result, measured = flink_peer.run_java(*flink, "NexmarkBench", args)
    if result.get("n") != events:
        log(f"warning: Flink ran {result.get('n')} events, not {events}")
    return {"rps": result["rps_proc"], "per_cpu": result["rps_per_cpu_s"],
            "rss_kb": measured.get("rss_kb"), "results": result["sink_records"],
            **measured, "flink_result": result}


# ----------------------------------------------------------------- eddy --

HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
WASM_PATH = re.compile(r"""(["'])([^"'\n]+?\.wasm)\1""")  # module = "..", key_by = { selector = ".." }
SUMMARY_NODE = re.compile(r"^\s+(source|operator|sink)\s+(\S+)\s+x(\d+)\s+in\s+(\d+)\s+out\s+(\d+)")


def job_file(query):
    return os.path.join(JOBS, f"{query}.toml")


def eddy_job(template, parallelism, events, sink_path=None):
    """The job file `template` (a path) rewritten: [job] `parallelism`, the
    generator's `count`, .wasm paths (modules, key selectors) absolute, and its
    file sink either a `discard` sink (sink_path None) or a file sink writing
    `sink_path`.
    Returns (text, names of the rewritten sinks)."""
    folder = os.path.dirname(os.path.abspath(template))
    with open(template) as f:
        lines = f.read().splitlines()
    out, section, found = [], None, collections.Counter()
    sink_start, sinks = None, []

    def close_sink():
        # Rewrites the [[sink]] section that starts at out[sink_start:].
        nonlocal sink_start
        if sink_start is None:
            return
        body = out[sink_start:]
        keys = {KEY.match(line).group(1): i for i, line in enumerate(body) if KEY.match(line)}
        is_file = "type" in keys and re.search(r"""=\s*["']file["']""", body[keys["type"]])
        if is_file:
            name = re.search(r"""=\s*["']([^"']*)["']""", body[keys["name"]]).group(1) if "name" in keys else "?"
            sinks.append(name)
            rewritten = []
            for i, line in enumerate(body):
                if i == keys.get("delivery"):
                    continue  # one file, at least once, whatever the template asked
                if i == keys.get("path"):
                    if sink_path is not None:
                        rewritten.append(f"path = {json.dumps(sink_path)}")
                    continue
                if i == keys["type"] and sink_path is None:
                    rewritten.append('type = "discard"')
                    continue
                rewritten.append(line)
            if sink_path is not None and "path" not in keys:
                rewritten.append(f"path = {json.dumps(sink_path)}")
            out[sink_start:] = rewritten
        sink_start = None

    for line in lines:
        header = HEADER.match(line)
        if header:
            close_sink()
            section = header.group(2).replace(" ", "")
            out.append(line)
            if header.group(1) == "[[" and section == "sink":
                sink_start = len(out)
            if section == "job":
                found["job"] += 1
            continue
        key = KEY.match(line)
        if key and section == "job" and key.group(1) == "parallelism":
            out.append(f"parallelism = {parallelism}")
            found["parallelism"] += 1
            continue
        if key and section == "source.generator" and key.group(1) == "count":
            out.append(f"count = {events}")
            found["count"] += 1
            continue
        out.append(WASM_PATH.sub(lambda m: json.dumps(os.path.normpath(os.path.join(folder, m.group(2)))), line))
    close_sink()
    if not found["job"]:
        raise SystemExit(f"error: {template} has no [job] table")
    if not found["parallelism"]:
        out.insert(next(i for i, line in enumerate(out) if HEADER.match(line)
                        and HEADER.match(line).group(2).strip() == "job") + 1,
                   f"parallelism = {parallelism}")
    if not found["count"]:
        raise SystemExit(f"error: {template} has no `count = ...` line in [source.generator]")
    if len(sinks) != 1:
        raise SystemExit(f"error: {template} has {len(sinks)} file sinks; the script expects exactly one")
    return "\n".join(out) + "\n", sinks


def summary_nodes(stderr):
    """The node lines of `eddy run`'s summary: [(role, name, parallelism, in, out)]."""
    return [(m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)))
            for m in map(SUMMARY_NODE.match, stderr.splitlines()) if m]


def run_eddy(eddy, scratch, query, parallelism, events, sink_path=None):
    """One `eddy run` of the query's job file; returns the run's record."""
    text, sinks = eddy_job(job_file(query), parallelism, events, sink_path)
    path = os.path.join(scratch, f"{query}-p{parallelism}.toml")
    with open(path, "w") as f:
        f.write(text)
    # Without --quiet: the summary at the end names the discard sink's count.
    done, measured = flink_peer.timed([eddy, "run", path])
    if done.returncode:
        raise RuntimeError(f"eddy run failed ({path}):\n{done.stderr[-2000:]}")
    nodes = summary_nodes(done.stderr)
    results = sum(n[3] for n in nodes if n[0] == "sink" and n[1] in sinks) if nodes else None
    generated = sum(n[4] for n in nodes if n[0] == "source") if nodes else None
    if generated is not None and generated != events:
        log(f"warning: eddy's sources emitted {generated} events, not {events}")
    cpu = measured["user_s"] + measured["sys_s"]
    return {"rps": events / measured["wall_s"], "per_cpu": events / cpu,
            "results": results, "source_events": generated, **measured,
            "eddy_summary": done.stderr[-4000:]}


def missing_modules(queries):
    missing = set()
    for query in queries:
        folder = os.path.dirname(job_file(query))
        with open(job_file(query)) as f:
            for line in f:
                for module in WASM_PATH.finditer(line.split("#")[0]):
                    if not os.path.exists(os.path.join(folder, module.group(2))):
                        missing.add(module.group(2))
    return sorted(missing)


def nexmark_packages():
    """Guest packages (cdylib crates) whose names start with `nexmark-`, anywhere
    under examples-wasm/ (a library such as nexmark-records has no component)."""
    names = set()
    root = os.path.join(REPO, "examples-wasm")
    for manifest in glob.glob(os.path.join(root, "**", "Cargo.toml"), recursive=True):
        if "/target/" in manifest:
            continue
        with open(manifest) as f:
            text = f.read()
        match = re.search(r'^\[package\][^\[]*?^name\s*=\s*"(nexmark-[^"]+)"', text, re.M | re.S)
        if match and re.search(r'^crate-type\s*=.*"cdylib"', text, re.M):
            names.add(match.group(1))
    return sorted(names)


def setup_eddy(queries):
    """The eddy binary, with the guests the job files name built."""
    absent = [q for q in queries if not os.path.exists(job_file(q))]
    if absent:
        sys.exit(f"error: no job file for {', '.join(absent)} in {os.path.relpath(JOBS, REPO)}/")
    if missing_modules(queries):
        packages = nexmark_packages()
        if not packages:
            sys.exit(f"error: missing {', '.join(missing_modules(queries))} and no nexmark-* guest packages")
        run(["bash", os.path.join(REPO, "scripts", "build-guests.sh"), *packages])
        if missing_modules(queries):
            sys.exit(f"error: still missing after build-guests.sh: {', '.join(missing_modules(queries))}")
    return flink_peer.eddy_binary(["rocksdb", "redis", "kafka"], all_bins=True)


# ---------------------------------------------------------------- check --

def canonical(line):
    try:
        return json.dumps(json.loads(line), sort_keys=True)
    except ValueError:
        return "<not JSON> " + line


def digest(text):
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def read_results(path):
    """Yields the canonical form of every non-empty line of a result file."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip():
                yield canonical(line)


def multiset_diff(flink_path, eddy_path):
    """(Flink's count, eddy's count, {digest: flink count - eddy count} of the
    differing results). Holds digests only, so a large dump fits in memory."""
    balance, counts = collections.Counter(), [0, 0]
    for side, path in enumerate((flink_path, eddy_path)):
        for text in read_results(path):
            balance[digest(text)] += 1 if side == 0 else -1
            counts[side] += 1
    return counts[0], counts[1], {d: c for d, c in balance.items() if c}


def examples(path, digests, want):
    """Up to EXAMPLES results of the file whose digest is in `digests`."""
    shown = []
    if want:
        for text in read_results(path):
            if digest(text) in digests:
                shown.append(text if len(text) <= 400 else text[:400] + " ...")
                if len(shown) == want:
                    break
    return shown


def last_per_category(path):
    last = {}
    for text in read_results(path):
        try:
            last[json.loads(text).get("category")] = text
        except (ValueError, AttributeError):
            last[None] = text
    return last


def compare(query, parallelism, flink_path, eddy_path):
    """(ok, lines to print) for one query's two outputs."""
    label = f"{query} p{parallelism}"
    flink_n, eddy_n, diff = multiset_diff(flink_path, eddy_path)
    only_flink = {d for d, c in diff.items() if c > 0}
    only_eddy = {d for d, c in diff.items() if c < 0}
    n_only_flink = sum(c for c in diff.values() if c > 0)
    n_only_eddy = -sum(c for c in diff.values() if c < 0)

    def mismatch_lines(head, what=""):
        lines = [head]
        lines += [f"  {what}only in Flink: {t}" for t in examples(flink_path, only_flink, EXAMPLES)]
        lines += [f"  {what}only in eddy:  {t}" for t in examples(eddy_path, only_eddy, EXAMPLES)]
        return lines

    if query != "q4":
        if not diff:
            return True, [f"{label}: OK, {flink_n:,} result{'' if flink_n == 1 else 's'}"]
        return False, mismatch_lines(
            f"{label}: MISMATCH: Flink {flink_n:,} results, eddy {eddy_n:,}; "
            f"{n_only_flink:,} only in Flink, {n_only_eddy:,} only in eddy")
    flink_last, eddy_last = last_per_category(flink_path), last_per_category(eddy_path)
    if diff:
        why = ": the order in which auctions close may differ" if flink_n == eddy_n else ""
        updates = (f"the updates differ as multisets (Flink {flink_n:,}, eddy {eddy_n:,}; "
                   f"{n_only_flink:,} only in Flink, {n_only_eddy:,} only in eddy{why})")
    else:
        updates = f"the {flink_n:,} updates are equal as multisets"
    if flink_last == eddy_last:
        lines = [f"{label}: OK, final average of {len(flink_last)} categories; {updates}"]
        if diff:
            lines = mismatch_lines(lines[0], "update ")
        return True, lines
    lines = [f"{label}: MISMATCH: final average per category differs "
             f"(Flink {len(flink_last)} categories, eddy {len(eddy_last)}); {updates}"]
    for category in sorted(set(flink_last) | set(eddy_last), key=str):
        if flink_last.get(category) != eddy_last.get(category):
            lines.append(f"  category {category}: Flink {flink_last.get(category)}, eddy {eddy_last.get(category)}")
    return False, lines


# ---------------------------------------------------------------- main --

def rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def listed(text, allowed, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad) or '(none)'}; "
                                         f"choose from {', '.join(allowed)}")
    return items


def parallelisms(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers, e.g. 1,2")
    return values


class Record:
    """Every run's measurements, kept for --json (rewritten after each run)."""

    def __init__(self, path, options):
        self.path = path
        self.data = {"started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                     "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                                 "java": java_version()},
                     "options": {k: v for k, v in vars(options).items() if k != "json"},
                     "runs": [], "checks": []}

    def add(self, kind, entry):
        self.data[kind].append(entry)
        if self.path:
            with open(self.path + ".tmp", "w") as f:
                json.dump(self.data, f, indent=1)
            os.replace(self.path + ".tmp", self.path)


def java_version():
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True)
        return (done.stderr.splitlines() or ["?"])[0]
    except OSError:
        return None


def check(options, flink, eddy, record):
    failed = False
    with tempfile.TemporaryDirectory(prefix="eddy-nexmark-check-") as scratch:
        for query in options.queries:
            for parallelism in options.parallelism:
                events = options.check - options.check % parallelism
                flink_path = os.path.join(scratch, f"{query}-p{parallelism}-flink.jsonl")
                eddy_path = os.path.join(scratch, f"{query}-p{parallelism}-eddy.jsonl")
                entry = {"query": query, "p": parallelism, "events": events}
                try:
                    log(f"[check] {query} p{parallelism}: Flink, {events:,} events ...")
                    got = run_flink(flink, query, parallelism, events, dump=flink_path)
                    entry["flink_results"] = got["results"]
                    log(f"[check] {query} p{parallelism}: eddy ...")
                    got = run_eddy(eddy, scratch, query, parallelism, events, sink_path=eddy_path)
                    entry["eddy_results"] = got["results"]
                    log(f"[check] {query} p{parallelism}: comparing ...")
                    ok, lines = compare(query, parallelism, flink_path, eddy_path)
                except RuntimeError as error:
                    ok, lines = False, [f"{query} p{parallelism}: FAILED: {error}"]
                for line in lines:
                    print(line, flush=True)
                failed |= not ok
                record.add("checks", {**entry, "ok": ok, "report": lines})
                for path in (flink_path, eddy_path):
                    if os.path.exists(path):
                        os.remove(path)
    return not failed


def bench(options, flink, eddy, record):
    engines = [e for e in ("flink", "eddy") if e in options.engines]
    rows = [(q, p, (options.events_slow if q in SLOW else options.events) // p * p)
            for q in options.queries for p in options.parallelism]
    runs = {(q, p, e): [] for q, p, _ in rows for e in engines}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="eddy-nexmark-") as scratch:
        for round_ in range(1, options.rounds + 1):
            for query, parallelism, events in rows:
                for engine in engines:
                    try:
                        if engine == "flink":
                            got = run_flink(flink, query, parallelism, events)
                        else:
                            got = run_eddy(eddy, scratch, query, parallelism, events)
                    except RuntimeError as error:
                        log(f"[round {round_}] {engine:5s} {query} p{parallelism}: FAILED: {error}")
                        failures += 1
                        record.add("runs", {"engine": engine, "query": query, "p": parallelism,
                                            "events": events, "round": round_, "failed": str(error)})
                        continue
                    runs[(query, parallelism, engine)].append(got)
                    record.add("runs", {"engine": engine, "query": query, "p": parallelism,
                                        "events": events, "round": round_, **got})
                    results = "-" if got["results"] is None else f"{got['results']:,}"
                    log(f"[round {round_}] {engine:5s} {query} p{parallelism}: {rate(got['rps'])} events/s, "
                        f"{rate(got['per_cpu'])} per CPU-s, {got['rss_kb'] / 1024:.0f} MiB, "
                        f"{results} results")

    def median(got, field):
        return statistics.median(r[field] for r in got)

    def cells(got, engine):
        if engine not in engines:
            return ["-", "-", "-"]
        if not got:
            return ["FAILED", "-", "-"]
        return [rate(median(got, "rps")), rate(median(got, "per_cpu")), f"{median(got, 'rss_kb') / 1024:.0f}"]

    def results(got, engine):
        counts = sorted({r["results"] for r in got if r["results"] is not None})
        if engine not in engines or not counts:
            return "-"
        return f"{counts[0]:,}" if len(counts) == 1 else f"{counts[0]:,}–{counts[-1]:,}"

    print(f"Nexmark, medians of {options.rounds} alternating round(s); Flink 2.3 (hashmap, "
          f"-Xmx{flink_peer.JAVA_XMX}, start-up excluded) beside eddy (whole process).")
    print()
    print("| query | p | events | Flink events/s | Flink events per CPU-s | Flink peak RSS MiB "
          "| eddy events/s | eddy events per CPU-s | eddy peak RSS MiB | eddy/Flink per CPU-s "
          "| Flink results | eddy results |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for query, parallelism, events in rows:
        flink_runs = runs.get((query, parallelism, "flink"), [])
        eddy_runs = runs.get((query, parallelism, "eddy"), [])
        ratio = (f"{median(eddy_runs, 'per_cpu') / median(flink_runs, 'per_cpu'):.2f}×"
                 if flink_runs and eddy_runs else "-")
        print(f"| {query} | {parallelism} | {events:,} | " + " | ".join(cells(flink_runs, "flink")) + " | "
              + " | ".join(cells(eddy_runs, "eddy")) + f" | {ratio} | {results(flink_runs, 'flink')} | "
              f"{results(eddy_runs, 'eddy')} |")
    return failures == 0


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Columns and measurement: see the module docstring (head -70 scripts/nexmark-bench.py).")
    parser.add_argument("--queries", type=lambda t: listed(t, QUERIES, "query"), default=QUERIES,
                        help=f"comma-separated, default {','.join(QUERIES)}")
    parser.add_argument("--parallelism", type=parallelisms, default=[1, 2], help="comma-separated, default 1,2")
    parser.add_argument("--events", type=int, default=20_000_000,
                        help="events per run of q0 q1 q2 q3 q7 q8 (default 20,000,000)")
    parser.add_argument("--events-slow", type=int, default=10_000_000,
                        help="events per run of q4 q5 q11 (default 10,000,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", type=lambda t: listed(t, ["eddy", "flink"], "engine"),
                        default=["eddy", "flink"], help="eddy,flink (default), eddy or flink")
    parser.add_argument("--check", type=int, metavar="N",
                        help="compare both engines' results at N events instead of timing")
    parser.add_argument("--json", metavar="PATH", help="write every run's raw measurements here")
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    if min(options.events, options.events_slow) < max(options.parallelism):
        parser.error("--events and --events-slow must be at least the parallelism")
    if options.check is not None:
        if options.check < max(options.parallelism):
            parser.error("--check N must be at least the parallelism")
        if set(options.engines) != {"eddy", "flink"}:
            parser.error("--check needs both engines")
    flink_peer.require_time()
    record = Record(options.json and os.path.abspath(options.json), options)
    eddy = setup_eddy(options.queries) if "eddy" in options.engines else None
    flink = setup_flink() if "flink" in options.engines else None
    if options.check is not None:
        ok = check(options, flink, eddy, record)
    else:
        ok = bench(options, flink, eddy, record)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
