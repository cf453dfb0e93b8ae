"""eddy_sdk: write eddy stream-processing functions in Python.

Subclass one base class per operator kind (``Map``, ``Filter``, ``FlatMap``,
``KeySelector``, ``KeyedProcess``, ``CoProcess``, ``KeyedBroadcastProcess``,
``ProcessWindow``, ``Aggregate``), build the module into a WebAssembly
component with ``eddy-py-build``, and test it natively with
``eddy_sdk.testing``. See ``docs/guides/python.md``.
"""

from . import log
from .codec import BYTES, JSON, TEXT, Codec, CodecError
from .context import EVENT_TIME, PROCESSING_TIME, BroadcastContext, Collector, Context, Window, WindowContext
from .errors import FunctionError
from .functions import (
    Aggregate,
    CoProcess,
    Filter,
    FlatMap,
    Function,
    KeyedBroadcastProcess,
    KeyedProcess,
    KeySelector,
    Map,
    ProcessWindow,
    export,
    find_function,
)
from .open import OpenContext, SideOutput
from .state import BroadcastMapState, ListState, MapState, Ttl, ValueState

__version__ = "0.1.0"

__all__ = [
    "Aggregate",
    "BYTES",
    "BroadcastContext",
    "BroadcastMapState",
    "Codec",
    "CodecError",
    "CoProcess",
    "Collector",
    "Context",
    "EVENT_TIME",
    "Filter",
    "FlatMap",
    "Function",
    "FunctionError",
    "JSON",
    "KeyedBroadcastProcess",
    "KeyedProcess",
    "KeySelector",
    "ListState",
    "Map",
    "MapState",
    "OpenContext",
    "PROCESSING_TIME",
    "ProcessWindow",
    "SideOutput",
    "TEXT",
    "Ttl",
    "ValueState",
    "Window",
    "WindowContext",
    "export",
    "find_function",
    "log",
]
