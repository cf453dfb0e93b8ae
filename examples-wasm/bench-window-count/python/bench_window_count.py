"""The Python twin of ``bench-window-count`` (``eddy bench`` job B): counts the
records of each key and window (an incremental aggregate); the accumulator is
the count as JSON, the result its 8 bytes u64 LE."""

from eddy_sdk import BYTES, Aggregate


class WindowCount(Aggregate):
    input_codec = BYTES
    output_codec = BYTES

    def create_accumulator(self):
        return 0

    def add(self, count, event):
        return count + 1

    def merge(self, a, b):
        return a + b

    def get_result(self, count, window):
        return count.to_bytes(8, "little")
