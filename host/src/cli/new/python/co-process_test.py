"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import KeyedHarness, interleavings, keyed_jsonl, lines, tag

from {{wasm}} import ActivityPerMinute

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name, key):
    with open(os.path.join(HERE, "data", name)) as file:
        return keyed_jsonl(file.read(), key, "ts")


def test_the_sample_gives_each_users_activity_per_minute_however_the_inputs_interleave():
    clicks = tag("first", read("clicks.jsonl", "user"))
    purchases = tag("second", read("purchases.jsonl", "user"))
    for name, records in interleavings(clicks, purchases):
        harness = KeyedHarness(ActivityPerMinute)
        output = harness.run_with_watermarks(records, 2, 5_000)
        assert sorted(lines(output)) == [
            '{"user":"alice","start":1699999980000,"clicks":2,"purchases":0,"spent":0}',
            '{"user":"alice","start":1700000040000,"clicks":1,"purchases":1,"spent":30}',
            '{"user":"bob","start":1699999980000,"clicks":1,"purchases":0,"spent":0}',
            '{"user":"bob","start":1700000040000,"clicks":2,"purchases":2,"spent":17}',
            '{"user":"carol","start":1699999980000,"clicks":1,"purchases":0,"spent":0}',
            '{"user":"carol","start":1700000040000,"clicks":1,"purchases":0,"spent":0}',
        ], name
