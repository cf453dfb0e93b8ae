"""Swap count, version 2, in Python (keyed process, keyed by ``key``, event
time from ``ts``): the Python twin of ``swap-count-v2/src/lib.rs``.

It keeps the state of the Rust ``swap-count-v1`` unchanged (value state
``count``, version 1, a JSON integer, cleared at the end of each period of
event time) and emits once a key has been seen at least twice in the
period, as ``{"key", "total", "rule": "v2"}``. Swapped in for the Rust
version 1 mid-run (``eddy swap``), it continues every key's count where
Rust left it: state is portable between languages
(``tests/tests/swap.rs``).

Config (optional): ``{"period_ms": 1000}``; other fields are ignored, since
a swap keeps the operator's config for the new guest.
"""

from eddy_sdk import FunctionError, KeyedProcess

MIN_TOTAL = 2


class SwapCountV2(KeyedProcess):
    def open(self, ctx):
        self.count = ctx.value_state("count")
        self.period_ms = ctx.config_json(default={}).get("period_ms", 1000)
        if self.period_ms <= 0:
            raise FunctionError(f"period_ms must be positive, got {self.period_ms}")

    def process(self, event, ctx):
        total = self.count.value(0) + 1
        self.count.update(total)
        if total >= MIN_TOTAL:
            ctx.emit({"key": event["key"], "total": total, "rule": "v2"})
        period_end = (event["ts"] // self.period_ms + 1) * self.period_ms
        ctx.register_event_time_timer(period_end)

    def on_timer(self, timestamp, domain, ctx):
        self.count.clear()
