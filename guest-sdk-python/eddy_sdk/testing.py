"""Run functions natively, without WebAssembly, as the host would (the Python
counterpart of the Rust SDK's ``eddy_sdk::testing``).

Every harness drives the same :class:`~eddy_sdk.runtime.Runtime` the component
runs: input is encoded into real batches of the ``wit/README.md`` layout and
the output buffer decoded again, so a test covers the SDK's byte handling too.
List and map state live in :class:`MemoryState`; value state, timers and the
watermark in the harness.

- :func:`run_map`, :func:`run_filter`, :func:`run_flat_map`, :func:`run_key_selector`
- :class:`KeyedHarness` for keyed-process, co-process and broadcast-process
- :class:`WindowHarness` for window-process and aggregate, with
  :class:`Tumbling`, :class:`Sliding`, :class:`Session` and :class:`Count` windows

Failures raise :class:`Failure` (``.message``, ``.event``, ``.panic``), the
message being exactly what the host would report.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .codec import dumps
from .errors import GuestFailure as Failure
from .functions import KEYED, TRANSFORM, Aggregate, ProcessWindow
from .layout import (
    DOMAIN_EVENT_TIME,
    DOMAIN_PROCESSING_TIME,
    MAX_TIMESTAMP,
    NO_KEY,
    NO_TIMESTAMP,
    BatchBuilder,
    decode_output,
    encode_fired_windows,
    encode_groups,
    join_length_prefixed,
    join_length_prefixed_pairs,
    split_length_prefixed,
)
from .runtime import Runtime
from .state import VALUE

__all__ = [
    "Count",
    "Failure",
    "KeyedHarness",
    "MemoryState",
    "Output",
    "Session",
    "Sliding",
    "Tumbling",
    "WindowHarness",
    "jsonl",
    "interleavings",
    "keyed_jsonl",
    "tag",
    "lines",
    "run_filter",
    "run_flat_map",
    "run_key_selector",
    "run_map",
]

FIRST, SECOND, BROADCAST = "first", "second", "broadcast"


def _bytes(value: Any) -> bytes:
    """Record values: bytes as they are, ``str`` as UTF-8, anything else as JSON."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return dumps(value)


def _key(key: Any) -> bytes:
    return _bytes(key)


class Output:
    """One emitted record: ``value`` (bytes), ``timestamp`` and ``side_output``
    (``None`` for the main output, else the side output's name)."""

    __slots__ = ("value", "timestamp", "side_output")

    def __init__(self, value: bytes, timestamp: int, side_output: Optional[str] = None) -> None:
        self.value = value
        self.timestamp = timestamp
        self.side_output = side_output

    def json(self) -> Any:
        return json.loads(self.value)

    @property
    def text(self) -> str:
        return self.value.decode("utf-8")

    def __eq__(self, other) -> bool:
        return isinstance(other, Output) and (self.value, self.timestamp, self.side_output) == (
            other.value,
            other.timestamp,
            other.side_output,
        )

    def __repr__(self) -> str:
        side = f", side_output={self.side_output!r}" if self.side_output else ""
        return f"Output({self.value!r}, timestamp={self.timestamp}{side})"


def jsonl(text: str) -> List[bytes]:
    """The non-empty lines of JSON-lines text, as record values."""
    return [line.strip().encode("utf-8") for line in text.splitlines() if line.strip()]


def keyed_jsonl(text: str, key_field: str, time_field: Optional[str] = None) -> List[Tuple[bytes, int, bytes]]:
    """JSON lines as ``(key, timestamp, value)`` records, keyed and timed as a
    job file's ``key_by = { field }`` and ``timestamp = { field }`` do (a text
    key is its UTF-8 bytes, another key its JSON)."""
    records = []
    for index, line in enumerate(jsonl(text)):
        parsed = json.loads(line)
        key = parsed[key_field]
        key_bytes = key.encode("utf-8") if isinstance(key, str) else dumps(key)
        timestamp = parsed[time_field] if time_field else index
        records.append((key_bytes, timestamp, line))
    return records


def lines(outputs: Iterable[Output], side_output: Optional[str] = None) -> List[str]:
    """The text of the outputs of one output (main by default)."""
    return [output.text for output in outputs if output.side_output == side_output]


# -- stateless kinds ------------------------------------------------------------


def _stateless(cls, config: str, inputs: Sequence[Any], expect: str) -> Tuple[Runtime, List[tuple], List[bytes]]:
    runtime = Runtime(cls)
    if runtime.world != TRANSFORM or (expect and runtime.kind != expect):
        raise TypeError(f"{cls.__name__} is a {runtime.kind} function, not {expect or 'a stateless one'}")
    runtime.init(config, (0, 1))
    values = [_bytes(value) for value in inputs]
    batch = BatchBuilder(NO_TIMESTAMP, 0)
    for index, value in enumerate(values):
        batch.record(NO_KEY, index, value)
    return runtime, decode_output(runtime.process_batch(batch.build())), values


def run_map(cls, inputs: Sequence[Any], config: str = "") -> List[bytes]:
    """Run a map over ``inputs`` (bytes, or values encoded as JSON) in one batch."""
    _, entries, _ = _stateless(cls, config, inputs, "map")
    return [entry[2] for entry in entries]


def run_flat_map(cls, inputs: Sequence[Any], config: str = "") -> List[bytes]:
    _, entries, _ = _stateless(cls, config, inputs, "flat-map")
    return [entry[2] for entry in entries]


def run_key_selector(cls, inputs: Sequence[Any], config: str = "") -> List[bytes]:
    _, entries, _ = _stateless(cls, config, inputs, "key-selector")
    return [entry[2] for entry in entries]


def run_filter(cls, inputs: Sequence[Any], config: str = "") -> List[bytes]:
    """The inputs a filter keeps (it forwards them, unchanged)."""
    _, entries, values = _stateless(cls, config, inputs, "filter")
    for entry in entries:
        if entry[0] != "forward":
            raise AssertionError(f"a filter wrote {entry}, filters only forward")
    return [values[entry[1]] for entry in entries]


# -- state ------------------------------------------------------------------------


class MemoryState:
    """List, map and broadcast map state in memory, by ``(state, key bytes)``:
    the native stand-in for the host's ``state`` import."""

    def __init__(self) -> None:
        self.lists: Dict[Tuple[int, bytes], List[bytes]] = {}
        self.maps: Dict[Tuple[int, Optional[bytes]], Dict[bytes, bytes]] = {}
        self.keys: List[bytes] = []
        self.broadcast = False

    def begin_batch(self, keys: List[bytes], broadcast: bool) -> None:
        self.keys = list(keys)
        self.broadcast = broadcast

    def _at(self, state: int, key: int, write: bool = False):
        if key == NO_KEY:
            if write and not self.broadcast:
                raise Failure(
                    f"wasm trap: broadcast state {state} written outside a broadcast batch", None, panic=True
                )
            return (state, None)
        if key >= len(self.keys):
            raise Failure(f"state {state}: key {key} is not in the batch's key table", None, panic=True)
        return (state, self.keys[key])

    def value_get(self, state, key):  # pragma: no cover - the SDK keeps value state in the batch
        raise Failure("value state goes through the batch", None)

    def list_get(self, state: int, key: int) -> bytes:
        return join_length_prefixed(self.lists.get(self._at(state, key), []))

    def list_add(self, state: int, key: int, element: bytes) -> None:
        self.lists.setdefault(self._at(state, key, True), []).append(bytes(element))

    def list_update(self, state: int, key: int, elements: bytes) -> None:
        values = split_length_prefixed(elements)
        at = self._at(state, key, True)
        if values:
            self.lists[at] = values
        else:
            self.lists.pop(at, None)

    def map_get(self, state: int, key: int, map_key: bytes) -> Optional[bytes]:
        return self.maps.get(self._at(state, key), {}).get(bytes(map_key))

    def map_put(self, state: int, key: int, map_key: bytes, value: bytes) -> None:
        self.maps.setdefault(self._at(state, key, True), {})[bytes(map_key)] = bytes(value)

    def map_remove(self, state: int, key: int, map_key: bytes) -> None:
        at = self._at(state, key, True)
        entries = self.maps.get(at, {})
        entries.pop(bytes(map_key), None)
        if not entries:
            self.maps.pop(at, None)

    def map_entries(self, state: int, key: int) -> bytes:
        return join_length_prefixed_pairs(sorted(self.maps.get(self._at(state, key), {}).items()))

    def clear(self, state: int, key: int) -> None:
        at = self._at(state, key, True)
        self.lists.pop(at, None)
        self.maps.pop(at, None)


# -- keyed kinds ------------------------------------------------------------------


class KeyedHarness:
    """A keyed-process, co-process, broadcast-process (or window-process,
    through :class:`WindowHarness`) function with in-memory state, timers and
    a watermark, fed batch by batch as the host feeds it.

    Records are ``(key, timestamp, value)``: key as bytes or str, value as
    bytes, str, or anything JSON-encodable.
    """

    def __init__(self, cls, config: str = "", subtask: Tuple[int, int] = (0, 1)) -> None:
        self.state = MemoryState()
        self.runtime = Runtime(cls, self.state)
        if self.runtime.world != KEYED:
            raise TypeError(f"{cls.__name__} is a {self.runtime.kind} function; KeyedHarness runs keyed kinds")
        self.runtime.init(config, subtask)
        self.value_states: Dict[Tuple[int, bytes], bytes] = {}
        self.timers = set()  # (timestamp, key, domain)
        self.watermark = NO_TIMESTAMP
        self.processing_time = 0
        self.value_indices = [i for i, spec in enumerate(self.runtime.states) if spec.kind == VALUE]
        self.inputs = 2 if self.runtime.kind in ("co-process", "broadcast-process") else 1

    # -- inspection ---------------------------------------------------------
    def value_state(self, name: str, key: Any) -> Any:
        """The stored value of value state ``name`` for ``key`` (decoded JSON), or None."""
        index = self._state_index(name)
        raw = self.value_states.get((index, _key(key)))
        return None if raw is None else json.loads(raw)

    def raw_value_state(self, name: str, key: Any) -> Optional[bytes]:
        return self.value_states.get((self._state_index(name), _key(key)))

    def set_raw_value_state(self, name: str, key: Any, value: Optional[bytes]) -> None:
        """Store bytes as a host would have them (e.g. written by a Rust function)."""
        at = (self._state_index(name), _key(key))
        if value is None:
            self.value_states.pop(at, None)
        else:
            self.value_states[at] = bytes(value)

    def list_state(self, name: str, key: Any) -> List[Any]:
        return [json.loads(v) for v in self.state.lists.get((self._state_index(name), _key(key)), [])]

    def map_state(self, name: str, key: Any = None) -> Dict[bytes, bytes]:
        """Raw entries (JSON key bytes -> JSON value bytes); ``key`` None for broadcast state."""
        at = (self._state_index(name), None if key is None else _key(key))
        return dict(self.state.maps.get(at, {}))

    def _state_index(self, name: str) -> int:
        for index, spec in enumerate(self.runtime.states):
            if spec.name == name:
                return index
        raise KeyError(f"no state `{name}`; the function's states are {[s.name for s in self.runtime.states]}")

    def migrate_state(self, state: str, from_version: int, value: bytes) -> bytes:
        return self.runtime.migrate_state(state, from_version, value)

    # -- time ---------------------------------------------------------------
    def set_processing_time(self, processing_time: int) -> None:
        self.processing_time = processing_time

    def advance_watermark(self, watermark: int) -> List[Output]:
        """Advance the watermark and fire every event-time timer at or before
        it, in timestamp order (timers set while firing fire too if due)."""
        self.watermark = max(self.watermark, watermark)
        return self._fire(DOMAIN_EVENT_TIME, self.watermark)

    def advance_processing_time(self, processing_time: int) -> List[Output]:
        """Set processing time and fire the processing-time timers due by then."""
        self.processing_time = max(self.processing_time, processing_time)
        return self._fire(DOMAIN_PROCESSING_TIME, self.processing_time)

    def _fire(self, domain: int, until: int) -> List[Output]:
        outputs = []
        while True:
            due = sorted(t for t in self.timers if t[2] == domain and t[0] <= until)
            if not due:
                return outputs
            for timer in due:
                self.timers.discard(timer)
            outputs += self.run_batch([(key, ("timer", timestamp, domain)) for timestamp, key, domain in due])

    # -- input --------------------------------------------------------------
    def process(self, records: Sequence[Tuple[Any, int, Any]], input: str = FIRST) -> List[Output]:
        """Run records of one input (``"first"``, ``"second"``) as one batch."""
        tag = {FIRST: "record", SECOND: "second"}[input]
        return self.run_batch([(_key(key), (tag, ts, _bytes(value))) for key, ts, value in records])

    def process_inputs(self, records: Sequence[Tuple[str, Any, int, Any]]) -> List[Output]:
        """Run ``(input, key, ts, value)`` records: each run of keyed records
        as one batch, broadcast records in batches of their own."""
        outputs: List[Output] = []
        run: list = []
        for record in records:
            if run and (run[-1][0] == BROADCAST) != (record[0] == BROADCAST):
                outputs += self._run_inputs(run)
                run = []
            run.append(record)
        if run:
            outputs += self._run_inputs(run)
        return outputs

    def _run_inputs(self, run) -> List[Output]:
        if run[0][0] == BROADCAST:
            return self.broadcast([(ts, value) for _, _, ts, value in run])
        tags = {FIRST: "record", SECOND: "second"}
        return self.run_batch([(_key(key), (tags[input], ts, _bytes(value))) for input, key, ts, value in run])

    def process_second(self, records) -> List[Output]:
        return self.process(records, SECOND)

    def broadcast(self, records: Sequence[Tuple[int, Any]]) -> List[Output]:
        """Run broadcast records ``(timestamp, value)`` as one batch of their own."""
        return self.run_batch([(None, ("broadcast", ts, _bytes(value))) for ts, value in records])

    def run_with_watermarks(
        self, records: Sequence[Tuple[Any, int, Any]], batch_size: int, out_of_orderness: int
    ) -> List[Output]:
        """Process records like a bounded source with a bounded-out-of-orderness
        watermark: in batches of ``batch_size``, the watermark after each batch
        at ``max timestamp - out_of_orderness - 1`` (for two inputs, the
        smaller of the two, and none until both have a record), and
        ``2**63 - 1`` at the end. Records are ``(key, ts, value)``, or
        ``(input, key, ts, value)`` for two inputs (see :func:`tag`)."""
        return _run_bounded(self, records, batch_size, out_of_orderness)

    def run_batch(self, events) -> List[Output]:
        """Build one batch of ``(key, event)`` pairs, run it and apply its state
        and timer changes. Events: ``("record"|"second", ts, value)``,
        ``("broadcast", ts, value)`` (key None), ``("timer", ts, domain)``,
        ``("window", start, end, [(ts, value)])``."""
        broadcast = sum(1 for _, event in events if event[0] == "broadcast")
        if broadcast and broadcast != len(events):
            raise ValueError("broadcast records come in batches of their own")
        keys: List[bytes] = []
        refs: Dict[bytes, int] = {}
        key_refs = []
        for key, _ in events:
            if broadcast:
                key_refs.append(NO_KEY)
                continue
            if key not in refs:
                refs[key] = len(keys)
                keys.append(key)
            key_refs.append(refs[key])
        batch = BatchBuilder(self.watermark, self.processing_time)
        for key in keys:
            batch.key(key, [self.value_states.get((state, key)) for state in self.value_indices])
        timestamps = []
        for (_, event), key_ref in zip(events, key_refs):
            kind = event[0]
            if kind == "record":
                batch.record(key_ref, event[1], event[2])
                timestamps.append(event[1])
            elif kind == "second":
                batch.second_record(key_ref, event[1], event[2])
                timestamps.append(event[1])
            elif kind == "broadcast":
                batch.broadcast_record(event[1], event[2])
                timestamps.append(event[1])
            elif kind == "timer":
                batch.timer(key_ref, event[1], event[2])
                timestamps.append(event[1])
            elif kind == "window":
                _, start, end, elements, timestamp = event
                batch.window(key_ref, start, end, elements)
                timestamps.append(timestamp)
            else:
                raise ValueError(f"unknown event {event!r}")
        self.state.begin_batch(keys, bool(broadcast))
        output = self.runtime.process_batch(batch.build())

        def key_of(key_ref):
            if key_ref >= len(keys):
                raise Failure(
                    f"an output entry refers to key {key_ref}, but the batch's key table has {len(keys)} keys "
                    "(broadcast batches have none, so no timers or value state)",
                    None,
                )
            return keys[key_ref]

        outputs = []
        for entry in decode_output(output):
            kind = entry[0]
            if kind == "emit":
                outputs.append(Output(entry[2], timestamps[entry[1]]))
            elif kind == "emit-side":
                outputs.append(Output(entry[3], timestamps[entry[2]], self.runtime.side_outputs[entry[1]]))
            elif kind == "forward":
                raise Failure(f"keyed process functions cannot forward (event {entry[1]})", None)
            elif kind == "set-timer":
                self.timers.add((entry[3], key_of(entry[1]), entry[2]))
            elif kind == "delete-timer":
                self.timers.discard((entry[3], key_of(entry[1]), entry[2]))
            elif kind == "set-value":
                self.value_states[(entry[1], key_of(entry[2]))] = entry[3]
            elif kind == "clear-value":
                self.value_states.pop((entry[1], key_of(entry[2])), None)
        return outputs


def _normalise(record) -> Tuple[str, Any, int, Any]:
    """``(key, ts, value)`` of the first input, or ``(input, key, ts, value)``."""
    if len(record) == 4:
        return tuple(record)
    key, ts, value = record
    return (FIRST, key, ts, value)


def _run_bounded(operator, records, batch_size: int, out_of_orderness: int) -> List[Output]:
    records = [_normalise(record) for record in records]
    two_inputs = getattr(operator, "inputs", 1) == 2
    max_timestamps = {FIRST: NO_TIMESTAMP, SECOND: NO_TIMESTAMP} if two_inputs else {FIRST: NO_TIMESTAMP}
    outputs: List[Output] = []
    size = max(1, batch_size)
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        outputs += operator.process_inputs(batch)
        for input, _, ts, _ in batch:
            slot = FIRST if input == FIRST else SECOND
            if slot not in max_timestamps:
                raise ValueError(f"a record of input {input!r}, but the function has one input")
            max_timestamps[slot] = max(max_timestamps[slot], ts)
        watermark = min(
            NO_TIMESTAMP if m == NO_TIMESTAMP else max(NO_TIMESTAMP, m - out_of_orderness - 1)
            for m in max_timestamps.values()
        )
        outputs += operator.advance_watermark(watermark)
    outputs += operator.advance_watermark(MAX_TIMESTAMP)
    return outputs


def tag(input: str, records: Sequence[Tuple[Any, int, Any]]) -> List[Tuple[str, Any, int, Any]]:
    """Mark ``(key, ts, value)`` records as records of ``input`` (``"first"``,
    ``"second"`` or ``"broadcast"``) for :meth:`KeyedHarness.run_with_watermarks`."""
    return [(input, key, ts, value) for key, ts, value in records]


def interleavings(first, second) -> List[Tuple[str, list]]:
    """Ways two inputs' tagged records can arrive, each input in its own
    order: all of ``first`` then ``second``, the reverse, one of each in
    turn, and merged by timestamp. A result that must not depend on the
    interleaving is checked against each."""
    alternating = []
    for index in range(max(len(first), len(second))):
        alternating += first[index : index + 1] + second[index : index + 1]
    merged = sorted(list(first) + list(second), key=lambda record: record[2])
    return [
        ("first then second", list(first) + list(second)),
        ("second then first", list(second) + list(first)),
        ("alternating", alternating),
        ("by timestamp", merged),
    ]


# -- windows ----------------------------------------------------------------------


class Tumbling:
    """``{ type = "tumbling", size }``: ``[start, start + size)``, starts multiples of ``size``."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("window size must be positive")
        self.size = size

    def assign(self, ts: int):
        start = ts - ts % self.size
        return [(start, start + self.size)]


class Sliding:
    """``{ type = "sliding", size, slide }``: every window of length ``size``
    starting at a multiple of ``slide`` that contains the record."""

    def __init__(self, size: int, slide: int) -> None:
        if size <= 0 or slide <= 0:
            raise ValueError("window size and slide must be positive")
        self.size, self.slide = size, slide

    def assign(self, ts: int):
        last = ts - ts % self.slide
        windows = []
        start = last
        while start > ts - self.size:
            windows.append((start, start + self.size))
            start -= self.slide
        return list(reversed(windows))


class Session:
    """``{ type = "session", gap }``: ``[ts, ts + gap)`` per record, merged with
    the windows of the key it overlaps or touches."""

    def __init__(self, gap: int) -> None:
        if gap <= 0:
            raise ValueError("session gap must be positive")
        self.gap = gap


class Count:
    """``{ type = "count", size }``: fires (and is purged) at every ``size``-th
    record of a key, with that record's timestamp."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("count window size must be positive")
        self.size = size


class WindowHarness:
    """A window-process or aggregate function behind a window assigner, as the
    host runs it: records are assigned to windows per key, and a window fires
    when the watermark reaches ``end - 1`` (count windows at their last record).
    Records for windows already fired are reported on side output ``"late"``."""

    def __init__(self, cls, windows, config: str = "") -> None:
        self.windows = windows
        self.is_aggregate = issubclass(cls, Aggregate)
        if not (self.is_aggregate or issubclass(cls, ProcessWindow)):
            raise TypeError(f"{cls.__name__} is a {cls.kind} function; WindowHarness runs window-process and aggregate")
        if self.is_aggregate:
            self.runtime = Runtime(cls)
            self.runtime.init(config, (0, 1))
            self.keyed = None
        else:
            self.keyed = KeyedHarness(cls, config)
            self.runtime = self.keyed.runtime
        self.watermark = NO_TIMESTAMP
        # key -> list of panes [start, end, count, contents, last_ts]
        self.panes: Dict[bytes, List[list]] = {}

    def _empty(self):
        return self.runtime.create_accumulator() if self.is_aggregate else []

    def _add(self, contents, ts: int, value: bytes):
        if self.is_aggregate:
            return split_length_prefixed(self.runtime.add_batch(encode_groups([(contents, [(ts, value)])])))[0]
        return contents + [(ts, value)]

    def _merge(self, a, b):
        return self.runtime.merge(a, b) if self.is_aggregate else a + b

    def process_inputs(self, records) -> List[Output]:
        return self.process([(key, ts, value) for _, key, ts, value in records])

    def process(self, records: Sequence[Tuple[Any, int, Any]]) -> List[Output]:
        outputs: List[Output] = []
        for key, ts, value in records:
            outputs += self._add_record(_key(key), ts, _bytes(value))
        return outputs

    def _late(self, end: int) -> bool:
        return end != MAX_TIMESTAMP and end - 1 <= self.watermark

    def _add_record(self, key: bytes, ts: int, value: bytes) -> List[Output]:
        panes = self.panes.setdefault(key, [])
        windows = self.windows
        if isinstance(windows, Count):
            pane = panes[0] if panes else None
            if pane is None:
                pane = [NO_TIMESTAMP, MAX_TIMESTAMP, 0, self._empty(), ts]
                panes.append(pane)
            pane[2] += 1
            pane[3] = self._add(pane[3], ts, value)
            pane[4] = ts
            if pane[2] >= windows.size:
                panes.remove(pane)
                return self._fire([(key, pane)])
            return []
        if isinstance(windows, Session):
            start, end = ts, ts + windows.gap
            overlapping = [p for p in panes if p[0] <= end and p[1] >= start]
            for p in overlapping:
                start, end = min(start, p[0]), max(end, p[1])
            if self._late(end):
                return [Output(value, ts, "late")]
            merged = [start, end, 0, self._empty(), ts]
            for p in overlapping:
                panes.remove(p)
                merged[2] += p[2]
                merged[3] = self._merge(merged[3], p[3])
            merged[2] += 1
            merged[3] = self._add(merged[3], ts, value)
            panes.append(merged)
            return []
        outputs = []
        for start, end in windows.assign(ts):
            if self._late(end):
                outputs.append(Output(value, ts, "late"))
                continue
            pane = next((p for p in panes if p[0] == start and p[1] == end), None)
            if pane is None:
                pane = [start, end, 0, self._empty(), ts]
                panes.append(pane)
            pane[2] += 1
            pane[3] = self._add(pane[3], ts, value)
        return outputs

    def advance_watermark(self, watermark: int) -> List[Output]:
        """Advance the watermark; fire every window with ``end - 1`` at or before it."""
        self.watermark = max(self.watermark, watermark)
        fired = []
        for key, panes in self.panes.items():
            for pane in list(panes):
                if pane[1] != MAX_TIMESTAMP and pane[1] - 1 <= self.watermark:
                    panes.remove(pane)
                    fired.append((key, pane))
        fired.sort(key=lambda item: (item[1][1], item[1][0]))
        return self._fire(fired) if fired else []

    def _fire(self, fired) -> List[Output]:
        def timestamp(pane):
            return pane[4] if pane[1] == MAX_TIMESTAMP else pane[1] - 1

        if self.is_aggregate:
            results = split_length_prefixed(
                self.runtime.get_results(encode_fired_windows([(key, p[0], p[1], p[3]) for key, p in fired]))
            )
            return [Output(result, timestamp(p)) for result, (_, p) in zip(results, fired)]
        self.keyed.watermark = self.watermark
        return self.keyed.run_batch(
            [(key, ("window", p[0], p[1], p[3], timestamp(p))) for key, p in fired]
        )

    def run_with_watermarks(self, records, batch_size: int, out_of_orderness: int) -> List[Output]:
        """As :meth:`KeyedHarness.run_with_watermarks`."""
        return _run_bounded(self, records, batch_size, out_of_orderness)
