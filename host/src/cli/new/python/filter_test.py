"""The native test of `{{name}}` (no WebAssembly): `pytest`."""

import os

import pytest
from eddy_sdk.testing import Failure, jsonl, run_filter

from {{wasm}} import PagesUnder

HERE = os.path.dirname(os.path.abspath(__file__))


def test_clicks_on_product_pages_are_kept_as_they_came():
    with open(os.path.join(HERE, "data", "clicks.jsonl")) as file:
        clicks = jsonl(file.read())
    output = [line.decode() for line in run_filter(PagesUnder, clicks, config='{"prefix": "/products"}')]
    assert output == [
        '{"user":"bob","page":"/products/42?ref=ad","ts":1700000005000}',
        '{"user":"alice","page":"/products/42","ts":1700000012000}',
        '{"user":"bob","page":"/products/7","ts":1700000059000}',
        '{"user":"carol","page":"/products/42","ts":1700000090000}',
    ]


def test_an_empty_prefix_is_refused():
    with pytest.raises(Failure, match="`prefix` must not be empty"):
        run_filter(PagesUnder, [], config='{"prefix": ""}')
