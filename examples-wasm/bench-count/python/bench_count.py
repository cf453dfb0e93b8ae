"""The Python twin of ``bench-count`` (``eddy bench``'s keyed pipeline): counts
the records of each key in value state ``count`` (a JSON integer, as the
Rust u64) and emits the running count as 8 bytes u64 LE."""

from eddy_sdk import BYTES, KeyedProcess


class CountPerKey(KeyedProcess):
    input_codec = BYTES
    output_codec = BYTES

    def open(self, ctx):
        self.count = ctx.value_state("count")

    def process(self, event, ctx):
        count = self.count.value(0) + 1
        self.count.update(count)
        ctx.emit(count.to_bytes(8, "little"))
