"""The built components under eddy itself: what the native tests cannot see
(the componentize-py exports in `eddy_sdk/_component.py`, the descriptor,
panics reported with `record-panic-at` and a trap).

Needs the eddy binary ($EDDY_BIN, else `eddy` on PATH, else
~/.cache/eddy-ci/target/release/eddy) and the components built by
scripts/build-python-guests.sh; skipped, saying why, without them. A
component's first use compiles it (~10 s); later runs use eddy's cache.
"""

import os
import re
import shutil
import subprocess

import pytest
from conftest import EXAMPLES

WASM = os.path.join(EXAMPLES, "wasm")


def eddy_binary():
    for candidate in (
        os.environ.get("EDDY_BIN"),
        shutil.which("eddy"),
        os.path.expanduser("~/.cache/eddy-ci/target/release/eddy"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


EDDY = eddy_binary()


def need(*components):
    if EDDY is None:
        pytest.skip("no eddy binary (set EDDY_BIN)")
    for component in components:
        if not os.path.exists(os.path.join(WASM, component)):
            pytest.skip(f"{component} is not built (scripts/build-python-guests.sh)")


def run(args, cwd):
    return subprocess.run([EDDY, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def job_at(example, parallelism, tmp_path):
    """The example's job-python.toml with absolute paths, at `parallelism`."""
    folder = os.path.join(EXAMPLES, example)
    with open(os.path.join(folder, "job-python.toml")) as file:
        text = file.read()
    text = re.sub(r'(path|module) = "([^"/][^"]*)"', lambda m: f'{m[1]} = "{os.path.join(folder, m[2])}"', text)
    text = re.sub(r"(?m)^parallelism = \d+", f"parallelism = {parallelism}", text)
    job = tmp_path / f"{example}-p{parallelism}.toml"
    job.write_text(text)
    return str(job)


def expected(example, name):
    with open(os.path.join(EXAMPLES, example, "data", name)) as file:
        return file.read().splitlines()


EXAMPLES_AND_COMPONENTS = [
    ("fraud-detection", ["fraud_detection_py.wasm"], "expected-alerts.jsonl", True),
    ("word-count", ["word_split_py.wasm", "word_count_py.wasm"], "expected-counts.jsonl", True),
    ("top-k", ["top_k_py.wasm"], "expected-top.jsonl", False),
]


@pytest.mark.parametrize("parallelism", [1, 2])
@pytest.mark.parametrize("example, components, expected_file, ordered", EXAMPLES_AND_COMPONENTS)
def test_the_python_example_gives_the_expected_output(example, components, expected_file, ordered, parallelism, tmp_path):
    need(*components)
    result = run(["run", "--quiet", job_at(example, parallelism, tmp_path)], tmp_path)
    assert result.returncode == 0, result.stderr
    got, want = result.stdout.splitlines(), expected(example, expected_file)
    if ordered and parallelism == 1:
        assert got == want
    else:
        assert sorted(got) == sorted(want)


def test_eddy_reads_the_descriptor_of_word_count():
    need("word_count_py.wasm")
    result = run(["inspect", os.path.join(WASM, "word_count_py.wasm")], EXAMPLES)
    assert result.returncode == 0, result.stderr
    assert "kind:         keyed-process" in result.stdout
    assert "state:        count (Value, version 1)" in result.stdout


FAULTY_JOB = """[job]
name = "faulty"

[[source]]
name = "src"
type = "file"
path = "in.jsonl"

[[operator]]
uid = "parse"
kind = "map"
module = "{module}"
input = "src"
config = {config}

[[sink]]
name = "out"
type = "stdout"
input = "parse"
"""


def run_faulty(tmp_path, config):
    (tmp_path / "in.jsonl").write_text('{"a":"ok"}\n{"a":"boom"}\n{"a":"after"}\n')
    job = tmp_path / "faulty.toml"
    job.write_text(FAULTY_JOB.format(module=os.path.join(WASM, "faulty_py.wasm"), config=config))
    return run(["run", "--quiet", str(job)], tmp_path)


def test_an_exception_is_reported_with_its_type_file_line_and_the_record(tmp_path):
    need("faulty_py.wasm")
    result = run_faulty(tmp_path, '{ mode = "panic-on", needle = "boom" }')
    assert result.returncode != 0
    assert re.search(
        r"operator `parse` \(subtask 1/1\) failed: guest panicked: "
        r"ValueError: faulty guest: found boom \(at faulty\.py:\d+ in map\)\non record: \{\"a\":\"boom\"\}",
        result.stderr,
    ), result.stderr
    assert "after" not in result.stdout
    assert "Traceback" not in result.stderr, "the trap comes without componentize-py's traceback"


def test_function_error_is_an_error_result_and_open_failures_stop_the_start(tmp_path):
    need("faulty_py.wasm")
    result = run_faulty(tmp_path, '{ mode = "error" }')
    assert "guest returned an error: faulty guest: refused record" in result.stderr, result.stderr
    result = run_faulty(tmp_path, '{ mode = "panic-on" }')
    assert "could not start" in result.stderr
    assert "guest returned an error: faulty guest: mode `panic-on` needs a non-empty `needle`" in result.stderr
