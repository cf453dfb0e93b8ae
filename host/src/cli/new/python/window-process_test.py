"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import Tumbling, WindowHarness, keyed_jsonl, lines

from {{wasm}} import DistinctPages

HERE = os.path.dirname(os.path.abspath(__file__))


def test_the_sample_gives_each_users_pages_per_minute():
    with open(os.path.join(HERE, "data", "clicks.jsonl")) as file:
        clicks = keyed_jsonl(file.read(), "user", "ts")
    harness = WindowHarness(DistinctPages, Tumbling(60_000))
    output = harness.run_with_watermarks(clicks, 3, 5_000)
    assert sorted(lines(output)) == [
        '{"user":"alice","start":1699999980000,"end":1700000040000,"pages":["/home","/products/42"]}',
        '{"user":"alice","start":1700000040000,"end":1700000100000,"pages":["/checkout"]}',
        '{"user":"bob","start":1699999980000,"end":1700000040000,"pages":["/products/42?ref=ad"]}',
        '{"user":"bob","start":1700000040000,"end":1700000100000,"pages":["/checkout","/products/7"]}',
        '{"user":"carol","start":1699999980000,"end":1700000040000,"pages":["/Home"]}',
        '{"user":"carol","start":1700000040000,"end":1700000100000,"pages":["/products/42"]}',
    ]
