"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import KeyedHarness, interleavings, keyed_jsonl, lines, tag

from {{wasm}} import LabelClicks

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name, key):
    with open(os.path.join(HERE, "data", name)) as file:
        return keyed_jsonl(file.read(), key, "ts")


def test_the_sample_clicks_are_labelled_however_the_inputs_interleave():
    clicks = tag("first", read("clicks.jsonl", "user"))
    labels = tag("broadcast", read("labels.jsonl", "page"))
    for name, records in interleavings(clicks, labels):
        harness = KeyedHarness(LabelClicks)
        output = harness.run_with_watermarks(records, 2, 5_000)
        assert sorted(lines(output)) == [
            '{"user":"alice","page":"/checkout","ts":1700000041000,"label":"buying"}',
            '{"user":"alice","page":"/products/42","ts":1700000012000,"label":"browsing"}',
            '{"user":"bob","page":"/checkout","ts":1700000075000,"label":"buying"}',
            '{"user":"carol","page":"/products/42","ts":1700000090000,"label":"browsing"}',
        ], name
        assert sorted(lines(output, "unlabelled")) == [
            '{"user":"alice","page":"/home","ts":1700000000000}',
            '{"user":"bob","page":"/products/42?ref=ad","ts":1700000005000}',
            '{"user":"bob","page":"/products/7","ts":1700000059000}',
            '{"user":"carol","page":"/Home","ts":1700000030000}',
        ], name
