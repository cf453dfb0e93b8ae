"""Each Python example gives the outputs in its example's data/expected-*.jsonl,
and the bench and faulty guests do what their Rust twins do."""

import json
import struct

import pytest
from conftest import example_data, example_module

from eddy_sdk.runtime import Runtime
from eddy_sdk.testing import (
    Failure,
    KeyedHarness,
    Tumbling,
    WindowHarness,
    jsonl,
    keyed_jsonl,
    lines,
    run_filter,
    run_flat_map,
    run_map,
)

fraud = example_module("fraud-detection", "fraud_detection")
word_split = example_module("word-count", "word_split")
word_count = example_module("word-count", "word_count")
top_k = example_module("top-k", "top_k")
faulty = example_module("faulty", "faulty")
bench_map = example_module("bench-map", "bench_map")
bench_filter = example_module("bench-filter", "bench_filter")
bench_window_count = example_module("bench-window-count", "bench_window_count")


# -- fraud-detection ------------------------------------------------------------


def run_fraud(config, batch_size):
    logins = keyed_jsonl(example_data("fraud-detection", "logins.jsonl"), "user", "ts")
    harness = KeyedHarness(fraud.FraudDetection, config)
    return lines(harness.run_with_watermarks(logins, batch_size, 5_000))


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_fraud_detection_raises_the_expected_alerts(batch_size):
    expected = example_data("fraud-detection", "expected-alerts.jsonl").splitlines()
    assert run_fraud("", batch_size) == expected
    assert run_fraud('{"threshold": 3, "window_ms": 300000}', 5) == expected


def test_fraud_detection_config_changes_the_rule():
    assert run_fraud('{"window_ms": 60000}', 8) == [
        '{"user":"dave","failures":3,"first_ts":1700000030000,"last_ts":1700000080000}',
        '{"user":"alice","failures":3,"first_ts":1700000600000,"last_ts":1700000640000}',
    ]
    with pytest.raises(Failure, match="must be positive"):
        KeyedHarness(fraud.FraudDetection, '{"threshold": 0}')


def test_fraud_detection_declares_list_state_failures():
    _, states, _ = Runtime(fraud.FraudDetection).describe()
    assert [(s.name, s.kind, s.version) for s in states] == [("failures", "list", 1)]


# -- word-count -----------------------------------------------------------------


def test_word_split_gives_the_expected_words():
    words = run_flat_map(word_split.SplitWords, jsonl(example_data("word-count", "lines.jsonl")))
    assert [w.decode() for w in words] == example_data("word-count", "expected-words.jsonl").splitlines()


def test_word_count_gives_the_expected_counts():
    words = [json.loads(w)["word"] for w in jsonl(example_data("word-count", "expected-words.jsonl"))]
    records = [(word, ts, {"word": word}) for ts, word in enumerate(words)]
    harness = KeyedHarness(word_count.CountWords)
    out = harness.run_with_watermarks(records, 16, 0)
    assert lines(out) == example_data("word-count", "expected-counts.jsonl").splitlines()
    assert harness.raw_value_state("count", "the") == str(words.count("the")).encode()


def test_word_count_state_is_the_rust_functions_value_state_count_version_1():
    _, states, _ = Runtime(word_count.CountWords).describe()
    assert [(s.name, s.kind, s.version, s.ttl, s.migrates_from) for s in states] == [("count", "value", 1, None, [])]
    harness = KeyedHarness(word_count.CountWords)
    harness.set_raw_value_state("count", "fox", b"41")  # as the Rust function stores it
    assert lines(harness.process([("fox", 1, {"word": "fox"})])) == ['{"word":"fox","count":42}']
    assert harness.raw_value_state("count", "fox") == b"42"


# -- top-k ----------------------------------------------------------------------


def run_top_k(config, text, batch_size):
    events = keyed_jsonl(text, "category", "ts")
    harness = WindowHarness(top_k.TopK, Tumbling(60_000), config)
    out = harness.run_with_watermarks(events, batch_size, 5_000)
    assert lines(out, "late") == []
    return sorted(lines(out))


@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_top_k_gives_the_expected_top_lists(batch_size):
    expected = example_data("top-k", "expected-top.jsonl").splitlines()
    assert run_top_k("", example_data("top-k", "events.jsonl"), batch_size) == expected


def test_top_k_ties_sort_by_item_and_the_list_is_cut_at_k():
    events = "\n".join(
        [
            '{"category":"c","item":"z","ts":0}',
            '{"category":"c","item":"y","ts":1}',
            '{"category":"c","item":"x","ts":2}',
            '{"category":"c","item":"y","ts":59999}',
            '{"category":"c","item":"x","ts":60000}',
        ]
    )
    assert run_top_k('{"k": 2}', events, 2) == [
        '{"category":"c","window_start":0,"window_end":60000,"top":[{"item":"y","count":2},{"item":"x","count":1}]}',
        '{"category":"c","window_start":60000,"window_end":120000,"top":[{"item":"x","count":1}]}',
    ]
    with pytest.raises(Failure, match="at least 1"):
        WindowHarness(top_k.TopK, Tumbling(60_000), '{"k": 0}')


# -- faulty ---------------------------------------------------------------------


def test_faulty_raises_a_value_error_on_the_needle_naming_this_file():
    records = [b'{"a":"ok"}', b'{"a":"boom"}', b'{"a":"after"}']
    with pytest.raises(Failure) as error:
        run_map(faulty.Faulty, records, config='{"mode": "panic-on", "needle": "boom"}')
    assert error.value.message.startswith("ValueError: faulty guest: found boom (at faulty.py:")
    assert error.value.event == 1 and error.value.panic
    assert run_map(faulty.Faulty, records) == records, "identity by default"


def test_faulty_error_mode_and_config_mistakes():
    with pytest.raises(Failure) as error:
        run_map(faulty.Faulty, [b"x"], config='{"mode": "error"}')
    assert (error.value.message, error.value.panic) == ("faulty guest: refused record", False)
    with pytest.raises(Failure, match="mode `panic-on` needs a non-empty `needle`"):
        run_map(faulty.Faulty, [b"x"], config='{"mode": "panic-on"}')
    with pytest.raises(Failure, match="unknown config fields"):
        run_map(faulty.Faulty, [b"x"], config='{"mode": "identity", "typo": 1}')


# -- bench guests (binary events: u64 key, i64 ts, u64 amount, payload) ------


def event(key, ts, amount, payload=b""):
    return struct.pack("<QqQ", key, ts, amount) + payload


def test_bench_map_triples_the_amount_plus_7_wrapping_and_uppercases_the_payload():
    out = run_map(bench_map.BenchMap, [event(1, 2, 5, b"abc-z\xff"), event(3, 4, 2**64 - 1)])
    assert out == [event(1, 2, 22, b"ABC-Z\xff"), event(3, 4, (3 * (2**64 - 1) + 7) % 2**64)]
    with pytest.raises(Failure, match="binary event is 3 bytes, expected at least 24"):
        run_map(bench_map.BenchMap, [b"abc"])


def test_bench_filter_keeps_even_amounts():
    events = [event(1, 0, 4), event(2, 0, 7), event(3, 0, 256), event(4, 0, 2**63 + 1)]
    assert run_filter(bench_filter.EvenAmounts, events) == [events[0], events[2]]


def test_bench_window_count_counts_per_key_and_window_as_8_bytes():
    records = [(b"k1", 1_000, event(1, 1_000, 0)), (b"k1", 2_000, event(1, 2_000, 0)), (b"k2", 61_000, event(2, 61_000, 0))]
    harness = WindowHarness(bench_window_count.WindowCount, Tumbling(60_000))
    out = harness.run_with_watermarks(records, 10, 0)
    assert [(o.value, o.timestamp) for o in out] == [
        ((2).to_bytes(8, "little"), 59_999),
        ((1).to_bytes(8, "little"), 119_999),
    ]
    runtime = Runtime(bench_window_count.WindowCount)
    runtime.init("", (0, 1))
    assert runtime.create_accumulator() == b"0", "the accumulator is the JSON count, as the Rust u64"


bench_count = example_module("bench-count", "bench_count")


def test_bench_count_emits_each_keys_running_count_as_8_bytes():
    harness = KeyedHarness(bench_count.CountPerKey)
    out = harness.process([(b"a", 1, event(1, 1, 0)), (b"b", 2, event(2, 2, 0)), (b"a", 3, event(1, 3, 0))])
    assert [o.value for o in out] == [n.to_bytes(8, "little") for n in (1, 1, 2)]
    assert harness.raw_value_state("count", b"a") == b"2"


swap_count_v2 = example_module("swap-count-v2", "swap_count_v2")


def test_swap_count_v2_emits_from_the_second_record_of_a_key_in_a_period():
    harness = KeyedHarness(swap_count_v2.SwapCountV2)
    first = harness.process(
        [
            (b"7", 100, b'{"key": 7, "ts": 100}'),
            (b"a", 200, b'{"key": "a", "ts": 200}'),
            (b"7", 300, b'{"key": 7, "ts": 300}'),
            (b"7", 400, b'{"key": 7, "ts": 400}'),
        ]
    )
    assert lines(first) == ['{"key":7,"total":2,"rule":"v2"}', '{"key":7,"total":3,"rule":"v2"}']
    assert harness.advance_watermark(1000) == []
    assert harness.process([(b"7", 1100, b'{"key": 7, "ts": 1100}')]) == [], "the count starts over each period"


def test_swap_count_v2_keeps_the_rust_v1_state_count_of_version_1():
    _, states, _ = Runtime(swap_count_v2.SwapCountV2).describe()
    assert [(s.name, s.kind, s.version, s.migrates_from) for s in states] == [("count", "value", 1, [])]
    harness = KeyedHarness(swap_count_v2.SwapCountV2)
    harness.set_raw_value_state("count", b"7", b"41")  # written by the Rust swap-count-v1
    assert lines(harness.process([(b"7", 5, b'{"key": 7, "ts": 5}')])) == ['{"key":7,"total":42,"rule":"v2"}']
    with pytest.raises(Failure) as error:
        harness.migrate_state("count", 1, b"41")
    assert error.value.message.endswith("it is at version 1 and migrates from no older version")


swap_count_v2_migrating = example_module("swap-count-v2-migrating", "swap_count_v2_migrating")


def test_swap_count_v2_migrating_migrates_the_rust_v1_count_and_keeps_the_last_time():
    _, states, _ = Runtime(swap_count_v2_migrating.SwapCountV2Migrating).describe()
    assert [(s.name, s.kind, s.version, s.migrates_from) for s in states] == [("count", "value", 2, [1])]
    harness = KeyedHarness(swap_count_v2_migrating.SwapCountV2Migrating)
    # what the host stores after migrating the Rust v1 value 41 (serde_json: Option None is null)
    migrated = harness.migrate_state("count", 1, b"41")
    assert migrated == b'{"count":41,"last_ts":null}'
    harness.set_raw_value_state("count", b"7", migrated)
    out = harness.process([(b"7", 5, b'{"key": 7, "ts": 5}'), (b"7", 6, b'{"key": 7, "ts": 6}')])
    assert lines(out) == ['{"key":7,"count":42,"prev_ts":null}', '{"key":7,"count":43,"prev_ts":5}']
    assert harness.raw_value_state("count", b"7") == b'{"count":43,"last_ts":6}'
