"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

from eddy_sdk.testing import KeyedHarness, keyed_jsonl, lines

from {{wasm}} import CountClicks

HERE = os.path.dirname(os.path.abspath(__file__))


def test_each_click_of_the_sample_gives_its_users_running_count():
    # Keyed and timed as the job file does: key_by `user`, timestamp `ts`.
    with open(os.path.join(HERE, "data", "clicks.jsonl")) as file:
        clicks = keyed_jsonl(file.read(), "user", "ts")
    harness = KeyedHarness(CountClicks)
    assert lines(harness.process(clicks)) == [
        '{"user":"alice","clicks":1}',
        '{"user":"bob","clicks":1}',
        '{"user":"alice","clicks":2}',
        '{"user":"carol","clicks":1}',
        '{"user":"alice","clicks":3}',
        '{"user":"bob","clicks":2}',
        '{"user":"bob","clicks":3}',
        '{"user":"carol","clicks":2}',
    ]
