"""What a function sees while it processes one event, and where output goes."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from .layout import DOMAIN_EVENT_TIME, DOMAIN_PROCESSING_TIME, NO_TIMESTAMP

EVENT_TIME = DOMAIN_EVENT_TIME
PROCESSING_TIME = DOMAIN_PROCESSING_TIME


class Window:
    """A fired window ``[start, end)`` of key ``key`` (bytes).
    Count windows have start ``-2**63`` and end ``2**63 - 1``."""

    __slots__ = ("key", "start", "end")

    def __init__(self, key: bytes, start: int, end: int) -> None:
        self.key = key
        self.start = start
        self.end = end

    @property
    def key_str(self) -> str:
        return key_text(self.key)

    def max_timestamp(self) -> int:
        return self.end - 1

    def __repr__(self) -> str:
        return f"Window(key={self.key!r}, start={self.start}, end={self.end})"


def key_text(key: bytes) -> str:
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError as error:
        from .errors import FunctionError

        raise FunctionError(f"the current key is not UTF-8 text: {error}") from None


class Collector:
    """Receives what a flat-map emits (Flink's ``Collector``)."""

    __slots__ = ("_output", "_codec", "event")

    def __init__(self, output, codec) -> None:
        self._output = output
        self._codec = codec
        self.event = 0

    def emit(self, value: Any) -> None:
        """Send one record downstream; it takes the input record's timestamp."""
        self._output.emit(self.event, self._codec.encode(value))

    collect = emit


class Context:
    """The event being processed by a keyed function: its key and time,
    output, and timers (Flink's ``Context`` and ``TimerService`` in one)."""

    __slots__ = ("_output", "_codec", "event", "key_ref", "key", "_timestamp", "watermark", "processing_time")

    def __init__(self, output, codec, watermark: int, processing_time: int) -> None:
        self._output = output
        self._codec = codec
        self.event = 0
        self.key_ref = 0
        self.key = b""
        self._timestamp = NO_TIMESTAMP
        self.watermark = watermark
        self.processing_time = processing_time

    @property
    def key_str(self) -> str:
        """The current key as text (an error if it is not UTF-8)."""
        return key_text(self.key)

    @property
    def timestamp(self) -> Optional[int]:
        """Event time of the current record, the firing time of the current
        timer, or ``None``."""
        return None if self._timestamp == NO_TIMESTAMP else self._timestamp

    def current_watermark(self) -> int:
        """The operator's watermark; ``-2**63`` before the first one."""
        return self.watermark

    def current_processing_time(self) -> int:
        """The host's processing time when the batch was built (epoch ms)."""
        return self.processing_time

    def emit(self, value: Any) -> None:
        """Send one record to the main output; it takes the event's timestamp."""
        self._output.emit(self.event, self._codec.encode(value))

    collect = emit

    def emit_to(self, side_output, value: Any) -> None:
        """Send one record to a side output declared in ``open``."""
        self._output.emit_side(side_output.index, self.event, side_output.codec.encode(value))

    def register_event_time_timer(self, timestamp: int) -> None:
        """Call ``on_timer`` for the current key when the watermark passes ``timestamp``."""
        self._output.set_timer(self._timer_key(), DOMAIN_EVENT_TIME, int(timestamp))

    def register_processing_time_timer(self, timestamp: int) -> None:
        self._output.set_timer(self._timer_key(), DOMAIN_PROCESSING_TIME, int(timestamp))

    def delete_event_time_timer(self, timestamp: int) -> None:
        self._output.delete_timer(self._timer_key(), DOMAIN_EVENT_TIME, int(timestamp))

    def delete_processing_time_timer(self, timestamp: int) -> None:
        self._output.delete_timer(self._timer_key(), DOMAIN_PROCESSING_TIME, int(timestamp))

    def _timer_key(self) -> int:
        if self.key_ref is None:
            from .errors import FunctionError

            raise FunctionError("a broadcast record has no key, so it cannot set timers")
        return self.key_ref


class WindowContext(Context):
    """A fired window's context: key, time, main and side outputs; no timers."""

    __slots__ = ()

    def register_event_time_timer(self, timestamp):  # pragma: no cover - trivial
        raise AttributeError("window functions have no timers")

    register_processing_time_timer = delete_event_time_timer = delete_processing_time_timer = register_event_time_timer


class BroadcastContext(Context):
    """A broadcast record's context: time and outputs, nothing keyed."""

    __slots__ = ()
