"""eddy-py-build's patch for componentize-py's leak of byte lists
(eddy_sdk/_free_lists.py): which functions it covers, and that a built
component runs far past its memory limit's worth of output and state
writes. The component checks need the eddy binary and
scripts/build-python-guests.sh's components; skipped without them."""

import os

import pytest
from conftest import EXAMPLES
from test_components import WASM, need, run

from eddy_sdk._free_lists import byte_list_params, byte_list_results, patch_component

WIT = os.path.join(os.path.dirname(EXAMPLES), "wit", "dataflow.wit")


def wit_text():
    with open(WIT) as file:
        return file.read()


def test_every_export_returning_bytes_and_every_import_taking_bytes_is_covered():
    results = byte_list_results(wit_text())
    assert results[("transform-function", "process-batch")] == "result"
    assert results[("keyed-process-function", "migrate-state")] == "result"
    assert results[("aggregate-function", "create-accumulator")] == "list"
    assert results[("aggregate-function", "get-results")] == "result"
    assert ("transform-function", "init") not in results and ("transform-function", "describe") not in results
    params = byte_list_params(wit_text())
    # Flat parameter index of each list's pointer: (state u32, key u32, ptr, len, ...).
    assert params[("state", "value-set")] == [2]
    assert params[("state", "map-put")] == [2, 4]
    assert params[("state", "list-update")] == [2]
    assert ("state", "clear") not in params and ("state", "list-get") not in params


def test_a_built_component_is_patched_once():
    path = os.path.join(WASM, "fraud_detection_py.wasm")
    if not os.path.exists(path):
        pytest.skip("fraud_detection_py.wasm is not built (scripts/build-python-guests.sh)")
    with open(path, "rb") as file:
        component = file.read()
    assert patch_component(component, wit_text()) == (component, []), "eddy-py-build patched it already"


JOB = """
[job]
name = "free-lists"

[[source]]
name = "events"
type = "generator"
format = "binary-event"
[source.generator]
count = {count}
keys = 1000

[[operator]]
uid = "map"
kind = "map"
module = "{module}"
input = "events"
limits = {{ memory = "20 MiB" }}

[[sink]]
name = "out"
type = "discard"
input = "map"
"""


def test_a_map_outputs_many_times_its_memory_limit(tmp_path):
    # ~124 bytes out per record: 1,000,000 records are ~120 MB of output
    # buffers, six times the limit (13.5 MiB are in use after init).
    need("bench_map_py.wasm")
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(count=1_000_000, module=os.path.join(WASM, "bench_map_py.wasm")))
    result = run(["run", str(job)], cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
