"""A map over raw bytes that misbehaves on demand, for the host's failure
tests: the Python twin of ``examples-wasm/faulty`` (see its NOTES.md), built
into ``faulty_py.wasm``. Config ``{"mode": "...", "needle": "...", "one_in": N}``:

- ``identity`` (default): passes records through;
- ``panic-on``: raises ``ValueError("faulty guest: found <needle>")`` on a
  record containing ``needle`` (eddy reports the exception, this file and
  line, and the record), identity otherwise;
- ``loop``: never returns from the first record;
- ``loop-on``: never returns from a record containing ``needle``;
- ``hog``: allocates and touches 1 GiB on the first record;
- ``error``: fails the first record with ``FunctionError("faulty guest: refused record")``
  (an error result, as the Rust guest's ``Err``);
- ``trap-randomly``: fails each record with probability ``1 / one_in``, from
  a seed that differs in every instance.
"""

import os

import eddy_sdk
from eddy_sdk import BYTES, FunctionError, Map, log

MODES = {
    "identity": "Identity",
    "panic-on": "PanicOn",
    "loop": "Loop",
    "loop-on": "LoopOn",
    "hog": "Hog",
    "error": "Error",
    "trap-randomly": "TrapRandomly",
}


class Faulty(Map):
    input_codec = BYTES
    output_codec = BYTES

    def open(self, ctx):
        config = ctx.config_json(default={})
        unknown = set(config) - {"mode", "needle", "one_in"}
        if unknown:
            raise FunctionError(f"faulty guest: unknown config fields {sorted(unknown)}")
        self.mode = config.get("mode", "identity")
        if self.mode not in MODES:
            raise FunctionError(f"faulty guest: unknown mode `{self.mode}`")
        self.needle = str(config.get("needle", "")).encode()
        self.one_in = int(config.get("one_in", 0))
        if self.mode in ("panic-on", "loop-on") and not self.needle:
            raise FunctionError(f"faulty guest: mode `{self.mode}` needs a non-empty `needle`")
        if self.mode == "trap-randomly" and self.one_in < 1:
            raise FunctionError("faulty guest: mode `trap-randomly` needs `one_in` of at least 1")
        # For the logging tests: a debug line that `EDDY_LOG=debug` shows.
        log.debug(f"faulty guest: opened in mode {MODES[self.mode]}")
        self.random = int.from_bytes(os.urandom(8), "little") | 1

    def next_random(self):
        x = self.random
        x ^= (x << 13) & 0xFFFF_FFFF_FFFF_FFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFF_FFFF_FFFF_FFFF
        self.random = x
        return x

    def map(self, value):
        mode = self.mode
        if mode == "panic-on":
            if self.needle in value:
                raise ValueError(f"faulty guest: found {self.needle.decode()}")
        elif mode == "loop" or (mode == "loop-on" and self.needle in value):
            while True:
                pass
        elif mode == "hog":
            memory = bytearray(1 << 30)
            for i in range(0, len(memory), 4096):
                memory[i] = 1
        elif mode == "error":
            raise FunctionError("faulty guest: refused record")
        elif mode == "trap-randomly":
            if self.next_random() % self.one_in == 0:
                raise RuntimeError("faulty guest: trapped at random")
        return value
