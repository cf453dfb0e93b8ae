"""The engine behind every export: decodes batches, dispatches events to the
user function, encodes the output. World-independent: the component adapter
(``_component``) and the native test harness (``testing``) both drive it, so
tests run the same code as the component, batch bytes included."""

from __future__ import annotations

from typing import List, Optional

from . import log
from .codec import CodecError, dumps
from .context import BroadcastContext, Collector, Context, Window, WindowContext
from .errors import FunctionError, GuestFailure, describe_exception
from .functions import (
    KEYED,
    TRANSFORM,
    CoProcess,
    Filter,
    FlatMap,
    Function,
    KeyedBroadcastProcess,
    KeyedProcess,
    KeySelector,
    Map,
    ProcessWindow,
)
from .layout import (
    EVENT_RECORD,
    EVENT_RECORD_BROADCAST,
    EVENT_RECORD_SECOND,
    EVENT_TIMER,
    EVENT_WINDOW,
    NO_KEY,
    LayoutError,
    OutputWriter,
    decode_batch,
    decode_fired_windows,
    decode_groups,
    iter_records,
    put_bytes,
)
from .open import OpenContext, subtask_from_env
from .state import BROADCAST_MAP, Scope, StateSpec, decode_value, encode_value


def _failure(error: BaseException, event: Optional[int]) -> GuestFailure:
    """An exception of user code (or a codec) as the failure the host gets."""
    if isinstance(error, GuestFailure):
        return error
    if isinstance(error, (FunctionError, CodecError, LayoutError)):
        return GuestFailure(str(error), event, panic=False)
    return GuestFailure(describe_exception(error), event, panic=True)


class Runtime:
    """One instance of a user function class ``cls``.

    ``backend`` serves list and map state (the host's ``state`` import in a
    component, :class:`eddy_sdk.testing.MemoryState` natively).
    """

    def __init__(self, cls, backend=None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Function)) or not cls.kind:
            raise TypeError(f"{cls!r} is not an eddy function class (subclass eddy_sdk.Map, KeyedProcess, ...)")
        self.cls = cls
        self.kind = cls.kind
        self.world = cls.world
        self.backend = backend
        self.scope = Scope()
        self.function = None
        self.states: List[StateSpec] = []
        self.side_outputs: List[str] = []

    # -- describe / init ------------------------------------------------------
    def describe(self):
        """``(kind, states, side_outputs)`` as ``describe`` reports them. Keyed
        kinds are opened with an empty config to learn their states; if that
        fails, what was registered before the failure is described."""
        if self.world != KEYED:
            return self.kind, [], []
        ctx = OpenContext("", Scope(), (0, 1), keyed=True)
        try:
            self.cls().open(ctx)
        except Exception as error:  # noqa: BLE001 - reported, as the Rust SDK does
            log.debug(
                f"describe: `open` with an empty config failed ({describe_exception(error)}); "
                "describing the states registered before that"
            )
        return self.kind, ctx.states, ctx.side_outputs

    def init(self, config: str, subtask=None) -> None:
        """Create and open the function; raises GuestFailure (an error result)."""
        try:
            subtask = subtask_from_env() if subtask is None else subtask
            ctx = OpenContext(config, self.scope, subtask, keyed=self.world == KEYED)
            function = self.cls()
            function.open(ctx)
            ctx.finish()
            if self.kind != "broadcast-process":
                for spec in ctx.states:
                    if spec.kind == BROADCAST_MAP:
                        raise FunctionError(
                            f"broadcast state `{spec.name}` needs a broadcast-process function "
                            "(KeyedBroadcastProcess), which gets the broadcast records that fill it"
                        )
        except Exception as error:  # noqa: BLE001
            failure = _failure(error, None)
            raise GuestFailure(failure.message, None, panic=False) from None
        self.states = ctx.states
        self.side_outputs = ctx.side_outputs
        self.scope.configure(ctx.states, self.backend)
        self.function = function

    def _opened(self):
        if self.function is None:
            raise GuestFailure("the function was called before init", None, panic=False)
        return self.function

    # -- process-batch --------------------------------------------------------
    def process_batch(self, batch: bytes) -> bytes:
        if self.world == TRANSFORM:
            return self._transform_batch(batch)
        if self.world == KEYED:
            return self._keyed_batch(batch)
        raise GuestFailure(f"a {self.kind} function has no process-batch", None)

    def _transform_batch(self, batch: bytes) -> bytes:
        function = self._opened()
        cls = self.cls
        out = OutputWriter()
        decode = cls.input_codec.decode
        encode = cls.output_codec.encode
        event = None
        records = iter_records(batch)
        try:
            if isinstance(function, Map):
                map_ = function.map
                emit = out.emit
                for event, value in records:
                    emit(event, encode(map_(decode(value))))
            elif isinstance(function, Filter):
                keep = function.filter
                forward = out.forward
                for event, value in records:
                    if keep(decode(value)):
                        forward(event)
            elif isinstance(function, FlatMap):
                collector = Collector(out, cls.output_codec)
                flat_map = function.flat_map
                for event, value in records:
                    collector.event = event
                    result = flat_map(decode(value), collector)
                    if result is not None:
                        for item in result:
                            collector.emit(item)
            elif isinstance(function, KeySelector):
                key = function.key
                emit = out.emit
                for event, value in records:
                    emit(event, encode(key(decode(value))))
            else:  # pragma: no cover - kinds are checked at construction
                raise FunctionError(f"unknown stateless kind {self.kind}")
        except LayoutError as error:
            raise GuestFailure(f"bad batch: {error}", None) from None
        except Exception as error:  # noqa: BLE001
            raise _failure(error, event) from None
        return out.getvalue()

    def _keyed_batch(self, batch: bytes) -> bytes:
        function = self._opened()
        cls = self.cls
        scope = self.scope
        try:
            decoded = decode_batch(batch, len(scope.value_indices))
        except LayoutError as error:
            raise GuestFailure(f"bad batch: {error}", None) from None
        keys = decoded.keys
        events = decoded.events
        broadcast = any(event.tag == EVENT_RECORD_BROADCAST for event in events)
        out = OutputWriter()
        scope.begin_batch(keys, decoded.slots, broadcast)
        ctx = Context(out, cls.output_codec, decoded.watermark, decoded.processing_time)
        window_ctx = WindowContext(out, cls.output_codec, decoded.watermark, decoded.processing_time)
        broadcast_ctx = BroadcastContext(out, cls.output_codec, decoded.watermark, decoded.processing_time)
        decode = cls.input_codec.decode
        # The handler of each event tag, looked up once per batch; None for
        # tags this kind never gets.
        on_record = on_second = on_timer = on_window = None
        if isinstance(function, KeyedProcess):
            on_record, on_timer = function.process, function.on_timer
        elif isinstance(function, KeyedBroadcastProcess):
            on_record, on_timer = function.process_element, function.on_timer
        elif isinstance(function, CoProcess):
            on_record, on_second, on_timer = function.process_element1, function.process_element2, function.on_timer
            decode2 = cls.input2_codec.decode
        elif isinstance(function, ProcessWindow):
            on_window = function.process
        key_count = len(keys)
        index = None
        try:
            for index, event in enumerate(events):
                tag = event.tag
                if tag == EVENT_RECORD_BROADCAST:
                    if event.key_ref != NO_KEY:
                        raise LayoutError(f"event {index} is a broadcast record with key {event.key_ref}")
                    if not isinstance(function, KeyedBroadcastProcess):
                        raise FunctionError(self._unexpected(event))
                    scope.current = None
                    broadcast_ctx.event = index
                    broadcast_ctx.key_ref = None
                    broadcast_ctx.key = b""
                    broadcast_ctx._timestamp = event.timestamp
                    function.process_broadcast_element(cls.broadcast_codec.decode(event.value), broadcast_ctx)
                    continue
                key_ref = event.key_ref
                if key_ref >= key_count:
                    raise LayoutError(
                        f"event {index} refers to key {key_ref}, but the key table has {key_count} keys"
                    )
                scope.current = key_ref
                current = window_ctx if tag == EVENT_WINDOW else ctx
                current.event = index
                current.key_ref = key_ref
                current.key = keys[key_ref]
                current._timestamp = event.timestamp
                if tag == EVENT_RECORD:
                    if on_record is None:
                        raise FunctionError(self._unexpected(event))
                    on_record(decode(event.value), ctx)
                elif tag == EVENT_TIMER:
                    if on_timer is None:
                        raise FunctionError(self._unexpected(event))
                    on_timer(event.timestamp, event.domain, ctx)
                elif tag == EVENT_RECORD_SECOND:
                    if on_second is None:
                        raise FunctionError(self._unexpected(event))
                    on_second(decode2(event.value), ctx)
                elif tag == EVENT_WINDOW:
                    if on_window is None:
                        raise FunctionError(self._unexpected(event))
                    window = Window(keys[key_ref], event.start, event.end)
                    elements = [(ts, decode(value)) for ts, value in event.elements]
                    on_window(window, elements, window_ctx)
        except LayoutError as error:
            scope.flush(OutputWriter())
            raise GuestFailure(f"bad batch: {error}", None) from None
        except Exception as error:  # noqa: BLE001
            scope.flush(OutputWriter())
            raise _failure(error, index) from None
        scope.flush(out)
        return out.getvalue()

    def _unexpected(self, event) -> str:
        return (
            f"a {self.kind} function got {event.describe()}, which the host sends to other function kinds only"
        )

    # -- migrate-state --------------------------------------------------------
    def migrate_state(self, state: str, from_version: int, value: bytes) -> bytes:
        self._opened()
        cannot = f"cannot migrate state `{state}` from version {from_version}"
        spec = next((spec for spec in self.states if spec.name == state), None)
        if spec is None:
            names = ", ".join(f"`{s.name}`" for s in self.states)
            states = f"its states are {names}" if names else "it declares no states"
            raise GuestFailure(f"{cannot}: this function declares no such state ({states})", None)
        migration = spec.migrations.get(from_version)
        if migration is None:
            known = (
                "version " + ", ".join(str(v) for v in spec.migrates_from) if spec.migrates_from else "no older version"
            )
            raise GuestFailure(f"{cannot}: it is at version {spec.version} and migrates from {known}", None)
        try:
            return encode_value(state, migration(decode_value(state, value)))
        except Exception as error:  # noqa: BLE001
            failure = _failure(error, None)
            raise GuestFailure(f"{cannot}: {failure.message}", None, panic=failure.panic) from None

    # -- aggregate ------------------------------------------------------------
    def _accumulator(self, value: bytes):
        try:
            return decode_value("accumulator", value)
        except FunctionError as error:
            raise GuestFailure(str(error), None) from None

    def create_accumulator(self) -> bytes:
        function = self._opened()
        try:
            return encode_value("accumulator", function.create_accumulator())
        except Exception as error:  # noqa: BLE001
            failure = _failure(error, None)
            raise GuestFailure(f"create-accumulator failed: {failure.message}", None, panic=True) from None

    def add_batch(self, groups: bytes) -> bytes:
        function = self._opened()
        decode = self.cls.input_codec.decode
        add = function.add
        out = bytearray()
        try:
            for acc_bytes, values in decode_groups(groups):
                acc = self._accumulator(acc_bytes)
                for _, value in values:
                    acc = add(acc, decode(value))
                put_bytes(out, encode_value("accumulator", acc))
        except Exception as error:  # noqa: BLE001
            raise _failure(error, None) from None
        return bytes(out)

    def merge(self, a: bytes, b: bytes) -> bytes:
        function = self._opened()
        try:
            return encode_value("accumulator", function.merge(self._accumulator(a), self._accumulator(b)))
        except Exception as error:  # noqa: BLE001
            raise _failure(error, None) from None

    def get_results(self, windows: bytes) -> bytes:
        function = self._opened()
        encode = self.cls.output_codec.encode
        out = bytearray()
        try:
            for key, start, end, acc in decode_fired_windows(windows):
                result = function.get_result(self._accumulator(acc), Window(key, start, end))
                put_bytes(out, encode(result))
        except Exception as error:  # noqa: BLE001
            raise _failure(error, None) from None
        return bytes(out)


def accumulator_json(value) -> bytes:
    """An accumulator as the host stores it (compact JSON)."""
    return dumps(value)
