"""The Python twin of ``swap-count-v2-migrating``: value state ``count`` at
version 2, ``{"count": n, "last_ts": ts}``, migrated from version 1 (the
plain count the Rust ``swap-count-v1`` stores) by ``migrate-state``; emits
``{"key", "count", "prev_ts"}`` for every record."""

from eddy_sdk import FunctionError, KeyedProcess


def period_end(timestamp, period_ms):
    return (timestamp // period_ms + 1) * period_ms


def from_version_1(count):
    """Version 1 kept the count alone; the last time is unknown."""
    return {"count": count, "last_ts": None}


class SwapCountV2Migrating(KeyedProcess):
    def open(self, ctx):
        self.count = ctx.value_state("count", version=2, migrate={1: from_version_1})
        config = ctx.config_json(default={})
        self.period_ms = config.get("period_ms", 1000)
        if not isinstance(self.period_ms, int) or self.period_ms <= 0:
            raise FunctionError(f"period_ms must be positive, got {config}")

    def process(self, event, ctx):
        previous = self.count.value()
        count = (previous["count"] if previous else 0) + 1
        ctx.emit({"key": event["key"], "count": count, "prev_ts": previous["last_ts"] if previous else None})
        self.count.update({"count": count, "last_ts": event["ts"]})
        ctx.register_event_time_timer(period_end(event["ts"], self.period_ms))

    def on_timer(self, timestamp, domain, ctx):
        self.count.clear()
