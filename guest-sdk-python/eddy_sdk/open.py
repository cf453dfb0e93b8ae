"""``OpenContext``: what a function's ``open`` gets."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional

from .codec import JSON, Codec
from .errors import FunctionError
from .state import (
    BROADCAST_MAP,
    LIST,
    MAP,
    VALUE,
    BroadcastMapState,
    ListState,
    MapState,
    Scope,
    StateSpec,
    Ttl,
    ValueState,
)

_MISSING = object()


class SideOutput:
    """A handle to a side output declared in ``open`` (Flink's ``OutputTag``)."""

    def __init__(self, index: int, name: str, codec: Codec) -> None:
        self.index = index
        self.name = name
        self.codec = codec

    def __repr__(self) -> str:
        return f"SideOutput({self.name!r}, index={self.index})"


def subtask_from_env(environ=None):
    """``(index, parallelism)`` from ``EDDY_SUBTASK_INDEX`` and ``EDDY_PARALLELISM``
    (subtask 0 of 1 when absent, as while describing)."""
    environ = os.environ if environ is None else environ
    try:
        index = int(environ.get("EDDY_SUBTASK_INDEX", "0"))
        parallelism = int(environ.get("EDDY_PARALLELISM", "1"))
    except ValueError as error:
        raise FunctionError(f"cannot tell which subtask this is: {error}") from None
    return index, parallelism


class OpenContext:
    """The operator's config, which parallel subtask this is, and (keyed kinds)
    where states and side outputs are registered."""

    def __init__(self, config: str, scope: Optional[Scope] = None, subtask=(0, 1), keyed: bool = True) -> None:
        self.config: str = config
        self.subtask_index, self.parallelism = subtask
        self._scope = scope if scope is not None else Scope()
        self._keyed = keyed
        self.states: List[StateSpec] = []
        self.side_outputs: List[str] = []
        self._side_codecs: List[Codec] = []
        self._error: Optional[str] = None

    # -- config -------------------------------------------------------------
    def config_json(self, default: Any = _MISSING) -> Any:
        """The config parsed as JSON; ``default`` when there is none (an error
        if no default is given). A config that is not JSON is an error."""
        if not self.config.strip():
            if default is _MISSING:
                raise FunctionError("this function needs a JSON config but the operator has none")
            return default
        try:
            return json.loads(self.config)
        except ValueError as error:
            raise FunctionError(f"operator config is not JSON: {error}") from None

    # -- registration -------------------------------------------------------
    def _fail(self, message: str) -> None:
        if self._error is None:
            self._error = message

    def _register(self, name: str, kind: str, ttl, version: int, migrate) -> int:
        if not self._keyed:
            raise FunctionError(
                f"state `{name}`: only keyed functions (keyed-process, window-process, co-process, "
                "broadcast-process) have keyed state"
            )
        if not isinstance(name, str) or not name:
            self._fail(f"a state name must be a non-empty string, got {name!r}")
        if any(spec.name == name for spec in self.states):
            self._fail(f"state `{name}` is registered twice")
        if ttl is not None and not isinstance(ttl, Ttl):
            self._fail(f"state `{name}`: ttl must be an eddy_sdk.Ttl, got {ttl!r}")
            ttl = None
        if not isinstance(version, int) or version < 1:
            self._fail(f"state `{name}` is declared at version {version}; versions start at 1")
        migrations: Dict[int, Callable] = {}
        for from_version, function in dict(migrate or {}).items():
            if not isinstance(from_version, int) or from_version >= version:
                self._fail(
                    f"state `{name}` is at version {version} but registers a migration from version "
                    f"{from_version}; migrations come from older versions only"
                )
                continue
            if not callable(function):
                self._fail(f"state `{name}`: the migration from version {from_version} is not callable")
                continue
            migrations[from_version] = function
        self.states.append(StateSpec(name, kind, ttl, version, migrations))
        return len(self.states) - 1

    def value_state(self, name: str, *, ttl: Optional[Ttl] = None, version: int = 1, migrate=None) -> ValueState:
        """One JSON value per key. ``version`` is the schema version of the
        values (1 at first); ``migrate`` maps older versions to functions
        turning an old (decoded) value into a new one."""
        index = self._register(name, VALUE, ttl, version, migrate)
        slot = sum(1 for spec in self.states[:index] if spec.kind == VALUE)
        return ValueState(self._scope, index, name, slot)

    def list_state(self, name: str, *, ttl: Optional[Ttl] = None, version: int = 1, migrate=None) -> ListState:
        """A list of JSON values per key (migrations run per element)."""
        return ListState(self._scope, self._register(name, LIST, ttl, version, migrate), name)

    def map_state(self, name: str, *, ttl: Optional[Ttl] = None, version: int = 1, migrate=None) -> MapState:
        """A map of JSON keys to JSON values per key (migrations run per value)."""
        return MapState(self._scope, self._register(name, MAP, ttl, version, migrate), name)

    def broadcast_map_state(self, name: str) -> BroadcastMapState:
        """A map shared by all keys, filled by broadcast records (broadcast-process only)."""
        return BroadcastMapState(self._scope, self._register(name, BROADCAST_MAP, None, 1, None), name)

    def side_output(self, name: str, codec: Codec = JSON) -> SideOutput:
        """Declare a side output; emit to it with ``ctx.emit_to(handle, value)``."""
        if name in self.side_outputs:
            self._fail(f"side output `{name}` is declared twice")
        self.side_outputs.append(name)
        self._side_codecs.append(codec)
        return SideOutput(len(self.side_outputs) - 1, name, codec)

    def finish(self) -> None:
        if self._error is not None:
            raise FunctionError(self._error)
