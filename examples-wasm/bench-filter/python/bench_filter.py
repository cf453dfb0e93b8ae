"""The Python twin of ``bench-filter`` (``eddy bench`` job A): keeps binary
events whose amount (u64 LE at bytes 16..24) is even."""

from eddy_sdk import BYTES, Filter, FunctionError

HEADER_LEN = 24


class EvenAmounts(Filter):
    input_codec = BYTES

    def filter(self, event):
        if len(event) < HEADER_LEN:
            raise FunctionError(
                f"binary event is {len(event)} bytes, expected at least {HEADER_LEN} (key, ts, amount)"
            )
        # The low byte decides whether the u64 is even.
        return event[16] % 2 == 0
