"""Keyed state handles, registered in ``open`` and scoped to the current key.

State lives in the host, never in the instance, so an instance can be
dropped, restarted or replaced at any checkpoint. Values (and map keys) are
stored as compact JSON, byte for byte as the Rust SDK's serde_json writes
them, so a state written by a Rust function reads in Python and back.

Value state travels with the batch (read and written in guest memory, sent
back once per batch); list and map state go to the host's ``state`` import
at each call (natively, in tests, to an in-memory stand-in).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .codec import dumps, loads
from .errors import FunctionError
from .layout import NO_KEY, join_length_prefixed, split_length_prefixed, split_length_prefixed_pairs

VALUE, LIST, MAP, BROADCAST_MAP = "value", "list", "map", "broadcast-map"


class Ttl:
    """Time-to-live of a state's entries (Flink's ``StateTtlConfig``).

    ``update`` is ``"on-create-and-write"`` (default) or ``"on-read-and-write"``.
    The host expires entries; the native harness does not.
    """

    UPDATES = ("on-create-and-write", "on-read-and-write")

    def __init__(self, millis: int, update: str = "on-create-and-write") -> None:
        if not isinstance(millis, int) or millis <= 0:
            raise ValueError(f"a TTL is a positive number of milliseconds, got {millis!r}")
        if update not in self.UPDATES:
            raise ValueError(f"TTL update must be one of {', '.join(self.UPDATES)}, got {update!r}")
        self.millis = millis
        self.update = update

    def __repr__(self) -> str:
        return f"Ttl({self.millis}, {self.update!r})"


class StateSpec:
    """What ``describe`` tells the host about one state."""

    def __init__(self, name, kind, ttl, version, migrations):
        self.name = name
        self.kind = kind
        self.ttl: Optional[Ttl] = ttl
        self.version = version
        #: from-version -> function(old value) -> new value
        self.migrations: Dict[int, Any] = migrations

    @property
    def migrates_from(self) -> List[int]:
        return sorted(self.migrations)

    def __repr__(self) -> str:
        return f"StateSpec({self.name!r}, {self.kind!r}, ttl={self.ttl!r}, version={self.version}, migrates_from={self.migrates_from})"


def decode_value(name: str, value: bytes) -> Any:
    try:
        return loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise FunctionError(f"state `{name}` holds a value that is not JSON: {error}") from None


def encode_value(name: str, value: Any) -> bytes:
    try:
        return dumps(value)
    except (TypeError, ValueError) as error:
        raise FunctionError(f"cannot store {type(value).__name__} in state `{name}` as JSON: {error}") from None


_UNDECODED = object()
# Values that cannot change behind the slot's back, so the decoded value
# can be kept (a dict or list is decoded afresh on every read, as the Rust
# SDK hands out a new value each time).
_IMMUTABLE = (int, float, str, bool, type(None))


class _Slot:
    __slots__ = ("value", "dirty", "decoded")

    def __init__(self, value: Optional[bytes]) -> None:
        self.value = value
        self.dirty = False
        self.decoded = _UNDECODED


class Scope:
    """Which key (and which batch) state handles act on; one per instance."""

    def __init__(self) -> None:
        self.backend = None
        self.names: List[str] = []
        self.value_indices: List[int] = []
        self.keys: List[bytes] = []
        self.slots: List[List[_Slot]] = []
        self.current: Optional[int] = None
        self.broadcast = False

    def configure(self, specs: List[StateSpec], backend) -> None:
        self.names = [spec.name for spec in specs]
        self.value_indices = [i for i, spec in enumerate(specs) if spec.kind == VALUE]
        self.backend = backend

    def begin_batch(self, keys: List[bytes], slots: List[List[Optional[bytes]]], broadcast: bool) -> None:
        self.keys = keys
        self.slots = [[_Slot(value) for value in row] for row in slots]
        self.current = None
        self.broadcast = broadcast
        begin = getattr(self.backend, "begin_batch", None)
        if begin is not None:
            begin(keys, broadcast)

    def key_for(self, state: int, name: str = "") -> int:
        if self.current is None:
            name = name or self.names[state]
            if self.broadcast:
                raise FunctionError(
                    f"state `{name}` is keyed, but a broadcast record has no key; "
                    "only broadcast state is reachable in process_broadcast_element"
                )
            raise FunctionError(
                f"state `{name}` is used outside process/on_timer, where there is no current key"
            )
        return self.current

    def flush(self, output) -> None:
        """Send the value-state changes of the batch (last write per state and key wins)."""
        self.current = None
        for key_ref, row in enumerate(self.slots):
            for slot, state in zip(row, self.value_indices):
                if slot.dirty:
                    if slot.value is None:
                        output.clear_value_state(state, key_ref)
                    else:
                        output.set_value_state(state, key_ref, slot.value)
        self.slots = []
        self.keys = []
        self.broadcast = False


class _Handle:
    def __init__(self, scope: Scope, index: int, name: str) -> None:
        self._scope = scope
        self.index = index
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, index={self.index})"


class ValueState(_Handle):
    """One value per key (Flink's ``ValueState``)."""

    def __init__(self, scope: Scope, index: int, name: str, slot: int) -> None:
        super().__init__(scope, index, name)
        self.slot = slot

    def _slot(self) -> _Slot:
        key = self._scope.key_for(self.index, self.name)
        return self._scope.slots[key][self.slot]

    def value(self, default: Any = None) -> Any:
        """The current key's value, or ``default`` when there is none."""
        slot = self._slot()
        stored = slot.value
        if stored is None:
            return default
        decoded = slot.decoded
        if decoded is _UNDECODED:
            decoded = decode_value(self.name, stored)
            if type(decoded) in _IMMUTABLE:
                slot.decoded = decoded
        return decoded

    get = value

    def update(self, value: Any) -> None:
        """Replace the current key's value (``None`` is stored as JSON ``null``; use ``clear`` to remove)."""
        slot = self._slot()
        slot.value = encode_value(self.name, value)
        slot.decoded = value if type(value) in _IMMUTABLE else _UNDECODED
        slot.dirty = True

    set = update

    def clear(self) -> None:
        """Remove the current key's value."""
        slot = self._slot()
        slot.value = None
        slot.decoded = _UNDECODED
        slot.dirty = True


class ListState(_Handle):
    """A list of values per key (Flink's ``ListState``); each call goes to the host."""

    def get(self) -> List[Any]:
        """Every element in insertion order (empty if none)."""
        key = self._scope.key_for(self.index, self.name)
        raw = self._scope.backend.list_get(self.index, key)
        return [decode_value(self.name, element) for element in split_length_prefixed(raw)]

    def add(self, value: Any) -> None:
        """Append one element without reading the list."""
        key = self._scope.key_for(self.index, self.name)
        self._scope.backend.list_add(self.index, key, encode_value(self.name, value))

    def update(self, values) -> None:
        """Replace every element."""
        key = self._scope.key_for(self.index, self.name)
        encoded = [encode_value(self.name, value) for value in values]
        self._scope.backend.list_update(self.index, key, join_length_prefixed(encoded))

    def clear(self) -> None:
        key = self._scope.key_for(self.index, self.name)
        self._scope.backend.clear(self.index, key)

    def __iter__(self):
        return iter(self.get())


class _MapMethods(_Handle):
    def _read_key(self) -> int:
        raise NotImplementedError

    def _write_key(self) -> int:
        raise NotImplementedError

    def get(self, map_key: Any, default: Any = None) -> Any:
        """The value under ``map_key``, or ``default``."""
        key = self._read_key()
        raw = self._scope.backend.map_get(self.index, key, encode_value(self.name, map_key))
        return default if raw is None else decode_value(self.name, raw)

    def contains(self, map_key: Any) -> bool:
        key = self._read_key()
        return self._scope.backend.map_get(self.index, key, encode_value(self.name, map_key)) is not None

    __contains__ = contains

    def items(self) -> List[Tuple[Any, Any]]:
        """Every ``(key, value)``, ordered by the JSON bytes of the keys (so ``10``
        sorts before ``9``, and ``"b"`` after ``"a"``)."""
        key = self._read_key()
        raw = self._scope.backend.map_entries(self.index, key)
        return [
            (decode_value(self.name, k), decode_value(self.name, v)) for k, v in split_length_prefixed_pairs(raw)
        ]

    entries = items

    def keys(self) -> List[Any]:
        return [k for k, _ in self.items()]

    def values(self) -> List[Any]:
        return [v for _, v in self.items()]

    def is_empty(self) -> bool:
        key = self._read_key()
        return not self._scope.backend.map_entries(self.index, key)

    def put(self, map_key: Any, value: Any) -> None:
        """Insert or replace the value under ``map_key``."""
        key = self._write_key()
        self._scope.backend.map_put(
            self.index, key, encode_value(self.name, map_key), encode_value(self.name, value)
        )

    def remove(self, map_key: Any) -> None:
        key = self._write_key()
        self._scope.backend.map_remove(self.index, key, encode_value(self.name, map_key))

    def clear(self) -> None:
        key = self._write_key()
        self._scope.backend.clear(self.index, key)


class MapState(_MapMethods):
    """A map per key (Flink's ``MapState``); keys and values are JSON."""

    def _read_key(self) -> int:
        return self._scope.key_for(self.index, self.name)

    _write_key = _read_key


class BroadcastMapState(_MapMethods):
    """A map shared by every key of a parallel instance (Flink's broadcast
    state), readable always, writable only in ``process_broadcast_element``."""

    def _read_key(self) -> int:
        return NO_KEY

    def _write_key(self) -> int:
        if not self._scope.broadcast:
            raise FunctionError(
                f"broadcast state `{self.name}` may change only in process_broadcast_element, "
                "so that every parallel instance keeps the same copy"
            )
        return NO_KEY
