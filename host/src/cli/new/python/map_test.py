"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import jsonl, run_map

from {{wasm}} import NormalisePage

HERE = os.path.dirname(os.path.abspath(__file__))


def test_pages_of_the_sample_are_normalised():
    with open(os.path.join(HERE, "data", "clicks.jsonl")) as file:
        clicks = jsonl(file.read())
    output = [line.decode() for line in run_map(NormalisePage, clicks)]
    assert output == [
        '{"user":"alice","page":"/home","ts":1700000000000}',
        '{"user":"bob","page":"/products/42","ts":1700000005000}',
        '{"user":"alice","page":"/products/42","ts":1700000012000}',
        '{"user":"carol","page":"/home","ts":1700000030000}',
        '{"user":"alice","page":"/checkout","ts":1700000041000}',
        '{"user":"bob","page":"/products/7","ts":1700000059000}',
        '{"user":"bob","page":"/checkout","ts":1700000075000}',
        '{"user":"carol","page":"/products/42","ts":1700000090000}',
    ]
