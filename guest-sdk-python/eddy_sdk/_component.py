"""The component side: the classes componentize-py exports, delegating to
:class:`eddy_sdk.runtime.Runtime`. Imported only inside a component build,
where componentize-py generates the ``wit_world`` bindings; the entry module
that ``eddy-py-build`` writes calls :func:`bind` with the user's class and
re-exports the class of its world.

Failures: an error result (``FunctionError``, a record that does not decode)
is returned as ``err(message)``. An unexpected exception is reported as a
panic: ``log.record-panic-at(event, message)`` (``record-panic`` outside a
batch event), then the call traps, exactly as a Rust guest's panic does, so
the host names the failing record.
"""

from __future__ import annotations

import os

from componentize_py_types import Err

from . import log as _sdk_log
from .errors import GuestFailure
from .runtime import Runtime

_runtime = None


def _log_import():
    from wit_world.imports import log

    return log


def _host_log(level: int, message: str) -> None:
    log = _log_import()
    log.log(log.Level(level), message)


def bind(cls) -> None:
    """Make ``cls`` the function this component exports."""
    global _runtime
    backend = None
    if cls.world == "keyed-process":
        from wit_world.imports import state as backend  # noqa: F811
    _runtime = Runtime(cls, backend)
    _sdk_log.set_sink(_host_log)


def _fail(failure: GuestFailure):
    if failure.panic:
        log = _log_import()
        if failure.event is not None:
            log.record_panic_at(failure.event, failure.message)
        else:
            log.record_panic(failure.message)
        # Trap, as a Rust panic does: C `abort()` is wasm's `unreachable`.
        # (An exception other than `Err` escaping the export would trap too,
        # but only after componentize-py printed its traceback to stderr.)
        os.abort()
    raise Err(failure.message)


def _descriptor():
    from wit_world.imports import types

    kind, states, side_outputs = _runtime.describe()
    kinds = {
        "map": types.FunctionKind.MAP,
        "filter": types.FunctionKind.FILTER,
        "flat-map": types.FunctionKind.FLAT_MAP,
        "key-selector": types.FunctionKind.KEY_SELECTOR,
        "keyed-process": types.FunctionKind.KEYED_PROCESS,
        "aggregate": types.FunctionKind.AGGREGATE,
        "window-process": types.FunctionKind.WINDOW_PROCESS,
        "co-process": types.FunctionKind.CO_PROCESS,
        "broadcast-process": types.FunctionKind.BROADCAST_PROCESS,
    }
    state_kinds = {
        "value": types.StateKind.VALUE,
        "list": types.StateKind.LIST,
        "map": types.StateKind.MAP,
        "broadcast-map": types.StateKind.BROADCAST_MAP,
    }
    updates = {
        "on-create-and-write": types.TtlUpdate.ON_CREATE_AND_WRITE,
        "on-read-and-write": types.TtlUpdate.ON_READ_AND_WRITE,
    }
    return types.Descriptor(
        kind=kinds[kind],
        states=[
            types.StateDescriptor(
                name=spec.name,
                kind=state_kinds[spec.kind],
                ttl=None if spec.ttl is None else types.Ttl(millis=spec.ttl.millis, update=updates[spec.ttl.update]),
                version=spec.version,
                migrates_from=spec.migrates_from,
            )
            for spec in states
        ],
        side_outputs=list(side_outputs),
    )


class _Common:
    def describe(self):
        return _descriptor()

    def init(self, config: str) -> None:
        try:
            _runtime.init(config)
        except GuestFailure as failure:
            _fail(failure)


class TransformFunction(_Common):
    def process_batch(self, batch: bytes) -> bytes:
        try:
            return _runtime.process_batch(batch)
        except GuestFailure as failure:
            _fail(failure)


class KeyedProcessFunction(_Common):
    def process_batch(self, batch: bytes) -> bytes:
        try:
            return _runtime.process_batch(batch)
        except GuestFailure as failure:
            _fail(failure)

    def migrate_state(self, state: str, from_version: int, value: bytes) -> bytes:
        try:
            return _runtime.migrate_state(state, from_version, value)
        except GuestFailure as failure:
            _fail(failure)


class AggregateFunction(_Common):
    def create_accumulator(self) -> bytes:
        try:
            return _runtime.create_accumulator()
        except GuestFailure as failure:
            _fail(GuestFailure(failure.message, None, panic=True))

    def add_batch(self, groups: bytes) -> bytes:
        try:
            return _runtime.add_batch(groups)
        except GuestFailure as failure:
            _fail(failure)

    def merge(self, a: bytes, b: bytes) -> bytes:
        try:
            return _runtime.merge(a, b)
        except GuestFailure as failure:
            _fail(failure)

    def get_results(self, windows: bytes) -> bytes:
        try:
            return _runtime.get_results(windows)
        except GuestFailure as failure:
            _fail(failure)
