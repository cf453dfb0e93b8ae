"""Every function kind through the runtime and harnesses."""

import pytest

import eddy_sdk
from eddy_sdk import BYTES, TEXT, log
from eddy_sdk.runtime import Runtime
from eddy_sdk.testing import (
    Count,
    KeyedHarness,
    Session,
    Sliding,
    Tumbling,
    WindowHarness,
    lines,
    run_filter,
    run_flat_map,
    run_key_selector,
    run_map,
)


class Double(eddy_sdk.Map):
    def open(self, ctx):
        self.factor = ctx.config_json(default={}).get("factor", 2)

    def map(self, record):
        return {"n": record["n"] * self.factor}


def test_map_and_its_config():
    assert run_map(Double, [{"n": 1}, {"n": 2}]) == [b'{"n":2}', b'{"n":4}']
    assert run_map(Double, [{"n": 1}], config='{"factor": 5}') == [b'{"n":5}']


def test_filter_forwards_kept_records_untouched():
    class Odd(eddy_sdk.Filter):
        def filter(self, record):
            return record["n"] % 2 == 1

    assert run_filter(Odd, [b'{"n": 1}', b'{"n":2}', b'{ "n" :3}']) == [b'{"n": 1}', b'{ "n" :3}']


def test_flat_map_emits_through_the_collector_or_yields():
    class Split(eddy_sdk.FlatMap):
        input_codec = TEXT
        output_codec = TEXT

        def flat_map(self, line, out):
            for word in line.split():
                out.emit(word)

    class Yield(eddy_sdk.FlatMap):
        def flat_map(self, record, out):
            yield from range(record)

    assert run_flat_map(Split, ["a b", "", "c"]) == [b"a", b"b", b"c"]
    assert run_flat_map(Yield, [2, 0, 1]) == [b"0", b"1", b"0"]


def test_key_selector_emits_the_key_bytes():
    class ByUser(eddy_sdk.KeySelector):
        def key(self, record):
            return record["user"]

    assert run_key_selector(ByUser, [{"user": "ann"}, {"user": "bo"}]) == [b"ann", b"bo"]


def test_co_process_gets_both_inputs_with_shared_state():
    class Join(eddy_sdk.CoProcess):
        def open(self, ctx):
            self.order = ctx.value_state("order")

        def process_element1(self, order, ctx):
            self.order.update(order)

        def process_element2(self, payment, ctx):
            order = self.order.value()
            ctx.emit({"order": order, "paid": payment["amount"]})

    harness = KeyedHarness(Join)
    harness.process([("o1", 1, {"item": "book"})])
    out = harness.process_second([("o1", 2, {"amount": 5})])
    assert [o.json() for o in out] == [{"order": {"item": "book"}, "paid": 5}]


class Collect(eddy_sdk.ProcessWindow):
    input_codec = TEXT

    def process(self, window, elements, ctx):
        ctx.emit({"key": window.key_str, "start": window.start, "end": window.end, "items": [v for _, v in elements]})


def test_window_process_with_tumbling_sliding_session_and_count_windows():
    records = [("k", 1, "a"), ("k", 12, "b"), ("k", 25, "c")]
    tumbling = WindowHarness(Collect, Tumbling(10)).run_with_watermarks(records, 10, 0)
    assert [o.json()["items"] for o in tumbling] == [["a"], ["b"], ["c"]]
    assert [o.timestamp for o in tumbling] == [9, 19, 29]
    sliding = WindowHarness(Collect, Sliding(20, 10)).run_with_watermarks(records, 10, 0)
    assert [(o.json()["start"], o.json()["items"]) for o in sliding] == [
        (-10, ["a"]),
        (0, ["a", "b"]),
        (10, ["b", "c"]),
        (20, ["c"]),
    ]
    session = WindowHarness(Collect, Session(11)).run_with_watermarks(records, 10, 0)
    assert [(o.json()["start"], o.json()["end"], o.json()["items"]) for o in session] == [
        (1, 23, ["a", "b"]),  # [1, 12) and [12, 23) touch, so they merge
        (25, 36, ["c"]),
    ]
    count = WindowHarness(Collect, Count(2)).run_with_watermarks(records, 10, 0)
    assert [(o.json()["items"], o.timestamp) for o in count] == [(["a", "b"], 12)]


def test_late_records_of_a_fired_window_go_to_late():
    harness = WindowHarness(Collect, Tumbling(10))
    harness.process([("k", 1, "a")])
    assert lines(harness.advance_watermark(9)) == ['{"key":"k","start":0,"end":10,"items":["a"]}']
    out = harness.process([("k", 2, "late")])
    assert lines(out, "late") == ["late"]


class Average(eddy_sdk.Aggregate):
    def create_accumulator(self):
        return {"sum": 0, "count": 0}

    def add(self, acc, record):
        return {"sum": acc["sum"] + record["v"], "count": acc["count"] + 1}

    def merge(self, a, b):
        return {"sum": a["sum"] + b["sum"], "count": a["count"] + b["count"]}

    def get_result(self, acc, window):
        return {"key": window.key_str, "end": window.end, "avg": acc["sum"] / acc["count"]}


def test_aggregate_accumulates_merges_and_names_the_window():
    records = [("k", 1, {"v": 1}), ("k", 2, {"v": 2}), ("j", 3, {"v": 5}), ("k", 15, {"v": 7})]
    out = WindowHarness(Average, Tumbling(10)).run_with_watermarks(records, 2, 0)
    assert sorted(lines(out)) == [
        '{"key":"j","end":10,"avg":5.0}',
        '{"key":"k","end":10,"avg":1.5}',
        '{"key":"k","end":20,"avg":7.0}',
    ]
    sessions = WindowHarness(Average, Session(5)).run_with_watermarks(
        [("k", 1, {"v": 1}), ("k", 10, {"v": 4}), ("k", 4, {"v": 5})], 1, 100
    )
    # [1, 6) and [4, 9) merge; [10, 15) does not touch them
    assert lines(sessions) == ['{"key":"k","end":9,"avg":3.0}', '{"key":"k","end":15,"avg":4.0}']


def test_the_accumulator_crosses_as_compact_json_like_the_rust_sdk():
    runtime = Runtime(Average)
    runtime.init("", (0, 1))
    assert runtime.create_accumulator() == b'{"sum":0,"count":0}'
    assert runtime.merge(b'{"sum":1,"count":1}', b'{"sum": 2, "count": 3}') == b'{"sum":3,"count":4}'


def test_logging_goes_to_the_host_log_or_natively_to_captured():
    class Chatty(eddy_sdk.Map):
        input_codec = output_codec = BYTES

        def open(self, ctx):
            log.info(f"opened as subtask {ctx.subtask_index} of {ctx.parallelism}")

        def map(self, value):
            log.debug("mapping")
            return value

    log.captured.clear()
    run_map(Chatty, [b"x"])
    assert log.captured == [("info", "opened as subtask 0 of 1"), ("debug", "mapping")]


def test_find_function_picks_the_one_function_or_the_exported_one():
    import types

    module = types.ModuleType("m")
    exec("import eddy_sdk\nclass A(eddy_sdk.Map):\n    pass\n", module.__dict__)
    assert eddy_sdk.find_function(module).__name__ == "A"
    exec("class B(eddy_sdk.Filter):\n    pass\n", module.__dict__)
    with pytest.raises(ValueError, match="several eddy functions"):
        eddy_sdk.find_function(module)
    exec("B = eddy_sdk.export(B)\n", module.__dict__)
    assert eddy_sdk.find_function(module).__name__ == "B"
