"""The flat batch layout of ``wit/README.md``, decoded and encoded in Python.

Constants mirror ``layout/src/lib.rs``. All integers are little-endian;
``bytes`` fields are a ``u32`` length followed by that many bytes.
"""

from __future__ import annotations

import struct
from typing import Iterator, List, Optional, Sequence, Tuple

LAYOUT_VERSION = 1
NO_KEY = 0xFFFF_FFFF
ABSENT = 0xFFFF_FFFF
NO_TIMESTAMP = -(2**63)
MAX_TIMESTAMP = 2**63 - 1

EVENT_RECORD = 0
EVENT_TIMER = 1
EVENT_RECORD_SECOND = 2
EVENT_WINDOW = 3
EVENT_RECORD_BROADCAST = 4

OUT_EMIT = 0
OUT_FORWARD = 1
OUT_EMIT_SIDE = 2
OUT_SET_TIMER = 3
OUT_DELETE_TIMER = 4
OUT_SET_VALUE = 5
OUT_CLEAR_VALUE = 6

DOMAIN_EVENT_TIME = 0
DOMAIN_PROCESSING_TIME = 1

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_HEADER = struct.Struct("<Bqq")
_REF_TS = struct.Struct("<Iq")  # key ref, timestamp
_REF_TS_LEN = struct.Struct("<IqI")  # key ref, timestamp, value length
_TIMER = struct.Struct("<IqB")
_WINDOW = struct.Struct("<IqqI")
_TS_LEN = struct.Struct("<qI")
_TAG_U32_U32 = struct.Struct("<BII")
_TAG_U32 = struct.Struct("<BI")
_TAG_U32_U32_U32 = struct.Struct("<BIII")
_TAG_TIMER = struct.Struct("<BIBq")

_EVENT_NAMES = {
    EVENT_RECORD: "a record",
    EVENT_TIMER: "a timer",
    EVENT_RECORD_SECOND: "a record of the second input",
    EVENT_WINDOW: "a window",
    EVENT_RECORD_BROADCAST: "a broadcast record",
}


class LayoutError(ValueError):
    """A buffer that does not follow the layout."""


class Event:
    """One event of an input batch.

    ``tag`` is one of the ``EVENT_*`` constants. Records (tags 0, 2, 4) have
    ``value``; timers have ``domain``; windows have ``start``, ``end`` and
    ``elements`` (a list of ``(timestamp, bytes)``); ``timestamp`` is the
    record's, the timer's firing time, or ``end - 1`` for a window.
    """

    __slots__ = ("tag", "key_ref", "timestamp", "value", "domain", "start", "end", "elements")

    def __init__(self, tag, key_ref, timestamp, value=None, domain=None, start=None, end=None, elements=None):
        self.tag = tag
        self.key_ref = key_ref
        self.timestamp = timestamp
        self.value = value
        self.domain = domain
        self.start = start
        self.end = end
        self.elements = elements

    def describe(self) -> str:
        return _EVENT_NAMES.get(self.tag, f"an event of tag {self.tag}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if getattr(self, name) is not None)
        return f"Event({fields})"


class Batch:
    """A decoded input batch: header, key table (with value-state slots) and events."""

    __slots__ = ("watermark", "processing_time", "keys", "slots", "events")

    def __init__(self, watermark, processing_time, keys, slots, events):
        self.watermark = watermark
        self.processing_time = processing_time
        #: key bytes by key ref
        self.keys: List[bytes] = keys
        #: per key, the bytes (or None) of each value state, in slot order
        self.slots: List[List[Optional[bytes]]] = slots
        self.events: List[Event] = events


def _need(buf, pos: int, n: int, what: str) -> None:
    if pos + n > len(buf):
        raise LayoutError(f"batch ends inside {what} (at byte {pos}, needs {n} more, has {len(buf) - pos})")


def _read_bytes(buf, pos: int, what: str) -> Tuple[bytes, int]:
    _need(buf, pos, 4, what + " length")
    (n,) = _U32.unpack_from(buf, pos)
    pos += 4
    _need(buf, pos, n, what)
    return bytes(buf[pos : pos + n]), pos + n


def decode_batch(batch: bytes, value_states: int) -> Batch:
    """Decode an input batch whose key entries carry ``value_states`` slots."""
    buf = batch
    _need(buf, 0, _HEADER.size, "the header")
    version, watermark, processing_time = _HEADER.unpack_from(buf, 0)
    if version != LAYOUT_VERSION:
        raise LayoutError(f"batch layout version {version}, this SDK reads version {LAYOUT_VERSION}")
    pos = _HEADER.size
    _need(buf, pos, 4, "the key count")
    (key_count,) = _U32.unpack_from(buf, pos)
    pos += 4
    keys: List[bytes] = []
    slots: List[List[Optional[bytes]]] = []
    for _ in range(key_count):
        key, pos = _read_bytes(buf, pos, "a key")
        row: List[Optional[bytes]] = []
        for _ in range(value_states):
            _need(buf, pos, 4, "a value-state slot")
            (n,) = _U32.unpack_from(buf, pos)
            pos += 4
            if n == ABSENT:
                row.append(None)
            else:
                _need(buf, pos, n, "a value-state value")
                row.append(bytes(buf[pos : pos + n]))
                pos += n
        keys.append(key)
        slots.append(row)
    _need(buf, pos, 4, "the event count")
    (event_count,) = _U32.unpack_from(buf, pos)
    pos += 4
    events: List[Event] = []
    append = events.append
    unpack_record = _REF_TS_LEN.unpack_from
    size = len(buf)
    index = 0
    try:
        for index in range(event_count):
            tag = buf[pos]
            pos += 1
            if tag == EVENT_RECORD or tag == EVENT_RECORD_SECOND or tag == EVENT_RECORD_BROADCAST:
                key_ref, timestamp, n = unpack_record(buf, pos)
                pos += 16
                end = pos + n
                if end > size:
                    raise LayoutError(f"batch ends inside event {index}'s value")
                append(Event(tag, key_ref, timestamp, bytes(buf[pos:end])))
                pos = end
            elif tag == EVENT_TIMER:
                key_ref, timestamp, domain = _TIMER.unpack_from(buf, pos)
                pos += _TIMER.size
                if domain not in (DOMAIN_EVENT_TIME, DOMAIN_PROCESSING_TIME):
                    raise LayoutError(f"event {index} is a timer of unknown time domain {domain}")
                append(Event(tag, key_ref, timestamp, None, domain))
            elif tag == EVENT_WINDOW:
                key_ref, start, end, m = _WINDOW.unpack_from(buf, pos)
                pos += _WINDOW.size
                elements = []
                for _ in range(m):
                    ts, n = _TS_LEN.unpack_from(buf, pos)
                    pos += _TS_LEN.size
                    if pos + n > size:
                        raise LayoutError(f"batch ends inside an element of window event {index}")
                    elements.append((ts, bytes(buf[pos : pos + n])))
                    pos += n
                window_ts = end - 1 if end != NO_TIMESTAMP else end
                append(Event(tag, key_ref, window_ts, None, None, start, end, elements))
            else:
                raise LayoutError(f"event {index} has unknown tag {tag}")
    except (struct.error, IndexError):
        raise LayoutError(f"batch ends inside event {index} (at byte {pos} of {size})") from None
    if pos != len(buf):
        raise LayoutError(f"batch has {len(buf) - pos} bytes after its last event")
    return Batch(watermark, processing_time, keys, slots, events)


def iter_records(batch: bytes) -> Iterator[Tuple[int, bytes]]:
    """Fast path of stateless worlds: ``(event index, value)`` of each record
    of a batch with an empty key table; anything but a record is an error."""
    buf = batch
    if len(buf) < _HEADER.size + 8:
        raise LayoutError("batch is shorter than its header")
    if buf[0] != LAYOUT_VERSION:
        raise LayoutError(f"batch layout version {buf[0]}, this SDK reads version {LAYOUT_VERSION}")
    pos = _HEADER.size
    (key_count,) = _U32.unpack_from(buf, pos)
    if key_count != 0:
        raise LayoutError(f"a stateless function got {key_count} keys")
    (event_count,) = _U32.unpack_from(buf, pos + 4)
    pos += 8
    unpack = _REF_TS_LEN.unpack_from
    total = len(buf)
    for index in range(event_count):
        if pos >= total:
            raise LayoutError(f"batch ends before event {index}")
        tag = buf[pos]
        if tag != EVENT_RECORD:
            raise LayoutError(
                f"event {index} is {_EVENT_NAMES.get(tag, f'an event of tag {tag}')}, "
                "but stateless functions take records only"
            )
        if pos + 17 > total:
            raise LayoutError(f"batch ends inside event {index} (at byte {pos} of {total})")
        n = unpack(buf, pos + 1)[2]
        pos += 17
        end = pos + n
        if end > total:
            raise LayoutError(f"batch ends inside event {index}'s value")
        yield index, buf[pos:end]
        pos = end
    if pos != total:
        raise LayoutError(f"batch has {total - pos} bytes after its last event")


class OutputWriter:
    """Builds the output buffer of ``process-batch`` (table in ``wit/README.md``)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def emit(self, event: int, value: bytes) -> None:
        self.buf += _TAG_U32_U32.pack(OUT_EMIT, event, len(value))
        self.buf += value

    def forward(self, event: int) -> None:
        self.buf += _TAG_U32.pack(OUT_FORWARD, event)

    def emit_side(self, side_output: int, event: int, value: bytes) -> None:
        self.buf += _TAG_U32_U32_U32.pack(OUT_EMIT_SIDE, side_output, event, len(value))
        self.buf += value

    def set_timer(self, key_ref: int, domain: int, timestamp: int) -> None:
        self.buf += _TAG_TIMER.pack(OUT_SET_TIMER, key_ref, domain, timestamp)

    def delete_timer(self, key_ref: int, domain: int, timestamp: int) -> None:
        self.buf += _TAG_TIMER.pack(OUT_DELETE_TIMER, key_ref, domain, timestamp)

    def set_value_state(self, state: int, key_ref: int, value: bytes) -> None:
        self.buf += _TAG_U32_U32_U32.pack(OUT_SET_VALUE, state, key_ref, len(value))
        self.buf += value

    def clear_value_state(self, state: int, key_ref: int) -> None:
        self.buf += _TAG_U32_U32.pack(OUT_CLEAR_VALUE, state, key_ref)

    def getvalue(self) -> bytes:
        return bytes(self.buf)


def put_bytes(out: bytearray, value: bytes) -> None:
    out += _U32.pack(len(value))
    out += value


def join_length_prefixed(values: Sequence[bytes]) -> bytes:
    out = bytearray()
    for value in values:
        put_bytes(out, value)
    return bytes(out)


def split_length_prefixed(buf: bytes) -> List[bytes]:
    """``[u32 len][bytes]...`` (list state, aggregate results) into its parts."""
    out = []
    pos = 0
    while pos < len(buf):
        value, pos = _read_bytes(buf, pos, "a length-prefixed value")
        out.append(value)
    return out


def split_length_prefixed_pairs(buf: bytes) -> List[Tuple[bytes, bytes]]:
    """``[u32 klen][key][u32 vlen][value]...`` (map entries) into pairs."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_bytes(buf, pos, "a map key")
        value, pos = _read_bytes(buf, pos, "a map value")
        out.append((key, value))
    return out


def join_length_prefixed_pairs(pairs: Sequence[Tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    for key, value in pairs:
        put_bytes(out, key)
        put_bytes(out, value)
    return bytes(out)


def decode_groups(buf: bytes) -> List[Tuple[bytes, List[Tuple[int, bytes]]]]:
    """The argument of ``add-batch``: ``(accumulator, [(timestamp, value)])`` per group."""
    _need(buf, 0, 4, "the group count")
    (count,) = _U32.unpack_from(buf, 0)
    pos = 4
    groups = []
    for _ in range(count):
        acc, pos = _read_bytes(buf, pos, "an accumulator")
        _need(buf, pos, 4, "a group's value count")
        (m,) = _U32.unpack_from(buf, pos)
        pos += 4
        values = []
        for _ in range(m):
            _need(buf, pos, 8, "a value's timestamp")
            (ts,) = _I64.unpack_from(buf, pos)
            value, pos = _read_bytes(buf, pos + 8, "a group value")
            values.append((ts, value))
        groups.append((acc, values))
    if pos != len(buf):
        raise LayoutError(f"groups buffer has {len(buf) - pos} bytes after its last group")
    return groups


def encode_groups(groups: Sequence[Tuple[bytes, Sequence[Tuple[int, bytes]]]]) -> bytes:
    out = bytearray(_U32.pack(len(groups)))
    for acc, values in groups:
        put_bytes(out, acc)
        out += _U32.pack(len(values))
        for ts, value in values:
            out += _I64.pack(ts)
            put_bytes(out, value)
    return bytes(out)


def decode_fired_windows(buf: bytes) -> List[Tuple[bytes, int, int, bytes]]:
    """The argument of ``get-results``: ``(key, start, end, accumulator)`` per window."""
    _need(buf, 0, 4, "the window count")
    (count,) = _U32.unpack_from(buf, 0)
    pos = 4
    windows = []
    for _ in range(count):
        key, pos = _read_bytes(buf, pos, "a window key")
        _need(buf, pos, 16, "a window's bounds")
        start, end = struct.unpack_from("<qq", buf, pos)
        acc, pos = _read_bytes(buf, pos + 16, "an accumulator")
        windows.append((key, start, end, acc))
    if pos != len(buf):
        raise LayoutError(f"windows buffer has {len(buf) - pos} bytes after its last window")
    return windows


def encode_fired_windows(windows: Sequence[Tuple[bytes, int, int, bytes]]) -> bytes:
    out = bytearray(_U32.pack(len(windows)))
    for key, start, end, acc in windows:
        put_bytes(out, key)
        out += struct.pack("<qq", start, end)
        put_bytes(out, acc)
    return bytes(out)


class BatchBuilder:
    """Builds input batches as the host does (for the test harness and tests)."""

    def __init__(self, watermark: int = NO_TIMESTAMP, processing_time: int = 0) -> None:
        self.header = _HEADER.pack(LAYOUT_VERSION, watermark, processing_time)
        self.keys = bytearray()
        self.key_count = 0
        self.events = bytearray()
        self.event_count = 0

    def key(self, key: bytes, slots: Sequence[Optional[bytes]] = ()) -> "BatchBuilder":
        put_bytes(self.keys, key)
        for slot in slots:
            if slot is None:
                self.keys += _U32.pack(ABSENT)
            else:
                put_bytes(self.keys, slot)
        self.key_count += 1
        return self

    def _record(self, tag: int, key_ref: int, timestamp: int, value: bytes) -> "BatchBuilder":
        self.events.append(tag)
        self.events += _REF_TS_LEN.pack(key_ref, timestamp, len(value))
        self.events += value
        self.event_count += 1
        return self

    def record(self, key_ref: int, timestamp: int, value: bytes) -> "BatchBuilder":
        return self._record(EVENT_RECORD, key_ref, timestamp, value)

    def second_record(self, key_ref: int, timestamp: int, value: bytes) -> "BatchBuilder":
        return self._record(EVENT_RECORD_SECOND, key_ref, timestamp, value)

    def broadcast_record(self, timestamp: int, value: bytes) -> "BatchBuilder":
        return self._record(EVENT_RECORD_BROADCAST, NO_KEY, timestamp, value)

    def timer(self, key_ref: int, timestamp: int, domain: int) -> "BatchBuilder":
        self.events.append(EVENT_TIMER)
        self.events += _TIMER.pack(key_ref, timestamp, domain)
        self.event_count += 1
        return self

    def window(self, key_ref: int, start: int, end: int, elements: Sequence[Tuple[int, bytes]]) -> "BatchBuilder":
        self.events.append(EVENT_WINDOW)
        self.events += _WINDOW.pack(key_ref, start, end, len(elements))
        for ts, value in elements:
            self.events += _I64.pack(ts)
            put_bytes(self.events, value)
        self.event_count += 1
        return self

    def build(self) -> bytes:
        return (
            self.header
            + _U32.pack(self.key_count)
            + bytes(self.keys)
            + _U32.pack(self.event_count)
            + bytes(self.events)
        )


def decode_output(buf: bytes) -> List[tuple]:
    """The entries of an output buffer as tuples whose first item names the
    entry: ``("emit", event, value)``, ``("forward", event)``,
    ``("emit-side", side_output, event, value)``, ``("set-timer", key_ref,
    domain, timestamp)``, ``("delete-timer", ...)``, ``("set-value", state,
    key_ref, value)``, ``("clear-value", state, key_ref)``."""
    out = []
    pos = 0
    while pos < len(buf):
        tag = buf[pos]
        pos += 1
        if tag == OUT_EMIT:
            _need(buf, pos, 4, "an emit entry")
            (event,) = _U32.unpack_from(buf, pos)
            value, pos = _read_bytes(buf, pos + 4, "an emitted value")
            out.append(("emit", event, value))
        elif tag == OUT_FORWARD:
            _need(buf, pos, 4, "a forward entry")
            (event,) = _U32.unpack_from(buf, pos)
            pos += 4
            out.append(("forward", event))
        elif tag == OUT_EMIT_SIDE:
            _need(buf, pos, 8, "a side-output entry")
            side, event = struct.unpack_from("<II", buf, pos)
            value, pos = _read_bytes(buf, pos + 8, "an emitted value")
            out.append(("emit-side", side, event, value))
        elif tag in (OUT_SET_TIMER, OUT_DELETE_TIMER):
            _need(buf, pos, 13, "a timer entry")
            key_ref, domain, ts = struct.unpack_from("<IBq", buf, pos)
            pos += 13
            out.append(("set-timer" if tag == OUT_SET_TIMER else "delete-timer", key_ref, domain, ts))
        elif tag == OUT_SET_VALUE:
            _need(buf, pos, 8, "a set-value entry")
            state, key_ref = struct.unpack_from("<II", buf, pos)
            value, pos = _read_bytes(buf, pos + 8, "a state value")
            out.append(("set-value", state, key_ref, value))
        elif tag == OUT_CLEAR_VALUE:
            _need(buf, pos, 8, "a clear-value entry")
            state, key_ref = struct.unpack_from("<II", buf, pos)
            pos += 8
            out.append(("clear-value", state, key_ref))
        else:
            raise LayoutError(f"output entry of unknown tag {tag} at byte {pos - 1}")
    return out
