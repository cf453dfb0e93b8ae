"""The base classes a user function subclasses, one per operator kind.

Each mirrors its Flink counterpart and the Rust SDK's trait of the same name.
The SDK creates the instance with no arguments and calls ``open(ctx)`` once
with the operator's config (keyed kinds register states and side outputs
there), then calls the per-record method. Records are decoded with
``input_codec`` and emitted values encoded with ``output_codec`` (JSON by
default: ``dict``, ``list``, ``str``, numbers...).

Raising :class:`eddy_sdk.FunctionError` fails the task with its message;
any other exception fails it too, reported with its type, message and line,
and the host names the record being processed.
"""

from __future__ import annotations

from .codec import BYTES, JSON, TEXT  # noqa: F401  (re-exported for subclasses)

TRANSFORM, KEYED, AGGREGATE = "transform", "keyed-process", "aggregate"


class Function:
    #: the job file's ``kind``
    kind = ""
    #: the WIT world the component exports
    world = ""
    input_codec = JSON
    output_codec = JSON

    def open(self, ctx) -> None:
        """Read the config (``ctx.config`` / ``ctx.config_json(default)``) and,
        in keyed kinds, register states and side outputs."""


class Map(Function):
    """One record in, one out (Flink's ``MapFunction``): implement ``map(value)``."""

    kind, world = "map", TRANSFORM

    def map(self, value):
        raise NotImplementedError("a Map implements map(self, value)")


class Filter(Function):
    """Keep a record when ``filter(value)`` is true (Flink's ``FilterFunction``).
    Kept records are forwarded as they came, never re-encoded."""

    kind, world = "filter", TRANSFORM

    def filter(self, value) -> bool:
        raise NotImplementedError("a Filter implements filter(self, value)")


class FlatMap(Function):
    """Any number of records out per record (Flink's ``FlatMapFunction``):
    implement ``flat_map(value, out)`` calling ``out.emit(x)``, or return/yield
    an iterable of outputs."""

    kind, world = "flat-map", TRANSFORM

    def flat_map(self, value, out):
        raise NotImplementedError("a FlatMap implements flat_map(self, value, out)")


class KeySelector(Function):
    """The key a record is partitioned by: ``key(value)`` returns it; its
    encoding (``output_codec``, TEXT by default: ``str`` or ``bytes``) is the key."""

    kind, world = "key-selector", TRANSFORM
    output_codec = TEXT

    def key(self, value):
        raise NotImplementedError("a KeySelector implements key(self, value)")


class KeyedProcess(Function):
    """Per-key processing with state and timers (Flink's ``KeyedProcessFunction``):
    ``process(value, ctx)`` per record, ``on_timer(timestamp, domain, ctx)``
    when a timer of the key fires (``domain`` is ``eddy_sdk.EVENT_TIME`` or
    ``eddy_sdk.PROCESSING_TIME``). ``open`` also runs once with an empty
    config when the host asks the function to describe itself, so register
    states before anything that depends on the config."""

    kind, world = "keyed-process", KEYED

    def process(self, value, ctx):
        raise NotImplementedError("a KeyedProcess implements process(self, value, ctx)")

    def on_timer(self, timestamp, domain, ctx):
        pass


class CoProcess(Function):
    """Two keyed inputs sharing state and timers (Flink's ``KeyedCoProcessFunction``):
    ``process_element1`` for the job's ``input``, ``process_element2`` for its
    ``connect`` (codec ``input2_codec``)."""

    kind, world = "co-process", KEYED
    input2_codec = JSON

    def process_element1(self, value, ctx):
        raise NotImplementedError("a CoProcess implements process_element1(self, value, ctx)")

    def process_element2(self, value, ctx):
        raise NotImplementedError("a CoProcess implements process_element2(self, value, ctx)")

    def on_timer(self, timestamp, domain, ctx):
        pass


class KeyedBroadcastProcess(Function):
    """A keyed input plus a broadcast input reaching every instance (Flink's
    ``KeyedBroadcastProcessFunction``): ``process_broadcast_element(value, ctx)``
    may change broadcast map state, ``process_element(value, ctx)`` only read it.
    Broadcast records are decoded with ``broadcast_codec``."""

    kind, world = "broadcast-process", KEYED
    broadcast_codec = JSON

    def process_element(self, value, ctx):
        raise NotImplementedError("a KeyedBroadcastProcess implements process_element(self, value, ctx)")

    def process_broadcast_element(self, value, ctx):
        raise NotImplementedError(
            "a KeyedBroadcastProcess implements process_broadcast_element(self, value, ctx)"
        )

    def on_timer(self, timestamp, domain, ctx):
        pass


class ProcessWindow(Function):
    """A full-window function (Flink's ``ProcessWindowFunction``):
    ``process(window, elements, ctx)`` gets every ``(timestamp, value)`` of a
    fired window at once; emitted records take the timestamp ``window.end - 1``.
    The job file's kind is ``window-process``."""

    kind, world = "window-process", KEYED

    def process(self, window, elements, ctx):
        raise NotImplementedError("a ProcessWindow implements process(self, window, elements, ctx)")


class Aggregate(Function):
    """Incremental window aggregation (Flink's ``AggregateFunction``).
    Accumulators are JSON values (the host stores them as state), so ``add``
    and ``merge`` return the new accumulator."""

    kind, world = "aggregate", AGGREGATE

    def create_accumulator(self):
        raise NotImplementedError("an Aggregate implements create_accumulator(self)")

    def add(self, accumulator, value):
        raise NotImplementedError("an Aggregate implements add(self, accumulator, value) -> accumulator")

    def merge(self, a, b):
        raise NotImplementedError("an Aggregate implements merge(self, a, b) -> accumulator")

    def get_result(self, accumulator, window):
        raise NotImplementedError("an Aggregate implements get_result(self, accumulator, window)")


BASES = (Map, Filter, FlatMap, KeySelector, KeyedProcess, CoProcess, KeyedBroadcastProcess, ProcessWindow, Aggregate)
KINDS = {base.kind: base for base in BASES}


def export(cls):
    """Class decorator naming the function a module exports (needed only when
    a module defines more than one function class)."""
    cls.__eddy_export__ = True
    return cls


def find_function(module):
    """The function class ``module`` exports: the one marked ``@export``, else
    the only subclass of a base class defined in the module."""
    candidates = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Function) and value not in BASES and value is not Function
    ]
    marked = [cls for cls in candidates if cls.__dict__.get("__eddy_export__")]
    if len(marked) == 1:
        return marked[0]
    if len(marked) > 1:
        raise ValueError(f"{module.__name__} marks more than one function with @export: {[c.__name__ for c in marked]}")
    own = [cls for cls in candidates if cls.__module__ == module.__name__]
    if len(own) == 1:
        return own[0]
    if not own:
        raise ValueError(
            f"{module.__name__} defines no eddy function (a subclass of eddy_sdk.Map, KeyedProcess, ...)"
        )
    raise ValueError(
        f"{module.__name__} defines several eddy functions ({', '.join(c.__name__ for c in own)}); "
        "mark the one to export with @eddy_sdk.export"
    )
