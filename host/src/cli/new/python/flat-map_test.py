"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import jsonl, run_flat_map

from {{wasm}} import PageSegments

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_segment_of_the_sample_pages_is_a_record():
    with open(os.path.join(HERE, "data", "clicks.jsonl")) as file:
        clicks = jsonl(file.read())
    output = [line.decode() for line in run_flat_map(PageSegments, clicks)]
    assert output == [
        '{"user":"alice","segment":"home"}',
        '{"user":"bob","segment":"products"}',
        '{"user":"bob","segment":"42"}',
        '{"user":"alice","segment":"products"}',
        '{"user":"alice","segment":"42"}',
        '{"user":"carol","segment":"Home"}',
        '{"user":"alice","segment":"checkout"}',
        '{"user":"bob","segment":"products"}',
        '{"user":"bob","segment":"7"}',
        '{"user":"bob","segment":"checkout"}',
        '{"user":"carol","segment":"products"}',
        '{"user":"carol","segment":"42"}',
    ]
