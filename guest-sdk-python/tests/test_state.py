"""Value, list, map and broadcast state; TTL, versions and migrations; portability with the Rust SDK."""

import pytest

import eddy_sdk
from eddy_sdk import Ttl
from eddy_sdk.runtime import Runtime
from eddy_sdk.testing import Failure, KeyedHarness


class Everything(eddy_sdk.KeyedProcess):
    """Keeps one of each state, driven by the record's `op`."""

    def open(self, ctx):
        self.total = ctx.value_state("total")
        self.seen = ctx.list_state("seen", ttl=Ttl(60_000, "on-read-and-write"))
        self.by_name = ctx.map_state("by_name", version=2, migrate={1: lambda old: {"n": old}})
        self.label = ctx.value_state("label", ttl=Ttl(1_000))

    def process(self, record, ctx):
        op = record["op"]
        if op == "add":
            total = self.total.value(0) + record["n"]
            self.total.update(total)
            self.seen.add(record["n"])
            self.by_name.put(record["name"], {"n": record["n"]})
            ctx.emit({"total": total, "seen": self.seen.get()})
        elif op == "read":
            ctx.emit(
                {
                    "total": self.total.value(),
                    "seen": self.seen.get(),
                    "items": self.by_name.items(),
                    "has_a": "a" in self.by_name,
                    "label": self.label.value("none"),
                }
            )
        elif op == "trim":
            self.seen.update([n for n in self.seen.get() if n > 1])
            self.by_name.remove("a")
        elif op == "clear":
            self.total.clear()
            self.seen.clear()
            self.by_name.clear()


def test_the_descriptor_lists_states_in_order_with_kind_ttl_version_and_migrations():
    kind, states, side_outputs = Runtime(Everything).describe()
    assert kind == "keyed-process" and side_outputs == []
    assert [(s.name, s.kind, s.version, s.migrates_from) for s in states] == [
        ("total", "value", 1, []),
        ("seen", "list", 1, []),
        ("by_name", "map", 2, [1]),
        ("label", "value", 1, []),
    ]
    assert (states[1].ttl.millis, states[1].ttl.update) == (60_000, "on-read-and-write")
    assert (states[3].ttl.millis, states[3].ttl.update) == (1_000, "on-create-and-write")


def test_each_state_kind_reads_its_own_writes_within_and_across_batches():
    harness = KeyedHarness(Everything)
    out = harness.process(
        [
            ("k", 1, {"op": "add", "n": 1, "name": "a"}),
            ("j", 2, {"op": "add", "n": 10, "name": "z"}),
            ("k", 3, {"op": "add", "n": 2, "name": "b"}),
        ]
    )
    assert [o.json() for o in out] == [
        {"total": 1, "seen": [1]},
        {"total": 10, "seen": [10]},
        {"total": 3, "seen": [1, 2]},
    ]
    # value state went back to the host once per key, as compact JSON
    assert harness.raw_value_state("total", "k") == b"3"
    out = harness.process([("k", 4, {"op": "read"})])
    assert out[0].json() == {
        "total": 3,
        "seen": [1, 2],
        "items": [["a", {"n": 1}], ["b", {"n": 2}]],
        "has_a": True,
        "label": "none",
    }
    harness.process([("k", 5, {"op": "trim"}), ("k", 6, {"op": "read"})])
    assert harness.list_state("seen", "k") == [2]
    assert harness.map_state("by_name", "k") == {b'"b"': b'{"n":2}'}
    harness.process([("k", 7, {"op": "clear"})])
    assert harness.raw_value_state("total", "k") is None
    assert harness.list_state("seen", "k") == [] and harness.map_state("by_name", "k") == {}
    assert harness.value_state("total", "j") == 10, "other keys keep their state"


def test_values_written_by_the_rust_sdk_read_in_python_and_python_writes_what_rust_writes():
    # serde_json writes compact JSON: no spaces, UTF-8 as is.
    harness = KeyedHarness(Everything)
    harness.set_raw_value_state("total", "k", b"41")
    harness.set_raw_value_state("label", "k", '"caf\u00e9"'.encode())
    out = harness.process([("k", 1, {"op": "read"})])
    assert out[0].json()["total"] == 41 and out[0].json()["label"] == "caf\u00e9"
    harness.process([("k", 2, {"op": "add", "n": 1, "name": "\u00e9 x"})])
    assert harness.raw_value_state("total", "k") == b"42"
    assert harness.map_state("by_name", "k") == {'"\u00e9 x"'.encode(): b'{"n":1}'}


def test_map_entries_are_ordered_by_the_json_bytes_of_their_keys():
    class Numbers(eddy_sdk.KeyedProcess):
        def open(self, ctx):
            self.m = ctx.map_state("m")

        def process(self, n, ctx):
            self.m.put(n, n * n)
            ctx.emit(self.m.keys())

    out = KeyedHarness(Numbers).process([("k", 0, 9), ("k", 1, 10), ("k", 2, -1), ("k", 3, -2)])
    assert out[-1].json() == [-1, -2, 10, 9]


def test_migrate_state_turns_old_values_into_new_ones_and_says_what_it_cannot():
    harness = KeyedHarness(Everything)
    assert harness.migrate_state("by_name", 1, b"5") == b'{"n":5}'
    with pytest.raises(Failure) as error:
        harness.migrate_state("total", 1, b"41")
    assert error.value.message.endswith("it is at version 1 and migrates from no older version")
    with pytest.raises(Failure, match="declares no such state"):
        harness.migrate_state("nope", 1, b"1")


def test_registration_mistakes_fail_open():
    class Twice(eddy_sdk.KeyedProcess):
        def open(self, ctx):
            ctx.value_state("a")
            ctx.list_state("a")

    with pytest.raises(Failure, match="state `a` is registered twice"):
        KeyedHarness(Twice)

    class Forward(eddy_sdk.KeyedProcess):
        def open(self, ctx):
            ctx.value_state("a", version=2, migrate={3: lambda v: v})

    with pytest.raises(Failure, match="migrations come from older versions only"):
        KeyedHarness(Forward)

    class Misplaced(eddy_sdk.KeyedProcess):
        def open(self, ctx):
            ctx.broadcast_map_state("rules")

    with pytest.raises(Failure, match="needs a broadcast-process function"):
        KeyedHarness(Misplaced)


def test_state_used_outside_an_event_is_an_error():
    class Early(eddy_sdk.KeyedProcess):
        def open(self, ctx):
            self.v = ctx.value_state("v")
            self.v.value()

    with pytest.raises(Failure, match="outside process/on_timer"):
        KeyedHarness(Early)


class Rules(eddy_sdk.KeyedBroadcastProcess):
    def open(self, ctx):
        self.rules = ctx.broadcast_map_state("rules")
        self.count = ctx.value_state("count")

    def process_broadcast_element(self, rule, ctx):
        self.rules.put(rule["name"], rule["limit"])
        ctx.emit({"rule": rule["name"]})

    def process_element(self, event, ctx):
        if event.get("sneaky"):
            self.rules.put("x", 0)
        count = self.count.value(0) + 1
        self.count.update(count)
        limit = self.rules.get(event["rule"])
        if limit is not None and count > limit:
            ctx.emit({"key": ctx.key_str, "over": event["rule"]})


def test_broadcast_state_is_filled_by_broadcast_records_and_read_by_keyed_ones():
    harness = KeyedHarness(Rules)
    assert [o.json() for o in harness.broadcast([(1, {"name": "r", "limit": 1})])] == [{"rule": "r"}]
    out = harness.process([("u", 2, {"rule": "r"}), ("u", 3, {"rule": "r"})])
    assert [o.json() for o in out] == [{"key": "u", "over": "r"}]
    assert harness.map_state("rules") == {b'"r"': b"1"}


def test_a_keyed_record_cannot_change_broadcast_state():
    harness = KeyedHarness(Rules)
    with pytest.raises(Failure, match="may change only in process_broadcast_element"):
        harness.process([("u", 1, {"rule": "r", "sneaky": True})])
