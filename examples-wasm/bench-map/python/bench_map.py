"""The Python twin of ``bench-map`` (``eddy bench`` job A): on a binary event
(``[0..8)`` key, ``[8..16)`` timestamp, ``[16..24)`` amount, all u64 LE, then
the payload), amount := amount * 3 + 7 (wrapping), payload in ASCII upper case."""

from eddy_sdk import BYTES, FunctionError, Map

HEADER_LEN = 24
MASK = (1 << 64) - 1


class BenchMap(Map):
    input_codec = BYTES
    output_codec = BYTES

    def map(self, event):
        if len(event) < HEADER_LEN:
            raise FunctionError(
                f"binary event is {len(event)} bytes, expected at least {HEADER_LEN} (key, ts, amount)"
            )
        amount = (int.from_bytes(event[16:24], "little") * 3 + 7) & MASK
        # bytes.upper() changes ASCII letters only, as make_ascii_uppercase.
        return event[:16] + amount.to_bytes(8, "little") + event[HEADER_LEN:].upper()
