"""How record values turn into Python values and back.

A function names the codec of its input and output with class attributes
(``input_codec = eddy_sdk.JSON``); JSON is the default. Codecs are objects
with ``decode(bytes) -> value`` and ``encode(value) -> bytes``; write your own
for another format.
"""

from __future__ import annotations

import json
from typing import Any


def preview(value: bytes, limit: int = 64) -> str:
    """The first bytes of a value, for error messages."""
    text = bytes(value[:limit]).decode("utf-8", "replace")
    return repr(text) + ("…" if len(value) > limit else "")


# One encoder and decoder for every call: `json.dumps` with arguments builds
# a new encoder each time, and `json.loads` of bytes sniffs their encoding.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_DECODE = json.JSONDecoder().decode


def dumps(value: Any) -> bytes:
    """Compact JSON, as serde_json writes it (so values are portable with the Rust SDK):
    ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``."""
    return _ENCODE(value).encode("utf-8")


def loads(value: bytes) -> Any:
    """JSON from UTF-8 bytes (raises ValueError or UnicodeDecodeError)."""
    return _DECODE(bytes(value).decode("utf-8"))


class Codec:
    """Base of codecs: ``decode(bytes)`` and ``encode(value)``."""

    name = "codec"

    def decode(self, value: bytes) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"eddy_sdk.{self.name}"


class JsonCodec(Codec):
    """JSON records: ``dict``/``list``/``str``/numbers/``bool``/``None``."""

    name = "JSON"

    def decode(self, value: bytes) -> Any:
        try:
            return loads(value)
        except (ValueError, UnicodeDecodeError) as error:
            raise CodecError(f"record is not JSON: {error} (record starts with {preview(value)})") from None

    def encode(self, value: Any) -> bytes:
        try:
            return dumps(value)
        except (TypeError, ValueError) as error:
            raise CodecError(f"cannot encode {type(value).__name__} as JSON: {error}") from None


class BytesCodec(Codec):
    """Raw bytes, untouched (``bytes``, ``bytearray`` or ``memoryview`` out)."""

    name = "BYTES"

    def decode(self, value: bytes) -> bytes:
        return bytes(value)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise CodecError(f"a BYTES output must be bytes, got {type(value).__name__}")


class TextCodec(Codec):
    """UTF-8 text (``str``; ``bytes`` are written as they are)."""

    name = "TEXT"

    def decode(self, value: bytes) -> str:
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as error:
            raise CodecError(f"record is not UTF-8 text: {error} (record starts with {preview(value)})") from None

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise CodecError(f"a TEXT output must be str, got {type(value).__name__}")


class CodecError(Exception):
    """A record that does not decode, or a value that does not encode."""


JSON = JsonCodec()
BYTES = BytesCodec()
TEXT = TextCodec()
