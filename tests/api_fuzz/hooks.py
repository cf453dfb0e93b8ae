"""Schemathesis hooks of tests/tests/api_fuzz.rs, which fuzzes the control
API of `eddy serve` against docs/control-api.openapi.json.

- `POST /v1/modules` takes `application/wasm`: its bodies are sent as the raw
  bytes generated for the description's `format: binary`, and besides bytes
  at random, the fuzzer also sends real guest components
  ($EDDY_FUZZ_COMPONENTS, paths separated by `:`): whole (kept: 201), cut
  short, with bytes flipped, with bytes inserted (so the upload's checks see
  input that gets past the first bytes of a module), or twice over (larger
  than the test server's `--max-module-size`: 413).
- A savepoint (`POST /v1/jobs/{id}/savepoints`, `.../stop`) writes its
  folder into the absolute `dir` of the request: the fuzzer (which finds the
  real job ids in the server's answers) must not write folders all over the
  machine, so every absolute `dir` is moved below $EDDY_FUZZ_SAVEPOINTS
  (`/a/../b` becomes `$EDDY_FUZZ_SAVEPOINTS/b`). Other values of `dir`
  (relative, empty, not a string) go as generated.
"""

import os
import posixpath

import schemathesis
from hypothesis import strategies as st
from schemathesis.transport.serialization import Binary

schemathesis.serializer.alias("application/wasm", "application/octet-stream")

SAVEPOINTS = os.environ["EDDY_FUZZ_SAVEPOINTS"]
assert posixpath.isabs(SAVEPOINTS), SAVEPOINTS
COMPONENTS = [
    open(path, "rb").read()
    for path in os.environ.get("EDDY_FUZZ_COMPONENTS", "").split(":")
    if path
]
SAVEPOINT_PATHS = {"/v1/jobs/{id}/savepoints", "/v1/jobs/{id}/stop"}


def _is_upload(operation):
    return operation.method.upper() == "POST" and operation.path == "/v1/modules"


def _damaged(component, how, at, data):
    at = at % (len(component) + 1)
    if how == "whole":
        return component
    if how == "twice":
        return component + component
    if how == "cut":
        return component[:at]
    if how == "flip":
        flipped = bytearray(component)
        for offset, byte in enumerate(data):
            flipped[(at + offset * 7919) % len(flipped)] ^= byte or 0xFF
        return bytes(flipped)
    return component[:at] + data + component[at:]


@schemathesis.hook
def before_generate_body(context, strategy):
    if context.operation is None or not _is_upload(context.operation) or not COMPONENTS:
        return strategy
    damaged = st.builds(
        _damaged,
        st.sampled_from(COMPONENTS),
        st.sampled_from(["whole", "cut", "flip", "insert", "twice"]),
        st.integers(min_value=0, max_value=1 << 24),
        st.binary(min_size=1, max_size=64),
    ).map(Binary)
    return st.one_of(strategy, damaged)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path not in SAVEPOINT_PATHS or not isinstance(case.body, dict):
        return
    folder = case.body.get("dir")
    if isinstance(folder, str) and folder.startswith("/"):
        inside = posixpath.normpath("/" + folder).lstrip("/")
        case.body["dir"] = posixpath.join(SAVEPOINTS, inside)
