"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import Tumbling, WindowHarness, keyed_jsonl, lines

from {{wasm}} import CountPerWindow

HERE = os.path.dirname(os.path.abspath(__file__))


def test_the_sample_gives_each_users_clicks_per_minute():
    with open(os.path.join(HERE, "data", "clicks.jsonl")) as file:
        clicks = keyed_jsonl(file.read(), "user", "ts")
    harness = WindowHarness(CountPerWindow, Tumbling(60_000))
    output = harness.run_with_watermarks(clicks, 3, 5_000)
    assert sorted(lines(output)) == [
        '{"user":"alice","start":1699999980000,"end":1700000040000,"clicks":2}',
        '{"user":"alice","start":1700000040000,"end":1700000100000,"clicks":1}',
        '{"user":"bob","start":1699999980000,"end":1700000040000,"clicks":1}',
        '{"user":"bob","start":1700000040000,"end":1700000100000,"clicks":2}',
        '{"user":"carol","start":1699999980000,"end":1700000040000,"clicks":1}',
        '{"user":"carol","start":1700000040000,"end":1700000100000,"clicks":1}',
    ]
